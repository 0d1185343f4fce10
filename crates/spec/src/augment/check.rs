//! Checking an `augment` list: its values alone ([`check_augment`]), and against the shape
//! of the images it will see ([`check_augment_shape`]).

use super::{FillMode, TransformSpec};

/// The largest `ElasticTransform.sigma`: its blur spans `8·sigma + 1` pixels, so beyond
/// this the field is constant on any image.
const MAX_SIGMA: f32 = 1000.0;

/// Every out-of-range value of an `augment` list, each as (path such as
/// `augment[2].degrees`, message). Empty when the list is valid.
pub fn check_augment(transforms: &[TransformSpec]) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let mut first_fill: Option<(usize, FillMode, f32)> = None;
    let mut first_elastic: Option<usize> = None;
    for (i, t) in transforms.iter().enumerate() {
        // An empty field places the error on the whole entry.
        let mut bad = |field: &str, msg: String| {
            let path = match field {
                "" => format!("augment[{i}]"),
                _ => format!("augment[{i}].{field}"),
            };
            errors.push((path, format!("{}: {msg}", t.name())));
        };
        let p = t.p();
        if !(0.0..=1.0).contains(&p) {
            bad("p", format!("p must be a probability in [0, 1], found {p}"));
        }
        match t {
            TransformSpec::RandomRotation { degrees, .. } => angle(&mut bad, "degrees", *degrees),
            TransformSpec::RandomAffine {
                degrees,
                translate,
                scale,
                shear,
                ..
            } => {
                angle(&mut bad, "degrees", *degrees);
                if !((0.0..=1.0).contains(&translate.0) && (0.0..=1.0).contains(&translate.1)) {
                    bad(
                        "translate",
                        format!("translate must be two fractions in [0, 1], found {translate:?}"),
                    );
                }
                if !(scale.0 > 0.0 && scale.0 <= scale.1 && scale.1.is_finite()) {
                    bad(
                        "scale",
                        format!(
                            "scale must be (lower, upper) with 0 < lower ≤ upper, found {scale:?}"
                        ),
                    );
                }
                if !(0.0..90.0).contains(shear) {
                    bad(
                        "shear",
                        format!("shear must be an angle in [0, 90) degrees, found {shear}"),
                    );
                }
            }
            TransformSpec::HorizontalFlip { .. } | TransformSpec::VerticalFlip { .. } => {}
            TransformSpec::RandomCrop { .. } => {}
            TransformSpec::RandomResizedCrop { scale, ratio, .. } => {
                area_fractions(&mut bad, *scale);
                ratios(&mut bad, *ratio);
            }
            TransformSpec::ElasticTransform { alpha, sigma, .. } => {
                if !(*alpha >= 0.0 && alpha.is_finite()) {
                    bad("alpha", format!("alpha must be ≥ 0, found {alpha}"));
                }
                if !(0.0..=MAX_SIGMA).contains(sigma) {
                    bad(
                        "sigma",
                        format!("sigma must be in [0, {MAX_SIGMA}] pixels, found {sigma}"),
                    );
                }
                if let Some(j) = first_elastic {
                    bad(
                        "",
                        format!("augment[{j}] is an ElasticTransform already; give only one"),
                    );
                }
                first_elastic.get_or_insert(i);
            }
            TransformSpec::ColorJitter {
                brightness,
                contrast,
                saturation,
                hue,
                ..
            } => {
                for (field, v) in [
                    ("brightness", brightness),
                    ("contrast", contrast),
                    ("saturation", saturation),
                ] {
                    if !(*v >= 0.0 && v.is_finite()) {
                        bad(field, format!("{field} must be ≥ 0, found {v}"));
                    }
                }
                if !(0.0..=0.5).contains(hue) {
                    bad(
                        "hue",
                        format!("hue must be in [0, 0.5] (half the colour wheel), found {hue}"),
                    );
                }
            }
            TransformSpec::Brightness { max_delta, .. } => {
                if !(0.0..=1.0).contains(max_delta) {
                    bad(
                        "max_delta",
                        format!("max_delta must be in [0, 1], found {max_delta}"),
                    );
                }
            }
            TransformSpec::Contrast { lower, upper, .. } => {
                if !(*lower >= 0.0 && lower <= upper && upper.is_finite()) {
                    bad(
                        "lower",
                        format!("need 0 ≤ lower ≤ upper, found lower {lower} and upper {upper}"),
                    );
                }
            }
            TransformSpec::GaussianNoise { std, .. } => {
                if !(*std >= 0.0 && std.is_finite()) {
                    bad("std", format!("std must be ≥ 0, found {std}"));
                }
            }
            TransformSpec::RandomErasing {
                scale,
                ratio,
                value,
                ..
            } => {
                area_fractions(&mut bad, *scale);
                ratios(&mut bad, *ratio);
                if !(0.0..=1.0).contains(value) {
                    bad("value", format!("value must be in [0, 1], found {value}"));
                }
            }
        }
        if let Some((mode, value)) = t.fill() {
            let (mode_field, value_field) = fill_fields(t);
            if !(0.0..=1.0).contains(&value) {
                bad(
                    value_field,
                    format!("{value_field} must be in [0, 1], found {value}"),
                );
            }
            match first_fill {
                None => first_fill = Some((i, mode, value)),
                Some((j, m, v)) if m != mode || v != value => bad(
                    mode_field,
                    format!(
                        "{} differs from augment[{j}] (fill_mode {m:?}, fill_value {v}); \
                         geometric transforms are applied as one map and must share their fill",
                        describe_fill(t)
                    ),
                ),
                Some(_) => {}
            }
        }
    }
    errors
}

fn angle(bad: &mut impl FnMut(&str, String), field: &str, degrees: f32) {
    if !(0.0..=180.0).contains(&degrees) {
        bad(
            field,
            format!("{field} must be an angle in [0, 180], found {degrees}"),
        );
    }
}

/// Every value of an `augment` list that the images of shape `[C, H, W]` cannot take, each
/// as (path, message) like [`check_augment`]: a crop `size` other than (H, W) (the output
/// keeps the input's shape), `ColorJitter`'s `saturation` or `hue` on images without 3
/// channels, its `contrast` on images of neither 1 nor 3 channels (no grey value).
pub fn check_augment_shape(
    transforms: &[TransformSpec],
    shape: [usize; 3],
) -> Vec<(String, String)> {
    let [c, h, w] = shape;
    let mut errors = Vec::new();
    for (i, t) in transforms.iter().enumerate() {
        let mut bad = |field: &str, msg: String| {
            errors.push((
                format!("augment[{i}].{field}"),
                format!("{}: {msg}", t.name()),
            ));
        };
        match t {
            TransformSpec::RandomCrop { size: Some(s), .. }
            | TransformSpec::RandomResizedCrop { size: Some(s), .. }
                if (s.height, s.width) != (h, w) =>
            {
                let hint = match t {
                    TransformSpec::RandomCrop { .. } => {
                        "crop a window of the same size from a padded image (`padding`), or \
                         zoom into a box with RandomResizedCrop"
                    }
                    _ => "the box is resized to the image's size",
                };
                bad(
                    "size",
                    format!(
                        "size ({}, {}) differs from the images' ({h}, {w}); the output keeps \
                         the input's shape, which the model and the export assume: leave size \
                         out or give ({h}, {w}); {hint}",
                        s.height, s.width
                    ),
                );
            }
            TransformSpec::ColorJitter {
                contrast,
                saturation,
                hue,
                ..
            } => {
                for (field, v) in [("saturation", saturation), ("hue", hue)] {
                    if *v != 0.0 && c != 3 {
                        bad(
                            field,
                            format!(
                                "{field} needs RGB images (3 channels) but these have {c}; \
                                 leave it at 0 (torchvision leaves 1-channel images unchanged)"
                            ),
                        );
                    }
                }
                if *contrast != 0.0 && c != 1 && c != 3 {
                    bad(
                        "contrast",
                        format!(
                            "contrast blends with the mean grey value, defined for 1 or 3 \
                             channels, but these images have {c}; use Contrast (per channel)"
                        ),
                    );
                }
            }
            _ => {}
        }
    }
    errors
}

/// The fields that hold a geometric transform's fill: (mode, value).
fn fill_fields(t: &TransformSpec) -> (&'static str, &'static str) {
    match t {
        TransformSpec::RandomCrop { .. } => ("padding_mode", "fill"),
        _ => ("fill_mode", "fill_value"),
    }
}

fn describe_fill(t: &TransformSpec) -> String {
    match t {
        TransformSpec::RandomCrop {
            padding_mode, fill, ..
        } => format!(
            "padding_mode {padding_mode:?} (fill_mode {:?}) with fill {fill}",
            padding_mode.fill_mode()
        ),
        _ => {
            let (mode, value) = t.fill().unwrap_or_default();
            format!("fill_mode {mode:?} with fill_value {value}")
        }
    }
}

fn area_fractions(bad: &mut impl FnMut(&str, String), scale: (f32, f32)) {
    if !(scale.0 > 0.0 && scale.0 <= scale.1 && scale.1 <= 1.0) {
        bad(
            "scale",
            format!("scale must be area fractions 0 < lower ≤ upper ≤ 1, found {scale:?}"),
        );
    }
}

fn ratios(bad: &mut impl FnMut(&str, String), ratio: (f32, f32)) {
    if !(ratio.0 > 0.0 && ratio.0 <= ratio.1 && ratio.1.is_finite()) {
        bad(
            "ratio",
            format!("ratio must be (lower, upper) with 0 < lower ≤ upper, found {ratio:?}"),
        );
    }
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
