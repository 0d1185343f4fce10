//! A labelled image dataset: bytes held in memory, or image files decoded on demand.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::files::ImageFiles;
use crate::{DataError, idx};

/// Images and labels, shared cheaply between the loader's threads.
///
/// # Shapes
/// `shape` is `[C, H, W]`, `labels` is `[N]` with values in `0..classes.len()`; each image
/// is `[C, H, W]` unsigned bytes in row-major order ([`Dataset::image`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub images: Images,
    pub shape: [usize; 3],
    pub labels: Arc<[i64]>,
    pub classes: Vec<String>,
}

/// Where a dataset's pixels are.
#[derive(Debug, Clone, PartialEq)]
pub enum Images {
    /// All images, `[N, C, H, W]` bytes (IDX, CIFAR): an image is a slice.
    Bytes(Arc<[u8]>),
    /// One file per image (an image folder or a CSV source), decoded, converted and
    /// resized each time it is read; only the file list is held.
    Files(Arc<ImageFiles>),
}

impl Dataset {
    /// Checks that the bytes hold exactly one image per label and that every label names one
    /// of `classes`. `origin` names the data in errors (a file, or "in memory").
    pub fn new(
        images: impl Into<Arc<[u8]>>,
        shape: [usize; 3],
        labels: impl Into<Arc<[i64]>>,
        classes: Vec<String>,
        origin: &str,
    ) -> Result<Self, DataError> {
        let images = images.into();
        let labels = labels.into();
        let per_image = shape.iter().product::<usize>();
        if labels.len().checked_mul(per_image) != Some(images.len()) {
            return Err(DataError::ImageBytes {
                origin: origin.to_string(),
                count: labels.len(),
                shape,
                found: images.len(),
            });
        }
        check_labels(&labels, classes.len(), origin, "the caller")?;
        Ok(Self {
            images: Images::Bytes(images),
            shape,
            labels,
            classes,
        })
    }

    /// Loads an IDX image file and an IDX label file (each raw or gzip).
    ///
    /// Class names are `classes` when given, else the lines of `classes.txt` beside the
    /// images file, else `"0"`, `"1"`, … up to the largest label.
    pub fn from_idx(
        images: &Path,
        labels: &Path,
        classes: Option<Vec<String>>,
    ) -> Result<Self, DataError> {
        let raw = RawIdx::load(images, labels)?;
        let file = images
            .parent()
            .unwrap_or_else(|| Path::new(""))
            .join("classes.txt");
        let classes = Classes::resolve(classes, &file, count_of(raw.max_label()))?;
        raw.into_dataset(&classes)
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes per image: `C * H * W`.
    pub fn image_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// The bytes of example `index`, `[C, H, W]`: a slice of memory, or the file decoded
    /// now. `None` when the file cannot be decoded and its source says `on_corrupt: Skip`
    /// (a warning names it the first time); under `Fail` that is an error naming the file.
    /// Panics when `index >= len()`; callers check indices once when they are given (see
    /// [`crate::Loader::new`]).
    pub fn image(&self, index: usize) -> Result<Option<Cow<'_, [u8]>>, DataError> {
        match &self.images {
            Images::Bytes(bytes) => {
                let n = self.image_len();
                Ok(Some(Cow::Borrowed(&bytes[index * n..(index + 1) * n])))
            }
            Images::Files(files) => Ok(files.read(index, self.shape)?.map(Cow::Owned)),
        }
    }

    /// All images as `[N, C, H, W]` bytes, when they are held in memory.
    pub fn bytes(&self) -> Option<&[u8]> {
        match &self.images {
            Images::Bytes(b) => Some(b),
            Images::Files(_) => None,
        }
    }

    /// The image files, when the dataset reads them on demand.
    pub fn files(&self) -> Option<&ImageFiles> {
        match &self.images {
            Images::Bytes(_) => None,
            Images::Files(f) => Some(f),
        }
    }

    /// Number of examples of each class, indexed by label.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for &l in self.labels.iter() {
            // Labels were checked to be in range when the dataset was built.
            counts[l as usize] += 1;
        }
        counts
    }

    /// Fails with [`DataError::IndexOutOfRange`] for the first index that is not an example.
    pub fn check_indices(&self, indices: &[usize]) -> Result<(), DataError> {
        match indices.iter().find(|&&i| i >= self.len()) {
            Some(&index) => Err(DataError::IndexOutOfRange {
                index,
                len: self.len(),
            }),
            None => Ok(()),
        }
    }
}

/// The two files of an IDX dataset, read and checked against each other but not yet
/// given class names.
#[derive(Debug)]
pub(crate) struct RawIdx {
    pub images: idx::IdxImages,
    pub labels: Vec<u8>,
    pub labels_path: PathBuf,
}

impl RawIdx {
    pub fn load(images: &Path, labels: &Path) -> Result<Self, DataError> {
        let imgs = idx::read_images(images)?;
        let lbls = idx::read_labels(labels)?;
        if imgs.count != lbls.len() {
            return Err(DataError::CountMismatch {
                images: images.to_path_buf(),
                labels: labels.to_path_buf(),
                n_images: imgs.count,
                n_labels: lbls.len(),
            });
        }
        Ok(Self {
            images: imgs,
            labels: lbls,
            labels_path: labels.to_path_buf(),
        })
    }

    pub fn max_label(&self) -> Option<u8> {
        self.labels.iter().copied().max()
    }

    /// Keeps the examples whose label is in `keep`, relabelled by their position in it
    /// (`[5, 6, 7, 8, 9]`: digit 5 becomes label 0), and the matching class names.
    pub fn keep_classes(
        mut self,
        keep: &[usize],
        classes: &Classes,
    ) -> Result<(Self, Classes), DataError> {
        let per = self.images.shape.iter().product::<usize>();
        let mut pixels = Vec::new();
        let mut labels = Vec::new();
        for (i, &l) in self.labels.iter().enumerate() {
            if let Some(pos) = keep.iter().position(|&k| k == usize::from(l)) {
                pixels.extend_from_slice(&self.images.pixels[i * per..(i + 1) * per]);
                // keep has at most 256 entries (labels are bytes), checked by the spec.
                labels.push(pos as u8);
            }
        }
        if labels.is_empty() {
            return Err(DataError::NoExamplesOfClasses {
                path: self.labels_path.clone(),
                keep: keep.to_vec(),
            });
        }
        self.images.count = labels.len();
        self.images.pixels = pixels;
        self.labels = labels;
        Ok((self, classes.kept(keep)))
    }

    pub fn into_dataset(self, classes: &Classes) -> Result<Dataset, DataError> {
        let labels: Vec<i64> = self.labels.iter().map(|&l| i64::from(l)).collect();
        let origin = self.labels_path.display().to_string();
        check_labels(&labels, classes.names.len(), &origin, &classes.from)?;
        Ok(Dataset {
            images: Images::Bytes(self.images.pixels.into()),
            shape: self.images.shape,
            labels: labels.into(),
            classes: classes.names.clone(),
        })
    }
}

/// Class names and where they came from (for error messages).
#[derive(Debug, Clone)]
pub(crate) struct Classes {
    pub names: Vec<String>,
    pub from: String,
}

impl Classes {
    /// The names of the labels `keep`, in that order (`data.keep_classes` relabels them
    /// 0..); a label without a name keeps its number.
    pub fn kept(&self, keep: &[usize]) -> Self {
        let names = keep
            .iter()
            .map(|&k| self.names.get(k).cloned().unwrap_or_else(|| k.to_string()))
            .collect();
        Self {
            names,
            from: format!("{} (data.keep_classes)", self.from),
        }
    }

    /// `given`, else the lines of `file` when it exists (`classes.txt` beside the images),
    /// else `"0"`…`"count - 1"`.
    pub fn resolve(
        given: Option<Vec<String>>,
        file: &Path,
        count: usize,
    ) -> Result<Self, DataError> {
        if let Some(names) = given {
            return Ok(Self {
                names,
                from: "data.classes".into(),
            });
        }
        if file.is_file() {
            let names = read_class_names(file)?;
            return Ok(Self {
                names,
                from: file.display().to_string(),
            });
        }
        Ok(Self {
            names: (0..count).map(|i| i.to_string()).collect(),
            from: "the labels of the source".into(),
        })
    }
}

/// The number of classes labels up to `max_label` need.
pub(crate) fn count_of(max_label: Option<u8>) -> usize {
    max_label.map_or(0, |m| usize::from(m) + 1)
}

/// One class name per line; surrounding whitespace and blank lines are ignored.
pub fn read_class_names(path: &Path) -> Result<Vec<String>, DataError> {
    let text = fs_err::read_to_string(path)?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if names.is_empty() {
        return Err(DataError::NoClassNames {
            path: path.to_path_buf(),
        });
    }
    Ok(names)
}

pub(crate) fn check_labels(
    labels: &[i64],
    classes: usize,
    origin: &str,
    classes_from: &str,
) -> Result<(), DataError> {
    let bad = labels
        .iter()
        .enumerate()
        .find(|&(_, &l)| l < 0 || l as u64 >= classes as u64);
    match bad {
        Some((index, &label)) => Err(DataError::LabelOutOfRange {
            origin: origin.to_string(),
            index,
            label,
            classes,
            classes_from: classes_from.to_string(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::{Compression, write_images, write_labels};

    fn write_pair(
        dir: &Path,
        n_images: usize,
        labels: &[u8],
    ) -> Result<(PathBuf, PathBuf), DataError> {
        let images = dir.join("images-idx3-ubyte");
        let lbls = dir.join("labels-idx1-ubyte");
        write_images(
            &images,
            &vec![9; n_images * 4],
            n_images,
            [1, 2, 2],
            Compression::None,
        )?;
        write_labels(&lbls, labels, Compression::Gzip)?;
        Ok((images, lbls))
    }

    #[test]
    fn count_mismatch_names_both_files_and_counts() -> Result<(), DataError> {
        let dir = tempfile::tempdir()?;
        let (images, labels) = write_pair(dir.path(), 5, &[0, 1, 2, 0])?;
        let msg = Dataset::from_idx(&images, &labels, None)
            .expect_err("5 images, 4 labels")
            .to_string();
        assert!(msg.contains("images-idx3-ubyte holds 5 images"), "{msg}");
        assert!(msg.contains("labels-idx1-ubyte holds 4 labels"), "{msg}");
        Ok(())
    }

    #[test]
    fn classes_from_spec_file_or_largest_label() -> Result<(), DataError> {
        let dir = tempfile::tempdir()?;
        let (images, labels) = write_pair(dir.path(), 4, &[0, 1, 2, 1])?;
        let ds = Dataset::from_idx(&images, &labels, None)?;
        assert_eq!(ds.classes, ["0", "1", "2"]);
        assert_eq!(ds.class_counts(), [1, 2, 1]);
        assert_eq!(ds.image(3)?.as_deref(), Some(&[9u8, 9, 9, 9][..]));

        let given = vec!["a".to_string(), "b".into(), "c".into(), "d".into()];
        let ds = Dataset::from_idx(&images, &labels, Some(given.clone()))?;
        assert_eq!(ds.classes, given);

        fs_err::write(dir.path().join("classes.txt"), "cat\n dog \n\nbird\n")?;
        let ds = Dataset::from_idx(&images, &labels, None)?;
        assert_eq!(ds.classes, ["cat", "dog", "bird"]);

        fs_err::write(dir.path().join("classes.txt"), "cat\ndog\n")?;
        let msg = Dataset::from_idx(&images, &labels, None)
            .expect_err("label 2 with two classes")
            .to_string();
        assert!(
            msg.contains("label 2 of example 2 is out of range for 2 classes"),
            "{msg}"
        );
        assert!(msg.contains("classes.txt"), "{msg}");
        Ok(())
    }

    #[test]
    fn new_checks_bytes_and_labels() {
        let classes = vec!["a".to_string(), "b".into()];
        assert!(Dataset::new(vec![0u8; 8], [1, 2, 2], vec![0, 1], classes.clone(), "t").is_ok());
        let msg = Dataset::new(vec![0u8; 7], [1, 2, 2], vec![0, 1], classes.clone(), "t")
            .expect_err("7 bytes")
            .to_string();
        assert!(msg.contains("7 image bytes do not hold 2 images"), "{msg}");
        assert!(Dataset::new(vec![0u8; 8], [1, 2, 2], vec![0, -1], classes, "t").is_err());
    }
}
