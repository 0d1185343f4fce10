//! The pipeline file as users write it: one RON document, every field documented here.
//!
//! These types mirror the file exactly (`deny_unknown_fields`, defaults as functions) and
//! are turned into a validated [`crate::Pipeline`] by [`crate::Pipeline::from_file`].

use serde::{Deserialize, Serialize};

use crate::augment::TransformSpec;
use crate::layer::LayerSpec;
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
}

impl SourceSpec {
    /// The variant's name as written in a pipeline (`Idx`, `IdxTrainTest`).
    pub fn kind(&self) -> &'static str {
        match self {
            SourceSpec::Idx { .. } => "Idx",
            SourceSpec::IdxTrainTest { .. } => "IdxTrainTest",
            SourceSpec::Cifar10 { .. } => "Cifar10",
            SourceSpec::Cifar100 { .. } => "Cifar100",
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
        }
    }

    /// The file of class names (one per line) read when `data.classes` is absent, beside
    /// the first (training) images file: `classes.txt` for IDX, `batches.meta.txt` for
    /// CIFAR-10, `fine_label_names.txt` or `coarse_label_names.txt` for CIFAR-100.
    pub fn class_names_file(&self) -> std::path::PathBuf {
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
        };
        std::path::Path::new(first)
            .parent()
            .unwrap_or_else(|| std::path::Path::new(""))
            .join(name)
    }

    /// For a CIFAR source, its number of classes (fixed by the format) and its fixed image
    /// shape `[3, 32, 32]`; `None` for IDX, whose files say.
    pub fn cifar_format(&self) -> Option<(usize, [usize; 3])> {
        match self {
            SourceSpec::Idx { .. } | SourceSpec::IdxTrainTest { .. } => None,
            SourceSpec::Cifar10 { .. } => Some((10, CIFAR_SHAPE)),
            SourceSpec::Cifar100 { coarse, .. } => {
                Some((if *coarse { 20 } else { 100 }, CIFAR_SHAPE))
            }
        }
    }
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

/// How `ronin export` writes the ONNX model.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExportSpec {
    #[serde(default = "default_opset")]
    pub opset: i64,
    /// Put the softmax inside the graph, so the model outputs probabilities.
    #[serde(default)]
    pub softmax: bool,
    /// Maximum absolute difference allowed between the trained model and ONNX Runtime.
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
}

fn default_opset() -> i64 {
    17
}
fn default_tolerance() -> f64 {
    1e-4
}

impl Default for ExportSpec {
    fn default() -> Self {
        Self {
            opset: default_opset(),
            softmax: false,
            tolerance: default_tolerance(),
        }
    }
}
