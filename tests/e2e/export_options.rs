//! The pipeline's `export` section: normalization inside the graph (same answers as
//! outside), a fixed batch of 1, and the manifest's input policy (`resize: Refuse` turns
//! an image of the wrong size or channels away naming it; an old manifest still resizes).

use std::path::{Path, PathBuf};

use crate::common::*;

/// One short run of mnist_cnn with `export.dynamic_batch: false` and `export.resize:
/// Refuse`; returns its directory.
fn train(exp: &Path) -> PathBuf {
    train_quick(
        exp,
        "pipelines/mnist_cnn.ron",
        1,
        256,
        &[
            "--set",
            "export.dynamic_batch=false",
            "--set",
            "export.resize=Refuse",
        ],
    )
}

fn export(exp: &Path, run: &Path, model: &Path, extra: &[&str]) {
    export_run(exp, run, model, extra);
}

fn manifest(model: &Path) -> serde_json::Value {
    serde_json::from_str(&read(&model.with_extension("json"))).expect("manifest JSON")
}

/// `ronin predict MODEL IDX --limit 40 --json`: the top class and its probability per image.
fn predictions(exp: &Path, model: &Path) -> Vec<(String, f64)> {
    let out = ronin(
        exp,
        &[
            "predict",
            model.to_str().expect("utf-8"),
            ".ronin/data/mnist/images-idx3-ubyte",
            "--limit",
            "40",
            "--json",
        ],
    );
    ok(&out);
    stdout(&out)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON line");
            let top = &v["top"][0];
            (
                top["class"].as_str().expect("class").to_owned(),
                top["probability"].as_f64().expect("probability"),
            )
        })
        .collect()
}

fn png(path: &Path, w: u32, h: u32, rgb: bool) {
    let img = if rgb {
        image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 9) as u8, (y * 9) as u8, 128])
        }))
    } else {
        image::DynamicImage::ImageLuma8(image::GrayImage::from_fn(w, h, |x, y| {
            image::Luma([((x + y) * 5) as u8])
        }))
    };
    img.save(path).expect("write PNG");
}

#[test]
fn normalization_in_the_graph_gives_the_same_answers_and_the_batch_is_fixed() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let exp = tmp.path().join("experiments");
    let run = train(&exp);
    let (outside, inside) = (
        tmp.path().join("outside.onnx"),
        tmp.path().join("inside.onnx"),
    );
    export(&exp, &run, &outside, &[]);
    export(&exp, &run, &inside, &["--normalize"]);

    let (m_out, m_in) = (manifest(&outside), manifest(&inside));
    assert_eq!(m_out["normalization"]["in_graph"], false);
    assert_eq!(m_in["normalization"]["in_graph"], true);
    assert_eq!(
        m_in["normalization"]["mean"],
        m_out["normalization"]["mean"]
    );
    // `dynamic_batch: false`: a batch of 1, in the manifest and in the graph.
    assert_eq!(m_in["input_shape"], serde_json::json!([1, 1, 28, 28]));
    let checked = python_script("check_onnx.py", &[&inside]);
    ok(&checked);
    assert!(stdout(&checked).contains("opset"), "{}", stdout(&checked));

    // predict and eval feed pixels to the one and normalised pixels to the other.
    let (a, b) = (predictions(&exp, &outside), predictions(&exp, &inside));
    assert_eq!(a.len(), 40);
    for (i, ((ca, pa), (cb, pb))) in a.iter().zip(&b).enumerate() {
        assert_eq!(ca, cb, "image {i}");
        assert!((pa - pb).abs() < 1e-4, "image {i}: {pa} vs {pb}");
    }
    let accuracy = |model: &Path| -> f64 {
        let args = [
            "--data",
            "pipelines/mnist_cnn.ron",
            "--set",
            "data.limit=256",
        ];
        eval_report(&exp, model, &args)["accuracy"]
            .as_f64()
            .expect("accuracy")
    };
    let (acc_out, acc_in) = (accuracy(&outside), accuracy(&inside));
    // The same figures, but for an example on a float rounding's edge.
    assert!((acc_out - acc_in).abs() <= 0.005, "{acc_out} vs {acc_in}");
}

#[test]
fn refuse_policy_rejects_a_wrong_size_or_colour_image_and_old_manifests_resize() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let exp = tmp.path().join("experiments");
    let run = train(&exp);
    let model = tmp.path().join("cnn.onnx");
    export(&exp, &run, &model, &[]);
    assert_eq!(manifest(&model)["input_policy"], "refuse");

    let (small, rgb, good) = (
        tmp.path().join("small.png"),
        tmp.path().join("rgb.png"),
        tmp.path().join("good.png"),
    );
    png(&small, 20, 20, false);
    png(&rgb, 28, 28, true);
    png(&good, 28, 28, false);
    let predict = |image: &Path| {
        ronin(
            &exp,
            &[
                "predict",
                model.to_str().expect("utf-8"),
                image.to_str().expect("utf-8"),
            ],
        )
    };
    let out = predict(&small);
    assert!(!out.status.success(), "a 20×20 image was accepted");
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{} is 20×20 with 1 channel(s), but the model takes 28×28 with 1 channel(s)",
            small.display()
        )) && err.contains("input_policy is \"refuse\""),
        "{err}"
    );
    let out = predict(&rgb);
    assert!(!out.status.success(), "an RGB image was accepted");
    assert!(
        stderr(&out).contains("28×28 with 3 channel(s)"),
        "{}",
        stderr(&out)
    );
    ok(&predict(&good));

    // A manifest from before `input_policy`: read as "bilinear", the image is resized.
    let path = model.with_extension("json");
    let mut old = manifest(&model);
    let object = old.as_object_mut().expect("object");
    object.remove("input_policy");
    object.remove("calibration");
    std::fs::write(&path, serde_json::to_string_pretty(&old).expect("JSON")).expect("write");
    let out = predict(&small);
    ok(&out);
    assert!(
        stderr(&out).contains("resized to 28×28"),
        "{}",
        stderr(&out)
    );
}
