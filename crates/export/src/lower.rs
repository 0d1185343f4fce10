//! One graph node → ONNX nodes and initializers, in eval semantics.
//!
//! Most ops are one ONNX node. The ones ONNX lacks, or has with other semantics, are
//! composed: GroupNorm from InstanceNormalization between two Reshapes, GELU before
//! opset 20 from Erf, SiLU from Sigmoid, an even-sized LocalResponseNorm from a banded
//! 1×1 convolution, adaptive pooling with uneven bins from two MatMuls.

use std::collections::{HashMap, HashSet};

use ronin_spec::{Activation, Node, Op};

use crate::error::ExportError;
use crate::onnx::{AttributeProto, NodeProto, TensorProto};
use crate::proto_build::{
    attr_float, attr_int, attr_ints, f32_tensor, i8_tensor, i64_tensor, node, node_outputs,
};
use crate::quantize::Quantization;
use crate::weights::Weights;

mod composed;
pub(crate) mod quantize;
use composed::{adaptive_avg_pool, group_norm, lrn_even};

/// First opset with `LayerNormalization`.
pub const LAYER_NORM_OPSET: i64 = 17;
/// First opset with `Gelu`.
pub const GELU_OPSET: i64 = 20;

/// Accumulates ONNX nodes and initializers; every name it makes is unique in the graph.
pub(crate) struct Builder {
    pub nodes: Vec<NodeProto>,
    pub initializers: Vec<TensorProto>,
    names: HashSet<String>,
    /// `DynamicQuantizeLinear` outputs by the float tensor they quantize, so layers
    /// reading the same tensor share one.
    quantized: HashMap<String, [String; 3]>,
}

impl Builder {
    /// A builder that never makes one of the `reserved` names (graph input and outputs).
    pub fn new(reserved: &[&str]) -> Self {
        Self {
            nodes: Vec::new(),
            initializers: Vec::new(),
            names: reserved.iter().map(|s| (*s).to_owned()).collect(),
            quantized: HashMap::new(),
        }
    }

    /// `base`, or `base_1`, `base_2`… when it is taken.
    fn fresh(&mut self, base: String) -> String {
        if self.names.insert(base.clone()) {
            return base;
        }
        let mut k = 1;
        loop {
            let name = format!("{base}_{k}");
            if self.names.insert(name.clone()) {
                return name;
            }
            k += 1;
        }
    }

    /// Adds an `op_type` node for graph node `name` reading `inputs`; returns its output,
    /// `<name>/<op_type>` (the node has the same name).
    pub fn op(
        &mut self,
        op_type: &str,
        name: &str,
        inputs: &[&str],
        attrs: Vec<AttributeProto>,
    ) -> String {
        let out = self.fresh(format!("{name}/{op_type}"));
        self.nodes.push(node(op_type, &out, inputs, &out, attrs));
        out
    }

    /// The checkpoint tensor `key` as an initializer of that name, stored with `shape`
    /// (same element count) or its own shape.
    pub fn weight(
        &mut self,
        weights: &Weights,
        key: &str,
        shape: Option<&[usize]>,
    ) -> Result<String, ExportError> {
        let t = weights.expect(key)?;
        self.initializers
            .push(f32_tensor(key, shape.unwrap_or(&t.shape), &t.data));
        self.names.insert(key.to_owned());
        Ok(key.to_owned())
    }

    /// A constant f32 initializer `<name>/<what>` (a scalar when `shape` is empty).
    pub fn constant(&mut self, name: &str, what: &str, shape: &[usize], data: &[f32]) -> String {
        let n = self.fresh(format!("{name}/{what}"));
        self.initializers.push(f32_tensor(&n, shape, data));
        n
    }

    /// A constant int8 initializer `<name>/<what>` (a scalar when `shape` is empty).
    pub fn int8_constant(
        &mut self,
        name: &str,
        what: &str,
        shape: &[usize],
        data: &[i8],
    ) -> String {
        let n = self.fresh(format!("{name}/{what}"));
        self.initializers.push(i8_tensor(&n, shape, data));
        n
    }

    /// `[x_q, x_scale, x_zero_point]`: `x` quantized to uint8 by a `DynamicQuantizeLinear`
    /// named after it, made on first use.
    pub fn dynamic_quantize(&mut self, x: &str) -> [String; 3] {
        if let Some(q) = self.quantized.get(x) {
            return q.clone();
        }
        let base = self.fresh(format!("{x}/DynamicQuantizeLinear"));
        let scale = self.fresh(format!("{base}/scale"));
        let zero_point = self.fresh(format!("{base}/zero_point"));
        self.nodes.push(node_outputs(
            "DynamicQuantizeLinear",
            &base,
            &[x],
            &[&base, &scale, &zero_point],
            Vec::new(),
        ));
        let q = [base, scale, zero_point];
        self.quantized.insert(x.to_owned(), q.clone());
        q
    }

    /// A constant int64 vector `<name>/<what>` (a Reshape target).
    fn shape_constant(&mut self, name: &str, what: &str, data: &[i64]) -> String {
        let n = self.fresh(format!("{name}/{what}"));
        self.initializers.push(i64_tensor(&n, data));
        n
    }

    /// Makes `tensor` the graph output `output`: renames it where it is produced when
    /// nothing else reads it, otherwise (the graph input, a tensor read by other nodes)
    /// copies it with an Identity.
    pub fn finish_output(&mut self, tensor: &str, output: &str) {
        let read = self
            .nodes
            .iter()
            .any(|n| n.input.iter().any(|i| i == tensor));
        let producer = self
            .nodes
            .iter_mut()
            .rev()
            .find(|n| n.output.first().is_some_and(|o| o == tensor));
        match producer {
            Some(p) if !read => p.output = vec![output.to_owned()],
            _ => self
                .nodes
                .push(node("Identity", "output", &[tensor], output, Vec::new())),
        }
    }
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Adds graph node `n`, reading the tensors `inputs` (one per `n.inputs`); returns the
/// tensor holding its output. Dropout adds nothing and returns its input. With
/// `quantize`, Conv2d and Linear become integer ops ([`crate::quantize`]).
pub(crate) fn lower(
    b: &mut Builder,
    n: &Node,
    inputs: &[String],
    weights: &Weights,
    opset: i64,
    quantize: Option<Quantization>,
) -> Result<String, ExportError> {
    let name = n.name.as_str();
    let key = |s: &str| format!("{name}.{s}");
    let err = |reason: String| ExportError::Node {
        node: name.to_owned(),
        reason,
    };
    let arity = match n.op {
        Op::Add => Some(2),
        Op::Concat => None,
        _ => Some(1),
    };
    if inputs.is_empty() || arity.is_some_and(|a| a != inputs.len()) {
        return Err(err(format!(
            "takes {} input(s), the graph gives it {}",
            arity.map_or("one or more".to_owned(), |a| a.to_string()),
            inputs.len()
        )));
    }
    let x = inputs[0].as_str();
    let out = match &n.op {
        Op::Conv2d {
            kernel,
            stride,
            padding,
            dilation,
            groups,
            bias,
            ..
        } => {
            let attrs = vec![
                attr_ints("kernel_shape", kernel),
                attr_ints("strides", stride),
                attr_ints("pads", padding),
                attr_ints("dilations", dilation),
                attr_int("group", *groups as i64),
            ];
            if quantize.is_some_and(Quantization::quantizes_conv) {
                return quantize::conv(b, weights, name, x, *bias, attrs);
            }
            let mut ins = vec![x.to_owned(), b.weight(weights, &key("weight"), None)?];
            if *bias {
                ins.push(b.weight(weights, &key("bias"), None)?);
            }
            b.op("Conv", name, &refs(&ins), attrs)
        }
        Op::MaxPool2d {
            kernel,
            stride,
            padding,
            ceil_mode,
        } => {
            let attrs = vec![
                attr_ints("kernel_shape", kernel),
                attr_ints("strides", stride),
                attr_ints("pads", padding),
                attr_int("ceil_mode", i64::from(*ceil_mode)),
            ];
            b.op("MaxPool", name, &[x], attrs)
        }
        Op::AvgPool2d {
            kernel,
            stride,
            padding,
            ceil_mode,
            count_include_pad,
        } => {
            let attrs = vec![
                attr_ints("kernel_shape", kernel),
                attr_ints("strides", stride),
                attr_ints("pads", padding),
                attr_int("ceil_mode", i64::from(*ceil_mode)),
                attr_int("count_include_pad", i64::from(*count_include_pad)),
            ];
            b.op("AveragePool", name, &[x], attrs)
        }
        Op::AdaptiveAvgPool2d { output } => {
            let &[_, h, w] = n.input_shape.as_slice() else {
                return Err(err(format!(
                    "AdaptiveAvgPool2d needs a (C, H, W) input, found {:?}",
                    n.input_shape
                )));
            };
            adaptive_avg_pool(b, name, x, [h, w], *output)
        }
        Op::GlobalAvgPool2d => b.op("GlobalAveragePool", name, &[x], Vec::new()),
        Op::Flatten => b.op("Flatten", name, &[x], vec![attr_int("axis", 1)]),
        Op::Linear { bias, .. } => {
            if quantize.is_some() {
                return quantize::linear(b, weights, name, x, *bias);
            }
            let mut ins = vec![x.to_owned(), b.weight(weights, &key("weight"), None)?];
            if *bias {
                ins.push(b.weight(weights, &key("bias"), None)?);
            }
            b.op("Gemm", name, &refs(&ins), vec![attr_int("transB", 1)])
        }
        // Identity in eval mode.
        Op::Dropout { .. } | Op::Dropout2d { .. } => x.to_owned(),
        Op::BatchNorm { eps, .. } => {
            let mut ins = vec![x.to_owned()];
            for s in ["weight", "bias", "running_mean", "running_var"] {
                ins.push(b.weight(weights, &key(s), None)?);
            }
            let attrs = vec![attr_float("epsilon", *eps as f32)];
            b.op("BatchNormalization", name, &refs(&ins), attrs)
        }
        Op::LayerNorm { shape, eps, affine } => {
            if opset < LAYER_NORM_OPSET {
                return Err(err(format!(
                    "LayerNorm is ONNX's LayerNormalization, which needs opset {LAYER_NORM_OPSET} or newer; opset {opset} was requested"
                )));
            }
            let (scale, bias) = scale_and_bias(b, weights, name, *affine, shape, None)?;
            let attrs = vec![attr_int("axis", 1), attr_float("epsilon", *eps as f32)];
            b.op("LayerNormalization", name, &[x, &scale, &bias], attrs)
        }
        Op::InstanceNorm2d {
            channels,
            eps,
            affine,
        } => {
            let (scale, bias) = scale_and_bias(b, weights, name, *affine, &[*channels], None)?;
            let attrs = vec![attr_float("epsilon", *eps as f32)];
            b.op("InstanceNormalization", name, &[x, &scale, &bias], attrs)
        }
        Op::GroupNorm {
            groups,
            channels,
            eps,
            affine,
        } => {
            let &[_, h, w] = n.input_shape.as_slice() else {
                return Err(err(format!(
                    "GroupNorm needs a (C, H, W) input, found {:?}",
                    n.input_shape
                )));
            };
            group_norm(
                b,
                weights,
                name,
                x,
                *groups,
                [*channels, h, w],
                *eps,
                *affine,
            )?
        }
        Op::LocalResponseNorm {
            size,
            alpha,
            beta,
            k,
        } => {
            if size % 2 == 1 {
                // ONNX's window is PyTorch's for an odd size: (size − 1)/2 channels each side.
                let attrs = vec![
                    attr_int("size", *size as i64),
                    attr_float("alpha", *alpha as f32),
                    attr_float("beta", *beta as f32),
                    attr_float("bias", *k as f32),
                ];
                b.op("LRN", name, &[x], attrs)
            } else {
                let channels = n.input_shape.first().copied().unwrap_or(1);
                lrn_even(b, name, x, channels, *size, *alpha, *beta, *k)
            }
        }
        Op::Activation(act) => match act {
            Activation::Relu => b.op("Relu", name, &[x], Vec::new()),
            Activation::LeakyRelu { negative_slope } => b.op(
                "LeakyRelu",
                name,
                &[x],
                vec![attr_float("alpha", *negative_slope as f32)],
            ),
            Activation::Elu { alpha } => {
                b.op("Elu", name, &[x], vec![attr_float("alpha", *alpha as f32)])
            }
            Activation::Gelu if opset >= GELU_OPSET => b.op("Gelu", name, &[x], Vec::new()),
            Activation::Gelu => {
                // 0.5 · x · (1 + erf(x / √2))
                let sqrt2 = b.constant(name, "sqrt2", &[], &[std::f32::consts::SQRT_2]);
                let one = b.constant(name, "one", &[], &[1.0]);
                let half = b.constant(name, "half", &[], &[0.5]);
                let t = b.op("Div", name, &[x, &sqrt2], Vec::new());
                let e = b.op("Erf", name, &[&t], Vec::new());
                let a = b.op("Add", name, &[&e, &one], Vec::new());
                let m = b.op("Mul", name, &[x, &a], Vec::new());
                b.op("Mul", name, &[&m, &half], Vec::new())
            }
            Activation::Silu => {
                let s = b.op("Sigmoid", name, &[x], Vec::new());
                b.op("Mul", name, &[x, &s], Vec::new())
            }
            Activation::Sigmoid => b.op("Sigmoid", name, &[x], Vec::new()),
            Activation::Tanh => b.op("Tanh", name, &[x], Vec::new()),
        },
        Op::Softmax => b.op("Softmax", name, &[x], vec![attr_int("axis", -1)]),
        Op::Add => b.op("Add", name, &[x, &inputs[1]], Vec::new()),
        Op::Concat => b.op("Concat", name, &refs(inputs), vec![attr_int("axis", 1)]),
    };
    Ok(out)
}

/// The affine scale and shift of a normalisation: the checkpoint's `weight` and `bias`
/// (stored with `onnx_shape` when given), or constant ones and zeros of `shape`.
fn scale_and_bias(
    b: &mut Builder,
    weights: &Weights,
    name: &str,
    affine: bool,
    shape: &[usize],
    onnx_shape: Option<&[usize]>,
) -> Result<(String, String), ExportError> {
    if affine {
        Ok((
            b.weight(weights, &format!("{name}.weight"), onnx_shape)?,
            b.weight(weights, &format!("{name}.bias"), onnx_shape)?,
        ))
    } else {
        let numel: usize = shape.iter().product();
        Ok((
            b.constant(name, "scale", shape, &vec![1.0; numel]),
            b.constant(name, "bias", shape, &vec![0.0; numel]),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_names_are_unique() {
        let mut b = Builder::new(&["input"]);
        assert_eq!(b.op("Relu", "a", &["input"], Vec::new()), "a/Relu");
        assert_eq!(b.op("Relu", "a", &["a/Relu"], Vec::new()), "a/Relu_1");
        assert_eq!(b.fresh("input".into()), "input_1");
    }
}
