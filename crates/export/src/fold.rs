//! BatchNorm folding: a BatchNorm that only normalises one convolution's output is merged
//! into that convolution's weight and bias, so the exported graph has one node fewer.
//!
//! In eval mode `BN(conv(x)) = γ · (W·x + b − μ) / √(σ² + ε) + β`; per output channel
//! `c`, with `s_c = γ_c / √(σ²_c + ε)`, that is a convolution with weight `W_c · s_c` and
//! bias `(b_c − μ_c) · s_c + β_c` (`b_c = 0` for a convolution without bias, which then
//! gets one). Arithmetic is done in f64 and rounded once to f32.

use ronin_spec::graph::Param;
use ronin_spec::{ModelGraph, Node, Op, Source};

use crate::error::ExportError;
use crate::weights::Weights;

/// One BatchNorm merged into a convolution, by node name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoldedPair {
    pub conv: String,
    pub batch_norm: String,
}

/// A graph with its foldable BatchNorms merged into their convolutions, and its weights.
#[derive(Debug, Clone)]
pub struct Folded {
    pub graph: ModelGraph,
    pub weights: Weights,
    /// What was merged, in graph order; empty when nothing could be.
    pub pairs: Vec<FoldedPair>,
}

/// `(conv index, batch norm index)` of every BatchNorm whose single input is a Conv2d
/// node that nothing else reads (no other node, not the graph output).
pub fn foldable_batch_norms(graph: &ModelGraph) -> Vec<(usize, usize)> {
    let readers = |j: usize| {
        graph
            .nodes
            .iter()
            .filter(|n| n.inputs.contains(&Source::Node(j)))
            .count()
    };
    graph
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| {
            let Op::BatchNorm { spatial: true, .. } = n.op else {
                return None;
            };
            let &[Source::Node(j)] = n.inputs.as_slice() else {
                return None;
            };
            let conv = graph.nodes.get(j)?;
            let single_reader = readers(j) == 1 && graph.output != Source::Node(j);
            (matches!(conv.op, Op::Conv2d { .. }) && single_reader).then_some((j, i))
        })
        .collect()
}

/// Merges every [foldable](foldable_batch_norms) BatchNorm into its convolution. The
/// weights must match the graph ([`Weights::check`]); the result's weights match the
/// result's graph. Nodes reading a folded BatchNorm read its convolution instead.
pub fn fold_batch_norm(graph: &ModelGraph, weights: &Weights) -> Result<Folded, ExportError> {
    let pairs = foldable_batch_norms(graph);
    let mut weights = weights.clone();
    let mut nodes: Vec<Node> = graph.nodes.clone();
    for &(c, b) in &pairs {
        fold_pair(&mut nodes, c, b, &mut weights)?;
    }
    // Drop the BatchNorm nodes and renumber: a folded BatchNorm's readers read its conv.
    let folded_into: std::collections::HashMap<usize, usize> =
        pairs.iter().map(|&(c, b)| (b, c)).collect();
    let mut new_index = vec![0usize; nodes.len()];
    let mut kept = Vec::with_capacity(nodes.len() - pairs.len());
    for (i, n) in nodes.into_iter().enumerate() {
        if folded_into.contains_key(&i) {
            continue;
        }
        new_index[i] = kept.len();
        kept.push(n);
    }
    let remap = |s: Source| match s {
        Source::Input => Source::Input,
        Source::Node(j) => Source::Node(new_index[folded_into.get(&j).copied().unwrap_or(j)]),
    };
    for n in &mut kept {
        for s in &mut n.inputs {
            *s = remap(*s);
        }
    }
    let names = pairs
        .iter()
        .map(|&(c, b)| FoldedPair {
            conv: graph.nodes[c].name.clone(),
            batch_norm: graph.nodes[b].name.clone(),
        })
        .collect();
    Ok(Folded {
        graph: ModelGraph {
            input_shape: graph.input_shape.clone(),
            nodes: kept,
            output: remap(graph.output),
        },
        weights,
        pairs: names,
    })
}

/// Rewrites conv node `c`'s weight and bias with BatchNorm node `b`'s statistics, gives
/// the conv a bias when it had none, and removes the BatchNorm's tensors.
fn fold_pair(
    nodes: &mut [Node],
    c: usize,
    b: usize,
    weights: &mut Weights,
) -> Result<(), ExportError> {
    let (conv_name, bn_name) = (nodes[c].name.clone(), nodes[b].name.clone());
    let Op::BatchNorm { eps, features, .. } = nodes[b].op else {
        return Err(node_err(&bn_name, "is not a BatchNorm".into()));
    };
    let Op::Conv2d {
        out_channels,
        ref mut bias,
        ..
    } = nodes[c].op
    else {
        return Err(node_err(&conv_name, "is not a Conv2d".into()));
    };
    if out_channels != features {
        return Err(node_err(
            &bn_name,
            format!("normalises {features} channels, but {conv_name} has {out_channels}"),
        ));
    }
    let had_bias = std::mem::replace(bias, true);
    let bn = |s: &str| {
        weights
            .expect(&format!("{bn_name}.{s}"))
            .map(|t| t.data.clone())
    };
    let (gamma, beta, mean, var) = (
        bn("weight")?,
        bn("bias")?,
        bn("running_mean")?,
        bn("running_var")?,
    );
    let scale: Vec<f64> = gamma
        .iter()
        .zip(&var)
        .map(|(&g, &v)| f64::from(g) / (f64::from(v) + eps).sqrt())
        .collect();
    let w_key = format!("{conv_name}.weight");
    let b_key = format!("{conv_name}.bias");
    let w = weights.expect(&w_key)?.clone();
    let per_channel = w.data.len() / out_channels.max(1);
    let new_w: Vec<f32> = w
        .data
        .chunks(per_channel.max(1))
        .zip(&scale)
        .flat_map(|(row, &s)| row.iter().map(move |&v| (f64::from(v) * s) as f32))
        .collect();
    let old_b = if had_bias {
        weights.expect(&b_key)?.data.clone()
    } else {
        vec![0.0; out_channels]
    };
    let new_b: Vec<f32> = (0..out_channels)
        .map(|k| {
            ((f64::from(old_b[k]) - f64::from(mean[k])) * scale[k] + f64::from(beta[k])) as f32
        })
        .collect();
    weights.insert(w_key, w.shape, new_w)?;
    weights.insert(b_key.clone(), vec![out_channels], new_b)?;
    for s in ["weight", "bias", "running_mean", "running_var"] {
        weights.remove(&format!("{bn_name}.{s}"));
    }
    if !had_bias {
        nodes[c].params.push(Param {
            name: b_key,
            shape: vec![out_channels],
            trainable: true,
        });
    }
    Ok(())
}

fn node_err(node: &str, reason: String) -> ExportError {
    ExportError::Node {
        node: node.to_owned(),
        reason: format!("cannot fold BatchNorm: {reason}"),
    }
}

#[cfg(test)]
#[path = "fold_tests.rs"]
mod tests;
