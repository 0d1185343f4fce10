//! Every example pipeline passes `ronin check`.

use crate::common::*;

#[test]
fn every_example_pipeline_is_valid() {
    require_data();
    let dir = repo().join("pipelines");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("pipelines/ exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "ron"))
        .map(|p| {
            p.strip_prefix(repo())
                .expect("inside the repo")
                .display()
                .to_string()
        })
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut args = vec!["check"];
    args.extend(files.iter().map(String::as_str));
    let out = ronin(tmp.path(), &args);
    ok(&out);
    for f in &files {
        assert!(
            stdout(&out).contains(&format!("{f}: ok")),
            "{f} not reported ok:\n{}",
            stdout(&out)
        );
    }
}

#[test]
fn check_prints_the_seed_cnn_summary() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = ronin(tmp.path(), &["check", "pipelines/mnist_cnn.ron"]);
    ok(&out);
    let text = stdout(&out);
    // Conv 1→32 3×3: 320; Conv 32→64 3×3: 18,496; Linear 3136→128: 401,536; Linear 128→10: 1,290.
    for needle in [
        "(N, 32, 28, 28)",
        "320",
        "18,496",
        "(N, 3136)",
        "401,536",
        "1,290",
        "Total params: 421,642",
    ] {
        assert!(text.contains(needle), "summary lacks {needle}:\n{text}");
    }
    let json = ronin(tmp.path(), &["check", "--json", "pipelines/mnist_cnn.ron"]);
    ok(&json);
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("valid JSON");
    assert_eq!(v[0]["trainable_params"], 421_642);
    assert_eq!(
        v[0]["graph"]["nodes"][6]["output_shape"],
        serde_json::json!([3136])
    );
}

#[test]
fn every_example_pipeline_trains_two_tiny_epochs_and_exports() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let exp = tmp.path().join("experiments");
    let mut names = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(repo().join("pipelines"))
        .expect("pipelines/ exists")
        .map(|e| e.expect("entry").path())
        .collect();
    // In name order, so that mnist_digits_0_4 has a run before mnist_transfer_5_9 starts
    // from its weights.
    paths.sort();
    for path in paths {
        if path.extension().is_none_or(|x| x != "ron") {
            continue;
        }
        let rel = path
            .strip_prefix(repo())
            .expect("inside the repo")
            .display()
            .to_string();
        let out = ronin(
            &exp,
            &[
                "train",
                &rel,
                "--epochs",
                "2",
                "--limit",
                "96",
                "--no-progress",
            ],
        );
        ok(&out);
        let run = std::path::PathBuf::from(stdout(&out).trim());
        let record = std::fs::read_to_string(run.join("run.ron")).expect("run.ron");
        assert!(
            record.contains("status: Completed") && record.contains("epochs_completed: 2"),
            "{rel}: {record}"
        );
        // ... and exports with its parity checked (zoo presets included).
        let stem = path.file_stem().expect("a file name").to_string_lossy();
        let model = tmp.path().join(format!("{stem}.onnx"));
        let run_s = run.to_str().expect("utf-8");
        let out = ronin(
            &exp,
            &["export", run_s, "--out", model.to_str().expect("utf-8")],
        );
        assert!(out.status.success(), "{rel}: {}", stderr(&out));
        let manifest: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(model.with_extension("json")).expect("manifest"),
        )
        .expect("manifest JSON");
        // Held to the tolerance: |onnx − libtorch| / max(1, |libtorch|).
        let diff = manifest["parity"]["max_scaled_diff"]
            .as_f64()
            .expect("parity figure");
        assert!(
            diff <= 1e-4,
            "{rel}: libtorch and ONNX Runtime differ by {diff}"
        );
        names.push(rel);
    }
    assert!(
        names.len() >= 2,
        "expected the example pipelines, found {names:?}"
    );
}

#[test]
fn check_resolved_applies_extends_and_set() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = ronin(
        tmp.path(),
        &[
            "check",
            "--resolved",
            "--set",
            "optimizer.lr=0.01",
            "pipelines/mnist_cnn_sgd.ron",
        ],
    );
    ok(&out);
    let text = stdout(&out);
    for needle in [
        "Sgd(",
        "lr: 0.01",
        "nesterov: true",
        "epochs: 12",
        "Conv2d(",
    ] {
        assert!(
            text.contains(needle),
            "resolved pipeline lacks {needle}:\n{text}"
        );
    }
    assert!(!text.contains("extends"), "{text}");

    let bad = ronin(
        tmp.path(),
        &[
            "check",
            "--set",
            "optimzer.lr=1",
            "pipelines/mnist_cnn_sgd.ron",
        ],
    );
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("did you mean `optimizer`?"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn a_run_snapshots_the_files_its_pipeline_extends() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let exp = tmp.path().join("experiments");
    let run = train_quick(&exp, "pipelines/mnist_cnn_sgd.ron", 1, 64, &[]);
    assert_eq!(
        read(&run.join("pipeline.ron")),
        read(&repo().join("pipelines/mnist_cnn_sgd.ron"))
    );
    assert_eq!(
        read(&run.join("extends/0-mnist_cnn.ron")),
        read(&repo().join("pipelines/mnist_cnn.ron"))
    );
    assert!(read(&run.join("resolved.ron")).contains("Sgd("));
}
