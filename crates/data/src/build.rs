//! From a pipeline's `data` section to datasets, splits and normalisation.

use std::path::Path;
use std::sync::Arc;

use ronin_spec::{DataSpec, ImageOptions, SourceSpec, TransformSpec};

use crate::cifar::{self, CifarFormat};
use crate::dataset::{Classes, RawIdx, count_of};
use crate::image_source::{self, FileList};
use crate::{DataError, Dataset, Loader, LoaderOptions, Normalization, Splits};

/// One of the three splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    Train,
    Validation,
    Test,
}

impl Part {
    pub const ALL: [Part; 3] = [Part::Train, Part::Validation, Part::Test];

    pub fn name(self) -> &'static str {
        match self {
            Part::Train => "train",
            Part::Validation => "validation",
            Part::Test => "test",
        }
    }
}

/// Everything the runner needs from the data section of a pipeline.
#[derive(Debug, Clone)]
pub struct DataBundle {
    /// The dataset that `splits.train` and `splits.validation` index.
    pub train: Arc<Dataset>,
    /// The dataset that `splits.test` indexes: the same as `train` for a single source.
    pub test: Arc<Dataset>,
    pub splits: Splits,
    /// Measured on (or given for) the training split; applied to every split.
    pub normalization: Normalization,
    pub classes: Vec<String>,
}

impl DataBundle {
    /// `[C, H, W]` of the images.
    pub fn shape(&self) -> [usize; 3] {
        self.train.shape
    }

    pub fn dataset(&self, part: Part) -> &Arc<Dataset> {
        match part {
            Part::Train | Part::Validation => &self.train,
            Part::Test => &self.test,
        }
    }

    pub fn indices(&self, part: Part) -> &[usize] {
        match part {
            Part::Train => &self.splits.train,
            Part::Validation => &self.splits.validation,
            Part::Test => &self.splits.test,
        }
    }

    /// Number of examples of each class in one split, indexed by label.
    pub fn class_counts(&self, part: Part) -> Vec<usize> {
        let labels = &self.dataset(part).labels;
        let mut counts = vec![0; self.classes.len()];
        for &i in self.indices(part) {
            // Labels were checked against the class names when the dataset was built.
            counts[labels[i] as usize] += 1;
        }
        counts
    }

    /// A loader over one split: the training one shuffles, drops and augments (by
    /// `augment`, the pipeline's `augment` list) as the pipeline says; the others keep
    /// their order and every example, un-augmented.
    pub fn loader(
        &self,
        part: Part,
        spec: &DataSpec,
        augment: &[TransformSpec],
        seed: u64,
    ) -> Result<Loader, DataError> {
        let options = LoaderOptions::from_spec(spec, seed);
        let (options, augment) = match part {
            Part::Train => (options, augment.to_vec()),
            Part::Validation | Part::Test => (options.for_evaluation(), Vec::new()),
        };
        Loader::with_augment(
            self.dataset(part).clone(),
            self.indices(part).to_vec(),
            options,
            self.normalization.clone(),
            augment,
        )
    }
}

/// Loads the source of `spec`, splits it with `seed`, applies `limit` and settles the
/// normalisation and the class names.
///
/// Class names are `spec.classes`, else the lines of the source's names file beside the
/// (training) images file ([`SourceSpec::class_names_file`]: `classes.txt` for IDX),
/// else `"0"`…`"K-1"`, where K is one more than the largest label for IDX and fixed by
/// the format for CIFAR. A folder or CSV source names its classes by its folders or
/// labels (see [`SourceSpec::ImageFolder`], [`SourceSpec::Csv`]) and reads every file's
/// header here, its pixels only when a batch (or `Computed` normalisation) needs them.
pub fn build(spec: &DataSpec, seed: u64) -> Result<DataBundle, DataError> {
    let names_file = spec.source.class_names_file();
    let names_file = names_file.as_deref().unwrap_or(Path::new(""));
    let (train, test, mut splits) = match &spec.source {
        SourceSpec::Idx { images, labels } => {
            let raw = RawIdx::load(Path::new(images), Path::new(labels))?;
            let classes =
                Classes::resolve(spec.classes.clone(), names_file, count_of(raw.max_label()))?;
            one_source(Raw::Idx(raw), classes, spec, seed)?
        }
        SourceSpec::IdxTrainTest {
            train_images,
            train_labels,
            test_images,
            test_labels,
        } => {
            let train = RawIdx::load(Path::new(train_images), Path::new(train_labels))?;
            let test = RawIdx::load(Path::new(test_images), Path::new(test_labels))?;
            if train.images.shape != test.images.shape {
                return Err(DataError::ShapeMismatch {
                    train: train_images.into(),
                    test: test_images.into(),
                    train_shape: train.images.shape,
                    test_shape: test.images.shape,
                });
            }
            let max = train.max_label().max(test.max_label());
            let classes = Classes::resolve(spec.classes.clone(), names_file, count_of(max))?;
            train_test(Raw::Idx(train), Raw::Idx(test), classes, spec, seed)?
        }
        SourceSpec::Cifar10 { train, test } | SourceSpec::Cifar100 { train, test, .. } => {
            let format = CifarFormat::of(&spec.source).expect("a CIFAR source has a CIFAR format");
            let classes = Classes::resolve(spec.classes.clone(), names_file, format.classes)?;
            let train = Raw::Idx(cifar::load(train, format)?);
            if test.is_empty() {
                one_source(train, classes, spec, seed)?
            } else {
                let test = Raw::Idx(cifar::load(test, format)?);
                train_test(train, test, classes, spec, seed)?
            }
        }
        SourceSpec::ImageFolder { .. } | SourceSpec::Csv { .. } => {
            let options = spec.source.image_options().expect("a folder or CSV source");
            let (classes, train, test) = image_source::list(&spec.source, spec.classes.clone())?;
            let train = Raw::Files(train, options);
            match test {
                None => one_source(train, classes, spec, seed)?,
                Some(test) => {
                    let test = Raw::Files(test, options);
                    let (train, test, splits) = train_test(train, test, classes, spec, seed)?;
                    if train.shape != test.shape {
                        return Err(DataError::ShapeMismatch {
                            train: spec_images(spec).into(),
                            test: ronin_spec::source_files(&spec.source)[1].1.into(),
                            train_shape: train.shape,
                            test_shape: test.shape,
                        });
                    }
                    (train, test, splits)
                }
            }
        }
    };
    if let Some(limit) = spec.limit {
        splits.limit(limit);
    }
    if let Some(n) = spec.train_limit {
        splits.train.truncate(n);
    }
    let (train, test) = add_extra_train(spec, train, test, &mut splits)?;
    let normalization = Normalization::from_spec(&spec.normalize, &train, &splits.train)?;
    Ok(DataBundle {
        classes: train.classes.clone(),
        train,
        test,
        splits,
        normalization,
    })
}

type Sets = (Arc<Dataset>, Arc<Dataset>, Splits);

/// A source's examples before they get their class names: bytes read from IDX or CIFAR
/// files, or the checked list of a folder or CSV source's image files.
enum Raw {
    Idx(RawIdx),
    Files(FileList, ImageOptions),
}

impl Raw {
    fn keep_classes(self, keep: &[usize], classes: &Classes) -> Result<(Self, Classes), DataError> {
        Ok(match self {
            Raw::Idx(raw) => {
                let (raw, classes) = raw.keep_classes(keep, classes)?;
                (Raw::Idx(raw), classes)
            }
            Raw::Files(list, options) => {
                let (list, classes) = list.keep_classes(keep, classes)?;
                (Raw::Files(list, options), classes)
            }
        })
    }

    fn into_dataset(self, classes: &Classes) -> Result<Dataset, DataError> {
        match self {
            Raw::Idx(raw) => raw.into_dataset(classes),
            Raw::Files(list, options) => list.into_dataset(classes, options),
        }
    }
}

/// One set of examples, split into train, validation and test by `spec.split`.
fn one_source(raw: Raw, classes: Classes, spec: &DataSpec, seed: u64) -> Result<Sets, DataError> {
    let (raw, classes) = keep_classes(raw, classes, spec)?;
    let ds = Arc::new(raw.into_dataset(&classes)?);
    let splits = Splits::new(&ds.labels, &spec.split, seed)?;
    Ok((ds.clone(), ds, splits))
}

/// A training set (split into train and validation) and a test set of the same shape.
fn train_test(
    train: Raw,
    test: Raw,
    classes: Classes,
    spec: &DataSpec,
    seed: u64,
) -> Result<Sets, DataError> {
    if spec.split.test != 0.0 {
        return Err(DataError::TestFractionWithTestFiles {
            test: spec.split.test,
        });
    }
    let (train, _) = keep_classes(train, classes.clone(), spec)?;
    let (test, classes) = keep_classes(test, classes, spec)?;
    let train = Arc::new(train.into_dataset(&classes)?);
    let test = Arc::new(test.into_dataset(&classes)?);
    let splits = Splits::with_test_set(&train.labels, test.len(), &spec.split, seed)?;
    Ok((train, test, splits))
}

/// Appends `data.extra_train` to the training dataset; their indices join the training
/// split only. When training and test share one dataset (one IDX pair split by
/// fractions), both get the extended one: the test indices still point at the originals.
fn add_extra_train(
    spec: &DataSpec,
    train: Arc<Dataset>,
    test: Arc<Dataset>,
    splits: &mut Splits,
) -> Result<(Arc<Dataset>, Arc<Dataset>), DataError> {
    if spec.extra_train.is_empty() {
        return Ok((train, test));
    }
    let shared = Arc::ptr_eq(&train, &test);
    let Some(bytes) = train.bytes() else {
        return Err(DataError::ExtraTrainWithFiles);
    };
    let mut images = bytes.to_vec();
    let mut labels = train.labels.to_vec();
    for pair in &spec.extra_train {
        let raw = RawIdx::load(Path::new(&pair.images), Path::new(&pair.labels))?;
        if raw.images.shape != train.shape {
            return Err(DataError::ShapeMismatch {
                train: spec_images(spec).into(),
                test: pair.images.clone().into(),
                train_shape: train.shape,
                test_shape: raw.images.shape,
            });
        }
        let classes = Classes {
            names: train.classes.clone(),
            from: "the training source".into(),
        };
        let extra = raw.into_dataset(&classes)?;
        let first = labels.len();
        images.extend_from_slice(extra.bytes().unwrap_or_default());
        labels.extend_from_slice(&extra.labels);
        splits.train.extend(first..labels.len());
    }
    let merged = Arc::new(Dataset::new(
        images,
        train.shape,
        labels,
        train.classes.clone(),
        "the training source with data.extra_train",
    )?);
    let test = if shared { merged.clone() } else { test };
    Ok((merged, test))
}

/// The first file of the source: the (training) images.
fn spec_images(spec: &DataSpec) -> &str {
    ronin_spec::source_files(&spec.source)
        .first()
        .map_or("", |(_, p)| p)
}

fn keep_classes(raw: Raw, classes: Classes, spec: &DataSpec) -> Result<(Raw, Classes), DataError> {
    match &spec.keep_classes {
        Some(keep) => raw.keep_classes(keep, &classes),
        None => Ok((raw, classes)),
    }
}

#[cfg(test)]
#[path = "build_tests.rs"]
mod tests;
