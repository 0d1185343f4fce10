//! Scoring a model's outputs against labels: top-1 and top-5 accuracy and cross-entropy,
//! accumulated batch by batch (`ronin eval`).

use ndarray::ArrayView2;
use serde::Serialize;

use crate::error::ExportError;

/// Smallest probability whose logarithm is taken, so a confident mistake of a model that
/// outputs probabilities gives a large finite loss rather than infinity.
pub const MIN_PROBABILITY: f64 = 1e-12;

/// Running totals over the examples seen so far.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scores {
    pub examples: usize,
    /// Examples whose label is the highest score (ties: the lower class index wins, as
    /// `argmax` does).
    pub correct: usize,
    /// Examples whose label is among the five highest scores.
    pub correct_top5: usize,
    /// Sum of each example's cross-entropy `−ln p(label)`.
    pub loss_sum: f64,
    /// The outputs are probabilities (the graph ends with a softmax), not logits.
    pub probabilities: bool,
}

impl Scores {
    pub fn new(probabilities: bool) -> Self {
        Self {
            examples: 0,
            correct: 0,
            correct_top5: 0,
            loss_sum: 0.0,
            probabilities,
        }
    }

    /// Adds one batch.
    ///
    /// # Shapes
    /// `outputs`: `[N, K]` (logits or probabilities); `labels`: `[N]`, each in `0..K`.
    pub fn add(&mut self, outputs: ArrayView2<'_, f32>, labels: &[i64]) -> Result<(), ExportError> {
        if outputs.nrows() != labels.len() {
            return Err(ExportError::Labels {
                reason: format!("{} outputs for {} labels", outputs.nrows(), labels.len()),
            });
        }
        let k = outputs.ncols();
        if let Some(bad) = labels
            .iter()
            .find(|&&l| usize::try_from(l).map_or(true, |y| y >= k))
        {
            return Err(ExportError::Labels {
                reason: format!("label {bad} is not one of the model's {k} classes"),
            });
        }
        for (row, &label) in outputs.rows().into_iter().zip(labels) {
            let y = label as usize;
            let target = row[y];
            // Rank of the label: classes scoring higher, or as high with a lower index.
            let rank = row
                .iter()
                .enumerate()
                .filter(|&(j, &v)| v > target || (v == target && j < y))
                .count();
            self.correct += usize::from(rank == 0);
            self.correct_top5 += usize::from(rank < 5);
            self.loss_sum += if self.probabilities {
                -f64::from(target).max(MIN_PROBABILITY).ln()
            } else {
                let max = row
                    .iter()
                    .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
                let log_sum = row
                    .iter()
                    .map(|&v| (f64::from(v) - max).exp())
                    .sum::<f64>()
                    .ln();
                max + log_sum - f64::from(target)
            };
            self.examples += 1;
        }
        Ok(())
    }

    /// Top-1 accuracy; 0 before any example.
    pub fn accuracy(&self) -> f64 {
        self.ratio(self.correct)
    }

    pub fn top5_accuracy(&self) -> f64 {
        self.ratio(self.correct_top5)
    }

    /// Mean cross-entropy.
    pub fn loss(&self) -> f64 {
        if self.examples == 0 {
            0.0
        } else {
            self.loss_sum / self.examples as f64
        }
    }

    fn ratio(&self, n: usize) -> f64 {
        if self.examples == 0 {
            0.0
        } else {
            n as f64 / self.examples as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::*;

    #[test]
    fn logits_accuracy_top5_and_loss() {
        let mut s = Scores::new(false);
        // Six classes; example 0 right, example 1 second best, example 2 last.
        let out = array![
            [3.0f32, 1.0, 0.0, 0.0, 0.0, 0.0],
            [3.0, 2.0, 0.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
        ];
        s.add(out.view(), &[0, 1, 0]).expect("valid");
        assert_eq!((s.examples, s.correct, s.correct_top5), (3, 1, 2));
        let ce = |row: &[f64], y: usize| {
            let z: f64 = row.iter().map(|v| v.exp()).sum();
            z.ln() - row[y]
        };
        let expected = (ce(&[3.0, 1.0, 0.0, 0.0, 0.0, 0.0], 0)
            + ce(&[3.0, 2.0, 0.0, 0.0, 0.0, 0.0], 1)
            + ce(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], 0))
            / 3.0;
        assert!(
            (s.loss() - expected).abs() < 1e-9,
            "{} vs {expected}",
            s.loss()
        );
        assert!((s.accuracy() - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn probabilities_and_ties() {
        let mut s = Scores::new(true);
        // A tie goes to the lower index: label 1 is not top-1 behind class 0.
        s.add(array![[0.5f32, 0.5], [0.0, 1.0]].view(), &[1, 0])
            .expect("valid");
        assert_eq!(s.correct, 0);
        let expected = (-(0.5f64.ln()) - MIN_PROBABILITY.ln()) / 2.0;
        assert!((s.loss() - expected).abs() < 1e-9);
    }

    #[test]
    fn bad_labels_are_errors() {
        let mut s = Scores::new(false);
        let out = array![[0.0f32, 1.0]];
        assert!(s.add(out.view(), &[2]).is_err());
        assert!(s.add(out.view(), &[0, 1]).is_err());
        assert_eq!(s.examples, 0);
    }
}
