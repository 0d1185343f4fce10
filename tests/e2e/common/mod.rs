//! Helpers for driving the `ronin` binary from tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (where `pipelines/` and `.ronin/` live).
pub fn repo() -> PathBuf {
    // This test binary belongs to crates/cli.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root exists")
}

/// The `ronin` binary, built by cargo for these tests.
pub fn ronin_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ronin"))
}

/// Runs `ronin ARGS…` in the repository root with run directories under `experiments`.
pub fn ronin(experiments: &Path, args: &[&str]) -> Output {
    Command::new(ronin_bin())
        .args([
            "--experiments",
            experiments.to_str().expect("utf-8 temp path"),
        ])
        .args(args)
        .current_dir(repo())
        .env_remove("RONIN_EXPERIMENTS")
        .output()
        .expect("the ronin binary runs")
}

/// A file's text; the test fails naming the file when it cannot be read.
pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success, showing the output otherwise.
pub fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
}

/// The data the set-up converts; tests that train need it.
pub fn require_data() {
    let mnist = repo().join(".ronin/data/mnist/images-idx3-ubyte");
    assert!(
        mnist.is_file(),
        "{} is missing: run `bash .ci/setup.sh` first (the README's test command does)",
        mnist.display()
    );
}

/// The set-up's Python venv with tensorboard, onnx and onnxruntime.
pub fn python() -> PathBuf {
    let py = repo().join(".ronin/venv/bin/python");
    assert!(
        py.is_file(),
        "{} is missing: run `bash .ci/setup.sh` first",
        py.display()
    );
    py
}

/// Runs a Python script from `tests/python/` with the set-up's venv.
pub fn python_script(script: &str, args: &[&Path]) -> Output {
    Command::new(python())
        .arg(repo().join("tests/python").join(script))
        .args(args)
        .output()
        .expect("python runs")
}

/// The only run directory under `experiments/<pipeline>/`.
pub fn single_run(experiments: &Path, pipeline: &str) -> PathBuf {
    let runs: Vec<PathBuf> = std::fs::read_dir(experiments.join(pipeline))
        .expect("the pipeline folder exists")
        .map(|e| e.expect("readable entry").path())
        .collect();
    assert_eq!(runs.len(), 1, "expected one run, found {runs:?}");
    runs.into_iter().next().expect("one run")
}

/// `ronin train PIPELINE --epochs E --limit N --no-progress [extra…]` into `experiments`,
/// asserting success; returns the run directory it prints.
pub fn train_quick(
    experiments: &Path,
    pipeline: &str,
    epochs: usize,
    limit: usize,
    extra: &[&str],
) -> PathBuf {
    let (epochs, limit) = (epochs.to_string(), limit.to_string());
    let mut args = vec![
        "train",
        pipeline,
        "--epochs",
        &epochs,
        "--limit",
        &limit,
        "--no-progress",
    ];
    args.extend_from_slice(extra);
    let out = ronin(experiments, &args);
    ok(&out);
    let run = PathBuf::from(stdout(&out).trim());
    assert!(
        run.join("run.ron").is_file(),
        "{pipeline}: no run at {run:?}"
    );
    run
}

/// `ronin export RUN --out MODEL [extra…]`, asserting success; returns the output.
pub fn export_run(experiments: &Path, run: &Path, model: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "export",
        run.to_str().expect("utf-8"),
        "--out",
        model.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    let out = ronin(experiments, &args);
    ok(&out);
    out
}

/// `ronin eval MODEL ARGS… --json` in `experiments`, asserting success; its one JSON object.
pub fn eval_report(experiments: &Path, model: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["eval", model.to_str().expect("utf-8")];
    all.extend_from_slice(args);
    all.push("--json");
    let out = ronin(experiments, &all);
    ok(&out);
    serde_json::from_str(stdout(&out).trim()).expect("one JSON object")
}

/// The op types of an ONNX model's nodes in order, read with ONNX's own Python reader.
pub fn onnx_ops(model: &Path) -> Vec<String> {
    let out = Command::new(python())
        .args([
            "-c",
            "import onnx, sys; print(' '.join(n.op_type for n in onnx.load(sys.argv[1]).graph.node))",
        ])
        .arg(model)
        .output()
        .expect("python runs");
    ok(&out);
    stdout(&out).split_whitespace().map(str::to_owned).collect()
}
