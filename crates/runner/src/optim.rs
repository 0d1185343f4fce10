//! Optimizers written on tensors so that their state is ours to save and restore exactly.
//!
//! Semantics follow `torch.optim` (single-tensor implementations): SGD with momentum,
//! dampening and Nesterov; Adam and AdamW (decoupled decay) with bias correction and
//! AMSGrad; RMSprop (eps outside the root, centered, momentum); Adagrad with lr decay.
//! State keys are PyTorch's (`exp_avg`, `exp_avg_sq`, `momentum_buffer`, `square_avg`,
//! `grad_avg`, `sum`), with a per-parameter `step`.

use std::collections::BTreeMap;

use ronin_spec::OptimizerSpec;
use tch::{Kind, Tensor};

use crate::RunnerError;

/// One trainable tensor with its checkpoint name and its learning-rate factor
/// (a lower factor for a pretrained backbone than for a new head).
pub struct ParamRef {
    pub name: String,
    pub tensor: Tensor,
    pub lr_scale: f64,
}

impl ParamRef {
    pub fn new(name: impl Into<String>, tensor: Tensor) -> Self {
        ParamRef {
            name: name.into(),
            tensor,
            lr_scale: 1.0,
        }
    }
}

/// Per-parameter state: named buffers and the number of updates it has had.
#[derive(Default)]
struct Slot {
    buffers: BTreeMap<&'static str, Tensor>,
    steps: i64,
}

pub struct Optimizer {
    spec: OptimizerSpec,
    params: Vec<ParamRef>,
    slots: Vec<Slot>,
    step: i64,
    lr: f64,
}

fn buffer<'a>(
    slot: &'a mut Slot,
    key: &'static str,
    init: impl FnOnce() -> Result<Tensor, RunnerError>,
) -> Result<&'a mut Tensor, RunnerError> {
    if !slot.buffers.contains_key(key) {
        slot.buffers.insert(key, init()?);
    }
    slot.buffers
        .get_mut(key)
        .ok_or_else(|| RunnerError::Unsupported {
            what: format!("optimizer buffer {key}"),
        })
}

impl Optimizer {
    pub fn new(spec: &OptimizerSpec, params: Vec<ParamRef>) -> Result<Self, RunnerError> {
        let mut opt = Optimizer {
            spec: spec.clone(),
            params: Vec::new(),
            slots: Vec::new(),
            step: 0,
            lr: spec.lr(),
        };
        opt.add_params(params)?;
        Ok(opt)
    }

    /// Adds parameters (unfrozen layers); their state starts empty, as in a new param group.
    pub fn add_params(&mut self, params: Vec<ParamRef>) -> Result<(), RunnerError> {
        for p in params {
            let mut slot = Slot::default();
            if let OptimizerSpec::Adagrad {
                initial_accumulator_value,
                ..
            } = self.spec
            {
                slot.buffers.insert(
                    "sum",
                    p.tensor
                        .f_zeros_like()?
                        .f_fill_(initial_accumulator_value)?,
                );
            }
            self.params.push(p);
            self.slots.push(slot);
        }
        Ok(())
    }

    /// Names of the parameters being optimized.
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.params.iter().map(|p| p.name.as_str())
    }

    pub fn params(&self) -> &[ParamRef] {
        &self.params
    }

    pub fn lr(&self) -> f64 {
        self.lr
    }

    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    pub fn steps(&self) -> i64 {
        self.step
    }

    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.tensor.zero_grad();
        }
    }

    /// One update from the gradients that `backward` left on the parameters.
    pub fn step(&mut self) -> Result<(), RunnerError> {
        let _guard = tch::no_grad_guard();
        self.step += 1;
        let spec = self.spec.clone();
        for (p, slot) in self.params.iter_mut().zip(&mut self.slots) {
            let g = p.tensor.grad();
            if !g.defined() {
                continue;
            }
            slot.steps += 1;
            let lr = self.lr * p.lr_scale;
            update(&spec, &mut p.tensor, g, slot, lr)?;
        }
        Ok(())
    }

    /// The optimizer's tensors, named for a checkpoint (`exp_avg.<param>`, `step.<param>`, …).
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (p, slot) in self.params.iter().zip(&self.slots) {
            for (key, t) in &slot.buffers {
                out.push((format!("{key}.{}", p.name), t.shallow_clone()));
            }
            out.push((format!("step.{}", p.name), Tensor::from(slot.steps)));
        }
        out
    }

    /// Restores what [`Self::state_tensors`] saved; `steps` is the global step count.
    /// Parameters absent from `state` keep an empty state (they were frozen then).
    pub fn load_state(
        &mut self,
        state: &BTreeMap<String, Tensor>,
        steps: i64,
    ) -> Result<(), RunnerError> {
        self.step = steps;
        for (p, slot) in self.params.iter().zip(&mut self.slots) {
            for (name, t) in state {
                let Some((key, param)) = name.split_once('.') else {
                    continue;
                };
                if param != p.name {
                    continue;
                }
                if key == "step" {
                    slot.steps = t.f_int64_value(&[])?;
                    continue;
                }
                let key: &'static str = match key {
                    "exp_avg" => "exp_avg",
                    "exp_avg_sq" => "exp_avg_sq",
                    "max_exp_avg_sq" => "max_exp_avg_sq",
                    "momentum_buffer" => "momentum_buffer",
                    "square_avg" => "square_avg",
                    "grad_avg" => "grad_avg",
                    "sum" => "sum",
                    _ => continue,
                };
                let value = t
                    .f_to_device(p.tensor.device())?
                    .f_to_kind(p.tensor.kind())?;
                slot.buffers.insert(key, value);
            }
        }
        Ok(())
    }
}

/// `g + wd · p`, PyTorch's coupled weight decay.
fn decayed(g: Tensor, p: &Tensor, wd: f64) -> Result<Tensor, RunnerError> {
    Ok(if wd != 0.0 {
        g.f_add(&p.f_mul_scalar(wd)?)?
    } else {
        g
    })
}

fn update(
    spec: &OptimizerSpec,
    p: &mut Tensor,
    g: Tensor,
    slot: &mut Slot,
    lr: f64,
) -> Result<(), RunnerError> {
    let t = slot.steps;
    match *spec {
        OptimizerSpec::Sgd {
            momentum,
            dampening,
            nesterov,
            weight_decay,
            ..
        } => {
            let mut g = decayed(g, p, weight_decay)?;
            if momentum != 0.0 {
                let first = !slot.buffers.contains_key("momentum_buffer");
                let buf = buffer(slot, "momentum_buffer", || Ok(g.f_detach_copy()?))?;
                if !first {
                    let _ = buf.f_mul_scalar_(momentum)?;
                    let _ = buf.f_add_(&g.f_mul_scalar(1.0 - dampening)?)?;
                }
                g = if nesterov {
                    g.f_add(&buf.f_mul_scalar(momentum)?)?
                } else {
                    buf.shallow_clone()
                };
            }
            let _ = p.f_sub_(&g.f_mul_scalar(lr)?)?;
        }
        OptimizerSpec::Adam {
            betas: (b1, b2),
            eps,
            weight_decay,
            amsgrad,
            ..
        }
        | OptimizerSpec::AdamW {
            betas: (b1, b2),
            eps,
            weight_decay,
            amsgrad,
            ..
        } => {
            let decoupled = matches!(spec, OptimizerSpec::AdamW { .. });
            let g = if decoupled {
                if weight_decay != 0.0 {
                    let _ = p.f_mul_scalar_(1.0 - lr * weight_decay)?;
                }
                g
            } else {
                decayed(g, p, weight_decay)?
            };
            let m = buffer(slot, "exp_avg", || Ok(g.f_zeros_like()?))?;
            let _ = m.f_lerp_(&g, 1.0 - b1)?;
            let m = m.shallow_clone();
            let v = buffer(slot, "exp_avg_sq", || Ok(g.f_zeros_like()?))?;
            let _ = v.f_mul_scalar_(b2)?;
            let _ = v.f_addcmul_(&g, &g.f_mul_scalar(1.0 - b2)?)?;
            let v = v.shallow_clone();
            let bc1 = 1.0 - b1.powi(t as i32);
            let bc2_sqrt = (1.0 - b2.powi(t as i32)).sqrt();
            let second = if amsgrad {
                let vmax = buffer(slot, "max_exp_avg_sq", || Ok(g.f_zeros_like()?))?;
                vmax.f_copy_(&vmax.f_maximum(&v)?)?;
                vmax.shallow_clone()
            } else {
                v
            };
            let denom = second
                .f_sqrt()?
                .f_div_scalar_(bc2_sqrt)?
                .f_add_scalar_(eps)?;
            let _ = p.f_addcdiv_(&m.f_mul_scalar(-lr / bc1)?, &denom)?;
        }
        OptimizerSpec::RmsProp {
            alpha,
            eps,
            weight_decay,
            momentum,
            centered,
            ..
        } => {
            let g = decayed(g, p, weight_decay)?;
            let sq = buffer(slot, "square_avg", || Ok(g.f_zeros_like()?))?;
            let _ = sq.f_mul_scalar_(alpha)?;
            let _ = sq.f_addcmul_(&g, &g.f_mul_scalar(1.0 - alpha)?)?;
            let sq = sq.shallow_clone();
            let avg = if centered {
                let ga = buffer(slot, "grad_avg", || Ok(g.f_zeros_like()?))?;
                let _ = ga.f_lerp_(&g, 1.0 - alpha)?;
                sq.f_addcmul(ga, &ga.f_neg()?)?
                    .f_sqrt_()?
                    .f_add_scalar_(eps)?
            } else {
                sq.f_sqrt()?.f_add_scalar_(eps)?
            };
            if momentum > 0.0 {
                let buf = buffer(slot, "momentum_buffer", || Ok(g.f_zeros_like()?))?;
                let _ = buf.f_mul_scalar_(momentum)?;
                let _ = buf.f_addcdiv_(&g, &avg)?;
                let _ = p.f_sub_(&buf.f_mul_scalar(lr)?)?;
            } else {
                let _ = p.f_addcdiv_(&g.f_mul_scalar(-lr)?, &avg)?;
            }
        }
        OptimizerSpec::Adagrad {
            lr_decay,
            weight_decay,
            eps,
            ..
        } => {
            let g = decayed(g, p, weight_decay)?;
            let clr = lr / (1.0 + (t - 1) as f64 * lr_decay);
            let sum = buffer(slot, "sum", || Ok(g.f_zeros_like()?))?;
            let _ = sum.f_addcmul_(&g, &g)?;
            let std = sum.f_sqrt()?.f_add_scalar_(eps)?;
            let _ = p.f_addcdiv_(&g.f_mul_scalar(-clr)?, &std)?;
        }
    }
    Ok(())
}

/// The global L2 norm of the gradients, computed on the device.
pub fn grad_norm(params: &[ParamRef]) -> Result<Option<Tensor>, RunnerError> {
    let mut total: Option<Tensor> = None;
    for p in params {
        let g = p.tensor.grad();
        if !g.defined() {
            continue;
        }
        let sq = g.f_square()?.f_sum(Kind::Float)?;
        total = Some(match total {
            None => sq,
            Some(t) => t.f_add(&sq)?,
        });
    }
    Ok(match total {
        Some(t) => Some(t.f_sqrt()?),
        None => None,
    })
}

/// Rescales all gradients so that their global norm is at most `max_norm`
/// (`clip_grad_norm_`), without reading the norm back to the host.
pub fn clip_grad_norm(params: &[ParamRef], max_norm: f64) -> Result<(), RunnerError> {
    let _g = tch::no_grad_guard();
    let Some(norm) = grad_norm(params)? else {
        return Ok(());
    };
    let scale = norm
        .f_add_scalar(1e-6)?
        .f_reciprocal()?
        .f_mul_scalar(max_norm)?
        .f_clamp_max(1.0)?;
    for p in params {
        let mut g = p.tensor.grad();
        if g.defined() {
            let _ = g.f_mul_(&scale)?;
        }
    }
    Ok(())
}

/// Clamps every gradient element to `[-v, v]` (`clip_grad_value_`).
pub fn clip_grad_value(params: &[ParamRef], v: f64) -> Result<(), RunnerError> {
    let _g = tch::no_grad_guard();
    for p in params {
        let mut g = p.tensor.grad();
        if g.defined() {
            let _ = g.f_clamp_(-v, v)?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "optim_tests.rs"]
mod tests;
