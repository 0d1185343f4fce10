//! `ElasticTransform`'s displacement field: uniform noise blurred by a Gaussian, as
//! torchvision's v2 `ElasticTransform.make_params` builds it.

use std::sync::{Arc, OnceLock};

use rand::RngCore;
use rand_chacha::ChaCha8Rng;

use super::affine::{Field, mirror};

/// The transform with its Gaussian kernel, computed once, and the blur of the last image
/// size seen, computed on first use.
#[derive(Debug, Clone)]
pub(crate) struct Elastic {
    /// Pixels of displacement per unit of blurred noise: torchvision's `alpha / 2`.
    gain: f32,
    /// The normalised 1-D Gaussian, `int(8σ + 1)` taps made odd; `[1]` without blur.
    kernel: Vec<f32>,
    blur: OnceLock<Arc<Blur>>,
}

impl PartialEq for Elastic {
    fn eq(&self, other: &Self) -> bool {
        // The cached blur follows from the kernel.
        self.gain == other.gain && self.kernel == other.kernel
    }
}

impl Elastic {
    pub fn new(alpha: f32, sigma: f32) -> Self {
        Self {
            gain: alpha / 2.0,
            kernel: gaussian_kernel(sigma),
            blur: OnceLock::new(),
        }
    }

    /// A displacement field for an `h × w` image: noise uniform in [-1, 1] for dx (row by
    /// row), then for dy, each blurred and scaled.
    pub fn sample(&self, rng: &mut ChaCha8Rng, h: usize, w: usize) -> Field {
        let mut dx = noise(rng, h * w);
        let mut dy = noise(rng, h * w);
        let cached = self
            .blur
            .get_or_init(|| Arc::new(Blur::new(&self.kernel, h, w)));
        let fresh;
        let blur = if (cached.h, cached.w) == (h, w) {
            cached
        } else {
            fresh = Blur::new(&self.kernel, h, w);
            &fresh
        };
        let mut scratch = vec![0f32; h * w];
        for field in [&mut dx, &mut dy] {
            blur.apply(field, &mut scratch);
            for v in field.iter_mut() {
                *v *= self.gain;
            }
        }
        Field { dx, dy }
    }
}

/// torchvision's `_get_gaussian_kernel1d` at its `ElasticTransform` size: `int(8σ + 1)`
/// taps, one more if even, weights `exp(-t² / 2σ²)` normalised to sum 1.
pub(crate) fn gaussian_kernel(sigma: f32) -> Vec<f32> {
    if sigma <= 0.0 {
        return vec![1.0];
    }
    let sigma = f64::from(sigma);
    let mut size = (8.0 * sigma + 1.0) as usize;
    if size.is_multiple_of(2) {
        size += 1;
    }
    let half = (size / 2) as f64;
    let raw: Vec<f64> = (0..size)
        .map(|i| {
            let t = i as f64 - half;
            (-0.5 * (t / sigma).powi(2)).exp()
        })
        .collect();
    let total: f64 = raw.iter().sum();
    raw.iter().map(|v| (v / total) as f32).collect()
}

/// Uniform in [-1, 1) from 24 bits of one `next_u32`, as `torch.rand(…) * 2 - 1`.
fn noise(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| (rng.next_u32() >> 8) as f32 * (2.0 / 16_777_216.0) - 1.0)
        .collect()
}

/// One axis of the separable blur with the border reflected (torch's `reflect` padding):
/// the kernel folded into a band of weights per output index.
#[derive(Debug, Clone, PartialEq)]
struct Axis {
    /// Per output index: the first source index and the weights from there on.
    rows: Vec<(usize, Vec<f32>)>,
    /// The same weights per source index: the first output index and the weights.
    cols: Vec<(usize, Vec<f32>)>,
}

impl Axis {
    fn new(kernel: &[f32], n: usize) -> Self {
        let half = (kernel.len() / 2) as i64;
        let mut dense = vec![0f32; n * n];
        for out in 0..n {
            for (t, &k) in kernel.iter().enumerate() {
                let from = mirror(out as i64 + t as i64 - half, n);
                dense[out * n + from] += k;
            }
        }
        let band = |get: &dyn Fn(usize) -> f32| -> (usize, Vec<f32>) {
            let lo = (0..n).find(|&i| get(i) != 0.0).unwrap_or(0);
            let hi = (0..n).rfind(|&i| get(i) != 0.0).map_or(lo, |i| i + 1);
            (lo, (lo..hi).map(get).collect())
        };
        Self {
            rows: (0..n).map(|o| band(&|s| dense[o * n + s])).collect(),
            cols: (0..n).map(|s| band(&|o| dense[o * n + s])).collect(),
        }
    }
}

/// The 2-D blur of an `h × w` field: rows, then columns.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Blur {
    h: usize,
    w: usize,
    x: Axis,
    y: Axis,
}

impl Blur {
    pub fn new(kernel: &[f32], h: usize, w: usize) -> Self {
        Self {
            h,
            w,
            x: Axis::new(kernel, w),
            y: Axis::new(kernel, h),
        }
    }

    /// Blurs `field` in place; `scratch` is any buffer of the same length.
    ///
    /// # Shapes
    /// `field` and `scratch` are `[H * W]`.
    pub fn apply(&self, field: &mut [f32], scratch: &mut [f32]) {
        let w = self.w;
        if w == 0 || self.h == 0 {
            return;
        }
        // Along x, into scratch: every source pixel adds its band to its row.
        for (src, dst) in field.chunks_exact(w).zip(scratch.chunks_exact_mut(w)) {
            dst.fill(0.0);
            for (&v, (lo, weights)) in src.iter().zip(&self.x.cols) {
                for (d, &k) in dst[*lo..*lo + weights.len()].iter_mut().zip(weights) {
                    *d += k * v;
                }
            }
        }
        // Along y, back into field: every output row adds the rows of its band.
        for (dst, (lo, weights)) in field.chunks_exact_mut(w).zip(&self.y.rows) {
            dst.fill(0.0);
            for (r, &k) in weights.iter().enumerate() {
                let src = &scratch[(lo + r) * w..(lo + r + 1) * w];
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d += k * s;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The blur written out: reflect-pad, then the 1-D kernel along x and along y.
    fn naive_blur(kernel: &[f32], field: &[f32], h: usize, w: usize) -> Vec<f32> {
        let half = (kernel.len() / 2) as i64;
        let at = |v: &[f32], y: i64, x: i64| v[mirror(y, h) * w + mirror(x, w)];
        let mut rows = vec![0f32; h * w];
        for y in 0..h as i64 {
            for x in 0..w as i64 {
                rows[(y as usize) * w + x as usize] = kernel
                    .iter()
                    .enumerate()
                    .map(|(t, k)| k * at(field, y, x + t as i64 - half))
                    .sum();
            }
        }
        let mut out = vec![0f32; h * w];
        for y in 0..h as i64 {
            for x in 0..w as i64 {
                out[(y as usize) * w + x as usize] = kernel
                    .iter()
                    .enumerate()
                    .map(|(t, k)| k * at(&rows, y + t as i64 - half, x))
                    .sum();
            }
        }
        out
    }

    #[test]
    fn the_kernel_has_torchvisions_size_and_weights() {
        assert_eq!(gaussian_kernel(0.0), [1.0]);
        // int(8·5 + 1) = 41; int(8·0.5 + 1) = 5; int(8·0.25 + 1) = 3; int(8·1 + 1) = 9.
        for (sigma, taps) in [(5.0, 41), (0.5, 5), (0.25, 3), (1.0, 9), (0.7, 7)] {
            let k = gaussian_kernel(sigma);
            assert_eq!(k.len(), taps, "sigma {sigma}");
            let total: f32 = k.iter().sum();
            assert!((total - 1.0).abs() < 1e-6);
        }
        // σ = 1, 9 taps: exp(-t²/2) / Σ; the centre is 1 / 2.50662... = 0.398942 within
        // the truncation's 1e-4.
        let k = gaussian_kernel(1.0);
        assert!((k[4] - 0.398_942).abs() < 1e-4, "{}", k[4]);
        assert!((k[3] / k[4] - (-0.5f32).exp()).abs() < 1e-6);
    }

    #[test]
    fn the_folded_blur_equals_reflect_padding_then_convolution() {
        let mut rng = crate::sample_rng(3, 0, 0);
        // A kernel wider than the image folds more than once.
        for (sigma, h, w) in [(1.0, 6, 7), (5.0, 28, 28), (3.0, 4, 5), (2.0, 1, 9)] {
            let kernel = gaussian_kernel(sigma);
            let field = noise(&mut rng, h * w);
            let expected = naive_blur(&kernel, &field, h, w);
            let mut got = field.clone();
            Blur::new(&kernel, h, w).apply(&mut got, &mut vec![0.0; h * w]);
            for (g, e) in got.iter().zip(&expected) {
                assert!((g - e).abs() < 1e-5, "sigma {sigma} {h}×{w}: {g} vs {e}");
            }
        }
        // Constants stay constant: the weights of every output sum to 1.
        let mut flat = vec![0.25f32; 20];
        Blur::new(&gaussian_kernel(2.0), 4, 5).apply(&mut flat, &mut [0.0; 20]);
        assert!(flat.iter().all(|v| (v - 0.25).abs() < 1e-6), "{flat:?}");
    }

    #[test]
    fn the_field_is_scaled_noise_and_repeats_with_the_seed() {
        let e = Elastic::new(8.0, 0.0);
        let f = e.sample(&mut crate::sample_rng(1, 0, 0), 10, 10);
        // Unblurred: alpha / 2 times noise in [-1, 1).
        assert!(f.dx.iter().chain(&f.dy).all(|v| (-4.0..4.0).contains(v)));
        assert!(f.dx.iter().any(|v| v.abs() > 2.0));
        assert_ne!(f.dx, f.dy);
        assert_eq!(f, e.sample(&mut crate::sample_rng(1, 0, 0), 10, 10));
        // Another size than the cached one is computed afresh, not from the cache.
        let small = Elastic::new(8.0, 1.0);
        small.sample(&mut crate::sample_rng(1, 0, 0), 10, 10);
        let f = small.sample(&mut crate::sample_rng(1, 0, 0), 3, 4);
        assert_eq!(f.dx.len(), 12);
    }
}
