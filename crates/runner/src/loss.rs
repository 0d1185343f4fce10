//! The pipeline's `loss` on a batch of logits, against class indices or against the soft
//! targets of `mix` (MixUp/CutMix), and the L1/L2 penalties of `regularization`.

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

    /// Per-example losses (N) of `logits` (N, K) against `targets`.
    fn per_example(&self, logits: &Tensor, targets: Targets) -> Result<Tensor, RunnerError> {
        let kind = logits.kind();
        // The target distribution: the one-hot of the labels, or the soft targets.
        let dist = || -> Result<Tensor, RunnerError> {
            Ok(match targets {
                Targets::Labels(labels) => labels.f_one_hot(self.classes)?.f_to_kind(kind)?,
                Targets::Soft(p) => p.f_to_kind(kind)?,
            })
        };
        let mean_over_classes =
            |t: Tensor| -> Result<Tensor, RunnerError> { Ok(t.f_mean_dim(-1, false, kind)?) };
        if let (Targets::Soft(_), LossSpec::Mse {} | LossSpec::L1 {} | LossSpec::Huber { .. }) =
            (targets, &self.spec)
        {
            // `ronin check` refuses these; they compare the softmax with a one-hot target.
            return Err(RunnerError::Unsupported {
                what: "the soft targets of mix with a loss other than CrossEntropy or BinaryCrossEntropy".into(),
            });
        }
        Ok(match &self.spec {
            LossSpec::CrossEntropy {
                label_smoothing, ..
            } => {
                // Class indices or class probabilities: PyTorch picks by the target's type.
                let target = match targets {
                    Targets::Labels(labels) => labels.shallow_clone(),
                    Targets::Soft(p) => p.f_to_kind(kind)?,
                };
                logits.f_cross_entropy_loss::<&Tensor>(
                    &target,
                    self.class_weight.as_ref(),
                    Reduction::None,
                    -100,
                    *label_smoothing,
                )?
            }
            LossSpec::BinaryCrossEntropy { pos_weight } => {
                let pw = match pos_weight {
                    Some(w) => Some(Tensor::f_full([self.classes], *w, (kind, logits.device()))?),
                    None => None,
                };
                mean_over_classes(logits.f_binary_cross_entropy_with_logits::<&Tensor>(
                    &dist()?,
                    None,
                    pw.as_ref(),
                    Reduction::None,
                )?)?
            }
            LossSpec::Mse {} => {
                let p = logits.f_softmax(-1, kind)?;
                mean_over_classes(p.f_mse_loss(&dist()?, Reduction::None)?)?
            }
            LossSpec::L1 {} => {
                let p = logits.f_softmax(-1, kind)?;
                mean_over_classes(p.f_l1_loss(&dist()?, Reduction::None)?)?
            }
            LossSpec::Huber { delta } => {
                let p = logits.f_softmax(-1, kind)?;
                mean_over_classes(p.f_huber_loss(&dist()?, Reduction::None, *delta)?)?
            }
        })
    }

    /// The batch's mean loss. With class weights and class indices, cross-entropy is the
    /// weighted mean (divided by the weights of the targets' classes), as PyTorch's
    /// `reduction="mean"`; with soft targets it is `−Σ_c w_c·p_c·log softmax_c` averaged
    /// over the examples, as PyTorch's for class probabilities.
    pub fn batch(&self, logits: &Tensor, targets: Targets) -> Result<Tensor, RunnerError> {
        let per = self.per_example(logits, targets)?;
        match (&self.class_weight, targets) {
            (Some(w), Targets::Labels(labels)) => {
                let norm = w.f_index_select(0, labels)?.f_sum(per.kind())?;
                Ok(per.f_sum(per.kind())?.f_div(&norm)?)
            }
            _ => Ok(per.f_mean(per.kind())?),
        }
    }
}

/// What a batch's logits are scored against.
#[derive(Debug, Clone, Copy)]
pub enum Targets<'a> {
    /// Class indices (N), int64.
    Labels(&'a Tensor),
    /// Class probabilities (N, K), each row summing to 1: the mixed targets of `mix`.
    Soft(&'a Tensor),
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
        let got = value(&l.batch(&logits(), Targets::Labels(&labels)).unwrap());
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

    /// `tests/reference/mix_reference.py` (PyTorch 2.13, float64): the losses of `logits()`
    /// against timm's `mixup_target` of labels [0, 2] with λ = 0.3 and smoothing 0.1.
    const CE_SOFT: f64 = 2.20395638059;
    const CE_SOFT_WEIGHTED: f64 = 4.38727198494;
    const BCE_SOFT: f64 = 1.1770649273;
    const BCE_SOFT_POS_WEIGHT: f64 = 1.40832496491;

    fn soft_targets(lam: f64, smoothing: f64) -> Tensor {
        let labels = Tensor::from_slice(&[0i64, 2]);
        let draws = [crate::mix::Draw { lam, cut: None }; 2];
        crate::mix::mix_targets(&labels, &draws, 3, smoothing).unwrap()
    }

    #[test]
    fn soft_targets_match_pytorch() {
        let t = soft_targets(0.3, 0.1);
        let want = [
            0.3033333, 0.0333333, 0.6633333, 0.6633333, 0.0333333, 0.3033333,
        ];
        let got = Vec::<f32>::try_from(&t.flatten(0, -1)).unwrap();
        for (g, w) in got.iter().zip(want) {
            assert!((f64::from(*g) - w).abs() < 1e-6, "{got:?}");
        }
        let ce = |weight: Option<Vec<f64>>| LossSpec::CrossEntropy {
            weight,
            label_smoothing: 0.0,
        };
        let bce = |pos_weight| LossSpec::BinaryCrossEntropy { pos_weight };
        for (spec, want) in [
            (ce(None), CE_SOFT),
            (ce(Some(vec![1.0, 1.0, 3.0])), CE_SOFT_WEIGHTED),
            (bce(None), BCE_SOFT),
            (bce(Some(2.0)), BCE_SOFT_POS_WEIGHT),
        ] {
            let l = Loss::new(&spec, 3, Device::Cpu).unwrap();
            let got = value(&l.batch(&logits(), Targets::Soft(&t)).unwrap());
            assert!((got - want).abs() < 1e-5, "{spec:?}: {got} vs {want}");
        }
    }

    #[test]
    fn soft_cross_entropy_is_minus_p_log_softmax() {
        // By hand, in f64: −Σ_c p_c·(z_c − log Σ_k e^z_k), averaged over the two rows.
        let z = [[2.0f64, 0.5, -1.0], [0.1, 0.2, 3.0]];
        let p = [[0.25f64, 0.75, 0.0], [0.5, 0.0, 0.5]];
        let mut want = 0.0;
        for (zr, pr) in z.iter().zip(&p) {
            let lse = zr.iter().map(|v| v.exp()).sum::<f64>().ln();
            want -= zr
                .iter()
                .zip(pr)
                .map(|(zc, pc)| pc * (zc - lse))
                .sum::<f64>()
                / 2.0;
        }
        let t = Tensor::from_slice(&[0.25f32, 0.75, 0.0, 0.5, 0.0, 0.5]).view([2, 3]);
        let l = Loss::new(&LossSpec::default(), 3, Device::Cpu).unwrap();
        let got = value(&l.batch(&logits(), Targets::Soft(&t)).unwrap());
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }

    #[test]
    fn soft_targets_with_lambda_one_are_the_hard_loss() {
        let labels = Tensor::from_slice(&[0i64, 2]);
        let onehot = soft_targets(1.0, 0.0);
        let smoothed = soft_targets(1.0, 0.1);
        let plain = Loss::new(&LossSpec::default(), 3, Device::Cpu).unwrap();
        let hard = value(&plain.batch(&logits(), Targets::Labels(&labels)).unwrap());
        let soft = value(&plain.batch(&logits(), Targets::Soft(&onehot)).unwrap());
        assert!((hard - soft).abs() < 1e-6, "{hard} vs {soft}");
        // Smoothing the targets is the loss's label_smoothing.
        let smoothing = LossSpec::CrossEntropy {
            weight: None,
            label_smoothing: 0.1,
        };
        let l = Loss::new(&smoothing, 3, Device::Cpu).unwrap();
        let hard = value(&l.batch(&logits(), Targets::Labels(&labels)).unwrap());
        let soft = value(&plain.batch(&logits(), Targets::Soft(&smoothed)).unwrap());
        assert!((hard - soft).abs() < 1e-6, "{hard} vs {soft}");
        // With class weights, PyTorch's mean divides by the targets' weights for class
        // indices (1 + 3) but by the number of examples (2) for probabilities.
        let weighted = LossSpec::CrossEntropy {
            weight: Some(vec![1.0, 1.0, 3.0]),
            label_smoothing: 0.0,
        };
        let l = Loss::new(&weighted, 3, Device::Cpu).unwrap();
        let hard = value(&l.batch(&logits(), Targets::Labels(&labels)).unwrap());
        let soft = value(&l.batch(&logits(), Targets::Soft(&onehot)).unwrap());
        assert!((hard * 4.0 / 2.0 - soft).abs() < 1e-5, "{hard} vs {soft}");
    }

    #[test]
    fn mixed_targets_interpolate_the_two_losses() {
        let l = Loss::new(&LossSpec::default(), 3, Device::Cpu).unwrap();
        let a = Tensor::from_slice(&[0i64, 2]);
        let la = value(&l.batch(&logits(), Targets::Labels(&a)).unwrap());
        let lb = value(&l.batch(&logits(), Targets::Labels(&a.flip(0))).unwrap());
        let mixed = value(
            &l.batch(&logits(), Targets::Soft(&soft_targets(0.25, 0.0)))
                .unwrap(),
        );
        assert!((mixed - (0.25 * la + 0.75 * lb)).abs() < 1e-6);
        let mse = Loss::new(&LossSpec::Mse {}, 3, Device::Cpu).unwrap();
        assert!(
            mse.batch(&logits(), Targets::Soft(&soft_targets(0.25, 0.0)))
                .is_err()
        );
    }

    #[test]
    fn regression_losses_compare_softmax_with_one_hot() {
        let labels = Tensor::from_slice(&[0i64, 2]);
        let p = logits().softmax(-1, Kind::Float);
        let onehot = labels.one_hot(3).to_kind(Kind::Float);
        let mse = value(&(&p - &onehot).square().mean(Kind::Float));
        let l = Loss::new(&LossSpec::Mse {}, 3, Device::Cpu).unwrap();
        assert!((value(&l.batch(&logits(), Targets::Labels(&labels)).unwrap()) - mse).abs() < 1e-6);
        let l1 = value(&(&p - &onehot).abs().mean(Kind::Float));
        let l = Loss::new(&LossSpec::L1 {}, 3, Device::Cpu).unwrap();
        assert!((value(&l.batch(&logits(), Targets::Labels(&labels)).unwrap()) - l1).abs() < 1e-6);
        // Huber with a large delta is half the MSE.
        let l = Loss::new(&LossSpec::Huber { delta: 10.0 }, 3, Device::Cpu).unwrap();
        assert!(
            (value(&l.batch(&logits(), Targets::Labels(&labels)).unwrap()) - mse / 2.0).abs()
                < 1e-6
        );
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
        assert!((value(&l.batch(&logits(), Targets::Labels(&labels)).unwrap()) - bce).abs() < 1e-6);
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
