//! Linear and Conv2d as dynamically quantized integer ops; see [`crate::quantize`].

use super::Builder;
use crate::error::ExportError;
use crate::onnx::AttributeProto;
use crate::onnx::tensor_proto::DataType;
use crate::proto_build::attr_int;
use crate::weights::Weights;

/// Largest magnitude of a quantized weight (symmetric int8).
const W_MAX: f32 = 127.0;

/// `rows` (output channels) of `w`, each quantized symmetrically to int8: the values and
/// one scale per row.
pub(crate) fn quantize_rows(w: &[f32], rows: usize) -> (Vec<i8>, Vec<f32>) {
    let per_row = w.len() / rows.max(1);
    let mut q = Vec::with_capacity(w.len());
    let mut scales = Vec::with_capacity(rows);
    for row in w.chunks(per_row.max(1)) {
        let max = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let scale = if max > 0.0 && max.is_finite() {
            max / W_MAX
        } else {
            1.0
        };
        q.extend(
            row.iter()
                .map(|&v| (v / scale).round().clamp(-W_MAX, W_MAX) as i8),
        );
        scales.push(scale);
    }
    (q, scales)
}

/// `int32 accumulator → float · (x_scale · w_scale) (+ bias)`: the float tail shared by
/// both ops. `scale_shape` broadcasts the per-channel scales against the output.
#[allow(clippy::too_many_arguments)]
fn dequantize(
    b: &mut Builder,
    weights: &Weights,
    name: &str,
    acc: &str,
    x_scale: &str,
    w_scales: &[f32],
    scale_shape: &[usize],
    bias: bool,
) -> Result<String, ExportError> {
    let w_scale = b.constant(name, "weight_scale", scale_shape, w_scales);
    let f = b.op(
        "Cast",
        name,
        &[acc],
        vec![attr_int("to", DataType::Float as i64)],
    );
    let scale = b.op("Mul", name, &[x_scale, &w_scale], Vec::new());
    let y = b.op("Mul", name, &[&f, &scale], Vec::new());
    if !bias {
        return Ok(y);
    }
    let bias = b.weight(weights, &format!("{name}.bias"), Some(scale_shape))?;
    Ok(b.op("Add", name, &[&y, &bias], Vec::new()))
}

/// Linear (`[out, in]` weight) as `MatMulInteger` with a `[in, out]` int8 weight.
///
/// # Shapes
/// `x`: `[N, in]`; returns `[N, out]`.
pub(super) fn linear(
    b: &mut Builder,
    weights: &Weights,
    name: &str,
    x: &str,
    bias: bool,
) -> Result<String, ExportError> {
    let w = weights.expect(&format!("{name}.weight"))?;
    let &[out, inp] = w.shape.as_slice() else {
        return Err(ExportError::Node {
            node: name.to_owned(),
            reason: format!(
                "a Linear weight is [out, in], found {:?}; cannot quantize it",
                w.shape
            ),
        });
    };
    let (q, scales) = quantize_rows(&w.data, out);
    let mut t = vec![0i8; q.len()];
    for o in 0..out {
        for i in 0..inp {
            t[i * out + o] = q[o * inp + i];
        }
    }
    let w_q = b.int8_constant(name, "weight_quantized", &[inp, out], &t);
    let w_zp = b.int8_constant(name, "weight_zero_point", &[], &[0]);
    let [x_q, x_scale, x_zp] = b.dynamic_quantize(x);
    let acc = b.op(
        "MatMulInteger",
        name,
        &[&x_q, &w_q, &x_zp, &w_zp],
        Vec::new(),
    );
    dequantize(b, weights, name, &acc, &x_scale, &scales, &[out], bias)
}

/// Conv2d (`[out, in/groups, kh, kw]` weight) as `ConvInteger` with the convolution's
/// attributes (`kernel_shape`, `strides`, `pads`, `dilations`, `group`).
///
/// # Shapes
/// `x`: `[N, in, H, W]`; returns `[N, out, H', W']`.
pub(super) fn conv(
    b: &mut Builder,
    weights: &Weights,
    name: &str,
    x: &str,
    bias: bool,
    attrs: Vec<AttributeProto>,
) -> Result<String, ExportError> {
    let w = weights.expect(&format!("{name}.weight"))?;
    let Some(&out) = w.shape.first().filter(|_| w.shape.len() == 4) else {
        return Err(ExportError::Node {
            node: name.to_owned(),
            reason: format!(
                "a Conv2d weight is [out, in/groups, kh, kw], found {:?}; cannot quantize it",
                w.shape
            ),
        });
    };
    let shape = w.shape.clone();
    let (q, scales) = quantize_rows(&w.data, out);
    let w_q = b.int8_constant(name, "weight_quantized", &shape, &q);
    let w_zp = b.int8_constant(name, "weight_zero_point", &[], &[0]);
    let [x_q, x_scale, x_zp] = b.dynamic_quantize(x);
    let acc = b.op("ConvInteger", name, &[&x_q, &w_q, &x_zp, &w_zp], attrs);
    dequantize(
        b,
        weights,
        name,
        &acc,
        &x_scale,
        &scales,
        &[out, 1, 1],
        bias,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_quantized_symmetrically() {
        let (q, s) = quantize_rows(&[1.0, -0.25, 0.0, 0.0, 0.254, -0.126], 2);
        assert_eq!(q[..3], [127, -32, 0]);
        assert_eq!(q[3..], [0, 127, -63]);
        assert!((s[0] - 1.0 / 127.0).abs() < 1e-9 && (s[1] - 0.002).abs() < 1e-9);
        // An all-zero row keeps scale 1 (no division by zero).
        assert_eq!(quantize_rows(&[0.0, 0.0], 1), (vec![0, 0], vec![1.0]));
    }
}
