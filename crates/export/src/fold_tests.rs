//! BatchNorm folding: structure of the rewritten graph, and ONNX Runtime giving the same
//! outputs for the folded and the unfolded model.

use ndarray::Array4;
use prost::Message;
use ronin_spec::graph::{build_graph, build_graph_named};
use ronin_spec::layer::{LayerSpec as L, Padding, Size2};
use ronin_spec::zoo::{PresetSpec, ZooModel, expand};

use super::*;
use crate::graph_to_onnx::{ExportOptions, to_onnx};
use crate::onnx::ModelProto;
use crate::runtime::SessionOptions;

fn conv(filters: usize, bias: bool) -> L {
    L::Conv2d {
        filters,
        kernel_size: Size2::Square(3),
        stride: Size2::Square(1),
        padding: Padding::Same,
        dilation: Size2::Square(1),
        groups: 1,
        bias,
    }
}

fn bn() -> L {
    L::BatchNorm {
        eps: 1e-5,
        momentum: 0.1,
    }
}

/// Conv (no bias) → BN → ReLU → Conv (bias) → BN → Flatten → Linear.
fn conv_bn_net() -> ModelGraph {
    build_graph(
        vec![2, 6, 6],
        &[
            conv(4, false),
            bn(),
            L::ReLU,
            conv(3, true),
            bn(),
            L::Flatten,
            L::Linear {
                units: 5,
                bias: true,
            },
        ],
    )
    .expect("valid graph")
}

fn ops(bytes: &[u8]) -> Vec<String> {
    ModelProto::decode(bytes)
        .expect("decodes")
        .graph
        .iter()
        .flat_map(|g| &g.node)
        .map(|n| n.op_type().to_owned())
        .collect()
}

/// Deterministic inputs in [0, 1).
fn input(n: usize, shape: &[usize]) -> Array4<f32> {
    let mut s = 12345u64;
    Array4::from_shape_simple_fn((n, shape[0], shape[1], shape[2]), || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 40) as f32 / (1u64 << 24) as f32
    })
}

#[test]
fn folds_every_conv_bn_pair_and_renumbers() {
    let g = conv_bn_net();
    let w = Weights::pseudo_random(&g, 3);
    let f = fold_batch_norm(&g, &w).expect("folds");
    assert_eq!(
        f.pairs,
        [
            FoldedPair {
                conv: "layers.0".into(),
                batch_norm: "layers.1".into()
            },
            FoldedPair {
                conv: "layers.3".into(),
                batch_norm: "layers.4".into()
            },
        ]
    );
    let names: Vec<_> = f.graph.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(
        names,
        ["layers.0", "layers.2", "layers.3", "layers.5", "layers.6"]
    );
    // ReLU now reads the first conv; Flatten the second.
    assert_eq!(f.graph.nodes[1].inputs, [Source::Node(0)]);
    assert_eq!(f.graph.nodes[3].inputs, [Source::Node(2)]);
    assert_eq!(f.graph.output, Source::Node(4));
    // The first conv got a bias; the weights match the new graph exactly.
    assert!(matches!(f.graph.nodes[0].op, Op::Conv2d { bias: true, .. }));
    f.weights
        .check(&f.graph)
        .expect("weights match the folded graph");
    assert!(f.weights.get("layers.1.running_var").is_none());
}

#[test]
fn folded_values_follow_the_formula() {
    let g = build_graph(vec![1, 3, 3], &[conv(2, true), bn()]).expect("valid graph");
    let w = Weights::pseudo_random(&g, 5);
    let f = fold_batch_norm(&g, &w).expect("folds");
    // The BatchNorm was the output: the conv is now.
    assert_eq!(f.graph.output, Source::Node(0));
    let t = |name: &str| w.get(name).expect("tensor").data.clone();
    let (gamma, beta, mean, var) = (
        t("layers.1.weight"),
        t("layers.1.bias"),
        t("layers.1.running_mean"),
        t("layers.1.running_var"),
    );
    let (w0, b0) = (t("layers.0.weight"), t("layers.0.bias"));
    let w1 = &f.weights.get("layers.0.weight").expect("weight").data;
    let b1 = &f.weights.get("layers.0.bias").expect("bias").data;
    for c in 0..2 {
        let s = gamma[c] / (var[c] + 1e-5).sqrt();
        for k in 0..9 {
            assert!((w1[c * 9 + k] - w0[c * 9 + k] * s).abs() < 1e-6);
        }
        assert!((b1[c] - ((b0[c] - mean[c]) * s + beta[c])).abs() < 1e-6);
    }
}

#[test]
fn a_conv_read_twice_keeps_its_batch_norm() {
    // The conv feeds both a BatchNorm and a ReLU branch: folding would change the ReLU's input.
    let g = build_graph(
        vec![1, 4, 4],
        &[
            conv(2, false),
            L::Parallel {
                branches: vec![bn(), L::ReLU],
            },
        ],
    )
    .expect("valid graph");
    assert!(foldable_batch_norms(&g).is_empty());
    let f = fold_batch_norm(&g, &Weights::pseudo_random(&g, 1)).expect("no-op");
    assert_eq!(f.graph, g);
    assert!(f.pairs.is_empty());
}

#[test]
fn resnet18_folds_all_twenty_convolutions() {
    let p = PresetSpec {
        model: ZooModel::ResNet18,
        classes: None,
        width: 0.125,
        batch_norm: false,
        dropout: None,
    };
    let g = build_graph_named(vec![3, 32, 32], "", &expand(&p, 32, 10)).expect("ResNet-18");
    let f = fold_batch_norm(&g, &Weights::pseudo_random(&g, 2)).expect("folds");
    assert_eq!(f.pairs.len(), 20);
    assert!(
        f.graph
            .nodes
            .iter()
            .all(|n| !matches!(n.op, Op::BatchNorm { .. }))
    );
    f.weights.check(&f.graph).expect("weights match");
}

/// Folded and unfolded exports agree in ONNX Runtime (random weights and inputs); the
/// folded one has no BatchNormalization node.
#[test]
fn folded_model_matches_unfolded_in_onnx_runtime() {
    let rt = crate::test_support::runtime();
    let g = conv_bn_net();
    let w = Weights::pseudo_random(&g, 9);
    let plain = to_onnx(&g, &w, &ExportOptions::default()).expect("export");
    let folded_opts = ExportOptions {
        fold_batch_norm: true,
        ..ExportOptions::default()
    };
    let folded = to_onnx(&g, &w, &folded_opts).expect("export folded");
    assert_eq!(
        ops(&plain)
            .iter()
            .filter(|o| *o == "BatchNormalization")
            .count(),
        2
    );
    assert_eq!(ops(&folded), ["Conv", "Relu", "Conv", "Flatten", "Gemm"]);

    let x = input(4, &g.input_shape);
    let sess = SessionOptions::default();
    let a = rt.load_bytes(&plain, &sess).expect("load").run(x.view());
    let b = rt.load_bytes(&folded, &sess).expect("load").run(x.view());
    let (a, b) = (a.expect("run"), b.expect("run"));
    let diff = crate::verify::compare(b.view(), a.view()).expect("same shape");
    assert!(diff.max_abs_diff < 1e-4, "folded vs unfolded: {diff:?}");
    // Not vacuous: the examples' outputs differ.
    assert!((0..a.ncols()).any(|j| (a[[0, j]] - a[[1, j]]).abs() > 1e-4));
}
