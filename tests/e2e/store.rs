//! The experiment store from the command line: the same experiment recognised, `runs`,
//! `show`, `diff`, `rerun` and `gc` on real runs.

use std::path::{Path, PathBuf};

use crate::common::*;

const PIPELINE: &str = r#"(
    seed: 5,
    epochs: 2,
    data: (
        source: Idx(images: ".ronin/data/mnist/images-idx3-ubyte", labels: ".ronin/data/mnist/labels-idx1-ubyte"),
        split: (validation: 0.2, test: 0.2),
        limit: 160,
    ),
    model: (layers: [Flatten, Linear(units: 16), ReLU, Linear(units: 10)]),
    optimizer: Adam(lr: 0.001),
)"#;

fn train(exp: &Path, file: &Path, extra: &[&str]) -> (PathBuf, String) {
    let mut args = vec!["train", file.to_str().expect("utf-8"), "--no-progress"];
    args.extend(extra);
    let out = ronin(exp, &args);
    ok(&out);
    (PathBuf::from(stdout(&out).trim()), stderr(&out))
}

fn runs_of(exp: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(exp.join("store_probe"))
        .expect("pipeline folder")
        .map(|e| e.expect("entry").path())
        .collect();
    v.sort();
    v
}

#[test]
fn the_same_experiment_is_recognised_and_runs_can_be_listed_diffed_rerun_and_collected() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let exp = tmp.path().join("experiments");
    let file = tmp.path().join("store_probe.ron");
    std::fs::write(&file, PIPELINE).expect("write pipeline");

    let (first, _) = train(&exp, &file, &[]);
    let record = read(&first.join("run.ron"));
    assert!(record.contains("fingerprint: Some(\""), "{record}");

    // The same pipeline again, even with new comments and spacing: recognised, not rerun.
    std::fs::write(
        &file,
        format!("// a note\n{}\n\n", PIPELINE.replace(", ", ",  ")),
    )
    .expect("rewrite");
    let (again, err) = train(&exp, &file, &[]);
    assert_eq!(again, first, "prints the run that already did it");
    assert!(
        err.contains("this exact experiment already ran") && err.contains("test_accuracy"),
        "{err}"
    );
    assert_eq!(runs_of(&exp).len(), 1);
    let (forced, _) = train(&exp, &file, &["--force"]);
    assert_ne!(forced, first);

    // A real change is a new experiment.
    std::fs::write(&file, PIPELINE.replace("lr: 0.001", "lr: 0.003")).expect("rewrite");
    let (changed, err) = train(&exp, &file, &[]);
    assert!(!err.contains("already ran"), "{err}");
    assert_eq!(runs_of(&exp).len(), 3);

    // runs: a table, JSON, filtered and sorted.
    let out = ronin(&exp, &["runs"]);
    ok(&out);
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("RUN") && lines[0].contains("TEST ACC"),
        "{table}"
    );
    assert_eq!(lines.len(), 4, "{table}");
    assert!(
        lines[1..].iter().all(|l| l.contains("completed")),
        "{table}"
    );
    let out = ronin(
        &exp,
        &["runs", "store_probe", "--json", "--sort", "test_accuracy"],
    );
    ok(&out);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(rows.len(), 3);
    let acc: Vec<f64> = rows
        .iter()
        .map(|r| {
            r["test_metrics"]["test_accuracy"]
                .as_f64()
                .expect("test accuracy")
        })
        .collect();
    assert!(
        acc.windows(2).all(|w| w[0] >= w[1]),
        "sorted descending: {acc:?}"
    );
    let out = ronin(&exp, &["runs", "--status", "failed"]);
    ok(&out);
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));

    // show: the record, checkpoints and last epochs of a run given by id prefix.
    let id = first
        .file_name()
        .expect("id")
        .to_string_lossy()
        .into_owned();
    let out = ronin(&exp, &["show", &id]);
    ok(&out);
    let shown = stdout(&out);
    for needle in [
        "status      completed",
        "seed        5",
        "checkpoints best",
        "metrics.csv",
    ] {
        assert!(shown.contains(needle), "show lacks {needle}:\n{shown}");
    }

    // diff: the resolved pipelines' difference and the metric deltas.
    let out = ronin(
        &exp,
        &[
            "diff",
            first.to_str().expect("utf-8"),
            changed.to_str().expect("utf-8"),
        ],
    );
    ok(&out);
    let diff = stdout(&out);
    assert!(
        diff.contains("-        lr: 0.001") && diff.contains("+        lr: 0.003"),
        "{diff}"
    );
    assert!(
        diff.contains("test_accuracy") && diff.contains("B − A"),
        "{diff}"
    );
    let out = ronin(
        &exp,
        &[
            "diff",
            first.to_str().expect("utf-8"),
            forced.to_str().expect("utf-8"),
        ],
    );
    ok(&out);
    assert!(
        stdout(&out).contains("pipelines: identical"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("same experiment"), "{}", stdout(&out));

    // rerun: the snapshot trains again as a new run and reproduces the metrics exactly.
    let out = ronin(&exp, &["rerun", &id, "--no-progress"]);
    ok(&out);
    let rerun = PathBuf::from(stdout(&out).trim());
    assert!(
        stderr(&out).contains("reproduced: metrics.csv is identical"),
        "{}",
        stderr(&out)
    );
    assert!(read(&rerun.join("run.ron")).contains(&format!("\"rerun_of\": \"{id}\"")));
    assert_eq!(
        read(&rerun.join("metrics.csv")),
        read(&first.join("metrics.csv"))
    );

    // gc: a dry run first, then only the best run of the pipeline keeps its checkpoints.
    let out = ronin(&exp, &["gc"]);
    ok(&out);
    let plan = stdout(&out);
    assert!(
        plan.contains("would delete") && plan.contains("--yes"),
        "{plan}"
    );
    assert_eq!(
        runs_of(&exp)
            .iter()
            .filter(|r| r.join("checkpoints").exists())
            .count(),
        4,
        "a dry run deletes nothing"
    );
    let out = ronin(&exp, &["gc", "--yes"]);
    ok(&out);
    let kept: Vec<PathBuf> = runs_of(&exp)
        .into_iter()
        .filter(|r| r.join("checkpoints").exists())
        .collect();
    assert_eq!(kept.len(), 1, "{}", stdout(&out));
    let out = ronin(&exp, &["runs", "--json"]);
    ok(&out);
    let all: Vec<serde_json::Value> = serde_json::from_str(&stdout(&out)).expect("JSON");
    let accuracy_of = |dir: &Path| {
        all.iter()
            .find(|r| Path::new(r["path"].as_str().expect("path")) == dir)
            .and_then(|r| r["test_metrics"]["test_accuracy"].as_f64())
            .expect("test accuracy")
    };
    let top = all
        .iter()
        .filter_map(|r| r["test_metrics"]["test_accuracy"].as_f64())
        .fold(f64::MIN, f64::max);
    assert_eq!(
        accuracy_of(&kept[0]),
        top,
        "gc keeps the best run's checkpoints"
    );
    assert!(
        runs_of(&exp)
            .iter()
            .all(|r| r.join("metrics.csv").is_file()),
        "gc keeps the logs"
    );
}
