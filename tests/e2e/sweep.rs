//! `ronin sweep`: every trial checked before any runs, trials as ordinary tagged runs, a
//! leaderboard, the best pipeline written out, and a resumed sweep that redoes nothing.

use std::path::Path;

use crate::common::*;

const BASE: &str = r#"(
    seed: 4,
    epochs: 2,
    data: (
        source: Idx(images: ".ronin/data/mnist/images-idx3-ubyte", labels: ".ronin/data/mnist/labels-idx1-ubyte"),
        split: (validation: 0.25, test: 0.25, stratified: true),
        limit: 128,
    ),
    model: (layers: [Flatten, Linear(units: 16), ReLU, Linear(units: 10)]),
    optimizer: Adam(lr: 0.001),
)"#;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p.to_str().expect("utf-8").to_owned()
}

fn runs(exp: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(exp.join("sweep_base"))
        .into_iter()
        .flatten()
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("run.ron").is_file())
        .collect()
}

#[test]
fn a_grid_sweep_runs_tagged_trials_writes_the_best_pipeline_and_resumes() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let exp = tmp.path().join("experiments");
    write(tmp.path(), "sweep_base.ron", BASE);
    let sweep = write(
        tmp.path(),
        "grid.ron",
        r#"(
    base: "sweep_base.ron",
    set: {"epochs": "1"},
    params: [
        (path: "optimizer.lr", domain: Choice([0.0003, 0.01])),
        (path: "model.layers[1].units", domain: Choice([8, 32])),
    ],
    metric: "val_accuracy",
    strategy: Grid(),
)"#,
    );
    let out = ronin(&exp, &["sweep", &sweep]);
    ok(&out);
    let err = stderr(&out);
    assert!(
        err.contains("4 checked trials are valid pipelines"),
        "{err}"
    );
    assert!(
        err.contains("leaderboard (val_accuracy, 4 trials done)"),
        "{err}"
    );
    let trials = runs(&exp);
    assert_eq!(trials.len(), 4);
    let mut numbers: Vec<String> = trials
        .iter()
        .map(|r| {
            let rec = read(&r.join("run.ron"));
            assert!(rec.contains("\"sweep\": \"grid\""), "{rec}");
            assert!(rec.contains("\"hp.optimizer.lr\""), "{rec}");
            assert!(read(&r.join("resolved.ron")).contains("epochs: 1"));
            rec.lines()
                .find_map(|l| l.trim().strip_prefix("\"trial\": "))
                .expect("trial tag")
                .trim_end_matches(',')
                .to_owned()
        })
        .collect();
    numbers.sort();
    assert_eq!(numbers, ["\"0\"", "\"1\"", "\"2\"", "\"3\""]);

    // The best pipeline is a valid pipeline file, ready to train.
    let best = stdout(&out).trim().to_owned();
    assert!(best.ends_with("grid.best.ron"), "{best}");
    let text = read(Path::new(&best));
    assert!(text.starts_with("// The best trial"), "{text}");
    let check = ronin(&exp, &["check", &best]);
    ok(&check);

    // Running the sweep again does no trial twice.
    let again = ronin(&exp, &["sweep", &sweep]);
    ok(&again);
    assert!(
        stderr(&again).contains("4 trials already done"),
        "{}",
        stderr(&again)
    );
    assert_eq!(runs(&exp).len(), 4);
}

#[test]
fn an_invalid_trial_is_reported_before_anything_trains() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let exp = tmp.path().join("experiments");
    write(tmp.path(), "sweep_base.ron", BASE);
    let sweep = write(
        tmp.path(),
        "bad.ron",
        r#"(
    base: "sweep_base.ron",
    params: [(path: "model.layers[1].units", domain: Choice([16, 0]))],
    metric: "val_accuracy",
    strategy: Grid(),
)"#,
    );
    let out = ronin(&exp, &["sweep", &sweep]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("trial 1 (model.layers[1].units=0)"), "{err}");
    assert!(err.contains("nothing was trained"), "{err}");
    assert!(runs(&exp).is_empty());
    let typo = write(
        tmp.path(),
        "typo.ron",
        "(base: \"sweep_base.ron\", params: [], metric: \"val_acc\", strategy: Grid())",
    );
    let out = ronin(&exp, &["sweep", &typo]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn a_tpe_sweep_runs_its_budget() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let exp = tmp.path().join("experiments");
    write(tmp.path(), "sweep_base.ron", BASE);
    let sweep = write(
        tmp.path(),
        "tpe.ron",
        r#"(
    base: "sweep_base.ron",
    set: {"epochs": "1"},
    params: [
        (path: "optimizer.lr", domain: LogUniform(low: 1e-4, high: 1e-1)),
        (path: "optimizer", domain: Choice(["Adam(lr: 0.001)", "Sgd(lr: 0.05, momentum: 0.9)"])),
    ],
    metric: "val_loss",
    strategy: Tpe(trials: 5, startup: 2),
    seed: 3,
)"#,
    );
    let out = ronin(&exp, &["sweep", &sweep, "--dry-run"]);
    ok(&out);
    assert!(runs(&exp).is_empty(), "--dry-run trains nothing");
    let out = ronin(&exp, &["sweep", &sweep]);
    ok(&out);
    assert_eq!(runs(&exp).len(), 5, "{}", stderr(&out));
    let state: serde_json::Value =
        serde_json::from_str(&read(&exp.join(".sweeps/tpe/state.json"))).expect("state");
    let trials = state["trials"].as_array().expect("trials");
    assert_eq!(trials.len(), 5);
    assert!(
        trials
            .iter()
            .all(|t| t["status"] == "Completed" && t["score"].is_number())
    );
}
