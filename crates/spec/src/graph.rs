//! The model as a graph of resolved nodes, with every output shape and parameter known.
//!
//! The same graph builds the `tch` module (runner) and the ONNX graph (export), so the
//! two cannot drift. Nodes are in topological order; each names the nodes it reads, so
//! residual connections and parallel branches are plain edges.
//!
//! Parameter names follow PyTorch's state_dict keys. A pipeline's `layers` are named
//! `layers.<index>`; a block names its children `<block>.<index>`, or by `Named`, so
//! a zoo preset's names are torchvision's (`layer1.0.conv1.weight`).

use serde::Serialize;

use crate::layer::{Activation, LayerSpec, Op, Padding, Size2};
use crate::schema::FreezeSpec;

/// A tensor shape without the batch axis: `[C, H, W]` or `[F]`.
pub type Shape = Vec<usize>;

/// A parameter or buffer of a node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Param {
    /// Full state_dict key, e.g. `layers.0.weight`.
    pub name: String,
    pub shape: Vec<usize>,
    /// Trainable parameter (`true`) or buffer such as BatchNorm's running statistics.
    pub trainable: bool,
}

impl Param {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Where a node's input comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Source {
    /// The model's input.
    Input,
    /// The output of the node at this index.
    Node(usize),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    /// Prefix of the node's parameter names, e.g. `layers.3` or `layer1.0.conv1`.
    pub name: String,
    pub op: Op,
    /// The tensors it reads, all earlier in the graph; two for `Add`, one per branch for
    /// `Concat`, one otherwise.
    pub inputs: Vec<Source>,
    /// Shape of its first input.
    pub input_shape: Shape,
    pub output_shape: Shape,
    pub params: Vec<Param>,
}

impl Node {
    /// Number of trainable scalars.
    pub fn trainable_count(&self) -> usize {
        self.params
            .iter()
            .filter(|p| p.trainable)
            .map(Param::numel)
            .sum()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelGraph {
    pub input_shape: Shape,
    pub nodes: Vec<Node>,
    /// The tensor the model returns.
    pub output: Source,
}

impl ModelGraph {
    pub fn output_shape(&self) -> &Shape {
        self.shape_of(self.output)
    }

    pub fn shape_of(&self, source: Source) -> &Shape {
        match source {
            Source::Input => &self.input_shape,
            Source::Node(i) => &self.nodes[i].output_shape,
        }
    }

    pub fn trainable_count(&self) -> usize {
        self.nodes.iter().map(Node::trainable_count).sum()
    }

    /// Every parameter and buffer, in order.
    pub fn params(&self) -> impl Iterator<Item = &Param> {
        self.nodes.iter().flat_map(|n| n.params.iter())
    }

    /// Bytes of fp32 weights and buffers.
    pub fn weight_bytes(&self) -> usize {
        self.params().map(|p| p.numel() * 4).sum()
    }

    /// The classifier head: the last node holding trainable parameters (`fc`,
    /// `classifier.6`, `layers.9`).
    pub fn head(&self) -> Option<&Node> {
        self.nodes.iter().rev().find(|n| n.trainable_count() > 0)
    }

    /// Index of the first node that trains under `freeze`: every node before it is
    /// frozen (0 when nothing is).
    pub fn frozen_until(&self, freeze: Option<&FreezeSpec>) -> Result<usize, String> {
        match freeze {
            None => Ok(0),
            Some(FreezeSpec::AllButHead) => {
                let head = self
                    .nodes
                    .iter()
                    .rposition(|n| n.trainable_count() > 0)
                    .ok_or("the model has no layer with weights")?;
                Ok(head)
            }
            Some(FreezeSpec::Until(name)) => {
                let under = format!("{name}.");
                self.nodes
                    .iter()
                    .position(|n| n.name == *name || n.name.starts_with(&under))
                    .ok_or_else(|| {
                        let tops: Vec<&str> = self
                            .nodes
                            .iter()
                            .filter(|n| n.trainable_count() > 0)
                            .map(|n| n.name.as_str())
                            .collect();
                        format!(
                            "no layer is named {name:?}; layers with weights: {}",
                            tops.join(", ")
                        )
                    })
            }
        }
    }

    /// Checks that nodes `k..` read the frozen nodes `..k` only through node `k − 1`'s
    /// output (and not the input), so that output can stand in for them.
    pub fn cut_after(&self, k: usize) -> Result<(), String> {
        if k == 0 {
            return Err("nothing is frozen".into());
        }
        for n in &self.nodes[k..] {
            for s in &n.inputs {
                match s {
                    Source::Node(j) if *j + 1 >= k => {}
                    _ => {
                        return Err(format!(
                            "{} reads {} from inside the frozen layers; freeze up to a layer that starts a plain sequence",
                            n.name,
                            match s {
                                Source::Input => "the model input".to_owned(),
                                Source::Node(j) => self.nodes[*j].name.clone(),
                            }
                        ));
                    }
                }
            }
        }
        if matches!(self.output, Source::Node(j) if j + 1 < k) || self.output == Source::Input {
            return Err("the model's output is inside the frozen layers".into());
        }
        Ok(())
    }

    /// For each node, the index of the last node that reads its output (`None` when only
    /// the model's output does), so an executor can drop activations early.
    pub fn last_uses(&self) -> Vec<Option<usize>> {
        let mut last = vec![None; self.nodes.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            for s in &n.inputs {
                if let Source::Node(j) = s {
                    last[*j] = Some(i);
                }
            }
        }
        last
    }

    /// True when every node reads the one before it (or the input): a plain sequence.
    pub fn is_sequential(&self) -> bool {
        self.nodes.iter().enumerate().all(|(i, n)| {
            n.inputs
                == [if i == 0 {
                    Source::Input
                } else {
                    Source::Node(i - 1)
                }]
        })
    }
}

/// A layer whose input it cannot take, found while inferring shapes.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapeError {
    /// Index of the top-level layer (or preset) at fault.
    pub layer: usize,
    pub message: String,
}

/// Output size of a convolution or pooling along one axis, as PyTorch computes it.
///
/// `⌊(n + pad_total − dilation·(k − 1) − 1) / stride⌋ + 1`, or `None` when the
/// kernel does not fit.
pub fn conv_out(
    n: usize,
    k: usize,
    stride: usize,
    pad_total: usize,
    dilation: usize,
) -> Option<usize> {
    let span = dilation.checked_mul(k.checked_sub(1)?)?.checked_add(1)?;
    n.checked_add(pad_total)?
        .checked_sub(span)
        .map(|r| r / stride + 1)
}

/// Pooling output size along one axis with PyTorch's `ceil_mode`: rounded up, except that
/// a last window starting inside the right padding is dropped.
pub fn pool_out(n: usize, k: usize, stride: usize, pad: usize, ceil_mode: bool) -> Option<usize> {
    if !ceil_mode {
        return conv_out(n, k, stride, 2 * pad, 1);
    }
    let r = n.checked_add(2 * pad)?.checked_sub(k)?;
    let mut out = r.div_ceil(stride) + 1;
    if (out - 1) * stride >= n + pad {
        out -= 1;
    }
    Some(out)
}

fn resolve_padding(
    padding: Padding,
    kernel: [usize; 2],
    dilation: [usize; 2],
    stride: [usize; 2],
) -> Result<[usize; 4], String> {
    match padding {
        Padding::Valid => Ok([0; 4]),
        Padding::Explicit(p) => {
            let [h, w] = p.hw();
            Ok([h, w, h, w])
        }
        Padding::Same => {
            if stride != [1, 1] {
                return Err(format!(
                    "padding Same needs stride 1, found stride {stride:?}; give Explicit padding instead"
                ));
            }
            let total = |d: usize, k: usize| {
                d.checked_mul(k - 1)
                    .filter(|t| *t <= MAX_ELEMENTS)
                    .ok_or_else(|| {
                        format!("dilation {d} × (kernel_size {k} − 1) is too large to pad")
                    })
            };
            let (th, tw) = (
                total(dilation[0], kernel[0])?,
                total(dilation[1], kernel[1])?,
            );
            Ok([th / 2, tw / 2, th - th / 2, tw - tw / 2])
        }
    }
}

fn positive(name: &str, v: [usize; 2]) -> Result<[usize; 2], String> {
    if v.contains(&0) {
        Err(format!("{name} must be at least 1, found {v:?}"))
    } else {
        Ok(v)
    }
}

fn spatial(shape: &Shape, what: &str) -> Result<(usize, usize, usize), String> {
    match shape.as_slice() {
        [c, h, w] => Ok((*c, *h, *w)),
        other => Err(format!(
            "{what} needs an image-shaped input (C, H, W), found {other:?}; remove the Flatten before it or move it earlier"
        )),
    }
}

/// Kernel, stride, padding and output shape of a pooling layer.
type PoolDims = ([usize; 2], [usize; 2], [usize; 4], Shape);

fn pool(
    what: &str,
    input: &Shape,
    kernel_size: Size2,
    stride: Option<Size2>,
    padding: Padding,
    ceil_mode: bool,
) -> Result<PoolDims, String> {
    let (c, h, w) = spatial(input, what)?;
    let kernel = positive("kernel_size", kernel_size.hw())?;
    let stride = positive("stride", stride.map_or(kernel, Size2::hw))?;
    let pad = resolve_padding(
        padding,
        kernel,
        [1, 1],
        if padding == Padding::Same {
            [1, 1]
        } else {
            stride
        },
    )?;
    if pad[0] * 2 > kernel[0] || pad[1] * 2 > kernel[1] {
        return Err(format!(
            "padding {pad:?} must be at most half of kernel_size {kernel:?}"
        ));
    }
    if ceil_mode && (pad[0] != pad[2] || pad[1] != pad[3]) {
        return Err("ceil_mode needs the same padding on both sides; give Explicit padding".into());
    }
    let (oh, ow) = if ceil_mode {
        (
            pool_out(h, kernel[0], stride[0], pad[0], true),
            pool_out(w, kernel[1], stride[1], pad[1], true),
        )
    } else {
        (
            conv_out(h, kernel[0], stride[0], pad[0] + pad[2], 1),
            conv_out(w, kernel[1], stride[1], pad[1] + pad[3], 1),
        )
    };
    match (oh, ow) {
        (Some(oh), Some(ow)) => Ok((kernel, stride, pad, vec![c, oh, ow])),
        _ => Err(format!(
            "kernel {kernel:?} does not fit the input {h}×{w}; use a smaller kernel or remove a pooling layer"
        )),
    }
}

/// Infers every node's shape and parameters for `layers`, named `<root>.<index>`
/// (or by `Named`; an empty root names the top-level layers by their index or name).
///
/// Stops at the first layer that fails: shapes after it are unknown.
pub fn build_graph_named(
    input_shape: Shape,
    root: &str,
    layers: &[LayerSpec],
) -> Result<ModelGraph, Vec<ShapeError>> {
    let mut b = Builder { nodes: Vec::new() };
    let mut x = (Source::Input, input_shape.clone());
    for (i, layer) in layers.iter().enumerate() {
        let (name, inner) = child(root, i, layer);
        // A pipeline's diagnostics name its top-level layers; a preset's name none.
        match b.layer(&name, inner, x.clone(), root.is_empty()) {
            Ok(out) => x = out,
            Err(message) => return Err(vec![ShapeError { layer: i, message }]),
        }
    }
    Ok(ModelGraph {
        input_shape,
        nodes: b.nodes,
        output: x.0,
    })
}

/// [`build_graph_named`] with the pipeline's naming: `layers.<index>`.
pub fn build_graph(
    input_shape: Shape,
    layers: &[LayerSpec],
) -> Result<ModelGraph, Vec<ShapeError>> {
    build_graph_named(input_shape, "layers", layers)
}

fn join(prefix: &str, segment: &str) -> String {
    if prefix.is_empty() {
        segment.to_owned()
    } else {
        format!("{prefix}.{segment}")
    }
}

/// The name of child `index` of block `prefix`, and the layer without its `Named` wrapper.
fn child<'a>(prefix: &str, index: usize, layer: &'a LayerSpec) -> (String, &'a LayerSpec) {
    named_or(prefix, &index.to_string(), layer)
}

fn named_or<'a>(prefix: &str, default: &str, layer: &'a LayerSpec) -> (String, &'a LayerSpec) {
    match layer {
        LayerSpec::Named(name, inner) => {
            let (_, inner) = named_or("", "", inner);
            (join(prefix, name), inner)
        }
        other => (join(prefix, default), other),
    }
}

struct Builder {
    nodes: Vec<Node>,
}

type Value = (Source, Shape);

impl Builder {
    fn push(
        &mut self,
        name: String,
        op: Op,
        inputs: Vec<Source>,
        input_shape: Shape,
        out: Shape,
        params: Vec<Param>,
    ) -> Value {
        self.nodes.push(Node {
            name,
            op,
            inputs,
            input_shape,
            output_shape: out.clone(),
            params,
        });
        (Source::Node(self.nodes.len() - 1), out)
    }

    fn sequence(
        &mut self,
        prefix: &str,
        layers: &[LayerSpec],
        mut x: Value,
    ) -> Result<Value, String> {
        for (i, layer) in layers.iter().enumerate() {
            let (name, inner) = child(prefix, i, layer);
            x = self.layer(&name, inner, x, true)?;
        }
        Ok(x)
    }

    /// Adds `layer` named `name`, reading `x`; errors name the nested layer at fault.
    /// Leaf errors start with the layer's name when `named_errors` (nested layers, presets).
    fn layer(
        &mut self,
        name: &str,
        layer: &LayerSpec,
        x: Value,
        named_errors: bool,
    ) -> Result<Value, String> {
        match layer {
            LayerSpec::Named(_, _) => {
                let (_, inner) = named_or("", "", layer);
                self.layer(name, inner, x, named_errors)
            }
            LayerSpec::Identity => Ok(x),
            LayerSpec::Sequential(layers) => self.sequence(name, layers, x),
            LayerSpec::Residual {
                layers,
                shortcut,
                activation,
            } => {
                let body = self.sequence(name, layers, x.clone())?;
                let short = match shortcut {
                    None => x,
                    Some(s) => {
                        let (sname, inner) = named_or(name, "shortcut", s);
                        self.layer(&sname, inner, x, true)?
                    }
                };
                if body.1 != short.1 {
                    return Err(format!(
                        "{name}: Residual adds the body's output {:?} to the shortcut's {:?}; give a shortcut (e.g. a 1×1 Conv2d with the body's stride and filters) that matches",
                        body.1, short.1
                    ));
                }
                let shape = body.1.clone();
                let sum = self.push(
                    name.to_owned(),
                    Op::Add,
                    vec![body.0, short.0],
                    shape.clone(),
                    shape,
                    Vec::new(),
                );
                match activation {
                    None => Ok(sum),
                    Some(a) => {
                        let (aname, inner) = named_or(name, "activation", a);
                        self.layer(&aname, inner, sum, true)
                    }
                }
            }
            LayerSpec::Parallel { branches } => {
                if branches.is_empty() {
                    return Err(format!("{name}: Parallel needs at least one branch"));
                }
                spatial(&x.1, "Parallel").map_err(|e| format!("{name}: {e}"))?;
                let mut outs = Vec::with_capacity(branches.len());
                for (i, branch) in branches.iter().enumerate() {
                    let (bname, inner) = child(name, i, branch);
                    outs.push(self.layer(&bname, inner, x.clone(), true)?);
                }
                let first = &outs[0].1;
                let (mut channels, h, w) =
                    spatial(first, "a Parallel branch").map_err(|e| format!("{name}: {e}"))?;
                for (i, (_, shape)) in outs.iter().enumerate().skip(1) {
                    match shape.as_slice() {
                        [c, bh, bw] if (*bh, *bw) == (h, w) => channels += c,
                        other => {
                            return Err(format!(
                                "{name}: branch {i} outputs {other:?} but branch 0 outputs {first:?}; concatenating on channels needs the same height and width"
                            ));
                        }
                    }
                }
                let inputs = outs.iter().map(|o| o.0).collect();
                Ok(self.push(
                    name.to_owned(),
                    Op::Concat,
                    inputs,
                    first.clone(),
                    vec![channels, h, w],
                    Vec::new(),
                ))
            }
            leaf => {
                let resolved = resolve(name, leaf, &x.1)
                    .and_then(within_limits)
                    .map_err(|e| {
                        if named_errors {
                            format!("{name}: {e}")
                        } else {
                            e
                        }
                    })?;
                let (op, out, params) = resolved;
                Ok(self.push(name.to_owned(), op, vec![x.0], x.1, out, params))
            }
        }
    }
}

/// The most elements one activation or parameter tensor may have (2^40, 4 TiB of fp32):
/// beyond it no machine holds the model, and sizes near `usize::MAX` would overflow.
pub const MAX_ELEMENTS: usize = 1 << 40;

/// Number of elements of a shape, `None` past [`MAX_ELEMENTS`].
fn elements(shape: &[usize]) -> Option<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|n| *n <= MAX_ELEMENTS)
}

/// Refuses a resolved layer whose output or parameters are too large to exist.
fn within_limits(resolved: (Op, Shape, Vec<Param>)) -> Result<(Op, Shape, Vec<Param>), String> {
    let (_, out, params) = &resolved;
    if elements(out).is_none() {
        return Err(format!(
            "its output {out:?} has more than {MAX_ELEMENTS} elements per example"
        ));
    }
    if let Some(p) = params.iter().find(|p| elements(&p.shape).is_none()) {
        return Err(format!(
            "parameter {} of shape {:?} has more than {MAX_ELEMENTS} elements",
            p.name, p.shape
        ));
    }
    Ok(resolved)
}

fn param(prefix: &str, name: &str, shape: Vec<usize>, trainable: bool) -> Param {
    Param {
        name: format!("{prefix}.{name}"),
        shape,
        trainable,
    }
}

fn affine(prefix: &str, shape: Vec<usize>, on: bool) -> Vec<Param> {
    if on {
        vec![
            param(prefix, "weight", shape.clone(), true),
            param(prefix, "bias", shape, true),
        ]
    } else {
        Vec::new()
    }
}

fn check_eps(what: &str, eps: f64) -> Result<(), String> {
    if eps > 0.0 {
        Ok(())
    } else {
        Err(format!("{what} needs eps > 0, found {eps}"))
    }
}

fn check_rate(rate: f64) -> Result<(), String> {
    if (0.0..1.0).contains(&rate) {
        Ok(())
    } else {
        Err(format!("rate must be in [0, 1), found {rate}"))
    }
}

fn resolve(
    prefix: &str,
    layer: &LayerSpec,
    input: &Shape,
) -> Result<(Op, Shape, Vec<Param>), String> {
    let same = |op: Op| Ok((op, input.clone(), Vec::new()));
    match *layer {
        LayerSpec::Conv2d {
            filters,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
        } => {
            let (c, h, w) = spatial(input, "Conv2d")?;
            if filters == 0 {
                return Err("filters must be at least 1".into());
            }
            let kernel = positive("kernel_size", kernel_size.hw())?;
            let stride = positive("stride", stride.hw())?;
            let dilation = positive("dilation", dilation.hw())?;
            if groups == 0 || c % groups != 0 || filters % groups != 0 {
                return Err(format!(
                    "groups {groups} must divide both the input channels ({c}) and filters ({filters})"
                ));
            }
            let pad = resolve_padding(padding, kernel, dilation, stride)?;
            let oh = conv_out(h, kernel[0], stride[0], pad[0] + pad[2], dilation[0]);
            let ow = conv_out(w, kernel[1], stride[1], pad[1] + pad[3], dilation[1]);
            let (Some(oh), Some(ow)) = (oh, ow) else {
                return Err(format!(
                    "kernel {kernel:?} (dilation {dilation:?}) does not fit the input {h}×{w}; add padding or use a smaller kernel"
                ));
            };
            let mut params = vec![param(
                prefix,
                "weight",
                vec![filters, c / groups, kernel[0], kernel[1]],
                true,
            )];
            if bias {
                params.push(param(prefix, "bias", vec![filters], true));
            }
            let op = Op::Conv2d {
                in_channels: c,
                out_channels: filters,
                kernel,
                stride,
                padding: pad,
                dilation,
                groups,
                bias,
            };
            Ok((op, vec![filters, oh, ow], params))
        }
        LayerSpec::MaxPool2d {
            kernel_size,
            stride,
            padding,
            ceil_mode,
        } => {
            let (kernel, stride, padding, out) =
                pool("MaxPool2d", input, kernel_size, stride, padding, ceil_mode)?;
            let op = Op::MaxPool2d {
                kernel,
                stride,
                padding,
                ceil_mode,
            };
            Ok((op, out, Vec::new()))
        }
        LayerSpec::AvgPool2d {
            kernel_size,
            stride,
            padding,
            ceil_mode,
            count_include_pad,
        } => {
            let (kernel, stride, padding, out) =
                pool("AvgPool2d", input, kernel_size, stride, padding, ceil_mode)?;
            if padding[0] != padding[2] || padding[1] != padding[3] {
                return Err(format!(
                    "AvgPool2d needs the same padding on both sides, found {padding:?}; give Explicit padding"
                ));
            }
            let op = Op::AvgPool2d {
                kernel,
                stride,
                padding,
                ceil_mode,
                count_include_pad,
            };
            Ok((op, out, Vec::new()))
        }
        LayerSpec::AdaptiveAvgPool2d { output_size } => {
            let (c, _, _) = spatial(input, "AdaptiveAvgPool2d")?;
            let output = positive("output_size", output_size.hw())?;
            Ok((
                Op::AdaptiveAvgPool2d { output },
                vec![c, output[0], output[1]],
                Vec::new(),
            ))
        }
        LayerSpec::GlobalAvgPool2d => {
            let (c, _, _) = spatial(input, "GlobalAvgPool2d")?;
            Ok((Op::GlobalAvgPool2d, vec![c, 1, 1], Vec::new()))
        }
        LayerSpec::Flatten => {
            let features = elements(input).ok_or_else(|| {
                format!("flattening {input:?} gives more than {MAX_ELEMENTS} features")
            })?;
            Ok((Op::Flatten, vec![features], Vec::new()))
        }
        LayerSpec::Linear { units, bias } => {
            let [features] = input.as_slice() else {
                return Err(format!(
                    "Linear needs a flat input (features), found {input:?}; add Flatten before it"
                ));
            };
            if units == 0 {
                return Err("units must be at least 1".into());
            }
            let mut params = vec![param(prefix, "weight", vec![units, *features], true)];
            if bias {
                params.push(param(prefix, "bias", vec![units], true));
            }
            Ok((
                Op::Linear {
                    in_features: *features,
                    out_features: units,
                    bias,
                },
                vec![units],
                params,
            ))
        }
        LayerSpec::Dropout { rate } => {
            check_rate(rate)?;
            same(Op::Dropout { rate })
        }
        LayerSpec::Dropout2d { rate } => {
            check_rate(rate)?;
            spatial(input, "Dropout2d")?;
            same(Op::Dropout2d { rate })
        }
        LayerSpec::BatchNorm { eps, momentum } => {
            let (features, spatial) = match input.as_slice() {
                [c, _, _] => (*c, true),
                [f] => (*f, false),
                other => return Err(format!("BatchNorm needs (C, H, W) or (F), found {other:?}")),
            };
            if eps <= 0.0 || !(0.0..=1.0).contains(&momentum) {
                return Err(format!(
                    "BatchNorm needs eps > 0 and momentum in [0, 1], found eps {eps}, momentum {momentum}"
                ));
            }
            let mut params = affine(prefix, vec![features], true);
            params.push(param(prefix, "running_mean", vec![features], false));
            params.push(param(prefix, "running_var", vec![features], false));
            Ok((
                Op::BatchNorm {
                    features,
                    eps,
                    momentum,
                    spatial,
                },
                input.clone(),
                params,
            ))
        }
        LayerSpec::LayerNorm {
            eps,
            elementwise_affine,
        } => {
            check_eps("LayerNorm", eps)?;
            let op = Op::LayerNorm {
                shape: input.clone(),
                eps,
                affine: elementwise_affine,
            };
            Ok((
                op,
                input.clone(),
                affine(prefix, input.clone(), elementwise_affine),
            ))
        }
        LayerSpec::InstanceNorm2d { eps, affine: on } => {
            check_eps("InstanceNorm2d", eps)?;
            let (channels, _, _) = spatial(input, "InstanceNorm2d")?;
            let op = Op::InstanceNorm2d {
                channels,
                eps,
                affine: on,
            };
            Ok((op, input.clone(), affine(prefix, vec![channels], on)))
        }
        LayerSpec::GroupNorm {
            groups,
            eps,
            affine: on,
        } => {
            check_eps("GroupNorm", eps)?;
            let (channels, _, _) = spatial(input, "GroupNorm")?;
            if groups == 0 || channels % groups != 0 {
                return Err(format!(
                    "groups {groups} must divide the input channels ({channels})"
                ));
            }
            let op = Op::GroupNorm {
                groups,
                channels,
                eps,
                affine: on,
            };
            Ok((op, input.clone(), affine(prefix, vec![channels], on)))
        }
        LayerSpec::LocalResponseNorm {
            size,
            alpha,
            beta,
            k,
        } => {
            spatial(input, "LocalResponseNorm")?;
            if size == 0
                || k.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
                || !alpha.is_finite()
                || !beta.is_finite()
            {
                return Err(format!(
                    "LocalResponseNorm needs size ≥ 1, k > 0 and finite alpha, beta; found size {size}, alpha {alpha}, beta {beta}, k {k}"
                ));
            }
            same(Op::LocalResponseNorm {
                size,
                alpha,
                beta,
                k,
            })
        }
        LayerSpec::ReLU => same(Op::Activation(Activation::Relu)),
        LayerSpec::LeakyReLU { negative_slope } => {
            same(Op::Activation(Activation::LeakyRelu { negative_slope }))
        }
        LayerSpec::ELU { alpha } => same(Op::Activation(Activation::Elu { alpha })),
        LayerSpec::GELU => same(Op::Activation(Activation::Gelu)),
        LayerSpec::SiLU => same(Op::Activation(Activation::Silu)),
        LayerSpec::Sigmoid => same(Op::Activation(Activation::Sigmoid)),
        LayerSpec::Tanh => same(Op::Activation(Activation::Tanh)),
        LayerSpec::Softmax => same(Op::Softmax),
        LayerSpec::Identity
        | LayerSpec::Sequential(_)
        | LayerSpec::Named(..)
        | LayerSpec::Residual { .. }
        | LayerSpec::Parallel { .. } => Err(format!("{} is a block, not a layer", layer.kind())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::LayerSpec as L;

    fn conv(filters: usize, k: usize, padding: Padding) -> L {
        L::Conv2d {
            filters,
            kernel_size: Size2::Square(k),
            stride: Size2::Square(1),
            padding,
            dilation: Size2::Square(1),
            groups: 1,
            bias: true,
        }
    }
    fn pool2() -> L {
        L::MaxPool2d {
            kernel_size: Size2::Square(2),
            stride: None,
            padding: Padding::Valid,
            ceil_mode: false,
        }
    }

    // Test vectors from the course (shared/course, chapter 5 and the slides).
    #[test]
    fn conv_same_on_rgb_has_896_params() {
        let g = build_graph(vec![3, 28, 28], &[conv(32, 3, Padding::Same)]).unwrap();
        assert_eq!(g.nodes[0].output_shape, vec![32, 28, 28]);
        assert_eq!(g.trainable_count(), 896);
    }

    #[test]
    fn course_mlp_head_counts() {
        let layers = [
            conv(32, 3, Padding::Same),
            pool2(),
            L::Flatten,
            L::Linear {
                units: 128,
                bias: true,
            },
            L::Linear {
                units: 10,
                bias: true,
            },
        ];
        let g = build_graph(vec![1, 28, 28], &layers).unwrap();
        let counts: Vec<_> = g.nodes.iter().map(Node::trainable_count).collect();
        assert_eq!(counts, vec![320, 0, 0, 802_944, 1_290]);
        assert_eq!(g.nodes[2].output_shape, vec![6_272]);
        assert_eq!(g.trainable_count(), 804_554);
    }

    #[test]
    fn imagenet_sized_flatten_and_dense() {
        let layers = [
            conv(32, 3, Padding::Explicit(Size2::Square(1))),
            pool2(),
            conv(64, 3, Padding::Explicit(Size2::Square(1))),
            pool2(),
            L::Flatten,
        ];
        let g = build_graph(vec![3, 224, 224], &layers).unwrap();
        assert_eq!(g.output_shape(), &vec![200_704]);
        let dense = build_graph(
            vec![3, 224, 224],
            &[
                L::Flatten,
                L::Linear {
                    units: 512,
                    bias: true,
                },
            ],
        )
        .unwrap();
        assert_eq!(dense.trainable_count(), 77_070_848);
    }

    #[test]
    fn valid_conv_shrinks() {
        let g = build_graph(vec![3, 224, 224], &[conv(64, 3, Padding::Valid)]).unwrap();
        assert_eq!(g.output_shape(), &vec![64, 222, 222]);
    }

    #[test]
    fn impossible_shape_names_the_layer() {
        let layers = [pool2(), pool2(), pool2(), conv(8, 5, Padding::Valid)];
        let err = build_graph(vec![1, 8, 8], &layers).unwrap_err();
        assert_eq!(err[0].layer, 3);
        assert!(
            err[0].message.contains("does not fit the input 1×1"),
            "{}",
            err[0].message
        );
    }

    #[test]
    fn absurd_sizes_are_errors_not_overflows() {
        let huge_out = build_graph(
            vec![1, 28, 28],
            &[
                L::Flatten,
                L::Linear {
                    units: usize::MAX / 2,
                    bias: true,
                },
            ],
        )
        .unwrap_err();
        assert_eq!(huge_out[0].layer, 1);
        assert!(
            huge_out[0].message.contains("output"),
            "{}",
            huge_out[0].message
        );
        // 2^20 features × 2^21 units: each shape fits, the weight (2^41 elements) does not.
        let huge_weight = build_graph(
            vec![1, 1024, 1024],
            &[
                L::Flatten,
                L::Linear {
                    units: 1 << 21,
                    bias: true,
                },
            ],
        )
        .unwrap_err();
        assert!(
            huge_weight[0].message.contains("parameter layers.1.weight"),
            "{}",
            huge_weight[0].message
        );
        let dilated = L::Conv2d {
            filters: 4,
            kernel_size: Size2::Square(3),
            stride: Size2::Square(1),
            padding: Padding::Same,
            dilation: Size2::Square(usize::MAX / 2),
            groups: 1,
            bias: true,
        };
        let err = build_graph(vec![1, 28, 28], &[dilated]).unwrap_err();
        assert!(
            err[0].message.contains("too large to pad"),
            "{}",
            err[0].message
        );
        let wide = build_graph(vec![usize::MAX / 4, 4, 4], &[L::Flatten]).unwrap_err();
        assert!(wide[0].message.contains("more than"), "{}", wide[0].message);
        assert_eq!(conv_out(10, usize::MAX, 1, 0, 2), None);
    }

    #[test]
    fn linear_before_flatten_is_refused() {
        let err = build_graph(
            vec![1, 28, 28],
            &[L::Linear {
                units: 10,
                bias: true,
            }],
        )
        .unwrap_err();
        assert!(err[0].message.contains("add Flatten"));
    }
}
