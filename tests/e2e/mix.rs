//! `mix` (MixUp/CutMix) end to end: a tiny pipeline trains, repeats exactly from its seed,
//! and differs from the same pipeline without mixing; refusals at check time.

use std::path::{Path, PathBuf};

use crate::common::*;

/// A small MNIST CNN with MixUp and CutMix drawn per example, written into `dir`.
fn pipeline(dir: &Path) -> PathBuf {
    let data = repo().join(".ronin/data/mnist");
    let d = data.display();
    let text = format!(
        r#"(
    epochs: 2,
    data: (
        source: Idx(images: "{d}/images-idx3-ubyte", labels: "{d}/labels-idx1-ubyte"),
        split: (validation: 0.1, test: 0.1),
        batch_size: 32,
    ),
    mix: (mixup_alpha: 0.4, cutmix_alpha: 1.0, mode: Elem, label_smoothing: 0.1),
    model: (
        layers: [
            Conv2d(filters: 8, kernel_size: 3, padding: Same),
            ReLU,
            MaxPool2d(kernel_size: 2),
            Flatten,
            Dropout(rate: 0.2),
            Linear(units: 10),
        ],
    ),
    optimizer: Adam(lr: 0.01),
)
"#
    );
    let path = dir.join("tiny_mix.ron");
    std::fs::write(&path, text).expect("write the pipeline");
    path
}

fn train(exp: &Path, file: &Path, extra: &[&str]) -> PathBuf {
    let mut args = vec![
        "train",
        file.to_str().expect("utf-8 path"),
        "--limit",
        "160",
        "--no-progress",
    ];
    args.extend(extra);
    let out = ronin(exp, &args);
    ok(&out);
    let run = PathBuf::from(stdout(&out).trim());
    let record = read(&run.join("run.ron"));
    assert!(
        record.contains("status: Completed") && record.contains("epochs_completed: 2"),
        "{record}"
    );
    run
}

#[test]
fn a_pipeline_with_mix_trains_and_repeats_exactly() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = pipeline(tmp.path());
    let first = train(&tmp.path().join("a"), &file, &[]);
    let again = train(&tmp.path().join("b"), &file, &[]);
    let metrics = read(&first.join("metrics.csv"));
    assert_eq!(metrics.lines().count(), 3, "{metrics}");
    // λ, the boxes and dropout come from the seed, epoch and batch alone.
    assert_eq!(metrics, read(&again.join("metrics.csv")));
    let resolved = read(&first.join("resolved.ron"));
    assert!(
        resolved.contains("mixup_alpha: 0.4") && resolved.contains("mode: Elem"),
        "{resolved}"
    );
    let loss = |csv: &str| -> f64 {
        let header: Vec<&str> = csv.lines().next().expect("header").split(',').collect();
        let row: Vec<&str> = csv.lines().nth(1).expect("epoch 1").split(',').collect();
        let i = header
            .iter()
            .position(|h| *h == "train_loss")
            .expect("train_loss");
        row[i].parse().expect("a number")
    };
    let mixed = loss(&metrics);
    assert!(mixed.is_finite() && mixed > 0.0, "{metrics}");
    // Without mix the same seed trains differently.
    let plain = train(&tmp.path().join("c"), &file, &["--set", "mix=None"]);
    let unmixed = loss(&read(&plain.join("metrics.csv")));
    assert!((mixed - unmixed).abs() > 1e-6, "{mixed} vs {unmixed}");
}

#[test]
fn mix_with_a_loss_without_soft_targets_is_refused() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = pipeline(tmp.path());
    let exp = tmp.path().join("experiments");
    for (set, needle) in [
        ("loss=Mse()", "loss Mse does not take"),
        ("mix.prob=2.0", "mix.prob"),
        ("model.cache_features=true", "mix changes the input images"),
    ] {
        let out = ronin(
            &exp,
            &["train", file.to_str().expect("utf-8"), "--set", set],
        );
        assert_eq!(out.status.code(), Some(2), "{set}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{set}: {}", stderr(&out));
    }
    assert!(!exp.exists(), "a refused pipeline wrote a run");
}
