//! Early stopping of weak trials: asynchronous successive halving (ASHA, Li et al. 2020),
//! the pruner behind Hyperband in Ray Tune and Optuna's `SuccessiveHalvingPruner`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Pruner {
    /// At epochs `min_epochs · reduction^k` (the rungs) a trial goes on only while its
    /// value is among the best `1/reduction` of the values trials had at that rung.
    Asha {
        #[serde(default = "one")]
        min_epochs: usize,
        #[serde(default = "three")]
        reduction: usize,
    },
}

fn one() -> usize {
    1
}

fn three() -> usize {
    3
}

/// Whether `epoch` (from 1) is a rung: `min_epochs · reduction^k` for some k ≥ 0.
pub fn is_rung(epoch: usize, min_epochs: usize, reduction: usize) -> bool {
    let (min, eta) = (min_epochs.max(1), reduction.max(2));
    let mut r = min;
    while r < epoch {
        match r.checked_mul(eta) {
            Some(next) => r = next,
            None => return false,
        }
    }
    r == epoch
}

/// Whether trial `number` goes on from a rung holding `values` (its own among them):
/// as Optuna, it must rank within the best ⌊n / reduction⌋ of the n values, at least
/// the best one. Non-finite values rank last.
pub fn asha_keeps(
    values: &[(usize, f64)],
    number: usize,
    reduction: usize,
    maximise: bool,
) -> bool {
    let key = |v: f64| {
        if !v.is_finite() {
            f64::NEG_INFINITY
        } else if maximise {
            v
        } else {
            -v
        }
    };
    let Some(&(_, mine)) = values.iter().find(|(t, _)| *t == number) else {
        return true;
    };
    let better = values.iter().filter(|(_, v)| key(*v) > key(mine)).count();
    let promotable = (values.len() / reduction.max(2)).max(1);
    better < promotable
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rungs_are_powers_of_the_reduction_from_the_minimum() {
        let rungs: Vec<usize> = (1..=30).filter(|&e| is_rung(e, 1, 3)).collect();
        assert_eq!(rungs, [1, 3, 9, 27]);
        let rungs: Vec<usize> = (1..=30).filter(|&e| is_rung(e, 2, 2)).collect();
        assert_eq!(rungs, [2, 4, 8, 16]);
    }

    #[test]
    fn only_the_best_third_goes_on() {
        // Accuracy: higher is better. The first trial at a rung always goes on.
        assert!(asha_keeps(&[(0, 0.5)], 0, 3, true));
        assert!(!asha_keeps(&[(0, 0.5), (1, 0.4)], 1, 3, true));
        assert!(asha_keeps(&[(0, 0.5), (1, 0.6)], 1, 3, true));
        let six: Vec<(usize, f64)> = (0..6).map(|t| (t, t as f64)).collect();
        assert!(asha_keeps(&six, 5, 3, true) && asha_keeps(&six, 4, 3, true));
        assert!(!asha_keeps(&six, 3, 3, true));
        // Loss: lower is better; NaN is worst.
        assert!(asha_keeps(&six, 0, 3, false) && !asha_keeps(&six, 2, 3, false));
        assert!(!asha_keeps(&[(0, 1.0), (1, f64::NAN)], 1, 3, false));
    }
}
