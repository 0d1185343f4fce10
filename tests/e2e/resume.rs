//! Exact resume: a real training process killed with SIGKILL (and one stopped with Ctrl-C)
//! continues from its newest checkpoint and ends with the same weights and metrics as a
//! run that was never interrupted.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// A small run with state in every part that must survive a resume: Adam moments, a
/// warm-up then ReduceLROnPlateau, dropout, augmentation, MixUp/CutMix per example,
/// EarlyStopping's counters, an EMA of the weights, and mid-epoch backups every 3 batches.
const PIPELINE: &str = r#"(
    seed: 11,
    epochs: 8,
    data: (
        source: Idx(images: ".ronin/data/mnist/images-idx3-ubyte", labels: ".ronin/data/mnist/labels-idx1-ubyte"),
        split: (validation: 0.2, test: 0.2, stratified: true),
        normalize: Computed,
        batch_size: 32,
        limit: 320,
    ),
    augment: [RandomRotation(degrees: 15, p: 0.5), GaussianNoise(std: 0.05, p: 0.5)],
    mix: (mixup_alpha: 0.4, cutmix_alpha: 1.0, mode: Elem, label_smoothing: 0.1),
    model: (layers: [
        Conv2d(filters: 8, kernel_size: 3, padding: Same), ReLU, MaxPool2d(kernel_size: 2),
        Flatten, Dropout(rate: 0.3), Linear(units: 32), ReLU, Linear(units: 10),
    ]),
    optimizer: Adam(lr: 0.003),
    warmup: (steps: 5, start_factor: 0.2),
    schedule: ReduceLROnPlateau(monitor: "val_accuracy", patience: 1, factor: 0.5),
    callbacks: [
        EarlyStopping(monitor: "val_loss", patience: 50),
        Ema(momentum: 0.9),
        BackupAndRestore(save_freq: Batches(3)),
    ],
)"#;

fn write_pipeline(dir: &Path) -> PathBuf {
    let path = dir.join("resume_probe.ron");
    std::fs::write(&path, PIPELINE).expect("write pipeline");
    path
}

fn spawn_train(exp: &Path, pipeline: &Path) -> Child {
    Command::new(ronin_bin())
        .args(["--experiments", exp.to_str().expect("utf-8")])
        .args(["train", pipeline.to_str().expect("utf-8"), "--no-progress"])
        .current_dir(repo())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ronin starts")
}

/// Waits until the only run under `exp/<pipeline>` has `rows` epoch rows in metrics.csv.
fn wait_for_epochs(exp: &Path, pipeline: &str, rows: usize, limit: Duration) -> Option<PathBuf> {
    let start = Instant::now();
    while start.elapsed() < limit {
        for r in std::fs::read_dir(exp.join(pipeline))
            .into_iter()
            .flatten()
            .flatten()
        {
            let csv = r.path().join("metrics.csv");
            if std::fs::read_to_string(&csv).is_ok_and(|t| t.lines().count() > rows) {
                return Some(r.path());
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// What must be equal between an interrupted-then-resumed run and an uninterrupted one.
struct Outcome {
    metrics: String,
    weights: Vec<u8>,
    best: Vec<u8>,
    test: String,
}

fn outcome(run: &Path) -> Outcome {
    let record = read(&run.join("run.ron"));
    assert!(record.contains("status: Completed"), "{record}");
    let bytes = |p: PathBuf| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    Outcome {
        metrics: read(&run.join("metrics.csv")),
        weights: bytes(run.join("checkpoints/last/model.safetensors")),
        best: bytes(run.join("checkpoints/best/model.safetensors")),
        test: read(&run.join("test_report.json")),
    }
}

fn assert_same(resumed: &Outcome, reference: &Outcome, how: &str) {
    assert_eq!(
        resumed.metrics, reference.metrics,
        "{how}: metrics.csv differs from the uninterrupted run"
    );
    assert!(
        resumed.weights == reference.weights,
        "{how}: the last weights differ from the uninterrupted run"
    );
    assert!(
        resumed.best == reference.best,
        "{how}: the best weights differ from the uninterrupted run"
    );
    assert_eq!(
        resumed.test, reference.test,
        "{how}: test_report.json differs"
    );
}

fn reference_run(tmp: &Path, pipeline: &Path) -> Outcome {
    let exp = tmp.join("reference");
    let out = ronin(
        &exp,
        &["train", pipeline.to_str().expect("utf-8"), "--no-progress"],
    );
    ok(&out);
    outcome(&single_run(&exp, "resume_probe"))
}

#[test]
fn kill_9_then_resume_ends_like_an_uninterrupted_run() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let pipeline = write_pipeline(tmp.path());
    let reference = reference_run(tmp.path(), &pipeline);

    // SIGKILL part-way through epoch 3 or later: no handler runs, nothing is saved at the
    // kill; the newest checkpoint (an epoch end or a mid-epoch backup) is what is left.
    let exp = tmp.path().join("killed");
    let mut child = spawn_train(&exp, &pipeline);
    let Some(run) = wait_for_epochs(&exp, "resume_probe", 2, Duration::from_secs(300)) else {
        let _ = child.kill();
        panic!("two epochs did not finish within 300 s");
    };
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let status = read(&run.join("run.ron"));
    assert!(
        status.contains("status: Running"),
        "a killed process cannot mark its run; got:\n{status}"
    );
    assert!(
        !read(&run.join("metrics.csv")).contains("\n8,"),
        "the run finished before it was killed; the test proves nothing"
    );

    // Resume by id prefix, as a user would after reading `ronin runs`.
    let id = run
        .file_name()
        .expect("run id")
        .to_string_lossy()
        .into_owned();
    let out = ronin(&exp, &["train", "--resume", &id[..17], "--no-progress"]);
    ok(&out);
    let err = stderr(&out);
    assert!(err.contains("resuming after epoch"), "{err}");
    assert_eq!(stdout(&out).trim(), run.display().to_string());
    assert_same(&outcome(&run), &reference, "kill -9 + --resume");

    // A completed run has nothing to resume: exit 2, and the run is untouched.
    let again = ronin(&exp, &["resume", &id]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(stderr(&again).contains("already completed"));
}

#[test]
fn ctrl_c_then_backup_and_restore_continues_the_same_run() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let pipeline = write_pipeline(tmp.path());
    let reference = reference_run(tmp.path(), &pipeline);

    let exp = tmp.path().join("interrupted");
    let child = spawn_train(&exp, &pipeline);
    let Some(run) = wait_for_epochs(&exp, "resume_probe", 1, Duration::from_secs(300)) else {
        panic!("no epoch finished within 300 s");
    };
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let out = child.wait_with_output().expect("ronin exits");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.contains(&format!("ronin train --resume {}", run.display())),
        "Ctrl-C prints the resume command:\n{err}"
    );
    assert!(read(&run.join("run.ron")).contains("status: Interrupted"));

    // Training the same pipeline again: BackupAndRestore picks the interrupted run up.
    let out = ronin(
        &exp,
        &["train", pipeline.to_str().expect("utf-8"), "--no-progress"],
    );
    ok(&out);
    assert!(
        stderr(&out).contains("BackupAndRestore: continuing the interrupted run"),
        "{}",
        stderr(&out)
    );
    assert_eq!(single_run(&exp, "resume_probe"), run);
    assert_same(&outcome(&run), &reference, "Ctrl-C + BackupAndRestore");
    assert!(
        !run.join("checkpoints/resume").exists(),
        "BackupAndRestore deletes its backup when training ends"
    );
}

#[test]
fn resume_refuses_what_it_cannot_continue() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let exp = tmp.path().join("experiments");
    let out = ronin(&exp, &["train", "--resume", "no-such-run"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no-such-run"), "{}", stderr(&out));
    let out = ronin(
        &exp,
        &["train", "--resume", "x", "--set", "optimizer.lr=0.1"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("start a new run"), "{}", stderr(&out));
}
