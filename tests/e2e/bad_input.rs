//! Bad input gets a clear message, a non-zero exit, and leaves nothing half-written.

use crate::common::*;

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write pipeline");
    p.display().to_string()
}

const GOOD_DATA: &str = r#"source: Idx(images: ".ronin/data/mnist/images-idx3-ubyte", labels: ".ronin/data/mnist/labels-idx1-ubyte")"#;

#[test]
fn malformed_pipeline_reports_line_and_column_and_writes_no_run() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let exp = tmp.path().join("experiments");
    // Line 3 misses the comma after `epochs: 2`.
    let file = write(
        tmp.path(),
        "broken.ron",
        "(\n    seed: 1,\n    epochs: 2\n    data: (),\n)\n",
    );
    let out = ronin(&exp, &["train", &file]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("broken.ron:4:5"),
        "no file:line:column in:\n{err}"
    );
    assert!(err.contains("no run directory was written"), "{err}");
    // The rustc-style snippet: the offending line, numbered, with the spot marked.
    assert!(
        err.contains("4 │     data: (),"),
        "no source line in:\n{err}"
    );
    assert!(err.contains("╰── here"), "no marker in:\n{err}");
    assert!(
        !exp.exists(),
        "a run directory was created for an invalid pipeline"
    );
}

#[test]
fn semantic_errors_are_all_listed_with_their_fields() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let text = format!(
        "(\n  epochs: 0,\n  data: ({GOOD_DATA}, split: (validation: 0.6, test: 0.5)),\n  model: (layers: [Linear(units: 10)]),\n  optimizer: Adam(lr: -1.0),\n)\n"
    );
    let file = write(tmp.path(), "bad.ron", &text);
    let out = ronin(tmp.path(), &["check", &file]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for needle in [
        "epochs must be at least 1",
        "leaves no training data",
        "lr must be > 0",
        "model.layers[0]",
        "add Flatten before it",
        "5 │   optimizer: Adam(lr: -1.0),",
        "╰── optimizer.lr",
    ] {
        assert!(err.contains(needle), "missing '{needle}' in:\n{err}");
    }
    assert!(
        err.contains("bad.ron:2:3: epochs"),
        "epochs not located:\n{err}"
    );
}

#[test]
fn missing_data_names_the_file_and_the_fix() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let text = "(epochs: 1, data: (source: Idx(images: \"nowhere/images\", labels: \"nowhere/labels\")), model: (input: (channels: 1, height: 28, width: 28), layers: [Flatten, Linear(units: 10)]), optimizer: Sgd(lr: 0.1))";
    let file = write(tmp.path(), "nodata.ron", text);
    let out = ronin(tmp.path(), &["train", &file]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("nowhere/images does not exist") && err.contains("bash .ci/setup.sh"),
        "{err}"
    );
}

#[test]
fn export_and_predict_refuse_what_is_not_there() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = ronin(tmp.path(), &["export", "no-such-run"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no run matches 'no-such-run'"),
        "{}",
        stderr(&out)
    );

    let model = tmp.path().join("m.onnx");
    std::fs::write(&model, b"not onnx").expect("write");
    let out = ronin(
        tmp.path(),
        &["predict", model.to_str().expect("utf-8"), "x.png"],
    );
    // Invalid input, nothing predicted: exit 2.
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("needs its manifest"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn predict_reads_every_input_before_predicting_and_says_what_is_wrong() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let exp = tmp.path().join("experiments");
    let run = train_quick(&exp, "pipelines/mnist_cnn.ron", 1, 64, &[]);
    let model = tmp.path().join("m.onnx");
    export_run(&exp, &run, &model, &[]);
    let model_s = model.to_str().expect("utf-8");
    let image = ".ronin/data/mnist_png/test/3";

    // A checkpoint the run does not have: the ones it has are listed.
    let run_s = run.to_str().expect("utf-8");
    let out = ronin(&exp, &["export", run_s, "--checkpoint", "epoch-9"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no checkpoint 'epoch-9'")
            && stderr(&out).contains("it has best, last"),
        "{}",
        stderr(&out)
    );

    // A good input, then a missing one: nothing is printed, exit 2, the file named.
    let out = ronin(&exp, &["predict", model_s, image, "missing.png"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    assert!(stderr(&out).contains("missing.png"), "{}", stderr(&out));

    // A file that is not ONNX, with a manifest beside it: named, with the fix.
    let fake = tmp.path().join("fake.onnx");
    std::fs::write(&fake, b"not protobuf at all").expect("write");
    std::fs::copy(model.with_extension("json"), fake.with_extension("json")).expect("copy");
    let out = ronin(&exp, &["predict", fake.to_str().expect("utf-8"), image]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("fake.onnx is not a model ONNX Runtime can load")
            && err.contains("ronin export"),
        "{err}"
    );

    // A folder holding a `.png` that is not an image: refused from its header, exit 2.
    let folder = tmp.path().join("folder");
    std::fs::create_dir(&folder).expect("mkdir");
    let mut digits: Vec<_> = std::fs::read_dir(repo().join(image))
        .expect("the set-up's PNG digits")
        .map(|e| e.expect("entry").path())
        .collect();
    digits.sort();
    let png = std::fs::read(&digits[0]).expect("a test digit");
    std::fs::write(folder.join("a.png"), &png).expect("write");
    std::fs::write(folder.join("b.png"), b"text, not pixels").expect("write");
    let folder_s = folder.to_str().expect("utf-8");
    let out = ronin(&exp, &["predict", model_s, folder_s]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("b.png is neither an image"),
        "{}",
        stderr(&out)
    );

    // A PNG whose header is whole but whose pixels are cut off fails when it is decoded,
    // naming the file: exit 1.
    std::fs::write(folder.join("b.png"), &png[..60]).expect("write");
    let out = ronin(&exp, &["predict", model_s, folder_s]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("b.png"), "{}", stderr(&out));

    // --labels labels one IDX input, and must cover it.
    let idx = ".ronin/data/mnist/images-idx3-ubyte";
    let fashion = ".ronin/data/fashion_mnist/train-images-idx3-ubyte";
    let labels = ".ronin/data/mnist/labels-idx1-ubyte";
    let two = ronin(&exp, &["predict", model_s, idx, idx, "--labels", labels]);
    assert_eq!(two.status.code(), Some(2), "{}", stderr(&two));
    assert!(
        stderr(&two).contains("goes with one input"),
        "{}",
        stderr(&two)
    );
    let short = ronin(&exp, &["predict", model_s, fashion, "--labels", labels]);
    assert_eq!(short.status.code(), Some(2), "{}", stderr(&short));
    assert!(
        stderr(&short).contains("holds 10000 labels for the 60000 images"),
        "{}",
        stderr(&short)
    );

    std::fs::remove_file(folder.join("b.png")).expect("remove");
    ok(&ronin(&exp, &["predict", model_s, image]));
    ok(&ronin(&exp, &["predict", model_s, folder_s]));
}

#[test]
fn a_manifest_with_broken_normalization_is_refused_not_a_panic() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let exp = tmp.path().join("experiments");
    let run = train_quick(&exp, "pipelines/mnist_cnn.ron", 1, 64, &[]);
    let model = tmp.path().join("m.onnx");
    export_run(&exp, &run, &model, &[]);
    let manifest_path = model.with_extension("json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).expect("manifest"))
            .expect("JSON");
    manifest["normalization"]["mean"] = serde_json::json!([]);
    std::fs::write(&manifest_path, manifest.to_string()).expect("write manifest");
    let out = ronin(
        &exp,
        &[
            "predict",
            model.to_str().expect("utf-8"),
            ".ronin/data/mnist/images-idx3-ubyte",
            "--limit",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("is inconsistent; export the model again") && err.contains("0 mean values"),
        "{err}"
    );
}
