//! The binary version of CIFAR-10 and CIFAR-100: files of fixed-size records, no header.
//!
//! A CIFAR-10 record is one label byte (0–9) and 3072 pixel bytes: the 32×32 red plane,
//! then green, then blue, each row-major — already `[C, H, W]`. A CIFAR-100 record has two
//! label bytes, coarse (0–19) then fine (0–99), then the same 3072 pixels. Files may be
//! gzip-compressed (recognised by their magic bytes).

use std::path::{Path, PathBuf};

use ronin_spec::{CIFAR_SHAPE, SourceSpec};

use crate::DataError;
use crate::dataset::RawIdx;
use crate::idx::{IdxImages, read_maybe_gzip};

const PIXELS: usize = 3 * 32 * 32;

/// Which labels a file's records carry and which of them is the class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CifarFormat {
    /// `CIFAR-10` or `CIFAR-100`, for messages.
    pub name: &'static str,
    /// Label bytes in front of each record's pixels.
    pub label_bytes: usize,
    /// Which of them is the class.
    pub label_at: usize,
    /// Number of classes: labels are below it.
    pub classes: usize,
}

impl CifarFormat {
    pub const CIFAR10: Self = Self {
        name: "CIFAR-10",
        label_bytes: 1,
        label_at: 0,
        classes: 10,
    };
    pub const CIFAR100_FINE: Self = Self {
        name: "CIFAR-100",
        label_bytes: 2,
        label_at: 1,
        classes: 100,
    };
    pub const CIFAR100_COARSE: Self = Self {
        name: "CIFAR-100",
        label_bytes: 2,
        label_at: 0,
        classes: 20,
    };

    /// The format of a CIFAR source; `None` for the others.
    pub fn of(source: &SourceSpec) -> Option<Self> {
        match source {
            SourceSpec::Cifar10 { .. } => Some(Self::CIFAR10),
            SourceSpec::Cifar100 { coarse: false, .. } => Some(Self::CIFAR100_FINE),
            SourceSpec::Cifar100 { coarse: true, .. } => Some(Self::CIFAR100_COARSE),
            SourceSpec::Idx { .. }
            | SourceSpec::IdxTrainTest { .. }
            | SourceSpec::ImageFolder { .. }
            | SourceSpec::Csv { .. } => None,
        }
    }

    /// Bytes per record.
    pub fn record(&self) -> usize {
        self.label_bytes + PIXELS
    }
}

/// The images and labels of CIFAR files, one after the other, as a [`RawIdx`] whose
/// label file (named in errors) is the first of `paths`.
pub(crate) fn load(paths: &[String], format: CifarFormat) -> Result<RawIdx, DataError> {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for path in paths {
        let path = Path::new(path);
        let (p, l) = decode(&read_maybe_gzip(path)?, path, format)?;
        pixels.extend_from_slice(&p);
        labels.extend_from_slice(&l);
    }
    Ok(RawIdx {
        images: IdxImages {
            count: labels.len(),
            pixels,
            shape: CIFAR_SHAPE,
        },
        labels,
        labels_path: paths.first().map(PathBuf::from).unwrap_or_default(),
    })
}

/// The pixels (`[N, 3, 32, 32]`) and class labels (`[N]`) of one file's bytes; `path`
/// only names the file in errors.
pub fn decode(
    bytes: &[u8],
    path: &Path,
    format: CifarFormat,
) -> Result<(Vec<u8>, Vec<u8>), DataError> {
    let record = format.record();
    if bytes.is_empty() || !bytes.len().is_multiple_of(record) {
        return Err(DataError::CifarRecords {
            path: path.to_path_buf(),
            len: bytes.len(),
            format: format.name,
            record,
            label_bytes: format.label_bytes,
        });
    }
    let n = bytes.len() / record;
    let mut pixels = Vec::with_capacity(n * PIXELS);
    let mut labels = Vec::with_capacity(n);
    for (i, r) in bytes.chunks_exact(record).enumerate() {
        let label = r[format.label_at];
        if usize::from(label) >= format.classes {
            return Err(DataError::CifarLabel {
                path: path.to_path_buf(),
                record: i,
                label,
                format: format.name,
                classes: format.classes,
            });
        }
        labels.push(label);
        pixels.extend_from_slice(&r[format.label_bytes..]);
    }
    Ok((pixels, labels))
}

/// Writes records in the binary CIFAR format: `labels[i]` holds record `i`'s label bytes
/// (one for CIFAR-10, coarse and fine for CIFAR-100), `pixels` is `[N, 3, 32, 32]`. For
/// tests and for converting other data.
pub fn write(path: &Path, labels: &[Vec<u8>], pixels: &[u8]) -> Result<(), DataError> {
    let mut bytes = Vec::with_capacity(labels.len() * (2 + PIXELS));
    for (l, p) in labels.iter().zip(pixels.chunks_exact(PIXELS)) {
        bytes.extend_from_slice(l);
        bytes.extend_from_slice(p);
    }
    fs_err::write(path, bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` records whose pixels all equal the record's number and whose planes differ.
    fn records(n: usize, label_bytes: impl Fn(usize) -> Vec<u8>) -> (Vec<Vec<u8>>, Vec<u8>) {
        let labels = (0..n).map(&label_bytes).collect();
        let pixels = (0..n)
            .flat_map(|i| (0..PIXELS).map(move |p| (i * 10 + p / 1024) as u8))
            .collect();
        (labels, pixels)
    }

    #[test]
    fn cifar10_records_are_read_across_files() -> Result<(), DataError> {
        let dir = tempfile::tempdir()?;
        let (a, b) = (
            dir.path().join("data_batch_1.bin"),
            dir.path().join("data_batch_2.bin"),
        );
        let (labels, pixels) = records(3, |i| vec![i as u8]);
        write(&a, &labels, &pixels)?;
        let (labels, pixels) = records(2, |i| vec![9 - i as u8]);
        write(&b, &labels, &pixels)?;
        let files = [a.display().to_string(), b.display().to_string()];
        let raw = load(&files, CifarFormat::CIFAR10)?;
        assert_eq!(raw.labels, [0, 1, 2, 9, 8]);
        assert_eq!(raw.images.count, 5);
        assert_eq!(raw.images.shape, [3, 32, 32]);
        // Record 1 of the first file: red 10, green 11, blue 12.
        let r1 = &raw.images.pixels[PIXELS..2 * PIXELS];
        assert_eq!((r1[0], r1[1023], r1[1024], r1[2048]), (10, 10, 11, 12));
        Ok(())
    }

    #[test]
    fn cifar100_takes_the_fine_or_the_coarse_label() -> Result<(), DataError> {
        let (labels, pixels) = records(2, |i| vec![19 - i as u8, 99 - i as u8]);
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("train.bin");
        write(&path, &labels, &pixels)?;
        let bytes = fs_err::read(&path)?;
        let (p, fine) = decode(&bytes, &path, CifarFormat::CIFAR100_FINE)?;
        assert_eq!(fine, [99, 98]);
        assert_eq!(p.len(), 2 * PIXELS);
        assert_eq!(p[PIXELS], 10);
        let (_, coarse) = decode(&bytes, &path, CifarFormat::CIFAR100_COARSE)?;
        assert_eq!(coarse, [19, 18]);
        Ok(())
    }

    #[test]
    fn truncated_files_and_bad_labels_name_the_file() {
        let path = Path::new("cifar/data_batch_3.bin");
        let (labels, pixels) = records(2, |_| vec![1]);
        let mut bytes: Vec<u8> = labels
            .iter()
            .zip(pixels.chunks_exact(PIXELS))
            .flat_map(|(l, p)| l.iter().chain(p).copied().collect::<Vec<_>>())
            .collect();
        bytes.pop();
        let msg = decode(&bytes, path, CifarFormat::CIFAR10)
            .expect_err("one byte short")
            .to_string();
        assert!(
            msg.contains("cifar/data_batch_3.bin: 6145 bytes are not a whole number of CIFAR-10 records of 3073 bytes"),
            "{msg}"
        );
        assert!(decode(&[], path, CifarFormat::CIFAR10).is_err());
        // A CIFAR-100 file read as CIFAR-10: 3074-byte records do not divide by 3073.
        bytes.push(0);
        bytes.extend_from_slice(&[0, 0]);
        assert!(decode(&bytes[..2 * 3074], path, CifarFormat::CIFAR10).is_err());

        bytes.truncate(3073);
        bytes[0] = 10;
        let msg = decode(&bytes, path, CifarFormat::CIFAR10)
            .expect_err("label 10")
            .to_string();
        assert!(
            msg.contains("record 0 has label 10; CIFAR-10 labels are below 10"),
            "{msg}"
        );
    }
}
