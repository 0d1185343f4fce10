//! Loss, accuracy, top-5 accuracy and the confusion matrix, summed on the device over an
//! epoch and read back once at its end; precision, recall and F1 per class from the matrix.

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::RunnerError;

pub struct EpochMeter {
    loss_sum: Tensor,
    correct: Tensor,
    top5: Tensor,
    /// (K·K) counts, row = true class, column = predicted.
    confusion: Tensor,
    classes: i64,
    count: i64,
}

/// An epoch's sums, read back (saved in mid-epoch checkpoints so a resumed epoch reports
/// the same figures as an uninterrupted one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeterSums {
    pub loss_sum: f64,
    pub correct: i64,
    pub top5: i64,
    pub count: i64,
    pub confusion: Vec<i64>,
}

/// Mean loss and accuracies over an epoch, with the confusion matrix.
#[derive(Debug, Clone)]
pub struct EpochStats {
    pub loss: f64,
    pub accuracy: f64,
    pub top5_accuracy: f64,
    pub count: i64,
    /// Row = true class, column = predicted.
    pub confusion: Vec<Vec<u64>>,
}

/// Precision, recall, F1 and support of one class.
#[derive(Debug, Clone, Serialize)]
pub struct ClassScores {
    pub class: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: u64,
}

impl EpochStats {
    /// Per-class scores from the confusion matrix (0 where undefined, as scikit-learn's
    /// `zero_division=0`).
    pub fn per_class(&self, names: &[String]) -> Vec<ClassScores> {
        let k = self.confusion.len();
        (0..k)
            .map(|c| {
                let tp = self.confusion[c][c] as f64;
                let support: u64 = self.confusion[c].iter().sum();
                let predicted: u64 = self.confusion.iter().map(|row| row[c]).sum();
                let precision = if predicted > 0 {
                    tp / predicted as f64
                } else {
                    0.0
                };
                let recall = if support > 0 {
                    tp / support as f64
                } else {
                    0.0
                };
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                ClassScores {
                    class: names.get(c).cloned().unwrap_or_else(|| c.to_string()),
                    precision,
                    recall,
                    f1,
                    support,
                }
            })
            .collect()
    }

    /// Macro-averaged F1 over the classes present in the labels.
    pub fn macro_f1(&self) -> f64 {
        let scores = self.per_class(&[]);
        let present: Vec<f64> = scores
            .iter()
            .filter(|s| s.support > 0)
            .map(|s| s.f1)
            .collect();
        if present.is_empty() {
            0.0
        } else {
            present.iter().sum::<f64>() / present.len() as f64
        }
    }
}

impl EpochMeter {
    pub fn new(device: Device, classes: usize) -> Self {
        let classes = classes.max(1) as i64;
        EpochMeter {
            loss_sum: Tensor::zeros([], (Kind::Double, device)),
            correct: Tensor::zeros([], (Kind::Int64, device)),
            top5: Tensor::zeros([], (Kind::Int64, device)),
            confusion: Tensor::zeros([classes * classes], (Kind::Int64, device)),
            classes,
            count: 0,
        }
    }

    /// Continues from sums read back earlier (a resumed epoch).
    pub fn restore(&mut self, sums: &MeterSums) -> Result<(), RunnerError> {
        let device = self.loss_sum.device();
        self.loss_sum = Tensor::from(sums.loss_sum).f_to_device(device)?;
        self.correct = Tensor::from(sums.correct).f_to_device(device)?;
        self.top5 = Tensor::from(sums.top5).f_to_device(device)?;
        if sums.confusion.len() as i64 == self.classes * self.classes {
            self.confusion = Tensor::f_from_slice(&sums.confusion)?.f_to_device(device)?;
        }
        self.count = sums.count;
        Ok(())
    }

    /// Adds a batch: `loss` is the batch's mean loss, `logits` (N, K), `labels` (N).
    pub fn add(
        &mut self,
        loss: &Tensor,
        logits: &Tensor,
        labels: &Tensor,
    ) -> Result<(), RunnerError> {
        let n = labels.size()[0];
        let _g = tch::no_grad_guard();
        let _ = self
            .loss_sum
            .f_add_(&loss.f_detach()?.f_to_kind(Kind::Double)?.f_mul_scalar(n)?)?;
        let predicted = logits.f_argmax(-1, false)?;
        let _ = self
            .correct
            .f_add_(&predicted.f_eq_tensor(labels)?.f_sum(Kind::Int64)?)?;
        let k = logits.size().last().copied().unwrap_or(1).min(5);
        let (_, top) = logits.f_topk(k, -1, true, false)?;
        let _ = self.top5.f_add_(
            &top.f_eq_tensor(&labels.f_unsqueeze(-1)?)?
                .f_sum(Kind::Int64)?,
        )?;
        let cells = labels
            .f_mul_scalar(self.classes)?
            .f_add(&predicted)?
            .f_bincount::<Tensor>(None, self.classes * self.classes)?;
        let _ = self.confusion.f_add_(&cells)?;
        self.count += n;
        Ok(())
    }

    /// The sums so far (one host synchronisation).
    pub fn sums(&self) -> Result<MeterSums, RunnerError> {
        Ok(MeterSums {
            loss_sum: self.loss_sum.f_double_value(&[])?,
            correct: self.correct.f_int64_value(&[])?,
            top5: self.top5.f_int64_value(&[])?,
            count: self.count,
            confusion: Vec::<i64>::try_from(&self.confusion.f_to_device(Device::Cpu)?)?,
        })
    }

    /// Reads the sums back (one host synchronisation).
    pub fn finish(&self) -> Result<EpochStats, RunnerError> {
        let s = self.sums()?;
        let count = s.count.max(1) as f64;
        let k = self.classes as usize;
        let confusion = (0..k)
            .map(|r| {
                s.confusion[r * k..(r + 1) * k]
                    .iter()
                    .map(|v| *v as u64)
                    .collect()
            })
            .collect();
        Ok(EpochStats {
            loss: s.loss_sum / count,
            accuracy: s.correct as f64 / count,
            top5_accuracy: s.top5 as f64 / count,
            count: s.count,
            confusion,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_top5_and_per_class_scores() {
        let mut m = EpochMeter::new(Device::Cpu, 3);
        // Predictions: 0, 2, 2, 1 for labels 0, 1, 2, 1.
        let logits = Tensor::from_slice(&[
            3.0f32, 1.0, 0.0, //
            0.0, 1.0, 2.0, //
            0.0, 1.0, 2.0, //
            0.0, 2.0, 1.0,
        ])
        .view([4, 3]);
        let labels = Tensor::from_slice(&[0i64, 1, 2, 1]);
        m.add(&Tensor::from(0.5f32), &logits, &labels).unwrap();
        let s = m.finish().unwrap();
        assert_eq!(
            s.confusion,
            vec![vec![1, 0, 0], vec![0, 1, 1], vec![0, 0, 1]]
        );
        assert!((s.accuracy - 0.75).abs() < 1e-12);
        // With 3 classes, top-5 is top-3: always right.
        assert!((s.top5_accuracy - 1.0).abs() < 1e-12);
        assert!((s.loss - 0.5).abs() < 1e-7);
        let pc = s.per_class(&["a".into(), "b".into(), "c".into()]);
        assert_eq!(pc[1].support, 2);
        assert!((pc[1].recall - 0.5).abs() < 1e-12 && (pc[1].precision - 1.0).abs() < 1e-12);
        assert!((pc[2].precision - 0.5).abs() < 1e-12 && (pc[2].recall - 1.0).abs() < 1e-12);
        let f1 = (1.0 + 2.0 / 3.0 + 2.0 / 3.0) / 3.0;
        assert!((s.macro_f1() - f1).abs() < 1e-12);
        // Sums survive a save/restore.
        let sums = m.sums().unwrap();
        let mut again = EpochMeter::new(Device::Cpu, 3);
        again.restore(&sums).unwrap();
        assert_eq!(again.sums().unwrap(), sums);
    }
}
