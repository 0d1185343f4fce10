//! Everything that can go wrong while reading, splitting, normalising or batching data.

use std::path::PathBuf;

/// An error of the data crate. Each message names the file or the values at fault.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{}: no example has a label in data.keep_classes {keep:?}; check the labels the file holds", path.display())]
    NoExamplesOfClasses {
        path: std::path::PathBuf,
        keep: Vec<usize>,
    },
    /// Opening or reading a file failed (`fs-err` puts the path in the message).
    #[error(transparent)]
    Io(#[from] std::io::Error),

    #[error("{path}: cannot decompress the gzip data: {source}")]
    Gzip {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "{path}: not an IDX file of unsigned bytes: magic bytes are {:02x} {:02x} {:02x} {:02x}, expected 00 00 08 0N",
        magic[0], magic[1], magic[2], magic[3]
    )]
    BadMagic { path: PathBuf, magic: [u8; 4] },

    #[error("{path}: an IDX {kind} file has {expected} dimensions, found {found}")]
    WrongDims {
        path: PathBuf,
        kind: &'static str,
        expected: &'static str,
        found: usize,
    },

    #[error("{path}: expected {expected} bytes of {what}, found {found}")]
    Length {
        path: PathBuf,
        what: &'static str,
        expected: usize,
        found: usize,
    },

    #[error("{path}: the dimensions {dims:?} describe more bytes than this machine can address")]
    TooLarge { path: PathBuf, dims: Vec<usize> },

    #[error(
        "{}: {len} bytes are not a whole number of {format} records of {record} bytes ({label_bytes} label byte(s), then 3072 pixels): the file is truncated, empty, or not {format}'s binary version",
        path.display()
    )]
    CifarRecords {
        path: PathBuf,
        len: usize,
        format: &'static str,
        record: usize,
        label_bytes: usize,
    },

    #[error("{}: record {record} has label {label}; {format} labels are below {classes}", path.display())]
    CifarLabel {
        path: PathBuf,
        record: usize,
        label: u8,
        format: &'static str,
        classes: usize,
    },

    #[error("{images} holds {n_images} images but {labels} holds {n_labels} labels")]
    CountMismatch {
        images: PathBuf,
        labels: PathBuf,
        n_images: usize,
        n_labels: usize,
    },

    #[error(
        "{train} holds images of shape {train_shape:?} (C, H, W) but {test} holds {test_shape:?}"
    )]
    ShapeMismatch {
        train: PathBuf,
        test: PathBuf,
        train_shape: [usize; 3],
        test_shape: [usize; 3],
    },

    #[error(
        "{origin}: {found} image bytes do not hold {count} images of shape {shape:?} (C, H, W)"
    )]
    ImageBytes {
        origin: String,
        count: usize,
        shape: [usize; 3],
        found: usize,
    },

    #[error(
        "{origin}: label {label} of example {index} is out of range for {classes} classes (class names from {classes_from})"
    )]
    LabelOutOfRange {
        origin: String,
        index: usize,
        label: i64,
        classes: usize,
        classes_from: String,
    },

    #[error("{path}: no class names in the file")]
    NoClassNames { path: PathBuf },

    #[error(
        "split fractions must each be in [0, 1) and sum to less than 1: validation {validation}, test {test}"
    )]
    BadFractions { validation: f64, test: f64 },

    #[error("the source has its own test files, so split.test must be 0 (found {test})")]
    TestFractionWithTestFiles { test: f64 },

    #[error(
        "the training split is empty: {examples} examples with validation {validation} and test {test}"
    )]
    EmptyTrainSplit {
        examples: usize,
        validation: f64,
        test: f64,
    },

    #[error("normalization {what} has {found} values but the images have {channels} channels")]
    NormChannels {
        what: &'static str,
        found: usize,
        channels: usize,
    },

    #[error("normalization std of channel {channel} is {std}; it must be a positive number")]
    BadStd { channel: usize, std: f32 },

    #[error("normalization mean of channel {channel} is {mean}; it must be a finite number")]
    BadMean { channel: usize, mean: f32 },

    #[error("cannot compute normalization statistics on an empty set of examples")]
    EmptyStatistics,

    #[error("example index {index} is out of range for a dataset of {len} examples")]
    IndexOutOfRange { index: usize, len: usize },

    #[error("batch_size must be at least 1")]
    ZeroBatchSize,

    /// The files of an `ImageFolder` or `Csv` source (a missing folder, an empty class
    /// folder, a CSV without its columns, an unknown label, …).
    #[error(transparent)]
    Listing(Box<ronin_spec::image_source::ListError>),

    #[error("{}: not a readable PNG, JPEG or BMP image: {source}", path.display())]
    ImageHeader {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },

    #[error("{}: cannot decode the image: {source}", path.display())]
    Decode {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },

    #[error("{}, line {line}: {} does not exist (relative paths start at the CSV's folder, or at the source's root)", csv.display(), image.display())]
    CsvMissingImage {
        csv: PathBuf,
        line: u64,
        image: PathBuf,
    },

    #[error("{}, line {line}: {source}", csv.display())]
    CsvRow {
        csv: PathBuf,
        line: u64,
        #[source]
        source: Box<DataError>,
    },

    #[error("{}: none of its {found} image files could be read", origin.display())]
    NoReadableImages { origin: PathBuf, found: usize },

    #[error(
        "{}: the image is {}×{} (height×width) but {} is {}×{}; give the source a size: ({}, {}) to resize every image to one size",
        path.display(), size.0, size.1, first.display(), first_size.0, first_size.1, first_size.0, first_size.1
    )]
    SizeMismatch {
        path: PathBuf,
        size: (usize, usize),
        first: PathBuf,
        first_size: (usize, usize),
    },

    #[error(
        "data.extra_train adds IDX examples to a source held in memory (IDX, CIFAR), not to a folder or CSV source"
    )]
    ExtraTrainWithFiles,

    #[error("invalid augment list: {}", list_problems(problems))]
    BadAugment {
        /// (path such as `augment[2].degrees`, message), as `ronin_spec::check_augment`.
        problems: Vec<(String, String)>,
    },
}

fn list_problems(problems: &[(String, String)]) -> String {
    problems
        .iter()
        .map(|(path, msg)| format!("{path}: {msg}"))
        .collect::<Vec<_>>()
        .join("; ")
}
