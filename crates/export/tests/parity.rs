//! Exported models run in ONNX Runtime give what a naive forward pass of the same graph
//! and weights gives. Tests skip (with a message) only when the ONNX Runtime library file
//! is absent.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "parity/ops.rs"]
mod ops;
#[path = "parity/zoo.rs"]
mod zoo;

use std::process::Command;

use common::{input, naive, runtime, seed_cnn, variant_cnn, venv_python};
use ronin_export::{
    ExportError, ExportOptions, OptimizationLevel, Reference, SessionOptions, Weights, compare,
    to_onnx, top_k_batch, verify, verify_model, write_atomic,
};
use ronin_spec::ModelGraph;

const TOL: f64 = 1e-4;

/// Exports, runs in ONNX Runtime, and returns the largest absolute difference.
fn parity(graph: &ModelGraph, opts: &ExportOptions, sess: &SessionOptions, test: &str) -> f64 {
    let weights = Weights::pseudo_random(graph, 7);
    parity_scaled(graph, &weights, opts, sess, test).0
}

/// As [`parity`], with the largest absolute value of the reference output.
fn parity_scaled(
    graph: &ModelGraph,
    weights: &Weights,
    opts: &ExportOptions,
    sess: &SessionOptions,
    test: &str,
) -> (f64, f64) {
    let rt = runtime();
    let bytes = to_onnx(graph, weights, opts).expect("export");
    let model = rt
        .load_bytes(&bytes, sess)
        .expect("ONNX Runtime loads the model");
    let x = input(3, &graph.input_shape, 11);
    let expected = naive::forward(
        graph,
        weights,
        x.clone().into_dyn(),
        opts.normalize.as_ref(),
        opts.softmax,
    );
    // Guards against a vacuous match: the examples' outputs differ.
    let rows_differ = (0..expected.ncols()).any(|j| {
        let c = expected.column(j);
        c.iter().any(|v| (v - c[0]).abs() > 1e-6)
    });
    assert!(
        rows_differ,
        "{test}: reference outputs are the same for every example: {expected:?}"
    );
    let actual = model.run(x.view()).expect("run");
    let p = compare(actual.view(), expected.view()).expect("same shape");
    assert_eq!(p.n_samples, 3);
    let scale = expected
        .iter()
        .fold(0.0f64, |m, v| m.max(f64::from(v.abs())));
    (p.max_abs_diff, scale)
}

/// Asserts ONNX Runtime matches the reference within `tol` of the output's magnitude
/// (max |reference|, at least 1), with [`Weights::pseudo_random`] weights.
fn assert_parity(graph: &ModelGraph, opts: &ExportOptions, test: &str, tol: f64) {
    assert_parity_with(graph, &Weights::pseudo_random(graph, 7), opts, test, tol);
}

/// [`assert_parity`] with the given weights.
fn assert_parity_with(
    graph: &ModelGraph,
    weights: &Weights,
    opts: &ExportOptions,
    test: &str,
    tol: f64,
) {
    let (d, scale) = parity_scaled(graph, weights, opts, &SessionOptions::default(), test);
    assert!(
        d <= tol * scale.max(1.0),
        "{test}: max abs diff {d:e} (output scale {scale:e}, opset {})",
        opts.opset
    );
}

#[test]
fn seed_cnn_matches_reference() {
    let d = parity(
        &seed_cnn(),
        &ExportOptions::default(),
        &SessionOptions::default(),
        "seed_cnn_matches_reference",
    );
    assert!(d < TOL, "max abs diff {d}");
}

#[test]
fn variant_cnn_matches_reference_at_every_optimization_level() {
    for optimization in [
        OptimizationLevel::Disable,
        OptimizationLevel::Basic,
        OptimizationLevel::All,
    ] {
        let sess = SessionOptions {
            intra_threads: Some(1),
            optimization,
            ..SessionOptions::default()
        };
        let d = parity(
            &variant_cnn(),
            &ExportOptions::default(),
            &sess,
            "variant_cnn",
        );
        assert!(d < TOL, "{optimization:?}: max abs diff {d}");
    }
}

#[test]
fn normalization_and_softmax_inside_the_graph() {
    let opts = ExportOptions {
        opset: 13,
        softmax: true,
        normalize: Some((vec![0.4, 0.5, 0.6], vec![0.2, 0.25, 0.3])),
        ..ExportOptions::default()
    };
    let d = parity(
        &variant_cnn(),
        &opts,
        &SessionOptions::default(),
        "normalization_and_softmax",
    );
    assert!(d < 1e-5, "max abs diff {d}");
    let opts21 = ExportOptions {
        opset: 21,
        normalize: Some((vec![0.3], vec![0.4])),
        ..opts
    };
    let d = parity(&seed_cnn(), &opts21, &SessionOptions::default(), "opset 21");
    assert!(d < 1e-5, "max abs diff {d}");
}

#[test]
fn batch_axis_is_dynamic_and_input_shape_is_checked() {
    let rt = runtime();
    let g = seed_cnn();
    let w = Weights::pseudo_random(&g, 3);
    let model = rt
        .load_bytes(
            &to_onnx(&g, &w, &ExportOptions::default()).expect("export"),
            &SessionOptions::default(),
        )
        .expect("load");
    assert_eq!(
        (model.input_name(), model.output_name()),
        ("input", "logits")
    );
    assert_eq!(model.input_shape(), [None, Some(1), Some(28), Some(28)]);
    for n in [1, 5] {
        assert_eq!(
            model
                .run(input(n, &[1, 28, 28], 1).view())
                .expect("run")
                .dim(),
            (n, 10)
        );
    }
    let err = model
        .run(input(2, &[3, 28, 28], 1).view())
        .expect_err("3 channels");
    assert!(matches!(err, ExportError::InputShape { .. }), "{err}");
    assert!(err.to_string().contains("[N, 1, 28, 28]"), "{err}");
}

/// `batch: Some(1)` fixes the batch axis; `run` then feeds any batch one example at a
/// time and gives the dynamic model's answers.
#[test]
fn a_fixed_batch_model_runs_any_batch_in_chunks() {
    let rt = runtime();
    let g = seed_cnn();
    let w = Weights::pseudo_random(&g, 3);
    let load = |opts: &ExportOptions| {
        rt.load_bytes(
            &to_onnx(&g, &w, opts).expect("export"),
            &SessionOptions::default(),
        )
        .expect("load")
    };
    let dynamic = load(&ExportOptions::default());
    let fixed = load(&ExportOptions {
        batch: Some(1),
        ..ExportOptions::default()
    });
    assert_eq!(fixed.input_shape(), [Some(1), Some(1), Some(28), Some(28)]);
    assert_eq!(fixed.fixed_batch(), Some(1));
    let x = input(3, &[1, 28, 28], 4);
    let (a, b) = (
        dynamic.run(x.view()).expect("run"),
        fixed.run(x.view()).expect("run"),
    );
    assert_eq!(b.dim(), (3, 10));
    let d = a
        .iter()
        .zip(&b)
        .fold(0f32, |m, (p, q)| m.max((p - q).abs()));
    assert!(d < 1e-5, "max abs diff {d}");
}

#[test]
fn verify_against_saved_reference_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let g = variant_cnn();
    let w = Weights::pseudo_random(&g, 5);
    // What the runner leaves: model.safetensors and reference.safetensors.
    write_atomic(
        dir.path().join("model.safetensors"),
        &w.to_safetensors_bytes().expect("st"),
    )
    .expect("write");
    let x = input(4, &g.input_shape, 2);
    let reference = Reference {
        output: naive::forward(&g, &w, x.clone().into_dyn(), None, false),
        input: x,
    };
    write_atomic(
        dir.path().join("reference.safetensors"),
        &reference.to_safetensors_bytes().expect("st"),
    )
    .expect("write");

    let weights =
        Weights::from_safetensors(dir.path().join("model.safetensors")).expect("read weights");
    let bytes = to_onnx(&g, &weights, &ExportOptions::default()).expect("export");
    let onnx_path = dir.path().join("model.onnx");
    write_atomic(&onnx_path, &bytes).expect("write model");
    let reference =
        Reference::from_safetensors(dir.path().join("reference.safetensors")).expect("read ref");

    let from_bytes =
        verify(&bytes, reference.input.view(), reference.output.view()).expect("verify bytes");
    let from_path =
        verify(&onnx_path, reference.input.view(), reference.output.view()).expect("verify path");
    assert_eq!(from_bytes, from_path);
    assert!(from_bytes.within(TOL), "{from_bytes:?}");
    assert_eq!(from_bytes.n_samples, 4);

    // A perturbed reference is caught, at the perturbed element.
    let mut wrong = reference.output.clone();
    wrong[[2, 3]] += 0.5;
    let rt = runtime();
    let model = rt
        .load_file(&onnx_path, &SessionOptions::default())
        .expect("load");
    let p = verify_model(&model, reference.input.view(), wrong.view()).expect("verify");
    assert!(!p.within(TOL));
    assert_eq!(p.worst_index, Some([2, 3]));

    let top = top_k_batch(
        model.run(reference.input.view()).expect("run").view(),
        2,
        false,
    );
    assert_eq!(top.len(), 4);
    assert!(top.iter().all(|t| t.len() == 2 && t[0].1 >= t[1].1));
}

#[test]
fn onnx_checker_accepts_exported_models() {
    let python = venv_python();
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = ExportOptions {
        softmax: true,
        normalize: Some((vec![0.5; 3], vec![0.25; 3])),
        metadata: vec![("pipeline".into(), "variant".into())],
        ..ExportOptions::default()
    };
    for (name, g, opts) in [
        ("seed", seed_cnn(), ExportOptions::default()),
        ("variant", variant_cnn(), opts),
    ] {
        let path = dir.path().join(format!("{name}.onnx"));
        let w = Weights::pseudo_random(&g, 1);
        write_atomic(&path, &to_onnx(&g, &w, &opts).expect("export")).expect("write");
        let out = Command::new(&python)
            .args([
                "-c",
                "import sys, onnx; m = onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True); print(m.ir_version, m.opset_import[0].version)",
            ])
            .arg(&path)
            .output()
            .expect("python runs");
        assert!(
            out.status.success(),
            "onnx.checker rejected {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "10 17");
    }
}

#[test]
fn reference_outputs_are_not_trivial() {
    // Guards the parity tests: outputs differ between examples and between classes.
    for g in [seed_cnn(), variant_cnn()] {
        let w = Weights::pseudo_random(&g, 7);
        let out = naive::forward(&g, &w, input(3, &g.input_shape, 11).into_dyn(), None, false);
        let spread = |a: ndarray::ArrayView1<f32>| {
            a.iter().copied().fold(f32::MIN, f32::max) - a.iter().copied().fold(f32::MAX, f32::min)
        };
        assert!(spread(out.row(0)) > 1e-3, "classes: {out:?}");
        assert!(spread(out.column(0)) > 1e-4, "examples: {out:?}");
    }
}
