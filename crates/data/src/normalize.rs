//! Per-channel pixel normalisation: `(byte / 255 - mean) / std`.

use ronin_spec::NormalizeSpec;

use std::path::Path;

use crate::{DataError, Dataset, norm_cache};

/// Mean and standard deviation of each channel, for pixels scaled to [0, 1].
///
/// # Shapes
/// `mean` and `std` are `[C]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalization {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Normalization {
    /// Leaves pixels in [0, 1]: mean 0, std 1.
    pub fn identity(channels: usize) -> Self {
        Self {
            mean: vec![0.0; channels],
            std: vec![1.0; channels],
        }
    }

    /// Values given by the user, checked against the number of channels; a single value is
    /// used for every channel.
    pub fn given(mean: &[f32], std: &[f32], channels: usize) -> Result<Self, DataError> {
        let norm = Self {
            mean: broadcast(mean, channels, "mean")?,
            std: broadcast(std, channels, "std")?,
        };
        norm.check(channels)?;
        Ok(norm)
    }

    /// Mean and (population) standard deviation of each channel over the examples at
    /// `indices`. Sums are exact integers and the moments are taken in `f64`. A channel
    /// that is constant gets std 1, so it is shifted but not divided by zero.
    ///
    /// For a dataset of files this decodes each of them once (on every core); a pipeline's
    /// `Computed` normalisation keeps the result between runs
    /// ([`Normalization::compute_cached`]). Files left out under `on_corrupt: Skip` do not
    /// count.
    pub fn compute(dataset: &Dataset, indices: &[usize]) -> Result<Self, DataError> {
        dataset.check_indices(indices)?;
        if indices.is_empty() || dataset.image_len() == 0 {
            return Err(DataError::EmptyStatistics);
        }
        let c = dataset.shape[0];
        let threads = match dataset.files() {
            Some(_) => std::thread::available_parallelism().map_or(1, usize::from),
            None => 1,
        };
        let chunk = indices.len().div_ceil(threads);
        let parts: Vec<Result<Sums, DataError>> = std::thread::scope(|s| {
            let handles: Vec<_> = indices
                .chunks(chunk)
                .map(|part| s.spawn(move || Sums::of(dataset, part)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        let mut total = Sums::new(c);
        for part in parts {
            total.add(&part?);
        }
        if total.images == 0 {
            return Err(DataError::EmptyStatistics);
        }
        let [_, h, w] = dataset.shape;
        let n = (total.images * h * w) as f64;
        let mut norm = Self::identity(c);
        for ch in 0..c {
            let mean = total.sum[ch] as f64 / n / 255.0;
            let var = (total.sum_sq[ch] as f64 / n / (255.0 * 255.0) - mean * mean).max(0.0);
            let std = var.sqrt();
            norm.mean[ch] = mean as f32;
            norm.std[ch] = if std > 1e-12 { std as f32 } else { 1.0 };
        }
        Ok(norm)
    }

    /// The normalisation a pipeline asks for, measured on `train` when `Computed`.
    pub fn from_spec(
        spec: &NormalizeSpec,
        dataset: &Dataset,
        train: &[usize],
    ) -> Result<Self, DataError> {
        let channels = dataset.shape[0];
        match spec {
            NormalizeSpec::None => Ok(Self::identity(channels)),
            NormalizeSpec::Given { mean, std } => Self::given(mean, std, channels),
            NormalizeSpec::Computed => Self::compute_cached(dataset, train, &norm_cache::dir()),
        }
    }

    /// [`Normalization::compute`], kept between runs in `cache` for a dataset of files
    /// (decoding a folder is expensive; in-memory bytes are summed faster than they would
    /// be hashed). See [`crate::norm_cache`] for the key.
    pub fn compute_cached(
        dataset: &Dataset,
        train: &[usize],
        cache: &Path,
    ) -> Result<Self, DataError> {
        let Some(files) = dataset.files() else {
            return Self::compute(dataset, train);
        };
        let key = norm_cache::key(files, dataset.shape, train);
        if let Some(key) = &key
            && let Some(norm) = norm_cache::load(cache, key, dataset.shape[0])
        {
            return Ok(norm);
        }
        let norm = Self::compute(dataset, train)?;
        if let Some(key) = &key {
            norm_cache::store(cache, key, &norm);
        }
        Ok(norm)
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.mean.len()
    }

    /// Fails unless there are `channels` finite means and positive finite stds.
    pub fn check(&self, channels: usize) -> Result<(), DataError> {
        for (what, values) in [("mean", &self.mean), ("std", &self.std)] {
            if values.len() != channels {
                return Err(DataError::NormChannels {
                    what,
                    found: values.len(),
                    channels,
                });
            }
        }
        for (channel, (&mean, &std)) in self.mean.iter().zip(&self.std).enumerate() {
            if !mean.is_finite() {
                return Err(DataError::BadMean { channel, mean });
            }
            if !(std.is_finite() && std > 0.0) {
                return Err(DataError::BadStd { channel, std });
            }
        }
        Ok(())
    }

    /// For each channel, the normalised value of every byte, computed as
    /// `(byte as f32 / 255 - mean) / std` exactly as torchvision's `ToTensor` + `Normalize`.
    ///
    /// # Shapes
    /// `[C][256]`.
    pub fn table(&self) -> Vec<[f32; 256]> {
        self.mean
            .iter()
            .zip(&self.std)
            .map(|(&m, &s)| std::array::from_fn(|b| (b as f32 / 255.0 - m) / s))
            .collect()
    }
}

/// Exact per-channel sums of bytes and of their squares over some images.
struct Sums {
    sum: Vec<u64>,
    sum_sq: Vec<u64>,
    images: usize,
}

impl Sums {
    fn new(channels: usize) -> Self {
        Self {
            sum: vec![0; channels],
            sum_sq: vec![0; channels],
            images: 0,
        }
    }

    fn of(dataset: &Dataset, indices: &[usize]) -> Result<Self, DataError> {
        let [c, h, w] = dataset.shape;
        let mut sums = Self::new(c);
        for &i in indices {
            let Some(image) = dataset.image(i)? else {
                continue;
            };
            for (ch, pixels) in image.chunks_exact(h * w).enumerate() {
                let (mut s, mut q) = (0u64, 0u64);
                for &p in pixels {
                    let p = u64::from(p);
                    s += p;
                    q += p * p;
                }
                sums.sum[ch] += s;
                sums.sum_sq[ch] += q;
            }
            sums.images += 1;
        }
        Ok(sums)
    }

    fn add(&mut self, other: &Self) {
        for (a, b) in self.sum.iter_mut().zip(&other.sum) {
            *a += b;
        }
        for (a, b) in self.sum_sq.iter_mut().zip(&other.sum_sq) {
            *a += b;
        }
        self.images += other.images;
    }
}

fn broadcast(values: &[f32], channels: usize, what: &'static str) -> Result<Vec<f32>, DataError> {
    match values {
        [v] => Ok(vec![*v; channels]),
        v if v.len() == channels => Ok(v.to_vec()),
        v => Err(DataError::NormChannels {
            what,
            found: v.len(),
            channels,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two examples of 2 channels × 2 pixels; channel 0 holds 0, 255, 0, 255 and channel 1
    /// holds 51 everywhere (0.2 after scaling).
    fn dataset() -> Result<Dataset, DataError> {
        let images = vec![0, 255, 51, 51, 255, 0, 51, 51];
        Dataset::new(
            images,
            [2, 1, 2],
            vec![0, 1],
            vec!["a".into(), "b".into()],
            "test",
        )
    }

    #[test]
    fn computed_statistics_of_a_known_array() -> Result<(), DataError> {
        let ds = dataset()?;
        let n = Normalization::compute(&ds, &[0, 1])?;
        assert!((n.mean[0] - 0.5).abs() < 1e-7, "{n:?}");
        assert!((n.std[0] - 0.5).abs() < 1e-7, "{n:?}");
        assert!((n.mean[1] - 0.2).abs() < 1e-7, "{n:?}");
        assert_eq!(n.std[1], 1.0, "a constant channel is not divided");
        // Only the given indices count.
        let one = Normalization::compute(&ds, &[0])?;
        assert!((one.mean[0] - 0.5).abs() < 1e-7);
        assert!(Normalization::compute(&ds, &[]).is_err());
        assert!(Normalization::compute(&ds, &[2]).is_err());
        Ok(())
    }

    #[test]
    fn computed_matches_a_float_reference() -> Result<(), DataError> {
        let images: Vec<u8> = (0..3 * 4 * 5 * 6).map(|i| (i * 37 % 256) as u8).collect();
        let ds = Dataset::new(images.clone(), [3, 4, 5], vec![0; 6], vec!["x".into()], "t")?;
        let n = Normalization::compute(&ds, &[0, 2, 3, 5])?;
        for ch in 0..3 {
            let vals: Vec<f64> = [0, 2, 3, 5]
                .iter()
                .flat_map(|&i| &images[i * 60 + ch * 20..i * 60 + ch * 20 + 20])
                .map(|&b| f64::from(b) / 255.0)
                .collect();
            let mean = vals.iter().sum::<f64>() / vals.len() as f64;
            let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / vals.len() as f64;
            assert!((f64::from(n.mean[ch]) - mean).abs() < 1e-6);
            assert!((f64::from(n.std[ch]) - var.sqrt()).abs() < 1e-6);
        }
        Ok(())
    }

    #[test]
    fn given_values_are_checked_and_broadcast() {
        assert_eq!(
            Normalization::given(&[0.5], &[0.25], 3).ok(),
            Some(Normalization {
                mean: vec![0.5; 3],
                std: vec![0.25; 3]
            })
        );
        let msg = Normalization::given(&[0.1, 0.2], &[1.0], 3)
            .expect_err("two means, three channels")
            .to_string();
        assert!(
            msg.contains("mean has 2 values but the images have 3 channels"),
            "{msg}"
        );
        assert!(Normalization::given(&[0.1], &[0.0], 1).is_err());
        assert!(Normalization::given(&[f32::NAN], &[1.0], 1).is_err());
    }

    #[test]
    fn spec_none_is_identity_and_table_applies_the_formula() -> Result<(), DataError> {
        let ds = dataset()?;
        let n = Normalization::from_spec(&NormalizeSpec::None, &ds, &[0])?;
        assert_eq!(n, Normalization::identity(2));
        let t = Normalization::given(&[0.5], &[0.5], 1)?.table();
        assert_eq!(t[0][0], -1.0);
        assert_eq!(t[0][255], 1.0);
        assert_eq!(t[0][51], (51.0f32 / 255.0 - 0.5) / 0.5);
        Ok(())
    }
}
