//! `RandomCrop` and `RandomResizedCrop` as maps of the geometric stage.

use rand_chacha::ChaCha8Rng;
use ronin_spec::augment::Padding;

use super::affine::{Affine, Clamp};
use super::{below, uniform};

/// `RandomCrop` at the image's size: the offset of the window in the padded image, drawn
/// as torchvision's `get_params` (top, then left), as the content's whole-pixel shift
/// (right, down).
pub(crate) fn crop_shift(rng: &mut ChaCha8Rng, padding: Padding) -> (i64, i64) {
    let top = below(rng, padding.top + padding.bottom + 1);
    let left = below(rng, padding.left + padding.right + 1);
    (
        padding.left as i64 - left as i64,
        padding.top as i64 - top as i64,
    )
}

/// A box of the image in whole pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CropBox {
    pub top: usize,
    pub left: usize,
    pub height: usize,
    pub width: usize,
}

impl CropBox {
    /// torchvision's `RandomResizedCrop.get_params` on an `h × w` image: up to 10 draws of
    /// an area fraction from `scale` and a log-uniform width / height ratio from `ratio`,
    /// the sides rounded half to even (Python's `round`), until the box fits; else the
    /// central box of the ratio nearest the image's.
    pub fn sample(
        rng: &mut ChaCha8Rng,
        h: usize,
        w: usize,
        scale: (f32, f32),
        ratio: (f32, f32),
    ) -> Self {
        let area = (h * w) as f64;
        let (lr0, lr1) = (f64::from(ratio.0).ln(), f64::from(ratio.1).ln());
        for _ in 0..10 {
            let target = area * f64::from(uniform(rng, scale.0, scale.1));
            let aspect = f64::from(uniform(rng, lr0 as f32, lr1 as f32)).exp();
            let bw = (target * aspect).sqrt().round_ties_even() as usize;
            let bh = (target / aspect).sqrt().round_ties_even() as usize;
            if 0 < bw && bw <= w && 0 < bh && bh <= h {
                let top = below(rng, h - bh + 1);
                let left = below(rng, w - bw + 1);
                return Self {
                    top,
                    left,
                    height: bh,
                    width: bw,
                };
            }
        }
        let image_ratio = w as f64 / h as f64;
        let (lo, hi) = (f64::from(ratio.0), f64::from(ratio.1));
        let (height, width) = if image_ratio < lo {
            (((w as f64) / lo).round_ties_even() as usize, w)
        } else if image_ratio > hi {
            (h, ((h as f64) * hi).round_ties_even() as usize)
        } else {
            (h, w)
        };
        Self {
            top: (h - height) / 2,
            left: (w - width) / 2,
            height,
            width,
        }
    }

    /// The map that stretches the box over an `h × w` image, as a bilinear resize with
    /// half-pixel centres (`align_corners=False`) reads it: output x reads source
    /// `left + (x + ½)·width / w − ½`.
    pub fn map(&self, h: usize, w: usize) -> Affine {
        let (sx, sy) = (w as f64 / self.width as f64, h as f64 / self.height as f64);
        // The box centre, relative to the image centre, goes to the image centre.
        let cx = self.left as f64 + self.width as f64 / 2.0 - w as f64 / 2.0;
        let cy = self.top as f64 + self.height as f64 / 2.0 - h as f64 / 2.0;
        Affine::scale_shift(sx, sy, -cx * sx, -cy * sy)
    }

    /// Clamping onto the box, in the frame `frame` (source → the crop's input) puts it.
    pub fn clamp(&self, frame: Affine) -> Clamp {
        Clamp {
            frame,
            rect: [
                self.left as f64,
                self.top as f64,
                (self.left + self.width - 1) as f64,
                (self.top + self.height - 1) as f64,
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_offsets_cover_the_padding_uniformly() {
        let padding = Padding {
            left: 1,
            top: 2,
            right: 3,
            bottom: 0,
        };
        let mut counts = std::collections::BTreeMap::new();
        for i in 0..4000 {
            let s = crop_shift(&mut crate::sample_rng(2, 0, i), padding);
            *counts.entry(s).or_insert(0) += 1;
        }
        // dx in 1 − 0..=4, dy in 2 − 0..=2: 15 shifts, ~267 each.
        assert_eq!(counts.len(), 15, "{counts:?}");
        assert!(
            counts
                .keys()
                .all(|&(dx, dy)| (-3..=1).contains(&dx) && (0..=2).contains(&dy))
        );
        assert!(
            counts.values().all(|&n| (190..350).contains(&n)),
            "{counts:?}"
        );
    }

    #[test]
    fn boxes_fit_and_follow_the_area_and_ratio() {
        for i in 0..300 {
            let b = CropBox::sample(
                &mut crate::sample_rng(4, 0, i),
                28,
                28,
                (0.08, 1.0),
                (0.75, 4.0 / 3.0),
            );
            assert!(b.top + b.height <= 28 && b.left + b.width <= 28, "{b:?}");
            let frac = (b.height * b.width) as f64 / 784.0;
            // Rounding the sides moves the area a little.
            assert!((0.06..=1.0).contains(&frac), "{b:?}");
            let r = b.width as f64 / b.height as f64;
            assert!((0.6..=1.6).contains(&r), "{b:?}");
        }
        // No box of ratio ≥ 3 fits a 10 × 10 image at full area: the central 10 × ... box.
        let b = CropBox::sample(
            &mut crate::sample_rng(4, 0, 0),
            10,
            10,
            (1.0, 1.0),
            (3.0, 4.0),
        );
        assert_eq!(
            b,
            CropBox {
                top: 3,
                left: 0,
                height: 3,
                width: 10
            }
        );
    }

    #[test]
    fn the_whole_image_box_is_the_identity() {
        let b = CropBox {
            top: 0,
            left: 0,
            height: 6,
            width: 8,
        };
        assert_eq!(b.map(6, 8), Affine::IDENTITY);
    }
}
