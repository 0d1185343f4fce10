//! `ModelGraph` + weights → ONNX model, with eval-mode semantics.
//!
//! Each graph node becomes one ONNX node, or a few where ONNX has no single operator
//! for it (see [`crate::lower`]); Dropout becomes none. A node's output tensor is named
//! `<node name>/<op type>` and nodes read the tensors their `inputs` name, so residual
//! additions and parallel branches are plain edges. Parameters become f32 initializers
//! named by their state_dict key, so a tensor in the ONNX file can be traced back to the
//! checkpoint.

use prost::Message;
use ronin_spec::{ModelGraph, Op, Source};

use crate::error::ExportError;
use crate::fold::fold_batch_norm;
use crate::lower::{Builder, lower};
use crate::onnx::{GraphProto, ModelProto, OperatorSetIdProto};
use crate::proto_build::{Dim, attr_int, f32_tensor, string_entry, value_info};
use crate::quantize::Quantization;
use crate::weights::Weights;

/// Name of the graph input, `[batch, C, H, W]` float32.
pub const INPUT_NAME: &str = "input";
/// Name of the dynamic batch axis of the input and output.
pub const BATCH_DIM: &str = "batch";
/// Output name when the graph ends with raw scores.
pub const LOGITS_NAME: &str = "logits";
/// Output name when the graph ends with a softmax.
pub const PROBABILITIES_NAME: &str = "probabilities";
/// ONNX IR version written; ONNX Runtime 1.31 loads 10 and rejects 14.
pub const IR_VERSION: i64 = 10;
/// Default opset, the one ONNX Runtime and PyTorch exporters support best.
pub const DEFAULT_OPSET: i64 = 17;
/// Oldest opset whose operators have the semantics used here (Softmax over one axis).
pub const MIN_OPSET: i64 = 13;
/// Newest opset that IR version 10 covers.
pub const MAX_OPSET: i64 = 21;

/// How the graph is written.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportOptions {
    /// ONNX opset of the default domain, from [`MIN_OPSET`] to [`MAX_OPSET`].
    pub opset: i64,
    /// Append a Softmax over the classes, so the model outputs probabilities.
    pub softmax: bool,
    /// Per-channel `(mean, std)` applied inside the graph as `(x − mean) / std`
    /// before the first layer; the model then takes pixels in [0, 1].
    pub normalize: Option<(Vec<f32>, Vec<f32>)>,
    /// Key/value pairs stored in the model's `metadata_props`.
    pub metadata: Vec<(String, String)>,
    /// The ONNX graph's name.
    pub graph_name: String,
    /// Merge each BatchNorm that only reads a convolution (read by nothing else) into that
    /// convolution's weight and bias; see [`crate::fold`].
    pub fold_batch_norm: bool,
    /// Write Linear (and Conv2d, per the variant) as dynamically quantized int8 ops; see
    /// [`crate::quantize`].
    pub quantize: Option<Quantization>,
    /// `None`: a dynamic batch axis named [`BATCH_DIM`]. `Some(n)`: the input and output
    /// have a fixed batch of `n` (at least 1).
    pub batch: Option<usize>,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            opset: DEFAULT_OPSET,
            softmax: false,
            normalize: None,
            metadata: Vec::new(),
            graph_name: "ronin".to_owned(),
            fold_batch_norm: false,
            quantize: None,
            batch: None,
        }
    }
}

/// True when the node the model's output comes from is a Softmax.
pub fn output_is_softmax(graph: &ModelGraph) -> bool {
    match graph.output {
        Source::Node(i) => graph
            .nodes
            .get(i)
            .is_some_and(|n| matches!(n.op, Op::Softmax)),
        Source::Input => false,
    }
}

/// True when the model's output is a probability distribution: either its output node is
/// a Softmax or `opts.softmax` appends one.
pub fn ends_with_softmax(graph: &ModelGraph, opts: &ExportOptions) -> bool {
    opts.softmax || output_is_softmax(graph)
}

/// The output's name: [`PROBABILITIES_NAME`] or [`LOGITS_NAME`].
pub fn output_name(graph: &ModelGraph, opts: &ExportOptions) -> &'static str {
    if ends_with_softmax(graph, opts) {
        PROBABILITIES_NAME
    } else {
        LOGITS_NAME
    }
}

/// Serialised ONNX model bytes; see [`to_onnx_model`].
pub fn to_onnx(
    graph: &ModelGraph,
    weights: &Weights,
    opts: &ExportOptions,
) -> Result<Vec<u8>, ExportError> {
    Ok(to_onnx_model(graph, weights, opts)?.encode_to_vec())
}

/// Builds the ONNX model.
///
/// # Shapes
/// Input `input`: `[batch, C, H, W]` (the graph's input shape behind a dynamic batch axis,
/// or a fixed one with `opts.batch`). Output `logits` or `probabilities`: `[batch, K]`.
pub fn to_onnx_model(
    graph: &ModelGraph,
    weights: &Weights,
    opts: &ExportOptions,
) -> Result<ModelProto, ExportError> {
    if !(MIN_OPSET..=MAX_OPSET).contains(&opts.opset) {
        return Err(ExportError::Opset {
            opset: opts.opset,
            min: MIN_OPSET,
            max: MAX_OPSET,
        });
    }
    let out_shape = graph.output_shape().clone();
    if out_shape.len() != 1 {
        return Err(ExportError::OutputNotFlat { shape: out_shape });
    }
    weights.check(graph)?;
    let folded;
    let (graph, weights) = if opts.fold_batch_norm {
        folded = fold_batch_norm(graph, weights)?;
        (&folded.graph, &folded.weights)
    } else {
        (graph, weights)
    };

    let output = output_name(graph, opts);
    let mut b = Builder::new(&[INPUT_NAME, output]);
    let input = match &opts.normalize {
        Some((mean, std)) => normalize(&mut b, &graph.input_shape, mean, std)?,
        None => INPUT_NAME.to_owned(),
    };
    // The tensor holding each node's output, by node index.
    let mut tensors: Vec<String> = Vec::with_capacity(graph.nodes.len());
    let tensor = |tensors: &[String], s: Source, node: &str| match s {
        Source::Input => Ok(input.clone()),
        Source::Node(j) => tensors.get(j).cloned().ok_or_else(|| ExportError::Node {
            node: node.to_owned(),
            reason: format!("reads node {j}, which does not come before it"),
        }),
    };
    for n in &graph.nodes {
        let inputs = n
            .inputs
            .iter()
            .map(|&s| tensor(&tensors, s, &n.name))
            .collect::<Result<Vec<_>, _>>()?;
        tensors.push(lower(
            &mut b,
            n,
            &inputs,
            weights,
            opts.opset,
            opts.quantize,
        )?);
    }
    let mut out = tensor(&tensors, graph.output, "output")?;
    if opts.softmax && !output_is_softmax(graph) {
        out = b.op("Softmax", "softmax", &[&out], vec![attr_int("axis", -1)]);
    }
    b.finish_output(&out, output);

    let batch = || match opts.batch {
        Some(n) => Dim::Value(n.max(1)),
        None => Dim::Param(BATCH_DIM.to_owned()),
    };
    let input_dims: Vec<Dim> = std::iter::once(batch())
        .chain(graph.input_shape.iter().map(|&d| Dim::Value(d)))
        .collect();
    let output_dims = [batch(), Dim::Value(out_shape[0])];
    let graph_proto = GraphProto {
        name: Some(opts.graph_name.clone()),
        node: b.nodes,
        initializer: b.initializers,
        input: vec![value_info(INPUT_NAME, &input_dims)],
        output: vec![value_info(output, &output_dims)],
        ..GraphProto::default()
    };
    Ok(ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(opts.opset),
        }],
        producer_name: Some("ronin".to_owned()),
        producer_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        graph: Some(graph_proto),
        metadata_props: opts
            .metadata
            .iter()
            .map(|(k, v)| string_entry(k, v))
            .collect(),
        ..ModelProto::default()
    })
}

/// `(x − mean) / std` with `[1, C, 1, 1]` constants; returns the normalised tensor.
fn normalize(
    b: &mut Builder,
    input: &[usize],
    mean: &[f32],
    std: &[f32],
) -> Result<String, ExportError> {
    let &[c, _, _] = input else {
        return Err(ExportError::Normalize {
            what: "normalization inside the graph",
            reason: format!("needs an image input (C, H, W), found {input:?}"),
        });
    };
    if mean.len() != c || std.len() != c {
        return Err(ExportError::Normalize {
            what: "normalization inside the graph",
            reason: format!(
                "needs one mean and one std per channel ({c}), found {} mean(s) and {} std(s)",
                mean.len(),
                std.len()
            ),
        });
    }
    if let Some(bad) = std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(ExportError::Normalize {
            what: "normalization inside the graph",
            reason: format!("every std must be finite and > 0, found {bad}"),
        });
    }
    if let Some(bad) = mean.iter().find(|m| !m.is_finite()) {
        return Err(ExportError::Normalize {
            what: "normalization inside the graph",
            reason: format!("every mean must be finite, found {bad}"),
        });
    }
    let shape = [1, c, 1, 1];
    b.initializers
        .push(f32_tensor("normalize.mean", &shape, mean));
    b.initializers
        .push(f32_tensor("normalize.std", &shape, std));
    let centred = b.op(
        "Sub",
        "normalize",
        &[INPUT_NAME, "normalize.mean"],
        Vec::new(),
    );
    Ok(b.op("Div", "normalize", &[&centred, "normalize.std"], Vec::new()))
}

#[cfg(test)]
#[path = "graph_to_onnx_tests.rs"]
mod tests;
