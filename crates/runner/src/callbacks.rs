//! Keras callbacks that keep state across epochs: EarlyStopping and the EMA of the weights.
//! Their state is saved with every checkpoint so that a resumed run decides exactly as an
//! uninterrupted one would (unlike Keras, keras-team/keras#17012).

use std::collections::BTreeMap;

use ronin_spec::{CallbackSpec, Mode};
use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::RunnerError;

/// `keras.callbacks.EarlyStopping`.
#[derive(Debug, Clone)]
pub struct EarlyStopping {
    pub monitor: String,
    mode: Mode,
    min_delta: f64,
    patience: usize,
    baseline: Option<f64>,
    pub restore_best_weights: bool,
    start_from_epoch: usize,
    pub state: EarlyState,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EarlyState {
    pub best: Option<f64>,
    pub best_epoch: usize,
    pub wait: usize,
}

/// What EarlyStopping decided at the end of an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EarlyDecision {
    Continue,
    /// Improved: with `restore_best_weights`, save these weights.
    Improved,
    Stop,
}

impl EarlyStopping {
    pub fn from_spec(spec: &CallbackSpec) -> Option<Self> {
        match spec {
            CallbackSpec::EarlyStopping {
                monitor,
                min_delta,
                patience,
                mode,
                baseline,
                restore_best_weights,
                start_from_epoch,
            } => {
                let monitor = ronin_spec::canonical_metric(monitor)
                    .unwrap_or("val_loss")
                    .to_owned();
                Some(EarlyStopping {
                    mode: mode.resolve(&monitor),
                    monitor,
                    min_delta: min_delta.abs(),
                    patience: *patience,
                    baseline: *baseline,
                    restore_best_weights: *restore_best_weights,
                    start_from_epoch: *start_from_epoch,
                    state: EarlyState::default(),
                })
            }
            _ => None,
        }
    }

    fn improvement(&self, value: f64, reference: Option<f64>) -> bool {
        let Some(reference) = reference else {
            return value.is_finite();
        };
        match self.mode {
            Mode::Max => value - self.min_delta > reference,
            _ => value + self.min_delta < reference,
        }
    }

    /// Keras' `on_epoch_end` for the 0-based `epoch`.
    pub fn epoch_end(&mut self, epoch: usize, metrics: &BTreeMap<String, f64>) -> EarlyDecision {
        let Some(&value) = metrics.get(&self.monitor) else {
            return EarlyDecision::Continue;
        };
        if epoch < self.start_from_epoch {
            return EarlyDecision::Continue;
        }
        self.state.wait += 1;
        if self.improvement(value, self.state.best) {
            self.state.best = Some(value);
            self.state.best_epoch = epoch + 1;
            if self.baseline.is_none() || self.improvement(value, self.baseline) {
                self.state.wait = 0;
            }
            return EarlyDecision::Improved;
        }
        if self.state.wait >= self.patience && epoch > 0 {
            return EarlyDecision::Stop;
        }
        EarlyDecision::Continue
    }
}

/// An exponential moving average of every variable (buffers copied), used for evaluation.
pub struct Ema {
    pub momentum: f64,
    pub every: usize,
    /// (name, shadow, live variable).
    shadow: Vec<(String, Tensor, Tensor)>,
    pub updates: u64,
}

impl Ema {
    pub fn new(
        momentum: f64,
        every: usize,
        vars: &BTreeMap<String, Tensor>,
    ) -> Result<Self, RunnerError> {
        let _g = tch::no_grad_guard();
        let shadow = vars
            .iter()
            .map(|(n, t)| Ok((n.clone(), t.f_detach_copy()?, t.shallow_clone())))
            .collect::<Result<Vec<_>, RunnerError>>()?;
        Ok(Ema {
            momentum,
            every: every.max(1),
            shadow,
            updates: 0,
        })
    }

    /// After optimizer step number `step`: ema ← m·ema + (1 − m)·w every `every` steps.
    pub fn after_step(&mut self, step: i64) -> Result<(), RunnerError> {
        if !(step as u64).is_multiple_of(self.every as u64) {
            return Ok(());
        }
        let _g = tch::no_grad_guard();
        for (_, ema, live) in &mut self.shadow {
            if live.is_floating_point() && live.requires_grad() {
                let _ = ema.f_lerp_(live, 1.0 - self.momentum)?;
            } else {
                ema.f_copy_(live)?;
            }
        }
        self.updates += 1;
        Ok(())
    }

    /// Exchanges the live weights and the averages (call twice to swap back).
    pub fn swap(&mut self) -> Result<(), RunnerError> {
        let _g = tch::no_grad_guard();
        for (_, ema, live) in &mut self.shadow {
            let tmp = live.f_detach_copy()?;
            live.f_copy_(ema)?;
            ema.f_copy_(&tmp)?;
        }
        Ok(())
    }

    /// The averages, named (`ema.<var>`) for a checkpoint.
    pub fn named(&self) -> Vec<(String, Tensor)> {
        self.shadow
            .iter()
            .map(|(n, e, _)| (format!("ema.{n}"), e.shallow_clone()))
            .collect()
    }

    /// Restores averages saved by [`Self::named`].
    pub fn load(&mut self, saved: &BTreeMap<String, Tensor>) -> Result<(), RunnerError> {
        let _g = tch::no_grad_guard();
        for (n, ema, _) in &mut self.shadow {
            if let Some(t) = saved.get(&format!("ema.{n}")) {
                ema.f_copy_(t)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn es(patience: usize, baseline: Option<f64>, start: usize) -> EarlyStopping {
        EarlyStopping::from_spec(&CallbackSpec::EarlyStopping {
            monitor: "val_loss".into(),
            min_delta: 0.01,
            patience,
            mode: Mode::Auto,
            baseline,
            restore_best_weights: false,
            start_from_epoch: start,
        })
        .unwrap()
    }

    fn run(mut e: EarlyStopping, losses: &[f64]) -> Option<usize> {
        for (i, l) in losses.iter().enumerate() {
            let m = BTreeMap::from([("val_loss".to_owned(), *l)]);
            if e.epoch_end(i, &m) == EarlyDecision::Stop {
                return Some(i + 1);
            }
        }
        None
    }

    #[test]
    fn stops_after_patience_epochs_without_min_delta_improvement() {
        // 0.995 is not better than 1.0 by min_delta 0.01.
        assert_eq!(run(es(2, None, 0), &[1.0, 0.995, 0.999, 0.5]), Some(3));
        assert_eq!(run(es(2, None, 0), &[1.0, 0.9, 0.8, 0.7, 0.6]), None);
    }

    #[test]
    fn baseline_and_start_epoch_follow_keras() {
        // Keras: an improving epoch never stops, even above the baseline; a stalled one
        // above the baseline counts from the first epoch.
        assert_eq!(run(es(2, Some(0.5), 0), &[1.0, 0.9, 0.8, 0.7]), None);
        assert_eq!(run(es(2, Some(0.5), 0), &[1.0, 1.0, 1.0]), Some(2));
        assert_eq!(run(es(2, None, 0), &[1.0, 1.0, 1.0]), Some(3));
        // Epochs before start_from_epoch are ignored.
        assert_eq!(run(es(1, None, 3), &[1.0, 1.0, 1.0, 1.0, 1.0]), Some(5));
    }

    #[test]
    fn ema_averages_and_swaps() {
        let w = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
        let vars = BTreeMap::from([("w".to_owned(), w.shallow_clone())]);
        let mut ema = Ema::new(0.5, 1, &vars).unwrap();
        let _ = tch::no_grad(|| w.shallow_clone().fill_(3.0));
        ema.after_step(1).unwrap();
        ema.swap().unwrap();
        assert_eq!(w.double_value(&[0]), 2.0);
        ema.swap().unwrap();
        assert_eq!(w.double_value(&[0]), 3.0);
    }
}
