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

/// A temporary folder holding the base pipeline, and the experiments folder inside it.
fn sweep_folder() -> (tempfile::TempDir, std::path::PathBuf) {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    write(tmp.path(), "sweep_base.ron", BASE);
    let exp = tmp.path().join("experiments");
    (tmp, exp)
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
    let (tmp, exp) = sweep_folder();
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
    assert!(
        text.contains("epochs: 2,"),
        "the best pipeline keeps the base's epochs, not the sweep's fixed 1:\n{text}"
    );

    // TensorBoard's HParams plugin sees each trial's swept values.
    let events = python_script("read_board.py", &[&trials[0].join("events")]);
    ok(&events);
    let board: serde_json::Value = serde_json::from_str(&stdout(&events)).expect("JSON");
    let hp = &board["hparams"]["start"];
    assert!(
        hp["optimizer.lr"].is_number() && hp["model.layers[1].units"].is_number(),
        "{hp}"
    );

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
    let (tmp, exp) = sweep_folder();
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
    let (tmp, exp) = sweep_folder();
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

fn spawn_worker(exp: &Path, sweep: &str, log: &Path) -> std::process::Child {
    std::process::Command::new(ronin_bin())
        .args([
            "--experiments",
            exp.to_str().expect("utf-8"),
            "sweep",
            sweep,
            "--worker",
        ])
        .current_dir(repo())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).expect("log"))
        .spawn()
        .expect("worker starts")
}

fn trial_tag(run: &Path) -> String {
    read(&run.join("run.ron"))
        .lines()
        .find_map(|l| l.trim().strip_prefix("\"trial\": "))
        .expect("trial tag")
        .trim_end_matches(',')
        .to_owned()
}

#[test]
fn workers_share_a_sweep_and_a_killed_workers_trial_is_taken_over() {
    let (tmp, exp) = sweep_folder();
    let sweep = write(
        tmp.path(),
        "shared.ron",
        r#"(
    base: "sweep_base.ron",
    set: {"epochs": "40", "data.limit": "256"},
    params: [(path: "optimizer.lr", domain: LogUniform(low: 1e-4, high: 1e-2))],
    metric: "val_accuracy",
    strategy: Random(trials: 4),
    seed: 8,
)"#,
    );
    // Worker A claims trial 0 and is killed with SIGKILL in the middle of it.
    let mut a = spawn_worker(&exp, &sweep, &tmp.path().join("a.log"));
    let start = std::time::Instant::now();
    let run0 = loop {
        assert!(
            start.elapsed().as_secs() < 120,
            "trial 0 never trained an epoch"
        );
        if let Some(r) = runs(&exp).into_iter().find(|r| {
            std::fs::read_to_string(r.join("metrics.csv")).is_ok_and(|t| t.lines().count() >= 3)
        }) {
            break r;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    a.kill().expect("SIGKILL");
    a.wait().expect("reaped");
    assert!(
        read(&run0.join("run.ron")).contains("status: Running"),
        "killed mid-trial"
    );

    // Two more workers finish the sweep between them, one taking trial 0 over.
    let (lb, lc) = (tmp.path().join("b.log"), tmp.path().join("c.log"));
    let mut b = spawn_worker(&exp, &sweep, &lb);
    let mut c = spawn_worker(&exp, &sweep, &lc);
    assert!(b.wait().expect("b").success(), "{}", read(&lb));
    assert!(c.wait().expect("c").success(), "{}", read(&lc));
    let logs = format!("{}{}", read(&lb), read(&lc));
    assert_eq!(
        logs.matches("taking over trial 0 where its run stopped")
            .count(),
        1,
        "{logs}"
    );

    // No trial ran twice, none was lost: one run per trial, all completed.
    let all = runs(&exp);
    let mut tags: Vec<String> = all.iter().map(|r| trial_tag(r)).collect();
    tags.sort();
    assert_eq!(tags, ["\"0\"", "\"1\"", "\"2\"", "\"3\""], "{logs}");
    for r in &all {
        assert!(
            read(&r.join("run.ron")).contains("status: Completed"),
            "{}",
            r.display()
        );
    }
    assert_eq!(
        read(&run0.join("metrics.csv")).lines().count(),
        41,
        "trial 0 resumed, not restarted twice"
    );
    let state: serde_json::Value =
        serde_json::from_str(&read(&exp.join(".sweeps/shared/state.json"))).expect("state");
    let trials = state["trials"].as_array().expect("trials");
    assert_eq!(trials.len(), 4);
    assert!(trials.iter().all(|t| t["status"] == "Completed"), "{state}");
}

#[test]
fn asha_prunes_weak_trials_from_their_epoch_metrics() {
    let (tmp, exp) = sweep_folder();
    let sweep = write(
        tmp.path(),
        "asha.ron",
        r#"(
    base: "sweep_base.ron",
    set: {"epochs": "4"},
    params: [
        (path: "optimizer.lr", domain: Choice([0.003, 1e-7])),
        (path: "seed", domain: Choice([1, 2])),
    ],
    metric: "val_loss",
    strategy: Grid(),
    pruner: Some(Asha(min_epochs: 1, reduction: 2)),
)"#,
    );
    let out = ronin(&exp, &["sweep", &sweep]);
    ok(&out);
    let state: serde_json::Value =
        serde_json::from_str(&read(&exp.join(".sweeps/asha/state.json"))).expect("state");
    let status: Vec<&str> = state["trials"]
        .as_array()
        .expect("trials")
        .iter()
        .map(|t| t["status"].as_str().expect("status"))
        .collect();
    assert_eq!(status[0], "Completed", "{state}");
    assert_eq!(
        &status[2..],
        ["Pruned", "Pruned"],
        "lr 1e-7 learns nothing: {state}"
    );
    let pruned: Vec<_> = runs(&exp)
        .into_iter()
        .filter(|r| read(&r.join("run.ron")).contains("status: Stopped"))
        .collect();
    assert!(pruned.len() >= 2);
    for r in &pruned {
        assert!(read(&r.join("run.ron")).contains("pruned by ASHA after epoch 1"));
        assert_eq!(
            read(&r.join("metrics.csv")).lines().count(),
            2,
            "stopped after epoch 1"
        );
    }
}

#[test]
fn emitted_cluster_jobs_run_workers_of_the_sweep() {
    let (tmp, exp) = sweep_folder();
    let sweep = write(
        tmp.path(),
        "cluster.ron",
        r#"(base: "sweep_base.ron", params: [(path: "optimizer.lr", domain: LogUniform(low: 1e-4, high: 1e-2))],
            metric: "val_accuracy", strategy: Random(trials: 12))"#,
    );
    let out = ronin(
        &exp,
        &["sweep", &sweep, "--emit", "slurm", "--workers", "3"],
    );
    ok(&out);
    let script = stdout(&out).trim().to_owned();
    let text = read(Path::new(&script));
    assert!(text.contains("#SBATCH --array=0-2"), "{text}");
    assert!(text.contains(&format!("sweep {sweep} --worker")), "{text}");
    let syntax = std::process::Command::new("bash")
        .args(["-n", &script])
        .status()
        .expect("bash");
    assert!(syntax.success(), "bash -n {script}");
    let out = ronin(
        &exp,
        &["sweep", &sweep, "--emit", "kubernetes", "--workers", "3"],
    );
    ok(&out);
    let manifest = read(Path::new(stdout(&out).trim()));
    for needle in [
        "kind: Job",
        "completionMode: Indexed",
        "completions: 3",
        "parallelism: 3",
        "--worker",
    ] {
        assert!(manifest.contains(needle), "{needle}:\n{manifest}");
    }
    assert!(runs(&exp).is_empty(), "emitting trains nothing");
}

#[test]
fn the_example_sweep_checks_all_its_trials() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = ronin(
        tmp.path(),
        &[
            "sweep",
            "pipelines/sweeps/fashion_lr_bs_dropout.ron",
            "--dry-run",
        ],
    );
    ok(&out);
    assert!(
        stderr(&out).contains("checked trials are valid pipelines"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).lines().count() >= 8, "{}", stdout(&out));
}

#[test]
fn the_lr_range_test_plots_the_loss_and_suggests_an_lr() {
    let (tmp, exp) = sweep_folder();
    let base = tmp
        .path()
        .join("sweep_base.ron")
        .to_str()
        .expect("utf-8")
        .to_owned();
    let out = ronin(
        &exp,
        &[
            "tune", "lr", &base, "--steps", "40", "--min", "1e-6", "--max", "1",
        ],
    );
    ok(&out);
    let lr: f64 = stdout(&out)
        .trim()
        .parse()
        .expect("the suggestion on stdout");
    assert!((1e-6..=1.0).contains(&lr), "{lr}");
    let err = stderr(&out);
    let plot = err
        .lines()
        .find_map(|l| l.strip_prefix("plot: "))
        .expect("plot path");
    let png = std::fs::read(plot).expect("plot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let csv = read(&Path::new(plot).with_file_name("lr_range.csv"));
    let rows: Vec<Vec<f64>> = csv
        .lines()
        .skip(1)
        .map(|l| {
            l.split(',')
                .filter(|c| !c.is_empty())
                .map(|c| c.parse().expect("number"))
                .collect()
        })
        .collect();
    assert!(rows.len() >= 30, "{csv}");
    assert!(
        rows.windows(2).all(|w| w[1][0] > w[0][0]),
        "the lr grows every batch"
    );
    assert!(
        (rows[0][0] - 1e-6).abs() < 1e-12,
        "starts at --min: {}",
        rows[0][0]
    );
    assert!(
        runs(&exp).is_empty(),
        "the range test is not an experiment run"
    );
}
