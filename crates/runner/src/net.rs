//! The `tch` module built from a [`ModelGraph`]: one layer per graph node, evaluated in the
//! graph's order, parameters named as the graph names them (`layers.3.weight`,
//! `layer1.0.conv1.weight`), so checkpoints load into the ONNX export and torchvision
//! weights load into zoo presets.

use std::cell::RefCell;
use std::collections::HashMap;

use ronin_spec::{Activation, InitSpec, ModelGraph, Op, Source};
use tch::nn::init::{FanInOut, NonLinearity, NormalOrUniform};
use tch::nn::{self, Init};
use tch::{Kind, Tensor};

use crate::RunnerError;

enum Layer {
    Conv {
        conv: nn::Conv2D,
        pad: Option<[i64; 4]>,
    },
    MaxPool {
        kernel: [i64; 2],
        stride: [i64; 2],
        padding: [i64; 2],
        extra_pad: Option<[i64; 4]>,
        ceil_mode: bool,
    },
    AvgPool {
        kernel: [i64; 2],
        stride: [i64; 2],
        padding: [i64; 2],
        ceil_mode: bool,
        count_include_pad: bool,
    },
    AdaptiveAvgPool([i64; 2]),
    Flatten,
    Linear(nn::Linear),
    Dropout(f64),
    Dropout2d(f64),
    BatchNorm(nn::BatchNorm),
    ExampleNorm {
        shape: Vec<i64>,
        weight: Option<Tensor>,
        bias: Option<Tensor>,
        eps: f64,
    },
    InstanceNorm {
        weight: Option<Tensor>,
        bias: Option<Tensor>,
        eps: f64,
    },
    GroupNorm {
        groups: i64,
        weight: Option<Tensor>,
        bias: Option<Tensor>,
        eps: f64,
    },
    LocalResponseNorm {
        size: i64,
        alpha: f64,
        beta: f64,
        k: f64,
    },
    Act(Activation),
    Softmax,
    Add,
    Concat,
}

struct Step {
    layer: Layer,
    inputs: Vec<Source>,
    /// A ReLU that may overwrite its input: the input's producer does not keep its output
    /// for the backward pass and nothing else reads it (PyTorch's `ReLU(inplace=True)`).
    in_place: bool,
}

/// Ops whose backward does not read their output, so a ReLU may overwrite it.
fn output_not_saved(op: &Op) -> bool {
    matches!(
        op,
        Op::Conv2d { .. }
            | Op::BatchNorm { .. }
            | Op::Linear { .. }
            | Op::Add
            | Op::Concat
            | Op::GroupNorm { .. }
            | Op::LayerNorm { .. }
            | Op::InstanceNorm2d { .. }
    )
}

/// A network whose layers mirror the graph's nodes.
pub struct Net {
    steps: Vec<Step>,
    output: Source,
    /// Index of the last step that reads each step's output.
    last_use: Vec<Option<usize>>,
    /// Steps before this index are frozen: their batch norms use running statistics.
    frozen_until: usize,
    /// Outputs of the frozen steps by (dataset, example), when feature extraction is on.
    cache: Option<FeatureCache>,
}

type FeatureCache = RefCell<HashMap<(usize, usize), Tensor>>;

fn i2(v: [usize; 2]) -> [i64; 2] {
    [v[0] as i64, v[1] as i64]
}

/// Symmetric padding as (pad_h, pad_w) when top=bottom and left=right, else `None`.
fn symmetric(p: [usize; 4]) -> Option<[i64; 2]> {
    (p[0] == p[2] && p[1] == p[3]).then_some([p[0] as i64, p[1] as i64])
}

/// `constant_pad_nd` order: [left, right, top, bottom].
fn pad_lrtb(p: [usize; 4]) -> [i64; 4] {
    [p[1] as i64, p[3] as i64, p[0] as i64, p[2] as i64]
}

/// Weight and bias initialisers for a layer with these fans (PyTorch's definition:
/// fan_in = in/groups · kh · kw, fan_out = out · kh · kw).
fn inits(init: InitSpec, fan_in: usize, fan_out: usize) -> (Init, Init) {
    let (fi, fo) = (fan_in.max(1) as f64, fan_out.max(1) as f64);
    let zero = Init::Const(0.0);
    match init {
        // kaiming_uniform_(a=√5) gives U(±1/√fan_in); biases U(±1/√fan_in).
        InitSpec::PyTorch => {
            let b = 1.0 / fi.sqrt();
            (
                Init::Uniform { lo: -b, up: b },
                Init::Uniform { lo: -b, up: b },
            )
        }
        InitSpec::KaimingNormal => (
            Init::Kaiming {
                dist: NormalOrUniform::Normal,
                fan: FanInOut::FanOut,
                non_linearity: NonLinearity::ReLU,
            },
            zero,
        ),
        InitSpec::KaimingUniform => {
            let b = (6.0 / fi).sqrt();
            (Init::Uniform { lo: -b, up: b }, zero)
        }
        InitSpec::XavierNormal => (
            Init::Randn {
                mean: 0.0,
                stdev: (2.0 / (fi + fo)).sqrt(),
            },
            zero,
        ),
        InitSpec::XavierUniform => {
            let b = (6.0 / (fi + fo)).sqrt();
            (Init::Uniform { lo: -b, up: b }, zero)
        }
    }
}

/// The variable path of a dotted state_dict prefix (`layer1.0.conv1`).
fn path<'a>(root: &nn::Path<'a>, name: &str) -> nn::Path<'a> {
    let mut segments = name.split('.').filter(|s| !s.is_empty());
    let first = segments.next().unwrap_or("model");
    segments.fold(root.sub(first), |p, seg| p.sub(seg))
}

fn affine(p: &nn::Path, shape: &[usize], on: bool) -> (Option<Tensor>, Option<Tensor>) {
    if !on {
        return (None, None);
    }
    let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    (
        Some(p.var("weight", &dims, Init::Const(1.0))),
        Some(p.var("bias", &dims, Init::Const(0.0))),
    )
}

impl Net {
    /// Creates the layers' variables under `root`, initialised by `init`.
    pub fn new(root: &nn::Path, graph: &ModelGraph, init: InitSpec) -> Result<Net, RunnerError> {
        let mut steps = Vec::with_capacity(graph.nodes.len());
        for node in &graph.nodes {
            let p = path(root, &node.name);
            let layer = match node.op {
                Op::Conv2d {
                    in_channels,
                    out_channels,
                    kernel,
                    stride,
                    padding,
                    dilation,
                    groups,
                    bias,
                } => {
                    let sym = symmetric(padding);
                    let area = kernel[0] * kernel[1];
                    let (ws_init, bs_init) =
                        inits(init, in_channels / groups * area, out_channels * area);
                    let cfg = nn::ConvConfigND::<[i64; 2]> {
                        stride: i2(stride),
                        padding: sym.unwrap_or([0, 0]),
                        dilation: i2(dilation),
                        groups: groups as i64,
                        bias,
                        ws_init,
                        bs_init,
                        ..Default::default()
                    };
                    let conv =
                        nn::conv(&p, in_channels as i64, out_channels as i64, i2(kernel), cfg);
                    Layer::Conv {
                        conv,
                        pad: sym.is_none().then(|| pad_lrtb(padding)),
                    }
                }
                Op::MaxPool2d {
                    kernel,
                    stride,
                    padding,
                    ceil_mode,
                } => {
                    let sym = symmetric(padding);
                    Layer::MaxPool {
                        kernel: i2(kernel),
                        stride: i2(stride),
                        padding: sym.unwrap_or([0, 0]),
                        extra_pad: sym.is_none().then(|| pad_lrtb(padding)),
                        ceil_mode,
                    }
                }
                Op::AvgPool2d {
                    kernel,
                    stride,
                    padding,
                    ceil_mode,
                    count_include_pad,
                } => {
                    let padding = symmetric(padding).ok_or_else(|| RunnerError::Unsupported {
                        what: format!("{}: asymmetric padding {padding:?} in AvgPool2d", node.name),
                    })?;
                    Layer::AvgPool {
                        kernel: i2(kernel),
                        stride: i2(stride),
                        padding,
                        ceil_mode,
                        count_include_pad,
                    }
                }
                Op::AdaptiveAvgPool2d { output } => Layer::AdaptiveAvgPool(i2(output)),
                Op::GlobalAvgPool2d => Layer::AdaptiveAvgPool([1, 1]),
                Op::Flatten => Layer::Flatten,
                Op::Linear {
                    in_features,
                    out_features,
                    bias,
                } => {
                    let (ws_init, bs_init) = inits(init, in_features, out_features);
                    Layer::Linear(nn::linear(
                        &p,
                        in_features as i64,
                        out_features as i64,
                        nn::LinearConfig {
                            bias,
                            ws_init,
                            bs_init: Some(bs_init),
                        },
                    ))
                }
                Op::Dropout { rate } => Layer::Dropout(rate),
                Op::Dropout2d { rate } => Layer::Dropout2d(rate),
                Op::BatchNorm {
                    features,
                    eps,
                    momentum,
                    spatial,
                } => {
                    let cfg = nn::BatchNormConfig {
                        eps,
                        momentum,
                        ..Default::default()
                    };
                    Layer::BatchNorm(if spatial {
                        nn::batch_norm2d(&p, features as i64, cfg)
                    } else {
                        nn::batch_norm1d(&p, features as i64, cfg)
                    })
                }
                Op::LayerNorm {
                    ref shape,
                    eps,
                    affine: on,
                } => {
                    let (weight, bias) = affine(&p, shape, on);
                    Layer::ExampleNorm {
                        shape: shape.iter().map(|&d| d as i64).collect(),
                        weight,
                        bias,
                        eps,
                    }
                }
                Op::InstanceNorm2d {
                    channels,
                    eps,
                    affine: on,
                } => {
                    let (weight, bias) = affine(&p, &[channels], on);
                    Layer::InstanceNorm { weight, bias, eps }
                }
                Op::GroupNorm {
                    groups,
                    channels,
                    eps,
                    affine: on,
                } => {
                    let (weight, bias) = affine(&p, &[channels], on);
                    Layer::GroupNorm {
                        groups: groups as i64,
                        weight,
                        bias,
                        eps,
                    }
                }
                Op::LocalResponseNorm {
                    size,
                    alpha,
                    beta,
                    k,
                } => Layer::LocalResponseNorm {
                    size: size as i64,
                    alpha,
                    beta,
                    k,
                },
                Op::Activation(a) => Layer::Act(a),
                Op::Softmax => Layer::Softmax,
                Op::Add => Layer::Add,
                Op::Concat => Layer::Concat,
            };
            steps.push(Step {
                layer,
                inputs: node.inputs.clone(),
                in_place: false,
            });
        }
        let last_use = graph.last_uses();
        for (i, step) in steps.iter_mut().enumerate() {
            if let (Layer::Act(Activation::Relu), [Source::Node(j)]) =
                (&step.layer, step.inputs.as_slice())
            {
                step.in_place = last_use[*j] == Some(i)
                    && graph.output != Source::Node(*j)
                    && output_not_saved(&graph.nodes[*j].op);
            }
        }
        Ok(Net {
            steps,
            output: graph.output,
            last_use,
            frozen_until: 0,
            cache: None,
        })
    }

    /// Nodes before `index` are frozen: in training mode their batch norms still use
    /// (and do not update) the running statistics, as Keras does for frozen layers.
    pub fn set_frozen_until(&mut self, index: usize) {
        self.frozen_until = index;
    }

    /// # Shapes
    /// `x`: (N, C, H, W) → logits (N, classes).
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor, RunnerError> {
        self.run(x, 0, None, self.steps.len(), train)
    }

    /// Feature extraction: the frozen nodes run once per example (in eval mode, without
    /// gradients) and their output is kept; later epochs run only the nodes after them.
    /// Needs a clean cut after the frozen nodes (checked by the pipeline).
    pub fn enable_feature_cache(&mut self) {
        self.cache = Some(RefCell::new(HashMap::new()));
    }

    /// [`Self::forward_t`] for a batch of known examples (`dataset` identifies the dataset,
    /// `indices` the examples), served from the feature cache when it is on.
    pub fn forward_examples(
        &self,
        x: &Tensor,
        dataset: usize,
        indices: &[usize],
        train: bool,
    ) -> Result<Tensor, RunnerError> {
        let (Some(cache), k) = (&self.cache, self.frozen_until) else {
            return self.forward_t(x, train);
        };
        if k == 0 {
            return self.forward_t(x, train);
        }
        let missing = {
            let map = cache.borrow();
            indices.iter().any(|i| !map.contains_key(&(dataset, *i)))
        };
        if missing {
            let features = tch::no_grad(|| self.run(x, 0, None, k, false))?;
            let mut map = cache.borrow_mut();
            for (row, &i) in indices.iter().enumerate() {
                map.insert((dataset, i), features.f_get(row as i64)?);
            }
        }
        let rows = {
            let map = cache.borrow();
            indices
                .iter()
                .map(|i| {
                    map.get(&(dataset, *i))
                        .map(Tensor::shallow_clone)
                        .ok_or_else(|| RunnerError::Unsupported {
                            what: format!("a feature cache without example {i}"),
                        })
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        let features = Tensor::f_stack(&rows, 0)?;
        self.run(x, k, Some(features), self.steps.len(), train)
    }

    /// Runs steps `start..stop` on `x` (or on `seed` as the output of step `start − 1`) and
    /// returns the model's output, or step `stop − 1`'s when `stop` ends early.
    fn run(
        &self,
        x: &Tensor,
        start: usize,
        seed: Option<Tensor>,
        stop: usize,
        train: bool,
    ) -> Result<Tensor, RunnerError> {
        let mut values: Vec<Option<Tensor>> = (0..self.steps.len()).map(|_| None).collect();
        if let (Some(s), Some(prev)) = (seed, start.checked_sub(1)) {
            values[prev] = Some(s);
        }
        let get = |values: &[Option<Tensor>], s: Source| -> Result<Tensor, RunnerError> {
            match s {
                Source::Input => Ok(x.shallow_clone()),
                Source::Node(j) => values
                    .get(j)
                    .and_then(|v| v.as_ref())
                    .map(Tensor::shallow_clone)
                    .ok_or_else(|| RunnerError::Unsupported {
                        what: format!("a graph whose node {j} is read after it was released"),
                    }),
            }
        };
        for (i, step) in self.steps.iter().enumerate().take(stop).skip(start) {
            let mut inputs = step
                .inputs
                .iter()
                .map(|&s| get(&values, s))
                .collect::<Result<Vec<_>, _>>()?;
            let out = match (step.in_place, inputs.pop()) {
                (true, Some(mut h)) => h.f_relu_()?,
                (_, last) => {
                    inputs.extend(last);
                    apply(&step.layer, inputs, train, train && i >= self.frozen_until)?
                }
            };
            values[i] = Some(out);
            // Release what no later node reads (the output stays).
            for &s in &step.inputs {
                if let Source::Node(j) = s
                    && self.last_use[j] == Some(i)
                    && self.output != s
                {
                    values[j] = None;
                }
            }
        }
        if stop < self.steps.len() {
            get(&values, Source::Node(stop.saturating_sub(1)))
        } else {
            get(&values, self.output)
        }
    }
}

/// One layer on its inputs. `train` switches dropout; `update_stats` batch norm's mode.
fn apply(
    layer: &Layer,
    mut inputs: Vec<Tensor>,
    train: bool,
    update_stats: bool,
) -> Result<Tensor, RunnerError> {
    use tch::nn::ModuleT;
    if let Layer::Concat = layer {
        return Ok(Tensor::f_cat(&inputs, 1)?);
    }
    if let Layer::Add = layer {
        let b = inputs.pop();
        let a = inputs.pop();
        return match (a, b) {
            (Some(a), Some(b)) => Ok(a.f_add(&b)?),
            _ => Err(RunnerError::Unsupported {
                what: "an Add node without two inputs".into(),
            }),
        };
    }
    let h = inputs.pop().ok_or_else(|| RunnerError::Unsupported {
        what: "a layer without an input".into(),
    })?;
    Ok(match layer {
        Layer::Conv { conv, pad } => match pad {
            Some(p) => conv.forward_t(&h.f_constant_pad_nd(p.as_slice())?, train),
            None => conv.forward_t(&h, train),
        },
        Layer::MaxPool {
            kernel,
            stride,
            padding,
            extra_pad,
            ceil_mode,
        } => {
            let h = match extra_pad {
                Some(p) => h.f_pad(p.as_slice(), "constant", Some(f64::NEG_INFINITY))?,
                None => h,
            };
            h.f_max_pool2d(
                kernel.as_slice(),
                stride.as_slice(),
                padding.as_slice(),
                [1, 1].as_slice(),
                *ceil_mode,
            )?
        }
        Layer::AvgPool {
            kernel,
            stride,
            padding,
            ceil_mode,
            count_include_pad,
        } => h.f_avg_pool2d(
            kernel.as_slice(),
            stride.as_slice(),
            padding.as_slice(),
            *ceil_mode,
            *count_include_pad,
            None,
        )?,
        Layer::AdaptiveAvgPool(out) => h.f_adaptive_avg_pool2d(out.as_slice())?,
        Layer::Flatten => h.f_flatten(1, -1)?,
        Layer::Linear(l) => l.forward_t(&h, train),
        Layer::Dropout(rate) => h.f_dropout(*rate, train)?,
        Layer::Dropout2d(rate) => h.f_feature_dropout(*rate, train)?,
        Layer::BatchNorm(bn) => bn.forward_t(&h, update_stats),
        Layer::ExampleNorm {
            shape,
            weight,
            bias,
            eps,
        } => h.f_layer_norm(shape.as_slice(), weight.as_ref(), bias.as_ref(), *eps, true)?,
        Layer::InstanceNorm { weight, bias, eps } => h.f_instance_norm(
            weight.as_ref(),
            bias.as_ref(),
            None::<&Tensor>,
            None::<&Tensor>,
            true,
            0.1,
            *eps,
            true,
        )?,
        Layer::GroupNorm {
            groups,
            weight,
            bias,
            eps,
        } => h.f_group_norm(*groups, weight.as_ref(), bias.as_ref(), *eps, true)?,
        Layer::LocalResponseNorm {
            size,
            alpha,
            beta,
            k,
        } => local_response_norm(&h, *size, *alpha, *beta, *k)?,
        Layer::Act(Activation::Relu) => h.f_relu()?,
        Layer::Act(Activation::LeakyRelu { negative_slope }) => {
            // max(x, a·x) equals LeakyReLU for 0 ≤ a < 1.
            let scaled = h.f_mul_scalar(*negative_slope)?;
            h.f_maximum(&scaled)?
        }
        Layer::Act(Activation::Elu { alpha }) => {
            // max(0, x) + α·(exp(min(0, x)) − 1)
            let neg = h.f_clamp_max(0.0)?.f_exp()?.f_sub_scalar(1.0)?;
            h.f_relu()?.f_add(&neg.f_mul_scalar(*alpha)?)?
        }
        Layer::Act(Activation::Gelu) => h.f_gelu("none")?,
        Layer::Act(Activation::Silu) => h.f_silu()?,
        Layer::Act(Activation::Sigmoid) => h.f_sigmoid()?,
        Layer::Act(Activation::Tanh) => h.f_tanh()?,
        Layer::Softmax => h.f_softmax(-1, Kind::Float)?,
        Layer::Add | Layer::Concat => {
            return Err(RunnerError::Unsupported {
                what: "an Add or Concat node with one input".into(),
            });
        }
    })
}

/// PyTorch's `F.local_response_norm`: x / (k + α/n · Σ_{n neighbours} x²)^β over channels.
fn local_response_norm(
    x: &Tensor,
    size: i64,
    alpha: f64,
    beta: f64,
    k: f64,
) -> Result<Tensor, RunnerError> {
    // (N, 1, C, H, W) so that a 3-D average pool runs along the channels.
    let sq = x.f_square()?.f_unsqueeze(1)?;
    let padded = sq.f_constant_pad_nd([0, 0, 0, 0, size / 2, (size - 1) / 2].as_slice())?;
    let avg = padded
        .f_avg_pool3d(
            [size, 1, 1].as_slice(),
            [1, 1, 1].as_slice(),
            [0, 0, 0].as_slice(),
            false,
            true,
            None,
        )?
        .f_squeeze_dim(1)?;
    let div = avg
        .f_mul_scalar(alpha)?
        .f_add_scalar(k)?
        .f_pow_tensor_scalar(beta)?;
    Ok(x.f_div(&div)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ronin_spec::layer::{LayerSpec as L, Padding, Size2};

    fn graph() -> ModelGraph {
        let layers = [
            L::Conv2d {
                filters: 64,
                kernel_size: Size2::Square(3),
                stride: Size2::Square(1),
                padding: Padding::Same,
                dilation: Size2::Square(1),
                groups: 1,
                bias: true,
            },
            L::Flatten,
            L::Linear {
                units: 256,
                bias: true,
            },
        ];
        ronin_spec::graph::build_graph(vec![16, 8, 8], &layers).expect("valid")
    }

    /// (max |x|, standard deviation) of a variable.
    fn stats(vs: &nn::VarStore, name: &str) -> (f64, f64) {
        let t = &vs.variables()[name];
        let max = t.abs().max().double_value(&[]);
        let std = t.std(true).double_value(&[]);
        (max, std)
    }

    /// The default is PyTorch's: U(±1/√fan_in) for weights and biases (std bound/√3).
    #[test]
    fn default_init_is_pytorchs() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        Net::new(&vs.root(), &graph(), InitSpec::PyTorch).expect("builds");
        for (name, fan_in) in [
            ("layers.0.weight", 16.0 * 9.0),
            ("layers.0.bias", 16.0 * 9.0),
            ("layers.2.weight", 64.0 * 64.0),
            ("layers.2.bias", 64.0 * 64.0),
        ] {
            let bound = 1.0 / f64::sqrt(fan_in);
            let (max, std) = stats(&vs, name);
            assert!(
                max <= bound && max > 0.9 * bound,
                "{name}: max {max}, bound {bound}"
            );
            let expected = bound / 3f64.sqrt();
            assert!(
                (std / expected - 1.0).abs() < 0.15,
                "{name}: std {std} vs {expected}"
            );
        }
    }

    #[test]
    fn kaiming_and_xavier_have_their_spreads_and_zero_biases() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        Net::new(&vs.root(), &graph(), InitSpec::KaimingNormal).expect("builds");
        // N(0, 2/fan_out), fan_out = 64·3·3.
        let (_, std) = stats(&vs, "layers.0.weight");
        let expected = (2.0 / (64.0 * 9.0f64)).sqrt();
        assert!(
            (std / expected - 1.0).abs() < 0.05,
            "kaiming std {std} vs {expected}"
        );
        assert_eq!(stats(&vs, "layers.0.bias").0, 0.0);

        let vs = nn::VarStore::new(tch::Device::Cpu);
        Net::new(&vs.root(), &graph(), InitSpec::XavierUniform).expect("builds");
        // U(±√(6/(fan_in + fan_out))) for the Linear 4096 → 256.
        let bound = (6.0 / (4096.0 + 256.0f64)).sqrt();
        let (max, _) = stats(&vs, "layers.2.weight");
        assert!(
            max <= bound && max > 0.95 * bound,
            "xavier max {max} vs {bound}"
        );
        assert_eq!(stats(&vs, "layers.2.bias").0, 0.0);
    }
}
