//! MixUp and CutMix on hand batches with forced draws, and the draws themselves.

use super::*;

/// A batch of 3 single-channel 4×4 images, image i filled with 10·i + pixel index / 100.
fn batch() -> Tensor {
    let v: Vec<f32> = (0..3)
        .flat_map(|i| (0..16).map(move |p| 10.0 * i as f32 + p as f32 / 100.0))
        .collect();
    Tensor::from_slice(&v).view([3, 1, 4, 4])
}

fn values(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(&t.flatten(0, -1)).unwrap()
}

fn spec(text: &str) -> MixSpec {
    ron::from_str(text).unwrap()
}

#[test]
fn mixup_with_a_forced_lambda_is_a_convex_mix_with_the_flipped_batch() {
    let x = batch();
    let lam = 0.3;
    let got = mix_images(&x, &[Draw { lam, cut: None }; 3]).unwrap();
    let want = &x * lam + x.flip([0]) * (1.0 - lam);
    for (g, w) in values(&got).iter().zip(values(&want)) {
        assert!((g - w).abs() < 1e-5, "{g} vs {w}");
    }
    // The middle image of an odd batch is its own partner.
    let mid = values(&got.get(1));
    assert!(
        values(&x.get(1))
            .iter()
            .zip(&mid)
            .all(|(a, b)| (a - b).abs() < 1e-5)
    );
    // Unmixed draws leave the batch as it is.
    let same = mix_images(&x, &[Draw::NONE; 3]).unwrap();
    assert_eq!(values(&same), values(&x));
}

#[test]
fn cutmix_pastes_exactly_the_box_and_lambda_is_its_area_complement() {
    let x = batch();
    let cut = CutBox {
        y0: 1,
        y1: 3,
        x0: 0,
        x1: 3,
    };
    let lam = cut.lam(4, 4);
    assert!((lam - (1.0 - 6.0 / 16.0)).abs() < 1e-12);
    let draw = Draw {
        lam,
        cut: Some(cut),
    };
    let got = mix_images(&x, &[draw; 3]).unwrap();
    let (xs, flipped, got) = (values(&x), values(&x.flip([0])), values(&got));
    for i in 0..3 {
        for y in 0..4 {
            for c in 0..4 {
                let k = i * 16 + y * 4 + c;
                let inside = (1..3).contains(&y) && (0..3).contains(&c);
                let want = if inside { flipped[k] } else { xs[k] };
                assert_eq!(got[k], want, "image {i} pixel ({y}, {c})");
            }
        }
    }
    // The targets weigh the labels by the box.
    let labels = Tensor::from_slice(&[0i64, 1, 2]);
    let t = values(&mix_targets(&labels, &[draw; 3], 3, 0.0).unwrap());
    let l = lam as f32;
    assert!(
        (t[0] - l).abs() < 1e-6 && (t[2] - (1.0 - l)).abs() < 1e-6,
        "{t:?}"
    );
    assert!(
        (t[4] - 1.0).abs() < 1e-6,
        "the middle is its own partner: {t:?}"
    );
}

#[test]
fn elem_draws_mix_each_image_its_own_way() {
    let x = batch();
    let cut = CutBox {
        y0: 0,
        y1: 4,
        x0: 0,
        x1: 2,
    };
    let draws = [
        Draw {
            lam: 0.5,
            cut: Some(cut),
        },
        Draw::NONE,
        Draw {
            lam: 0.8,
            cut: None,
        },
    ];
    let got = mix_images(&x, &draws).unwrap();
    let (xs, got) = (values(&x), values(&got));
    // Image 0: left half from image 2.
    assert_eq!(got[0], xs[32]);
    assert_eq!(got[3], xs[3]);
    // Image 1: unchanged; image 2: 0.8 of itself and 0.2 of image 0.
    assert_eq!(&got[16..32], &xs[16..32]);
    assert!((got[32 + 5] - (0.8 * xs[32 + 5] + 0.2 * xs[5])).abs() < 1e-5);
    let labels = Tensor::from_slice(&[0i64, 1, 2]);
    let dom = Vec::<i64>::try_from(&dominant_labels(&labels, &draws).unwrap()).unwrap();
    assert_eq!(dom, [0, 1, 2]);
    let flipped = [Draw {
        lam: 0.4,
        cut: None,
    }; 3];
    let dom = Vec::<i64>::try_from(&dominant_labels(&labels, &flipped).unwrap()).unwrap();
    assert_eq!(dom, [2, 1, 0]);
}

#[test]
fn smoothed_targets_are_timms_mixup_target() {
    let labels = Tensor::from_slice(&[0i64, 1]);
    let draws = [Draw {
        lam: 0.75,
        cut: None,
    }; 2];
    let t = values(&mix_targets(&labels, &draws, 4, 0.2).unwrap());
    // off = 0.05, on = 0.85: row 0 = 0.75·(0.85, .05, .05, .05) + 0.25·(.05, 0.85, .05, .05).
    let want = [0.65, 0.25, 0.05, 0.05, 0.25, 0.65, 0.05, 0.05];
    for (g, w) in t.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{t:?}");
    }
}

#[test]
fn the_same_seed_epoch_and_batch_draw_the_same() {
    let s = spec("(mixup_alpha: 0.2, cutmix_alpha: 1.0, mode: Elem)");
    let m = Mixer::new(&s, 42, 10);
    let a = m.draws(3, 7, 16, 28, 28);
    assert_eq!(a, Mixer::new(&s, 42, 10).draws(3, 7, 16, 28, 28));
    assert_ne!(a, m.draws(3, 8, 16, 28, 28));
    assert_ne!(a, m.draws(4, 7, 16, 28, 28));
    assert_ne!(a, Mixer::new(&s, 43, 10).draws(3, 7, 16, 28, 28));
    // Both kinds are drawn, each λ in [0, 1], CutMix's λ its box's.
    assert!(a.iter().any(|d| d.cut.is_some()) && a.iter().any(|d| d.cut.is_none()));
    for d in &a {
        assert!((0.0..=1.0).contains(&d.lam), "{d:?}");
        if let Some(b) = d.cut {
            assert!(0 <= b.y0 && b.y0 <= b.y1 && b.y1 <= 28 && 0 <= b.x0 && b.x1 <= 28);
            assert!((d.lam - b.lam(28, 28)).abs() < 1e-12);
        }
    }
    // The whole mixed batch repeats too.
    let x = Tensor::randn([4, 1, 6, 6], (Kind::Float, tch::Device::Cpu));
    let y = Tensor::from_slice(&[0i64, 1, 2, 3]);
    let one = m.mix(&x, &y, 0, 1).unwrap();
    let two = m.mix(&x, &y, 0, 1).unwrap();
    assert_eq!(values(&one.images), values(&two.images));
    assert_eq!(values(&one.targets), values(&two.targets));
}

#[test]
fn modes_prob_and_minmax_shape_the_draws() {
    let batch = Mixer::new(&spec("(mixup_alpha: 0.2)"), 1, 10).draws(0, 0, 8, 28, 28);
    assert!(batch.iter().all(|d| *d == batch[0] && d.cut.is_none()));
    let pair = Mixer::new(&spec("(mixup_alpha: 0.2, mode: Pair)"), 1, 10).draws(0, 0, 7, 28, 28);
    for i in 0..7 {
        assert_eq!(pair[i], pair[6 - i]);
    }
    assert_eq!(pair[3], Draw::NONE);
    assert_ne!(pair[0], pair[1]);
    let never = Mixer::new(&spec("(mixup_alpha: 0.2, prob: 0.0, mode: Elem)"), 1, 10);
    assert!(
        never
            .draws(0, 0, 8, 28, 28)
            .iter()
            .all(|d| *d == Draw::NONE)
    );
    let boxes = Mixer::new(
        &spec("(mixup_alpha: 0.0, cutmix_minmax: Some((0.25, 0.5)), mode: Elem)"),
        1,
        10,
    );
    for d in boxes.draws(0, 0, 32, 28, 28) {
        let b = d.cut.expect("CutMix only");
        for side in [b.y1 - b.y0, b.x1 - b.x0] {
            assert!((7..14).contains(&side), "{b:?}");
        }
        assert!(b.y1 <= 28 && b.x1 <= 28);
    }
    // Without correct_lam, CutMix keeps the drawn λ although the box is clipped.
    let raw = Mixer::new(
        &spec("(mixup_alpha: 0.0, cutmix_alpha: 1.0, correct_lam: false, mode: Elem)"),
        1,
        10,
    );
    let draws = raw.draws(0, 0, 64, 28, 28);
    assert!(
        draws
            .iter()
            .any(|d| (d.lam - d.cut.unwrap().lam(28, 28)).abs() > 1e-3)
    );
}

#[test]
fn beta_draws_have_the_beta_moments() {
    for alpha in [0.2, 1.0, 4.0] {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let n = 40_000;
        let xs: Vec<f64> = (0..n).map(|_| beta(&mut rng, alpha)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        // Beta(α, α): mean 1/2, variance 1 / (4·(2α + 1)).
        let want = 1.0 / (4.0 * (2.0 * alpha + 1.0));
        assert!((mean - 0.5).abs() < 0.01, "α {alpha}: mean {mean}");
        assert!(
            (var - want).abs() < 0.01 * want.max(0.1),
            "α {alpha}: var {var} vs {want}"
        );
        assert!(xs.iter().all(|x| (0.0..=1.0).contains(x)));
    }
}
