//! Shared fixtures: model graphs, deterministic inputs, the naive reference forward pass,
//! and the skip rule for a missing ONNX Runtime library.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod naive;

use ndarray::Array4;
use ronin_export::Runtime;
use ronin_spec::ModelGraph;
use ronin_spec::graph::build_graph;
use ronin_spec::layer::{LayerSpec as L, Padding, Size2};

pub fn conv(filters: usize, k: usize, padding: Padding) -> L {
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

pub fn max_pool(k: usize) -> L {
    L::MaxPool2d {
        kernel_size: Size2::Square(k),
        stride: None,
        padding: Padding::Valid,
        ceil_mode: false,
    }
}

/// The seed CNN of the course: Fashion-MNIST sized.
pub fn seed_cnn() -> ModelGraph {
    build_graph(
        vec![1, 28, 28],
        &[
            conv(32, 3, Padding::Same),
            L::ReLU,
            max_pool(2),
            conv(64, 3, Padding::Same),
            L::ReLU,
            max_pool(2),
            L::Flatten,
            L::Dropout { rate: 0.5 },
            L::Linear {
                units: 128,
                bias: true,
            },
            L::ReLU,
            L::Linear {
                units: 10,
                bias: true,
            },
        ],
    )
    .expect("seed CNN is valid")
}

/// Every other operator: BatchNorm (2-D and 1-D), AvgPool with padding, strides,
/// dilation, groups, LeakyReLU, Sigmoid, Tanh, global pooling, asymmetric Same padding.
pub fn variant_cnn() -> ModelGraph {
    build_graph(
        vec![3, 13, 11],
        &[
            L::Conv2d {
                filters: 6,
                kernel_size: Size2::Pair(3, 2),
                stride: Size2::Square(1),
                padding: Padding::Same,
                dilation: Size2::Square(1),
                groups: 3,
                bias: false,
            },
            L::BatchNorm {
                eps: 1e-3,
                momentum: 0.1,
            },
            L::LeakyReLU {
                negative_slope: 0.2,
            },
            L::AvgPool2d {
                kernel_size: Size2::Square(3),
                stride: Some(Size2::Square(2)),
                padding: Padding::Explicit(Size2::Square(1)),
                ceil_mode: false,
                count_include_pad: true,
            },
            L::Conv2d {
                filters: 8,
                kernel_size: Size2::Square(3),
                stride: Size2::Pair(2, 1),
                padding: Padding::Explicit(Size2::Pair(1, 2)),
                dilation: Size2::Pair(1, 2),
                groups: 1,
                bias: true,
            },
            L::Tanh,
            L::MaxPool2d {
                kernel_size: Size2::Square(2),
                stride: Some(Size2::Square(1)),
                padding: Padding::Explicit(Size2::Square(1)),
                ceil_mode: false,
            },
            L::GlobalAvgPool2d,
            L::Flatten,
            L::Linear {
                units: 16,
                bias: true,
            },
            L::BatchNorm {
                eps: 1e-5,
                momentum: 0.1,
            },
            L::Sigmoid,
            L::Linear {
                units: 5,
                bias: true,
            },
        ],
    )
    .expect("variant CNN is valid")
}

/// Deterministic inputs in [0, 1).
pub fn input(n: usize, shape: &[usize], seed: u64) -> Array4<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    Array4::from_shape_simple_fn((n, shape[0], shape[1], shape[2]), || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 40) as f32 / (1u64 << 24) as f32
    })
}

/// The ONNX Runtime; a test that needs it fails, saying how to install it, when it is
/// not there.
pub fn runtime() -> Runtime {
    Runtime::global()
        .unwrap_or_else(|e| panic!("ONNX Runtime is needed: {e} (run `bash .ci/setup.sh`)"))
}

/// The set-up's Python venv (onnx, onnxruntime); a test that needs it fails, saying how
/// to make it, when it is not there.
pub fn venv_python() -> std::path::PathBuf {
    let python =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ronin/venv/bin/python");
    assert!(
        python.is_file(),
        "no Python venv at {} (run `bash .ci/setup.sh`)",
        python.display()
    );
    python
}
