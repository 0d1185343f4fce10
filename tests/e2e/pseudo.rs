//! Pseudo-labelling: `ronin predict --pseudo-label` writes the confident predictions as an
//! IDX dataset, `data.extra_train` trains with it; `predict` reads folders of images.

use std::path::Path;
use std::process::Output;

use crate::common::*;

/// `ronin predict MODEL` on the first 300 MNIST digits, with `extra` arguments.
fn predict_300(exp: &Path, model: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "predict",
        model.to_str().expect("utf-8"),
        ".ronin/data/mnist/images-idx3-ubyte",
        "--limit",
        "300",
    ];
    args.extend_from_slice(extra);
    ronin(exp, &args)
}

#[test]
fn pseudo_labels_enlarge_the_training_split() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let exp = tmp.path().join("experiments");
    let run = train_quick(&exp, "pipelines/mnist_cnn.ron", 1, 256, &[])
        .display()
        .to_string();
    let model = tmp.path().join("m.onnx");
    ok(&ronin(
        &exp,
        &["export", &run, "--out", model.to_str().expect("utf-8")],
    ));

    // The threshold is the median top probability of these 300 predictions, so about half
    // are kept whatever the model learnt in its one epoch.
    let out = predict_300(&exp, &model, &["--json", "-k", "1"]);
    ok(&out);
    let mut probs: Vec<f64> = stdout(&out)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON line");
            v["top"][0]["probability"].as_f64().expect("probability")
        })
        .collect();
    probs.sort_by(f64::total_cmp);
    let threshold = probs[150];
    let expected = probs.iter().filter(|p| **p >= threshold).count();

    let dir = tmp.path().join("pseudo");
    let out = predict_300(
        &exp,
        &model,
        &[
            "--labels",
            ".ronin/data/mnist/labels-idx1-ubyte",
            "--pseudo-label",
            dir.to_str().expect("utf-8"),
            "--threshold",
            &format!("{threshold}"),
        ],
    );
    ok(&out);
    let csv = read(&dir.join("pseudo_labels.csv"));
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    // JSON and f32 rounding may move the one prediction at the threshold.
    assert!(
        rows.len().abs_diff(expected) <= 1,
        "{} rows, expected {expected}",
        rows.len()
    );
    for r in &rows {
        let cols: Vec<&str> = r.rsplitn(4, ',').collect();
        let p: f64 = cols[1].parse().expect("probability");
        assert!(p >= threshold - 1e-6, "{r}");
    }
    assert!(
        stderr(&out).contains(&format!("pseudo-labelled {} of 300 inputs", rows.len())),
        "{}",
        stderr(&out)
    );
    // The labels file holds one byte per kept image after its 8-byte header.
    let labels = std::fs::read(dir.join("labels-idx1-ubyte")).expect("labels");
    assert_eq!(labels.len(), 8 + rows.len());
    let images = std::fs::read(dir.join("images-idx3-ubyte")).expect("images");
    assert_eq!(images.len(), 16 + rows.len() * 784);
    // Each kept image is the input's bytes: the first row names input #k, whose pixels match.
    let first: usize = rows[0]
        .split('#')
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|s| s.parse().ok())
        .expect("input index");
    let source = std::fs::read(repo().join(".ronin/data/mnist/images-idx3-ubyte")).expect("mnist");
    assert_eq!(
        &images[16..16 + 784],
        &source[16 + first * 784..16 + (first + 1) * 784]
    );

    // --per-class keeps the most confident few of each class.
    let capped = tmp.path().join("capped");
    let out = predict_300(
        &exp,
        &model,
        &[
            "--pseudo-label",
            capped.to_str().expect("utf-8"),
            "--threshold",
            "0.1",
            "--per-class",
            "3",
        ],
    );
    ok(&out);
    let kept = std::fs::read(capped.join("labels-idx1-ubyte")).expect("labels");
    let mut counts = [0usize; 256];
    for &l in &kept[8..] {
        counts[usize::from(l)] += 1;
    }
    assert!(counts.iter().all(|&c| c <= 3), "{:?}", &counts[..10]);
    assert!(kept.len() > 8, "nothing kept");

    let extra = format!(
        "data.extra_train=[(images: \"{}\", labels: \"{}\")]",
        dir.join("images-idx3-ubyte").display(),
        dir.join("labels-idx1-ubyte").display()
    );
    let run = train_quick(&exp, "pipelines/mnist_cnn.ron", 1, 64, &["--set", &extra]);
    let data: serde_json::Value =
        serde_json::from_str(&read(&run.join("data.json"))).expect("data.json");
    assert_eq!(data["train_examples"], 64 + rows.len(), "{data}");
    assert_eq!(data["validation_examples"], 64);

    // A missing extra file is a pipeline error naming the field.
    let bad = ronin(
        &exp,
        &[
            "check",
            "pipelines/mnist_cnn.ron",
            "--set",
            "data.extra_train=[(images: \"nope.idx\", labels: \"nope.idx\")]",
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("extra_train[0].images"),
        "{}",
        stderr(&bad)
    );

    // A folder of images predicts each one, in name order.
    let folder = tmp.path().join("folder/nested");
    std::fs::create_dir_all(&folder).expect("mkdir");
    let png = |name: &str, value: u8| {
        let img = image::GrayImage::from_pixel(28, 28, image::Luma([value]));
        img.save(folder.join(name)).expect("png");
    };
    png("b.png", 0);
    png("a.png", 255);
    let out = ronin(
        &exp,
        &[
            "predict",
            model.to_str().expect("utf-8"),
            tmp.path().join("folder").to_str().expect("utf-8"),
            "--json",
        ],
    );
    ok(&out);
    let lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains("a.png") && lines[1].contains("b.png"),
        "{lines:?}"
    );
}
