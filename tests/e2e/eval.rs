//! `ronin eval`: an exported model scored through ONNX Runtime gives the trained model's
//! own test figures (same examples: the test split under the same limit), with and without
//! BatchNorm folding; bad models are refused naming the file.

use std::path::{Path, PathBuf};

use crate::common::*;

/// Trains `pipeline` for one epoch on 256 examples per split and exports its best
/// checkpoint to `<tmp>/<name>.onnx` with `extra` export flags; returns the model path and
/// the run's `test_report.json`.
fn train_and_export(
    tmp: &Path,
    pipeline: &str,
    name: &str,
    extra: &[&str],
) -> (PathBuf, serde_json::Value) {
    let exp = tmp.join("experiments");
    let run = train_quick(&exp, pipeline, 1, 256, &[]);
    let model = tmp.join(format!("{name}.onnx"));
    export_run(&exp, &run, &model, extra);
    let report = serde_json::from_str(&read(&run.join("test_report.json"))).expect("test report");
    (model, report)
}

/// `ronin eval MODEL --data PIPELINE --set data.limit=256 --json`, parsed.
fn eval_json(tmp: &Path, model: &Path, pipeline: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["--data", pipeline, "--set", "data.limit=256"];
    args.extend_from_slice(extra);
    eval_report(&tmp.join("experiments"), model, &args)
}

fn number(v: &serde_json::Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no number {key} in {v}"))
}

/// Accuracy within one example of the test report, loss within float rounding.
fn assert_matches_report(eval: &serde_json::Value, report: &serde_json::Value) {
    let examples = number(eval, "examples");
    let tested: u64 = report["confusion_matrix"]
        .as_array()
        .expect("matrix")
        .iter()
        .flat_map(|r| r.as_array().expect("row"))
        .map(|c| c.as_u64().expect("count"))
        .sum();
    assert_eq!(examples, tested as f64, "the same test examples: {eval}");
    let (ours, theirs) = (number(eval, "accuracy"), number(report, "accuracy"));
    assert!(
        (ours - theirs).abs() * examples <= 1.0 + 1e-9,
        "eval accuracy {ours} vs test_report {theirs} over {examples} examples"
    );
    let (ours, theirs) = (number(eval, "loss"), number(report, "loss"));
    assert!(
        (ours - theirs).abs() <= 1e-3 * theirs.max(1.0),
        "loss {ours} vs {theirs}"
    );
}

#[test]
fn eval_reproduces_the_test_report() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let (model, report) = train_and_export(tmp.path(), "pipelines/mnist_cnn.ron", "cnn", &[]);
    let eval = eval_json(tmp.path(), &model, "pipelines/mnist_cnn.ron", &[]);
    assert_eq!(eval["split"], "test");
    assert_eq!(eval["loss_from"], "logits");
    assert_matches_report(&eval, &report);
    let (ours, theirs) = (
        number(&eval, "top5_accuracy"),
        number(&report, "top5_accuracy"),
    );
    assert!(
        (ours - theirs).abs() * number(&eval, "examples") <= 1.0 + 1e-9,
        "top-5 {ours} vs {theirs}"
    );
    // Session options change nothing in the figures.
    let single = eval_json(
        tmp.path(),
        &model,
        "pipelines/mnist_cnn.ron",
        &["--threads", "1", "--opt-level", "disable"],
    );
    assert_eq!(single["correct"], eval["correct"]);
    assert_eq!(single["threads"], 1);
    // The CPU explicitly gives the same figures; CUDA, which this CPU build of ONNX
    // Runtime lacks, is refused with the fix rather than silently replaced.
    let cpu = eval_json(
        tmp.path(),
        &model,
        "pipelines/mnist_cnn.ron",
        &["--device", "cpu"],
    );
    assert_eq!(cpu["correct"], eval["correct"]);
    // `auto` (the default) on a CPU build of ONNX Runtime is the CPU, with no fallback.
    assert_eq!(eval["device"], "cpu");
    assert_eq!(eval["cuda_fallback"], serde_json::Value::Null);
    let model_arg = model.to_str().expect("utf-8");
    let cuda = ronin(
        &tmp.path().join("experiments"),
        &[
            "predict",
            model_arg,
            "--device",
            "cuda:0",
            "--limit",
            "1",
            ".ronin/data/mnist/images-idx3-ubyte",
        ],
    );
    assert_eq!(cuda.status.code(), Some(1), "{}", stderr(&cuda));
    assert!(
        stderr(&cuda).contains("has no CUDA execution provider")
            && stderr(&cuda).contains("--device cpu"),
        "{}",
        stderr(&cuda)
    );
    let bad = ronin(
        &tmp.path().join("experiments"),
        &[
            "predict",
            model_arg,
            "--device",
            "gpu",
            ".ronin/data/mnist/images-idx3-ubyte",
        ],
    );
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("expected cpu, auto, cuda or cuda:N"),
        "{}",
        stderr(&bad)
    );

    // The table names the split and the counts.
    let out = ronin(
        &tmp.path().join("experiments"),
        &[
            "eval",
            model.to_str().expect("utf-8"),
            "--data",
            "pipelines/mnist_cnn.ron",
            "--set",
            "data.limit=256",
            "--split",
            "validation",
        ],
    );
    ok(&out);
    let text = stdout(&out);
    assert!(
        text.contains("validation split") && text.contains("accuracy") && text.contains("loss"),
        "{text}"
    );
}

#[test]
fn folded_batch_norm_export_keeps_parity_and_accuracy() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let pipeline = "pipelines/mnist_digits_0_4.ron";
    let (model, report) = train_and_export(tmp.path(), pipeline, "digits", &["--fold-bn"]);
    let manifest: serde_json::Value =
        serde_json::from_str(&read(&model.with_extension("json"))).expect("manifest JSON");
    assert_eq!(manifest["batch_norm_folded"], true);
    let diff = manifest["parity"]["max_abs_diff"]
        .as_f64()
        .expect("parity figure");
    assert!(
        diff <= manifest["parity"]["tolerance"].as_f64().expect("tolerance"),
        "parity {diff}"
    );
    // The folded graph has no BatchNormalization node left (read by ONNX's own reader).
    let checked = python_script("check_onnx.py", &[&model]);
    ok(&checked);
    let ops = onnx_ops(&model);
    let has = |op: &str| ops.iter().any(|o| o == op);
    assert!(!has("BatchNormalization") && has("Conv"), "{ops:?}");
    let eval = eval_json(tmp.path(), &model, pipeline, &[]);
    assert_matches_report(&eval, &report);
}

#[test]
fn eval_refuses_bad_models_naming_the_file() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let exp = tmp.path().join("experiments");
    let model = tmp.path().join("not_a_model.onnx");
    std::fs::write(&model, b"this is not protobuf").expect("write");
    let run = |model: &Path| {
        ronin(
            &exp,
            &[
                "eval",
                model.to_str().expect("utf-8"),
                "--data",
                "pipelines/mnist_cnn.ron",
            ],
        )
    };

    // No manifest beside it: the message names the missing file and the fix.
    let out = run(&model);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("not_a_model.json") && err.contains("ronin export"),
        "{err}"
    );

    // A manifest, but the model is not ONNX.
    let manifest = r#"{"model_file": "not_a_model.onnx", "input_name": "input",
        "input_shape": ["batch", 1, 28, 28], "layout": "NCHW", "dtype": "float32",
        "normalization": null, "class_names": ["0","1","2","3","4","5","6","7","8","9"],
        "softmax_in_graph": false, "output_name": "logits", "opset": 17, "ir_version": 10,
        "source_run_dir": "", "pipeline_name": "mnist_cnn", "checkpoint": "best",
        "git_commit": null, "parity": null, "ronin_version": "0.1.0", "created": ""}"#;
    std::fs::write(model.with_extension("json"), manifest).expect("write manifest");
    let out = run(&model);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("not_a_model.onnx") && err.contains("ONNX Runtime"),
        "{err}"
    );
}

#[test]
fn eval_scores_a_folder_or_a_source_with_the_manifests_classes() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let (model, _) = train_and_export(tmp.path(), "pipelines/mnist_cnn.ron", "cnn", &[]);
    let exp = tmp.path().join("experiments");
    let model_s = model.to_str().expect("utf-8");

    // A folder of class subfolders: every image, labelled by its folder's class name,
    // the very count of images predict finds right in it.
    let folder = ".ronin/data/mnist_png/test";
    let eval = eval_report(&exp, &model, &["--data", folder]);
    assert_eq!(eval["split"], "all");
    let out = ronin(&exp, &["predict", model_s, folder, "--json", "-k", "1"]);
    ok(&out);
    let (mut right, mut seen) = (0, 0);
    for line in stdout(&out).lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        let input = v["input"].as_str().expect("input");
        let class = Path::new(input)
            .parent()
            .and_then(Path::file_name)
            .expect("a class folder");
        seen += 1;
        right += usize::from(v["top"][0]["class"].as_str() == class.to_str());
    }
    assert_eq!(number(&eval, "examples"), seen as f64, "{eval}");
    assert_eq!(number(&eval, "correct"), right as f64, "{eval}");

    // An IDX source: all 10,000 digits, the accuracy predict --labels measures.
    let idx = ".ronin/data/mnist/images-idx3-ubyte";
    let labels = ".ronin/data/mnist/labels-idx1-ubyte";
    let source = format!("Idx(images: \"{idx}\", labels: \"{labels}\")");
    let eval = eval_report(&exp, &model, &["--data", &source]);
    let out = ronin(
        &exp,
        &["predict", model_s, idx, "--labels", labels, "-k", "1"],
    );
    ok(&out);
    let line = stderr(&out)
        .lines()
        .find(|l| l.starts_with("accuracy: "))
        .map(str::to_owned)
        .expect("predict prints its accuracy");
    let counts = format!("({}/{})", eval["correct"], eval["examples"]);
    assert!(line.ends_with(&counts), "predict: {line}, eval: {eval}");

    // A source that does not parse, and one whose files are not there: exit 2, named.
    let bad = ronin(&exp, &["eval", model_s, "--data", "Idx(images: \"x\")"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("missing field named `labels`"),
        "{}",
        stderr(&bad)
    );
    let gone = ronin(
        &exp,
        &[
            "eval",
            model_s,
            "--data",
            "ImageFolder(root: \"no/such/dir\")",
        ],
    );
    assert_eq!(gone.status.code(), Some(2), "{}", stderr(&gone));
    assert!(stderr(&gone).contains("no/such/dir"), "{}", stderr(&gone));
}
