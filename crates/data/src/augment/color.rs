//! torchvision's `ColorJitter`: brightness, contrast, saturation and hue in a random order.

use rand_chacha::ChaCha8Rng;

use super::{below, uniform};

/// torchvision's `rgb_to_grayscale` weights.
const GREY: [f32; 3] = [0.2989, 0.587, 0.114];

/// The draws of one `ColorJitter`: the order of the four adjustments and their factors
/// (`None` for a field left at 0).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Jitter {
    /// A permutation of 0..4: brightness, contrast, saturation, hue.
    pub order: [usize; 4],
    pub brightness: Option<f32>,
    pub contrast: Option<f32>,
    pub saturation: Option<f32>,
    pub hue: Option<f32>,
}

impl Jitter {
    /// Draws as torchvision's `ColorJitter.make_params`: the permutation, then each factor
    /// of a field that is not 0, in field order.
    pub fn sample(
        rng: &mut ChaCha8Rng,
        brightness: f32,
        contrast: f32,
        saturation: f32,
        hue: f32,
    ) -> Self {
        let mut order = [0, 1, 2, 3];
        for i in (1..4).rev() {
            order.swap(i, below(rng, i + 1));
        }
        let mut factor = |v: f32| (v > 0.0).then(|| uniform(rng, (1.0 - v).max(0.0), 1.0 + v));
        let (brightness, contrast, saturation) =
            (factor(brightness), factor(contrast), factor(saturation));
        let hue = (hue > 0.0).then(|| uniform(rng, -hue, hue));
        Self {
            order,
            brightness,
            contrast,
            saturation,
            hue,
        }
    }

    /// Applies the adjustments in their order. Saturation and hue leave images of other
    /// than 3 channels alone (torchvision's behaviour on 1 channel; the pipeline check
    /// refuses them there).
    ///
    /// # Shapes
    /// `image` is `[C * H * W]` for `shape` `[C, H, W]`.
    pub fn apply(&self, image: &mut [f32], shape: [usize; 3]) {
        for step in self.order {
            match step {
                0 => self.brightness.map(|f| adjust_brightness(image, f)),
                1 => self.contrast.map(|f| adjust_contrast(image, shape, f)),
                2 => self.saturation.map(|f| adjust_saturation(image, shape, f)),
                _ => self.hue.map(|h| adjust_hue(image, shape, h)),
            };
        }
    }
}

/// `clamp(f·x, 0, 1)`.
pub(crate) fn adjust_brightness(image: &mut [f32], f: f32) {
    for v in image {
        *v = (*v * f).clamp(0.0, 1.0);
    }
}

/// `clamp(f·x + (1 − f)·m, 0, 1)` with m the mean grey value (the mean of all values
/// unless the image has 3 channels).
pub(crate) fn adjust_contrast(image: &mut [f32], shape: [usize; 3], f: f32) {
    let [c, h, w] = shape;
    let plane = h * w;
    if plane == 0 {
        return;
    }
    let mean = if c == 3 {
        let (r, rest) = image.split_at(plane);
        let (g, b) = rest.split_at(plane);
        let sum: f64 = r
            .iter()
            .zip(g)
            .zip(b)
            .map(|((&r, &g), &b)| f64::from(grey(r, g, b)))
            .sum();
        sum / plane as f64
    } else {
        image.iter().map(|&v| f64::from(v)).sum::<f64>() / image.len() as f64
    } as f32;
    let offset = (1.0 - f) * mean;
    for v in image {
        *v = (f * *v + offset).clamp(0.0, 1.0);
    }
}

/// `clamp(f·x + (1 − f)·grey, 0, 1)` per pixel of an RGB image; others are left alone.
pub(crate) fn adjust_saturation(image: &mut [f32], shape: [usize; 3], f: f32) {
    let [c, h, w] = shape;
    if c != 3 {
        return;
    }
    let plane = h * w;
    let (r, rest) = image.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    for ((r, g), b) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()) {
        let offset = (1.0 - f) * grey(*r, *g, *b);
        for v in [r, g, b] {
            *v = (f * *v + offset).clamp(0.0, 1.0);
        }
    }
}

/// Turns the hue of every pixel of an RGB image by `shift` turns (through HSV, as
/// torchvision's `adjust_hue`); others are left alone.
pub(crate) fn adjust_hue(image: &mut [f32], shape: [usize; 3], shift: f32) {
    let [c, h, w] = shape;
    if c != 3 || shift == 0.0 {
        return;
    }
    let plane = h * w;
    let (r, rest) = image.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    for ((r, g), b) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()) {
        let (hue, s, v) = rgb_to_hsv(*r, *g, *b);
        (*r, *g, *b) = hsv_to_rgb((hue + shift).rem_euclid(1.0), s, v);
    }
}

fn grey(r: f32, g: f32, b: f32) -> f32 {
    GREY[0] * r + GREY[1] * g + GREY[2] * b
}

/// torchvision's `_rgb_to_hsv`: hue in [0, 1), 0 for greys.
pub(crate) fn rgb_to_hsv(r: f32, g: f32, b: f32) -> (f32, f32, f32) {
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let range = max - min;
    if range == 0.0 {
        return (0.0, 0.0, max);
    }
    let s = range / max;
    let (rc, gc, bc) = ((max - r) / range, (max - g) / range, (max - b) / range);
    let h = if max == r {
        bc - gc
    } else if max == g {
        2.0 + rc - bc
    } else {
        4.0 + gc - rc
    };
    ((h / 6.0 + 1.0).rem_euclid(1.0), s, max)
}

/// torchvision's `_hsv_to_rgb`.
pub(crate) fn hsv_to_rgb(h: f32, s: f32, v: f32) -> (f32, f32, f32) {
    let h6 = h * 6.0;
    let i = h6.floor();
    let f = h6 - i;
    let p = (v * (1.0 - s)).clamp(0.0, 1.0);
    let q = (v * (1.0 - s * f)).clamp(0.0, 1.0);
    let t = (v * (1.0 - s * (1.0 - f))).clamp(0.0, 1.0);
    match (i as i64).rem_euclid(6) {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RGB: [usize; 3] = [3, 1, 4];

    /// Red, green, blue and a dull orange, one pixel each, channel-first.
    fn pixels() -> Vec<f32> {
        let px = [
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, 1.0],
            [0.8, 0.5, 0.2],
        ];
        (0..3).flat_map(|c| px.iter().map(move |p| p[c])).collect()
    }

    fn pixel(image: &[f32], i: usize) -> [f32; 3] {
        [image[i], image[4 + i], image[8 + i]]
    }

    fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
    }

    #[test]
    fn hue_turns_the_colour_wheel() {
        let mut img = pixels();
        adjust_hue(&mut img, RGB, 1.0 / 3.0);
        // Red → green → blue → red.
        assert!(close(&pixel(&img, 0), &[0.0, 1.0, 0.0], 1e-6), "{img:?}");
        assert!(close(&pixel(&img, 1), &[0.0, 0.0, 1.0], 1e-6));
        assert!(close(&pixel(&img, 2), &[1.0, 0.0, 0.0], 1e-6));
        // Half a turn twice is a whole turn.
        let mut img = pixels();
        adjust_hue(&mut img, RGB, 0.5);
        assert!(close(&pixel(&img, 0), &[0.0, 1.0, 1.0], 1e-6), "red → cyan");
        adjust_hue(&mut img, RGB, 0.5);
        assert!(close(&img, &pixels(), 1e-6), "{img:?}");
        // HSV round trip of the orange: hue (0.5 − 0.2) / 0.6 / 6 = 1/12.
        let (h, s, v) = rgb_to_hsv(0.8, 0.5, 0.2);
        assert!((h - 1.0 / 12.0).abs() < 1e-6 && (s - 0.75).abs() < 1e-6 && v == 0.8);
        let (r, g, b) = hsv_to_rgb(h, s, v);
        assert!(close(&[r, g, b], &[0.8, 0.5, 0.2], 1e-6));
    }

    #[test]
    fn saturation_zero_is_torchvisions_greyscale() {
        let mut img = pixels();
        adjust_saturation(&mut img, RGB, 0.0);
        for (i, expected) in [
            0.2989,
            0.587,
            0.114,
            0.2989 * 0.8 + 0.587 * 0.5 + 0.114 * 0.2,
        ]
        .into_iter()
        .enumerate()
        {
            assert!(close(&pixel(&img, i), &[expected; 3], 1e-6), "{img:?}");
        }
        // Factor 1 changes nothing; 2 pushes away from grey and clips.
        let mut same = pixels();
        adjust_saturation(&mut same, RGB, 1.0);
        assert!(close(&same, &pixels(), 1e-6));
        let mut vivid = pixels();
        adjust_saturation(&mut vivid, RGB, 2.0);
        assert_eq!(pixel(&vivid, 0), [1.0, 0.0, 0.0]);
        let o = 0.2989 * 0.8 + 0.587 * 0.5 + 0.114 * 0.2;
        assert!(close(&pixel(&vivid, 3), &[1.0, 1.0 - o, 0.0], 1e-6));
        // One channel: unchanged, as torchvision.
        let mut grey = vec![0.3, 0.6];
        adjust_saturation(&mut grey, [1, 1, 2], 0.0);
        adjust_hue(&mut grey, [1, 1, 2], 0.3);
        assert_eq!(grey, [0.3, 0.6]);
    }

    #[test]
    fn brightness_and_contrast_blend_with_black_and_the_grey_mean() {
        let mut img = pixels();
        adjust_brightness(&mut img, 1.5);
        assert!(close(&pixel(&img, 3), &[1.0, 0.75, 0.3], 1e-6));
        // Contrast 0: every value becomes the mean grey of the image.
        let mut img = pixels();
        adjust_contrast(&mut img, RGB, 0.0);
        let o = 0.2989 * 0.8 + 0.587 * 0.5 + 0.114 * 0.2;
        let mean = (0.2989 + 0.587 + 0.114 + o) / 4.0;
        assert!(img.iter().all(|v| (v - mean).abs() < 1e-6), "{img:?}");
        let mut grey = vec![0.2, 0.4, 0.6, 0.8];
        adjust_contrast(&mut grey, [1, 2, 2], 0.5);
        assert!(close(&grey, &[0.35, 0.45, 0.55, 0.65], 1e-6), "{grey:?}");
    }

    #[test]
    fn the_order_is_a_permutation_and_zero_fields_draw_nothing() {
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..200 {
            let j = Jitter::sample(&mut crate::sample_rng(5, 0, i), 0.4, 0.0, 0.2, 0.1);
            let mut sorted = j.order;
            sorted.sort();
            assert_eq!(sorted, [0, 1, 2, 3]);
            seen.insert(j.order);
            assert!(j.brightness.is_some_and(|f| (0.6..=1.4).contains(&f)));
            assert_eq!(j.contrast, None);
            assert!(j.saturation.is_some_and(|f| (0.8..=1.2).contains(&f)));
            assert!(j.hue.is_some_and(|h| (-0.1..=0.1).contains(&h)));
        }
        assert_eq!(seen.len(), 24, "every order occurs");
        // brightness ≥ 1 keeps the lower end at 0, as torchvision's max(0, 1 − b).
        let j = Jitter::sample(&mut crate::sample_rng(5, 0, 0), 3.0, 0.0, 0.0, 0.0);
        assert!(j.brightness.is_some_and(|f| (0.0..=4.0).contains(&f)));
    }

    #[test]
    fn adjustments_apply_in_the_drawn_order() {
        // Brightness ×2 then contrast 0 is the mean of the doubled image; the other way
        // round, twice the mean.
        let jitter = |order| Jitter {
            order,
            brightness: Some(2.0),
            contrast: Some(0.0),
            saturation: None,
            hue: None,
        };
        let mut a = vec![0.1, 0.2, 0.3, 0.4];
        jitter([0, 1, 2, 3]).apply(&mut a, [1, 2, 2]);
        assert!(close(&a, &[0.5; 4], 1e-6), "{a:?}");
        let mut b = vec![0.1, 0.2, 0.3, 0.4];
        jitter([1, 0, 3, 2]).apply(&mut b, [1, 2, 2]);
        assert!(close(&b, &[0.5; 4], 1e-6), "{b:?}");
        let mut c = vec![0.1, 0.2, 0.3, 0.9];
        jitter([0, 1, 2, 3]).apply(&mut c, [1, 2, 2]);
        // Doubling clips 0.9 to 1: the mean is (0.2 + 0.4 + 0.6 + 1) / 4 = 0.55.
        assert!(close(&c, &[0.55; 4], 1e-6), "{c:?}");
        let mut d = vec![0.1, 0.2, 0.3, 0.9];
        jitter([1, 0, 2, 3]).apply(&mut d, [1, 2, 2]);
        assert!(close(&d, &[0.75; 4], 1e-6), "{d:?}");
    }
}
