//! The `augment` section: random transforms applied to each training image.
//!
//! Transforms act on one image with pixels in [0, 1] (before normalisation), in three
//! stages whatever their place in the list:
//! 1. geometric: every `RandomRotation`, `RandomAffine`, `HorizontalFlip`, `VerticalFlip`,
//!    `RandomCrop` (a whole-pixel shift) and `RandomResizedCrop` (a zoom into a box) is
//!    composed, in list order, into one affine map about the image centre. An
//!    `ElasticTransform` then moves every output pixel `(x, y)` by its smooth random
//!    displacement `(dx, dy)`, as if it stood last in the list, and the image is sampled
//!    once, with bilinear interpolation, at `map⁻¹(x + dx, y + dy)`: one resampling
//!    however many transforms fire, so a lone whole-pixel shift or flip copies pixels
//!    exactly;
//! 2. the photometric ones (`Brightness`, `Contrast`, `ColorJitter`, `GaussianNoise`), in
//!    list order;
//! 3. `RandomErasing`, in list order.
//!
//! Each transform fires with probability `p`. The output keeps the input's shape (the
//! model, the normalisation and the export assume it), so the crops' `size`, where given,
//! must be the image's own. Names follow torchvision and Keras; Keras' and albumentations'
//! spellings are accepted as aliases where the meaning is the same. `Brightness` and
//! `Contrast` are `tf.image`'s (an added delta, a per-channel mean); `ColorJitter` is
//! torchvision's (factors, a grey mean, saturation and hue).

mod check;
mod crop;

use serde::{Deserialize, Serialize};

pub use check::{check_augment, check_augment_shape};
pub use crop::{CropSize, Padding, PaddingMode};

/// How a geometric transform fills pixels that come from outside the image
/// (Keras' `fill_mode`), shown for a row `a b c d`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum FillMode {
    /// `k k k k | a b c d | k k k k` with `k = fill_value`.
    #[default]
    Constant,
    /// `a a a a | a b c d | d d d d`: the edge pixel.
    Nearest,
    /// `d c b a | a b c d | d c b a`: mirrored, the edge pixel repeated (Keras' and
    /// scipy's `reflect`, torchvision's and numpy's `symmetric`).
    Reflect,
    /// `d c b | a b c d | c b a`: mirrored about the edge pixel, which is not repeated
    /// (scipy's `mirror`, torchvision's and numpy's `reflect`).
    Mirror,
    /// `a b c d | a b c d | a b c d`: tiled.
    Wrap,
}

/// One random transform of the `augment` list.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub enum TransformSpec {
    /// Rotation by an angle drawn uniformly from [-degrees, degrees] (positive is
    /// counter-clockwise), about the image centre.
    RandomRotation {
        #[serde(alias = "rotation_range")]
        degrees: f32,
        #[serde(default)]
        fill_mode: FillMode,
        /// Fill of `Constant`, in [0, 1] pixel units.
        #[serde(default, alias = "cval")]
        fill_value: f32,
        #[serde(default = "one")]
        p: f32,
    },
    /// Rotation, shift, zoom and shear drawn together, about the image centre: the map is
    /// `shift ∘ rotate ∘ shear ∘ scale`, as in torchvision's `RandomAffine`. Every field
    /// defaults to the identity.
    RandomAffine {
        /// Rotation angle drawn from [-degrees, degrees].
        #[serde(default, alias = "rotation_range")]
        degrees: f32,
        /// Largest shift as fractions of (width, height): Keras' `width_shift_range` and
        /// `height_shift_range`. The shift is drawn from [-fx·W, fx·W] × [-fy·H, fy·H]
        /// pixels, not rounded.
        #[serde(default)]
        translate: (f32, f32),
        /// Zoom factor drawn from [lower, upper], the same on both axes; above 1 enlarges
        /// the content (torchvision's meaning, the inverse of Keras' `zoom_range`).
        #[serde(default = "unit_range")]
        scale: (f32, f32),
        /// Shear angle along x, in degrees, drawn from [-shear, shear].
        #[serde(default, alias = "shear_range")]
        shear: f32,
        #[serde(default)]
        fill_mode: FillMode,
        /// Fill of `Constant`, in [0, 1] pixel units.
        #[serde(default, alias = "cval")]
        fill_value: f32,
        #[serde(default = "one")]
        p: f32,
    },
    /// Mirror left–right, with probability `p` (default 0.5, as torchvision).
    HorizontalFlip {
        #[serde(default = "half")]
        p: f32,
    },
    /// Mirror top–bottom, with probability `p` (default 0.5, as torchvision).
    VerticalFlip {
        #[serde(default = "half")]
        p: f32,
    },
    /// torchvision's `RandomCrop(size, padding, fill, padding_mode)` at the image's own
    /// size: the image is padded, then a window of its original size is cut at a uniform
    /// whole-pixel offset (top from 0..=top+bottom, left from 0..=left+right). That is a
    /// whole-pixel shift of the content by (left − offset, top − offset), copied exactly;
    /// `RandomCrop(padding: 4)` is the CIFAR recipe. torchvision's `pad_if_needed` has no
    /// use here, the window never being larger than the image.
    RandomCrop {
        /// The window's (height, width), or one number for a square. It must be the
        /// image's size, so it may be left out; a smaller window would change the shape
        /// the model sees (use `RandomResizedCrop` to zoom into part of the image).
        #[serde(default)]
        size: Option<CropSize>,
        /// Pixels added around the image: one number for every side,
        /// (left and right, top and bottom), or (left, top, right, bottom), as
        /// torchvision's `padding`. Default 0: no movement.
        #[serde(default)]
        padding: Padding,
        /// What the padding holds (torchvision's names).
        #[serde(default)]
        padding_mode: PaddingMode,
        /// Fill of `Constant`, in [0, 1] pixel units (torchvision's `fill`).
        #[serde(default, alias = "fill_value", alias = "cval")]
        fill: f32,
        #[serde(default = "one")]
        p: f32,
    },
    /// torchvision's `RandomResizedCrop`: a box of the image is drawn and stretched over
    /// the whole image with bilinear interpolation. Up to 10 boxes are drawn, each with an
    /// area fraction from `scale` and a width / height ratio drawn log-uniformly from
    /// `ratio`, its sides rounded to whole pixels, until one fits in the image; else the
    /// central box of the largest size `ratio` allows. Near the box edges the pixels
    /// outside it are not read (the resize clamps to the box, as torchvision's does),
    /// unless a later transform brings them into view.
    RandomResizedCrop {
        /// The output (height, width), or one number for a square. It must be the
        /// image's size, so it may be left out.
        #[serde(default)]
        size: Option<CropSize>,
        /// Area fractions (lower, upper) of the box, 0 < lower ≤ upper ≤ 1.
        #[serde(default = "default_crop_scale")]
        scale: (f32, f32),
        /// Aspect ratios (lower, upper), width / height, of the box.
        #[serde(default = "default_crop_ratio")]
        ratio: (f32, f32),
        #[serde(default = "one")]
        p: f32,
    },
    /// torchvision's (v2) `ElasticTransform`: two fields of noise uniform in [-1, 1], one
    /// value per pixel, are blurred by a Gaussian of std `sigma` and scaled by `alpha`
    /// into a displacement `(dx, dy)` of every output pixel, which then reads the image
    /// at `(x + dx, y + dy)` (after the other geometric transforms, whatever the list
    /// order; see the module docs).
    ElasticTransform {
        /// Strength. As torchvision, whose displacement is `alpha / size` in grid units
        /// spanning [-1, 1], a displacement in pixels is `alpha / 2` times the blurred
        /// noise on both axes (older torchvision releases divide x by the height and y by
        /// the width, which differs on non-square images only). Simard et al.'s and
        /// albumentations' `alpha` is in pixels: their `alpha: 34` is `alpha: 68` here.
        #[serde(default = "default_elastic_alpha")]
        alpha: f32,
        /// Smoothness: the std, in pixels, of the Gaussian blurring the noise over
        /// `int(8·sigma + 1)` taps (made odd), the border reflected, as torchvision; 0
        /// leaves the noise unblurred.
        #[serde(default = "default_elastic_sigma")]
        sigma: f32,
        #[serde(default)]
        fill_mode: FillMode,
        /// Fill of `Constant`, in [0, 1] pixel units (torchvision's `fill`).
        #[serde(default, alias = "fill", alias = "cval")]
        fill_value: f32,
        #[serde(default = "one")]
        p: f32,
    },
    /// Adds one delta drawn from [-max_delta, max_delta] to every pixel, then clips to
    /// [0, 1] (`tf.image.random_brightness`).
    Brightness {
        #[serde(alias = "factor")]
        max_delta: f32,
        #[serde(default = "one")]
        p: f32,
    },
    /// Draws a factor f from [lower, upper] and maps each pixel to
    /// `(x - mean) · f + mean` with the mean of its channel, then clips to [0, 1]
    /// (`tf.image.random_contrast`).
    Contrast {
        lower: f32,
        upper: f32,
        #[serde(default = "one")]
        p: f32,
    },
    /// torchvision's `ColorJitter`: brightness, contrast, saturation and hue changed by
    /// factors drawn anew for each image and applied in a random order (torchvision
    /// permutes the four), each result clipped to [0, 1]. A field left at 0 is not
    /// applied. The grey value of a pixel is `0.2989 R + 0.587 G + 0.114 B`
    /// (torchvision's `rgb_to_grayscale`); a 1-channel image is its own grey.
    /// `saturation` and `hue` need RGB images: the check refuses them on other images.
    /// torchvision's (min, max) form of a field is not accepted.
    ColorJitter {
        /// Pixels are multiplied by a factor drawn from
        /// [max(0, 1 − brightness), 1 + brightness].
        #[serde(default)]
        brightness: f32,
        /// Pixels move to `f·x + (1 − f)·m`, with f drawn from
        /// [max(0, 1 − contrast), 1 + contrast] and m the mean grey value of the image.
        #[serde(default)]
        contrast: f32,
        /// Pixels move to `f·x + (1 − f)·grey` of the pixel, with f drawn from
        /// [max(0, 1 − saturation), 1 + saturation]: 0 is greyscale. RGB only.
        #[serde(default)]
        saturation: f32,
        /// The hue turns by a fraction of the colour wheel drawn from [-hue, hue], hue in
        /// [0, 0.5] (through HSV, as torchvision's `adjust_hue`). RGB only.
        #[serde(default)]
        hue: f32,
        #[serde(default = "one")]
        p: f32,
    },
    /// Adds independent normal noise of standard deviation `std` to every pixel (not
    /// clipped, as Keras' `GaussianNoise`).
    GaussianNoise {
        #[serde(alias = "stddev")]
        std: f32,
        #[serde(default = "one")]
        p: f32,
    },
    /// Cutout (torchvision's `RandomErasing`): with probability `p` (default 0.5), sets a
    /// rectangle of every channel to `value`. The rectangle covers a fraction of the image
    /// drawn from `scale`, with an aspect ratio (height / width) drawn log-uniformly from
    /// `ratio`; up to 10 draws are tried until one fits, else nothing is erased.
    RandomErasing {
        #[serde(default = "half")]
        p: f32,
        #[serde(default = "default_erase_scale")]
        scale: (f32, f32),
        #[serde(default = "default_erase_ratio")]
        ratio: (f32, f32),
        /// In [0, 1] pixel units (torchvision's `value` is after normalisation).
        #[serde(default)]
        value: f32,
    },
}

fn one() -> f32 {
    1.0
}
fn half() -> f32 {
    0.5
}
fn unit_range() -> (f32, f32) {
    (1.0, 1.0)
}
fn default_erase_scale() -> (f32, f32) {
    (0.02, 0.33)
}
fn default_erase_ratio() -> (f32, f32) {
    (0.3, 3.3)
}
fn default_crop_scale() -> (f32, f32) {
    (0.08, 1.0)
}
fn default_crop_ratio() -> (f32, f32) {
    (3.0 / 4.0, 4.0 / 3.0)
}
fn default_elastic_alpha() -> f32 {
    50.0
}
fn default_elastic_sigma() -> f32 {
    5.0
}

impl TransformSpec {
    /// The variant's name, as written in the file.
    pub fn name(&self) -> &'static str {
        match self {
            Self::RandomRotation { .. } => "RandomRotation",
            Self::RandomAffine { .. } => "RandomAffine",
            Self::HorizontalFlip { .. } => "HorizontalFlip",
            Self::VerticalFlip { .. } => "VerticalFlip",
            Self::RandomCrop { .. } => "RandomCrop",
            Self::RandomResizedCrop { .. } => "RandomResizedCrop",
            Self::ElasticTransform { .. } => "ElasticTransform",
            Self::Brightness { .. } => "Brightness",
            Self::Contrast { .. } => "Contrast",
            Self::ColorJitter { .. } => "ColorJitter",
            Self::GaussianNoise { .. } => "GaussianNoise",
            Self::RandomErasing { .. } => "RandomErasing",
        }
    }

    /// Probability that the transform fires.
    pub fn p(&self) -> f32 {
        match self {
            Self::RandomRotation { p, .. }
            | Self::RandomAffine { p, .. }
            | Self::HorizontalFlip { p }
            | Self::VerticalFlip { p }
            | Self::RandomCrop { p, .. }
            | Self::RandomResizedCrop { p, .. }
            | Self::ElasticTransform { p, .. }
            | Self::Brightness { p, .. }
            | Self::Contrast { p, .. }
            | Self::ColorJitter { p, .. }
            | Self::GaussianNoise { p, .. }
            | Self::RandomErasing { p, .. } => *p,
        }
    }

    /// `(fill_mode, fill_value)` of the transforms that can sample outside the image
    /// (`RandomCrop`'s `padding_mode` as the equivalent [`FillMode`]).
    pub fn fill(&self) -> Option<(FillMode, f32)> {
        match self {
            Self::RandomRotation {
                fill_mode,
                fill_value,
                ..
            }
            | Self::RandomAffine {
                fill_mode,
                fill_value,
                ..
            }
            | Self::ElasticTransform {
                fill_mode,
                fill_value,
                ..
            } => Some((*fill_mode, *fill_value)),
            Self::RandomCrop {
                padding_mode, fill, ..
            } => Some((padding_mode.fill_mode(), *fill)),
            _ => None,
        }
    }

    /// Whether the transform moves pixels (stage 1).
    pub fn is_geometric(&self) -> bool {
        matches!(
            self,
            Self::RandomRotation { .. }
                | Self::RandomAffine { .. }
                | Self::HorizontalFlip { .. }
                | Self::VerticalFlip { .. }
                | Self::RandomCrop { .. }
                | Self::RandomResizedCrop { .. }
                | Self::ElasticTransform { .. }
        )
    }
}
