//! The pipeline file as users write it: one RON document, every field documented here.
//!
//! These types mirror the file exactly (`deny_unknown_fields`, defaults as functions) and
//! are turned into a validated [`crate::Pipeline`] by [`crate::Pipeline::from_file`].

use serde::{Deserialize, Serialize};

use crate::augment::TransformSpec;
use crate::export::{QuantizeSpec, ResizePolicy};
use crate::layer::LayerSpec;
use crate::mix::MixSpec;
use crate::training::{
    CallbackSpec, LossSpec, OptimizerSpec, Precision, RegularizationSpec, ScheduleSpec, WarmupSpec,
};
use crate::zoo::PresetSpec;

/// A whole experiment.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineFile {
    /// Name of the experiment; the run directory is `experiments/<name>/<run-id>/`.
    /// Defaults to the file's stem.
    #[serde(default)]
    pub name: Option<String>,
    /// Seed for the split, shuffling, initialisation and dropout.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// `Auto` (CUDA when present, else CPU), `Cpu`, or `Cuda(N)`.
    #[serde(default)]
    pub device: DeviceSpec,
    /// Number of passes over the training split.
    pub epochs: usize,
    pub data: DataSpec,
    /// Random transforms of the training images, e.g.
    /// `[RandomAffine(degrees: 10, translate: (0.1, 0.1)), HorizontalFlip()]`; each fires
    /// with its own probability `p`. Geometric transforms come first (composed into one
    /// map), then photometric ones, then erasing; see [`crate::augment`]. Validation and
    /// test images are never augmented. Empty by default.
    #[serde(default)]
    pub augment: Vec<TransformSpec>,
    /// MixUp and/or CutMix of whole training batches with mixed soft labels, as timm's
    /// `Mixup`: `mix: (mixup_alpha: 0.2, cutmix_alpha: 1.0, label_smoothing: 0.0)`. Each
    /// batch is mixed with itself reversed (`x.flip(0)`); λ is drawn from the seed, the
    /// epoch and the batch's index only. Needs `CrossEntropy` or `BinaryCrossEntropy`;
    /// `train_accuracy` counts a mixed example as its dominant label. Validation and test
    /// are never mixed. None by default; see [`crate::mix`].
    #[serde(default)]
    pub mix: Option<MixSpec>,
    pub model: ModelSpec,
    /// `CrossEntropy()` by default; see [`LossSpec`].
    #[serde(default)]
    pub loss: LossSpec,
    pub optimizer: OptimizerSpec,
    /// A learning-rate schedule, e.g. `CosineAnnealingLR()`; constant lr when absent.
    #[serde(default)]
    pub schedule: Option<ScheduleSpec>,
    /// A linear warm-up in front of the schedule.
    #[serde(default)]
    pub warmup: Option<WarmupSpec>,
    #[serde(default)]
    pub regularization: RegularizationSpec,
    /// Keras-style callbacks: `[EarlyStopping(patience: 5), ModelCheckpoint(every_epochs: 5)]`.
    #[serde(default)]
    pub callbacks: Vec<CallbackSpec>,
    /// `Fp32` (default), or `Bf16`/`Fp16` autocast on CUDA.
    #[serde(default)]
    pub precision: Precision,
    /// Deterministic kernels (cuDNN) so that a CUDA run repeats exactly; CPU runs always do.
    #[serde(default)]
    pub deterministic: bool,
    #[serde(default)]
    pub export: ExportSpec,
}

fn default_seed() -> u64 {
    42
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum DeviceSpec {
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
}

/// Where the images come from, how they are split and normalised, and how they are batched.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    pub source: SourceSpec,
    /// Class names, in label order. When absent, read from `classes.txt` beside the
    /// source's files, else `0..N`.
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    #[serde(default)]
    pub split: SplitSpec,
    #[serde(default)]
    pub normalize: NormalizeSpec,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    #[serde(default = "default_true")]
    pub shuffle: bool,
    #[serde(default)]
    pub drop_last: bool,
    /// Loader worker threads (0 = half the cores, at least one, leaving the rest to
    /// libtorch's compute threads).
    #[serde(default)]
    pub workers: usize,
    /// Batches prepared ahead of the training step.
    #[serde(default = "default_prefetch")]
    pub prefetch: usize,
    /// Use only the first N examples of each split (after splitting): quick experiments, tests.
    #[serde(default)]
    pub limit: Option<usize>,
    /// Use only the first N examples of the training split (a small labelled set; the
    /// validation and test splits stay whole).
    #[serde(default)]
    pub train_limit: Option<usize>,
    /// Keep only these labels of the source, relabelled 0.. in this order (`[5, 6, 7, 8, 9]`
    /// makes digit 5 class 0); `classes` still names the source's labels.
    #[serde(default)]
    pub keep_classes: Option<Vec<usize>>,
    /// Labelled examples added to the training split only, after `limit`/`train_limit`
    /// (e.g. pseudo-labels written by `ronin predict --pseudo-label`). Same image shape
    /// and class numbering as the source; `keep_classes` does not apply to them.
    #[serde(default)]
    pub extra_train: Vec<IdxPair>,
}

impl DataSpec {
    /// A data section of `source` alone, every other field at its default: what a
    /// pipeline that writes only `data: (source: …)` gets.
    pub fn of_source(source: SourceSpec) -> Self {
        Self {
            source,
            classes: None,
            split: SplitSpec::default(),
            normalize: NormalizeSpec::default(),
            batch_size: default_batch_size(),
            shuffle: default_true(),
            drop_last: false,
            workers: 0,
            prefetch: default_prefetch(),
            limit: None,
            train_limit: None,
            keep_classes: None,
            extra_train: Vec::new(),
        }
    }
}

fn default_batch_size() -> usize {
    64
}
fn default_true() -> bool {
    true
}
fn default_prefetch() -> usize {
    4
}

/// A dataset on disk. Relative paths are resolved against the current directory.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub enum SourceSpec {
    /// One IDX image file and one IDX label file (raw or `.gz`); split by `split`.
    Idx { images: String, labels: String },
    /// Separate IDX files for training and test; validation is taken from training by `split.validation`.
    IdxTrainTest {
        train_images: String,
        train_labels: String,
        test_images: String,
        test_labels: String,
    },
    /// CIFAR-10 in its binary version (`cifar-10-batches-bin/`): files of records of one
    /// label byte and 3072 pixel bytes (the 32×32 red plane, then green, then blue), e.g.
    /// `train: ["…/data_batch_1.bin", …, "…/data_batch_5.bin"], test: ["…/test_batch.bin"]`.
    /// Validation is taken from `train` by `split.validation`; with `test: []` the test
    /// split is too (by `split.test`), else `split.test` must be 0. Class names are
    /// `data.classes`, else the lines of `batches.meta.txt` beside the first training
    /// file, else `"0"`…`"9"`.
    Cifar10 {
        train: Vec<String>,
        #[serde(default)]
        test: Vec<String>,
    },
    /// CIFAR-100 in its binary version (`cifar-100-binary/train.bin`, `test.bin`): records
    /// of a coarse label byte, a fine label byte and 3072 pixel bytes, as `Cifar10`. The
    /// 100 fine labels are the classes, or the 20 coarse ones with `coarse: true`; names
    /// from `fine_label_names.txt` (`coarse_label_names.txt`) beside the first training
    /// file when it is there.
    Cifar100 {
        train: Vec<String>,
        #[serde(default)]
        test: Vec<String>,
        #[serde(default)]
        coarse: bool,
    },
    /// A folder of class folders, as torchvision's `ImageFolder` and Keras'
    /// `flow_from_directory`: `root/<class>/<image>` (subfolders of a class folder count
    /// too), e.g. `ImageFolder(root: "data/pets/train", test: "data/pets/test", size: (64, 64))`.
    /// PNG, JPEG and BMP files (by extension, any case) are read; other files and names
    /// starting with `.` are ignored. Class names are the class folders' names, sorted (as
    /// torchvision), unless `data.classes` gives the order; then every folder must be one
    /// of them. Images are decoded when a batch needs them (a folder larger than memory
    /// works); only the file list and each file's header are read up front. Validation is
    /// taken from `root` by `split.validation`; with `test` the test split is that folder
    /// (whose class folders must be classes of `root`), else it is taken by `split.test`.
    ImageFolder {
        root: String,
        #[serde(default)]
        test: Option<String>,
        /// `(height, width)` every image is resized to (triangle filter, i.e. bilinear,
        /// widened when shrinking as PIL's `BILINEAR`); when absent, all images must
        /// already share one size.
        #[serde(default)]
        size: Option<(usize, usize)>,
        #[serde(default)]
        color: ColorSpec,
        #[serde(default)]
        on_corrupt: OnCorrupt,
    },
    /// A CSV file of (image path, label) rows under a header row, e.g.
    /// `Csv(file: "data/labels.csv", size: (32, 32))` with lines `path,label` /
    /// `img/001.png,cat`. Paths are relative to `root` when given, else to the CSV file's
    /// folder; absolute paths are kept. A label is a class name or an integer class index,
    /// the same for every row of a file: with `data.classes`, labels that are all class
    /// names are names, else labels that are all integers below the number of classes are
    /// indices; without it, labels that are all integers are indices and the classes are
    /// `"0"`…`"max"`, else the classes are the distinct labels, sorted. Images are read
    /// as for `ImageFolder`; `test` is a second CSV file for the test split.
    Csv {
        file: String,
        #[serde(default)]
        test: Option<String>,
        #[serde(default)]
        root: Option<String>,
        /// The header of the column of image paths.
        #[serde(default = "default_path_column")]
        path_column: String,
        /// The header of the column of labels.
        #[serde(default = "default_label_column")]
        label_column: String,
        #[serde(default)]
        size: Option<(usize, usize)>,
        #[serde(default)]
        color: ColorSpec,
        #[serde(default)]
        on_corrupt: OnCorrupt,
    },
}

fn default_path_column() -> String {
    "path".into()
}
fn default_label_column() -> String {
    "label".into()
}

/// The channels images of a folder or CSV source are converted to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum ColorSpec {
    /// One channel: ITU-R 601-2 luma of the RGB values, `L = (19595 R + 38470 G + 7471 B
    /// + 2^15) >> 16`, as PIL's `convert("L")`; grey images are kept as they are.
    Grayscale,
    /// Three channels (red, green, blue); grey images are repeated, alpha is dropped (as
    /// PIL's `convert("RGB")`, which torchvision's `ImageFolder` applies).
    #[default]
    Rgb,
}

impl ColorSpec {
    pub fn channels(self) -> usize {
        match self {
            ColorSpec::Grayscale => 1,
            ColorSpec::Rgb => 3,
        }
    }
}

/// What a folder or CSV source does with a file that is not a readable image.
///
/// Every file's header is read when the source is listed, so a truncated, empty or
/// non-image file is found before training starts. A file whose header reads but whose
/// pixels do not decode is only found when a batch needs it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum OnCorrupt {
    /// Stop with an error naming the file (mid-training: the run fails, keeping the
    /// checkpoints it wrote).
    #[default]
    Fail,
    /// Leave the file out: at listing time with one warning (the count and the first
    /// paths); mid-training the example is left out of its batch (one batch is one
    /// example shorter, every epoch) with a warning naming the file once.
    Skip,
}

impl SourceSpec {
    /// The variant's name as written in a pipeline (`Idx`, `IdxTrainTest`).
    pub fn kind(&self) -> &'static str {
        match self {
            SourceSpec::Idx { .. } => "Idx",
            SourceSpec::IdxTrainTest { .. } => "IdxTrainTest",
            SourceSpec::Cifar10 { .. } => "Cifar10",
            SourceSpec::Cifar100 { .. } => "Cifar100",
            SourceSpec::ImageFolder { .. } => "ImageFolder",
            SourceSpec::Csv { .. } => "Csv",
        }
    }

    /// Whether the source has files of its own for the test split (then `split.test` is 0).
    pub fn has_test_files(&self) -> bool {
        match self {
            SourceSpec::Idx { .. } => false,
            SourceSpec::IdxTrainTest { .. } => true,
            SourceSpec::Cifar10 { test, .. } | SourceSpec::Cifar100 { test, .. } => {
                !test.is_empty()
            }
            SourceSpec::ImageFolder { test, .. } | SourceSpec::Csv { test, .. } => test.is_some(),
        }
    }

    /// The file of class names (one per line) read when `data.classes` is absent, beside
    /// the first (training) images file: `classes.txt` for IDX, `batches.meta.txt` for
    /// CIFAR-10, `fine_label_names.txt` or `coarse_label_names.txt` for CIFAR-100; `None`
    /// for a folder or CSV source, whose names come from its folders or labels.
    pub fn class_names_file(&self) -> Option<std::path::PathBuf> {
        let (first, name) = match self {
            SourceSpec::Idx { images, .. } => (images.as_str(), "classes.txt"),
            SourceSpec::IdxTrainTest { train_images, .. } => (train_images.as_str(), "classes.txt"),
            SourceSpec::Cifar10 { train, .. } => (first_of(train), "batches.meta.txt"),
            SourceSpec::Cifar100 { train, coarse, .. } => (
                first_of(train),
                if *coarse {
                    "coarse_label_names.txt"
                } else {
                    "fine_label_names.txt"
                },
            ),
            SourceSpec::ImageFolder { .. } | SourceSpec::Csv { .. } => return None,
        };
        let dir = std::path::Path::new(first)
            .parent()
            .unwrap_or_else(|| std::path::Path::new(""));
        Some(dir.join(name))
    }

    /// For a CIFAR source, its number of classes (fixed by the format) and its fixed image
    /// shape `[3, 32, 32]`; `None` for IDX, whose files say.
    pub fn cifar_format(&self) -> Option<(usize, [usize; 3])> {
        match self {
            SourceSpec::Idx { .. }
            | SourceSpec::IdxTrainTest { .. }
            | SourceSpec::ImageFolder { .. }
            | SourceSpec::Csv { .. } => None,
            SourceSpec::Cifar10 { .. } => Some((10, CIFAR_SHAPE)),
            SourceSpec::Cifar100 { coarse, .. } => {
                Some((if *coarse { 20 } else { 100 }, CIFAR_SHAPE))
            }
        }
    }

    /// How a folder or CSV source turns files into images; `None` for the others.
    pub fn image_options(&self) -> Option<ImageOptions> {
        match self {
            SourceSpec::ImageFolder {
                size,
                color,
                on_corrupt,
                ..
            }
            | SourceSpec::Csv {
                size,
                color,
                on_corrupt,
                ..
            } => Some(ImageOptions {
                size: *size,
                color: *color,
                on_corrupt: *on_corrupt,
            }),
            _ => None,
        }
    }
}

/// The decoding options shared by `ImageFolder` and `Csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageOptions {
    /// `(height, width)`.
    pub size: Option<(usize, usize)>,
    pub color: ColorSpec,
    pub on_corrupt: OnCorrupt,
}

/// `[C, H, W]` of every CIFAR image.
pub const CIFAR_SHAPE: [usize; 3] = [3, 32, 32];

fn first_of(files: &[String]) -> &str {
    files.first().map_or("", String::as_str)
}

/// An IDX image file and its IDX label file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IdxPair {
    pub images: String,
    pub labels: String,
}

/// Fractions of the examples held out. With `IdxTrainTest`, `test` must be 0.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SplitSpec {
    #[serde(default = "default_validation")]
    pub validation: f64,
    #[serde(default)]
    pub test: f64,
    /// Keep each class's share equal across splits.
    #[serde(default = "default_true")]
    pub stratified: bool,
}

fn default_validation() -> f64 {
    0.1
}

impl Default for SplitSpec {
    fn default() -> Self {
        Self {
            validation: default_validation(),
            test: 0.0,
            stratified: true,
        }
    }
}

/// Pixel normalisation, applied after scaling bytes to [0, 1].
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub enum NormalizeSpec {
    /// Leave pixels in [0, 1].
    None,
    /// Per-channel mean and standard deviation given by the user.
    Given { mean: Vec<f32>, std: Vec<f32> },
    /// Per-channel mean and standard deviation measured on the training split.
    #[default]
    Computed,
}

/// The network: an input shape and either an ordered list of layers or a zoo preset,
/// with how it is initialised, which weights it starts from, and what is frozen.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Input as (channels, height, width); defaults to the data source's shape.
    #[serde(default)]
    pub input: Option<InputSpec>,
    /// The layers, named `layers.<index>` in checkpoints. Empty when `preset` is given.
    #[serde(default)]
    pub layers: Vec<LayerSpec>,
    /// A model of the zoo instead of `layers`: `preset: (model: ResNet18)`.
    #[serde(default)]
    pub preset: Option<PresetSpec>,
    /// How convolution and linear weights start (biases as PyTorch, or zero for the
    /// Kaiming/Xavier schemes).
    #[serde(default)]
    pub init: InitSpec,
    /// Start from saved weights (transfer learning).
    #[serde(default)]
    pub weights: Option<WeightsSpec>,
    /// Parameters not trained (requires_grad = false; their batch norms use running statistics).
    #[serde(default)]
    pub freeze: Option<FreezeSpec>,
    /// Learning rate of the backbone (every node before the head) when it differs from
    /// the optimizer's, which the head keeps; the schedule scales both.
    #[serde(default)]
    pub backbone_lr: Option<f64>,
    /// Fine-tuning: the frozen layers train from epoch N + 1 on (at `backbone_lr` when given).
    #[serde(default)]
    pub unfreeze_after_epochs: Option<usize>,
    /// Feature extraction: run the frozen layers over each example once (eval mode) and
    /// train the layers after them on the kept outputs. Needs `freeze`, no `augment`, no
    /// `unfreeze_after_epochs`, and frozen layers whose only output feeds the rest.
    #[serde(default)]
    pub cache_features: bool,
}

/// Weight initialisation of convolutions and linear layers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum InitSpec {
    /// PyTorch's defaults: Kaiming-uniform with a = √5 for weights, U(±1/√fan_in) biases.
    #[default]
    PyTorch,
    /// He et al.: N(0, 2/fan_out), as torchvision's ResNet; zero biases.
    KaimingNormal,
    /// U(±√(6/fan_in)); zero biases.
    KaimingUniform,
    /// Glorot: N(0, 2/(fan_in + fan_out)); zero biases.
    XavierNormal,
    /// Glorot (Keras' default): U(±√(6/(fan_in + fan_out))); zero biases.
    XavierUniform,
}

/// Saved weights to start from, by state_dict name (torchvision's names for presets).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WeightsSpec {
    /// A safetensors file, e.g. torchvision weights converted with `safetensors.torch.save_file`.
    #[serde(default)]
    pub file: Option<String>,
    /// Or the newest completed run of this experiment name (`experiments/<run>/…`): its
    /// best checkpoint.
    #[serde(default)]
    pub run: Option<String>,
    /// Every tensor of the model must be in the file with its shape, and nothing else
    /// (`load_state_dict(strict=True)`); when false, what matches is loaded and the rest
    /// is reported.
    #[serde(default = "default_true")]
    pub strict: bool,
    /// Leave the head (the last layer with weights) as initialised: a new classifier for
    /// a new number of classes.
    #[serde(default)]
    pub skip_head: bool,
}

/// Which parameters are frozen.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub enum FreezeSpec {
    /// Everything but the head (the last layer with weights).
    AllButHead,
    /// Every layer before the named one (`Until("layer4")`, `Until("layers.6")`).
    Until(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

/// How `ronin export` writes the ONNX model. Flags of `ronin export` override it
/// (`--softmax`, `--fold-bn`, `--quantize`, `--calibration-batches`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExportSpec {
    /// ONNX opset of the graph, 17 to 21.
    #[serde(default = "default_opset")]
    pub opset: i64,
    /// Put the softmax inside the graph, so the model outputs probabilities.
    #[serde(default)]
    pub softmax: bool,
    /// Largest difference allowed between ONNX Runtime's and the trained model's outputs,
    /// as `|onnx − trained| / max(1, |trained|)`: absolute for outputs up to 1 (probabilities),
    /// relative for larger ones (logits); a positive number.
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// Put the input normalisation `(x − mean) / std` (the run's, from `data.normalize`)
    /// inside the graph: the model then takes pixels in [0, 1], the manifest says
    /// `normalization.in_graph: true`, and `ronin predict` / `ronin eval` feed it pixels
    /// as they are.
    #[serde(default)]
    pub normalize: bool,
    /// Merge each BatchNorm that directly follows a convolution into that convolution
    /// (as `--fold-bn`); the manifest records `batch_norm_folded`.
    #[serde(default)]
    pub fold_batch_norm: bool,
    /// Also write an int8 model `<name>.int8.onnx` beside the float one (as `--quantize`):
    /// `Some(Dynamic)`, `Some(DynamicLinear)` or `Some(Static)`; none by default. Written
    /// only when it keeps the top-1 class of at least 90 % of the reference examples.
    #[serde(default)]
    pub quantize: Option<QuantizeSpec>,
    /// Batches of the training split (without augmentation, normalised as in training)
    /// that `Static` quantization measures activation ranges on (as
    /// `--calibration-batches`); at least 1.
    #[serde(default = "default_calibration_batches")]
    pub calibration_batches: usize,
    /// `true`: the batch axis is dynamic (`"batch"`), any batch size runs. `false`: the
    /// graph has a fixed batch of 1, the shape embedded runtimes and compilers that need
    /// static shapes want; ronin's own tools then feed it one example at a time. The
    /// manifest's `input_shape` shows which.
    #[serde(default = "default_dynamic_batch")]
    pub dynamic_batch: bool,
    /// Whether `ronin predict` may resize (and convert the channels of) an image that is
    /// not the model's input size: `Bilinear` (default) or `Refuse`. Recorded in the
    /// manifest as `input_policy`.
    #[serde(default)]
    pub resize: ResizePolicy,
}

fn default_opset() -> i64 {
    17
}
fn default_tolerance() -> f64 {
    1e-4
}
fn default_calibration_batches() -> usize {
    10
}
fn default_dynamic_batch() -> bool {
    true
}

impl Default for ExportSpec {
    fn default() -> Self {
        Self {
            opset: default_opset(),
            softmax: false,
            tolerance: default_tolerance(),
            normalize: false,
            fold_batch_norm: false,
            quantize: None,
            calibration_batches: default_calibration_batches(),
            dynamic_batch: default_dynamic_batch(),
            resize: ResizePolicy::default(),
        }
    }
}
