//! The model zoo: classic architectures as layer lists, named as torchvision names them.
//!
//! Each preset expands into ordinary [`LayerSpec`] blocks, so it is checked, summarised,
//! trained and exported like a hand-written model; its state_dict keys are torchvision's
//! (`features.0.weight`, `layer1.0.downsample.0.weight`, `inception3a.branch2.0.conv.weight`),
//! so torchvision weights converted to safetensors load by name.

use serde::{Deserialize, Serialize};

use crate::layer::{LayerSpec as L, Padding, Size2};

/// An architecture of the zoo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum ZooModel {
    /// LeCun et al. 1998: two 5×5 convolutions with tanh and average pooling, three dense
    /// layers; a 28×28 input is padded to 32×32 as for MNIST.
    LeNet5,
    /// Krizhevsky et al. 2012, torchvision's single-tower version.
    AlexNet,
    /// VGG configuration A (VGG-11).
    VGG11,
    /// Configuration A with local response normalisation after the first convolution.
    VGG11LRN,
    /// Configuration B.
    VGG13,
    /// Configuration C: VGG-16 whose last convolution in blocks 3–5 is 1×1.
    VGG16C,
    /// Configuration D.
    VGG16,
    /// Configuration E.
    VGG19,
    ResNet18,
    ResNet34,
    /// Bottleneck blocks, stride on the 3×3 convolution (torchvision's v1.5).
    ResNet50,
    /// Inception v1 without the auxiliary heads, as torchvision builds it.
    GoogLeNet,
    /// Network-in-Network (Lin et al. 2013): mlpconv blocks and a global-average-pooled head.
    NiN,
}

/// `model: (preset: (model: ResNet18, width: 0.5))`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PresetSpec {
    pub model: ZooModel,
    /// Number of outputs of the head; defaults to the data's number of classes.
    #[serde(default)]
    pub classes: Option<usize>,
    /// Multiplies every hidden channel and unit count (rounded, at least 1): 0.25 gives
    /// a quarter-width network for quick experiments; 1.0 is the published model.
    #[serde(default = "one")]
    pub width: f64,
    /// Batch normalisation after every convolution (VGG only: `vgg11_bn` …).
    #[serde(default)]
    pub batch_norm: bool,
    /// Dropout rate of the classifier (AlexNet, VGG: 0.5; GoogLeNet: 0.2; NiN: 0.5).
    #[serde(default)]
    pub dropout: Option<f64>,
}

fn one() -> f64 {
    1.0
}

impl ZooModel {
    pub fn is_vgg(self) -> bool {
        matches!(
            self,
            ZooModel::VGG11
                | ZooModel::VGG11LRN
                | ZooModel::VGG13
                | ZooModel::VGG16C
                | ZooModel::VGG16
                | ZooModel::VGG19
        )
    }
}

/// Checks a preset's options; the message names the option.
pub fn check_preset(p: &PresetSpec) -> Result<(), String> {
    if !(p.width > 0.0 && p.width <= 16.0) {
        return Err(format!("width must be in (0, 16], found {}", p.width));
    }
    if p.batch_norm && !p.model.is_vgg() {
        return Err(format!(
            "batch_norm is an option of the VGG presets; {:?} has its own normalisation (or none)",
            p.model
        ));
    }
    if let Some(r) = p.dropout
        && !(0.0..1.0).contains(&r)
    {
        return Err(format!("dropout must be in [0, 1), found {r}"));
    }
    if p.classes == Some(0) {
        return Err("classes must be at least 1".into());
    }
    Ok(())
}

/// The preset's layers for an input of `channels`×`height`×`width` and `classes` outputs.
/// Input channels and size are taken from the graph's input; the layer list does not
/// depend on them except LeNet-5's padding.
pub fn expand(p: &PresetSpec, height: usize, classes: usize) -> Vec<L> {
    let w = Width(p.width);
    match p.model {
        ZooModel::LeNet5 => lenet5(&w, height, classes),
        ZooModel::AlexNet => alexnet(&w, classes, p.dropout.unwrap_or(0.5)),
        ZooModel::VGG11
        | ZooModel::VGG11LRN
        | ZooModel::VGG13
        | ZooModel::VGG16C
        | ZooModel::VGG16
        | ZooModel::VGG19 => vgg(&w, p.model, p.batch_norm, classes, p.dropout.unwrap_or(0.5)),
        ZooModel::ResNet18 => resnet(&w, Block::Basic, [2, 2, 2, 2], classes),
        ZooModel::ResNet34 => resnet(&w, Block::Basic, [3, 4, 6, 3], classes),
        ZooModel::ResNet50 => resnet(&w, Block::Bottleneck, [3, 4, 6, 3], classes),
        ZooModel::GoogLeNet => googlenet(&w, classes, p.dropout.unwrap_or(0.2)),
        ZooModel::NiN => nin(&w, classes, p.dropout.unwrap_or(0.5)),
    }
}

/// `model` as torchvision builds it by default: full width, 1000 classes, 3×224×224 input
/// (the benchmarks' reference models).
pub fn imagenet_graph(model: ZooModel) -> Result<crate::graph::ModelGraph, String> {
    let p = PresetSpec {
        model,
        classes: Some(1000),
        width: 1.0,
        batch_norm: false,
        dropout: None,
    };
    preset_graph(&p, vec![3, 224, 224], 1000).map_err(|e| format!("{model:?}: {e}"))
}

/// The graph of a preset alone (no pipeline), for `ronin check --preset`.
pub fn preset_graph(
    p: &PresetSpec,
    input: Vec<usize>,
    classes: usize,
) -> Result<crate::graph::ModelGraph, String> {
    check_preset(p)?;
    let height = input.get(1).copied().unwrap_or(0);
    crate::graph::build_graph_named(input, "", &expand(p, height, p.classes.unwrap_or(classes)))
        .map_err(|e| {
            e.into_iter()
                .map(|e| e.message)
                .collect::<Vec<_>>()
                .join("; ")
        })
}

/// Every preset, in the order of the docs.
pub const ALL: [ZooModel; 13] = [
    ZooModel::LeNet5,
    ZooModel::AlexNet,
    ZooModel::VGG11,
    ZooModel::VGG11LRN,
    ZooModel::VGG13,
    ZooModel::VGG16C,
    ZooModel::VGG16,
    ZooModel::VGG19,
    ZooModel::ResNet18,
    ZooModel::ResNet34,
    ZooModel::ResNet50,
    ZooModel::GoogLeNet,
    ZooModel::NiN,
];

struct Width(f64);

impl Width {
    fn of(&self, c: usize) -> usize {
        ((c as f64 * self.0).round() as usize).max(1)
    }
}

fn named(name: &str, layer: L) -> L {
    L::Named(name.to_owned(), Box::new(layer))
}

fn conv(filters: usize, k: usize, stride: usize, pad: usize, bias: bool) -> L {
    L::Conv2d {
        filters,
        kernel_size: Size2::Square(k),
        stride: Size2::Square(stride),
        padding: if pad == 0 {
            Padding::Valid
        } else {
            Padding::Explicit(Size2::Square(pad))
        },
        dilation: Size2::Square(1),
        groups: 1,
        bias,
    }
}

fn max_pool(k: usize, stride: usize, pad: usize, ceil_mode: bool) -> L {
    L::MaxPool2d {
        kernel_size: Size2::Square(k),
        stride: Some(Size2::Square(stride)),
        padding: if pad == 0 {
            Padding::Valid
        } else {
            Padding::Explicit(Size2::Square(pad))
        },
        ceil_mode,
    }
}

fn bn(eps: f64) -> L {
    L::BatchNorm { eps, momentum: 0.1 }
}

fn linear(units: usize) -> L {
    L::Linear { units, bias: true }
}

fn dropout(rate: f64) -> L {
    L::Dropout { rate }
}

fn adaptive(s: usize) -> L {
    L::AdaptiveAvgPool2d {
        output_size: Size2::Square(s),
    }
}

fn lenet5(w: &Width, height: usize, classes: usize) -> Vec<L> {
    let pad = 32usize.saturating_sub(height) / 2;
    vec![
        conv(w.of(6), 5, 1, pad, true),
        L::Tanh,
        avg_pool2(),
        conv(w.of(16), 5, 1, 0, true),
        L::Tanh,
        avg_pool2(),
        L::Flatten,
        linear(w.of(120)),
        L::Tanh,
        linear(w.of(84)),
        L::Tanh,
        linear(classes),
    ]
}

fn avg_pool2() -> L {
    L::AvgPool2d {
        kernel_size: Size2::Square(2),
        stride: None,
        padding: Padding::Valid,
        ceil_mode: false,
        count_include_pad: true,
    }
}

fn alexnet(w: &Width, classes: usize, p: f64) -> Vec<L> {
    let features = vec![
        conv(w.of(64), 11, 4, 2, true),
        L::ReLU,
        max_pool(3, 2, 0, false),
        conv(w.of(192), 5, 1, 2, true),
        L::ReLU,
        max_pool(3, 2, 0, false),
        conv(w.of(384), 3, 1, 1, true),
        L::ReLU,
        conv(w.of(256), 3, 1, 1, true),
        L::ReLU,
        conv(w.of(256), 3, 1, 1, true),
        L::ReLU,
        max_pool(3, 2, 0, false),
    ];
    let classifier = vec![
        dropout(p),
        linear(w.of(4096)),
        L::ReLU,
        dropout(p),
        linear(w.of(4096)),
        L::ReLU,
        linear(classes),
    ];
    vec![
        named("features", L::Sequential(features)),
        named("avgpool", adaptive(6)),
        named("flatten", L::Flatten),
        named("classifier", L::Sequential(classifier)),
    ]
}

/// A VGG configuration: channel counts, `0` for max pooling, and 1×1 convolutions
/// written as `1_000_000 + channels`.
fn vgg_config(m: ZooModel) -> Vec<usize> {
    const M: usize = 0;
    const ONE: usize = 1_000_000;
    match m {
        ZooModel::VGG11 | ZooModel::VGG11LRN => {
            vec![64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M]
        }
        ZooModel::VGG13 => vec![
            64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M,
        ],
        ZooModel::VGG16C => vec![
            64,
            64,
            M,
            128,
            128,
            M,
            256,
            256,
            ONE + 256,
            M,
            512,
            512,
            ONE + 512,
            M,
            512,
            512,
            ONE + 512,
            M,
        ],
        ZooModel::VGG16 => vec![
            64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M,
        ],
        _ => vec![
            64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M, 512, 512, 512,
            512, M,
        ],
    }
}

fn vgg(w: &Width, m: ZooModel, batch_norm: bool, classes: usize, p: f64) -> Vec<L> {
    let mut features = Vec::new();
    for (i, &c) in vgg_config(m).iter().enumerate() {
        if c == 0 {
            features.push(max_pool(2, 2, 0, false));
            continue;
        }
        let (filters, k, pad) = if c > 1_000_000 {
            (c - 1_000_000, 1, 0)
        } else {
            (c, 3, 1)
        };
        features.push(conv(w.of(filters), k, 1, pad, true));
        if batch_norm {
            features.push(bn(1e-5));
        }
        features.push(L::ReLU);
        if i == 0 && m == ZooModel::VGG11LRN {
            // Simonyan & Zisserman use Krizhevsky's LRN: n = 5, α = 1e-4, β = 0.75, k = 2.
            features.push(L::LocalResponseNorm {
                size: 5,
                alpha: 1e-4,
                beta: 0.75,
                k: 2.0,
            });
        }
    }
    let classifier = vec![
        linear(w.of(4096)),
        L::ReLU,
        dropout(p),
        linear(w.of(4096)),
        L::ReLU,
        dropout(p),
        linear(classes),
    ];
    vec![
        named("features", L::Sequential(features)),
        named("avgpool", adaptive(7)),
        named("flatten", L::Flatten),
        named("classifier", L::Sequential(classifier)),
    ]
}

#[derive(Clone, Copy, PartialEq)]
enum Block {
    Basic,
    Bottleneck,
}

fn no_bias_conv(filters: usize, k: usize, stride: usize, pad: usize) -> L {
    conv(filters, k, stride, pad, false)
}

fn resnet(w: &Width, block: Block, depths: [usize; 4], classes: usize) -> Vec<L> {
    let expansion = if block == Block::Basic { 1 } else { 4 };
    let mut layers = vec![
        named("conv1", no_bias_conv(w.of(64), 7, 2, 3)),
        named("bn1", bn(1e-5)),
        named("relu", L::ReLU),
        named("maxpool", max_pool(3, 2, 1, false)),
    ];
    let mut in_ch = w.of(64);
    for (stage, &depth) in depths.iter().enumerate() {
        let planes = w.of(64 << stage);
        let mut blocks = Vec::with_capacity(depth);
        for b in 0..depth {
            let stride = if stage > 0 && b == 0 { 2 } else { 1 };
            let out_ch = planes * expansion;
            let body = match block {
                Block::Basic => vec![
                    named("conv1", no_bias_conv(planes, 3, stride, 1)),
                    named("bn1", bn(1e-5)),
                    named("relu", L::ReLU),
                    named("conv2", no_bias_conv(planes, 3, 1, 1)),
                    named("bn2", bn(1e-5)),
                ],
                Block::Bottleneck => vec![
                    named("conv1", no_bias_conv(planes, 1, 1, 0)),
                    named("bn1", bn(1e-5)),
                    named("relu1", L::ReLU),
                    named("conv2", no_bias_conv(planes, 3, stride, 1)),
                    named("bn2", bn(1e-5)),
                    named("relu2", L::ReLU),
                    named("conv3", no_bias_conv(out_ch, 1, 1, 0)),
                    named("bn3", bn(1e-5)),
                ],
            };
            let shortcut = (stride != 1 || in_ch != out_ch).then(|| {
                Box::new(named(
                    "downsample",
                    L::Sequential(vec![no_bias_conv(out_ch, 1, stride, 0), bn(1e-5)]),
                ))
            });
            blocks.push(L::Residual {
                layers: body,
                shortcut,
                activation: Some(Box::new(L::ReLU)),
            });
            in_ch = out_ch;
        }
        layers.push(named(&format!("layer{}", stage + 1), L::Sequential(blocks)));
    }
    layers.extend([
        named("avgpool", adaptive(1)),
        named("flatten", L::Flatten),
        named("fc", linear(classes)),
    ]);
    layers
}

/// torchvision's `BasicConv2d`: convolution without bias, batch norm (eps 0.001), ReLU.
fn basic_conv(filters: usize, k: usize, stride: usize, pad: usize) -> L {
    L::Sequential(vec![
        named("conv", no_bias_conv(filters, k, stride, pad)),
        named("bn", bn(1e-3)),
        named("relu", L::ReLU),
    ])
}

/// Inception v1 block: 1×1 | 1×1→3×3 | 1×1→3×3 (torchvision's "5×5" branch) | pool→1×1.
fn inception(w: &Width, c: [usize; 6]) -> L {
    let [c1, c3r, c3, c5r, c5, pool] = c.map(|x| w.of(x));
    L::Parallel {
        branches: vec![
            named("branch1", basic_conv(c1, 1, 1, 0)),
            named(
                "branch2",
                L::Sequential(vec![basic_conv(c3r, 1, 1, 0), basic_conv(c3, 3, 1, 1)]),
            ),
            named(
                "branch3",
                L::Sequential(vec![basic_conv(c5r, 1, 1, 0), basic_conv(c5, 3, 1, 1)]),
            ),
            named(
                "branch4",
                L::Sequential(vec![max_pool(3, 1, 1, true), basic_conv(pool, 1, 1, 0)]),
            ),
        ],
    }
}

fn googlenet(w: &Width, classes: usize, p: f64) -> Vec<L> {
    let inc = |name: &str, c: [usize; 6]| named(name, inception(w, c));
    vec![
        named("conv1", basic_conv(w.of(64), 7, 2, 3)),
        named("maxpool1", max_pool(3, 2, 0, true)),
        named("conv2", basic_conv(w.of(64), 1, 1, 0)),
        named("conv3", basic_conv(w.of(192), 3, 1, 1)),
        named("maxpool2", max_pool(3, 2, 0, true)),
        inc("inception3a", [64, 96, 128, 16, 32, 32]),
        inc("inception3b", [128, 128, 192, 32, 96, 64]),
        named("maxpool3", max_pool(3, 2, 0, true)),
        inc("inception4a", [192, 96, 208, 16, 48, 64]),
        inc("inception4b", [160, 112, 224, 24, 64, 64]),
        inc("inception4c", [128, 128, 256, 24, 64, 64]),
        inc("inception4d", [112, 144, 288, 32, 64, 64]),
        inc("inception4e", [256, 160, 320, 32, 128, 128]),
        named("maxpool4", max_pool(2, 2, 0, true)),
        inc("inception5a", [256, 160, 320, 32, 128, 128]),
        inc("inception5b", [384, 192, 384, 48, 128, 128]),
        named("avgpool", adaptive(1)),
        named("flatten", L::Flatten),
        named("dropout", dropout(p)),
        named("fc", linear(classes)),
    ]
}

/// An mlpconv block: a k×k convolution then two 1×1 convolutions, each with ReLU.
fn nin_block(filters: usize, k: usize, stride: usize, pad: usize) -> L {
    L::Sequential(vec![
        conv(filters, k, stride, pad, true),
        L::ReLU,
        conv(filters, 1, 1, 0, true),
        L::ReLU,
        conv(filters, 1, 1, 0, true),
        L::ReLU,
    ])
}

fn nin(w: &Width, classes: usize, p: f64) -> Vec<L> {
    vec![
        nin_block(w.of(96), 11, 4, 0),
        max_pool(3, 2, 0, false),
        nin_block(w.of(256), 5, 1, 2),
        max_pool(3, 2, 0, false),
        nin_block(w.of(384), 3, 1, 1),
        max_pool(3, 2, 0, false),
        dropout(p),
        // The last block outputs one map per class, averaged into the logits.
        nin_block(classes, 3, 1, 1),
        L::GlobalAvgPool2d,
        L::Flatten,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::build_graph_named;

    fn preset(model: ZooModel, width: f64, batch_norm: bool) -> PresetSpec {
        PresetSpec {
            model,
            classes: None,
            width,
            batch_norm,
            dropout: None,
        }
    }

    fn count(model: ZooModel, batch_norm: bool) -> usize {
        let p = preset(model, 1.0, batch_norm);
        let g = build_graph_named(vec![3, 224, 224], "", &expand(&p, 224, 1000))
            .unwrap_or_else(|e| panic!("{model:?}: {e:?}"));
        assert_eq!(g.output_shape(), &vec![1000], "{model:?}");
        g.trainable_count()
    }

    /// torchvision's `sum(p.numel() for p in model.parameters())` at 224×224×3, 1000 classes.
    #[test]
    fn parameter_counts_equal_torchvision() {
        assert_eq!(count(ZooModel::AlexNet, false), 61_100_840);
        assert_eq!(count(ZooModel::VGG11, false), 132_863_336);
        assert_eq!(count(ZooModel::VGG13, false), 133_047_848);
        assert_eq!(count(ZooModel::VGG16, false), 138_357_544);
        assert_eq!(count(ZooModel::VGG19, false), 143_667_240);
        assert_eq!(count(ZooModel::VGG11, true), 132_868_840);
        assert_eq!(count(ZooModel::VGG16, true), 138_365_992);
        assert_eq!(count(ZooModel::ResNet18, false), 11_689_512);
        assert_eq!(count(ZooModel::ResNet34, false), 21_797_672);
        assert_eq!(count(ZooModel::ResNet50, false), 25_557_032);
        assert_eq!(count(ZooModel::GoogLeNet, false), 6_624_904);
    }

    /// Configurations without a torchvision twin, against the counts of Simonyan &
    /// Zisserman's table 2 (133, 133, 134 million) and the LRN layer having no weights.
    #[test]
    fn vgg_lrn_and_c_counts() {
        assert_eq!(count(ZooModel::VGG11LRN, false), 132_863_336);
        // C = D with three 3×3×512×512 (+256) kernels replaced by 1×1 ones.
        let d = count(ZooModel::VGG16, false);
        let saved = 8 * (256 * 256) + 2 * 8 * (512 * 512);
        assert_eq!(count(ZooModel::VGG16C, false), d - saved);
    }

    #[test]
    fn lenet5_on_mnist_has_61706_parameters() {
        let p = preset(ZooModel::LeNet5, 1.0, false);
        let g = build_graph_named(vec![1, 28, 28], "", &expand(&p, 28, 10)).unwrap();
        assert_eq!(g.trainable_count(), 61_706);
    }

    #[test]
    fn state_dict_names_are_torchvision_keys() {
        let p = preset(ZooModel::ResNet18, 1.0, false);
        let g = build_graph_named(vec![3, 224, 224], "", &expand(&p, 224, 1000)).unwrap();
        let names: Vec<&str> = g.params().map(|p| p.name.as_str()).collect();
        for key in [
            "conv1.weight",
            "bn1.running_var",
            "layer1.0.conv1.weight",
            "layer1.1.bn2.bias",
            "layer2.0.downsample.0.weight",
            "layer2.0.downsample.1.running_mean",
            "layer4.1.conv2.weight",
            "fc.weight",
            "fc.bias",
        ] {
            assert!(names.contains(&key), "{key} missing from {names:?}");
        }
        assert!(!names.iter().any(|n| n.starts_with("layer1.0.downsample")));
        let gp = PresetSpec {
            model: ZooModel::GoogLeNet,
            ..p.clone()
        };
        let g = build_graph_named(vec![3, 224, 224], "", &expand(&gp, 224, 1000)).unwrap();
        let names: Vec<&str> = g.params().map(|p| p.name.as_str()).collect();
        for key in [
            "conv1.conv.weight",
            "conv1.bn.running_mean",
            "inception3a.branch1.conv.weight",
            "inception3a.branch2.0.conv.weight",
            "inception3a.branch2.1.bn.weight",
            "inception5b.branch4.1.conv.weight",
        ] {
            assert!(names.contains(&key), "{key} missing");
        }
        let vp = PresetSpec {
            model: ZooModel::VGG11,
            batch_norm: true,
            ..p
        };
        let g = build_graph_named(vec![3, 224, 224], "", &expand(&vp, 224, 1000)).unwrap();
        let names: Vec<&str> = g.params().map(|p| p.name.as_str()).collect();
        // vgg11_bn: conv at features.0, bn at features.1, the next conv after ReLU + pool.
        for key in [
            "features.0.weight",
            "features.1.running_var",
            "features.4.weight",
            "classifier.6.bias",
        ] {
            assert!(names.contains(&key), "{key} missing");
        }
    }

    /// Every state_dict key of torchvision's model, with its shape, in torchvision's order
    /// (tests/fixtures/torchvision_keys.json, written by tests/python/torchvision_keys.py
    /// from torchvision 0.29): converted torchvision weights load strictly.
    #[test]
    fn names_and_shapes_equal_torchvision_fixtures() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/torchvision_keys.json"
        );
        let text = std::fs::read_to_string(path).expect("the fixture exists");
        let fixtures: std::collections::BTreeMap<String, Vec<(String, Vec<usize>)>> =
            serde_json::from_str(&text).expect("the fixture is JSON");
        assert_eq!(fixtures.len(), 11);
        for (name, keys) in &fixtures {
            let (model, batch_norm) = match name.as_str() {
                "AlexNet" => (ZooModel::AlexNet, false),
                "VGG11" => (ZooModel::VGG11, false),
                "VGG11_BN" => (ZooModel::VGG11, true),
                "VGG13" => (ZooModel::VGG13, false),
                "VGG16" => (ZooModel::VGG16, false),
                "VGG16_BN" => (ZooModel::VGG16, true),
                "VGG19" => (ZooModel::VGG19, false),
                "ResNet18" => (ZooModel::ResNet18, false),
                "ResNet34" => (ZooModel::ResNet34, false),
                "ResNet50" => (ZooModel::ResNet50, false),
                "GoogLeNet" => (ZooModel::GoogLeNet, false),
                other => panic!("unknown fixture {other}"),
            };
            let p = preset(model, 1.0, batch_norm);
            let g = build_graph_named(vec![3, 224, 224], "", &expand(&p, 224, 1000)).unwrap();
            let ours: Vec<(String, Vec<usize>)> = g
                .params()
                .map(|p| (p.name.clone(), p.shape.clone()))
                .collect();
            assert_eq!(&ours, keys, "{name}");
        }
    }

    #[test]
    fn width_scales_hidden_channels_not_classes() {
        let p = preset(ZooModel::ResNet18, 0.25, false);
        let g = build_graph_named(vec![1, 28, 28], "", &expand(&p, 28, 10)).unwrap();
        assert_eq!(g.output_shape(), &vec![10]);
        let fc = g.head().unwrap();
        assert_eq!(fc.name, "fc");
        assert_eq!(fc.params[0].shape, vec![10, 128]);
    }

    #[test]
    fn too_small_inputs_name_the_layer() {
        let p = preset(ZooModel::VGG16, 1.0, false);
        let err = build_graph_named(vec![1, 28, 28], "", &expand(&p, 28, 10)).unwrap_err();
        assert!(err[0].message.contains("features."), "{}", err[0].message);
    }

    #[test]
    fn bad_options_are_refused() {
        let mut p = preset(ZooModel::ResNet18, 0.0, false);
        assert!(check_preset(&p).unwrap_err().contains("width"));
        p.width = 1.0;
        p.batch_norm = true;
        assert!(check_preset(&p).unwrap_err().contains("VGG"));
    }
}
