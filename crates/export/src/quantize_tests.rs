//! The quantized export run through ONNX Runtime against the float one, with error
//! bounds derived from the quantization steps, and accepted by `onnx.checker`.

use super::*;
use crate::onnx::ModelProto;
use crate::runtime::{Runtime, SessionOptions};
use crate::{ExportOptions, Weights, to_onnx};
use ndarray::{Array2, Array4};
use prost::Message;
use ronin_spec::graph::build_graph;
use ronin_spec::layer::{LayerSpec as L, Padding, Size2};

fn conv(filters: usize) -> L {
    L::Conv2d {
        filters,
        kernel_size: Size2::Square(3),
        stride: Size2::Square(1),
        padding: Padding::Same,
        dilation: Size2::Square(1),
        groups: 1,
        bias: true,
    }
}

fn linear(units: usize) -> L {
    L::Linear { units, bias: true }
}

/// Fixed pseudo-random inputs in [−1, 1) (negative values give a non-zero zero point).
fn inputs(shape: (usize, usize, usize, usize), seed: u64) -> Array4<f32> {
    let mut state = seed;
    Array4::from_shape_fn(shape, |_| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    })
}

fn export(graph: &ModelGraph, weights: &Weights, quantize: Option<Quantization>) -> Vec<u8> {
    let opts = ExportOptions {
        quantize,
        ..ExportOptions::default()
    };
    to_onnx(graph, weights, &opts).expect("export")
}

fn run(bytes: &[u8], x: &Array4<f32>) -> Array2<f32> {
    let rt = Runtime::global().expect("ONNX Runtime loads");
    let model = rt
        .load_bytes(bytes, &SessionOptions::default())
        .expect("ONNX Runtime loads the model");
    model.run(x.view()).expect("runs")
}

fn op_types(bytes: &[u8]) -> Vec<String> {
    let model = ModelProto::decode(bytes).expect("decodes");
    model
        .graph
        .iter()
        .flat_map(|g| &g.node)
        .map(|n| n.op_type().to_owned())
        .collect()
}

/// Bound on `|int8 − float|` of one layer `y = W·x + b` summing over `fan_in` products:
/// each input is off by at most half its step `s_x`, each weight by half its row's step
/// `s_w`, so each product by `|x|·s_w/2 + |w|·s_x/2 + s_x·s_w/4`; plus float rounding.
fn layer_bound(x: &Array4<f32>, weights: &Weights, key: &str) -> f64 {
    let w = weights.expect(key).expect("weight");
    let fan_in: usize = w.shape.iter().skip(1).product();
    let (lo, hi) = x
        .iter()
        .fold((0.0f32, 0.0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let s_x = f64::from(hi - lo) / 255.0;
    let x_max = f64::from(hi.max(-lo));
    let w_max = w.data.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let s_w = f64::from(w_max) / 127.0;
    let per_product = x_max * s_w / 2.0 + f64::from(w_max) * s_x / 2.0 + s_x * s_w / 4.0;
    fan_in as f64 * per_product + 1e-5
}

fn max_abs_diff(a: &Array2<f32>, b: &Array2<f32>) -> f64 {
    compare(a.view(), b.view())
        .expect("same shape")
        .max_abs_diff
}

#[test]
fn linear_becomes_matmul_integer_within_the_quantization_bound() {
    let graph = build_graph(vec![1, 6, 6], &[L::Flatten, linear(7)]).expect("valid");
    let weights = Weights::pseudo_random(&graph, 3);
    let int8 = export(&graph, &weights, Some(Quantization::DynamicInt8));
    let ops = op_types(&int8);
    assert!(ops.contains(&"DynamicQuantizeLinear".to_owned()), "{ops:?}");
    assert!(ops.contains(&"MatMulInteger".to_owned()), "{ops:?}");
    assert!(!ops.contains(&"Gemm".to_owned()), "{ops:?}");

    let x = inputs((5, 1, 6, 6), 11);
    let float = run(&export(&graph, &weights, None), &x);
    let quantized = run(&int8, &x);
    let key = format!("{}.weight", graph.nodes[1].name);
    let (diff, bound) = (
        max_abs_diff(&quantized, &float),
        layer_bound(&x, &weights, &key),
    );
    eprintln!("int8 vs float {diff:.3e}, bound {bound:.3e}");
    assert!(
        diff <= bound,
        "int8 vs float {diff:.3e} > bound {bound:.3e}"
    );
    assert!(diff > 0.0, "the int8 model should not be the float one");
}

#[test]
fn padded_conv_becomes_conv_integer_within_the_quantization_bound() {
    let graph = build_graph(vec![2, 5, 5], &[conv(3), L::Flatten]).expect("valid");
    let weights = Weights::pseudo_random(&graph, 4);
    let int8 = export(&graph, &weights, Some(Quantization::DynamicInt8));
    let ops = op_types(&int8);
    assert!(ops.contains(&"ConvInteger".to_owned()), "{ops:?}");
    assert!(!ops.contains(&"Conv".to_owned()), "{ops:?}");

    // Borders included: padding must count as a quantized 0, not as the zero point's 0.
    let x = inputs((4, 2, 5, 5), 12);
    let float = run(&export(&graph, &weights, None), &x);
    let quantized = run(&int8, &x);
    let key = format!("{}.weight", graph.nodes[0].name);
    let (diff, bound) = (
        max_abs_diff(&quantized, &float),
        layer_bound(&x, &weights, &key),
    );
    eprintln!("int8 vs float {diff:.3e}, bound {bound:.3e}");
    assert!(
        diff <= bound,
        "int8 vs float {diff:.3e} > bound {bound:.3e}"
    );
}

fn cnn() -> ModelGraph {
    let pool = L::MaxPool2d {
        kernel_size: Size2::Square(2),
        stride: None,
        padding: Padding::Valid,
        ceil_mode: false,
    };
    build_graph(
        vec![1, 8, 8],
        &[
            conv(4),
            L::ReLU,
            pool,
            L::Flatten,
            linear(16),
            L::ReLU,
            linear(5),
        ],
    )
    .expect("valid")
}

#[test]
fn cnn_quantizes_every_conv_and_linear_and_keeps_its_answers() {
    let graph = cnn();
    let weights = Weights::pseudo_random(&graph, 5);
    let int8 = export(&graph, &weights, Some(Quantization::DynamicInt8));
    let ops = op_types(&int8);
    let count = |op: &str| ops.iter().filter(|o| *o == op).count();
    assert_eq!(
        (count("ConvInteger"), count("MatMulInteger")),
        (1, 2),
        "{ops:?}"
    );
    assert_eq!(count("DynamicQuantizeLinear"), 3, "{ops:?}");
    assert_eq!((count("Conv"), count("Gemm")), (0, 0), "{ops:?}");
    assert_eq!(
        Quantization::DynamicInt8.quantized_ops(&graph),
        ["Conv", "Gemm"]
    );
    assert_eq!(Quantization::DynamicInt8.quantized_nodes(&graph), 3);

    // Linear only: the convolution stays float32.
    let linear_only = export(&graph, &weights, Some(Quantization::DynamicInt8LinearOnly));
    let lin_ops = op_types(&linear_only);
    assert!(
        lin_ops.contains(&"Conv".to_owned()) && !lin_ops.contains(&"ConvInteger".to_owned()),
        "{lin_ops:?}"
    );
    assert_eq!(
        Quantization::DynamicInt8LinearOnly.quantized_ops(&graph),
        ["Gemm"]
    );

    let x = inputs((32, 1, 8, 8), 13);
    let float = run(&export(&graph, &weights, None), &x);
    let quantized = run(&int8, &x);
    let scale = float.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let a = agreement(quantized.view(), float.view()).expect("same shape");
    // Three layers of 8-bit rounding: a few percent of the output range.
    assert!(
        a.max_abs_diff <= 0.05 * f64::from(scale),
        "int8 vs float {:.3e}, outputs up to {scale:.3e}",
        a.max_abs_diff
    );
    eprintln!("{a:?}, outputs up to {scale:.3e}");
    assert!(a.top1_agreement >= MIN_TOP1_AGREEMENT, "{a:?}");
}

#[test]
fn onnx_checker_accepts_the_quantized_model() {
    let python = crate::test_support::venv_python();
    let graph = cnn();
    let weights = Weights::pseudo_random(&graph, 6);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cnn.int8.onnx");
    let bytes = export(&graph, &weights, Some(Quantization::DynamicInt8));
    crate::write_atomic(&path, &bytes).expect("write");
    let out = std::process::Command::new(&python)
        .args([
            "-c",
            "import sys, onnx\nonnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)\nprint('ok')",
        ])
        .arg(&path)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "onnx.checker rejected the int8 model: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
