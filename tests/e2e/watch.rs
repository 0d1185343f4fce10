//! `ronin watch` driven by real edits of real files: rename-saves, a rapid double save, an
//! invalid save while a run trains, a change to the base file, a change that only adds
//! epochs, and Ctrl-C; asserting on the runs created and their statuses.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

const BASE: &str = r#"(
    seed: 9,
    epochs: 100000,
    data: (
        source: Idx(images: ".ronin/data/mnist/images-idx3-ubyte", labels: ".ronin/data/mnist/labels-idx1-ubyte"),
        split: (validation: 0.2, test: 0.0),
        limit: 64,
    ),
    model: (layers: [Flatten, Linear(units: 8), ReLU, Linear(units: 10)]),
    optimizer: Adam(lr: 0.001),
)"#;

/// Saves like an editor that writes a temporary file and renames it over the original.
fn rename_save(path: &Path, text: &str) {
    let tmp = path.with_extension("ron.swp");
    std::fs::write(&tmp, text).expect("write temp");
    std::fs::rename(&tmp, path).expect("rename over");
}

/// The runs in the order they started (run ids of one second do not sort by time).
fn runs(exp: &Path) -> Vec<PathBuf> {
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(exp.join("watch_probe"))
        .into_iter()
        .flatten()
        .map(|e| e.expect("entry").path())
        .filter_map(|p| {
            let record = std::fs::read_to_string(p.join("run.ron")).ok()?;
            let started = record
                .lines()
                .find_map(|l| l.trim().strip_prefix("started: "))?
                .to_owned();
            Some((started, p))
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, p)| p).collect()
}

fn status(run: &Path) -> String {
    let record = read(&run.join("run.ron"));
    record
        .lines()
        .find_map(|l| l.trim().strip_prefix("status: "))
        .map(|s| s.trim_end_matches(',').to_owned())
        .unwrap_or_default()
}

fn epochs(run: &Path) -> usize {
    std::fs::read_to_string(run.join("metrics.csv"))
        .map(|t| t.lines().count().saturating_sub(1))
        .unwrap_or(0)
}

/// Polls `cond` every 20 ms for up to two minutes (a loaded CI machine is slow).
fn wait_until(what: &str, log: &Path, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(120) {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "timed out waiting for {what}; watch said:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

fn said(log: &Path, needle: &str) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .matches(needle)
        .count()
}

#[test]
fn watch_follows_edits_and_never_kills_a_healthy_run_for_a_bad_save() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let exp = tmp.path().join("experiments");
    let base = tmp.path().join("base.ron");
    let file = tmp.path().join("watch_probe.ron");
    std::fs::write(&base, BASE).expect("write base");
    let pipeline = |lr: &str, epochs: &str| {
        format!(
            "(\n    extends: \"base.ron\",\n    epochs: {epochs},\n    optimizer: Adam(lr: {lr}),\n)\n"
        )
    };
    std::fs::write(&file, pipeline("0.001", "100000")).expect("write pipeline");
    let log = tmp.path().join("watch.log");
    let mut child = Command::new(ronin_bin())
        .args(["--experiments", exp.to_str().expect("utf-8")])
        .args(["watch", file.to_str().expect("utf-8")])
        .current_dir(repo())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("ronin watch starts");

    // The first valid version trains.
    wait_until("the first run's first epochs", &log, || {
        runs(&exp).first().is_some_and(|r| epochs(r) >= 2)
    });
    let first = runs(&exp)[0].clone();

    // An invalid save: diagnostics, and the run goes on.
    rename_save(
        &file,
        "(\n    extends: \"base.ron\",\n    epochs: 10O,\n)\n",
    );
    wait_until("the diagnostics of the invalid save", &log, || {
        said(&log, "is invalid") >= 1
    });
    assert!(
        said(&log, "watch_probe.ron:3:") >= 1,
        "diagnostics name file:line"
    );
    let before = epochs(&first);
    wait_until("the healthy run to keep training", &log, || {
        epochs(&first) > before + 1
    });
    assert_eq!(status(&first), "Running");
    assert_eq!(runs(&exp).len(), 1);

    // A valid semantic change (by rename-save): the run stops cleanly, a new one starts.
    rename_save(&file, &pipeline("0.002", "100000"));
    wait_until("the second run", &log, || runs(&exp).len() == 2);
    wait_until("the first run to be stopped", &log, || {
        status(&first) == "Stopped"
    });
    assert!(first.join("checkpoints/last/model.safetensors").is_file());
    let second = runs(&exp)[1].clone();
    wait_until("the second run's epochs", &log, || epochs(&second) >= 1);

    // A rapid double save of the same change, then comments and spacing only: no new run.
    std::fs::write(&file, pipeline("0.003", "100000")).expect("save 1");
    std::fs::write(&file, pipeline("0.003", "100000")).expect("save 2");
    wait_until("the third run", &log, || runs(&exp).len() == 3);
    let third = runs(&exp)[2].clone();
    rename_save(
        &file,
        &format!(
            "// tuned\n{}",
            pipeline("0.003", "100000").replace("    ", "  ")
        ),
    );
    wait_until("the no-change notice", &log, || {
        said(&log, "no change to the pipeline") >= 1
    });
    wait_until("the third run's epochs", &log, || epochs(&third) >= 1);
    assert_eq!(
        runs(&exp).len(),
        3,
        "one run for a double save, none for a comment"
    );
    assert_eq!(status(&second), "Stopped");

    // A change to the base file counts.
    std::fs::write(&base, BASE.replace("units: 8", "units: 12")).expect("edit base");
    wait_until("the run of the edited base", &log, || runs(&exp).len() == 4);
    let fourth = runs(&exp)[3].clone();
    assert!(read(&fourth.join("resolved.ron")).contains("units: 12"));
    wait_until("the fourth run's epochs", &log, || epochs(&fourth) >= 2);

    // Only more epochs: the new run continues from the stopped one's last checkpoint.
    std::fs::write(&file, pipeline("0.003", "200000")).expect("more epochs");
    wait_until("the continued run", &log, || runs(&exp).len() == 5);
    wait_until("the continuation notice", &log, || {
        said(&log, "the change only extends training") >= 1
    });
    let fifth = runs(&exp)[4].clone();
    wait_until("the continued run's record", &log, || {
        read(&fifth.join("run.ron")).contains("continued_from: Some(")
    });

    // Ctrl-C: the run is saved and resumable, watch exits 130.
    wait_until("the continued run's epochs", &log, || epochs(&fifth) >= 1);
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let code = child.wait().expect("watch exits").code();
    assert_eq!(code, Some(130), "{}", read(&log));
    assert_eq!(status(&fifth), "Interrupted");
    assert!(said(&log, "ronin train --resume") >= 1);
    for (run, expected) in [
        (&first, "Stopped"),
        (&second, "Stopped"),
        (&third, "Stopped"),
        (&fourth, "Stopped"),
    ] {
        assert_eq!(status(run), expected, "{}", run.display());
    }
}

#[test]
fn watch_once_validates_and_exits() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = tmp.path().join("once.ron");
    std::fs::write(&file, BASE).expect("write");
    let out = ronin(
        tmp.path(),
        &["watch", "--once", file.to_str().expect("utf-8")],
    );
    ok(&out);
    assert!(stdout(&out).contains("ok"), "{}", stdout(&out));
    std::fs::write(&file, BASE.replace("epochs: 100000", "epochs: 0")).expect("write");
    let out = ronin(
        tmp.path(),
        &["watch", "--once", file.to_str().expect("utf-8")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("epochs"), "{}", stderr(&out));
    assert!(!tmp.path().join("once").exists(), "--once trains nothing");
}
