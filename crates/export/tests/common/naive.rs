//! A deliberately simple forward pass (loops, no tricks) of a `ModelGraph` in eval mode,
//! written from PyTorch's definitions: the reference ONNX Runtime is checked against.
//! Nodes are evaluated in order, each output kept by index for the nodes that read it.

use ndarray::{Array2, Array4, ArrayD, Axis, Ix2, Ix4};
use ronin_export::Weights;
use ronin_spec::{Activation, ModelGraph, Node, Op, Source};

fn param<'w>(w: &'w Weights, node: &str, name: &str) -> &'w [f32] {
    &w.get(&format!("{node}.{name}"))
        .unwrap_or_else(|| panic!("{node}.{name} missing"))
        .data
}

fn four(x: ArrayD<f32>) -> Array4<f32> {
    x.into_dimensionality::<Ix4>().expect("4-D")
}

fn out_hw(node: &Node) -> (usize, usize) {
    let [_, oh, ow] = node.output_shape[..] else {
        panic!("{}: image output expected", node.name)
    };
    (oh, ow)
}

/// Output `[N, K]` of the model for `input` `[N, C, H, W]` (or `[N, F]`).
pub fn forward(
    graph: &ModelGraph,
    w: &Weights,
    input: ArrayD<f32>,
    normalize: Option<&(Vec<f32>, Vec<f32>)>,
    softmax: bool,
) -> Array2<f32> {
    let mut x = input;
    if let Some((mean, std)) = normalize {
        let mut a = four(x);
        for ((_, c, _, _), v) in a.indexed_iter_mut() {
            *v = (*v - mean[c]) / std[c];
        }
        x = a.into_dyn();
    }
    let mut outputs: Vec<ArrayD<f32>> = Vec::with_capacity(graph.nodes.len());
    let get = |outputs: &[ArrayD<f32>], s: Source| match s {
        Source::Input => x.clone(),
        Source::Node(i) => outputs[i].clone(),
    };
    for node in &graph.nodes {
        let inputs: Vec<ArrayD<f32>> = node.inputs.iter().map(|&s| get(&outputs, s)).collect();
        outputs.push(apply(node, w, inputs));
    }
    let out = get(&outputs, graph.output)
        .into_dimensionality::<Ix2>()
        .expect("flat output");
    let out_softmax = matches!(graph.output, Source::Node(i) if graph.nodes[i].op == Op::Softmax);
    if softmax && !out_softmax {
        softmax_rows(out)
    } else {
        out
    }
}

fn apply(node: &Node, w: &Weights, mut inputs: Vec<ArrayD<f32>>) -> ArrayD<f32> {
    let n = node.name.as_str();
    if node.op == Op::Concat {
        let views: Vec<_> = inputs.iter().map(|a| a.view()).collect();
        return ndarray::concatenate(Axis(1), &views).expect("concat");
    }
    if node.op == Op::Add {
        assert_eq!(inputs.len(), 2);
        return &inputs[0] + &inputs[1];
    }
    assert_eq!(inputs.len(), 1, "{n}");
    let x = inputs.remove(0);
    match &node.op {
        Op::Conv2d {
            out_channels,
            kernel,
            stride,
            padding,
            dilation,
            groups,
            bias,
            ..
        } => {
            let a = four(x);
            let (b, c, h, wd) = a.dim();
            let (oh, ow) = out_hw(node);
            let wt = param(w, n, "weight");
            let bs = bias.then(|| param(w, n, "bias"));
            let cg = c / groups;
            let fg = out_channels / groups;
            let mut out = Array4::<f32>::zeros((b, *out_channels, oh, ow));
            for ((bi, f, y, xo), o) in out.indexed_iter_mut() {
                let g = f / fg;
                let mut s = bs.map_or(0.0, |bs| bs[f]);
                for ci in 0..cg {
                    for ky in 0..kernel[0] {
                        for kx in 0..kernel[1] {
                            let iy =
                                (y * stride[0] + ky * dilation[0]) as isize - padding[0] as isize;
                            let ix =
                                (xo * stride[1] + kx * dilation[1]) as isize - padding[1] as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                continue;
                            }
                            let wv = wt[((f * cg + ci) * kernel[0] + ky) * kernel[1] + kx];
                            s += wv * a[[bi, g * cg + ci, iy as usize, ix as usize]];
                        }
                    }
                }
                *o = s;
            }
            out.into_dyn()
        }
        Op::MaxPool2d {
            kernel,
            stride,
            padding,
            ..
        } => {
            let a = four(x);
            let (b, c, h, wd) = a.dim();
            let (oh, ow) = out_hw(node);
            let mut out = Array4::<f32>::zeros((b, c, oh, ow));
            for ((bi, ci, y, xo), o) in out.indexed_iter_mut() {
                let mut m = f32::NEG_INFINITY;
                for ky in 0..kernel[0] {
                    for kx in 0..kernel[1] {
                        let iy = (y * stride[0] + ky) as isize - padding[0] as isize;
                        let ix = (xo * stride[1] + kx) as isize - padding[1] as isize;
                        if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                            continue; // padding and ceil_mode overhang never win
                        }
                        m = m.max(a[[bi, ci, iy as usize, ix as usize]]);
                    }
                }
                *o = m;
            }
            out.into_dyn()
        }
        Op::AvgPool2d {
            kernel,
            stride,
            padding,
            count_include_pad,
            ..
        } => {
            // PyTorch's avg_pool2d: the window is clipped to input + padding (the
            // ceil_mode overhang never counts), then to the input for the sum; the divisor
            // is the first size with count_include_pad, the second without.
            let a = four(x);
            let (b, c, h, wd) = a.dim();
            let (oh, ow) = out_hw(node);
            let (ph, pw) = (padding[0] as isize, padding[1] as isize);
            let (h, wd) = (h as isize, wd as isize);
            let mut out = Array4::<f32>::zeros((b, c, oh, ow));
            for ((bi, ci, y, xo), o) in out.indexed_iter_mut() {
                let y0 = (y * stride[0]) as isize - ph;
                let x0 = (xo * stride[1]) as isize - pw;
                let y1 = (y0 + kernel[0] as isize).min(h + ph);
                let x1 = (x0 + kernel[1] as isize).min(wd + pw);
                let padded = (y1 - y0) * (x1 - x0);
                let (y0, x0, y1, x1) = (y0.max(0), x0.max(0), y1.min(h), x1.min(wd));
                let mut s = 0.0;
                for iy in y0..y1 {
                    for ix in x0..x1 {
                        s += a[[bi, ci, iy as usize, ix as usize]];
                    }
                }
                let div = if *count_include_pad {
                    padded
                } else {
                    (y1 - y0) * (x1 - x0)
                };
                *o = s / div as f32;
            }
            out.into_dyn()
        }
        Op::AdaptiveAvgPool2d { output } => {
            let a = four(x);
            let (b, c, h, wd) = a.dim();
            let [oh, ow] = *output;
            let bin = |i: usize, n: usize, m: usize| (i * n / m, ((i + 1) * n).div_ceil(m));
            let mut out = Array4::<f32>::zeros((b, c, oh, ow));
            for ((bi, ci, y, xo), o) in out.indexed_iter_mut() {
                let (y0, y1) = bin(y, h, oh);
                let (x0, x1) = bin(xo, wd, ow);
                let mut s = 0.0;
                for iy in y0..y1 {
                    for ix in x0..x1 {
                        s += a[[bi, ci, iy, ix]];
                    }
                }
                *o = s / ((y1 - y0) * (x1 - x0)) as f32;
            }
            out.into_dyn()
        }
        Op::GlobalAvgPool2d => {
            let a = four(x);
            let (b, c, _, _) = a.dim();
            let m = a
                .mean_axis(Axis(3))
                .and_then(|m| m.mean_axis(Axis(2)))
                .expect("non-empty");
            m.into_shape_with_order((b, c, 1, 1))
                .expect("reshape")
                .into_dyn()
        }
        Op::Flatten => {
            let b = x.shape()[0];
            let f: usize = x.shape()[1..].iter().product();
            x.as_standard_layout()
                .to_owned()
                .into_shape_with_order((b, f))
                .expect("flatten")
                .into_dyn()
        }
        Op::Linear {
            out_features, bias, ..
        } => {
            let a = x.into_dimensionality::<Ix2>().expect("2-D");
            let wt = param(w, n, "weight");
            let wt = Array2::from_shape_vec((*out_features, a.ncols()), wt.to_vec()).expect("w");
            let mut out = a.dot(&wt.t());
            if *bias {
                let bs = param(w, n, "bias");
                for mut row in out.rows_mut() {
                    for (v, b) in row.iter_mut().zip(bs) {
                        *v += b;
                    }
                }
            }
            out.into_dyn()
        }
        Op::Dropout { .. } | Op::Dropout2d { .. } => x,
        Op::BatchNorm { eps, .. } => {
            let (g, b, m, v) = (
                param(w, n, "weight"),
                param(w, n, "bias"),
                param(w, n, "running_mean"),
                param(w, n, "running_var"),
            );
            let mut a = x;
            for (idx, val) in a.indexed_iter_mut() {
                let c = idx[1];
                *val = (*val - m[c]) / (v[c] + *eps as f32).sqrt() * g[c] + b[c];
            }
            a
        }
        Op::LayerNorm { eps, affine, .. } => {
            // Each example over all its elements; weight and bias have the example's shape.
            let per: usize = x.shape()[1..].iter().product();
            let flat = x.as_standard_layout().to_owned();
            let mut data = flat.into_raw_vec_and_offset().0;
            for ex in data.chunks_mut(per) {
                normalize_in_place(ex, *eps);
                if *affine {
                    let (g, bs) = (param(w, n, "weight"), param(w, n, "bias"));
                    for ((v, g), bs) in ex.iter_mut().zip(g).zip(bs) {
                        *v = *v * g + bs;
                    }
                }
            }
            ArrayD::from_shape_vec(x.shape(), data).expect("same shape")
        }
        Op::InstanceNorm2d { eps, affine, .. } => grouped_norm(node, w, x, None, *eps, *affine),
        Op::GroupNorm {
            groups,
            eps,
            affine,
            ..
        } => grouped_norm(node, w, x, Some(*groups), *eps, *affine),
        Op::LocalResponseNorm {
            size,
            alpha,
            beta,
            k,
        } => {
            // PyTorch: b_c = a_c / (k + α/n · Σ_{c' = c − n/2}^{c + (n−1)/2} a_c'²)^β.
            let a = four(x);
            let (_, c, _, _) = a.dim();
            let mut out = a.clone();
            for ((bi, ci, y, xo), o) in out.indexed_iter_mut() {
                let lo = ci.saturating_sub(size / 2);
                let hi = (ci + (size - 1) / 2).min(c - 1);
                let s: f64 = (lo..=hi)
                    .map(|j| f64::from(a[[bi, j, y, xo]]).powi(2))
                    .sum();
                let d = (k + alpha / *size as f64 * s).powf(*beta);
                *o = (f64::from(a[[bi, ci, y, xo]]) / d) as f32;
            }
            out.into_dyn()
        }
        Op::Activation(act) => x.mapv(|v| match act {
            Activation::Relu => v.max(0.0),
            Activation::LeakyRelu { negative_slope } => {
                if v >= 0.0 {
                    v
                } else {
                    v * *negative_slope as f32
                }
            }
            Activation::Elu { alpha } => {
                if v > 0.0 {
                    v
                } else {
                    (*alpha * (f64::from(v).exp() - 1.0)) as f32
                }
            }
            Activation::Gelu => {
                let v = f64::from(v);
                (0.5 * v * (1.0 + erf(v / std::f64::consts::SQRT_2))) as f32
            }
            Activation::Silu => v / (1.0 + (-v).exp()),
            Activation::Sigmoid => 1.0 / (1.0 + (-v).exp()),
            Activation::Tanh => v.tanh(),
        }),
        Op::Softmax => softmax_rows(x.into_dimensionality::<Ix2>().expect("2-D")).into_dyn(),
        Op::Add | Op::Concat => unreachable!("handled above"),
    }
}

/// `(x − mean) / √(var + eps)` with the biased variance, in f64.
fn normalize_in_place(xs: &mut [f32], eps: f64) {
    let len = xs.len() as f64;
    let mean = xs.iter().map(|&v| f64::from(v)).sum::<f64>() / len;
    let var = xs
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / len;
    let inv = 1.0 / (var + eps).sqrt();
    for v in xs {
        *v = ((f64::from(*v) - mean) * inv) as f32;
    }
}

/// InstanceNorm2d (`groups` None: one group per channel) or GroupNorm over (N, C, H, W),
/// then the per-channel affine.
fn grouped_norm(
    node: &Node,
    w: &Weights,
    x: ArrayD<f32>,
    groups: Option<usize>,
    eps: f64,
    affine: bool,
) -> ArrayD<f32> {
    let a = four(x).as_standard_layout().to_owned();
    let (b, c, h, wd) = a.dim();
    let groups = groups.unwrap_or(c);
    let mut data = a.into_raw_vec_and_offset().0;
    for chunk in data.chunks_mut(c / groups * h * wd) {
        normalize_in_place(chunk, eps);
    }
    if affine {
        let (g, bs) = (param(w, &node.name, "weight"), param(w, &node.name, "bias"));
        for (i, v) in data.iter_mut().enumerate() {
            let ch = i / (h * wd) % c;
            *v = *v * g[ch] + bs[ch];
        }
    }
    Array4::from_shape_vec((b, c, h, wd), data)
        .expect("same shape")
        .into_dyn()
}

/// The error function, by its Maclaurin series near 0 and the continued fraction of
/// erfc beyond (|error| < 1e-12, far below the f32 outputs compared).
pub fn erf(x: f64) -> f64 {
    let ax = x.abs();
    let r = if ax < 2.5 {
        // erf x = 2/√π Σ (−1)^n x^(2n+1) / (n! (2n+1))
        let mut term = ax;
        let mut sum = ax;
        let x2 = ax * ax;
        for n in 1..200 {
            term *= -x2 / n as f64;
            let t = term / (2 * n + 1) as f64;
            sum += t;
            if t.abs() < 1e-17 {
                break;
            }
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        // erfc x = e^(−x²)/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + …)))), evaluated bottom-up.
        let mut f = 0.0;
        for k in (1..60).rev() {
            f = (k as f64 / 2.0) / (ax + f);
        }
        1.0 - (-ax * ax).exp() / std::f64::consts::PI.sqrt() / (ax + f)
    };
    r.copysign(x)
}

fn softmax_rows(a: Array2<f32>) -> Array2<f32> {
    let mut a = a;
    for mut row in a.rows_mut() {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        row.mapv_inplace(|v| (v - max).exp());
        let s = row.sum();
        row.mapv_inplace(|v| v / s);
    }
    a
}
