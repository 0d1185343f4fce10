//! Each operator and block the graph can hold, exported and run in ONNX Runtime against
//! the naive reference: residual and parallel blocks, the normalisations, activations,
//! pooling variants.

use ronin_export::{ExportOptions, Weights, to_onnx};
use ronin_spec::ModelGraph;
use ronin_spec::graph::build_graph;
use ronin_spec::layer::{LayerSpec as L, Padding, Size2};

use super::assert_parity;
use crate::common::{conv, naive};

const TOL: f64 = 1e-4;

fn graph(input: &[usize], layers: Vec<L>) -> ModelGraph {
    build_graph(input.to_vec(), &layers).unwrap_or_else(|e| panic!("invalid graph: {e:?}"))
}

fn opset(opset: i64) -> ExportOptions {
    ExportOptions {
        opset,
        ..ExportOptions::default()
    }
}

fn strided(filters: usize, k: usize, stride: usize, pad: usize, bias: bool) -> L {
    L::Conv2d {
        filters,
        kernel_size: Size2::Square(k),
        stride: Size2::Square(stride),
        padding: Padding::Explicit(Size2::Square(pad)),
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

fn head(units: usize) -> [L; 2] {
    [L::Flatten, L::Linear { units, bias: true }]
}

#[test]
fn residual_blocks_with_projection_and_identity_shortcuts() {
    let mut layers = vec![
        L::Residual {
            layers: vec![
                strided(6, 3, 2, 1, false),
                bn(),
                L::ReLU,
                conv(6, 3, Padding::Same),
            ],
            shortcut: Some(Box::new(L::Sequential(vec![
                strided(6, 1, 2, 0, false),
                bn(),
            ]))),
            activation: Some(Box::new(L::ReLU)),
        },
        L::Residual {
            layers: vec![conv(6, 3, Padding::Same), L::Tanh],
            shortcut: None,
            activation: None,
        },
        L::GlobalAvgPool2d,
    ];
    layers.extend(head(5));
    let g = graph(&[3, 8, 8], layers);
    assert!(!g.is_sequential());
    assert_parity(&g, &ExportOptions::default(), "residual", TOL);
}

#[test]
fn parallel_branches_concatenate_like_inception() {
    let mut layers = vec![
        conv(4, 3, Padding::Same),
        L::ReLU,
        L::Parallel {
            branches: vec![
                conv(2, 1, Padding::Valid),
                L::Sequential(vec![
                    conv(3, 1, Padding::Valid),
                    L::ReLU,
                    conv(5, 3, Padding::Same),
                ]),
                L::Sequential(vec![
                    L::MaxPool2d {
                        kernel_size: Size2::Square(3),
                        stride: Some(Size2::Square(1)),
                        padding: Padding::Explicit(Size2::Square(1)),
                        ceil_mode: true,
                    },
                    conv(2, 1, Padding::Valid),
                ]),
                L::Identity,
            ],
        },
        L::Dropout2d { rate: 0.3 },
    ];
    layers.extend(head(4));
    let g = graph(&[2, 6, 5], layers);
    assert_eq!(
        g.nodes.iter().rev().nth(2).map(|n| n.output_shape.clone()),
        Some(vec![13, 6, 5])
    );
    assert_parity(&g, &ExportOptions::default(), "parallel", TOL);
}

#[test]
fn group_norm_affine_and_not() {
    let mut layers = vec![
        conv(6, 3, Padding::Same),
        L::GroupNorm {
            groups: 3,
            eps: 1e-5,
            affine: true,
        },
        L::ReLU,
        L::GroupNorm {
            groups: 2,
            eps: 1e-3,
            affine: false,
        },
    ];
    layers.extend(head(3));
    let g = graph(&[2, 5, 4], layers);
    for o in [13, 17, 21] {
        assert_parity(&g, &opset(o), "group_norm", TOL);
    }
}

#[test]
fn layer_norm_over_images_and_features() {
    let g = graph(
        &[2, 4, 3],
        vec![
            conv(3, 3, Padding::Same),
            L::LayerNorm {
                eps: 1e-5,
                elementwise_affine: true,
            },
            L::Flatten,
            L::Linear {
                units: 7,
                bias: true,
            },
            L::LayerNorm {
                eps: 1e-4,
                elementwise_affine: false,
            },
            L::Linear {
                units: 3,
                bias: true,
            },
            L::LayerNorm {
                eps: 1e-5,
                elementwise_affine: true,
            },
        ],
    );
    for o in [17, 21] {
        assert_parity(&g, &opset(o), "layer_norm", TOL);
    }
    let err = to_onnx(&g, &Weights::pseudo_random(&g, 1), &opset(16)).expect_err("opset 16");
    assert!(err.to_string().contains("needs opset 17"), "{err}");
}

#[test]
fn instance_norm_affine_and_not() {
    let mut layers = vec![
        conv(3, 3, Padding::Same),
        L::InstanceNorm2d {
            eps: 1e-5,
            affine: true,
        },
        L::ReLU,
        L::InstanceNorm2d {
            eps: 1e-5,
            affine: false,
        },
    ];
    layers.extend(head(3));
    let g = graph(&[2, 4, 5], layers);
    assert_parity(&g, &ExportOptions::default(), "instance_norm", TOL);
}

#[test]
fn local_response_norm_odd_and_even_sizes() {
    for size in [1, 2, 3, 4, 5] {
        let mut layers = vec![
            conv(7, 1, Padding::Valid),
            L::LocalResponseNorm {
                size,
                alpha: 0.5,
                beta: 0.75,
                k: 2.0,
            },
        ];
        layers.extend(head(3));
        let g = graph(&[2, 3, 3], layers);
        assert_parity(
            &g,
            &ExportOptions::default(),
            &format!("lrn size {size}"),
            TOL,
        );
    }
}

#[test]
fn elu_gelu_silu_at_opsets_13_17_and_20() {
    let mut layers = vec![
        conv(4, 3, Padding::Same),
        L::ELU { alpha: 0.7 },
        conv(4, 3, Padding::Same),
        L::GELU,
        conv(4, 1, Padding::Valid),
        L::SiLU,
    ];
    layers.extend(head(3));
    let g = graph(&[2, 4, 4], layers);
    for o in [13, 17, 20, 21] {
        assert_parity(&g, &opset(o), &format!("activations opset {o}"), TOL);
    }
}

#[test]
fn gelu_reference_is_exact_erf() {
    // Values from Python's math.erf.
    for (x, e) in [
        (0.5, 0.520_499_877_813_046_5),
        (1.0, 0.842_700_792_949_714_9),
        (2.4, 0.999_311_486_103_355),
        (3.0, 0.999_977_909_503_001_4),
        (-1.7, -0.983_790_458_590_774_6),
    ] {
        assert!(
            (naive::erf(x) - e).abs() < 1e-12,
            "erf({x}) = {}",
            naive::erf(x)
        );
    }
}

#[test]
fn ceil_mode_pooling_and_count_include_pad() {
    let pool = |k, s, p, ceil_mode, avg: Option<bool>| {
        let (kernel_size, stride, padding) = (
            Size2::Square(k),
            Some(Size2::Square(s)),
            Padding::Explicit(Size2::Square(p)),
        );
        match avg {
            None => L::MaxPool2d {
                kernel_size,
                stride,
                padding,
                ceil_mode,
            },
            Some(count_include_pad) => L::AvgPool2d {
                kernel_size,
                stride,
                padding,
                ceil_mode,
                count_include_pad,
            },
        }
    };
    for (input, layers) in [
        // 7 → 4 with ceil_mode (3 without): the last window hangs over the edge.
        (vec![2, 7, 7], vec![pool(2, 2, 0, true, None)]),
        // GoogLeNet's stem pooling, 3×3 stride 2, on an odd and an even size.
        (vec![2, 9, 8], vec![pool(3, 2, 0, true, None)]),
        // With padding: a window starting in the right padding is dropped.
        (vec![2, 6, 6], vec![pool(3, 2, 1, true, None)]),
        (vec![2, 6, 5], vec![pool(3, 2, 1, false, Some(false))]),
        (vec![2, 5, 5], vec![pool(3, 1, 1, false, Some(false))]),
        (vec![2, 5, 5], vec![pool(3, 1, 1, false, Some(true))]),
        (vec![2, 7, 7], vec![pool(2, 2, 0, true, Some(true))]),
        (vec![2, 6, 6], vec![pool(3, 2, 1, true, Some(false))]),
        (vec![2, 6, 6], vec![pool(3, 2, 1, true, Some(true))]),
    ] {
        let mut layers = [vec![conv(3, 1, Padding::Valid)], layers].concat();
        layers.extend(head(4));
        let g = graph(&input, layers);
        let what = format!(
            "{:?} on {input:?} → {:?}",
            g.nodes[1].op, g.nodes[1].output_shape
        );
        assert_parity(&g, &ExportOptions::default(), &what, TOL);
    }
}

#[test]
fn adaptive_average_pooling_every_case() {
    for (input, output) in [
        ([8, 6], (4, 3)), // divisible: AveragePool
        ([5, 7], (1, 1)), // global
        ([3, 4], (3, 4)), // identity
        ([7, 5], (3, 2)), // uneven bins
        ([1, 2], (6, 6)), // larger than the input (VGG and AlexNet on small images)
        ([6, 5], (3, 5)),
    ] {
        let mut layers = vec![
            conv(3, 1, Padding::Valid),
            L::AdaptiveAvgPool2d {
                output_size: Size2::Pair(output.0, output.1),
            },
        ];
        layers.extend(head(4));
        let g = graph(&[2, input[0], input[1]], layers);
        assert_parity(
            &g,
            &ExportOptions::default(),
            &format!("adaptive {input:?} → {output:?}"),
            TOL,
        );
    }
}

#[test]
fn softmax_and_normalization_with_branches() {
    let mut layers = vec![L::Residual {
        layers: vec![conv(3, 3, Padding::Same)],
        shortcut: None,
        activation: Some(Box::new(L::SiLU)),
    }];
    layers.extend(head(4));
    let g = graph(&[3, 4, 4], layers);
    let opts = ExportOptions {
        softmax: true,
        normalize: Some((vec![0.4, 0.5, 0.6], vec![0.2, 0.25, 0.3])),
        ..ExportOptions::default()
    };
    assert_parity(&g, &opts, "softmax+normalize", 1e-5);
}
