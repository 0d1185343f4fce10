//! The IDX format of MNIST-style datasets: a big-endian header, then raw unsigned bytes.
//!
//! Header: two zero bytes, the type byte `0x08` (unsigned byte), the number of dimensions,
//! then one big-endian `u32` per dimension. Image files have 3 dimensions `[N, H, W]` or 4
//! `[N, C, H, W]` (channel-first); label files have 1 dimension `[N]`. Files may be
//! gzip-compressed; compression is recognised by its magic bytes `1f 8b`, not by the name.

use std::io::{Read, Write};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

use crate::DataError;

/// The type byte of unsigned-byte IDX data, the only type ronin reads.
const UBYTE: u8 = 0x08;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Images read from an IDX file.
///
/// # Shapes
/// `pixels` is `[count, C, H, W]` in row-major order, `shape` is `[C, H, W]`; 3-D files
/// give `C = 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    pub pixels: Vec<u8>,
    pub count: usize,
    pub shape: [usize; 3],
}

/// How [`write_images`] and [`write_labels`] store the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    None,
    Gzip,
}

/// Whether `path` starts as an IDX file of unsigned bytes (`00 00 08`) or a gzip stream
/// (which an IDX file may be compressed as): how `ronin predict` tells one from an image.
pub fn looks_like_idx(path: &Path) -> std::io::Result<bool> {
    let mut head = [0u8; 3];
    let n = fs_err::File::open(path)?.read(&mut head)?;
    Ok(head[..n] == [0, 0, UBYTE] || head[..n.min(2)] == GZIP_MAGIC)
}

/// Reads an IDX image file, raw or gzip-compressed.
pub fn read_images(path: &Path) -> Result<IdxImages, DataError> {
    decode_images(read_maybe_gzip(path)?, path)
}

/// Reads an IDX label file (1-D, unsigned bytes), raw or gzip-compressed.
pub fn read_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    decode_labels(read_maybe_gzip(path)?, path)
}

/// Parses the bytes of an (already decompressed) IDX image file; `path` only names the
/// file in errors.
pub fn decode_images(bytes: Vec<u8>, path: &Path) -> Result<IdxImages, DataError> {
    let (dims, header) = header(&bytes, path)?;
    let (count, shape) = match dims.as_slice() {
        [n, h, w] => (*n, [1, *h, *w]),
        [n, c, h, w] => (*n, [*c, *h, *w]),
        other => {
            return Err(DataError::WrongDims {
                path: path.to_path_buf(),
                kind: "image",
                expected: "3 ([N, H, W]) or 4 ([N, C, H, W])",
                found: other.len(),
            });
        }
    };
    // With no images the total can be 0 while one image's size overflows.
    if shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .is_none()
    {
        return Err(too_large(path, &dims));
    }
    let pixels = body(bytes, header, &dims, "pixels", path)?;
    Ok(IdxImages {
        pixels,
        count,
        shape,
    })
}

/// Parses the bytes of an (already decompressed) IDX label file; `path` only names the
/// file in errors.
pub fn decode_labels(bytes: Vec<u8>, path: &Path) -> Result<Vec<u8>, DataError> {
    let (dims, header) = header(&bytes, path)?;
    if dims.len() != 1 {
        return Err(DataError::WrongDims {
            path: path.to_path_buf(),
            kind: "label",
            expected: "1 ([N])",
            found: dims.len(),
        });
    }
    body(bytes, header, &dims, "labels", path)
}

/// Writes images as an IDX file: 3-D `[N, H, W]` when `C = 1`, else 4-D `[N, C, H, W]`.
///
/// # Shapes
/// `pixels` is `[count, C, H, W]` with `shape = [C, H, W]`.
pub fn write_images(
    path: &Path,
    pixels: &[u8],
    count: usize,
    shape: [usize; 3],
    compression: Compression,
) -> Result<(), DataError> {
    let expected = count * shape.iter().product::<usize>();
    if pixels.len() != expected {
        return Err(DataError::ImageBytes {
            origin: path.display().to_string(),
            count,
            shape,
            found: pixels.len(),
        });
    }
    let [c, h, w] = shape;
    let dims: Vec<usize> = if c == 1 {
        vec![count, h, w]
    } else {
        vec![count, c, h, w]
    };
    write_idx(path, &dims, pixels, compression)
}

/// Writes labels as a 1-D IDX file.
pub fn write_labels(path: &Path, labels: &[u8], compression: Compression) -> Result<(), DataError> {
    write_idx(path, &[labels.len()], labels, compression)
}

/// The whole file, decompressed when it starts with the gzip magic bytes.
pub(crate) fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>, DataError> {
    gunzip_if_compressed(fs_err::read(path)?, path)
}

/// The bytes themselves, or their decompression when they start with the gzip magic
/// (several concatenated members are one stream, as `gzip -d` reads them); `path` only
/// names the file in errors.
pub fn gunzip_if_compressed(raw: Vec<u8>, path: &Path) -> Result<Vec<u8>, DataError> {
    if !raw.starts_with(&GZIP_MAGIC) {
        return Ok(raw);
    }
    let mut out = Vec::with_capacity(raw.len() * 4);
    MultiGzDecoder::new(raw.as_slice())
        .read_to_end(&mut out)
        .map_err(|source| DataError::Gzip {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(out)
}

/// The dimensions and the length of the header in bytes.
fn header(bytes: &[u8], path: &Path) -> Result<(Vec<usize>, usize), DataError> {
    let Some(magic) = bytes.first_chunk::<4>() else {
        return Err(DataError::Length {
            path: path.to_path_buf(),
            what: "IDX header",
            expected: 4,
            found: bytes.len(),
        });
    };
    if magic[0] != 0 || magic[1] != 0 || magic[2] != UBYTE || magic[3] == 0 {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            magic: *magic,
        });
    }
    let ndim = usize::from(magic[3]);
    let len = 4 + 4 * ndim;
    let Some(dims) = bytes.get(4..len) else {
        return Err(DataError::Length {
            path: path.to_path_buf(),
            what: "IDX header",
            expected: len,
            found: bytes.len(),
        });
    };
    let dims = dims
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    Ok((dims, len))
}

/// The data after the header, checked to be exactly as long as the dimensions say.
fn body(
    mut bytes: Vec<u8>,
    header: usize,
    dims: &[usize],
    what: &'static str,
    path: &Path,
) -> Result<Vec<u8>, DataError> {
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| DataError::TooLarge {
            path: path.to_path_buf(),
            dims: dims.to_vec(),
        })?;
    let found = bytes.len() - header;
    if found != expected {
        return Err(DataError::Length {
            path: path.to_path_buf(),
            what,
            expected,
            found,
        });
    }
    bytes.drain(..header);
    Ok(bytes)
}

fn write_idx(
    path: &Path,
    dims: &[usize],
    data: &[u8],
    compression: Compression,
) -> Result<(), DataError> {
    let mut head = vec![0, 0, UBYTE];
    head.push(u8::try_from(dims.len()).map_err(|_| too_large(path, dims))?);
    for &d in dims {
        let d = u32::try_from(d).map_err(|_| too_large(path, dims))?;
        head.extend_from_slice(&d.to_be_bytes());
    }
    let file = fs_err::File::create(path)?;
    let mut out = std::io::BufWriter::new(file);
    match compression {
        Compression::None => {
            out.write_all(&head)?;
            out.write_all(data)?;
        }
        Compression::Gzip => {
            let mut gz = GzEncoder::new(&mut out, flate2::Compression::default());
            gz.write_all(&head)?;
            gz.write_all(data)?;
            gz.finish()?;
        }
    }
    out.flush()?;
    Ok(())
}

fn too_large(path: &Path, dims: &[usize]) -> DataError {
    DataError::TooLarge {
        path: path.to_path_buf(),
        dims: dims.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_images(count: usize, shape: [usize; 3]) -> Vec<u8> {
        let n = count * shape.iter().product::<usize>();
        (0..n).map(|i| (i * 7 % 256) as u8).collect()
    }

    #[test]
    fn idx_files_raw_or_gzipped_are_told_from_images() {
        let dir = tempfile::tempdir().unwrap();
        let shape = [1, 2, 3];
        let pixels = sample_images(4, shape);
        let (raw, gz) = (dir.path().join("raw"), dir.path().join("gz"));
        write_images(&raw, &pixels, 4, shape, Compression::None).unwrap();
        write_images(&gz, &pixels, 4, shape, Compression::Gzip).unwrap();
        let png = dir.path().join("x.png");
        std::fs::write(&png, b"\x89PNG\r\n\x1a\n").unwrap();
        let short = dir.path().join("short");
        std::fs::write(&short, [0u8, 0]).unwrap();
        assert!(looks_like_idx(&raw).unwrap() && looks_like_idx(&gz).unwrap());
        assert!(!looks_like_idx(&png).unwrap() && !looks_like_idx(&short).unwrap());
        assert!(looks_like_idx(&dir.path().join("absent")).is_err());
    }

    /// Found by the fuzz target `idx`: zero images of an overflowing size.
    #[test]
    fn an_empty_file_of_images_too_large_to_address_is_refused() {
        let mut bytes = vec![0, 0, UBYTE, 4];
        for d in [0u32, u32::MAX, u32::MAX, u32::MAX] {
            bytes.extend_from_slice(&d.to_be_bytes());
        }
        let err = decode_images(bytes, Path::new("x.idx")).unwrap_err();
        assert!(matches!(err, DataError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn images_round_trip_raw_and_gzip_3d_and_4d() -> Result<(), DataError> {
        let dir = tempfile::tempdir()?;
        for (shape, compression) in [
            ([1, 5, 4], Compression::None),
            ([1, 5, 4], Compression::Gzip),
            ([3, 2, 6], Compression::None),
            ([3, 2, 6], Compression::Gzip),
        ] {
            let path = dir.path().join(format!("img-{shape:?}-{compression:?}"));
            let pixels = sample_images(7, shape);
            write_images(&path, &pixels, 7, shape, compression)?;
            let raw = fs_err::read(&path)?;
            assert_eq!(
                raw.starts_with(&GZIP_MAGIC),
                compression == Compression::Gzip
            );
            let read = read_images(&path)?;
            assert_eq!(
                read,
                IdxImages {
                    pixels,
                    count: 7,
                    shape
                }
            );
        }
        Ok(())
    }

    #[test]
    fn labels_round_trip_raw_and_gzip() -> Result<(), DataError> {
        let dir = tempfile::tempdir()?;
        let labels: Vec<u8> = (0..100).map(|i| (i % 10) as u8).collect();
        for compression in [Compression::None, Compression::Gzip] {
            // No extension on purpose: gzip is recognised by its magic bytes.
            let path = dir.path().join(format!("labels-{compression:?}"));
            write_labels(&path, &labels, compression)?;
            assert_eq!(read_labels(&path)?, labels);
        }
        Ok(())
    }

    #[test]
    fn truncated_pixels_are_reported_with_the_file_and_counts() -> Result<(), DataError> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("images-idx3-ubyte");
        write_images(
            &path,
            &sample_images(4, [1, 3, 3]),
            4,
            [1, 3, 3],
            Compression::None,
        )?;
        let mut bytes = fs_err::read(&path)?;
        bytes.truncate(bytes.len() - 5);
        fs_err::write(&path, &bytes)?;
        let err = read_images(&path).expect_err("truncated file must fail");
        let msg = err.to_string();
        assert!(msg.contains("images-idx3-ubyte"), "{msg}");
        assert!(
            msg.contains("expected 36 bytes of pixels, found 31"),
            "{msg}"
        );
        Ok(())
    }

    #[test]
    fn truncated_gzip_stream_names_the_file() -> Result<(), DataError> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("labels.gz");
        write_labels(&path, &[1; 1000], Compression::Gzip)?;
        let bytes = fs_err::read(&path)?;
        fs_err::write(&path, &bytes[..bytes.len() / 2])?;
        let msg = read_labels(&path).expect_err("must fail").to_string();
        assert!(msg.contains("labels.gz") && msg.contains("gzip"), "{msg}");
        Ok(())
    }

    #[test]
    fn bad_magic_and_wrong_dims_are_errors() {
        let p = Path::new("some/file");
        let err = decode_images(vec![0, 0, 0x0d, 3, 0, 0, 0, 0], p).expect_err("float type");
        let msg = err.to_string();
        assert!(
            msg.contains("some/file") && msg.contains("00 00 0d 03"),
            "{msg}"
        );

        let labels_as_images = vec![0, 0, 8, 1, 0, 0, 0, 2, 1, 2];
        let msg = decode_images(labels_as_images.clone(), p)
            .expect_err("1-D image file")
            .to_string();
        assert!(
            msg.contains("image file has 3") && msg.contains("found 1"),
            "{msg}"
        );
        assert_eq!(decode_labels(labels_as_images, p).ok(), Some(vec![1, 2]));

        let msg = decode_labels(vec![0, 0, 8, 3, 0, 0], p)
            .expect_err("short header")
            .to_string();
        assert!(
            msg.contains("expected 16 bytes of IDX header, found 6"),
            "{msg}"
        );

        let msg = decode_labels(vec![0, 0, 8, 1, 0, 0, 0, 1, 5, 6], p)
            .expect_err("trailing bytes")
            .to_string();
        assert!(msg.contains("expected 1 bytes of labels, found 2"), "{msg}");
    }
}
