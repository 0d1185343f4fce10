//! `ronin data stats` and `ronin data preview`.

use std::path::Path;

use crate::common::*;

fn json(o: &std::process::Output) -> serde_json::Value {
    ok(o);
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

fn examples(v: &serde_json::Value, split: &str) -> u64 {
    v["splits"][split]["examples"]
        .as_u64()
        .unwrap_or_else(|| panic!("no {split} examples in {v}"))
}

#[test]
fn stats_counts_add_up_to_the_splits_train_records() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let exp = tmp.path().join("experiments");
    let exp = exp.as_path();

    let full = json(&ronin(
        exp,
        &["data", "stats", "--json", "pipelines/mnist_cnn.ron"],
    ));
    assert_eq!(full["shape"], serde_json::json!([1, 28, 28]));
    assert_eq!(full["classes"].as_array().map(Vec::len), Some(10));
    assert_eq!(full["source"]["kind"], "Idx");
    let mut total = 0;
    for split in ["train", "validation", "test"] {
        let counts: u64 = full["splits"][split]["class_counts"]
            .as_array()
            .expect("class counts")
            .iter()
            .map(|c| c.as_u64().expect("a count"))
            .sum();
        assert_eq!(counts, examples(&full, split), "{split}");
        total += counts;
    }
    // 10,000 digits split 0.7 / 0.1 / 0.2.
    assert_eq!(total, 10_000);
    assert_eq!(examples(&full, "validation"), 1_000);
    assert_eq!(full["normalization"]["mode"], "Computed");

    // With --limit, the sizes and normalisation are the ones `ronin train` records.
    let limited = json(&ronin(
        exp,
        &[
            "data",
            "stats",
            "--json",
            "--limit",
            "48",
            "pipelines/mnist_cnn.ron",
        ],
    ));
    ok(&ronin(
        exp,
        &[
            "train",
            "pipelines/mnist_cnn.ron",
            "--epochs",
            "1",
            "--limit",
            "48",
            "--no-progress",
        ],
    ));
    let run = single_run(exp, "mnist_cnn");
    let record: serde_json::Value =
        serde_json::from_str(&read(&run.join("data.json"))).expect("data.json is JSON");
    for split in ["train", "validation", "test"] {
        assert_eq!(
            record[format!("{split}_examples")].as_u64(),
            Some(examples(&limited, split)),
            "{split}"
        );
    }
    assert_eq!(record["classes"], limited["classes"]);
    assert_eq!(record["input_shape"], limited["shape"]);
    assert_eq!(
        record["normalization_mean"],
        limited["normalization"]["mean"]
    );

    let text = ronin(exp, &["data", "stats", "pipelines/fashion_cnn.ron"]);
    ok(&text);
    let text = stdout(&text);
    for needle in [
        "source: IdxTrainTest",
        "images: 1×28×28 (C×H×W), 10 classes",
        "normalization: computed on the training split",
        "Ankle boot",
    ] {
        assert!(text.contains(needle), "stats lack {needle:?}:\n{text}");
    }
    let total = text
        .lines()
        .find(|l| l.starts_with("total"))
        .expect("a total row");
    // 60,000 training images less 10 % validation, and the 10,000 test images.
    assert_eq!(
        total.split_whitespace().collect::<Vec<_>>(),
        ["total", "54000", "6000", "10000"]
    );
}

#[test]
fn preview_writes_a_labelled_grid_of_the_expected_size() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let exp = tmp.path().join("experiments");
    let out = tmp.path().join("grid.png");
    let o = ronin(
        &exp,
        &[
            "data",
            "preview",
            "pipelines/fashion_cnn_augment.ron",
            "--n",
            "10",
            "--out",
            out.to_str().expect("utf-8"),
        ],
    );
    ok(&o);
    assert_eq!(stdout(&o).trim(), out.display().to_string());
    // 28 px enlarged twice, 8 per row: 2 rows of 56 + a 7-pixel label strip, 2 px apart.
    let img = image::open(&out).expect("a PNG").to_rgb8();
    assert_eq!(img.dimensions(), (8 * 58 + 2, 2 * 65 + 2));
    // The label strip of the first tile has white text on the dark background.
    let strip = (2..58).flat_map(|x| (59..64).map(move |y| (x, y)));
    assert!(
        strip
            .into_iter()
            .any(|(x, y)| img.get_pixel(x, y).0 == [255, 255, 255]),
        "no label under the first tile"
    );

    // Defaults: 64 samples into <experiments>/<pipeline>/preview.png; the same seed draws
    // the same grid, another seed another.
    ok(&ronin(
        &exp,
        &["data", "preview", "pipelines/fashion_cnn_augment.ron"],
    ));
    let default = exp.join("fashion_cnn_augment/preview.png");
    let img = image::open(&default).expect("a PNG").to_rgb8();
    assert_eq!(img.dimensions(), (8 * 58 + 2, 8 * 65 + 2));
    let again = tmp.path().join("again.png");
    let other = tmp.path().join("other.png");
    let path = |p: &Path| p.to_str().expect("utf-8").to_owned();
    for (file, seed) in [(&again, "7"), (&other, "8")] {
        ok(&ronin(
            &exp,
            &[
                "data",
                "preview",
                "pipelines/fashion_cnn_augment.ron",
                "--out",
                &path(file),
                "--seed",
                seed,
            ],
        ));
    }
    let bytes = |p: &Path| std::fs::read(p).expect("written");
    assert_eq!(bytes(&again), bytes(&default), "seed 7 is the pipeline's");
    assert_ne!(bytes(&other), bytes(&default));
}

#[test]
fn stats_report_missing_and_corrupt_files() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    let images = dir.join("images-idx3-ubyte");
    let labels = dir.join("labels-idx1-ubyte");
    // A header for 10 images of 2×2 but only 3 images of pixels.
    let mut idx = vec![0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 2, 0, 0, 0, 2];
    idx.extend([7u8; 12]);
    std::fs::write(&images, idx).expect("write");
    let mut lbl = vec![0, 0, 8, 1, 0, 0, 0, 10];
    lbl.extend([0u8, 1, 0, 1, 0, 1, 0, 1, 0, 1]);
    std::fs::write(&labels, lbl).expect("write");
    let pipeline = |images: &Path| {
        format!(
            r#"(epochs: 1, data: (source: Idx(images: "{}", labels: "{}")),
               model: (layers: [Flatten, Linear(units: 2)]), optimizer: Sgd(lr: 0.1))"#,
            images.display(),
            labels.display()
        )
    };
    let corrupt = dir.join("corrupt.ron");
    std::fs::write(&corrupt, pipeline(&images)).expect("write");
    let o = ronin(dir, &["data", "stats", corrupt.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("cannot build the data of"), "{err}");
    assert!(
        err.contains(&format!("{}: expected 40 bytes", images.display())),
        "{err}"
    );

    let missing = dir.join("missing.ron");
    std::fs::write(&missing, pipeline(&dir.join("nowhere"))).expect("write");
    let o = ronin(dir, &["data", "preview", missing.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("nowhere does not exist"),
        "{}",
        stderr(&o)
    );
}

/// Writes CIFAR-10 records (label `i % 10`, pixels a gradient shifted by the label).
fn write_cifar10(path: &Path, n: usize) {
    let mut bytes = Vec::with_capacity(n * 3073);
    for i in 0..n {
        let label = (i % 10) as u8;
        bytes.push(label);
        bytes.extend((0..3072).map(|p| ((p % 32) * 4 + usize::from(label) * 12) as u8));
    }
    std::fs::write(path, bytes).expect("write CIFAR");
}

#[test]
fn a_cifar10_pipeline_checks_trains_and_has_stats() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    let (train, test) = (dir.join("data_batch_1.bin"), dir.join("test_batch.bin"));
    write_cifar10(&train, 50);
    write_cifar10(&test, 20);
    let names = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n";
    std::fs::write(dir.join("batches.meta.txt"), names).expect("write");
    let pipeline = dir.join("tiny_cifar.ron");
    std::fs::write(
        &pipeline,
        format!(
            r#"(epochs: 3,
  data: (source: Cifar10(train: ["{}"], test: ["{}"]), split: (validation: 0.2), batch_size: 16),
  augment: [HorizontalFlip()],
  model: (layers: [Conv2d(filters: 4, kernel_size: 3), ReLU, MaxPool2d(kernel_size: 2), Flatten, Linear(units: 10)]),
  optimizer: Adam(lr: 0.01))"#,
            train.display(),
            test.display()
        ),
    )
    .expect("write");
    let file = pipeline.to_str().expect("utf-8");
    let exp = dir.join("experiments");

    let check = ronin(&exp, &["check", file]);
    ok(&check);
    assert!(
        stdout(&check).contains("(N, 4, 30, 30)"),
        "{}",
        stdout(&check)
    );

    let stats = json(&ronin(&exp, &["data", "stats", "--json", file]));
    assert_eq!(stats["source"]["kind"], "Cifar10");
    assert_eq!(stats["shape"], serde_json::json!([3, 32, 32]));
    assert_eq!(stats["classes"][9], "truck");
    assert_eq!(
        stats["splits"]["validation"]["class_counts"],
        serde_json::json!(vec![1; 10])
    );
    assert_eq!(examples(&stats, "test"), 20);

    let preview = dir.join("cifar.png");
    ok(&ronin(
        &exp,
        &[
            "data",
            "preview",
            file,
            "--n",
            "8",
            "--out",
            preview.to_str().expect("utf-8"),
        ],
    ));
    let img = image::open(&preview).expect("a PNG").to_rgb8();
    assert_eq!(img.dimensions(), (8 * 66 + 2, 73 + 2));

    ok(&ronin(
        &exp,
        &["train", file, "--epochs", "1", "--no-progress"],
    ));
    let run = single_run(&exp, "tiny_cifar");
    let record: serde_json::Value =
        serde_json::from_str(&read(&run.join("data.json"))).expect("data.json is JSON");
    assert_eq!(record["input_shape"], serde_json::json!([3, 32, 32]));
    assert_eq!(
        (
            record["train_examples"].as_u64(),
            record["test_examples"].as_u64()
        ),
        (Some(40), Some(20))
    );

    // A truncated batch is named, before anything trains.
    let bytes = std::fs::read(&train).expect("read");
    std::fs::write(&train, &bytes[..bytes.len() - 1]).expect("write");
    let o = ronin(
        &exp,
        &["train", file, "--epochs", "1", "--no-progress", "--force"],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(&format!(
            "{}: 153649 bytes are not a whole number of CIFAR-10 records",
            train.display()
        )),
        "{}",
        stderr(&o)
    );
}
