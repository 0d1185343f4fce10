//! The training sections: every variant parses with its defaults, and the checks catch
//! out-of-range values, unknown monitors and contradicting callbacks.

use std::path::Path;

use crate::{
    CallbackSpec, Frequency, Interval, LossSpec, Mode, OptimizerSpec, Pipeline, ScheduleSpec,
    SpecError,
};

fn pipeline(dir: &Path, sections: &str) -> Result<Pipeline, SpecError> {
    for f in ["images", "labels"] {
        std::fs::write(dir.join(f), b"").unwrap();
    }
    let d = dir.display();
    let text = format!(
        "(\n  epochs: 10,\n  data: (source: Idx(images: \"{d}/images\", labels: \"{d}/labels\"), classes: Some([\"a\", \"b\"])),\n  model: (input: (channels: 1, height: 4, width: 4), layers: [Flatten, Linear(units: 2)]),\n{sections}\n)\n"
    );
    let p = dir.join("p.ron");
    std::fs::write(&p, text).unwrap();
    Pipeline::from_path(&p)
}

fn errors(sections: &str) -> Vec<(String, String)> {
    let tmp = tempfile::tempdir().unwrap();
    match pipeline(tmp.path(), sections) {
        Ok(_) => Vec::new(),
        Err(SpecError::Invalid { diagnostics, .. }) => diagnostics
            .into_iter()
            .map(|d| (d.path, d.message))
            .collect(),
        Err(e) => panic!("not a validation error: {e}"),
    }
}

#[test]
fn every_section_parses_with_pytorch_and_keras_defaults() {
    let tmp = tempfile::tempdir().unwrap();
    let p = pipeline(
        tmp.path(),
        "  loss: CrossEntropy(label_smoothing: 0.1),\n  optimizer: AdamW(lr: 0.001),\n  schedule: CosineAnnealingLR(),\n  warmup: (epochs: 2),\n  regularization: (l1: 1e-5, clip_grad_norm: 1.0),\n  callbacks: [EarlyStopping(patience: 3, restore_best_weights: true), ModelCheckpoint(every_epochs: 2, keep_last: 2), TensorBoard(histogram_freq: 1), CsvLogger(filename: \"log.csv\"), TerminateOnNaN(), BackupAndRestore(save_freq: Batches(50)), Ema()],\n  precision: Fp32,\n  deterministic: true,",
    )
    .unwrap();
    let f = &p.file;
    assert_eq!(
        f.loss,
        LossSpec::CrossEntropy {
            weight: None,
            label_smoothing: 0.1
        }
    );
    assert_eq!(
        f.optimizer,
        OptimizerSpec::AdamW {
            lr: 0.001,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.01,
            amsgrad: false
        }
    );
    assert_eq!(
        f.schedule,
        Some(ScheduleSpec::CosineAnnealingLR {
            t_max: None,
            eta_min: 0.0,
            interval: Interval::Epoch
        })
    );
    assert_eq!(f.callbacks.len(), 7);
    assert_eq!(
        f.callbacks[0],
        CallbackSpec::EarlyStopping {
            monitor: "val_loss".into(),
            min_delta: 0.0,
            patience: 3,
            mode: Mode::Auto,
            baseline: None,
            restore_best_weights: true,
            start_from_epoch: 0
        }
    );
    assert!(matches!(
        f.callbacks[5],
        CallbackSpec::BackupAndRestore {
            save_freq: Frequency::Batches(50),
            delete_checkpoint: true
        }
    ));
    assert!(f.deterministic);
}

#[test]
fn zero_field_variants_are_written_with_parentheses() {
    for loss in ["Mse()", "L1()", "Huber()", "BinaryCrossEntropy()"] {
        assert_eq!(
            errors(&format!("  loss: {loss},\n  optimizer: Sgd(lr: 0.1),\n")),
            vec![],
            "{loss}"
        );
    }
}

#[test]
fn out_of_range_values_are_reported_together() {
    let errs = errors(
        "  loss: CrossEntropy(label_smoothing: 1.5),\n  optimizer: RmsProp(lr: -1, alpha: 1.2),\n  schedule: StepLR(step_size: 0, gamma: 0),\n  warmup: (epochs: 10),\n  regularization: (l1: -1, clip_grad_norm: 0),",
    );
    let paths: Vec<&str> = errs.iter().map(|(p, _)| p.as_str()).collect();
    for expected in [
        "loss.label_smoothing",
        "optimizer.alpha",
        "optimizer.lr",
        "schedule.step_size",
        "schedule.gamma",
        "warmup.epochs",
        "regularization.l1",
        "regularization.clip_grad_norm",
    ] {
        assert!(
            paths.contains(&expected),
            "{expected} missing from {errs:?}"
        );
    }
}

#[test]
fn a_monitor_no_metric_produces_is_an_error_with_a_suggestion() {
    let errs = errors(
        "  optimizer: Adam(lr: 0.001),\n  callbacks: [EarlyStopping(monitor: \"val_acuracy\")],",
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, "callbacks[0].monitor");
    assert!(
        errs[0].1.contains("did you mean `val_accuracy`"),
        "{}",
        errs[0].1
    );
    // Keras' names are accepted.
    assert_eq!(
        errors(
            "  optimizer: Adam(lr: 0.001),\n  callbacks: [EarlyStopping(monitor: \"val_acc\", patience: 2)],"
        ),
        vec![]
    );
}

#[test]
fn validation_metrics_need_a_validation_split() {
    let tmp = tempfile::tempdir().unwrap();
    for f in ["images", "labels"] {
        std::fs::write(tmp.path().join(f), b"").unwrap();
    }
    let d = tmp.path().display();
    let text = format!(
        "(epochs: 3, data: (source: Idx(images: \"{d}/images\", labels: \"{d}/labels\"), classes: Some([\"a\", \"b\"]), split: (validation: 0)), model: (input: (channels: 1, height: 4, width: 4), layers: [Flatten, Linear(units: 2)]), optimizer: Adam(lr: 0.001), callbacks: [EarlyStopping()])"
    );
    let p = tmp.path().join("p.ron");
    std::fs::write(&p, text).unwrap();
    let Err(SpecError::Invalid { diagnostics, .. }) = Pipeline::from_path(&p) else {
        panic!("accepted a val_loss monitor without validation data");
    };
    assert!(diagnostics[0].message.contains("needs a validation split"));
}

#[test]
fn contradicting_callbacks_are_errors() {
    let errs = errors(
        "  optimizer: Adam(lr: 0.001),\n  schedule: StepLR(step_size: 2),\n  callbacks: [ReduceLROnPlateau(), EarlyStopping(patience: 2), EarlyStopping(patience: 30)],",
    );
    let text = format!("{errs:?}");
    assert!(text.contains("would both set the lr"), "{text}");
    assert!(text.contains("given twice"), "{text}");
    assert!(
        text.contains("training stops before the lr is ever reduced"),
        "{text}"
    );
}
