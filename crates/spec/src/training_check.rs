//! Value checks of the training sections: optimizer, schedule, warm-up, regularization,
//! callbacks, precision. Each problem is `(field path, message)`.
//!
//! Range checks are written `!(x > 0.0)` on purpose: a NaN fails them too.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use crate::DeviceSpec;
use crate::schema::PipelineFile;
use crate::training::{
    CallbackSpec, Frequency, LossSpec, OptimizerSpec, Precision, ScheduleSpec, WarmupSpec,
};

/// Metrics the runner produces each epoch, for `monitor` fields. `val_*` exist only when
/// the pipeline has a validation split.
pub const METRIC_NAMES: [&str; 9] = [
    "train_loss",
    "train_accuracy",
    "train_top5_accuracy",
    "train_f1",
    "val_loss",
    "val_accuracy",
    "val_top5_accuracy",
    "val_f1",
    "lr",
];

/// The runner's name for a metric, accepting Keras' names (`loss`, `accuracy`, `acc`,
/// `val_acc`).
pub fn canonical_metric(name: &str) -> Option<&'static str> {
    let name = match name {
        "loss" => "train_loss",
        "accuracy" | "acc" | "train_acc" => "train_accuracy",
        "val_acc" => "val_accuracy",
        "top5_accuracy" => "train_top5_accuracy",
        "f1" => "train_f1",
        other => other,
    };
    METRIC_NAMES.iter().copied().find(|m| *m == name)
}

type Problems = Vec<(String, String)>;

pub(crate) fn check_training(file: &PipelineFile) -> Problems {
    let mut out = Problems::new();
    let mut bad = |path: &str, msg: String| out.push((path.to_owned(), msg));
    check_optimizer(&file.optimizer, &mut bad);
    check_loss(&file.loss, &mut bad);
    if let Some(s) = &file.schedule {
        check_schedule(s, &mut bad);
    }
    if let Some(w) = &file.warmup {
        check_warmup(w, file.epochs, &mut bad);
    }
    let r = &file.regularization;
    for (name, v) in [("l1", r.l1), ("l2", r.l2)] {
        if !(v >= 0.0 && v.is_finite()) {
            bad(
                &format!("regularization.{name}"),
                format!("{name} must be ≥ 0, found {v}"),
            );
        }
    }
    for (name, v) in [
        ("clip_grad_norm", r.clip_grad_norm),
        ("clip_grad_value", r.clip_grad_value),
    ] {
        if let Some(v) = v
            && !(v > 0.0 && v.is_finite())
        {
            bad(
                &format!("regularization.{name}"),
                format!("{name} must be > 0, found {v}"),
            );
        }
    }
    let has_validation = file.data.split.validation > 0.0;
    check_callbacks(file, has_validation, &mut bad);
    if let Some(ScheduleSpec::ReduceLROnPlateau { monitor, .. }) = &file.schedule {
        check_monitor("schedule.monitor", monitor, has_validation, &mut bad);
    }
    if file.precision != Precision::Fp32 && file.device == DeviceSpec::Cpu {
        bad(
            "precision",
            format!(
                "{:?} autocast runs on CUDA only; use precision: Fp32 with device: Cpu",
                file.precision
            ),
        );
    }
    out
}

fn check_loss(loss: &LossSpec, bad: &mut impl FnMut(&str, String)) {
    match loss {
        LossSpec::CrossEntropy {
            weight,
            label_smoothing,
        } => {
            if !(0.0..1.0).contains(label_smoothing) {
                bad(
                    "loss.label_smoothing",
                    format!("label_smoothing must be in [0, 1), found {label_smoothing}"),
                );
            }
            if let Some(w) = weight
                && w.iter().any(|v| !(*v >= 0.0 && v.is_finite()))
            {
                bad("loss.weight", "class weights must be finite and ≥ 0".into());
            }
        }
        LossSpec::BinaryCrossEntropy {
            pos_weight: Some(w),
        } if !(*w > 0.0 && w.is_finite()) => {
            bad(
                "loss.pos_weight",
                format!("pos_weight must be > 0, found {w}"),
            );
        }
        LossSpec::Huber { delta } if !(*delta > 0.0 && delta.is_finite()) => {
            bad("loss.delta", format!("delta must be > 0, found {delta}"));
        }
        _ => {}
    }
}

fn check_optimizer(opt: &OptimizerSpec, bad: &mut impl FnMut(&str, String)) {
    let unit = |v: f64| (0.0..1.0).contains(&v);
    match *opt {
        OptimizerSpec::Sgd {
            momentum,
            dampening,
            nesterov,
            ..
        } => {
            if !unit(momentum) {
                bad(
                    "optimizer.momentum",
                    format!("momentum must be in [0, 1), found {momentum}"),
                );
            }
            if !(0.0..=1.0).contains(&dampening) {
                bad(
                    "optimizer.dampening",
                    format!("dampening must be in [0, 1], found {dampening}"),
                );
            }
            if nesterov && (momentum == 0.0 || dampening != 0.0) {
                bad(
                    "optimizer.nesterov",
                    "nesterov needs a momentum > 0 and zero dampening (as in PyTorch)".into(),
                );
            }
        }
        OptimizerSpec::Adam { betas, eps, .. } | OptimizerSpec::AdamW { betas, eps, .. } => {
            if !unit(betas.0) || !unit(betas.1) {
                bad(
                    "optimizer.betas",
                    format!("betas must each be in [0, 1), found {betas:?}"),
                );
            }
            if !(eps > 0.0) {
                bad("optimizer.eps", format!("eps must be > 0, found {eps}"));
            }
        }
        OptimizerSpec::RmsProp {
            alpha,
            eps,
            momentum,
            ..
        } => {
            if !unit(alpha) {
                bad(
                    "optimizer.alpha",
                    format!("alpha must be in [0, 1), found {alpha}"),
                );
            }
            if !unit(momentum) {
                bad(
                    "optimizer.momentum",
                    format!("momentum must be in [0, 1), found {momentum}"),
                );
            }
            if !(eps > 0.0) {
                bad("optimizer.eps", format!("eps must be > 0, found {eps}"));
            }
        }
        OptimizerSpec::Adagrad {
            lr_decay,
            initial_accumulator_value,
            eps,
            ..
        } => {
            if !(lr_decay >= 0.0) {
                bad(
                    "optimizer.lr_decay",
                    format!("lr_decay must be ≥ 0, found {lr_decay}"),
                );
            }
            if !(initial_accumulator_value >= 0.0) {
                bad(
                    "optimizer.initial_accumulator_value",
                    format!(
                        "initial_accumulator_value must be ≥ 0, found {initial_accumulator_value}"
                    ),
                );
            }
            if !(eps > 0.0) {
                bad("optimizer.eps", format!("eps must be > 0, found {eps}"));
            }
        }
    }
    let lr = opt.lr();
    if !(lr > 0.0 && lr.is_finite()) {
        bad("optimizer.lr", format!("lr must be > 0, found {lr}"));
    }
    let wd = opt.weight_decay();
    if !(wd >= 0.0 && wd.is_finite()) {
        bad(
            "optimizer.weight_decay",
            format!("weight_decay must be ≥ 0, found {wd}"),
        );
    }
}

fn check_schedule(s: &ScheduleSpec, bad: &mut impl FnMut(&str, String)) {
    let positive_gamma = |g: f64| g > 0.0 && g.is_finite();
    match s {
        ScheduleSpec::StepLR {
            step_size, gamma, ..
        } => {
            if *step_size == 0 {
                bad("schedule.step_size", "step_size must be at least 1".into());
            }
            if !positive_gamma(*gamma) {
                bad(
                    "schedule.gamma",
                    format!("gamma must be > 0, found {gamma}"),
                );
            }
        }
        ScheduleSpec::MultiStepLR {
            milestones, gamma, ..
        } => {
            if milestones.windows(2).any(|w| w[0] >= w[1]) {
                bad(
                    "schedule.milestones",
                    format!("milestones must be increasing, found {milestones:?}"),
                );
            }
            if !positive_gamma(*gamma) {
                bad(
                    "schedule.gamma",
                    format!("gamma must be > 0, found {gamma}"),
                );
            }
        }
        ScheduleSpec::ExponentialLR { gamma, .. } => {
            if !positive_gamma(*gamma) {
                bad(
                    "schedule.gamma",
                    format!("gamma must be > 0, found {gamma}"),
                );
            }
        }
        ScheduleSpec::CosineAnnealingLR { t_max, eta_min, .. } => {
            if *t_max == Some(0) {
                bad("schedule.t_max", "t_max must be at least 1".into());
            }
            if !(*eta_min >= 0.0) {
                bad(
                    "schedule.eta_min",
                    format!("eta_min must be ≥ 0, found {eta_min}"),
                );
            }
        }
        ScheduleSpec::CosineAnnealingWarmRestarts {
            t_0,
            t_mult,
            eta_min,
            ..
        } => {
            if *t_0 == 0 {
                bad("schedule.t_0", "t_0 must be at least 1".into());
            }
            if *t_mult == 0 {
                bad("schedule.t_mult", "t_mult must be at least 1".into());
            }
            if !(*eta_min >= 0.0) {
                bad(
                    "schedule.eta_min",
                    format!("eta_min must be ≥ 0, found {eta_min}"),
                );
            }
        }
        ScheduleSpec::LinearLR {
            start_factor,
            end_factor,
            ..
        } => {
            if !(*start_factor > 0.0 && *start_factor <= 1.0) {
                bad(
                    "schedule.start_factor",
                    format!("start_factor must be in (0, 1], found {start_factor}"),
                );
            }
            if !(*end_factor >= 0.0 && *end_factor <= 1.0) {
                bad(
                    "schedule.end_factor",
                    format!("end_factor must be in [0, 1], found {end_factor}"),
                );
            }
        }
        ScheduleSpec::OneCycleLR {
            max_lr,
            pct_start,
            div_factor,
            final_div_factor,
            ..
        } => {
            if !(*max_lr > 0.0 && max_lr.is_finite()) {
                bad(
                    "schedule.max_lr",
                    format!("max_lr must be > 0, found {max_lr}"),
                );
            }
            if !(*pct_start > 0.0 && *pct_start < 1.0) {
                bad(
                    "schedule.pct_start",
                    format!("pct_start must be in (0, 1), found {pct_start}"),
                );
            }
            for (name, v) in [
                ("div_factor", div_factor),
                ("final_div_factor", final_div_factor),
            ] {
                if !(*v > 0.0) {
                    bad(
                        &format!("schedule.{name}"),
                        format!("{name} must be > 0, found {v}"),
                    );
                }
            }
        }
        ScheduleSpec::ReduceLROnPlateau { factor, min_lr, .. } => {
            check_plateau("schedule", *factor, *min_lr, bad)
        }
    }
}

fn check_plateau(prefix: &str, factor: f64, min_lr: f64, bad: &mut impl FnMut(&str, String)) {
    if !(factor > 0.0 && factor < 1.0) {
        bad(
            &format!("{prefix}.factor"),
            format!("factor must be in (0, 1), found {factor}"),
        );
    }
    if !(min_lr >= 0.0) {
        bad(
            &format!("{prefix}.min_lr"),
            format!("min_lr must be ≥ 0, found {min_lr}"),
        );
    }
}

fn check_warmup(w: &WarmupSpec, epochs: usize, bad: &mut impl FnMut(&str, String)) {
    match (w.epochs, w.steps) {
        (0, 0) => bad(
            "warmup",
            "give the warm-up's length: `epochs: N` or `steps: N`".into(),
        ),
        (e, s) if e > 0 && s > 0 => bad(
            "warmup",
            "give either `epochs` or `steps` for the warm-up, not both".into(),
        ),
        (e, _) if e >= epochs && e > 0 => bad(
            "warmup.epochs",
            format!("a warm-up of {e} epochs leaves nothing of a {epochs}-epoch run"),
        ),
        _ => {}
    }
    if !(0.0..1.0).contains(&w.start_factor) {
        bad(
            "warmup.start_factor",
            format!("start_factor must be in [0, 1), found {}", w.start_factor),
        );
    }
}

fn check_monitor(
    path: &str,
    monitor: &str,
    has_validation: bool,
    bad: &mut impl FnMut(&str, String),
) {
    match canonical_metric(monitor) {
        None => {
            let close = METRIC_NAMES
                .iter()
                .min_by(|a, b| {
                    strsim::levenshtein(monitor, a).cmp(&strsim::levenshtein(monitor, b))
                })
                .copied()
                .unwrap_or("val_loss");
            bad(
                path,
                format!(
                    "no metric is called `{monitor}` (did you mean `{close}`?); metrics are {}",
                    METRIC_NAMES.join(", ")
                ),
            );
        }
        Some(m) if m.starts_with("val_") && !has_validation => bad(
            path,
            format!(
                "`{monitor}` needs a validation split, and data.split.validation is 0; \
                 monitor a train_ metric or set a validation fraction"
            ),
        ),
        Some(_) => {}
    }
}

fn check_callbacks(file: &PipelineFile, has_validation: bool, bad: &mut impl FnMut(&str, String)) {
    let mut seen: Vec<&'static str> = Vec::new();
    for (i, cb) in file.callbacks.iter().enumerate() {
        let at = |field: &str| format!("callbacks[{i}].{field}");
        if seen.contains(&cb.name()) {
            bad(
                &format!("callbacks[{i}]"),
                format!("{} is given twice; merge the two into one", cb.name()),
            );
        }
        seen.push(cb.name());
        if let Some(m) = cb.monitor() {
            check_monitor(&at("monitor"), m, has_validation, bad);
        }
        match cb {
            CallbackSpec::EarlyStopping {
                min_delta,
                start_from_epoch,
                ..
            } => {
                if !(*min_delta >= 0.0) {
                    bad(
                        &at("min_delta"),
                        format!("min_delta must be ≥ 0, found {min_delta}"),
                    );
                }
                // With no epochs at all, `epochs` itself is the error to fix.
                if file.epochs > 0 && *start_from_epoch >= file.epochs {
                    bad(
                        &at("start_from_epoch"),
                        format!(
                            "start_from_epoch {start_from_epoch} is past the last epoch ({})",
                            file.epochs
                        ),
                    );
                }
            }
            CallbackSpec::ModelCheckpoint {
                every_epochs,
                keep_last,
                ..
            } => {
                if *every_epochs == 0 {
                    bad(
                        &at("every_epochs"),
                        "every_epochs must be at least 1".into(),
                    );
                }
                if *keep_last == Some(0) {
                    bad(&at("keep_last"), "keep_last must be at least 1".into());
                }
            }
            CallbackSpec::ReduceLROnPlateau { factor, min_lr, .. } => {
                check_plateau(&format!("callbacks[{i}]"), *factor, *min_lr, bad);
                if file.schedule.is_some() {
                    bad(
                        &format!("callbacks[{i}]"),
                        "ReduceLROnPlateau and a `schedule` would both set the lr; \
                         keep one (the schedule can be ReduceLROnPlateau too)"
                            .into(),
                    );
                }
            }
            CallbackSpec::TensorBoard { update_freq, .. }
            | CallbackSpec::BackupAndRestore {
                save_freq: update_freq,
                ..
            } => {
                if *update_freq == Frequency::Batches(0) {
                    bad(
                        &format!("callbacks[{i}]"),
                        "Batches(0) is not a frequency; use Batches(N) with N ≥ 1 or Epoch".into(),
                    );
                }
            }
            CallbackSpec::CsvLogger { filename, .. } => {
                let lower = filename.to_ascii_lowercase();
                if filename.is_empty() || filename.contains(['/', '\\']) || filename == ".." {
                    bad(
                        &at("filename"),
                        format!(
                            "`{filename}` must be a plain file name; it is written in the run directory"
                        ),
                    );
                } else if ["metrics.csv", "timing.csv", "run.ron", "pipeline.ron"]
                    .contains(&lower.as_str())
                {
                    bad(
                        &at("filename"),
                        format!(
                            "`{filename}` is one of ronin's own run files; choose another name"
                        ),
                    );
                }
            }
            CallbackSpec::Ema { momentum, every } => {
                if !(*momentum > 0.0 && *momentum < 1.0) {
                    bad(
                        &at("momentum"),
                        format!("momentum must be in (0, 1), found {momentum}"),
                    );
                }
                if *every == 0 {
                    bad(&at("every"), "every must be at least 1".into());
                }
            }
            CallbackSpec::TerminateOnNaN {} => {}
        }
    }
    // EarlyStopping watching a metric that ReduceLROnPlateau also watches with a longer
    // patience would stop before the lr is ever reduced.
    let patience_of = |name: &str| {
        file.callbacks.iter().find_map(|c| match c {
            CallbackSpec::EarlyStopping {
                patience, monitor, ..
            } if name == "stop" => Some((*patience, monitor.clone())),
            CallbackSpec::ReduceLROnPlateau {
                patience, monitor, ..
            } if name == "plateau" => Some((*patience, monitor.clone())),
            _ => None,
        })
    };
    let plateau = patience_of("plateau").or_else(|| match &file.schedule {
        Some(ScheduleSpec::ReduceLROnPlateau {
            patience, monitor, ..
        }) => Some((*patience, monitor.clone())),
        _ => None,
    });
    if let (Some((stop, m1)), Some((reduce, m2))) = (patience_of("stop"), plateau)
        && canonical_metric(&m1) == canonical_metric(&m2)
        && stop <= reduce
    {
        let i = file
            .callbacks
            .iter()
            .position(|c| matches!(c, CallbackSpec::EarlyStopping { .. }))
            .unwrap_or(0);
        bad(
            &format!("callbacks[{i}].patience"),
            format!(
                "EarlyStopping's patience ({stop}) is not longer than ReduceLROnPlateau's ({reduce}) \
                 on the same metric, so training stops before the lr is ever reduced; \
                 give EarlyStopping a longer patience"
            ),
        );
    }
}
