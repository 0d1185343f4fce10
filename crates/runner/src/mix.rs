//! The pipeline's `mix` on a training batch: MixUp and CutMix with soft targets, as timm's
//! `Mixup` (see [`ronin_spec::mix`] for what each field means).
//!
//! λ, the choice between MixUp and CutMix and the boxes are drawn on the host from a
//! ChaCha8 generator seeded by (pipeline seed, epoch, batch index) alone — not from
//! libtorch's generator, so dropout draws the same masks with or without `mix`, and a
//! resumed run draws what the uninterrupted one did. The mixing itself runs on the device.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ronin_spec::{MixMode, MixSpec};
use tch::{Kind, Tensor};

use crate::RunnerError;

/// Mixed into every seed of the mix draws, so that their stream is apart from the data
/// crate's (split, order, per-sample augmentation).
const MIX_STREAM: u64 = 0x4d_4958_5550; // "MIXUP"

/// What one example of a batch gets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Draw {
    /// The example's own share of its target: 1 leaves it unmixed. For MixUp also the
    /// weight of its pixels; for CutMix `1 − box area / image area` (with `correct_lam`).
    pub lam: f64,
    /// CutMix: the box pasted from the partner; `None` for MixUp.
    pub cut: Option<CutBox>,
}

impl Draw {
    /// Not mixed.
    pub const NONE: Draw = Draw {
        lam: 1.0,
        cut: None,
    };
}

/// Rows `y0..y1` and columns `x0..x1` of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CutBox {
    pub y0: i64,
    pub y1: i64,
    pub x0: i64,
    pub x1: i64,
}

impl CutBox {
    pub fn area(&self) -> i64 {
        (self.y1 - self.y0) * (self.x1 - self.x0)
    }

    /// `1 − area / (h·w)`: the share of the image the box leaves to the example itself.
    pub fn lam(&self, h: i64, w: i64) -> f64 {
        1.0 - self.area() as f64 / (h * w) as f64
    }
}

/// A mixed training batch.
///
/// # Shapes
/// `images` (N, C, H, W), `targets` (N, K) class probabilities, `labels` (N) the dominant
/// label of each example (its own when λ ≥ 0.5, else its partner's), for the accuracy.
pub struct Mixed {
    pub images: Tensor,
    pub targets: Tensor,
    pub labels: Tensor,
}

/// Mixes training batches as a pipeline's `mix` says.
#[derive(Debug, Clone)]
pub struct Mixer {
    spec: MixSpec,
    seed: u64,
    classes: i64,
}

impl Mixer {
    pub fn new(spec: &MixSpec, seed: u64, classes: usize) -> Self {
        Mixer {
            spec: spec.clone(),
            seed,
            classes: classes as i64,
        }
    }

    /// Mixes batch `batch` (0-based) of epoch `epoch` (0-based).
    ///
    /// # Shapes
    /// `images` (N, C, H, W), `labels` (N) class indices.
    pub fn mix(
        &self,
        images: &Tensor,
        labels: &Tensor,
        epoch: usize,
        batch: usize,
    ) -> Result<Mixed, RunnerError> {
        let &[n, _, h, w] = images.size().as_slice() else {
            return Err(RunnerError::Unsupported {
                what: format!(
                    "mix of inputs of shape {:?} (it mixes images (N, C, H, W))",
                    images.size()
                ),
            });
        };
        let draws = self.draws(epoch, batch, n as usize, h, w);
        Ok(Mixed {
            images: mix_images(images, &draws)?,
            targets: mix_targets(labels, &draws, self.classes, self.spec.label_smoothing)?,
            labels: dominant_labels(labels, &draws)?,
        })
    }

    /// The draws of batch `batch` of epoch `epoch` for `n` images of `h × w` pixels.
    pub fn draws(&self, epoch: usize, batch: usize, n: usize, h: i64, w: i64) -> Vec<Draw> {
        let mut rng = ChaCha8Rng::seed_from_u64(ronin_data::derive_seed(
            self.seed,
            &[MIX_STREAM, epoch as u64, batch as u64],
        ));
        match self.spec.mode {
            MixMode::Batch => vec![self.draw_one(&mut rng, h, w); n],
            MixMode::Elem => (0..n).map(|_| self.draw_one(&mut rng, h, w)).collect(),
            MixMode::Pair => {
                // Example i and N − 1 − i swap with the same λ and box.
                let half: Vec<Draw> = (0..n / 2).map(|_| self.draw_one(&mut rng, h, w)).collect();
                let mut all = half.clone();
                if n % 2 == 1 {
                    all.push(Draw::NONE);
                }
                all.extend(half.iter().rev());
                all
            }
        }
    }

    /// One draw, as timm's `_params_per_batch` followed by `cutmix_bbox_and_lam`.
    fn draw_one(&self, rng: &mut ChaCha8Rng, h: i64, w: i64) -> Draw {
        let s = &self.spec;
        if uniform(rng) >= s.prob {
            return Draw::NONE;
        }
        let cutmix = match (s.mixup_on(), s.cutmix_on()) {
            (true, true) => uniform(rng) < s.switch_prob,
            (false, true) => true,
            _ => false,
        };
        if !cutmix {
            return Draw {
                lam: beta(rng, s.mixup_alpha),
                cut: None,
            };
        }
        let (cut, lam) = match s.cutmix_minmax {
            Some(minmax) => {
                let b = minmax_box(rng, h, w, minmax);
                (b, b.lam(h, w))
            }
            None => {
                let lam = beta(rng, s.cutmix_alpha);
                let b = lam_box(rng, h, w, lam);
                (b, if s.correct_lam { b.lam(h, w) } else { lam })
            }
        };
        Draw {
            lam,
            cut: Some(cut),
        }
    }
}

/// timm's `rand_bbox`: sides `⌊H·√(1−λ)⌋ × ⌊W·√(1−λ)⌋` about a uniform centre, clipped.
fn lam_box(rng: &mut ChaCha8Rng, h: i64, w: i64, lam: f64) -> CutBox {
    let ratio = (1.0 - lam).max(0.0).sqrt();
    let (cut_h, cut_w) = ((h as f64 * ratio) as i64, (w as f64 * ratio) as i64);
    let (cy, cx) = (randint(rng, 0, h), randint(rng, 0, w));
    CutBox {
        y0: (cy - cut_h / 2).clamp(0, h),
        y1: (cy + cut_h / 2).clamp(0, h),
        x0: (cx - cut_w / 2).clamp(0, w),
        x1: (cx + cut_w / 2).clamp(0, w),
    }
}

/// timm's `rand_bbox_minmax`: sides drawn from `[⌊H·min⌋, ⌊H·max⌋)`, the box inside the image.
fn minmax_box(rng: &mut ChaCha8Rng, h: i64, w: i64, (lo, hi): (f64, f64)) -> CutBox {
    let side = |rng: &mut ChaCha8Rng, n: i64| {
        randint(rng, (n as f64 * lo) as i64, (n as f64 * hi) as i64).min(n)
    };
    let (cut_h, cut_w) = (side(rng, h), side(rng, w));
    let (y0, x0) = (randint(rng, 0, h - cut_h), randint(rng, 0, w - cut_w));
    CutBox {
        y0,
        y1: y0 + cut_h,
        x0,
        x1: x0 + cut_w,
    }
}

/// MixUp and CutMix of `images` with `images.flip(0)` by the draws (one per image):
/// `λ·x + (1 − λ)·x.flip(0)`, then each CutMix box copied from `x.flip(0)`.
///
/// # Shapes
/// `images` (N, C, H, W) → (N, C, H, W).
pub fn mix_images(images: &Tensor, draws: &[Draw]) -> Result<Tensor, RunnerError> {
    let (n, device, kind) = (draws.len() as i64, images.device(), images.kind());
    let size = images.size();
    let flipped = images.f_flip([0])?;
    let lam: Vec<f32> = draws
        .iter()
        .map(|d| if d.cut.is_some() { 1.0 } else { d.lam as f32 })
        .collect();
    let mut mixed = if lam.iter().all(|&l| l == 1.0) {
        images.shallow_clone()
    } else {
        let lam = Tensor::f_from_slice(&lam)?
            .f_view([n, 1, 1, 1])?
            .f_to_device(device)?
            .f_to_kind(kind)?;
        images
            .f_mul(&lam)?
            .f_add(&flipped.f_mul(&lam.f_neg()?.f_add_scalar(1.0)?)?)?
    };
    if draws.iter().any(|d| d.cut.is_some()) {
        let (h, w) = (size[2], size[3]);
        let edge = |f: fn(&CutBox) -> i64| -> Result<Tensor, RunnerError> {
            let v: Vec<i64> = draws.iter().map(|d| d.cut.as_ref().map_or(0, f)).collect();
            Ok(Tensor::f_from_slice(&v)?
                .f_view([n, 1, 1])?
                .f_to_device(device)?)
        };
        let rows = Tensor::f_arange(h, (Kind::Int64, device))?.f_view([1, h, 1])?;
        let cols = Tensor::f_arange(w, (Kind::Int64, device))?.f_view([1, 1, w])?;
        let inside = rows
            .f_ge_tensor(&edge(|b| b.y0)?)?
            .f_logical_and(&rows.f_lt_tensor(&edge(|b| b.y1)?)?)?
            .f_logical_and(&cols.f_ge_tensor(&edge(|b| b.x0)?)?)?
            .f_logical_and(&cols.f_lt_tensor(&edge(|b| b.x1)?)?)?
            .f_unsqueeze(1)?;
        mixed = flipped.f_where_self(&inside, &mixed)?;
    }
    Ok(mixed)
}

/// `λ·onehot(y) + (1 − λ)·onehot(y.flip(0))` with one-hots smoothed by `smoothing`
/// (`1 − ε + ε/K` on the class, `ε/K` elsewhere), as timm's `mixup_target`.
///
/// # Shapes
/// `labels` (N) → (N, K).
pub fn mix_targets(
    labels: &Tensor,
    draws: &[Draw],
    classes: i64,
    smoothing: f64,
) -> Result<Tensor, RunnerError> {
    let off = smoothing / classes as f64;
    let on = 1.0 - smoothing + off;
    let onehot = |y: &Tensor| -> Result<Tensor, RunnerError> {
        Ok(y.f_one_hot(classes)?
            .f_to_kind(Kind::Float)?
            .f_mul_scalar(on - off)?
            .f_add_scalar(off)?)
    };
    let lam = draws.iter().map(|d| d.lam as f32).collect::<Vec<_>>();
    let lam = Tensor::f_from_slice(&lam)?
        .f_view([draws.len() as i64, 1])?
        .f_to_device(labels.device())?;
    let own = onehot(labels)?;
    let partner = onehot(&labels.f_flip([0])?)?;
    Ok(own
        .f_mul(&lam)?
        .f_add(&partner.f_mul(&lam.f_neg()?.f_add_scalar(1.0)?)?)?)
}

/// Each example's own label where λ ≥ 0.5, else its partner's.
///
/// # Shapes
/// `labels` (N) → (N).
pub fn dominant_labels(labels: &Tensor, draws: &[Draw]) -> Result<Tensor, RunnerError> {
    let own: Vec<bool> = draws.iter().map(|d| d.lam >= 0.5).collect();
    let own = Tensor::f_from_slice(&own)?.f_to_device(labels.device())?;
    Ok(labels.f_where_self(&own, &labels.f_flip([0])?)?)
}

/// Uniform in [0, 1).
fn uniform(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Uniform in (0, 1], for logarithms.
fn uniform_open(rng: &mut ChaCha8Rng) -> f64 {
    ((rng.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Uniform integer in [lo, hi) (numpy's `randint`); `lo` when the range is empty.
fn randint(rng: &mut ChaCha8Rng, lo: i64, hi: i64) -> i64 {
    if hi <= lo {
        return lo;
    }
    let span = (hi - lo) as u128;
    lo + ((u128::from(rng.next_u64()) * span) >> 64) as i64
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let r = (-2.0 * uniform_open(rng).ln()).sqrt();
    r * (std::f64::consts::TAU * uniform(rng)).cos()
}

/// The logarithm of a Gamma(shape, 1) draw: Marsaglia and Tsang's method, boosted by
/// `U^(1/shape)` below shape 1 (kept in logarithms, so tiny α does not underflow).
fn log_gamma_draw(rng: &mut ChaCha8Rng, shape: f64) -> f64 {
    if shape < 1.0 {
        return log_gamma_draw(rng, shape + 1.0) + uniform_open(rng).ln() / shape;
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(rng);
        let v = 1.0 + c * x;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        if uniform_open(rng).ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return (d * v).ln();
        }
    }
}

/// A Beta(α, α) draw: X / (X + Y) of two Gamma(α) draws.
fn beta(rng: &mut ChaCha8Rng, alpha: f64) -> f64 {
    let (x, y) = (log_gamma_draw(rng, alpha), log_gamma_draw(rng, alpha));
    1.0 / (1.0 + (y - x).exp())
}

#[cfg(test)]
#[path = "mix_tests.rs"]
mod tests;
