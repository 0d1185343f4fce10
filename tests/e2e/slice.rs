//! The vertical slice on a small subset: check → train 1 epoch → export → predict, asserting
//! on the files each step leaves on disk and reading them back with TensorBoard's and ONNX's
//! own Python readers.

use std::path::Path;

use crate::common::*;

#[test]
fn train_export_predict_on_real_mnist() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let exp = tmp.path().join("experiments");

    // Train one epoch on 400 examples per split.
    let run = train_quick(&exp, "pipelines/mnist_cnn.ron", 1, 400, &[]);
    assert_eq!(
        run,
        single_run(&exp, "mnist_cnn"),
        "train prints the run directory"
    );

    // The run directory: snapshot, record, metrics, events, checkpoints.
    assert_eq!(
        read(&run.join("pipeline.ron")),
        read(&repo().join("pipelines/mnist_cnn.ron"))
    );
    let resolved = read(&run.join("resolved.ron"));
    assert!(
        resolved.contains("epochs: 1") && resolved.contains("limit: Some(400)"),
        "{resolved}"
    );
    let record = read(&run.join("run.ron"));
    for needle in [
        "status: Completed",
        "seed: 42",
        "device: \"cpu\"",
        "\"libtorch\": \"2.13.0\"",
        "epochs_completed: 1",
        "test_accuracy",
    ] {
        assert!(record.contains(needle), "run.ron lacks {needle}:\n{record}");
    }
    let csv = read(&run.join("metrics.csv"));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    let header: Vec<&str> = lines[0].split(',').collect();
    let values: Vec<f64> = lines[1]
        .split(',')
        .map(|v| v.parse().expect("number"))
        .collect();
    assert_eq!(header.len(), values.len(), "{csv}");
    let column = |name: &str| -> f64 {
        let i = header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("metrics.csv has no {name} column: {csv}"));
        values[i]
    };
    assert_eq!(column("epoch"), 1.0);
    let train_loss = column("train_loss");
    assert!(
        train_loss.is_finite() && train_loss > 0.0,
        "train loss {train_loss}"
    );
    for name in [
        "train_accuracy",
        "val_accuracy",
        "val_top5_accuracy",
        "val_f1",
    ] {
        assert!(
            (0.0..=1.0).contains(&column(name)),
            "{name} {}",
            column(name)
        );
    }
    assert!(column("val_top5_accuracy") >= column("val_accuracy"));
    assert!(column("lr") > 0.0);
    let timing = read(&run.join("timing.csv"));
    assert!(
        timing.starts_with("epoch,epoch_seconds,images_per_second") && timing.lines().count() == 2,
        "{timing}"
    );
    for ckpt in ["best", "last"] {
        for f in [
            "model.safetensors",
            "state.safetensors",
            "reference.safetensors",
            "meta.ron",
        ] {
            assert!(
                run.join("checkpoints").join(ckpt).join(f).is_file(),
                "missing checkpoints/{ckpt}/{f}"
            );
        }
    }
    let leftovers: Vec<_> = std::fs::read_dir(run.join("checkpoints"))
        .expect("checkpoints/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(
        leftovers.is_empty(),
        "half-written checkpoints left: {leftovers:?}"
    );

    // TensorBoard's own reader sees the same numbers as metrics.csv.
    let events = python_script("read_events.py", &[&run.join("events")]);
    ok(&events);
    let scalars: serde_json::Value =
        serde_json::from_str(&stdout(&events)).expect("JSON from read_events.py");
    for tag in [
        "train/loss",
        "train/accuracy",
        "val/loss",
        "val/accuracy",
        "lr",
    ] {
        assert!(
            scalars.get(tag).is_some(),
            "TensorBoard sees no {tag}: {scalars}"
        );
    }
    let tb_loss = scalars["train/loss"][0][1].as_f64().expect("value");
    assert!(
        (tb_loss - train_loss).abs() < 1e-5,
        "TensorBoard {tb_loss} vs metrics.csv {train_loss}"
    );
    assert_eq!(
        scalars["val/accuracy"][0][0], 1,
        "per-epoch scalars are logged at their epoch"
    );

    // Export: ONNX Runtime agrees with the trained model.
    let model = tmp.path().join("exports/mnist_cnn.onnx");
    export_run(&exp, &run, &model, &[]);
    let manifest: serde_json::Value =
        serde_json::from_str(&read(&model.with_extension("json"))).expect("manifest JSON");
    let diff = manifest["parity"]["max_abs_diff"]
        .as_f64()
        .expect("parity figure");
    assert!(diff <= 1e-4, "parity {diff}");
    assert_eq!(
        manifest["input_shape"],
        serde_json::json!(["batch", 1, 28, 28])
    );
    assert_eq!(manifest["class_names"].as_array().map(Vec::len), Some(10));
    assert_eq!(manifest["opset"], 17);

    // onnx.checker (full) accepts it; ONNX Runtime's Python API runs it with a dynamic batch.
    let checked = python_script("check_onnx.py", &[&model]);
    ok(&checked);
    let info: serde_json::Value =
        serde_json::from_str(&stdout(&checked)).expect("JSON from check_onnx.py");
    assert_eq!(info["ir_version"], 10);
    assert_eq!(info["opset"], 17);
    assert_eq!(info["batch_dim"], "batch");
    assert_eq!(info["output_shape"], serde_json::json!([3, 10]));

    // Predict: top-k through ort, from an IDX file and from a PNG.
    let out = ronin(
        &exp,
        &[
            "predict",
            model.to_str().expect("utf-8"),
            ".ronin/data/mnist/images-idx3-ubyte",
            "--limit",
            "5",
            "--json",
            "-k",
            "2",
        ],
    );
    ok(&out);
    let answers: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(answers.len(), 5);
    for a in &answers {
        let top = a["top"].as_array().expect("top list");
        assert_eq!(top.len(), 2);
        let (p0, p1) = (
            top[0]["probability"].as_f64().expect("p"),
            top[1]["probability"].as_f64().expect("p"),
        );
        assert!(p0 >= p1 && p0 <= 1.0 && p1 >= 0.0, "{a}");
    }

    // A PNG of the first digit gives the same answer as the IDX row it came from.
    let images = ronin_png_of_first_digit(tmp.path());
    let out = ronin(
        &exp,
        &[
            "predict",
            model.to_str().expect("utf-8"),
            images.to_str().expect("utf-8"),
            "--json",
            "-k",
            "1",
        ],
    );
    ok(&out);
    let png: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("JSON");
    assert_eq!(png["top"][0]["class"], answers[0]["top"][0]["class"]);
    let (a, b) = (
        png["top"][0]["probability"].as_f64().expect("p"),
        answers[0]["top"][0]["probability"].as_f64().expect("p"),
    );
    assert!((a - b).abs() < 1e-5, "PNG {a} vs IDX {b}");
}

/// Writes the first MNIST digit as an 8-bit grayscale PNG (with Python's zlib, no extra crates).
fn ronin_png_of_first_digit(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("digit0.png");
    let script = r#"
import struct, sys, zlib
raw = open(sys.argv[1], 'rb').read()[16:16 + 784]
rows = b''.join(b'\x00' + raw[r * 28:(r + 1) * 28] for r in range(28))
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
png = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 28, 28, 8, 0, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b'')
open(sys.argv[2], 'wb').write(png)
"#;
    let status = std::process::Command::new(python())
        .args(["-c", script])
        .arg(repo().join(".ronin/data/mnist/images-idx3-ubyte"))
        .arg(&out)
        .status()
        .expect("python runs");
    assert!(status.success());
    out
}
