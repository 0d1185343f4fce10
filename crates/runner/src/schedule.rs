//! The learning rate at each point of a run, as `torch.optim.lr_scheduler` computes it.
//!
//! Every schedule except the plateau one is a closed form of (completed epochs, steps
//! taken), so a resumed run gets exactly the lr an uninterrupted one had; the plateau's
//! state is small and saved with the checkpoint.

use ronin_spec::{Anneal, CallbackSpec, Interval, Mode, ScheduleSpec, WarmupSpec};
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// ReduceLROnPlateau, with PyTorch's counting (reduce after more than `patience` bad
/// epochs) when it is the schedule, Keras' (after `patience`) when it is a callback.
#[derive(Debug, Clone)]
pub struct Plateau {
    pub monitor: String,
    mode: Mode,
    factor: f64,
    patience: usize,
    min_delta: f64,
    cooldown: usize,
    min_lr: f64,
    keras: bool,
    pub state: PlateauState,
}

/// What a plateau remembers between epochs (saved in checkpoints).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlateauState {
    /// The lr as a multiple of the base lr.
    pub scale: f64,
    pub best: Option<f64>,
    pub bad_epochs: usize,
    pub cooldown_left: usize,
}

impl Plateau {
    fn from_schedule(spec: &ScheduleSpec) -> Option<Self> {
        match spec {
            ScheduleSpec::ReduceLROnPlateau {
                monitor,
                mode,
                factor,
                patience,
                min_delta,
                cooldown,
                min_lr,
            } => Some(Self::new(
                monitor, *mode, *factor, *patience, *min_delta, *cooldown, *min_lr, false,
            )),
            _ => None,
        }
    }

    fn from_callback(spec: &CallbackSpec) -> Option<Self> {
        match spec {
            CallbackSpec::ReduceLROnPlateau {
                monitor,
                factor,
                patience,
                mode,
                min_delta,
                cooldown,
                min_lr,
            } => Some(Self::new(
                monitor, *mode, *factor, *patience, *min_delta, *cooldown, *min_lr, true,
            )),
            _ => None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn new(
        monitor: &str,
        mode: Mode,
        factor: f64,
        patience: usize,
        min_delta: f64,
        cooldown: usize,
        min_lr: f64,
        keras: bool,
    ) -> Self {
        let monitor = ronin_spec::canonical_metric(monitor)
            .unwrap_or("val_loss")
            .to_owned();
        Plateau {
            mode: mode.resolve(&monitor),
            monitor,
            factor,
            patience,
            min_delta,
            cooldown,
            min_lr,
            keras,
            state: PlateauState {
                scale: 1.0,
                best: None,
                bad_epochs: 0,
                cooldown_left: 0,
            },
        }
    }

    fn improved(&self, value: f64) -> bool {
        match self.state.best {
            None => true,
            Some(best) => match self.mode {
                Mode::Max => value > best + self.min_delta,
                _ => value < best - self.min_delta,
            },
        }
    }

    /// Sees an epoch's value of the monitored metric; returns the new lr if it was reduced.
    fn observe(&mut self, value: f64, base_lr: f64) -> Option<f64> {
        let improved = value.is_finite() && self.improved(value);
        let s = &mut self.state;
        let due = if self.keras {
            // keras.callbacks.ReduceLROnPlateau.on_epoch_end
            if s.cooldown_left > 0 {
                s.cooldown_left -= 1;
                s.bad_epochs = 0;
            }
            if improved {
                s.best = Some(value);
                s.bad_epochs = 0;
                false
            } else if s.cooldown_left == 0 {
                s.bad_epochs += 1;
                s.bad_epochs >= self.patience
            } else {
                false
            }
        } else {
            // torch.optim.lr_scheduler.ReduceLROnPlateau.step
            if improved {
                s.best = Some(value);
                s.bad_epochs = 0;
            } else {
                s.bad_epochs += 1;
            }
            if s.cooldown_left > 0 {
                s.cooldown_left -= 1;
                s.bad_epochs = 0;
            }
            s.bad_epochs > self.patience
        };
        if !due {
            return None;
        }
        let old = base_lr * s.scale;
        let new = (old * self.factor).max(self.min_lr);
        s.cooldown_left = self.cooldown;
        s.bad_epochs = 0;
        // Both libraries skip changes smaller than 1e-8.
        (old - new > 1e-8).then(|| {
            s.scale = new / base_lr;
            new
        })
    }
}

pub struct LrSchedule {
    base_lr: f64,
    spec: Option<ScheduleSpec>,
    warmup: Option<WarmupSpec>,
    epochs: usize,
    steps_per_epoch: usize,
    pub plateau: Option<Plateau>,
}

impl LrSchedule {
    pub fn new(
        base_lr: f64,
        spec: Option<&ScheduleSpec>,
        warmup: Option<&WarmupSpec>,
        callbacks: &[CallbackSpec],
        epochs: usize,
        steps_per_epoch: usize,
    ) -> Self {
        let plateau = spec
            .and_then(Plateau::from_schedule)
            .or_else(|| callbacks.iter().find_map(Plateau::from_callback));
        LrSchedule {
            base_lr,
            spec: spec.cloned(),
            warmup: warmup.cloned(),
            epochs,
            steps_per_epoch: steps_per_epoch.max(1),
            plateau,
        }
    }

    /// The lr for the batch after `epochs_done` completed epochs and `step` optimizer steps.
    pub fn lr(&self, epochs_done: usize, step: usize) -> f64 {
        let spe = self.steps_per_epoch;
        let scale = self.plateau.as_ref().map_or(1.0, |p| p.state.scale);
        let (epoch_offset, step_offset) = match &self.warmup {
            Some(w) if w.epochs > 0 => {
                if epochs_done < w.epochs {
                    let f = w.start_factor
                        + (1.0 - w.start_factor) * epochs_done as f64 / w.epochs as f64;
                    return self.base_lr * scale * f;
                }
                (w.epochs, w.epochs * spe)
            }
            Some(w) if w.steps > 0 => {
                if step < w.steps {
                    let f = w.start_factor + (1.0 - w.start_factor) * step as f64 / w.steps as f64;
                    return self.base_lr * scale * f;
                }
                (w.steps / spe, w.steps)
            }
            _ => (0, 0),
        };
        let Some(spec) = &self.spec else {
            return self.base_lr * scale;
        };
        let (t, total) = match spec.interval() {
            Interval::Epoch => (
                epochs_done.saturating_sub(epoch_offset),
                self.epochs.saturating_sub(epoch_offset),
            ),
            Interval::Step => (
                step.saturating_sub(step_offset),
                (self.epochs * spe).saturating_sub(step_offset),
            ),
        };
        scale * closed_form(spec, self.base_lr, t, total.max(1))
    }

    /// Tells the plateau (if any) an epoch's metrics; returns the new lr when it dropped.
    pub fn epoch_end(&mut self, metrics: &std::collections::BTreeMap<String, f64>) -> Option<f64> {
        let base = self.base_lr;
        let p = self.plateau.as_mut()?;
        let value = *metrics.get(&p.monitor)?;
        p.observe(value, base)
    }
}

/// The scheduled lr after `t` steps of its interval, in a run of `total` of them.
fn closed_form(spec: &ScheduleSpec, base: f64, t: usize, total: usize) -> f64 {
    let tf = t as f64;
    match spec {
        ScheduleSpec::StepLR {
            step_size, gamma, ..
        } => base * gamma.powi((t / (*step_size).max(1)) as i32),
        ScheduleSpec::MultiStepLR {
            milestones, gamma, ..
        } => base * gamma.powi(milestones.iter().filter(|m| **m <= t).count() as i32),
        ScheduleSpec::ExponentialLR { gamma, .. } => base * gamma.powi(t as i32),
        ScheduleSpec::CosineAnnealingLR { t_max, eta_min, .. } => {
            let t_max = t_max.unwrap_or(total).max(1) as f64;
            eta_min + (base - eta_min) * (1.0 + (PI * tf / t_max).cos()) / 2.0
        }
        ScheduleSpec::CosineAnnealingWarmRestarts {
            t_0,
            t_mult,
            eta_min,
            ..
        } => {
            let (mut t_cur, mut t_i) = (t, (*t_0).max(1));
            while t_cur >= t_i {
                t_cur -= t_i;
                t_i *= (*t_mult).max(1);
            }
            eta_min + (base - eta_min) * (1.0 + (PI * t_cur as f64 / t_i as f64).cos()) / 2.0
        }
        ScheduleSpec::LinearLR {
            start_factor,
            end_factor,
            total_iters,
            ..
        } => {
            let done = t.min(*total_iters) as f64 / (*total_iters).max(1) as f64;
            base * (start_factor + (end_factor - start_factor) * done)
        }
        ScheduleSpec::OneCycleLR {
            max_lr,
            pct_start,
            anneal_strategy,
            div_factor,
            final_div_factor,
            three_phase,
        } => one_cycle(
            *max_lr,
            *pct_start,
            *anneal_strategy,
            *div_factor,
            *final_div_factor,
            *three_phase,
            t.min(total.saturating_sub(1)),
            total,
        ),
        ScheduleSpec::ReduceLROnPlateau { .. } => base,
    }
}

#[allow(clippy::too_many_arguments)]
fn one_cycle(
    max_lr: f64,
    pct_start: f64,
    anneal: Anneal,
    div_factor: f64,
    final_div_factor: f64,
    three_phase: bool,
    step: usize,
    total: usize,
) -> f64 {
    let initial = max_lr / div_factor;
    let min = initial / final_div_factor;
    let total = total as f64;
    let phases: Vec<(f64, f64, f64)> = if three_phase {
        vec![
            (pct_start * total - 1.0, initial, max_lr),
            (2.0 * pct_start * total - 2.0, max_lr, initial),
            (total - 1.0, initial, min),
        ]
    } else {
        vec![
            (pct_start * total - 1.0, initial, max_lr),
            (total - 1.0, max_lr, min),
        ]
    };
    let step = step as f64;
    let mut start_step = 0.0;
    for (i, (end_step, from, to)) in phases.iter().enumerate() {
        if step <= *end_step || i == phases.len() - 1 {
            let span = end_step - start_step;
            let pct = if span > 0.0 {
                (step - start_step) / span
            } else {
                1.0
            };
            return match anneal {
                Anneal::Cos => to + (from - to) / 2.0 * ((PI * pct).cos() + 1.0),
                Anneal::Linear => (to - from) * pct + from,
            };
        }
        start_step = *end_step;
    }
    min
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
