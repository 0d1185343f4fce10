//! Layers as written in a pipeline (`LayerSpec`) and as resolved in the model graph (`Op`).
//!
//! Names follow Keras where users know them (`filters`, `kernel_size`, `units`, `rate`)
//! with PyTorch's spellings accepted as aliases (`out_channels`, `out_features`, `p`).
//! Blocks (`Sequential`, `Residual`, `Parallel`, `Named`) nest layers; they decide the
//! state_dict names of what they hold (see [`crate::graph`]).

use serde::{Deserialize, Serialize};

/// A size given once for both spatial axes (`3`) or per axis (`(3, 5)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Size2 {
    Square(usize),
    Pair(usize, usize),
}

impl Size2 {
    pub fn hw(self) -> [usize; 2] {
        match self {
            Size2::Square(s) => [s, s],
            Size2::Pair(h, w) => [h, w],
        }
    }
}

/// Convolution / pooling padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
pub enum Padding {
    /// No padding (Keras' "valid").
    #[default]
    Valid,
    /// Output has the input's spatial size (stride 1 only).
    Same,
    /// Explicit zero padding on each side.
    Explicit(Size2),
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub enum LayerSpec {
    /// 2-D convolution. Input (N, C, H, W) → (N, filters, H', W') with
    /// H' = ⌊(H + 2p − d(k − 1) − 1) / s⌋ + 1. A 1×1 convolution is `kernel_size: 1`.
    Conv2d {
        #[serde(alias = "out_channels")]
        filters: usize,
        kernel_size: Size2,
        #[serde(default = "one")]
        stride: Size2,
        #[serde(default)]
        padding: Padding,
        #[serde(default = "one")]
        dilation: Size2,
        #[serde(default = "one_usize")]
        groups: usize,
        #[serde(default = "yes")]
        bias: bool,
    },
    /// Max pooling; `stride` defaults to `kernel_size`. `ceil_mode` rounds the output
    /// size up, as PyTorch's `ceil_mode=True` (GoogLeNet).
    MaxPool2d {
        #[serde(alias = "pool_size")]
        kernel_size: Size2,
        #[serde(default)]
        stride: Option<Size2>,
        #[serde(default)]
        padding: Padding,
        #[serde(default)]
        ceil_mode: bool,
    },
    /// Average pooling; `stride` defaults to `kernel_size`. Padded zeros count in the
    /// mean unless `count_include_pad: false`.
    AvgPool2d {
        #[serde(alias = "pool_size")]
        kernel_size: Size2,
        #[serde(default)]
        stride: Option<Size2>,
        #[serde(default)]
        padding: Padding,
        #[serde(default)]
        ceil_mode: bool,
        #[serde(default = "yes")]
        count_include_pad: bool,
    },
    /// Average pooling to a fixed output size, as PyTorch's `AdaptiveAvgPool2d`.
    AdaptiveAvgPool2d {
        output_size: Size2,
    },
    /// Mean over the spatial axes: (N, C, H, W) → (N, C, 1, 1).
    GlobalAvgPool2d,
    /// (N, C, H, W) → (N, C·H·W).
    Flatten,
    /// Fully connected layer (Keras' Dense).
    #[serde(alias = "Dense")]
    Linear {
        #[serde(alias = "out_features")]
        units: usize,
        #[serde(default = "yes")]
        bias: bool,
    },
    /// Zeroes each element with probability `rate` during training.
    Dropout {
        #[serde(alias = "p")]
        rate: f64,
    },
    /// Zeroes whole channels of (N, C, H, W) with probability `rate` during training.
    #[serde(alias = "SpatialDropout2D")]
    Dropout2d {
        #[serde(alias = "p")]
        rate: f64,
    },
    /// Batch normalisation over channels (N, C, H, W) or features (N, F).
    #[serde(alias = "BatchNorm2d", alias = "BatchNorm1d")]
    BatchNorm {
        #[serde(default = "default_bn_eps")]
        eps: f64,
        #[serde(default = "default_bn_momentum")]
        momentum: f64,
    },
    /// Normalises each example over all its axes (C, H, W) or (F), with a learned scale and
    /// shift of that shape when `elementwise_affine`.
    LayerNorm {
        #[serde(default = "default_bn_eps")]
        eps: f64,
        #[serde(default = "yes")]
        elementwise_affine: bool,
    },
    /// Normalises each channel of each example over its H×W (no running statistics).
    InstanceNorm2d {
        #[serde(default = "default_bn_eps")]
        eps: f64,
        #[serde(default)]
        affine: bool,
    },
    /// Normalises groups of `groups` channels of each example.
    GroupNorm {
        #[serde(alias = "num_groups")]
        groups: usize,
        #[serde(default = "default_bn_eps")]
        eps: f64,
        #[serde(default = "yes")]
        affine: bool,
    },
    /// Local response normalisation across `size` neighbouring channels (AlexNet, VGG-LRN):
    /// b = a / (k + α/n · Σ a²)^β.
    LocalResponseNorm {
        size: usize,
        #[serde(default = "default_lrn_alpha")]
        alpha: f64,
        #[serde(default = "default_lrn_beta")]
        beta: f64,
        #[serde(default = "default_lrn_k")]
        k: f64,
    },
    ReLU,
    LeakyReLU {
        #[serde(default = "default_leaky_slope")]
        negative_slope: f64,
    },
    ELU {
        #[serde(default = "one_f64")]
        alpha: f64,
    },
    /// Exact GELU, x·Φ(x).
    GELU,
    /// SiLU (swish), x·σ(x).
    #[serde(alias = "Swish")]
    SiLU,
    Sigmoid,
    Tanh,
    /// Softmax over the last axis.
    Softmax,
    /// Passes its input through.
    Identity,
    /// Layers applied in order; their names are `<block>.<index>`.
    Sequential(Vec<LayerSpec>),
    /// Gives a layer or block its state_dict name instead of its index:
    /// `Named("conv1", Conv2d(filters: 64, kernel_size: 7))` holds `conv1.weight`.
    Named(String, Box<LayerSpec>),
    /// `activation(layers(x) + shortcut(x))`: the body's output must have the shortcut's shape. The
    /// shortcut is the identity unless given (a projection such as a strided 1×1
    /// convolution with batch norm); its name is `<block>.shortcut` unless `Named`.
    Residual {
        layers: Vec<LayerSpec>,
        #[serde(default)]
        shortcut: Option<Box<LayerSpec>>,
        /// Applied to the sum (ResNet's ReLU); named `<block>.activation`.
        #[serde(default)]
        activation: Option<Box<LayerSpec>>,
    },
    /// Each branch applied to the same input, outputs concatenated on channels (Inception).
    /// Branch names are `<block>.<index>` unless `Named`.
    Parallel {
        branches: Vec<LayerSpec>,
    },
}

fn one() -> Size2 {
    Size2::Square(1)
}
fn one_usize() -> usize {
    1
}
fn one_f64() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}
fn default_bn_eps() -> f64 {
    1e-5
}
fn default_bn_momentum() -> f64 {
    0.1
}
fn default_leaky_slope() -> f64 {
    0.01
}
fn default_lrn_alpha() -> f64 {
    1e-4
}
fn default_lrn_beta() -> f64 {
    0.75
}
fn default_lrn_k() -> f64 {
    1.0
}

impl LayerSpec {
    /// The variant's name as written in a pipeline.
    pub fn kind(&self) -> &'static str {
        match self {
            LayerSpec::Conv2d { .. } => "Conv2d",
            LayerSpec::MaxPool2d { .. } => "MaxPool2d",
            LayerSpec::AvgPool2d { .. } => "AvgPool2d",
            LayerSpec::AdaptiveAvgPool2d { .. } => "AdaptiveAvgPool2d",
            LayerSpec::GlobalAvgPool2d => "GlobalAvgPool2d",
            LayerSpec::Flatten => "Flatten",
            LayerSpec::Linear { .. } => "Linear",
            LayerSpec::Dropout { .. } => "Dropout",
            LayerSpec::Dropout2d { .. } => "Dropout2d",
            LayerSpec::BatchNorm { .. } => "BatchNorm",
            LayerSpec::LayerNorm { .. } => "LayerNorm",
            LayerSpec::InstanceNorm2d { .. } => "InstanceNorm2d",
            LayerSpec::GroupNorm { .. } => "GroupNorm",
            LayerSpec::LocalResponseNorm { .. } => "LocalResponseNorm",
            LayerSpec::ReLU => "ReLU",
            LayerSpec::LeakyReLU { .. } => "LeakyReLU",
            LayerSpec::ELU { .. } => "ELU",
            LayerSpec::GELU => "GELU",
            LayerSpec::SiLU => "SiLU",
            LayerSpec::Sigmoid => "Sigmoid",
            LayerSpec::Tanh => "Tanh",
            LayerSpec::Softmax => "Softmax",
            LayerSpec::Identity => "Identity",
            LayerSpec::Sequential(_) => "Sequential",
            LayerSpec::Named(_, inner) => inner.kind(),
            LayerSpec::Residual { .. } => "Residual",
            LayerSpec::Parallel { .. } => "Parallel",
        }
    }
}

/// Element-wise activation functions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Activation {
    Relu,
    LeakyRelu { negative_slope: f64 },
    Elu { alpha: f64 },
    Gelu,
    Silu,
    Sigmoid,
    Tanh,
}

/// A resolved operation: every size known, padding explicit (top/left, bottom/right).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Op {
    Conv2d {
        in_channels: usize,
        out_channels: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        /// Zero padding as [top, left, bottom, right].
        padding: [usize; 4],
        dilation: [usize; 2],
        groups: usize,
        bias: bool,
    },
    MaxPool2d {
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 4],
        ceil_mode: bool,
    },
    AvgPool2d {
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 4],
        ceil_mode: bool,
        count_include_pad: bool,
    },
    /// PyTorch's adaptive average pooling to `output` (H, W).
    AdaptiveAvgPool2d {
        output: [usize; 2],
    },
    GlobalAvgPool2d,
    Flatten,
    Linear {
        in_features: usize,
        out_features: usize,
        bias: bool,
    },
    Dropout {
        rate: f64,
    },
    /// Whole-channel dropout.
    Dropout2d {
        rate: f64,
    },
    /// Over channels of (N, C, H, W) when `spatial`, over features of (N, F) otherwise.
    BatchNorm {
        features: usize,
        eps: f64,
        momentum: f64,
        spatial: bool,
    },
    /// Over the whole example shape `shape`.
    LayerNorm {
        shape: Vec<usize>,
        eps: f64,
        affine: bool,
    },
    InstanceNorm2d {
        channels: usize,
        eps: f64,
        affine: bool,
    },
    GroupNorm {
        groups: usize,
        channels: usize,
        eps: f64,
        affine: bool,
    },
    LocalResponseNorm {
        size: usize,
        alpha: f64,
        beta: f64,
        k: f64,
    },
    Activation(Activation),
    /// Softmax over the last axis.
    Softmax,
    /// Element-wise sum of the node's two inputs (a residual connection).
    Add,
    /// Concatenation of the node's inputs on the channel axis.
    Concat,
}
