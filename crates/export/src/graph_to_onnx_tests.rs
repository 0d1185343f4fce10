//! Structure of the exported protobuf (numeric parity is in `tests/parity.rs`).

use super::*;
use crate::onnx::tensor_shape_proto::dimension;
use crate::onnx::type_proto;
use ronin_spec::graph::{build_graph, build_graph_named};
use ronin_spec::layer::{LayerSpec as L, Padding, Size2};

fn conv(filters: usize, k: usize, padding: Padding) -> L {
    L::Conv2d {
        filters,
        kernel_size: Size2::Square(k),
        stride: Size2::Square(1),
        padding,
        dilation: Size2::Square(1),
        groups: 1,
        bias: true,
    }
}

fn small() -> ModelGraph {
    build_graph(
        vec![1, 6, 6],
        &[
            conv(2, 3, Padding::Same),
            L::ReLU,
            L::MaxPool2d {
                kernel_size: Size2::Square(2),
                stride: None,
                padding: Padding::Valid,
                ceil_mode: false,
            },
            L::Flatten,
            L::Dropout { rate: 0.5 },
            L::Linear {
                units: 4,
                bias: true,
            },
        ],
    )
    .expect("valid graph")
}

fn export(graph: &ModelGraph, opts: &ExportOptions) -> ModelProto {
    let weights = Weights::pseudo_random(graph, 1);
    let bytes = to_onnx(graph, &weights, opts).expect("export");
    ModelProto::decode(bytes.as_slice()).expect("decodes")
}

fn ops(model: &ModelProto) -> Vec<String> {
    model
        .graph
        .iter()
        .flat_map(|g| &g.node)
        .map(|n| n.op_type().to_owned())
        .collect()
}

fn dims(vi: &crate::onnx::ValueInfoProto) -> Vec<dimension::Value> {
    match vi.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(t)) => t
            .shape
            .iter()
            .flat_map(|s| &s.dim)
            .filter_map(|d| d.value.clone())
            .collect(),
        _ => Vec::new(),
    }
}

#[test]
fn one_onnx_node_per_layer_and_dropout_dropped() {
    let model = export(&small(), &ExportOptions::default());
    assert_eq!(ops(&model), ["Conv", "Relu", "MaxPool", "Flatten", "Gemm"]);
    assert_eq!(model.ir_version, Some(IR_VERSION));
    assert_eq!(model.opset_import[0].version, Some(DEFAULT_OPSET));
    let g = model.graph.as_ref().expect("graph");
    let names: Vec<_> = g.initializer.iter().map(|t| t.name()).collect();
    assert_eq!(
        names,
        [
            "layers.0.weight",
            "layers.0.bias",
            "layers.5.weight",
            "layers.5.bias"
        ]
    );
    let gemm = &g.node[4];
    assert_eq!(gemm.output, ["logits"]);
    assert!(
        gemm.attribute
            .iter()
            .any(|a| a.name() == "transB" && a.i == Some(1))
    );
    // Conv padding [top, left, bottom, right] is ONNX's [x1_begin, x2_begin, x1_end, x2_end].
    let pads = g.node[0].attribute.iter().find(|a| a.name() == "pads");
    assert_eq!(pads.map(|a| a.ints.clone()), Some(vec![1, 1, 1, 1]));
}

#[test]
fn input_and_output_have_dynamic_batch() {
    let model = export(&small(), &ExportOptions::default());
    let g = model.graph.as_ref().expect("graph");
    let batch = dimension::Value::DimParam("batch".into());
    assert_eq!(g.input[0].name(), "input");
    assert_eq!(
        dims(&g.input[0]),
        [
            batch.clone(),
            dimension::Value::DimValue(1),
            dimension::Value::DimValue(6),
            dimension::Value::DimValue(6)
        ]
    );
    assert_eq!(g.output[0].name(), "logits");
    assert_eq!(dims(&g.output[0]), [batch, dimension::Value::DimValue(4)]);
}

#[test]
fn softmax_normalize_and_metadata() {
    let opts = ExportOptions {
        opset: 13,
        softmax: true,
        normalize: Some((vec![0.5], vec![0.25])),
        metadata: vec![("classes".into(), "a,b,c,d".into())],
        ..ExportOptions::default()
    };
    let model = export(&small(), &opts);
    assert_eq!(
        ops(&model),
        [
            "Sub", "Div", "Conv", "Relu", "MaxPool", "Flatten", "Gemm", "Softmax"
        ]
    );
    let g = model.graph.as_ref().expect("graph");
    assert_eq!(g.output[0].name(), "probabilities");
    assert_eq!(g.node[7].output, ["probabilities"]);
    let mean = g.initializer.iter().find(|t| t.name() == "normalize.mean");
    assert_eq!(mean.map(|t| t.dims.clone()), Some(vec![1, 1, 1, 1]));
    assert_eq!(model.metadata_props[0].key(), "classes");
    assert_eq!(model.metadata_props[0].value(), "a,b,c,d");
}

#[test]
fn model_ending_in_softmax_gets_no_second_one() {
    let g = build_graph(
        vec![3],
        &[
            L::Linear {
                units: 2,
                bias: false,
            },
            L::Softmax,
        ],
    )
    .expect("valid graph");
    let opts = ExportOptions {
        softmax: true,
        ..ExportOptions::default()
    };
    let model = export(&g, &opts);
    assert_eq!(ops(&model), ["Gemm", "Softmax"]);
    assert!(ends_with_softmax(&g, &ExportOptions::default()));
}

#[test]
fn empty_model_is_an_identity() {
    let g = build_graph(vec![5], &[L::Dropout { rate: 0.1 }]).expect("valid graph");
    let model = export(&g, &ExportOptions::default());
    assert_eq!(ops(&model), ["Identity"]);
    let node = &model.graph.as_ref().expect("graph").node[0];
    assert_eq!(
        (node.input.as_slice(), node.output.as_slice()),
        (&["input".to_owned()][..], &["logits".to_owned()][..])
    );
}

#[test]
fn bad_options_are_refused_with_values() {
    let g = small();
    let w = Weights::pseudo_random(&g, 1);
    let err = to_onnx(
        &g,
        &w,
        &ExportOptions {
            opset: 9,
            ..ExportOptions::default()
        },
    )
    .expect_err("opset 9");
    assert!(err.to_string().contains("opset 9"), "{err}");
    let opts = ExportOptions {
        normalize: Some((vec![0.1, 0.2, 0.3], vec![1.0; 3])),
        ..ExportOptions::default()
    };
    let err = to_onnx(&g, &w, &opts).expect_err("3 means for 1 channel");
    assert!(
        err.to_string().contains("per channel (1), found 3 mean(s)"),
        "{err}"
    );
    let opts = ExportOptions {
        normalize: Some((vec![0.1], vec![0.0])),
        ..ExportOptions::default()
    };
    assert!(to_onnx(&g, &w, &opts).is_err());
}

#[test]
fn unflat_output_and_wrong_weights_are_refused() {
    let g = build_graph(vec![1, 4, 4], &[conv(2, 3, Padding::Valid)]).expect("valid graph");
    let err = to_onnx(
        &g,
        &Weights::pseudo_random(&g, 1),
        &ExportOptions::default(),
    )
    .expect_err("output (2, 2, 2)");
    assert!(err.to_string().contains("[2, 2, 2]"), "{err}");
    let err =
        to_onnx(&small(), &Weights::new(), &ExportOptions::default()).expect_err("no weights");
    assert!(
        err.to_string().contains("`layers.0.weight` is missing"),
        "{err}"
    );
}

fn node_by_op<'m>(model: &'m ModelProto, op: &str) -> Vec<&'m crate::onnx::NodeProto> {
    model
        .graph
        .iter()
        .flat_map(|g| &g.node)
        .filter(|n| n.op_type() == op)
        .collect()
}

fn residual() -> ModelGraph {
    build_graph(
        vec![2, 4, 4],
        &[
            L::Residual {
                layers: vec![conv(3, 3, Padding::Same), L::ReLU],
                shortcut: Some(Box::new(conv(3, 1, Padding::Valid))),
                activation: Some(Box::new(L::ReLU)),
            },
            L::Parallel {
                branches: vec![conv(1, 1, Padding::Valid), L::Identity],
            },
            L::Flatten,
        ],
    )
    .expect("valid graph")
}

#[test]
fn residual_and_parallel_are_edges_between_named_tensors() {
    let model = export(&residual(), &ExportOptions::default());
    assert_eq!(
        ops(&model),
        [
            "Conv", "Relu", "Conv", "Add", "Relu", "Conv", "Concat", "Flatten"
        ]
    );
    let g = model.graph.as_ref().expect("graph");
    let add = node_by_op(&model, "Add")[0];
    // The body's ReLU and the projection shortcut, both reading the input.
    assert_eq!(add.input, ["layers.0.1/Relu", "layers.0.shortcut/Conv"]);
    assert_eq!(g.node[0].input[0], "input");
    assert_eq!(g.node[2].input[0], "input");
    // The identity branch is the activation itself.
    let concat = node_by_op(&model, "Concat")[0];
    assert_eq!(
        concat.input,
        ["layers.1.0/Conv", "layers.0.activation/Relu"]
    );
    let names: std::collections::HashSet<_> = g.node.iter().map(|n| n.name()).collect();
    assert_eq!(names.len(), g.node.len(), "node names are unique");
    assert_eq!(
        g.node.last().map(|n| n.output.clone()),
        Some(vec!["logits".to_owned()])
    );
}

#[test]
fn zoo_names_are_state_dict_keys_and_nodes_are_unique() {
    use ronin_spec::zoo::{PresetSpec, ZooModel, expand};
    let p = PresetSpec {
        model: ZooModel::ResNet18,
        classes: None,
        width: 0.125,
        batch_norm: false,
        dropout: None,
    };
    let graph = build_graph_named(vec![3, 64, 64], "", &expand(&p, 64, 10)).expect("valid");
    let model = export(&graph, &ExportOptions::default());
    let g = model.graph.as_ref().expect("graph");
    let inits: Vec<_> = g.initializer.iter().map(|t| t.name()).collect();
    assert!(inits.contains(&"layer1.0.conv1.weight"), "{inits:?}");
    assert!(inits.contains(&"layer2.0.downsample.1.running_var"));
    let names: std::collections::HashSet<_> = g.node.iter().map(|n| n.name()).collect();
    assert_eq!(names.len(), g.node.len());
    assert_eq!(node_by_op(&model, "Add").len(), 8);
    assert_eq!(node_by_op(&model, "GlobalAveragePool").len(), 1);
}

#[test]
fn pooling_attributes_follow_the_op() {
    let g = build_graph(
        vec![1, 7, 7],
        &[
            L::MaxPool2d {
                kernel_size: Size2::Square(2),
                stride: None,
                padding: Padding::Valid,
                ceil_mode: true,
            },
            L::AvgPool2d {
                kernel_size: Size2::Square(3),
                stride: Some(Size2::Square(1)),
                padding: Padding::Explicit(Size2::Square(1)),
                ceil_mode: false,
                count_include_pad: false,
            },
            L::AdaptiveAvgPool2d {
                output_size: Size2::Square(2),
            },
            L::Flatten,
        ],
    )
    .expect("valid graph");
    let model = export(&g, &ExportOptions::default());
    // 4×4 → 2×2 tiles: an AveragePool with kernel = stride = 2.
    assert_eq!(
        ops(&model),
        ["MaxPool", "AveragePool", "AveragePool", "Flatten"]
    );
    let attr = |n: &crate::onnx::NodeProto, a: &str| {
        n.attribute
            .iter()
            .find(|x| x.name() == a)
            .map(|x| (x.i, x.ints.clone()))
    };
    let graph = model.graph.as_ref().expect("graph");
    assert_eq!(attr(&graph.node[0], "ceil_mode"), Some((Some(1), vec![])));
    assert_eq!(
        attr(&graph.node[1], "count_include_pad"),
        Some((Some(0), vec![]))
    );
    assert_eq!(
        attr(&graph.node[2], "kernel_shape"),
        Some((None, vec![2, 2]))
    );
}

#[test]
fn uneven_adaptive_pooling_is_two_matmuls() {
    let g = build_graph(
        vec![1, 5, 1],
        &[
            L::AdaptiveAvgPool2d {
                output_size: Size2::Pair(3, 4),
            },
            L::Flatten,
        ],
    )
    .expect("valid graph");
    let model = export(&g, &ExportOptions::default());
    assert_eq!(ops(&model), ["MatMul", "MatMul", "Flatten"]);
}

#[test]
fn layer_norm_needs_opset_17_and_gelu_is_composed_before_20() {
    let g = build_graph(
        vec![6],
        &[
            L::LayerNorm {
                eps: 1e-5,
                elementwise_affine: false,
            },
            L::GELU,
        ],
    )
    .expect("valid graph");
    let w = Weights::pseudo_random(&g, 1);
    let opts = |opset| ExportOptions {
        opset,
        ..ExportOptions::default()
    };
    let err = to_onnx(&g, &w, &opts(13)).expect_err("opset 13");
    let msg = err.to_string();
    assert!(
        msg.contains("layers.0") && msg.contains("opset 17") && msg.contains("opset 13"),
        "{msg}"
    );
    let m17 = export(&g, &opts(17));
    assert_eq!(
        ops(&m17),
        ["LayerNormalization", "Div", "Erf", "Add", "Mul", "Mul"]
    );
    let inits: Vec<_> = m17
        .graph
        .iter()
        .flat_map(|g| &g.initializer)
        .map(|t| t.name().to_owned())
        .collect();
    assert!(inits.contains(&"layers.0/scale".to_owned()), "{inits:?}");
    assert_eq!(ops(&export(&g, &opts(20))), ["LayerNormalization", "Gelu"]);
}

#[test]
fn group_norm_reshapes_around_instance_norm() {
    let g = build_graph(
        vec![4, 3, 3],
        &[
            L::GroupNorm {
                groups: 2,
                eps: 1e-5,
                affine: true,
            },
            L::Flatten,
        ],
    )
    .expect("valid graph");
    let model = export(&g, &ExportOptions::default());
    assert_eq!(
        ops(&model),
        [
            "Reshape",
            "InstanceNormalization",
            "Reshape",
            "Mul",
            "Add",
            "Flatten"
        ]
    );
    let g = model.graph.as_ref().expect("graph");
    let weight = g.initializer.iter().find(|t| t.name() == "layers.0.weight");
    assert_eq!(weight.map(|t| t.dims.clone()), Some(vec![4, 1, 1]));
}
