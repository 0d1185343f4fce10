//! Static QDQ quantization: the graph's structure, its answers through ONNX Runtime
//! against the float model's, and ONNX's checker and ONNX Runtime's fusions on it.

use super::*;
use crate::runtime::{OptimizationLevel, Runtime, SessionOptions};
use crate::{ExportOptions, Weights, agreement, to_onnx};
use ndarray::{Array2, Array4};
use ronin_spec::ModelGraph;
use ronin_spec::graph::build_graph;
use ronin_spec::layer::{LayerSpec as L, Padding, Size2};

fn cnn() -> ModelGraph {
    let conv = L::Conv2d {
        filters: 4,
        kernel_size: Size2::Square(3),
        stride: Size2::Square(1),
        padding: Padding::Same,
        dilation: Size2::Square(1),
        groups: 1,
        bias: true,
    };
    let pool = L::MaxPool2d {
        kernel_size: Size2::Square(2),
        stride: None,
        padding: Padding::Valid,
        ceil_mode: false,
    };
    let linear = |units| L::Linear { units, bias: true };
    build_graph(
        vec![1, 8, 8],
        &[
            conv,
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

/// Fixed pseudo-random inputs in [−1, 1).
fn inputs(n: usize, seed: u64) -> Array4<f32> {
    let mut state = seed;
    Array4::from_shape_fn((n, 1, 8, 8), |_| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    })
}

fn load(bytes: &[u8], optimization: OptimizationLevel) -> crate::OnnxModel {
    let rt = Runtime::global().expect("ONNX Runtime loads");
    let opts = SessionOptions {
        optimization,
        ..SessionOptions::default()
    };
    rt.load_bytes(bytes, &opts)
        .expect("ONNX Runtime loads the model")
}

/// The float model of `cnn()`, and its static int8 model calibrated on `batches` of 32.
fn quantized(batches: usize) -> (Vec<u8>, StaticModel) {
    let graph = cnn();
    let weights = Weights::pseudo_random(&graph, 5);
    let float = to_onnx(&graph, &weights, &ExportOptions::default()).expect("export");
    let mut q = StaticQuantizer::new(&float).expect("plans");
    let calib = load(
        &q.calibration_model().expect("calibration model"),
        OptimizationLevel::All,
    );
    for b in 0..batches {
        q.calibrate(&calib, inputs(32, 100 + b as u64).view())
            .expect("calibrates");
    }
    (float, q.finish().expect("quantizes"))
}

fn graph(bytes: &[u8]) -> GraphProto {
    ModelProto::decode(bytes)
        .expect("decodes")
        .graph
        .expect("graph")
}

#[test]
fn uint8_parameters_cover_zero_and_the_range() {
    let (s, z) = Range {
        min: -1.0,
        max: 3.0,
    }
    .uint8_params();
    assert!((s - 4.0 / 255.0).abs() < 1e-9);
    assert_eq!(z, 64);
    // A non-negative range (after a Relu) has zero point 0: negatives clamp to 0.
    let (s, z) = Range { min: 2.0, max: 5.1 }.uint8_params();
    assert_eq!((s, z), (0.02, 0));
    assert_eq!(Range { min: 0.0, max: 0.0 }.uint8_params(), (1.0, 0));
}

#[test]
fn conv_and_gemm_read_qdq_pairs_and_per_channel_int8_weights() {
    let (_, q) = quantized(2);
    assert_eq!(q.quantized_ops, ["Conv", "Gemm"]);
    assert_eq!(q.quantized_nodes, 3);
    // The input and the two Relu outputs; MaxPool and Flatten share the first Relu's.
    assert_eq!(q.calibrated_tensors, 3);
    assert_eq!(q.calibration_examples, 64);

    let g = graph(&q.bytes);
    let count = |op: &str| g.node.iter().filter(|n| n.op_type() == op).count();
    assert_eq!(count("Relu"), 0, "Relus are folded into the quantization");
    assert_eq!((count("Conv"), count("Gemm")), (1, 2));
    // Input, conv/relu, pool, flatten, linear/relu.
    assert_eq!(count("QuantizeLinear"), 5);
    // Those five, plus three weights and three biases.
    assert_eq!(count("DequantizeLinear"), 11);

    let init = |name: &str| {
        g.initializer
            .iter()
            .find(|t| t.name() == name)
            .unwrap_or_else(|| panic!("no initializer {name}"))
    };
    let conv = g.node.iter().find(|n| n.op_type() == "Conv").expect("conv");
    let w_dq = g
        .node
        .iter()
        .find(|n| n.output[0] == conv.input[1])
        .expect("the weight's DequantizeLinear");
    assert_eq!(w_dq.op_type(), "DequantizeLinear");
    assert_eq!(int_attr(w_dq, "axis"), Some(0));
    assert_eq!(init(&w_dq.input[0]).data_type, Some(DataType::Int8 as i32));
    assert_eq!(
        init(&w_dq.input[1]).dims,
        [4],
        "one scale per output channel"
    );
    let b_dq = g
        .node
        .iter()
        .find(|n| n.output[0] == conv.input[2])
        .expect("the bias's DequantizeLinear");
    assert_eq!(init(&b_dq.input[0]).data_type, Some(DataType::Int32 as i32));
    // Bias scale = input scale · weight scale, per channel.
    let x_dq = g
        .node
        .iter()
        .find(|n| n.output[0] == conv.input[0])
        .expect("the input's DequantizeLinear");
    let x_scale = f32_values(init(&x_dq.input[1])).expect("f32")[0];
    let w_scales = f32_values(init(&w_dq.input[1])).expect("f32");
    let b_scales = f32_values(init(&b_dq.input[1])).expect("f32");
    for (b, w) in b_scales.iter().zip(&w_scales) {
        assert!(
            (b - x_scale * w).abs() <= 1e-12 + 1e-6 * b.abs(),
            "{b} vs {x_scale}·{w}"
        );
    }
    // The float weights are gone; the logits stay float (no QuantizeLinear after them).
    assert!(g.initializer.iter().all(|t| !t.name().ends_with(".weight")));
    let out = g.output[0].name();
    assert!(g.node.iter().all(|n| n.input.iter().all(|i| i != out)));
    assert_eq!(
        g.node
            .iter()
            .find(|n| n.output.iter().any(|o| o == out))
            .map(|n| n.op_type()),
        Some("Gemm")
    );
}

#[test]
fn static_int8_keeps_the_float_answers_with_and_without_fusion() {
    let (float, q) = quantized(4);
    let x = inputs(64, 7);
    let expected = load(&float, OptimizationLevel::All)
        .run(x.view())
        .expect("runs");
    let scale = expected.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let mut outs: Vec<Array2<f32>> = Vec::new();
    for level in [OptimizationLevel::Disable, OptimizationLevel::All] {
        let actual = load(&q.bytes, level).run(x.view()).expect("runs");
        let a = agreement(actual.view(), expected.view()).expect("same shape");
        eprintln!("{level:?}: {a:?}, outputs up to {scale:.3e}");
        assert!(a.top1_agreement >= 0.9, "{level:?}: {a:?}");
        assert!(
            a.max_abs_diff <= 0.06 * f64::from(scale),
            "{level:?}: int8 vs float {:.3e}, outputs up to {scale:.3e}",
            a.max_abs_diff
        );
        assert!(
            a.max_abs_diff > 0.0,
            "the int8 model should not be the float one"
        );
        outs.push(actual);
    }
    // The fused integer kernels compute what the QDQ graph says, to rounding.
    let fused = agreement(outs[1].view(), outs[0].view()).expect("same shape");
    assert!(fused.max_abs_diff <= 0.02 * f64::from(scale), "{fused:?}");
}

#[test]
fn a_model_without_conv_or_linear_is_refused() {
    let graph = build_graph(vec![1, 4, 4], &[L::Flatten, L::ReLU]).expect("valid");
    let weights = Weights::pseudo_random(&graph, 1);
    let float = to_onnx(&graph, &weights, &ExportOptions::default()).expect("export");
    let err = StaticQuantizer::new(&float).expect_err("nothing to quantize");
    assert!(err.to_string().contains("no Conv or Linear"), "{err}");
}

#[test]
fn an_unobserved_tensor_is_an_error() {
    let graph = cnn();
    let weights = Weights::pseudo_random(&graph, 5);
    let float = to_onnx(&graph, &weights, &ExportOptions::default()).expect("export");
    let err = StaticQuantizer::new(&float)
        .expect("plans")
        .finish()
        .expect_err("no calibration");
    assert!(err.to_string().contains("calibration"), "{err}");
}

/// ONNX's checker accepts the QDQ model, and ONNX Runtime's CPU provider fuses it into
/// integer kernels (QLinearConv, QGemm) with the QDQ pairs around MaxPool dropped.
#[test]
fn onnx_checker_accepts_it_and_onnx_runtime_fuses_integer_kernels() {
    let python = crate::test_support::venv_python();
    let (_, q) = quantized(2);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cnn.int8.onnx");
    let optimized = dir.path().join("cnn.int8.opt.onnx");
    crate::write_atomic(&path, &q.bytes).expect("write");
    let script = "import sys, onnx, onnxruntime as ort
onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)
so = ort.SessionOptions()
so.optimized_model_filepath = sys.argv[2]
ort.InferenceSession(sys.argv[1], so, providers=['CPUExecutionProvider'])
print(' '.join(n.op_type for n in onnx.load(sys.argv[2]).graph.node))";
    let out = std::process::Command::new(&python)
        .args(["-c", script])
        .arg(&path)
        .arg(&optimized)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "onnx.checker or ONNX Runtime rejected the int8 model: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ops = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("ONNX Runtime runs: {ops}");
    let ops: Vec<&str> = ops.split_whitespace().collect();
    assert!(ops.contains(&"QLinearConv"), "{ops:?}");
    assert!(ops.contains(&"QGemm"), "{ops:?}");
    assert!(!ops.contains(&"Conv") && !ops.contains(&"Gemm"), "{ops:?}");
}
