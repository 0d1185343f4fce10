//! The graph ops ONNX has no single operator for, built from several.

use super::{Builder, scale_and_bias};
use crate::error::ExportError;
use crate::proto_build::{attr_float, attr_ints};
use crate::weights::Weights;

/// PyTorch's adaptive average pooling of an `input`-sized map to `output`: bin `i` of
/// an axis averages `⌊i·n/m⌋ .. ⌈(i+1)·n/m⌉`.
pub(super) fn adaptive_avg_pool(
    b: &mut Builder,
    name: &str,
    x: &str,
    input: [usize; 2],
    output: [usize; 2],
) -> String {
    let [h, w] = input;
    let [oh, ow] = output;
    if input == output {
        return x.to_owned();
    }
    if output == [1, 1] {
        return b.op("GlobalAveragePool", name, &[x], Vec::new());
    }
    if h % oh == 0 && w % ow == 0 {
        // Equal bins that tile the input: a plain average pool.
        let k = [h / oh, w / ow];
        let attrs = vec![
            attr_ints("kernel_shape", &k),
            attr_ints("strides", &k),
            attr_ints("pads", &[0; 4]),
        ];
        return b.op("AveragePool", name, &[x], attrs);
    }
    // Uneven or overlapping bins (and outputs larger than the input): the pooling is
    // linear and separable, Y = A_h · X · A_wᵀ with A the [out, in] bin-averaging matrix.
    let a_h = bin_matrix(h, oh);
    let a_w = bin_matrix(w, ow);
    let mut a_w_t = vec![0.0; w * ow];
    for j in 0..ow {
        for i in 0..w {
            a_w_t[i * ow + j] = a_w[j * w + i];
        }
    }
    let rows = b.constant(name, "rows", &[oh, h], &a_h);
    let cols = b.constant(name, "cols", &[w, ow], &a_w_t);
    let y = b.op("MatMul", name, &[x, &cols], Vec::new());
    b.op("MatMul", name, &[&rows, &y], Vec::new())
}

/// Row-major `[out, n]` matrix whose row `i` averages adaptive bin `i`.
fn bin_matrix(n: usize, out: usize) -> Vec<f32> {
    let mut m = vec![0.0; out * n];
    for i in 0..out {
        let start = i * n / out;
        let end = ((i + 1) * n).div_ceil(out);
        let len = (end - start) as f32;
        for v in &mut m[i * n + start..i * n + end] {
            *v = 1.0 / len;
        }
    }
    m
}

/// GroupNorm: `[N, C, H, W]` → `[N, G, C/G·H·W]`, normalised per row by
/// InstanceNormalization, back to `[N, C, H, W]`, then the per-channel affine.
#[allow(clippy::too_many_arguments)]
pub(super) fn group_norm(
    b: &mut Builder,
    weights: &Weights,
    name: &str,
    x: &str,
    groups: usize,
    [c, h, w]: [usize; 3],
    eps: f64,
    affine: bool,
) -> Result<String, ExportError> {
    // A 0 in a Reshape target copies that axis of the input (allowzero = 0): the batch.
    let to_groups = b.shape_constant(name, "group_shape", &[0, groups as i64, -1]);
    let r = b.op("Reshape", name, &[x, &to_groups], Vec::new());
    let ones = b.constant(name, "group_scale", &[groups], &vec![1.0; groups]);
    let zeros = b.constant(name, "group_bias", &[groups], &vec![0.0; groups]);
    let attrs = vec![attr_float("epsilon", eps as f32)];
    let normed = b.op("InstanceNormalization", name, &[&r, &ones, &zeros], attrs);
    let back = b.shape_constant(name, "shape", &[0, c as i64, h as i64, w as i64]);
    let mut y = b.op("Reshape", name, &[&normed, &back], Vec::new());
    if affine {
        let (scale, bias) = scale_and_bias(b, weights, name, true, &[c], Some(&[c, 1, 1]))?;
        y = b.op("Mul", name, &[&y, &scale], Vec::new());
        y = b.op("Add", name, &[&y, &bias], Vec::new());
    }
    Ok(y)
}

/// LocalResponseNorm of an even `size`, where ONNX's LRN window (one channel more after
/// than before) is the mirror of PyTorch's (`size/2` before, `size/2 − 1` after):
/// `x / (k + α/size · Σ_window x²)^β`, the windowed sum a 1×1 convolution with a band.
#[allow(clippy::too_many_arguments)]
pub(super) fn lrn_even(
    b: &mut Builder,
    name: &str,
    x: &str,
    channels: usize,
    size: usize,
    alpha: f64,
    beta: f64,
    k: f64,
) -> String {
    let mut band = vec![0.0; channels * channels];
    let coeff = (alpha / size as f64) as f32;
    for o in 0..channels {
        let lo = o.saturating_sub(size / 2);
        let hi = (o + (size - 1) / 2).min(channels - 1);
        for v in &mut band[o * channels + lo..=o * channels + hi] {
            *v = coeff;
        }
    }
    let band = b.constant(name, "band", &[channels, channels, 1, 1], &band);
    let k = b.constant(name, "k", &[], &[k as f32]);
    let beta = b.constant(name, "beta", &[], &[beta as f32]);
    let sq = b.op("Mul", name, &[x, x], Vec::new());
    let attrs = vec![attr_ints("kernel_shape", &[1, 1])];
    let sum = b.op("Conv", name, &[&sq, &band], attrs);
    let d = b.op("Add", name, &[&sum, &k], Vec::new());
    let p = b.op("Pow", name, &[&d, &beta], Vec::new());
    b.op("Div", name, &[x, &p], Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_follow_pytorch() {
        // 5 → 3: bins 0..2, 1..4, 3..5.
        let m = bin_matrix(5, 3);
        let half = 0.5;
        let third = 1.0 / 3.0;
        assert_eq!(
            m,
            vec![
                half, half, 0.0, 0.0, 0.0, //
                0.0, third, third, third, 0.0, //
                0.0, 0.0, 0.0, half, half
            ]
        );
        // 1 → 3: every bin is the one element.
        assert_eq!(bin_matrix(1, 3), vec![1.0; 3]);
    }
}
