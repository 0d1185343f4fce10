//! Narrow versions of the zoo presets on small images, exported and run in ONNX Runtime
//! against the naive reference; and every preset accepted by `onnx.checker`.

use std::process::Command;

use ronin_export::{ExportOptions, Weights, to_onnx, write_atomic};
use ronin_spec::ModelGraph;
use ronin_spec::graph::build_graph_named;
use ronin_spec::zoo::{ALL, PresetSpec, ZooModel, expand};

use super::assert_parity_with;

/// Relative to the output's magnitude: deep random networks sum many rounded terms.
const TOL: f64 = 1e-4;

fn preset(model: ZooModel, width: f64, batch_norm: bool, input: [usize; 3]) -> ModelGraph {
    let p = PresetSpec {
        model,
        classes: None,
        width,
        batch_norm,
        dropout: None,
    };
    build_graph_named(input.to_vec(), "", &expand(&p, input[1], 10))
        .unwrap_or_else(|e| panic!("{model:?} on {input:?}: {e:?}"))
}

/// [`Weights::pseudo_random`] with Conv and Linear weights scaled by √6, to He's uniform
/// bound √(6/fan_in): with PyTorch's default bound the signal of a deep plain network
/// (GoogLeNet, VGG) fades to rounding noise and every example gets the same output.
fn he_weights(g: &ModelGraph) -> Weights {
    let mut w = Weights::pseudo_random(g, 7);
    let scaled: Vec<_> = w
        .iter()
        .filter(|(name, t)| name.ends_with(".weight") && t.shape.len() >= 2)
        .map(|(name, t)| {
            let data = t.data.iter().map(|v| v * 6f32.sqrt()).collect();
            (name.to_owned(), t.shape.clone(), data)
        })
        .collect();
    for (name, shape, data) in scaled {
        w.insert(name, shape, data).expect("same shape");
    }
    w
}

fn check(model: ZooModel, width: f64, batch_norm: bool, input: [usize; 3]) {
    let g = preset(model, width, batch_norm, input);
    assert_parity_with(
        &g,
        &he_weights(&g),
        &ExportOptions::default(),
        &format!("{model:?} width {width} on {input:?}"),
        TOL,
    );
}

#[test]
fn resnet18_and_resnet50() {
    check(ZooModel::ResNet18, 0.125, false, [3, 32, 32]);
    check(ZooModel::ResNet50, 0.0625, false, [3, 32, 32]);
}

#[test]
fn googlenet() {
    check(ZooModel::GoogLeNet, 0.125, false, [3, 64, 64]);
}

#[test]
fn vgg11_with_batch_norm_and_with_lrn() {
    check(ZooModel::VGG11, 0.125, true, [3, 32, 32]);
    check(ZooModel::VGG11LRN, 0.125, false, [3, 32, 32]);
}

#[test]
fn alexnet() {
    check(ZooModel::AlexNet, 0.125, false, [3, 64, 64]);
}

#[test]
fn nin_and_lenet5() {
    check(ZooModel::NiN, 0.125, false, [3, 96, 96]);
    check(ZooModel::LeNet5, 1.0, false, [1, 28, 28]);
}

#[test]
fn onnx_checker_accepts_every_preset() {
    let python = crate::common::venv_python();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut paths = Vec::new();
    for model in ALL {
        let input = match model {
            ZooModel::LeNet5 => [1, 28, 28],
            ZooModel::NiN => [3, 96, 96],
            _ => [3, 64, 64],
        };
        let g = preset(model, 0.0625, model.is_vgg(), input);
        let w = Weights::pseudo_random(&g, 1);
        for opset in [13, 21] {
            let path = dir.path().join(format!("{model:?}-{opset}.onnx"));
            let opts = ExportOptions {
                opset,
                softmax: true,
                ..ExportOptions::default()
            };
            write_atomic(&path, &to_onnx(&g, &w, &opts).expect("export")).expect("write");
            paths.push(path);
        }
    }
    let out = Command::new(&python)
        .args([
            "-c",
            "import sys, onnx\nfor p in sys.argv[1:]:\n    onnx.checker.check_model(onnx.load(p), full_check=True)\nprint(len(sys.argv) - 1)",
        ])
        .args(&paths)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "onnx.checker rejected a preset: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        paths.len().to_string()
    );
}
