//! The schedules against `torch.optim.lr_scheduler`: learning rates produced by
//! `tests/reference/schedule_reference.py` (PyTorch 2.13) with base lr 0.1.
// The tables are PyTorch float64 output, printed with all its digits.
#![allow(clippy::excessive_precision)]

use std::collections::BTreeMap;

use ronin_spec::{Anneal, Interval, Mode, ScheduleSpec, WarmupSpec};

use super::*;

const STEP_LR: [f64; 12] = [
    1.00000000000000006e-01,
    1.00000000000000006e-01,
    1.00000000000000006e-01,
    5.00000000000000028e-02,
    5.00000000000000028e-02,
    5.00000000000000028e-02,
    2.50000000000000014e-02,
    2.50000000000000014e-02,
    2.50000000000000014e-02,
    1.25000000000000007e-02,
    1.25000000000000007e-02,
    1.25000000000000007e-02,
];
const MULTI_STEP_LR: [f64; 12] = [
    1.00000000000000006e-01,
    1.00000000000000006e-01,
    1.00000000000000019e-02,
    1.00000000000000019e-02,
    1.00000000000000019e-02,
    1.00000000000000024e-03,
    1.00000000000000024e-03,
    1.00000000000000024e-03,
    1.00000000000000024e-03,
    1.00000000000000032e-04,
    1.00000000000000032e-04,
    1.00000000000000032e-04,
];
const EXPONENTIAL_LR: [f64; 12] = [
    1.00000000000000006e-01,
    8.00000000000000155e-02,
    6.40000000000000152e-02,
    5.12000000000000163e-02,
    4.09600000000000172e-02,
    3.27680000000000124e-02,
    2.62144000000000127e-02,
    2.09715200000000108e-02,
    1.67772160000000080e-02,
    1.34217728000000074e-02,
    1.07374182400000063e-02,
    8.58993459200000503e-03,
];
const COSINE_LR: [f64; 12] = [
    1.00000000000000006e-01,
    9.75772975566101125e-02,
    9.05463412215598978e-02,
    7.95953699884774241e-02,
    6.57963412215599036e-02,
    5.05000000000000032e-02,
    3.52036587784401098e-02,
    2.14046300115225893e-02,
    1.04536587784401086e-02,
    3.42270244338990044e-03,
    1.00000000000000002e-03,
    3.42270244338990044e-03,
];
const WARM_RESTARTS: [f64; 12] = [
    1.00000000000000006e-01,
    7.74999999999999994e-02,
    3.25000000000000150e-02,
    1.00000000000000006e-01,
    9.39711431702997535e-02,
    7.74999999999999994e-02,
    5.50000000000000072e-02,
    3.25000000000000150e-02,
    1.60288568297002609e-02,
    1.00000000000000006e-01,
    9.84666621830080774e-02,
    9.39711431702997535e-02,
];
const LINEAR_LR: [f64; 12] = [
    2.50000000000000014e-02,
    4.37500000000000042e-02,
    6.25000000000000139e-02,
    8.12500000000000167e-02,
    1.00000000000000019e-01,
    1.00000000000000019e-01,
    1.00000000000000019e-01,
    1.00000000000000019e-01,
    1.00000000000000019e-01,
    1.00000000000000019e-01,
    1.00000000000000019e-01,
    1.00000000000000019e-01,
];
const ONE_CYCLE: [f64; 40] = [
    2.00000000000000178e-02,
    2.97216863325206471e-02,
    5.80991521205165284e-02,
    1.02833423853131545e-01,
    1.60300396879547224e-01,
    2.25844438814411519e-01,
    2.94155561185588388e-01,
    3.59699603120452682e-01,
    4.17166576146868417e-01,
    4.61900847879483489e-01,
    4.90278313667479315e-01,
    5.00000000000000000e-01,
    4.98428058761100801e-01,
    4.93732003117543672e-01,
    4.85970888693761593e-01,
    4.75242316006736831e-01,
    4.61681203082871805e-01,
    4.45458088785525008e-01,
    4.26776988189855655e-01,
    4.05872826974881529e-01,
    3.83008487096757611e-01,
    3.58471500895650386e-01,
    3.32570435209729842e-01,
    3.05631010968144656e-01,
    2.77992007061350854e-01,
    2.50000999999999973e-01,
    2.22009992938649148e-01,
    1.94370989031855373e-01,
    1.67431564790270271e-01,
    1.41530499104349616e-01,
    1.16993512903242405e-01,
    9.41291730251184872e-02,
    7.32250118101443193e-02,
    5.45439112144750216e-02,
    3.83207969171281970e-02,
    2.47596839932631430e-02,
    1.40311113062384155e-02,
    6.26999688245627722e-03,
    1.57394123889924233e-03,
    1.99999999999999991e-06,
];
const ONE_CYCLE_LINEAR_THREE_PHASE: [f64; 40] = [
    2.00000000000000004e-02,
    6.36363636363636298e-02,
    1.07272727272727270e-01,
    1.50909090909090882e-01,
    1.94545454545454521e-01,
    2.38181818181818161e-01,
    2.81818181818181801e-01,
    3.25454545454545441e-01,
    3.69090909090909081e-01,
    4.12727272727272776e-01,
    4.56363636363636360e-01,
    5.00000000000000000e-01,
    4.56363636363636360e-01,
    4.12727272727272720e-01,
    3.69090909090909136e-01,
    3.25454545454545441e-01,
    2.81818181818181857e-01,
    2.38181818181818217e-01,
    1.94545454545454577e-01,
    1.50909090909090937e-01,
    1.07272727272727242e-01,
    6.36363636363636576e-02,
    2.00000000000000178e-02,
    1.88236470588235283e-02,
    1.76472941176470596e-02,
    1.64709411764705875e-02,
    1.52945882352941188e-02,
    1.41182352941176467e-02,
    1.29418823529411746e-02,
    1.17655294117647059e-02,
    1.05891764705882355e-02,
    9.41282352941176341e-03,
    8.23647058823529302e-03,
    7.06011764705882262e-03,
    5.88376470588235050e-03,
    4.70741176470588184e-03,
    3.53105882352941144e-03,
    2.35470588235293932e-03,
    1.17835294117647066e-03,
    1.99999999999853073e-06,
];
const PLATEAU_LOSSES: [f64; 12] = [
    1.0, 0.9, 0.8, 0.8, 0.8, 0.8, 0.79999, 0.8, 0.8, 0.8, 0.7, 0.7,
];
const PLATEAU: [f64; 12] = [
    1.00000000000000006e-01,
    1.00000000000000006e-01,
    1.00000000000000006e-01,
    1.00000000000000006e-01,
    1.00000000000000006e-01,
    1.00000000000000006e-01,
    5.00000000000000028e-02,
    5.00000000000000028e-02,
    5.00000000000000028e-02,
    5.00000000000000028e-02,
    2.50000000000000014e-02,
    2.50000000000000014e-02,
];

fn epochs_of(spec: ScheduleSpec, expected: &[f64]) {
    let s = LrSchedule::new(0.1, Some(&spec), None, &[], 100, 10);
    for (e, want) in expected.iter().enumerate() {
        let got = s.lr(e, e * 10);
        assert!(
            (got - want).abs() < 1e-12,
            "{spec:?} epoch {e}: {got} vs PyTorch {want}"
        );
    }
}

#[test]
fn epoch_schedules_match_pytorch() {
    let i = Interval::Epoch;
    epochs_of(
        ScheduleSpec::StepLR {
            step_size: 3,
            gamma: 0.5,
            interval: i,
        },
        &STEP_LR,
    );
    epochs_of(
        ScheduleSpec::MultiStepLR {
            milestones: vec![2, 5, 9],
            gamma: 0.1,
            interval: i,
        },
        &MULTI_STEP_LR,
    );
    epochs_of(
        ScheduleSpec::ExponentialLR {
            gamma: 0.8,
            interval: i,
        },
        &EXPONENTIAL_LR,
    );
    epochs_of(
        ScheduleSpec::CosineAnnealingLR {
            t_max: Some(10),
            eta_min: 0.001,
            interval: i,
        },
        &COSINE_LR,
    );
    epochs_of(
        ScheduleSpec::CosineAnnealingWarmRestarts {
            t_0: 3,
            t_mult: 2,
            eta_min: 0.01,
            interval: i,
        },
        &WARM_RESTARTS,
    );
    epochs_of(
        ScheduleSpec::LinearLR {
            start_factor: 0.25,
            end_factor: 1.0,
            total_iters: 4,
            interval: i,
        },
        &LINEAR_LR,
    );
}

#[test]
fn one_cycle_matches_pytorch_per_step() {
    for (spec, expected) in [
        (
            ScheduleSpec::OneCycleLR {
                max_lr: 0.5,
                pct_start: 0.3,
                anneal_strategy: Anneal::Cos,
                div_factor: 25.0,
                final_div_factor: 1e4,
                three_phase: false,
            },
            &ONE_CYCLE,
        ),
        (
            ScheduleSpec::OneCycleLR {
                max_lr: 0.5,
                pct_start: 0.3,
                anneal_strategy: Anneal::Linear,
                div_factor: 25.0,
                final_div_factor: 1e4,
                three_phase: true,
            },
            &ONE_CYCLE_LINEAR_THREE_PHASE,
        ),
    ] {
        // 4 epochs of 10 batches = PyTorch's total_steps=40.
        let s = LrSchedule::new(0.1, Some(&spec), None, &[], 4, 10);
        for (step, want) in expected.iter().enumerate() {
            let got = s.lr(step / 10, step);
            assert!(
                (got - want).abs() < 1e-12,
                "{spec:?} step {step}: {got} vs PyTorch {want}"
            );
        }
    }
}

#[test]
fn plateau_matches_pytorch() {
    let spec = ScheduleSpec::ReduceLROnPlateau {
        monitor: "val_loss".into(),
        mode: Mode::Min,
        factor: 0.5,
        patience: 2,
        min_delta: 1e-4,
        cooldown: 1,
        min_lr: 0.0,
    };
    let mut s = LrSchedule::new(0.1, Some(&spec), None, &[], 100, 10);
    for (e, (loss, want)) in PLATEAU_LOSSES.iter().zip(PLATEAU).enumerate() {
        let got = s.lr(e, e * 10);
        assert!((got - want).abs() < 1e-12, "epoch {e}: {got} vs {want}");
        s.epoch_end(&BTreeMap::from([("val_loss".to_owned(), *loss)]));
    }
}

#[test]
fn keras_plateau_reduces_after_patience_epochs() {
    // Keras counts `patience` bad epochs, PyTorch `patience + 1`.
    let cb = ronin_spec::CallbackSpec::ReduceLROnPlateau {
        monitor: "val_loss".into(),
        factor: 0.5,
        patience: 2,
        mode: Mode::Auto,
        min_delta: 0.0,
        cooldown: 0,
        min_lr: 0.01,
    };
    let mut s = LrSchedule::new(0.1, None, None, &[cb], 100, 10);
    let mut lrs = Vec::new();
    for loss in [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0] {
        lrs.push(s.lr(0, 0));
        s.epoch_end(&BTreeMap::from([("val_loss".to_owned(), loss)]));
    }
    // Epoch 1 sets the best; epochs 2 and 3 are bad → reduced before epoch 4; then min_lr.
    assert_eq!(lrs, [0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125]);
    lrs.clear();
    for _ in 0..4 {
        s.epoch_end(&BTreeMap::from([("val_loss".to_owned(), 1.0)]));
        lrs.push(s.lr(0, 0));
    }
    assert!(lrs.iter().all(|lr| (*lr - 0.01).abs() < 1e-15), "{lrs:?}");
}

#[test]
fn warmup_ramps_then_hands_over_to_the_schedule() {
    let cosine = ScheduleSpec::CosineAnnealingLR {
        t_max: None,
        eta_min: 0.0,
        interval: Interval::Epoch,
    };
    let warm = WarmupSpec {
        epochs: 2,
        steps: 0,
        start_factor: 0.0,
    };
    let s = LrSchedule::new(0.1, Some(&cosine), Some(&warm), &[], 10, 5);
    let got: Vec<f64> = (0..10).map(|e| s.lr(e, e * 5)).collect();
    assert_eq!(got[0], 0.0);
    assert!((got[1] - 0.05).abs() < 1e-15);
    // The cosine starts at the base lr after the warm-up and spans the 8 remaining epochs.
    assert!((got[2] - 0.1).abs() < 1e-15);
    let mid = 0.1 * (1.0 + (std::f64::consts::PI * 4.0 / 8.0).cos()) / 2.0;
    assert!((got[6] - mid).abs() < 1e-15, "{got:?}");
    // Step warm-up: linear over the first 20 batches.
    let warm = WarmupSpec {
        epochs: 0,
        steps: 20,
        start_factor: 0.5,
    };
    let s = LrSchedule::new(0.1, None, Some(&warm), &[], 10, 5);
    assert!((s.lr(0, 10) - 0.075).abs() < 1e-15);
    assert!((s.lr(4, 20) - 0.1).abs() < 1e-15);
}
