//! Static int8 quantization in ONNX's QDQ format, as ONNX Runtime's `quantize_static`
//! writes it (`QuantFormat.QDQ`, MinMax calibration, `per_channel=True`).
//!
//! The float32 export is rewritten at the ONNX level. Every `Conv` and `Gemm` whose weight
//! is an initializer reads
//!
//! ```text
//! x ─ QuantizeLinear(s_x, z_x) ─ DequantizeLinear ─┐
//! W_q (int8) ─ DequantizeLinear(s_w[c], 0, axis 0) ─┼─ Conv / Gemm ─ y ─ QuantizeLinear(s_y, z_y) ─ DequantizeLinear ─ …
//! b_q (int32) ─ DequantizeLinear(s_x·s_w[c], 0) ───┘
//! ```
//!
//! - Activations: **uint8, asymmetric, per tensor**: `s = (max − min) / 255`,
//!   `z = round(−min / s)` over the range `[min(lo, 0), max(hi, 0)]` seen in calibration
//!   (ONNX Runtime's MinMax calibrater: the smallest and largest value over all calibration
//!   batches). uint8 × int8 is the pairing ONNX Runtime's CPU provider has kernels for on
//!   every x86 CPU (its `QLinearConv` and `QGemm`; int8 activations are shifted to uint8
//!   internally), and that ronin's dynamic mode already uses.
//! - Weights: **int8, symmetric, per output channel** (axis 0 of the Conv weight and of the
//!   Gemm's `transB` weight), `s_w[c] = max|W[c]| / 127`, values in `[−127, 127]`.
//! - Bias: **int32**, `s_b[c] = s_x · s_w[c]`, zero point 0, as ONNX Runtime requires for
//!   fusing it into the integer op.
//! - A `Relu` that is the only reader of a Conv or Gemm is removed and the Conv's output is
//!   quantized over the Relu's (non-negative) range: its zero point is then 0, so the
//!   quantization itself clamps negatives, which is what `quantize_static` does too.
//! - `MaxPool`, `Flatten` and `Reshape` of a quantized tensor get a QDQ pair with their
//!   input's scale and zero point, so ONNX Runtime runs them on the int8 values.
//! - The graph's outputs stay float32: the last Gemm is not followed by a QuantizeLinear
//!   (ONNX Runtime then fuses it into a `QGemm` with a float output). Everything else
//!   (BatchNorm not folded, pooling averages, Add, Softmax) stays float32 between a
//!   DequantizeLinear and a QuantizeLinear.
//!
//! With graph optimisations on (the default), ONNX Runtime's CPU provider fuses each
//! `DQ → Conv → Q` into `QLinearConv`, `DQ → Gemm [→ Q]` into `QGemm` and drops the QDQ
//! pairs around MaxPool and Flatten; the float model's graph is what it runs with
//! optimisations off.

use std::collections::{HashMap, HashSet};

use ndarray::{ArrayView4, ArrayViewD};
use prost::Message;

use crate::error::ExportError;
use crate::lower::quantize::quantize_rows;
use crate::onnx::{
    GraphProto, ModelProto, NodeProto, TensorProto, TypeProto, ValueInfoProto,
    tensor_proto::DataType, type_proto,
};
use crate::proto_build::{
    attr_int, f32_tensor, f32_values, i8_tensor, i32_tensor, node, u8_tensor,
};
use crate::runtime::OnnxModel;

/// The name recorded in the manifest's `quantization` for a statically quantized model.
pub const STATIC_NAME: &str = "static-int8";

/// Op types whose int8 output is their input's values (same scale and zero point).
const PASS_THROUGH: [&str; 3] = ["MaxPool", "Flatten", "Reshape"];

/// The smallest and largest value a tensor took in calibration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub min: f32,
    pub max: f32,
}

impl Range {
    fn empty() -> Self {
        Self {
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
        }
    }

    fn observe(&mut self, values: ArrayViewD<'_, f32>) {
        for &v in values.iter().filter(|v| v.is_finite()) {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
    }

    /// uint8 scale and zero point covering `[min(lo, 0), max(hi, 0)]`, as ONNX Runtime's
    /// `compute_scale_zp`: 0 is exactly representable (zero padding stays exact).
    pub fn uint8_params(self) -> (f32, u8) {
        let lo = self.min.min(0.0);
        let hi = self.max.max(0.0);
        let span = hi - lo;
        if span <= 0.0 || !span.is_finite() {
            return (1.0, 0);
        }
        let scale = span / 255.0;
        let zero_point = (-lo / scale).round().clamp(0.0, 255.0) as u8;
        (scale, zero_point)
    }
}

/// What the rewrite quantizes, found in the float graph.
#[derive(Debug, Clone)]
struct Plan {
    /// Indices of the Conv and Gemm nodes rewritten.
    ops: Vec<usize>,
    /// Relu nodes removed, by the index of the Conv or Gemm they followed.
    relu: HashMap<usize, usize>,
    /// Activations with their own calibrated range, in graph order.
    calibrated: Vec<String>,
    /// Activations quantized with another tensor's parameters (pass-through ops), each
    /// with the calibrated tensor it shares them with.
    shared: Vec<(String, String)>,
}

/// A statically quantized model and what was quantized.
#[derive(Debug, Clone)]
pub struct StaticModel {
    pub bytes: Vec<u8>,
    /// Op types of the float graph that became integer ops, sorted (`["Conv", "Gemm"]`).
    pub quantized_ops: Vec<String>,
    /// Conv and Gemm nodes rewritten.
    pub quantized_nodes: usize,
    /// Activation tensors with a calibrated range.
    pub calibrated_tensors: usize,
    /// Examples the ranges were measured on.
    pub calibration_examples: usize,
}

/// Calibrates a float32 ONNX model and writes its static int8 version: build with
/// [`StaticQuantizer::new`], feed each calibration batch's intermediate tensors to
/// [`StaticQuantizer::observe`] (from running [`StaticQuantizer::calibration_model`]),
/// then [`StaticQuantizer::finish`]. [`crate::quantize_static`] does all three with ONNX
/// Runtime.
#[derive(Debug, Clone)]
pub struct StaticQuantizer {
    model: ModelProto,
    plan: Plan,
    ranges: HashMap<String, Range>,
    examples: usize,
}

fn graph_of(model: &ModelProto) -> Result<&GraphProto, ExportError> {
    model
        .graph
        .as_ref()
        .ok_or_else(|| ExportError::StaticQuantize {
            reason: "the model has no graph".into(),
        })
}

fn int_attr(n: &NodeProto, name: &str) -> Option<i64> {
    n.attribute.iter().find(|a| a.name() == name).map(|a| a.i())
}

fn float_attr(n: &NodeProto, name: &str) -> Option<f32> {
    n.attribute.iter().find(|a| a.name() == name).map(|a| a.f())
}

/// Whether node `n` is a Conv or `Gemm(transB=1)` with float initializer weights (and
/// bias), which the rewrite turns into integer arithmetic.
fn quantizable(n: &NodeProto, inits: &HashMap<&str, &TensorProto>) -> bool {
    let is_float_init = |i: usize, rank: usize| {
        n.input
            .get(i)
            .and_then(|name| inits.get(name.as_str()))
            .is_some_and(|t| t.data_type == Some(DataType::Float as i32) && t.dims.len() == rank)
    };
    let bias_ok = n.input.len() < 3 || n.input[2].is_empty() || is_float_init(2, 1);
    match n.op_type() {
        "Conv" => n.input.len() >= 2 && is_float_init(1, 4) && bias_ok,
        "Gemm" => {
            int_attr(n, "transB") == Some(1)
                && int_attr(n, "transA").unwrap_or(0) == 0
                && float_attr(n, "alpha").unwrap_or(1.0) == 1.0
                && float_attr(n, "beta").unwrap_or(1.0) == 1.0
                && n.input.len() >= 2
                && is_float_init(1, 2)
                && bias_ok
        }
        _ => false,
    }
}

fn plan(graph: &GraphProto) -> Plan {
    let inits: HashMap<&str, &TensorProto> =
        graph.initializer.iter().map(|t| (t.name(), t)).collect();
    let outputs: HashSet<&str> = graph.output.iter().map(|o| o.name()).collect();
    let mut readers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in graph.node.iter().enumerate() {
        for input in &n.input {
            readers.entry(input.as_str()).or_default().push(i);
        }
    }
    let mut ops = Vec::new();
    let mut relu = HashMap::new();
    let mut calibrated: Vec<String> = Vec::new();
    let add = |t: &str, list: &mut Vec<String>| {
        if !list.iter().any(|c| c == t) {
            list.push(t.to_owned());
        }
    };
    for (i, n) in graph.node.iter().enumerate() {
        if !quantizable(n, &inits) {
            continue;
        }
        ops.push(i);
        add(&n.input[0], &mut calibrated);
        let Some(out) = n.output.first() else {
            continue;
        };
        let mut y = out.as_str();
        if let Some(&[j]) = readers.get(y).map(Vec::as_slice)
            && graph.node[j].op_type() == "Relu"
            && !outputs.contains(y)
        {
            relu.insert(i, j);
            y = graph.node[j].output.first().map_or(y, String::as_str);
        }
        if !outputs.contains(y) {
            add(y, &mut calibrated);
        }
    }
    // Pass-through ops of a quantized tensor share its parameters, in graph order so that
    // chains (MaxPool → Flatten) reach the calibrated tensor.
    let mut shared: Vec<(String, String)> = Vec::new();
    for n in &graph.node {
        let (Some(x), Some(y)) = (n.input.first(), n.output.first()) else {
            continue;
        };
        if !PASS_THROUGH.contains(&n.op_type())
            || n.output.len() != 1
            || outputs.contains(y.as_str())
        {
            continue;
        }
        let root = shared
            .iter()
            .find(|(t, _)| t == x)
            .map(|(_, r)| r.clone())
            .or_else(|| calibrated.iter().find(|c| *c == x).cloned());
        if let Some(root) = root {
            calibrated.retain(|c| c != y);
            shared.push((y.clone(), root));
        }
    }
    Plan {
        ops,
        relu,
        calibrated,
        shared,
    }
}

fn float_output(name: &str) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.to_owned()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: None,
            })),
            ..TypeProto::default()
        }),
        ..ValueInfoProto::default()
    }
}

impl StaticQuantizer {
    /// Plans the quantization of a float32 ONNX model (bytes as [`crate::to_onnx`] writes
    /// them). Fails when the opset is below 13 (per-axis DequantizeLinear) or nothing in
    /// the model can be quantized.
    pub fn new(float_model: &[u8]) -> Result<Self, ExportError> {
        let model = ModelProto::decode(float_model).map_err(|e| ExportError::StaticQuantize {
            reason: format!("the float model does not decode: {e}"),
        })?;
        let opset = model
            .opset_import
            .iter()
            .find(|o| o.domain().is_empty())
            .map_or(0, |o| o.version());
        if opset < 13 {
            return Err(ExportError::StaticQuantize {
                reason: format!("per-channel QDQ needs opset 13 or newer, the model has {opset}"),
            });
        }
        let plan = plan(graph_of(&model)?);
        if plan.ops.is_empty() {
            return Err(ExportError::StaticQuantize {
                reason: "the model has no Conv or Linear layer to quantize".into(),
            });
        }
        let ranges = plan
            .calibrated
            .iter()
            .map(|t| (t.clone(), Range::empty()))
            .collect();
        Ok(Self {
            model,
            plan,
            ranges,
            examples: 0,
        })
    }

    /// The tensors whose range calibration measures, in the order of
    /// [`Self::calibration_model`]'s extra outputs (the graph input, when listed, is not
    /// an output: pass the batch itself).
    pub fn calibrated_tensors(&self) -> &[String] {
        &self.plan.calibrated
    }

    /// The float model with every calibrated intermediate tensor added as a graph output
    /// after its own outputs (the standard way to read activations with ONNX Runtime).
    pub fn calibration_model(&self) -> Result<Vec<u8>, ExportError> {
        let mut model = self.model.clone();
        let graph = model
            .graph
            .as_mut()
            .ok_or_else(|| ExportError::StaticQuantize {
                reason: "the model has no graph".into(),
            })?;
        let inputs: HashSet<String> = graph.input.iter().map(|i| i.name().to_owned()).collect();
        for t in &self.plan.calibrated {
            if !inputs.contains(t) && !graph.output.iter().any(|o| o.name() == t) {
                graph.output.push(float_output(t));
            }
        }
        Ok(model.encode_to_vec())
    }

    /// Widens the ranges with one calibration batch: `tensors` pairs a tensor name with
    /// its values (outputs of [`Self::calibration_model`], and the graph input itself).
    pub fn observe<'a>(
        &mut self,
        tensors: impl IntoIterator<Item = (&'a str, ArrayViewD<'a, f32>)>,
        examples: usize,
    ) {
        for (name, values) in tensors {
            if let Some(r) = self.ranges.get_mut(name) {
                r.observe(values);
            }
        }
        self.examples += examples;
    }

    /// Runs one calibration batch through `model` (ONNX Runtime's session of
    /// [`Self::calibration_model`]) and widens the ranges with its tensors.
    ///
    /// # Shapes
    /// `batch`: `[N, C, H, W]`, preprocessed as the model's input.
    pub fn calibrate(
        &mut self,
        model: &OnnxModel,
        batch: ArrayView4<'_, f32>,
    ) -> Result<(), ExportError> {
        let outputs = model.run_all(batch)?;
        let names = model.output_names();
        let input = model.input_name().to_owned();
        let tensors = names
            .iter()
            .map(String::as_str)
            .zip(outputs.iter().map(|o| o.view()))
            .chain(std::iter::once((input.as_str(), batch.into_dyn())));
        let examples = batch.shape()[0];
        self.observe(tensors, examples);
        Ok(())
    }

    /// The calibrated range of `tensor`, if it has one.
    pub fn range(&self, tensor: &str) -> Option<Range> {
        self.ranges.get(tensor).copied()
    }

    /// The QDQ model. Fails when a calibrated tensor was never observed.
    pub fn finish(self) -> Result<StaticModel, ExportError> {
        if let Some(t) = self
            .plan
            .calibrated
            .iter()
            .find(|t| self.ranges.get(*t).is_none_or(|r| r.min > r.max))
        {
            return Err(ExportError::StaticQuantize {
                reason: format!("no finite value of `{t}` was seen in calibration"),
            });
        }
        let graph = graph_of(&self.model)?;
        let mut quantized_ops: Vec<String> = self
            .plan
            .ops
            .iter()
            .map(|&i| graph.node[i].op_type().to_owned())
            .collect();
        quantized_ops.sort();
        quantized_ops.dedup();
        let rewritten = rewrite(&self.model, &self.plan, &self.ranges)?;
        Ok(StaticModel {
            bytes: rewritten.encode_to_vec(),
            quantized_ops,
            quantized_nodes: self.plan.ops.len(),
            calibrated_tensors: self.plan.calibrated.len(),
            calibration_examples: self.examples,
        })
    }
}

/// The QDQ nodes and initializers being written.
struct Rewrite<'a> {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    /// Float tensor → the DequantizeLinear output that replaces it for its readers.
    dequantized: HashMap<String, String>,
    /// Scale and zero-point initializer names by calibrated tensor.
    params: HashMap<String, (String, String)>,
    ranges: &'a HashMap<String, Range>,
    /// Calibrated tensor whose parameters each quantized tensor uses.
    root: HashMap<String, String>,
}

impl Rewrite<'_> {
    fn activation_params(&mut self, root: &str) -> ((String, String), f32) {
        let range = self
            .ranges
            .get(root)
            .copied()
            .unwrap_or(Range { min: 0.0, max: 0.0 });
        let (scale, zp) = range.uint8_params();
        let names = self
            .params
            .entry(root.to_owned())
            .or_insert_with(|| {
                let s = format!("{root}/quant_scale");
                let z = format!("{root}/quant_zero_point");
                self.initializers.push(f32_tensor(&s, &[], &[scale]));
                self.initializers.push(u8_tensor(&z, &[], &[zp]));
                (s, z)
            })
            .clone();
        (names, scale)
    }

    /// `t → QuantizeLinear → DequantizeLinear`, the DQ output replacing `t` for its readers.
    fn qdq(&mut self, t: &str) {
        let Some(root) = self.root.get(t).cloned() else {
            return;
        };
        let ((s, z), _) = self.activation_params(&root);
        let q = format!("{t}/QuantizeLinear");
        let dq = format!("{t}/DequantizeLinear");
        self.nodes
            .push(node("QuantizeLinear", &q, &[t, &s, &z], &q, Vec::new()));
        self.nodes.push(node(
            "DequantizeLinear",
            &dq,
            &[&q, &s, &z],
            &dq,
            Vec::new(),
        ));
        self.dequantized.insert(t.to_owned(), dq);
    }

    /// A per-channel int8 weight and its int32 bias behind DequantizeLinear nodes; returns
    /// the new weight and bias inputs.
    fn weight_and_bias(
        &mut self,
        n: &NodeProto,
        inits: &HashMap<&str, &TensorProto>,
        x_scale: f32,
    ) -> Result<(String, Option<String>), ExportError> {
        let bad = |what: &str| ExportError::StaticQuantize {
            reason: format!("node `{}`: {what}", n.name()),
        };
        let w_name = n.input[1].as_str();
        let w = inits
            .get(w_name)
            .ok_or_else(|| bad("weight is not an initializer"))?;
        let data = f32_values(w).ok_or_else(|| bad("weight is not float32"))?;
        let shape: Vec<usize> = w.dims.iter().map(|&d| d as usize).collect();
        let channels = shape.first().copied().unwrap_or(1);
        let (q, scales) = quantize_rows(&data, channels);
        let (wq, ws, wz, wdq) = (
            format!("{w_name}_quantized"),
            format!("{w_name}_scale"),
            format!("{w_name}_zero_point"),
            format!("{w_name}/DequantizeLinear"),
        );
        self.initializers.push(i8_tensor(&wq, &shape, &q));
        self.initializers
            .push(f32_tensor(&ws, &[channels], &scales));
        self.initializers
            .push(i8_tensor(&wz, &[channels], &vec![0; channels]));
        self.nodes.push(node(
            "DequantizeLinear",
            &wdq,
            &[&wq, &ws, &wz],
            &wdq,
            vec![attr_int("axis", 0)],
        ));
        let Some(b_name) = n.input.get(2).filter(|b| !b.is_empty()) else {
            return Ok((wdq, None));
        };
        let b = inits
            .get(b_name.as_str())
            .ok_or_else(|| bad("bias is not an initializer"))?;
        let bias = f32_values(b).ok_or_else(|| bad("bias is not float32"))?;
        if bias.len() != channels {
            return Err(bad(&format!(
                "{} bias values for {channels} output channels",
                bias.len()
            )));
        }
        let b_scales: Vec<f32> = scales.iter().map(|s| s * x_scale).collect();
        let b_q: Vec<i32> = bias
            .iter()
            .zip(&b_scales)
            .map(|(&v, &s)| {
                (f64::from(v) / f64::from(s))
                    .round()
                    .clamp(-2_147_483_647.0, 2_147_483_647.0) as i32
            })
            .collect();
        let (bq, bs, bz, bdq) = (
            format!("{b_name}_quantized"),
            format!("{b_name}_scale"),
            format!("{b_name}_zero_point"),
            format!("{b_name}/DequantizeLinear"),
        );
        self.initializers.push(i32_tensor(&bq, &[channels], &b_q));
        self.initializers
            .push(f32_tensor(&bs, &[channels], &b_scales));
        self.initializers
            .push(i32_tensor(&bz, &[channels], &vec![0; channels]));
        self.nodes.push(node(
            "DequantizeLinear",
            &bdq,
            &[&bq, &bs, &bz],
            &bdq,
            vec![attr_int("axis", 0)],
        ));
        Ok((wdq, Some(bdq)))
    }
}

fn rewrite(
    model: &ModelProto,
    plan: &Plan,
    ranges: &HashMap<String, Range>,
) -> Result<ModelProto, ExportError> {
    let graph = graph_of(model)?;
    let inits: HashMap<&str, &TensorProto> =
        graph.initializer.iter().map(|t| (t.name(), t)).collect();
    let ops: HashSet<usize> = plan.ops.iter().copied().collect();
    let removed_relu: HashSet<usize> = plan.relu.values().copied().collect();
    // Float weights and biases the integer ops replace.
    let replaced: HashSet<&str> = plan
        .ops
        .iter()
        .flat_map(|&i| graph.node[i].input.iter().skip(1))
        .map(String::as_str)
        .collect();
    let mut root: HashMap<String, String> = plan
        .calibrated
        .iter()
        .map(|t| (t.clone(), t.clone()))
        .collect();
    root.extend(plan.shared.iter().cloned());
    let mut rw = Rewrite {
        nodes: Vec::new(),
        initializers: graph
            .initializer
            .iter()
            .filter(|t| !replaced.contains(t.name()))
            .cloned()
            .collect(),
        dequantized: HashMap::new(),
        params: HashMap::new(),
        ranges,
        root,
    };
    for input in &graph.input {
        rw.qdq(input.name());
    }
    for (i, n) in graph.node.iter().enumerate() {
        if removed_relu.contains(&i) {
            continue;
        }
        let mut out = n.clone();
        for input in &mut out.input {
            if let Some(dq) = rw.dequantized.get(input.as_str()) {
                *input = dq.clone();
            }
        }
        if ops.contains(&i) {
            let x = &n.input[0];
            let x_root = rw.root.get(x).cloned().unwrap_or_else(|| x.clone());
            let (_, x_scale) = rw.activation_params(&x_root);
            let (w, b) = rw.weight_and_bias(n, &inits, x_scale)?;
            out.input[1] = w;
            if let Some(b) = b {
                out.input[2] = b;
            }
            if let Some(&j) = plan.relu.get(&i) {
                out.output = graph.node[j].output.clone();
            }
        }
        let produced = out.output.clone();
        rw.nodes.push(out);
        for t in &produced {
            rw.qdq(t);
        }
    }
    let mut model = model.clone();
    if let Some(g) = model.graph.as_mut() {
        g.node = rw.nodes;
        g.initializer = rw.initializers;
        g.value_info.clear();
    }
    Ok(model)
}

#[cfg(test)]
#[path = "qdq_tests.rs"]
mod tests;
