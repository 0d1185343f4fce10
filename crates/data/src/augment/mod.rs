//! Random transforms of training images: the `augment` section of a pipeline.
//!
//! [`Augment::apply`] turns one image of bytes into floats in [0, 1] and transforms it in
//! three stages (see [`ronin_spec::augment`]): the geometric transforms composed into one
//! affine map, with `ElasticTransform`'s displacement field and `RandomResizedCrop`'s
//! clamping, and sampled once ([`affine`]); the photometric ones in list order
//! ([`color`] for `ColorJitter`); then erasing. Every random number comes from the
//! example's own generator, drawn in list order within each stage, so an example is
//! augmented the same whichever thread prepares it. Each transform's draws are a
//! function of their own (`sample`) and what is done with them another, so tests can
//! force the parameters.

mod affine;
mod color;
mod crop;
mod elastic;

use rand::RngCore;
use rand_chacha::ChaCha8Rng;
use ronin_spec::augment::check_augment_shape;
use ronin_spec::{FillMode, TransformSpec, check_augment};

use crate::DataError;
use affine::{Affine, Fill, Geometry};
use color::Jitter;
use crop::CropBox;
use elastic::Elastic;

/// A checked list of transforms.
#[derive(Debug, Clone, PartialEq)]
pub struct Augment {
    transforms: Vec<TransformSpec>,
    fill: Fill,
    /// The list's `ElasticTransform` (at most one), with its kernel.
    elastic: Option<Elastic>,
}

impl Augment {
    /// Checks every value ([`check_augment`]); fails with all the problems at once. The
    /// values that depend on the images' shape are checked by [`check_shape`].
    pub fn new(transforms: Vec<TransformSpec>) -> Result<Self, DataError> {
        let problems = check_augment(&transforms);
        if !problems.is_empty() {
            return Err(DataError::BadAugment { problems });
        }
        let (mode, value) = transforms
            .iter()
            .find_map(TransformSpec::fill)
            .unwrap_or((FillMode::Constant, 0.0));
        let elastic = transforms.iter().find_map(|t| match *t {
            TransformSpec::ElasticTransform { alpha, sigma, .. } => {
                Some(Elastic::new(alpha, sigma))
            }
            _ => None,
        });
        Ok(Self {
            transforms,
            fill: Fill { mode, value },
            elastic,
        })
    }

    pub fn transforms(&self) -> &[TransformSpec] {
        &self.transforms
    }

    pub fn is_empty(&self) -> bool {
        self.transforms.is_empty()
    }

    /// Writes `image` (bytes) into `out` as floats in [0, 1], transformed. No
    /// normalisation: the caller applies it afterwards. Values the shape makes invalid
    /// ([`check_shape`]) are not applied: a crop's `size` is ignored, `ColorJitter`'s
    /// saturation and hue leave images without 3 channels alone.
    ///
    /// # Shapes
    /// `image` and `out` are `[C * H * W]` for `shape` `[C, H, W]`.
    pub fn apply(&self, image: &[u8], shape: [usize; 3], rng: &mut ChaCha8Rng, out: &mut [f32]) {
        let [_, h, w] = shape;
        let plane = h * w;
        if plane == 0 {
            return;
        }
        match self.sample_geometry(shape, rng) {
            Some(geometry) => affine::warp(image, shape, &geometry, self.fill, out),
            None => affine::copy(image, out),
        }
        for t in &self.transforms {
            if t.is_geometric() || matches!(t, TransformSpec::RandomErasing { .. }) {
                continue;
            }
            if !coin(rng, t.p()) {
                continue;
            }
            match *t {
                TransformSpec::Brightness { max_delta, .. } => {
                    let delta = uniform(rng, -max_delta, max_delta);
                    for v in out.iter_mut() {
                        *v = (*v + delta).clamp(0.0, 1.0);
                    }
                }
                TransformSpec::Contrast { lower, upper, .. } => {
                    let f = uniform(rng, lower, upper);
                    for channel in out.chunks_exact_mut(plane) {
                        let mean = (channel.iter().map(|&v| f64::from(v)).sum::<f64>()
                            / plane as f64) as f32;
                        for v in channel {
                            *v = ((*v - mean) * f + mean).clamp(0.0, 1.0);
                        }
                    }
                }
                TransformSpec::ColorJitter {
                    brightness,
                    contrast,
                    saturation,
                    hue,
                    ..
                } => Jitter::sample(rng, brightness, contrast, saturation, hue).apply(out, shape),
                TransformSpec::GaussianNoise { std, .. } => {
                    for pair in out.chunks_mut(2) {
                        let (z0, z1) = normal_pair(rng);
                        pair[0] += std * z0;
                        if let Some(v) = pair.get_mut(1) {
                            *v += std * z1;
                        }
                    }
                }
                _ => {}
            }
        }
        for t in &self.transforms {
            let TransformSpec::RandomErasing {
                p,
                scale,
                ratio,
                value,
            } = *t
            else {
                continue;
            };
            if coin(rng, p)
                && let Some(rect) = erase_rect(rng, h, w, scale, ratio)
            {
                erase(out, shape, rect, value);
            }
        }
    }

    /// The geometric transforms that fire, composed, or `None` when none does (or they
    /// compose to the identity).
    fn sample_geometry(&self, shape: [usize; 3], rng: &mut ChaCha8Rng) -> Option<Geometry> {
        let [_, h, w] = shape;
        let mut geometry = Geometry::map(Affine::IDENTITY);
        for t in &self.transforms {
            if !t.is_geometric() || !coin(rng, t.p()) {
                continue;
            }
            let step = match *t {
                TransformSpec::RandomRotation { degrees, .. } => {
                    Affine::rotation(f64::from(uniform(rng, -degrees, degrees)))
                }
                TransformSpec::RandomAffine {
                    degrees,
                    translate,
                    scale,
                    shear,
                    ..
                } => {
                    let angle = uniform(rng, -degrees, degrees);
                    let (mx, my) = (translate.0 * w as f32, translate.1 * h as f32);
                    let shift = (uniform(rng, -mx, mx), uniform(rng, -my, my));
                    let s = uniform(rng, scale.0, scale.1);
                    let k = uniform(rng, -shear, shear);
                    Affine::compose(
                        f64::from(angle),
                        (f64::from(shift.0), f64::from(shift.1)),
                        f64::from(s),
                        f64::from(k),
                    )
                }
                TransformSpec::HorizontalFlip { .. } => Affine::flip(true),
                TransformSpec::VerticalFlip { .. } => Affine::flip(false),
                TransformSpec::RandomCrop { padding, .. } => {
                    let (dx, dy) = crop::crop_shift(rng, padding);
                    Affine::scale_shift(1.0, 1.0, dx as f64, dy as f64)
                }
                TransformSpec::RandomResizedCrop { scale, ratio, .. } => {
                    let b = CropBox::sample(rng, h, w, scale, ratio);
                    // The first crop to fire clamps; a later one zooms without clamping.
                    if geometry.clamp.is_none() {
                        geometry.clamp = Some(b.clamp(geometry.map));
                    }
                    b.map(h, w)
                }
                TransformSpec::ElasticTransform { .. } => {
                    if let Some(e) = &self.elastic {
                        geometry.displacement = Some(e.sample(rng, h, w));
                    }
                    continue;
                }
                _ => continue,
            };
            geometry.map = step.after(&geometry.map);
        }
        (!geometry.is_identity()).then_some(geometry)
    }
}

/// Checks `transforms` against images of `shape` `[C, H, W]` ([`check_augment_shape`]):
/// a crop `size` must be the images' own, `ColorJitter`'s saturation and hue need 3
/// channels. The pipeline check calls it with the model's input shape; loaders built
/// otherwise can call it with the dataset's.
pub fn check_shape(transforms: &[TransformSpec], shape: [usize; 3]) -> Result<(), DataError> {
    let problems = check_augment_shape(transforms, shape);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(DataError::BadAugment { problems })
    }
}

/// `(top, left, height, width)` of a RandomErasing rectangle, drawn as torchvision does,
/// or `None` when 10 draws do not fit.
fn erase_rect(
    rng: &mut ChaCha8Rng,
    h: usize,
    w: usize,
    scale: (f32, f32),
    ratio: (f32, f32),
) -> Option<(usize, usize, usize, usize)> {
    let area = (h * w) as f64;
    let (lr0, lr1) = (f64::from(ratio.0).ln(), f64::from(ratio.1).ln());
    for _ in 0..10 {
        let target = area * f64::from(uniform(rng, scale.0, scale.1));
        let aspect = (lr0 + (lr1 - lr0) * unit(rng)).exp();
        let eh = (target * aspect).sqrt().round() as usize;
        let ew = (target / aspect).sqrt().round() as usize;
        if eh < h && ew < w {
            let top = below(rng, h - eh + 1);
            let left = below(rng, w - ew + 1);
            return Some((top, left, eh, ew));
        }
    }
    None
}

fn erase(out: &mut [f32], shape: [usize; 3], rect: (usize, usize, usize, usize), value: f32) {
    let [_, h, w] = shape;
    let (top, left, eh, ew) = rect;
    for channel in out.chunks_exact_mut(h * w) {
        for row in channel.chunks_exact_mut(w).skip(top).take(eh) {
            row[left..left + ew].fill(value);
        }
    }
}

/// Uniform in [0, 1) from the top 53 bits of one `next_u64`.
fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Uniform in [lo, hi].
fn uniform(rng: &mut ChaCha8Rng, lo: f32, hi: f32) -> f32 {
    let (lo, hi) = (f64::from(lo), f64::from(hi));
    (lo + (hi - lo) * unit(rng)) as f32
}

/// True with probability `p`; always draws, so the stream does not depend on `p`.
fn coin(rng: &mut ChaCha8Rng, p: f32) -> bool {
    unit(rng) < f64::from(p)
}

/// Uniform in 0..n (n ≥ 1), Lemire's multiply-shift as in [`crate::shuffle`].
fn below(rng: &mut ChaCha8Rng, n: usize) -> usize {
    ((u128::from(rng.next_u64()) * n as u128) >> 64) as usize
}

/// Two independent standard normals (Box–Muller).
fn normal_pair(rng: &mut ChaCha8Rng) -> (f32, f32) {
    let r = (-2.0 * (1.0 - unit(rng)).ln()).sqrt();
    let (s, c) = (std::f64::consts::TAU * unit(rng)).sin_cos();
    ((r * c) as f32, (r * s) as f32)
}

#[cfg(test)]
mod tests;
