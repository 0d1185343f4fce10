//! The pipeline's `loss` on a batch of logits, with optional mixed labels (mixup/cutmix)
//! and the L1/L2 penalties of `regularization`.

use ronin_spec::{LossSpec, RegularizationSpec};
use tch::{Device, Kind, Reduction, Tensor};

use crate::RunnerError;
use crate::optim::ParamRef;

pub struct Loss {
    spec: LossSpec,
    classes: i64,
    class_weight: Option<Tensor>,
}

impl Loss {
    pub fn new(spec: &LossSpec, classes: usize, device: Device) -> Result<Self, RunnerError> {
        let class_weight = match spec {
            LossSpec::CrossEntropy {
                weight: Some(w), ..
            } => {
                if w.len() != classes {
                    return Err(RunnerError::Unsupported {
                        what: format!(
                            "loss.weight with {} values for a model of {classes} classes",
                            w.len()
                        ),
                    });
                }
                Some(
                    Tensor::f_from_slice(w)?
                        .f_to_kind(Kind::Float)?
                        .f_to_device(device)?,
                )
            }
            _ => None,
        };
        Ok(Loss {
            spec: spec.clone(),
            classes: classes as i64,
            class_weight,
        })
    }

    /// Per-example losses (N) of `logits` (N, K) against integer `labels` (N).
    fn per_example(&self, logits: &Tensor, labels: &Tensor) -> Result<Tensor, RunnerError> {
        let onehot = || -> Result<Tensor, RunnerError> {
            Ok(labels.f_one_hot(self.classes)?.f_to_kind(logits.kind())?)
        };
        let mean_over_classes = |t: Tensor| -> Result<Tensor, RunnerError> {
            Ok(t.f_mean_dim(-1, false, logits.kind())?)
        };
        Ok(match &self.spec {
            LossSpec::CrossEntropy {
                label_smoothing, ..
            } => logits.f_cross_entropy_loss::<&Tensor>(
                labels,
                self.class_weight.as_ref(),
                Reduction::None,
                -100,
                *label_smoothing,
            )?,
            LossSpec::BinaryCrossEntropy { pos_weight } => {
                let pw = match pos_weight {
                    Some(w) => Some(Tensor::f_full(
                        [self.classes],
                        *w,
                        (logits.kind(), logits.device()),
                    )?),
                    None => None,
                };
                mean_over_classes(logits.f_binary_cross_entropy_with_logits::<&Tensor>(
                    &onehot()?,
                    None,
                    pw.as_ref(),
                    Reduction::None,
                )?)?
            }
            LossSpec::Mse {} => {
                let p = logits.f_softmax(-1, logits.kind())?;
                mean_over_classes(p.f_mse_loss(&onehot()?, Reduction::None)?)?
            }
            LossSpec::L1 {} => {
                let p = logits.f_softmax(-1, logits.kind())?;
                mean_over_classes(p.f_l1_loss(&onehot()?, Reduction::None)?)?
            }
            LossSpec::Huber { delta } => {
                let p = logits.f_softmax(-1, logits.kind())?;
                mean_over_classes(p.f_huber_loss(&onehot()?, Reduction::None, *delta)?)?
            }
        })
    }

    /// The batch's loss. With class weights, cross-entropy is the weighted mean, as
    /// PyTorch's `reduction="mean"`. With `mix = (partner labels, λ)`, each example's loss
    /// is λ·loss(label) + (1 − λ)·loss(partner).
    pub fn batch(
        &self,
        logits: &Tensor,
        labels: &Tensor,
        mix: Option<(&Tensor, &Tensor)>,
    ) -> Result<Tensor, RunnerError> {
        let per = self.per_example(logits, labels)?;
        let per = match mix {
            None => per,
            Some((partner, lambda)) => {
                let other = self.per_example(logits, partner)?;
                let lambda = lambda.f_to_kind(per.kind())?;
                per.f_mul(&lambda)?
                    .f_add(&other.f_mul(&lambda.f_neg()?.f_add_scalar(1.0)?)?)?
            }
        };
        match (&self.class_weight, mix) {
            (Some(w), None) => {
                let norm = w.f_index_select(0, labels)?.f_sum(per.kind())?;
                Ok(per.f_sum(per.kind())?.f_div(&norm)?)
            }
            _ => Ok(per.f_mean(per.kind())?),
        }
    }
}

/// λ₁·Σ|w| + λ₂·Σw² over the weight matrices and kernels (tensors of 2+ dimensions; biases
/// and normalisation scales are left alone), or `None` when both are 0.
pub fn penalty(
    reg: &RegularizationSpec,
    params: &[ParamRef],
) -> Result<Option<Tensor>, RunnerError> {
    if reg.l1 == 0.0 && reg.l2 == 0.0 {
        return Ok(None);
    }
    let mut total: Option<Tensor> = None;
    for p in params.iter().filter(|p| p.tensor.dim() >= 2) {
        let mut term = Tensor::f_zeros([], (Kind::Float, p.tensor.device()))?;
        if reg.l1 != 0.0 {
            term = term.f_add(&p.tensor.f_abs()?.f_sum(Kind::Float)?.f_mul_scalar(reg.l1)?)?;
        }
        if reg.l2 != 0.0 {
            term = term.f_add(
                &p.tensor
                    .f_square()?
                    .f_sum(Kind::Float)?
                    .f_mul_scalar(reg.l2)?,
            )?;
        }
        total = Some(match total {
            None => term,
            Some(t) => t.f_add(&term)?,
        });
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits() -> Tensor {
        Tensor::from_slice(&[2.0f32, 0.5, -1.0, 0.1, 0.2, 3.0]).view([2, 3])
    }

    fn value(t: &Tensor) -> f64 {
        t.double_value(&[])
    }

    #[test]
    fn cross_entropy_with_smoothing_and_weights_matches_the_formula() {
        let labels = Tensor::from_slice(&[0i64, 2]);
        let l = Loss::new(
            &LossSpec::CrossEntropy {
                weight: Some(vec![1.0, 1.0, 3.0]),
                label_smoothing: 0.1,
            },
            3,
            Device::Cpu,
        )
        .unwrap();
        let got = value(&l.batch(&logits(), &labels, None).unwrap());
        // By hand: smoothed targets (1 − ε)·onehot + ε/K, weighted by the target class's
        // weight, normalised by the weights' sum (PyTorch's mean).
        let lsm = logits().log_softmax(-1, Kind::Float);
        let row = |i: i64, y: i64, w: f64| {
            let nll = -lsm.double_value(&[i, y]);
            let smooth: f64 = (0..3)
                .map(|k| -lsm.double_value(&[i, k]) * [1.0, 1.0, 3.0][k as usize])
                .sum::<f64>()
                / 3.0;
            (w * 0.9 * nll, 0.1 * smooth)
        };
        let (a0, s0) = row(0, 0, 1.0);
        let (a1, s1) = row(1, 2, 3.0);
        let want = (a0 + a1 + s0 + s1) / 4.0;
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }

    #[test]
    fn mixed_labels_interpolate_the_two_losses() {
        let l = Loss::new(&LossSpec::default(), 3, Device::Cpu).unwrap();
        let a = Tensor::from_slice(&[0i64, 2]);
        let b = Tensor::from_slice(&[1i64, 0]);
        let la = value(&l.batch(&logits(), &a, None).unwrap());
        let lb = value(&l.batch(&logits(), &b, None).unwrap());
        let lambda = Tensor::from_slice(&[0.25f32, 0.25]);
        let mixed = value(&l.batch(&logits(), &a, Some((&b, &lambda))).unwrap());
        assert!((mixed - (0.25 * la + 0.75 * lb)).abs() < 1e-6);
    }

    #[test]
    fn regression_losses_compare_softmax_with_one_hot() {
        let labels = Tensor::from_slice(&[0i64, 2]);
        let p = logits().softmax(-1, Kind::Float);
        let onehot = labels.one_hot(3).to_kind(Kind::Float);
        let mse = value(&(&p - &onehot).square().mean(Kind::Float));
        let l = Loss::new(&LossSpec::Mse {}, 3, Device::Cpu).unwrap();
        assert!((value(&l.batch(&logits(), &labels, None).unwrap()) - mse).abs() < 1e-6);
        let l1 = value(&(&p - &onehot).abs().mean(Kind::Float));
        let l = Loss::new(&LossSpec::L1 {}, 3, Device::Cpu).unwrap();
        assert!((value(&l.batch(&logits(), &labels, None).unwrap()) - l1).abs() < 1e-6);
        // Huber with a large delta is half the MSE.
        let l = Loss::new(&LossSpec::Huber { delta: 10.0 }, 3, Device::Cpu).unwrap();
        assert!((value(&l.batch(&logits(), &labels, None).unwrap()) - mse / 2.0).abs() < 1e-6);
        let bce = value(&logits().binary_cross_entropy_with_logits::<Tensor>(
            &onehot,
            None,
            None,
            Reduction::Mean,
        ));
        let l = Loss::new(
            &LossSpec::BinaryCrossEntropy { pos_weight: None },
            3,
            Device::Cpu,
        )
        .unwrap();
        assert!((value(&l.batch(&logits(), &labels, None).unwrap()) - bce).abs() < 1e-6);
    }

    #[test]
    fn penalty_skips_biases() {
        let w = Tensor::from_slice(&[1.0f32, -2.0]).view([1, 2]);
        let b = Tensor::from_slice(&[5.0f32]);
        let params = vec![ParamRef::new("w", w), ParamRef::new("b", b)];
        let reg = RegularizationSpec {
            l1: 0.1,
            l2: 0.01,
            ..Default::default()
        };
        let got = value(&penalty(&reg, &params).unwrap().unwrap());
        assert!((got - (0.1 * 3.0 + 0.01 * 5.0)).abs() < 1e-6, "{got}");
    }
}
