use std::sync::Arc;

use ronin_spec::{FillMode, TransformSpec};

use super::affine::{Affine, Field, Fill, Geometry, copy, warp};
use super::crop::CropBox;
use super::*;
use crate::{Batch, Dataset, Loader, LoaderOptions, Normalization, SampleStep, sample_rng};

/// A 5×5 single-channel image with every pixel different: byte `10 * y + x`.
fn asymmetric() -> Vec<u8> {
    (0..5)
        .flat_map(|y| (0..5).map(move |x| 10 * y + x))
        .collect()
}

fn floats(bytes: &[u8]) -> Vec<f32> {
    let mut out = vec![0.0; bytes.len()];
    copy(bytes, &mut out);
    out
}

fn warped(src: &[u8], shape: [usize; 3], map: &Affine, mode: FillMode) -> Vec<f32> {
    sampled(src, shape, &Geometry::map(*map), mode)
}

fn sampled(src: &[u8], shape: [usize; 3], geometry: &Geometry, mode: FillMode) -> Vec<f32> {
    let mut out = vec![f32::NAN; src.len()];
    warp(src, shape, geometry, Fill { mode, value: 0.75 }, &mut out);
    out
}

fn augmented(list: Vec<TransformSpec>, src: &[u8], shape: [usize; 3], index: usize) -> Vec<f32> {
    let aug = Augment::new(list).expect("valid list");
    let mut out = vec![f32::NAN; src.len()];
    aug.apply(src, shape, &mut sample_rng(7, 0, index), &mut out);
    out
}

const SHAPE: [usize; 3] = [1, 5, 5];

#[test]
fn rotation_by_90_degrees_is_transpose_then_row_flip() {
    let src = asymmetric();
    let out = warped(&src, SHAPE, &Affine::rotation(90.0), FillMode::Constant);
    // Counter-clockwise: output (y, x) reads source (row x, column 4 - y), numpy's rot90.
    let expected: Vec<u8> = (0..5)
        .flat_map(|y| (0..5).map(move |x| 10 * x + (4 - y)))
        .collect();
    assert_eq!(out, floats(&expected));
}

#[test]
fn horizontal_flip_with_p_1_mirrors() {
    let src = asymmetric();
    let out = augmented(
        vec![TransformSpec::HorizontalFlip { p: 1.0 }],
        &src,
        SHAPE,
        0,
    );
    let expected: Vec<u8> = (0..5)
        .flat_map(|y| (0..5).map(move |x| 10 * y + (4 - x)))
        .collect();
    assert_eq!(out, floats(&expected));
    let out = augmented(vec![TransformSpec::VerticalFlip { p: 1.0 }], &src, SHAPE, 0);
    let expected: Vec<u8> = (0..5)
        .flat_map(|y| (0..5).map(move |x| 10 * (4 - y) + x))
        .collect();
    assert_eq!(out, floats(&expected));
}

#[test]
fn whole_pixel_shifts_fill_by_mode() {
    let src = asymmetric();
    let px = |b: u8| f32::from(b) / 255.0;
    // Content moves right by `by`; row 2 of the source is 20 21 22 23 24.
    let row = |by: f64, mode| {
        let out = warped(
            &src,
            SHAPE,
            &Affine::compose(0.0, (by, 0.0), 1.0, 0.0),
            mode,
        );
        out[10..15].to_vec()
    };
    let moved = [px(20), px(21), px(22)];
    for (mode, left) in [
        (FillMode::Constant, 0.75),
        (FillMode::Nearest, px(20)),
        (FillMode::Reflect, px(20)),
        (FillMode::Mirror, px(21)),
        (FillMode::Wrap, px(24)),
    ] {
        let r = row(1.0, mode);
        assert_eq!(r[0], left, "{mode:?}");
        assert_eq!(r[1..4], moved, "{mode:?}");
    }
    // Two pixels tell Nearest (a a) from Reflect (b a) and Wrap (d e).
    let two = |mode| row(2.0, mode)[..2].to_vec();
    assert_eq!(two(FillMode::Constant), [0.75, 0.75]);
    assert_eq!(two(FillMode::Nearest), [px(20), px(20)]);
    assert_eq!(two(FillMode::Reflect), [px(21), px(20)]);
    // torchvision's reflect (numpy's): c b | a b c, the edge pixel not repeated.
    assert_eq!(two(FillMode::Mirror), [px(22), px(21)]);
    assert_eq!(two(FillMode::Wrap), [px(23), px(24)]);
    // A shift down by one moves whole rows.
    let down = warped(
        &src,
        SHAPE,
        &Affine::compose(0.0, (0.0, 1.0), 1.0, 0.0),
        FillMode::Constant,
    );
    assert_eq!(down[..5], [0.75; 5]);
    assert_eq!(down[5..], floats(&src[..20]));
}

#[test]
fn identity_parameters_leave_the_image_unchanged() {
    let src: Vec<u8> = (0..3 * 7 * 6).map(|i| (i * 37 % 256) as u8).collect();
    let shape = [3, 7, 6];
    let exact = floats(&src);
    // The bilinear path with the identity map.
    let out = warped(&src, shape, &Affine::IDENTITY, FillMode::Constant);
    assert!(out.iter().zip(&exact).all(|(a, b)| (a - b).abs() <= 1e-6));
    // A RandomAffine with every default, through the normalising step.
    let ds = Dataset::new(src, shape, vec![0], vec!["a".into()], "t").expect("valid dataset");
    let norm = Normalization::given(&[0.1, 0.2, 0.3], &[0.3, 0.4, 0.5], 3).expect("valid");
    let identity: TransformSpec =
        ron::from_str("RandomAffine(degrees: 0, translate: (0, 0), scale: (1, 1))").expect("ron");
    let plain = SampleStep::new(&norm).batch(&ds, &[0], 1, 0);
    let aug = SampleStep::with_augment(&norm, vec![identity]).expect("valid");
    let b = aug.batch(&ds, &[0], 1, 0);
    let diff = (&b.images - &plain.images).mapv(f32::abs);
    assert!(diff.iter().all(|&d| d <= 1e-6), "{diff:?}");
}

fn everything(p: f32) -> Vec<TransformSpec> {
    ron::from_str(&format!(
        "[RandomRotation(degrees: 30, p: {p}), \
          RandomAffine(degrees: 10, translate: (0.2, 0.1), scale: (0.8, 1.2), shear: 10, p: {p}), \
          HorizontalFlip(p: {p}), VerticalFlip(p: {p}), Brightness(max_delta: 0.2, p: {p}), \
          Contrast(lower: 0.5, upper: 1.5, p: {p}), GaussianNoise(std: 0.1, p: {p}), \
          RandomErasing(p: {p}), RandomCrop(padding: 2, p: {p}), RandomResizedCrop(p: {p}), \
          ElasticTransform(alpha: 10, sigma: 2, p: {p}), \
          ColorJitter(brightness: 0.3, contrast: 0.3, saturation: 0.3, hue: 0.1, p: {p})]"
    ))
    .expect("valid ron")
}

#[test]
fn probability_zero_never_applies() {
    let src = asymmetric();
    for index in 0..50 {
        assert_eq!(augmented(everything(0.0), &src, SHAPE, index), floats(&src));
    }
    assert_ne!(augmented(everything(1.0), &src, SHAPE, 0), floats(&src));
}

/// RGB, so that every transform of [`everything`] passes the loader's shape check.
fn dataset(n: usize) -> Arc<Dataset> {
    let images: Vec<u8> = (0..n * 3 * 8 * 8).map(|i| (i * 31 % 251) as u8).collect();
    let labels: Vec<i64> = (0..n as i64).map(|i| i % 3).collect();
    let classes = (0..3).map(|c| c.to_string()).collect();
    Arc::new(Dataset::new(images, [3, 8, 8], labels, classes, "t").expect("valid dataset"))
}

#[test]
fn augmented_batches_do_not_depend_on_the_number_of_workers() {
    let norm = Normalization::given(&[0.5], &[0.25], 3).expect("valid");
    let epoch = |workers, augment, epoch| -> Vec<Batch> {
        let options = LoaderOptions {
            batch_size: 4,
            shuffle: true,
            drop_last: false,
            seed: 11,
            workers,
            prefetch: 2,
        };
        let ds = dataset(37);
        let l = Loader::with_augment(ds, (0..37).collect(), options, norm.clone(), augment)
            .expect("valid loader");
        l.epoch(epoch)
            .collect::<Result<_, _>>()
            .expect("in-memory batches cannot fail")
    };
    let one = epoch(1, everything(0.5), 2);
    assert_eq!(one, epoch(3, everything(0.5), 2));
    assert_ne!(one, epoch(1, everything(0.5), 3));
    assert_ne!(one, epoch(1, Vec::new(), 2));
}

#[test]
fn gaussian_noise_has_the_requested_std() {
    let src = vec![128u8; 200 * 200];
    let shape = [1, 200, 200];
    let out = augmented(
        vec![TransformSpec::GaussianNoise { std: 0.05, p: 1.0 }],
        &src,
        shape,
        3,
    );
    let base = 128.0 / 255.0;
    let n = out.len() as f64;
    let mean = out.iter().map(|&v| f64::from(v) - base).sum::<f64>() / n;
    let var = out
        .iter()
        .map(|&v| (f64::from(v) - base - mean).powi(2))
        .sum::<f64>()
        / n;
    assert!(mean.abs() < 0.001, "mean {mean}");
    assert!((var.sqrt() - 0.05).abs() < 0.001, "std {}", var.sqrt());
}

#[test]
fn erasing_sets_one_rectangle_within_the_area_fractions() {
    let (h, w) = (40, 50);
    let src = vec![255u8; 2 * h * w];
    let list = vec![TransformSpec::RandomErasing {
        p: 1.0,
        scale: (0.02, 0.33),
        ratio: (0.3, 3.3),
        value: 0.25,
    }];
    for index in 0..100 {
        let out = augmented(list.clone(), &src, [2, h, w], index);
        let erased: Vec<(usize, usize)> = (0..h * w)
            .filter(|&i| out[i] == 0.25)
            .map(|i| (i / w, i % w))
            .collect();
        assert!(out.iter().all(|&v| v == 0.25 || v == 1.0));
        assert_eq!(out[..h * w], out[h * w..], "every channel is erased alike");
        let (rows, cols) = (
            erased.iter().map(|p| p.0).max().unwrap_or(0) + 1
                - erased.iter().map(|p| p.0).min().unwrap_or(0),
            erased.iter().map(|p| p.1).max().unwrap_or(0) + 1
                - erased.iter().map(|p| p.1).min().unwrap_or(0),
        );
        assert_eq!(
            rows * cols,
            erased.len(),
            "a filled rectangle (sample {index})"
        );
        // Height and width are rounded, so the area may miss the range by a little.
        let frac = erased.len() as f64 / (h * w) as f64;
        assert!((0.015..=0.36).contains(&frac), "sample {index}: {frac}");
    }
}

#[test]
fn contrast_and_brightness_act_per_channel_and_clip() {
    let src: Vec<u8> = vec![0, 255, 0, 255, 100, 100, 100, 100];
    let shape = [2, 2, 2];
    let flat = augmented(
        vec![TransformSpec::Contrast {
            lower: 0.0,
            upper: 0.0,
            p: 1.0,
        }],
        &src,
        shape,
        0,
    );
    assert_eq!(
        flat,
        [
            0.5,
            0.5,
            0.5,
            0.5,
            100.0 / 255.0,
            100.0 / 255.0,
            100.0 / 255.0,
            100.0 / 255.0
        ]
    );
    let bright = augmented(
        vec![TransformSpec::Brightness {
            max_delta: 0.5,
            p: 1.0,
        }],
        &src,
        shape,
        0,
    );
    assert!(bright.iter().all(|v| (0.0..=1.0).contains(v)));
    let delta = bright[4] - 100.0 / 255.0;
    assert!(delta.abs() <= 0.5 && delta != 0.0);
}

#[test]
fn bad_values_fail_with_their_paths() {
    let list = vec![TransformSpec::GaussianNoise { std: -1.0, p: 1.0 }];
    let msg = Augment::new(list).expect_err("negative std").to_string();
    assert!(msg.contains("augment[0].std"), "{msg}");
    assert!(msg.contains("found -1"), "{msg}");
}

/// `src` moved right by `dx` and down by `dy` whole pixels, `fill` where nothing lands.
fn shifted(src: &[u8], shape: [usize; 3], dx: i64, dy: i64, fill: f32) -> Vec<f32> {
    let [c, h, w] = shape;
    let exact = floats(src);
    let mut out = vec![fill; src.len()];
    for ch in 0..c {
        for y in 0..h as i64 {
            for x in 0..w as i64 {
                let (sx, sy) = (x - dx, y - dy);
                if (0..w as i64).contains(&sx) && (0..h as i64).contains(&sy) {
                    let at = |y: i64, x: i64| ch * h * w + y as usize * w + x as usize;
                    out[at(y, x)] = exact[at(sy, sx)];
                }
            }
        }
    }
    out
}

#[test]
fn random_crop_with_padding_shifts_whole_pixels_exactly() {
    // An 8 × 8 image with one marked pixel at (row 3, column 3).
    let shape = [1, 8, 8];
    let mut src = vec![10u8; 64];
    src[3 * 8 + 3] = 200;
    // Padding 4 and a window at (top 1, left 7): the content moves by (4 − 7, 4 − 1).
    let (dx, dy) = (4 - 7, 4 - 1);
    let out = warped(
        &src,
        shape,
        &Affine::scale_shift(1.0, 1.0, dx as f64, dy as f64),
        FillMode::Constant,
    );
    assert_eq!(out[6 * 8], 200.0 / 255.0, "the mark is at (6, 0)");
    assert_eq!(out, shifted(&src, shape, -3, 3, 0.75));
    assert_eq!(out[..3 * 8], [0.75; 24], "three rows of fill on top");
    // Through the list: every draw is one of the 9 × 9 whole-pixel shifts, copied exactly.
    let list: Vec<TransformSpec> =
        ron::from_str("[RandomCrop(size: Some((8, 8)), padding: 4, fill: 0.75)]").expect("ron");
    let mut seen = std::collections::BTreeSet::new();
    for index in 0..60 {
        let out = augmented(list.clone(), &src, shape, index);
        let shift = (-4..=4)
            .flat_map(|dx| (-4..=4).map(move |dy| (dx, dy)))
            .find(|&(dx, dy)| out == shifted(&src, shape, dx, dy, 0.75));
        seen.insert(shift.unwrap_or_else(|| panic!("sample {index} is no shift: {out:?}")));
    }
    assert!(seen.len() > 30, "{seen:?}");
}

#[test]
fn random_crop_padding_modes_are_torchvisions() {
    let src = asymmetric();
    let row = |mode: &str| {
        let list: Vec<TransformSpec> = ron::from_str(&format!(
            "[RandomCrop(padding: (2, 0), padding_mode: {mode})]"
        ))
        .expect("ron");
        // The window's left edge is drawn from 0..=4; find a draw that moves right by 2.
        (0..200)
            .map(|i| augmented(list.clone(), &src, SHAPE, i))
            .find(|out| out[12..15] == floats(&[20, 21, 22]))
            .expect("a shift by 2 is drawn")[10..12]
            .to_vec()
    };
    let px = |b: u8| f32::from(b) / 255.0;
    // Row 2 is 20 21 22 23 24.
    assert_eq!(row("Constant"), [0.0, 0.0]);
    assert_eq!(row("Edge"), [px(20), px(20)]);
    assert_eq!(row("Reflect"), [px(22), px(21)]);
    assert_eq!(row("Symmetric"), [px(21), px(20)]);
}

/// A bilinear resize of the box `(top, left, height, width)` of a 1-channel image to
/// `out_h × out_w`, as PyTorch's `upsample_bilinear2d` (align_corners=False) computes it:
/// source `(dst + ½)·scale − ½`, clamped to the box.
fn resize_box(
    src: &[u8],
    w: usize,
    b: (usize, usize, usize, usize),
    out: (usize, usize),
) -> Vec<f32> {
    let (top, left, bh, bw) = b;
    let exact = floats(src);
    let axis = |dst: usize, n_in: usize, n_out: usize| {
        let s = ((dst as f64 + 0.5) * n_in as f64 / n_out as f64 - 0.5).max(0.0);
        let i0 = (s.floor() as usize).min(n_in - 1);
        let i1 = (i0 + 1).min(n_in - 1);
        (i0, i1, (s - i0 as f64).min(1.0) as f32)
    };
    let mut v = Vec::new();
    for y in 0..out.0 {
        let (y0, y1, fy) = axis(y, bh, out.0);
        for x in 0..out.1 {
            let (x0, x1, fx) = axis(x, bw, out.1);
            let at = |y: usize, x: usize| exact[(top + y) * w + left + x];
            v.push(
                (1.0 - fy) * ((1.0 - fx) * at(y0, x0) + fx * at(y0, x1))
                    + fy * ((1.0 - fx) * at(y1, x0) + fx * at(y1, x1)),
            );
        }
    }
    v
}

#[test]
fn resized_crop_of_a_forced_box_is_a_bilinear_resize() {
    let src = asymmetric();
    for (top, left, height, width) in [(0, 1, 2, 3), (2, 0, 3, 2), (1, 1, 4, 4), (0, 0, 5, 5)] {
        let b = CropBox {
            top,
            left,
            height,
            width,
        };
        let geometry = Geometry {
            map: b.map(5, 5),
            clamp: Some(b.clamp(Affine::IDENTITY)),
            displacement: None,
        };
        // A constant fill would show if a tap left the box.
        let out = sampled(&src, SHAPE, &geometry, FillMode::Constant);
        let expected = resize_box(&src, 5, (top, left, height, width), (5, 5));
        for (o, e) in out.iter().zip(&expected) {
            assert!((o - e).abs() < 1e-6, "{b:?}: {out:?} vs {expected:?}");
        }
    }
    // By hand, box rows 0..2, columns 1..4: output (0, 0) reads (max(0, ½·2/5 − ½),
    // max(0, ½·3/5 − ½)) = (0, 0) of the box: byte 1; output (4, 4) reads (1.3 → 1,
    // 2.2 → 2) clamped to the box: byte 10 + 3 = 13.
    let b = CropBox {
        top: 0,
        left: 1,
        height: 2,
        width: 3,
    };
    let geometry = Geometry {
        map: b.map(5, 5),
        clamp: Some(b.clamp(Affine::IDENTITY)),
        displacement: None,
    };
    let out = sampled(&src, SHAPE, &geometry, FillMode::Constant);
    assert!((out[0] - 1.0 / 255.0).abs() < 1e-6, "{}", out[0] * 255.0);
    assert!((out[24] - 13.0 / 255.0).abs() < 1e-6, "{}", out[24] * 255.0);
    // Output (2, 2) reads box (0.5, 1.0): halfway between bytes 2 and 12.
    assert!((out[12] - 7.0 / 255.0).abs() < 1e-6, "{}", out[12] * 255.0);
}

#[test]
fn a_flip_after_a_resized_crop_mirrors_the_resized_box() {
    let src = asymmetric();
    let b = CropBox {
        top: 1,
        left: 0,
        height: 3,
        width: 2,
    };
    let crop = Geometry {
        map: b.map(5, 5),
        clamp: Some(b.clamp(Affine::IDENTITY)),
        displacement: None,
    };
    let flipped = Geometry {
        map: Affine::flip(true).after(&crop.map),
        ..crop.clone()
    };
    let a = sampled(&src, SHAPE, &crop, FillMode::Constant);
    let m = sampled(&src, SHAPE, &flipped, FillMode::Constant);
    for y in 0..5 {
        for x in 0..5 {
            assert!((m[y * 5 + x] - a[y * 5 + 4 - x]).abs() < 1e-6);
        }
    }
}

#[test]
fn elastic_with_alpha_zero_is_the_identity_and_a_constant_field_shifts() {
    let src = asymmetric();
    let list: Vec<TransformSpec> =
        ron::from_str("[ElasticTransform(alpha: 0, sigma: 1)]").expect("ron");
    assert_eq!(augmented(list, &src, SHAPE, 0), floats(&src));
    // Every pixel reads one to its right: the content moves left by one.
    let field = |dx: f32, dy: f32| Field {
        dx: vec![dx; 25],
        dy: vec![dy; 25],
    };
    let geometry = Geometry {
        map: Affine::IDENTITY,
        clamp: None,
        displacement: Some(field(1.0, 0.0)),
    };
    let out = sampled(&src, SHAPE, &geometry, FillMode::Constant);
    assert_eq!(out, shifted(&src, SHAPE, -1, 0, 0.75));
    // Half a pixel down blends rows evenly.
    let geometry = Geometry {
        displacement: Some(field(0.0, 0.5)),
        ..geometry
    };
    let out = sampled(&src, SHAPE, &geometry, FillMode::Nearest);
    assert!((out[0] - 5.0 / 255.0).abs() < 1e-6, "(0 + 10) / 2");
    // The field moves output pixels, then the map: a flip reads x + 1 mirrored.
    let geometry = Geometry {
        map: Affine::flip(true),
        clamp: None,
        displacement: Some(field(1.0, 0.0)),
    };
    let out = sampled(&src, SHAPE, &geometry, FillMode::Constant);
    let flipped_then_shifted: Vec<f32> = (0..25)
        .map(|i| {
            let (y, x) = (i / 5, i % 5);
            if x + 1 < 5 {
                f32::from(src[y * 5 + (4 - (x + 1))]) / 255.0
            } else {
                0.75
            }
        })
        .collect();
    assert_eq!(out, flipped_then_shifted);
}

#[test]
fn the_new_transforms_are_seeded_and_p_zero_leaves_rgb_alone() {
    let src: Vec<u8> = (0..3 * 12 * 10).map(|i| (i * 53 % 256) as u8).collect();
    let shape = [3, 12, 10];
    let list: Vec<TransformSpec> = ron::from_str(
        "[RandomResizedCrop(), ElasticTransform(alpha: 20, sigma: 3), RandomCrop(padding: 2), \
         ColorJitter(brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.2)]",
    )
    .expect("ron");
    let a = augmented(list.clone(), &src, shape, 4);
    assert_eq!(a, augmented(list.clone(), &src, shape, 4));
    assert_ne!(a, augmented(list.clone(), &src, shape, 5));
    assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
    let off: Vec<TransformSpec> = list
        .iter()
        .map(|t| {
            let mut text = ron::to_string(t).expect("ron");
            text = text.replace("p:1.0", "p:0.0");
            ron::from_str(&text).expect("ron")
        })
        .collect();
    assert!(off.iter().all(|t| t.p() == 0.0), "{off:?}");
    for index in 0..20 {
        assert_eq!(augmented(off.clone(), &src, shape, index), floats(&src));
    }
}

#[test]
fn shape_problems_are_reported_for_loaders() {
    let list: Vec<TransformSpec> =
        ron::from_str("[ColorJitter(saturation: 0.2), RandomResizedCrop(size: Some(24))]")
            .expect("ron");
    let msg = check_shape(&list, [1, 28, 28])
        .expect_err("grey images, other size")
        .to_string();
    assert!(
        msg.contains("augment[0].saturation: ColorJitter: saturation needs RGB"),
        "{msg}"
    );
    assert!(msg.contains("augment[1].size"), "{msg}");
    assert!(check_shape(&list[..1], [3, 24, 24]).is_ok());
}

/// CPU time of this thread in seconds (`/proc/thread-self/schedstat`), so that timings do
/// not count the time other processes hold the cores; wall time where it is missing.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or_else(
            || {
                static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
                START
                    .get_or_init(std::time::Instant::now)
                    .elapsed()
                    .as_secs_f64()
            },
            |ns| ns * 1e-9,
        )
}

/// The per-image cost of the new transforms on a Fashion-MNIST-sized image:
/// `cargo test -p ronin-data --release -- --ignored --nocapture per_image_cost`.
#[test]
#[ignore = "timing; run by hand"]
fn per_image_cost() {
    let src: Vec<u8> = (0..28 * 28).map(|i| (i * 37 % 256) as u8).collect();
    let shape = [1, 28, 28];
    for text in [
        "[]",
        "[ElasticTransform()]",
        "[ElasticTransform(alpha: 34, sigma: 4)]",
        "[RandomCrop(padding: 4)]",
        "[RandomResizedCrop()]",
        "[RandomRotation(degrees: 20)]",
        "[RandomRotation(degrees: 20), HorizontalFlip(), GaussianNoise(std: 0.05), \
          ElasticTransform(alpha: 34, sigma: 4), Contrast(lower: 0.8, upper: 1.2)]",
    ] {
        let aug = Augment::new(ron::from_str(text).expect("ron")).expect("valid");
        let mut out = vec![0f32; src.len()];
        let n = 20_000;
        let start = cpu_seconds();
        for i in 0..n {
            aug.apply(&src, shape, &mut sample_rng(1, 0, i), &mut out);
        }
        let us = (cpu_seconds() - start) * 1e6 / n as f64;
        println!("{us:8.2} µs/image  {text}");
        std::hint::black_box(&out);
    }
    let rgb: Vec<u8> = (0..3 * 32 * 32).map(|i| (i * 37 % 256) as u8).collect();
    let aug = Augment::new(
        ron::from_str("[ColorJitter(brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1)]")
            .expect("ron"),
    )
    .expect("valid");
    let mut out = vec![0f32; rgb.len()];
    let start = cpu_seconds();
    for i in 0..20_000 {
        aug.apply(&rgb, [3, 32, 32], &mut sample_rng(1, 0, i), &mut out);
    }
    let us = (cpu_seconds() - start) * 1e6 / 20_000.0;
    println!("{us:8.2} µs/image  ColorJitter on 3×32×32");
}

#[test]
#[ignore = "timing; run by hand"]
fn elastic_parts_cost() {
    let e = super::elastic::Elastic::new(50.0, 5.0);
    let n = 20_000;
    let start = cpu_seconds();
    for i in 0..n {
        std::hint::black_box(e.sample(&mut sample_rng(1, 0, i), 28, 28));
    }
    println!("{:8.2} µs field", (cpu_seconds() - start) * 1e6 / n as f64);
    let e0 = super::elastic::Elastic::new(50.0, 0.0);
    let start = cpu_seconds();
    for i in 0..n {
        std::hint::black_box(e0.sample(&mut sample_rng(1, 0, i), 28, 28));
    }
    println!(
        "{:8.2} µs noise only",
        (cpu_seconds() - start) * 1e6 / n as f64
    );
    let src: Vec<u8> = (0..28 * 28).map(|i| (i * 37 % 256) as u8).collect();
    let g = Geometry {
        map: Affine::IDENTITY,
        clamp: None,
        displacement: Some(e.sample(&mut sample_rng(1, 0, 0), 28, 28)),
    };
    let mut out = vec![0f32; 784];
    let start = cpu_seconds();
    for _ in 0..n {
        warp(
            &src,
            [1, 28, 28],
            &g,
            Fill {
                mode: FillMode::Constant,
                value: 0.0,
            },
            &mut out,
        );
        std::hint::black_box(&out);
    }
    println!("{:8.2} µs warp", (cpu_seconds() - start) * 1e6 / n as f64);
}
