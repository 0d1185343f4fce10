//! Training that ends badly: Ctrl-C on a real process, and a loss that diverges.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// Waits until `metrics.csv` of the only run under `dir` has at least one epoch row.
fn wait_for_first_epoch(dir: &std::path::Path, limit: Duration) -> Option<PathBuf> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(pipelines) = std::fs::read_dir(dir) {
            for p in pipelines.flatten() {
                for r in std::fs::read_dir(p.path()).into_iter().flatten().flatten() {
                    let csv = r.path().join("metrics.csv");
                    if std::fs::read_to_string(&csv).is_ok_and(|t| t.lines().count() >= 2) {
                        return Some(r.path());
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

#[test]
fn ctrl_c_saves_and_marks_the_run_interrupted() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let exp = tmp.path().join("experiments");
    let mut child = Command::new(ronin_bin())
        .args(["--experiments", exp.to_str().expect("utf-8")])
        .args([
            "train",
            "pipelines/mnist_cnn.ron",
            "--epochs",
            "200",
            "--limit",
            "300",
            "--no-progress",
        ])
        .current_dir(repo())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ronin starts");
    let Some(run) = wait_for_first_epoch(&exp, Duration::from_secs(180)) else {
        let _ = child.kill();
        panic!("no epoch finished within 180 s");
    };
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let out = child.wait_with_output().expect("ronin exits");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted after"), "{err}");
    let record = std::fs::read_to_string(run.join("run.ron")).expect("run.ron");
    assert!(record.contains("status: Interrupted"), "{record}");
    assert!(!record.contains("epochs_completed: 0"), "{record}");
    assert!(run.join("checkpoints/last/model.safetensors").is_file());
    let partial: Vec<_> = std::fs::read_dir(run.join("checkpoints"))
        .expect("checkpoints/")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(partial.is_empty(), "half-written checkpoints: {partial:?}");
}

#[test]
fn a_diverging_loss_fails_the_run_with_its_reason() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let exp = tmp.path().join("experiments");
    let pipeline = tmp.path().join("diverge.ron");
    std::fs::write(
        &pipeline,
        r#"(
    epochs: 2,
    data: (
        source: Idx(images: ".ronin/data/mnist/images-idx3-ubyte", labels: ".ronin/data/mnist/labels-idx1-ubyte"),
        limit: 300,
    ),
    model: (layers: [Flatten, Linear(units: 64), ReLU, Linear(units: 10)]),
    optimizer: Sgd(lr: 1e30),
)"#,
    )
    .expect("write pipeline");
    let out = ronin(
        &exp,
        &["train", pipeline.to_str().expect("utf-8"), "--no-progress"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("the training loss became NaN in epoch 1")
            && err.contains("Lower optimizer.lr"),
        "{err}"
    );
    assert!(
        err.contains("no epoch had completed, so no checkpoint was written"),
        "{err}"
    );
    let run = single_run(&exp, "diverge");
    let record = std::fs::read_to_string(run.join("run.ron")).expect("run.ron");
    assert!(
        record.contains("status: Failed") && record.contains("became NaN"),
        "{record}"
    );
    assert!(record.contains("ended: Some("), "{record}");
}

#[test]
fn a_checkpoint_save_cut_between_its_renames_still_exports() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let exp = tmp.path().join("experiments");
    let run = train_quick(&exp, "pipelines/mnist_cnn.ron", 1, 64, &[]);
    // What a kill between "best → .best.old" and ".best.partial → best" leaves behind.
    let checkpoints = run.join("checkpoints");
    std::fs::rename(checkpoints.join("best"), checkpoints.join(".best.old")).expect("rename");
    std::fs::create_dir(checkpoints.join(".best.partial")).expect("partial dir");
    let model = tmp.path().join("m.onnx");
    export_run(&exp, &run, &model, &[]);
    assert!(model.is_file());
}
