//! `ImageFolder` and `Csv` sources end to end: train, export (the class names are the
//! folders' names in the manifest), `ronin data stats` with the files' sizes, and bad
//! input failing before a run directory exists.

use std::path::{Path, PathBuf};

use crate::common::*;

const CLASSES: [&str; 3] = ["zebra", "ant", "moth"];

/// `per_class` RGB PNGs in each class folder under `root`, of two sizes (12×10 and 9×9:
/// the pipeline resizes them), each coloured by its class so that they can be learnt.
fn write_tree(root: &Path, per_class: u32) -> Vec<(PathBuf, &'static str)> {
    let mut files = Vec::new();
    for (c, class) in CLASSES.iter().enumerate() {
        let dir = root.join(class);
        std::fs::create_dir_all(&dir).expect("class folder");
        for k in 0..per_class {
            let (w, h) = if k % 2 == 0 { (12, 10) } else { (9, 9) };
            let img = image::RgbImage::from_fn(w, h, |x, y| {
                let v = (x * 11 + y * 7 + k * 3) as u8;
                let mut px = [v / 4; 3];
                px[c] = 160u8.wrapping_add(v / 2);
                image::Rgb(px)
            });
            let path = dir.join(format!("{k:02}.png"));
            img.save(&path).expect("write PNG");
            files.push((path, *class));
        }
    }
    files
}

fn pipeline(dir: &Path, name: &str, source: &str) -> PathBuf {
    let text = format!(
        r#"(
    name: "{name}",
    epochs: 1,
    data: (
        source: {source},
        split: (validation: 0.2),
        batch_size: 8,
    ),
    model: (layers: [
        Conv2d(filters: 4, kernel_size: 3, padding: Same), ReLU, MaxPool2d(kernel_size: 2),
        Flatten, Linear(units: 3),
    ]),
    optimizer: Adam(lr: 0.01),
)"#
    );
    let path = dir.join(format!("{name}.ron"));
    std::fs::write(&path, text).expect("write pipeline");
    path
}

/// Trains `pipeline` and exports it; returns the run directory and the manifest.
fn train_and_export(exp: &Path, pipeline: &Path, onnx: &Path) -> (PathBuf, serde_json::Value) {
    let out = ronin(
        exp,
        &["train", pipeline.to_str().expect("utf-8"), "--no-progress"],
    );
    ok(&out);
    let run = PathBuf::from(stdout(&out).trim());
    ok(&ronin(
        exp,
        &[
            "export",
            run.to_str().expect("utf-8"),
            "--out",
            onnx.to_str().expect("utf-8"),
        ],
    ));
    let manifest = serde_json::from_str(&read(&onnx.with_extension("json"))).expect("manifest");
    (run, manifest)
}

#[test]
fn an_image_folder_trains_exports_its_class_names_and_reports_its_sizes() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = tmp.path().join("train");
    write_tree(&root, 10);
    let test = tmp.path().join("test");
    write_tree(&test, 2);
    let source = format!(
        r#"ImageFolder(root: "{}", test: "{}", size: (8, 8))"#,
        root.display(),
        test.display()
    );
    let file = pipeline(tmp.path(), "folder_tiny", &source);
    let exp = tmp.path().join("experiments");
    let (run, manifest) = train_and_export(&exp, &file, &tmp.path().join("folder.onnx"));
    // Sorted folder names, as torchvision's ImageFolder.
    let sorted = serde_json::json!(["ant", "moth", "zebra"]);
    assert_eq!(manifest["class_names"], sorted);
    let data: serde_json::Value =
        serde_json::from_str(&read(&run.join("data.json"))).expect("data.json");
    assert_eq!(data["classes"], sorted);
    assert_eq!(data["input_shape"], serde_json::json!([3, 8, 8]));
    assert_eq!(data["test_examples"], 6);

    let stats = ronin(
        &exp,
        &["data", "stats", "--json", file.to_str().expect("utf-8")],
    );
    ok(&stats);
    let v: serde_json::Value = serde_json::from_str(&stdout(&stats)).expect("JSON");
    assert_eq!(v["source"]["kind"], "ImageFolder");
    assert_eq!(v["image_files"]["files"], 36);
    assert_eq!(
        v["image_files"]["original_sizes"],
        serde_json::json!([[9, 9, 18], [10, 12, 18]])
    );
    let text = ronin(&exp, &["data", "stats", file.to_str().expect("utf-8")]);
    ok(&text);
    assert!(
        stdout(&text).contains("files: 36, resized to the source's size (triangle filter); original sizes (H×W): 9×9: 18, 10×12: 18"),
        "{}",
        stdout(&text)
    );
}

#[test]
fn a_csv_source_trains_and_bad_rows_fail_before_a_run_starts() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let files = write_tree(&tmp.path().join("imgs"), 6);
    let csv = tmp.path().join("labels.csv");
    let mut text = String::from("path,label\n");
    for (path, class) in &files {
        let rel = path.strip_prefix(tmp.path()).expect("under tmp");
        text.push_str(&format!("{},{class}\n", rel.display()));
    }
    std::fs::write(&csv, &text).expect("write CSV");
    let source = format!(r#"Csv(file: "{}", size: (8, 8))"#, csv.display());
    let file = pipeline(tmp.path(), "csv_tiny", &source);
    let check = ronin(tmp.path(), &["check", file.to_str().expect("utf-8")]);
    ok(&check);
    let exp = tmp.path().join("experiments");
    let (_, manifest) = train_and_export(&exp, &file, &tmp.path().join("csv.onnx"));
    assert_eq!(
        manifest["class_names"],
        serde_json::json!(["ant", "moth", "zebra"])
    );

    // A row naming a missing file: the CSV file and line in the message, no run.
    text.push_str("imgs/ant/missing.png,ant\n");
    std::fs::write(&csv, &text).expect("write CSV");
    let bad_exp = tmp.path().join("bad");
    let out = ronin(
        &bad_exp,
        &["train", file.to_str().expect("utf-8"), "--no-progress"],
    );
    assert!(!out.status.success());
    let line = files.len() + 2;
    assert!(
        stderr(&out).contains(&format!("labels.csv, line {line}:"))
            && stderr(&out).contains("missing.png does not exist"),
        "{}",
        stderr(&out)
    );
    assert!(
        !bad_exp.join("csv_tiny").exists(),
        "no run directory for bad data"
    );
}

/// Under `on_corrupt: Skip`, a file whose header reads but whose pixels do not decode is
/// left out of its batch when it is met; with one image a batch, that batch is empty and
/// the step is skipped (it was a NaN loss that ended the run).
#[test]
fn a_batch_left_empty_by_skipped_files_is_skipped() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = tmp.path().join("train");
    let files = write_tree(&root, 6);
    // Cut the end off three files: their headers read, so the build keeps them, and
    // their pixels fail to decode when their batch is built.
    for (path, _) in files.iter().step_by(7).take(3) {
        let bytes = std::fs::read(path).expect("read PNG");
        std::fs::write(path, &bytes[..bytes.len() - 30]).expect("truncate");
    }
    let text = format!(
        r#"(
    name: "skipping",
    epochs: 2,
    data: (
        source: ImageFolder(root: "{}", size: (10, 10), on_corrupt: Skip),
        split: (validation: 0.25),
        normalize: None,
        batch_size: 1,
    ),
    model: (layers: [Flatten, Linear(units: 3)]),
    optimizer: Adam(lr: 0.01),
)"#,
        root.display()
    );
    let pipeline = tmp.path().join("skipping.ron");
    std::fs::write(&pipeline, text).expect("write pipeline");
    let exp = tmp.path().join("experiments");
    let out = ronin(
        &exp,
        &["train", pipeline.to_str().expect("utf-8"), "--no-progress"],
    );
    ok(&out);
    assert!(
        stderr(&out).contains("cannot decode the image")
            && stderr(&out).contains("leaving it out (on_corrupt: Skip)"),
        "the files were not met mid-epoch: {}",
        stderr(&out)
    );
    let run = PathBuf::from(stdout(&out).trim());
    let metrics = read(&run.join("metrics.csv"));
    assert!(
        !metrics.to_lowercase().contains("nan"),
        "a NaN in the metrics:\n{metrics}"
    );
    assert!(
        read(&run.join("run.ron")).contains("status: Completed"),
        "{}",
        stderr(&out)
    );
}
