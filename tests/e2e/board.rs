//! What a run logs — TensorBoard scalars, histograms, images, graph, hparams and text, and
//! the per-class and test reports — read back with TensorBoard's own Python readers.

use crate::common::*;

#[test]
fn tensorboard_sees_everything_the_run_logged() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let exp = tmp.path().join("experiments");
    let pipeline = tmp.path().join("board_probe.ron");
    std::fs::write(
        &pipeline,
        r#"(
    seed: 3,
    epochs: 2,
    data: (
        source: Idx(images: ".ronin/data/mnist/images-idx3-ubyte", labels: ".ronin/data/mnist/labels-idx1-ubyte"),
        split: (validation: 0.2, test: 0.2, stratified: true),
        batch_size: 32,
        limit: 320,
    ),
    augment: [HorizontalFlip(p: 0.5)],
    model: (layers: [
        Conv2d(filters: 4, kernel_size: 3), BatchNorm2d(), ReLU, MaxPool2d(kernel_size: 2),
        Flatten, Linear(units: 10),
    ]),
    optimizer: Sgd(lr: 0.05, momentum: 0.9),
    callbacks: [TensorBoard(histogram_freq: 1, update_freq: Batches(2))],
)"#,
    )
    .expect("write pipeline");
    let out = ronin(
        &exp,
        &["train", pipeline.to_str().expect("utf-8"), "--no-progress"],
    );
    ok(&out);
    let run = single_run(&exp, "board_probe");
    let read_back = python_script("read_board.py", &[&run.join("events")]);
    ok(&read_back);
    let board: serde_json::Value =
        serde_json::from_str(&stdout(&read_back)).expect("JSON from read_board.py");

    // Scalars: per epoch at steps 1 and 2, per batch every 2 batches, test at the end.
    let scalars = &board["scalars"];
    for tag in [
        "train/loss",
        "train/accuracy",
        "train/top5_accuracy",
        "train/f1",
        "val/loss",
        "val/accuracy",
        "val/top5_accuracy",
        "val/f1",
        "lr",
        "throughput/images_per_second",
        "time/epoch_seconds",
    ] {
        let steps: Vec<i64> = scalars[tag]
            .as_array()
            .unwrap_or_else(|| panic!("no scalar {tag}: {scalars}"))
            .iter()
            .map(|p| p[0].as_i64().expect("step"))
            .collect();
        assert_eq!(steps, [1, 2], "{tag} is logged once per epoch at the epoch");
    }
    // A point every 2 batches of both epochs.
    let data: serde_json::Value =
        serde_json::from_str(&read(&run.join("data.json"))).expect("data.json");
    let train = data["train_examples"].as_i64().expect("train_examples");
    let test = data["test_examples"].as_u64().expect("test_examples");
    let steps = 2 * ((train + 31) / 32);
    let batch_steps: Vec<i64> = scalars["batch/loss"]
        .as_array()
        .expect("batch/loss")
        .iter()
        .map(|p| p[0].as_i64().expect("step"))
        .collect();
    assert_eq!(batch_steps, (2..=steps).step_by(2).collect::<Vec<_>>());
    assert!(scalars["test/accuracy"].is_array(), "{scalars}");

    // Histograms of every parameter's weights and gradients, each epoch.
    let histograms = board["histograms"].as_object().expect("histograms");
    for (name, count) in [
        ("layers.0.weight", 36.0),
        ("layers.0.bias", 4.0),
        ("layers.1.weight", 4.0),
        ("layers.5.weight", 6760.0),
    ] {
        for kind in ["weights", "grads"] {
            let tag = format!("{kind}/{name}");
            let h = histograms
                .get(&tag)
                .unwrap_or_else(|| panic!("no histogram {tag}: {:?}", histograms.keys()));
            let rows = h.as_array().expect("rows");
            assert_eq!(rows.len(), 2, "{tag}: one per epoch");
            assert_eq!(rows[0][1].as_f64(), Some(count), "{tag} counts every value");
            assert!(
                rows[0][2].as_f64() <= rows[0][3].as_f64(),
                "{tag} min ≤ max"
            );
        }
    }

    // Images: augmented training samples, the confusion matrix, misclassified samples.
    let images = &board["images"];
    for tag in [
        "images/augmented",
        "images/confusion_matrix",
        "images/misclassified",
    ] {
        let rows = images[tag]
            .as_array()
            .unwrap_or_else(|| panic!("no image {tag}: {images}"));
        assert!(
            rows[0][1].as_i64() > Some(0) && rows[0][2].as_i64() > Some(0),
            "{tag}: {rows:?}"
        );
    }

    // The pipeline as text, the model graph, the hparams session with its end.
    let text = board["text"]["pipeline"].as_str().expect("pipeline text");
    assert!(text.contains("histogram_freq: 1"), "{text}");
    let ops: Vec<&str> = board["graph"]
        .as_array()
        .expect("graph")
        .iter()
        .map(|o| o.as_str().expect("op"))
        .collect();
    assert_eq!(
        ops,
        [
            "Input",
            "Conv2d",
            "BatchNorm",
            "ReLU",
            "MaxPool2d",
            "Flatten",
            "Linear"
        ]
    );
    // A sequence: each layer reads the one before it, the first reads the input.
    let inputs = &board["graph_inputs"];
    assert_eq!(inputs["layers/0"], serde_json::json!(["input"]), "{inputs}");
    assert_eq!(
        inputs["layers/1"],
        serde_json::json!(["layers/0"]),
        "{inputs}"
    );
    let hparams = &board["hparams"];
    assert_eq!(hparams["start"]["optimizer"], "SGD", "{hparams}");
    assert_eq!(hparams["start"]["lr"], 0.05, "{hparams}");
    assert_eq!(hparams["start"]["batch_size"], 32.0, "{hparams}");
    assert_eq!(hparams["end_status"], 1, "STATUS_SUCCESS: {hparams}");

    // Per-class scores per epoch and split; the test report with its confusion matrix.
    let per_class = read(&run.join("per_class.csv"));
    let lines: Vec<&str> = per_class.lines().collect();
    assert_eq!(lines[0], "epoch,split,class,precision,recall,f1,support");
    assert_eq!(
        lines.len(),
        1 + 2 * 2 * 10,
        "2 epochs × train/val × 10 classes"
    );
    let report: serde_json::Value =
        serde_json::from_str(&read(&run.join("test_report.json"))).expect("test report");
    let confusion = report["confusion_matrix"].as_array().expect("matrix");
    assert_eq!(confusion.len(), 10);
    let total: u64 = confusion
        .iter()
        .flat_map(|r| r.as_array().expect("row"))
        .map(|c| c.as_u64().expect("count"))
        .sum();
    assert_eq!(total, test, "every test image is counted once");
    let diagonal: u64 = (0..10)
        .map(|i| confusion[i][i].as_u64().expect("count"))
        .sum();
    let accuracy = report["accuracy"].as_f64().expect("accuracy");
    assert!((accuracy - diagonal as f64 / test as f64).abs() < 1e-9);
}
