//! A model summary in the manner of Keras' `model.summary()`.

use std::fmt::Write;

use crate::graph::{ModelGraph, Node};
use crate::layer::{Activation, Op};
use crate::receptive::receptive_fields;

/// One line of the summary per node, then totals.
pub fn render(graph: &ModelGraph) -> String {
    render_frozen(graph, 0)
}

/// [`render`] for a model whose nodes before `frozen_until` are frozen: their parameters
/// count as non-trainable, as Keras counts them.
pub fn render_frozen(graph: &ModelGraph, frozen_until: usize) -> String {
    let fields = receptive_fields(graph);
    let rows: Vec<[String; 5]> = graph
        .nodes
        .iter()
        .zip(&fields)
        .map(|(n, rf)| {
            [
                n.name.clone(),
                describe(n),
                fmt_shape(&n.output_shape),
                rf.describe(),
                group(n.trainable_count()),
            ]
        })
        .collect();
    let headers = ["Layer", "Type", "Output shape", "Receptive field", "Params"];
    let mut widths = headers.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let total_width = widths.iter().sum::<usize>() + 4 * 3;
    let mut out = String::new();
    let line = |out: &mut String, cells: [&str; 5]| {
        let _ = writeln!(
            out,
            "{:<w0$}   {:<w1$}   {:<w2$}   {:>w3$}   {:>w4$}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4]
        );
    };
    let _ = writeln!(out, "Input: {}", fmt_shape(&graph.input_shape));
    line(&mut out, headers);
    let _ = writeln!(out, "{}", "─".repeat(total_width));
    for r in &rows {
        line(&mut out, [&r[0], &r[1], &r[2], &r[3], &r[4]]);
    }
    let _ = writeln!(out, "{}", "─".repeat(total_width));
    let params = graph.trainable_count();
    let frozen: usize = graph.nodes[..frozen_until.min(graph.nodes.len())]
        .iter()
        .map(Node::trainable_count)
        .sum();
    let buffers: usize = graph
        .params()
        .filter(|p| !p.trainable)
        .map(|p| p.numel())
        .sum();
    let _ = writeln!(out, "Total params: {}", group(params + buffers));
    let _ = writeln!(out, "Trainable params: {}", group(params - frozen));
    let _ = writeln!(out, "Non-trainable params: {}", group(buffers + frozen));
    if frozen > 0 {
        let _ = writeln!(
            out,
            "Frozen: {} params of the layers before {}",
            group(frozen),
            graph.nodes[frozen_until].name
        );
    }
    let _ = writeln!(
        out,
        "Parameters as PyTorch counts them (no buffers): {}",
        group(params)
    );
    let _ = writeln!(out, "Weight memory (fp32): {}", bytes(graph.weight_bytes()));
    out
}

fn describe(n: &Node) -> String {
    match &n.op {
        Op::Conv2d {
            out_channels,
            kernel,
            stride,
            padding,
            ..
        } => {
            format!(
                "Conv2d {out_channels} {}×{} s{} p{}",
                kernel[0], kernel[1], stride[0], padding[0]
            )
        }
        Op::MaxPool2d {
            kernel,
            stride,
            ceil_mode,
            ..
        } => format!(
            "MaxPool2d {}×{} s{}{}",
            kernel[0],
            kernel[1],
            stride[0],
            if *ceil_mode { " ceil" } else { "" }
        ),
        Op::AvgPool2d { kernel, stride, .. } => {
            format!("AvgPool2d {}×{} s{}", kernel[0], kernel[1], stride[0])
        }
        Op::AdaptiveAvgPool2d { output } => {
            format!("AdaptiveAvgPool2d {}×{}", output[0], output[1])
        }
        Op::GlobalAvgPool2d => "GlobalAvgPool2d".into(),
        Op::Flatten => "Flatten".into(),
        Op::Linear { out_features, .. } => format!("Linear {out_features}"),
        Op::Dropout { rate } => format!("Dropout {rate}"),
        Op::Dropout2d { rate } => format!("Dropout2d {rate}"),
        Op::BatchNorm { spatial, .. } => if *spatial {
            "BatchNorm2d"
        } else {
            "BatchNorm1d"
        }
        .into(),
        Op::LayerNorm { .. } => "LayerNorm".into(),
        Op::InstanceNorm2d { .. } => "InstanceNorm2d".into(),
        Op::GroupNorm { groups, .. } => format!("GroupNorm {groups}"),
        Op::LocalResponseNorm { size, .. } => format!("LocalResponseNorm {size}"),
        Op::Activation(Activation::Relu) => "ReLU".into(),
        Op::Activation(Activation::LeakyRelu { negative_slope }) => {
            format!("LeakyReLU {negative_slope}")
        }
        Op::Activation(Activation::Elu { alpha }) => format!("ELU {alpha}"),
        Op::Activation(Activation::Gelu) => "GELU".into(),
        Op::Activation(Activation::Silu) => "SiLU".into(),
        Op::Activation(Activation::Sigmoid) => "Sigmoid".into(),
        Op::Activation(Activation::Tanh) => "Tanh".into(),
        Op::Add => format!("Add ({} inputs)", n.inputs.len()),
        Op::Concat => format!("Concat ({} branches)", n.inputs.len()),
        Op::Softmax => "Softmax".into(),
    }
}

/// `(N, 32, 28, 28)`.
pub fn fmt_shape(shape: &[usize]) -> String {
    let dims: Vec<String> = std::iter::once("N".to_owned())
        .chain(shape.iter().map(usize::to_string))
        .collect();
    format!("({})", dims.join(", "))
}

/// 804554 → "804,554".
pub fn group(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn bytes(n: usize) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.2} MiB", n as f64 / (1 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        assert_eq!(group(804_554), "804,554");
        assert_eq!(group(1_290), "1,290");
        assert_eq!(group(0), "0");
        assert_eq!(group(77_070_848), "77,070,848");
    }
}
