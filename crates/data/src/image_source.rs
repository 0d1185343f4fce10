//! `ImageFolder` and `Csv` sources: their file lists, labelled and checked (every header
//! read), as datasets that decode on demand.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ronin_spec::image_source::{self as listing, ListError};
use ronin_spec::{ImageOptions, OnCorrupt, SourceSpec};

use crate::dataset::{Classes, Images, check_labels};
use crate::files::{ImageFiles, Unreadable};
use crate::{DataError, Dataset};

/// How many unreadable files a warning names.
const NAMED: usize = 3;

/// The labelled files of one folder or CSV file, not yet checked.
#[derive(Debug)]
pub(crate) struct FileList {
    pub files: Vec<PathBuf>,
    pub labels: Vec<usize>,
    /// The CSV file and each row's line, to place errors; `None` for a folder.
    pub rows: Option<(PathBuf, Vec<u64>)>,
    /// The folder or CSV file, for messages.
    pub origin: PathBuf,
}

/// The class names and the training and (when the source has one) test file lists.
pub(crate) fn list(
    source: &SourceSpec,
    given: Option<Vec<String>>,
) -> Result<(Classes, FileList, Option<FileList>), DataError> {
    match source {
        SourceSpec::ImageFolder { root, test, .. } => {
            let root = Path::new(root);
            let classes = match given {
                Some(names) => Classes {
                    names,
                    from: "data.classes".into(),
                },
                None => Classes {
                    names: listing::folder_classes(root)?,
                    from: format!("the class folders of {}", root.display()),
                },
            };
            let folder = |dir: &Path| -> Result<FileList, DataError> {
                let (files, labels) = listing::list_folder(dir, &classes.names, &classes.from)?;
                Ok(FileList {
                    files,
                    labels,
                    rows: None,
                    origin: dir.to_owned(),
                })
            };
            let train = folder(root)?;
            let test = test.as_deref().map(|t| folder(Path::new(t))).transpose()?;
            Ok((classes, train, test))
        }
        SourceSpec::Csv {
            file,
            test,
            root,
            path_column,
            label_column,
            ..
        } => {
            let read = |f: &Path| {
                listing::read_csv(f, root.as_deref().map(Path::new), path_column, label_column)
            };
            let file = Path::new(file);
            let rows = read(file)?;
            let classes = match given {
                Some(names) => Classes {
                    names,
                    from: "data.classes".into(),
                },
                None => Classes {
                    names: listing::label_classes(&rows),
                    from: format!("the labels of {}", file.display()),
                },
            };
            let labelled = |f: &Path, rows: Vec<listing::CsvRow>| -> Result<FileList, DataError> {
                let labels = listing::resolve_labels(&rows, f, &classes.names, &classes.from)?;
                let (files, lines) = rows.into_iter().map(|r| (r.path, r.line)).unzip();
                Ok(FileList {
                    files,
                    labels,
                    rows: Some((f.to_owned(), lines)),
                    origin: f.to_owned(),
                })
            };
            let train = labelled(file, rows)?;
            let test = match test {
                Some(t) => Some(labelled(Path::new(t), read(Path::new(t))?)?),
                None => None,
            };
            Ok((classes, train, test))
        }
        _ => unreachable!("image_source::list is called for ImageFolder and Csv only"),
    }
}

impl FileList {
    /// Keeps the files whose label is in `keep`, relabelled by their position in it.
    pub fn keep_classes(
        mut self,
        keep: &[usize],
        classes: &Classes,
    ) -> Result<(Self, Classes), DataError> {
        let mut kept = Vec::new();
        for (i, l) in self.labels.iter_mut().enumerate() {
            if let Some(pos) = keep.iter().position(|k| k == l) {
                *l = pos;
                kept.push(i);
            }
        }
        if kept.is_empty() {
            return Err(DataError::NoExamplesOfClasses {
                path: self.origin.clone(),
                keep: keep.to_vec(),
            });
        }
        self.files = kept.iter().map(|&i| self.files[i].clone()).collect();
        self.labels = kept.iter().map(|&i| self.labels[i]).collect();
        if let Some((_, lines)) = &mut self.rows {
            *lines = kept.iter().map(|&i| lines[i]).collect();
        }
        Ok((self, classes.kept(keep)))
    }

    /// Reads every file's header (a missing, truncated or non-image file is an error, or
    /// left out with one warning under `on_corrupt: Skip`), settles the image size and
    /// makes the dataset.
    pub fn into_dataset(
        self,
        classes: &Classes,
        options: ImageOptions,
    ) -> Result<Dataset, DataError> {
        let (ok, mut bad) = ImageFiles::scan(&self.files);
        if !bad.is_empty() {
            if options.on_corrupt == OnCorrupt::Fail {
                return Err(self.placed(bad.swap_remove(0)));
            }
            let count = bad.len();
            let named: Vec<String> = bad
                .into_iter()
                .take(NAMED)
                .map(|u| self.placed(u).to_string())
                .collect();
            let more = count - named.len();
            eprintln!(
                "warning: {}: left out {count} unreadable image file(s) (on_corrupt: Skip): {}{}",
                self.origin.display(),
                named.join("; "),
                if more > 0 {
                    format!("; and {more} more")
                } else {
                    String::new()
                }
            );
        }
        if ok.is_empty() {
            return Err(DataError::NoReadableImages {
                origin: self.origin.clone(),
                found: self.files.len(),
            });
        }
        let (h, w) = match options.size {
            Some(size) => size,
            None => {
                let (first, size) = ok[0];
                if let Some(&(i, other)) = ok.iter().find(|(_, s)| *s != size) {
                    return Err(DataError::SizeMismatch {
                        path: self.files[i].clone(),
                        size: other,
                        first: self.files[first].clone(),
                        first_size: size,
                    });
                }
                size
            }
        };
        let sizes: Vec<(usize, usize)> = ok.iter().map(|&(_, s)| s).collect();
        let labels: Vec<i64> = ok.iter().map(|&(i, _)| self.labels[i] as i64).collect();
        let files: Vec<PathBuf> = ok.iter().map(|&(i, _)| self.files[i].clone()).collect();
        check_labels(
            &labels,
            classes.names.len(),
            &self.origin.display().to_string(),
            &classes.from,
        )?;
        Ok(Dataset {
            images: Images::Files(Arc::new(ImageFiles::new(files, &sizes, options))),
            shape: [options.color.channels(), h, w],
            labels: labels.into(),
            classes: classes.names.clone(),
        })
    }

    /// The scan's error, placed at its CSV line for a CSV source.
    fn placed(&self, u: Unreadable) -> DataError {
        let Some((csv, lines)) = &self.rows else {
            return u.error;
        };
        let line = lines[u.index];
        let image = self.files[u.index].clone();
        if !image.exists() {
            return DataError::CsvMissingImage {
                csv: csv.clone(),
                line,
                image,
            };
        }
        DataError::CsvRow {
            csv: csv.clone(),
            line,
            source: Box::new(u.error),
        }
    }
}

impl From<ListError> for DataError {
    fn from(e: ListError) -> Self {
        DataError::Listing(Box::new(e))
    }
}

#[cfg(test)]
#[path = "image_source_tests.rs"]
mod tests;
