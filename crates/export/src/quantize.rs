//! Dynamic int8 quantization of the export, in the style of ONNX Runtime's
//! `quantize_dynamic` (and PyTorch's `quantize_dynamic`, which does it for Linear only).
//!
//! With [`ExportOptions::quantize`](crate::ExportOptions) set, every Linear (`Gemm`) and
//! every Conv2d (`Conv`) is written as
//!
//! ```text
//! DynamicQuantizeLinear(x) → x_q (uint8), x_scale, x_zero_point      computed per batch
//! MatMulInteger(x_q, W_q, x_zp, 0) / ConvInteger(x_q, W_q, x_zp, 0)  → int32
//! Cast(float) · (x_scale · w_scale) + bias
//! ```
//!
//! The weights are quantized once, at export, symmetrically per output channel:
//! `w_scale[c] = max|W[c]| / 127`, `W_q = round(W / w_scale)` in int8 `[−127, 127]`, zero
//! point 0 (one scalar for every channel, so the per-channel part lives only in the
//! float `Mul` after the integer op, which every ONNX Runtime kernel accepts). Inputs are
//! quantized at run time to uint8 over `[min(x, 0), max(x, 0)]`. ONNX Runtime 1.31's CPU
//! provider runs `MatMulInteger` and `ConvInteger` with uint8 × int8; on x86 CPUs without
//! VNNI its u8 × s8 kernels can saturate int16 partial sums (ONNX Runtime's `reduce_range`
//! caveat), which the top-1 check at export would show.
//!
//! [`Quantization::DynamicInt8LinearOnly`] leaves the convolutions float32. Everything
//! else (pooling, activations, normalisations) stays float32.

use ndarray::{ArrayView2, Axis};
use ronin_spec::{ModelGraph, Op};
use serde::{Deserialize, Serialize};

use crate::error::ExportError;
use crate::verify::compare;

/// Lowest share of reference examples whose top-1 class the int8 model must keep for
/// `ronin export --quantize` to write it.
pub const MIN_TOP1_AGREEMENT: f64 = 0.9;

/// How the exported model is quantized: int8 weights, uint8 activations quantized per
/// batch at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantization {
    /// Conv2d and Linear.
    DynamicInt8,
    /// Linear only, as PyTorch's `quantize_dynamic`; convolutions stay float32 (ONNX
    /// Runtime's float convolutions are much faster on CPU than its `ConvInteger`).
    DynamicInt8LinearOnly,
}

impl Quantization {
    /// The name recorded in the manifest's `quantization`: `"dynamic-int8"` for both
    /// (`quantized_ops` tells them apart).
    pub fn name(self) -> &'static str {
        "dynamic-int8"
    }

    /// Whether Conv2d becomes `ConvInteger`.
    pub fn quantizes_conv(self) -> bool {
        matches!(self, Self::DynamicInt8)
    }

    fn rewrites(self, op: &Op) -> bool {
        match op {
            Op::Linear { .. } => true,
            Op::Conv2d { .. } => self.quantizes_conv(),
            _ => false,
        }
    }

    /// ONNX op types of the float export that this quantization turns into integer ops
    /// and that `graph` has, sorted: a subset of `["Conv", "Gemm"]`.
    pub fn quantized_ops(self, graph: &ModelGraph) -> Vec<String> {
        let mut ops: Vec<String> = graph
            .nodes
            .iter()
            .filter(|n| self.rewrites(&n.op))
            .map(|n| match n.op {
                Op::Conv2d { .. } => "Conv".to_owned(),
                _ => "Gemm".to_owned(),
            })
            .collect();
        ops.sort();
        ops.dedup();
        ops
    }

    /// Graph nodes this quantization rewrites.
    pub fn quantized_nodes(self, graph: &ModelGraph) -> usize {
        graph.nodes.iter().filter(|n| self.rewrites(&n.op)).count()
    }
}

/// Where the quantized model goes beside the float one: `exports/net.onnx` →
/// `exports/net.int8.onnx` (its manifest is then `exports/net.int8.json`).
pub fn quantized_path(model_path: &std::path::Path) -> std::path::PathBuf {
    let stem = model_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    model_path.with_file_name(format!("{stem}.int8.onnx"))
}

/// How close a quantized model's outputs are to the reference's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// `max |actual − expected|` over every output.
    pub max_abs_diff: f64,
    /// Share of examples whose largest output is in the same class in both.
    pub top1_agreement: f64,
    /// Examples compared.
    pub n_samples: usize,
}

/// Compares two `[N, K]` outputs: largest absolute difference and top-1 agreement.
pub fn agreement(
    actual: ArrayView2<'_, f32>,
    expected: ArrayView2<'_, f32>,
) -> Result<Agreement, ExportError> {
    let parity = compare(actual, expected)?;
    let argmax = |row: ndarray::ArrayView1<'_, f32>| {
        row.iter()
            .enumerate()
            .fold(None, |best: Option<(usize, f32)>, (i, &v)| match best {
                Some((_, b)) if b >= v || v.is_nan() => best,
                _ => Some((i, v)),
            })
            .map(|(i, _)| i)
    };
    let same = actual
        .axis_iter(Axis(0))
        .zip(expected.axis_iter(Axis(0)))
        .filter(|(a, e)| argmax(a.view()) == argmax(e.view()))
        .count();
    let n = actual.nrows();
    Ok(Agreement {
        max_abs_diff: parity.max_abs_diff,
        top1_agreement: if n == 0 { 1.0 } else { same as f64 / n as f64 },
        n_samples: n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use std::path::Path;

    #[test]
    fn agreement_counts_same_top1() {
        let a = array![[0.1f32, 0.9], [0.6, 0.4], [0.0, 1.0]];
        let e = array![[0.2f32, 0.8], [0.3, 0.7], [0.1, 0.9]];
        let g = agreement(a.view(), e.view()).expect("same shape");
        assert!((g.top1_agreement - 2.0 / 3.0).abs() < 1e-12);
        assert!((g.max_abs_diff - 0.3).abs() < 1e-6);
        assert_eq!(g.n_samples, 3);
    }

    #[test]
    fn quantized_model_sits_beside_the_float_one() {
        assert_eq!(
            quantized_path(Path::new("exports/net.onnx")),
            Path::new("exports/net.int8.onnx")
        );
        assert_eq!(
            crate::Manifest::path_for(quantized_path(Path::new("net.onnx"))),
            Path::new("net.int8.json")
        );
    }
}

#[cfg(test)]
#[path = "quantize_tests.rs"]
mod ort_tests;
