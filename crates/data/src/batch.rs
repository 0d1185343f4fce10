//! Turning examples into a batch of normalised floats: the per-sample step and [`Batch`].

use ndarray::{Array1, Array4};
use rand_chacha::ChaCha8Rng;
use ronin_spec::TransformSpec;

use crate::rng::sample_rng;
use crate::{Augment, DataError, Dataset, Normalization};

/// A batch ready to be moved to the device.
///
/// # Shapes
/// `images` is `[N, C, H, W]` (normalised floats), `labels` is `[N]`, `indices` is `[N]`:
/// the dataset index of each example, in batch order.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub images: Array4<f32>,
    pub labels: Array1<i64>,
    pub indices: Vec<usize>,
}

impl Batch {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

/// What is done to each example on its way into a batch.
///
/// [`SampleStep::apply`] receives the example's own generator, derived from
/// (seed, epoch, index) by [`sample_rng`], so any random transform gives the same result
/// whichever thread prepares the example. Without augmentation a byte is normalised by a
/// table lookup; with it ([`SampleStep::with_augment`], training loaders only) the image
/// is transformed in [0, 1] pixel units ([`Augment::apply`]), then normalised.
#[derive(Debug, Clone)]
pub struct SampleStep {
    /// `[C][256]`: the normalised value of each byte, per channel.
    table: Vec<[f32; 256]>,
    /// `[C]` each: what the table was computed from, for augmented floats.
    mean: Vec<f32>,
    std: Vec<f32>,
    /// `None` for an empty list: the table lookup alone.
    augment: Option<Augment>,
}

impl SampleStep {
    /// A step that only normalises. `normalization` must have been checked against the
    /// dataset's channels ([`Normalization::check`]).
    pub fn new(normalization: &Normalization) -> Self {
        Self {
            table: normalization.table(),
            mean: normalization.mean.clone(),
            std: normalization.std.clone(),
            augment: None,
        }
    }

    /// A step that transforms each image by `transforms` before normalising it; the same
    /// as [`SampleStep::new`] when `transforms` is empty. Fails on an out-of-range value.
    pub fn with_augment(
        normalization: &Normalization,
        transforms: Vec<TransformSpec>,
    ) -> Result<Self, DataError> {
        let augment = Augment::new(transforms)?;
        Ok(Self {
            augment: (!augment.is_empty()).then_some(augment),
            ..Self::new(normalization)
        })
    }

    /// The transforms applied before normalisation (empty for evaluation).
    pub fn transforms(&self) -> &[TransformSpec] {
        self.augment.as_ref().map_or(&[], Augment::transforms)
    }

    /// Writes example `index` of `dataset`, augmented (drawing from `rng`) and normalised,
    /// into `out`. Returns false, leaving `out` as it was, when the example's file does
    /// not decode and its source skips such files (`on_corrupt: Skip`).
    ///
    /// # Shapes
    /// `out` is `[C * H * W]` (one image, channel-first).
    pub fn apply(
        &self,
        dataset: &Dataset,
        index: usize,
        rng: &mut ChaCha8Rng,
        out: &mut [f32],
    ) -> Result<bool, DataError> {
        let Some(image) = dataset.image(index)? else {
            return Ok(false);
        };
        self.apply_bytes(&image, dataset.shape, rng, out);
        Ok(true)
    }

    /// [`SampleStep::apply`] for the bytes of one image of `shape`.
    ///
    /// # Shapes
    /// `image` is `[C, H, W]` bytes, `out` is `[C * H * W]`.
    pub fn apply_bytes(
        &self,
        image: &[u8],
        shape: [usize; 3],
        rng: &mut ChaCha8Rng,
        out: &mut [f32],
    ) {
        let [_, h, w] = shape;
        let plane = h * w;
        if let Some(augment) = &self.augment {
            augment.apply(image, shape, rng, out);
            if plane > 0 {
                for ((dst, &m), &s) in out.chunks_exact_mut(plane).zip(&self.mean).zip(&self.std) {
                    for d in dst {
                        *d = (*d - m) / s;
                    }
                }
            }
            return;
        }
        for ((src, dst), table) in image
            .chunks_exact(plane)
            .zip(out.chunks_exact_mut(plane))
            .zip(&self.table)
        {
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = table[usize::from(s)];
            }
        }
    }

    /// [`SampleStep::try_batch`] of a dataset held in memory, which cannot fail.
    #[cfg(test)]
    pub(crate) fn batch(
        &self,
        dataset: &Dataset,
        indices: &[usize],
        seed: u64,
        epoch: usize,
    ) -> Batch {
        self.try_batch(dataset, indices, seed, epoch)
            .expect("a batch of an in-memory dataset")
    }

    /// The batch of the examples at `indices` (already checked to be in range), each with
    /// its generator for (`seed`, `epoch`). Files that do not decode under
    /// `on_corrupt: Skip` are left out (the batch is shorter); under `Fail` they are an
    /// error naming the file. Each image is decoded straight into the batch's buffer.
    pub(crate) fn try_batch(
        &self,
        dataset: &Dataset,
        indices: &[usize],
        seed: u64,
        epoch: usize,
    ) -> Result<Batch, DataError> {
        let [c, h, w] = dataset.shape;
        let per = dataset.image_len();
        let mut pixels = vec![0f32; indices.len() * per];
        let mut kept = Vec::with_capacity(indices.len());
        if per > 0 {
            for &index in indices {
                let n = kept.len();
                let out = &mut pixels[n * per..(n + 1) * per];
                let mut rng = sample_rng(seed, epoch, index);
                if self.apply(dataset, index, &mut rng, out)? {
                    kept.push(index);
                }
            }
        } else {
            kept.extend_from_slice(indices);
        }
        pixels.truncate(kept.len() * per);
        let images = Array4::from_shape_vec((kept.len(), c, h, w), pixels)
            .expect("the buffer holds N * C * H * W floats by construction");
        let labels = kept.iter().map(|&i| dataset.labels[i]).collect();
        Ok(Batch {
            images,
            labels,
            indices: kept,
        })
    }
}

/// One fixed batch of the examples at `indices`, normalised and never augmented: for
/// evaluation and for the reference batch saved for ONNX parity checks.
pub fn dataset_batch(
    dataset: &Dataset,
    indices: &[usize],
    normalization: &Normalization,
) -> Result<Batch, DataError> {
    dataset.check_indices(indices)?;
    normalization.check(dataset.shape[0])?;
    SampleStep::new(normalization).try_batch(dataset, indices, 0, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_batch_normalises_per_channel() -> Result<(), DataError> {
        // Three examples of 2 channels × 1 × 2 pixels.
        let images: Vec<u8> = vec![0, 255, 10, 20, 255, 255, 30, 40, 0, 0, 50, 60];
        let ds = Dataset::new(
            images,
            [2, 1, 2],
            vec![2, 0, 1],
            vec!["a".into(), "b".into(), "c".into()],
            "t",
        )?;
        let norm = Normalization::given(&[0.5, 0.0], &[0.5, 1.0], 2)?;
        let b = dataset_batch(&ds, &[2, 0], &norm)?;
        assert_eq!(b.images.shape(), &[2, 2, 1, 2]);
        assert_eq!(b.labels.to_vec(), vec![1, 2]);
        assert_eq!(b.indices, [2, 0]);
        assert_eq!(b.images[[0, 0, 0, 0]], -1.0);
        assert_eq!(b.images[[0, 1, 0, 1]], 60.0 / 255.0);
        assert_eq!(b.images[[1, 0, 0, 1]], 1.0);
        assert_eq!(b.images[[1, 1, 0, 0]], 10.0 / 255.0);

        let msg = dataset_batch(&ds, &[3], &norm)
            .expect_err("index 3")
            .to_string();
        assert!(
            msg.contains("index 3 is out of range for a dataset of 3"),
            "{msg}"
        );
        assert!(dataset_batch(&ds, &[0], &Normalization::identity(1)).is_err());
        Ok(())
    }
}
