//! Images read from files on demand: the file list of a folder or CSV source, each file's
//! header checked up front, its pixels decoded, converted and resized when a batch needs
//! them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use image::imageops::FilterType;
use image::{DynamicImage, GrayImage, ImageReader};
use ronin_spec::{ColorSpec, ImageOptions, OnCorrupt};

use crate::DataError;

/// The files of a dataset and how each becomes `[C, H, W]` bytes.
///
/// Holds paths only: memory does not grow with the images' size. A file is decoded each
/// time it is read (no cache).
#[derive(Debug)]
pub struct ImageFiles {
    paths: Vec<PathBuf>,
    options: ImageOptions,
    /// (height, width) of the files as found by the header scan → number of files.
    original_sizes: BTreeMap<(usize, usize), usize>,
    /// Examples whose file did not decode under `on_corrupt: Skip` (warned about once).
    skipped: Mutex<BTreeSet<usize>>,
}

impl PartialEq for ImageFiles {
    fn eq(&self, other: &Self) -> bool {
        self.paths == other.paths && self.options == other.options
    }
}

/// A file the header scan read: its index and its (height, width).
pub(crate) type Readable = (usize, (usize, usize));

/// A file the header scan could not read, and why.
#[derive(Debug)]
pub(crate) struct Unreadable {
    pub index: usize,
    pub error: DataError,
}

impl ImageFiles {
    /// Number of files.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    pub fn path(&self, index: usize) -> &Path {
        &self.paths[index]
    }

    pub fn options(&self) -> ImageOptions {
        self.options
    }

    /// (height, width) of the files before resizing → how many files have it.
    pub fn original_sizes(&self) -> &BTreeMap<(usize, usize), usize> {
        &self.original_sizes
    }

    /// Examples left out so far because their file did not decode (`on_corrupt: Skip`).
    pub fn skipped(&self) -> Vec<usize> {
        self.lock_skipped().iter().copied().collect()
    }

    fn lock_skipped(&self) -> std::sync::MutexGuard<'_, BTreeSet<usize>> {
        self.skipped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads every file's header; returns the files whose header reads with their
    /// (height, width), and those whose header does not.
    pub(crate) fn scan(paths: &[PathBuf]) -> (Vec<Readable>, Vec<Unreadable>) {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let chunk = paths.len().div_ceil(threads).max(1);
        let results: Vec<Result<(usize, usize), DataError>> = std::thread::scope(|s| {
            let handles: Vec<_> = paths
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .map(|p| image_header(p).map(|h| (h.height, h.width)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        let mut ok = Vec::new();
        let mut bad = Vec::new();
        for (index, r) in results.into_iter().enumerate() {
            match r {
                Ok(size) => ok.push((index, size)),
                Err(error) => bad.push(Unreadable { index, error }),
            }
        }
        (ok, bad)
    }

    /// Files whose headers were read, with their original (height, width).
    pub(crate) fn new(
        paths: Vec<PathBuf>,
        sizes: &[(usize, usize)],
        options: ImageOptions,
    ) -> Self {
        let mut original_sizes = BTreeMap::new();
        for &s in sizes {
            *original_sizes.entry(s).or_insert(0) += 1;
        }
        Self {
            paths,
            options,
            original_sizes,
            skipped: Mutex::new(BTreeSet::new()),
        }
    }

    /// Decodes example `index` into `[C, H, W]` bytes of `shape`; `None` when it does not
    /// decode under `on_corrupt: Skip`.
    pub(crate) fn read(
        &self,
        index: usize,
        shape: [usize; 3],
    ) -> Result<Option<Vec<u8>>, DataError> {
        let path = &self.paths[index];
        match decode(path, self.options.color, shape) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if self.options.on_corrupt == OnCorrupt::Skip => {
                if self.lock_skipped().insert(index) {
                    eprintln!("warning: {e}; leaving it out (on_corrupt: Skip)");
                }
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// An image file's size and colour channels (alpha not counted), from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageHeader {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
}

/// Reads `path`'s header (PNG, JPEG, BMP) without decoding its pixels.
pub fn image_header(path: &Path) -> Result<ImageHeader, DataError> {
    use image::ImageDecoder;
    let bad = |source| DataError::ImageHeader {
        path: path.to_owned(),
        source,
    };
    let decoder = ImageReader::open(path)?
        .with_guessed_format()
        .map_err(|e| bad(image::ImageError::IoError(e)))?
        .into_decoder()
        .map_err(bad)?;
    let (w, h) = decoder.dimensions();
    let colour = decoder.color_type();
    Ok(ImageHeader {
        width: w as usize,
        height: h as usize,
        channels: usize::from(colour.channel_count()) - usize::from(colour.has_alpha()),
    })
}

/// Decodes `path`, converts it to `color` and resizes it to `shape`'s height and width
/// (triangle filter) when it differs: what a folder or CSV source does to each image, for
/// `ronin predict` to prepare images as the model's training data was.
///
/// # Shapes
/// Returns `[C, H, W]` bytes of `shape`.
pub fn decode(path: &Path, color: ColorSpec, shape: [usize; 3]) -> Result<Vec<u8>, DataError> {
    let bad = |source| DataError::Decode {
        path: path.to_owned(),
        source,
    };
    let img = ImageReader::open(path)?
        .with_guessed_format()
        .map_err(|e| bad(image::ImageError::IoError(e)))?
        .decode()
        .map_err(bad)?;
    let [_, h, w] = shape;
    let (h32, w32) = (h as u32, w as u32);
    let resize = |(iw, ih): (u32, u32)| (iw, ih) != (w32, h32);
    match color {
        ColorSpec::Grayscale => {
            let mut g = luma_601(img);
            if resize(g.dimensions()) {
                g = image::imageops::resize(&g, w32, h32, FilterType::Triangle);
            }
            Ok(g.into_raw())
        }
        ColorSpec::Rgb => {
            let mut rgb = img.into_rgb8();
            if resize(rgb.dimensions()) {
                rgb = image::imageops::resize(&rgb, w32, h32, FilterType::Triangle);
            }
            // Interleaved (H, W, 3) → planes (3, H, W).
            let plane = h * w;
            let mut out = vec![0u8; 3 * plane];
            for (i, px) in rgb.pixels().enumerate() {
                out[i] = px[0];
                out[plane + i] = px[1];
                out[2 * plane + i] = px[2];
            }
            Ok(out)
        }
    }
}

/// One channel as PIL's `convert("L")`: grey images as they are (16-bit ones scaled to
/// 8 bits), colour ones by ITU-R 601-2 luma with PIL's integer rounding, alpha dropped.
fn luma_601(img: DynamicImage) -> GrayImage {
    match img {
        DynamicImage::ImageLuma8(g) => g,
        DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageLuma16(_)
        | DynamicImage::ImageLumaA16(_) => img.into_luma8(),
        other => {
            let rgb = other.into_rgb8();
            let (w, h) = rgb.dimensions();
            let luma = rgb
                .pixels()
                .map(|p| {
                    let [r, g, b] = p.0.map(u32::from);
                    ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16) as u8
                })
                .collect();
            GrayImage::from_raw(w, h, luma).expect("one byte per pixel by construction")
        }
    }
}
