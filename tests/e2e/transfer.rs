//! Transfer learning end to end: pretrain on the digits 0–4, start the digits 5–9 from its
//! weights with the convolutional base frozen, unfreeze it later, and load files that do
//! not match.

use std::path::{Path, PathBuf};

use safetensors::SafeTensors;

use crate::common::*;

fn train(exp: &Path, pipeline: &str, extra: &[&str]) -> PathBuf {
    let mut args = vec!["train", pipeline, "--no-progress", "--limit", "256"];
    args.extend_from_slice(extra);
    let out = ronin(exp, &args);
    ok(&out);
    PathBuf::from(stdout(&out).trim())
}

fn tensors(run: &Path, checkpoint: &str) -> Vec<u8> {
    std::fs::read(
        run.join("checkpoints")
            .join(checkpoint)
            .join("model.safetensors"),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", run.display()))
}

fn tensor<'a>(file: &'a SafeTensors<'a>, name: &str) -> &'a [u8] {
    file.tensor(name)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .data()
}

#[test]
fn transfer_freezes_the_base_and_trains_a_new_head() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let exp = tmp.path().join("experiments");
    let base = train(&exp, "pipelines/mnist_digits_0_4.ron", &["--epochs", "1"]);
    let transfer = train(&exp, "pipelines/mnist_transfer_5_9.ron", &["--epochs", "2"]);

    let report: serde_json::Value =
        serde_json::from_str(&read(&transfer.join("weights.json"))).expect("weights.json");
    assert_eq!(
        report["loaded"].as_array().map(Vec::len),
        Some(12),
        "{report}"
    );
    assert_eq!(
        report["skipped_head"],
        serde_json::json!(["layers.12.weight", "layers.12.bias"])
    );
    assert!(
        report["file"]
            .as_str()
            .is_some_and(|f| f.starts_with(base.to_str().expect("utf-8"))),
        "{report}"
    );

    let before_bytes = tensors(&base, "best");
    let after_bytes = tensors(&transfer, "last");
    let before = SafeTensors::deserialize(&before_bytes).expect("safetensors");
    let after = SafeTensors::deserialize(&after_bytes).expect("safetensors");
    // Frozen: the convolutions and the batch norms' running statistics are untouched.
    for name in [
        "layers.0.weight",
        "layers.1.weight",
        "layers.1.running_mean",
        "layers.1.running_var",
        "layers.4.weight",
        "layers.5.running_var",
    ] {
        assert_eq!(
            tensor(&before, name),
            tensor(&after, name),
            "{name} changed"
        );
    }
    // Trained: the dense layers after the frozen base.
    assert_ne!(
        tensor(&before, "layers.10.weight"),
        tensor(&after, "layers.10.weight")
    );

    // Feature extraction (the pipeline's cache_features) gives what training through the
    // frozen base every epoch gives.
    let through = train(
        &exp,
        "pipelines/mnist_transfer_5_9.ron",
        &[
            "--epochs",
            "2",
            "--force",
            "--set",
            "model.cache_features=false",
        ],
    );
    assert_eq!(
        read(&transfer.join("metrics.csv")),
        read(&through.join("metrics.csv")),
        "the feature cache changed the training"
    );

    let check = ronin(&exp, &["check", "pipelines/mnist_transfer_5_9.ron"]);
    ok(&check);
    assert!(
        stdout(&check).contains("Frozen: 18,912 params of the layers before layers.9"),
        "{}",
        stdout(&check)
    );

    // Fine-tuning: from epoch 2 on the base trains too, at its own learning rate.
    let tuned = train(
        &exp,
        "pipelines/mnist_transfer_5_9.ron",
        &[
            "--epochs",
            "2",
            "--set",
            "model.cache_features=false",
            "--set",
            "model.unfreeze_after_epochs=1",
            "--set",
            "model.backbone_lr=1e-4",
        ],
    );
    let tuned_bytes = tensors(&tuned, "last");
    let tuned_t = SafeTensors::deserialize(&tuned_bytes).expect("safetensors");
    assert_ne!(
        tensor(&before, "layers.0.weight"),
        tensor(&tuned_t, "layers.0.weight"),
        "the base did not train after unfreezing"
    );

    // backbone_lr applies to the base: at 0 its weights stay, while its batch norms, no
    // longer frozen, update their running statistics.
    let still = train(
        &exp,
        "pipelines/mnist_transfer_5_9.ron",
        &[
            "--epochs",
            "2",
            "--set",
            "model.cache_features=false",
            "--set",
            "model.unfreeze_after_epochs=1",
            "--set",
            "model.backbone_lr=0.0",
        ],
    );
    let still_bytes = tensors(&still, "last");
    let still_t = SafeTensors::deserialize(&still_bytes).expect("safetensors");
    assert_eq!(
        tensor(&before, "layers.0.weight"),
        tensor(&still_t, "layers.0.weight")
    );
    assert_ne!(
        tensor(&before, "layers.1.running_mean"),
        tensor(&still_t, "layers.1.running_mean")
    );
    assert_ne!(
        tensor(&before, "layers.10.weight"),
        tensor(&still_t, "layers.10.weight"),
        "the head keeps optimizer.lr"
    );
}

/// A copy of `src` with `name` replaced by a zero tensor of `shape`.
fn with_wrong_shape(src: &[u8], name: &str, shape: &[usize], out: &Path) {
    let file = SafeTensors::deserialize(src).expect("safetensors");
    let zeros = vec![0u8; shape.iter().product::<usize>() * 4];
    let mut views = Vec::new();
    for (n, view) in file.tensors() {
        if n == name {
            views.push((
                n,
                safetensors::tensor::TensorView::new(
                    safetensors::Dtype::F32,
                    shape.to_vec(),
                    &zeros,
                )
                .expect("view"),
            ));
        } else {
            views.push((n, view));
        }
    }
    safetensors::serialize_to_file(views, None, out).expect("write safetensors");
}

#[test]
fn weights_that_do_not_match_are_named_with_both_shapes() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let exp = tmp.path().join("experiments");
    let base = train(&exp, "pipelines/mnist_digits_0_4.ron", &["--epochs", "1"]);
    let bad = tmp.path().join("bad.safetensors");
    with_wrong_shape(
        &tensors(&base, "best"),
        "layers.10.weight",
        &[64, 3136],
        &bad,
    );
    let weights = |strict: bool| {
        format!(
            "model.weights=(file: \"{}\", strict: {strict}, skip_head: true)",
            bad.display()
        )
    };

    let strict = ronin(
        &exp,
        &[
            "train",
            "pipelines/mnist_transfer_5_9.ron",
            "--no-progress",
            "--epochs",
            "1",
            "--limit",
            "64",
            "--set",
            &weights(true),
        ],
    );
    assert_eq!(strict.status.code(), Some(1), "{}", stderr(&strict));
    let err = stderr(&strict);
    assert!(
        err.contains("layers.10.weight: the model has shape [128, 3136], the file [64, 3136]"),
        "{err}"
    );
    assert!(err.contains("bad.safetensors"), "{err}");
    assert!(err.contains("strict: false"), "{err}");

    // Partial: what matches loads, the rest is reported in the run.
    let partial = train(
        &exp,
        "pipelines/mnist_transfer_5_9.ron",
        &["--epochs", "1", "--set", &weights(false)],
    );
    let report: serde_json::Value =
        serde_json::from_str(&read(&partial.join("weights.json"))).expect("weights.json");
    assert_eq!(
        report["mismatched"][0]["name"], "layers.10.weight",
        "{report}"
    );
    assert_eq!(
        report["mismatched"][0]["file"],
        serde_json::json!([64, 3136])
    );
    assert_eq!(
        report["loaded"].as_array().map(Vec::len),
        Some(11),
        "{report}"
    );

    // No run to start from: the error says which experiment to train.
    let fresh = tmp.path().join("empty");
    let none = ronin(
        &fresh,
        &[
            "train",
            "pipelines/mnist_transfer_5_9.ron",
            "--no-progress",
            "--epochs",
            "1",
        ],
    );
    assert_ne!(none.status.code(), Some(0));
    assert!(
        stderr(&none).contains("ronin train pipelines/mnist_digits_0_4.ron"),
        "{}",
        stderr(&none)
    );
}
