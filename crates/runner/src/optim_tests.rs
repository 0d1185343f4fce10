//! The optimizers against `torch.optim`: trajectories produced by
//! `tests/reference/optim_reference.py` (PyTorch 2.13, float64) on the same problem.
// The tables are PyTorch float64 output, printed with all its digits.
#![allow(clippy::excessive_precision)]

use ronin_spec::OptimizerSpec;
use tch::{Kind, Tensor};

use super::*;

const SGD_MOMENTUM_DAMPENING: [[f64; 4]; 6] = [
    [
        8.950000000000000e-01,
        -7.659999999999999e-01,
        3.490000000000000e-01,
        2.289000000000000e+00,
    ],
    [
        7.260135974500000e-01,
        9.826674383456000e-01,
        9.122286922360003e-02,
        1.447804151151600e+00,
    ],
    [
        5.312123321388381e-01,
        2.558407420257720e+00,
        -2.390714401243059e-01,
        9.766853574994174e-01,
    ],
    [
        3.492552389793612e-01,
        3.352958839308722e+00,
        -6.045555336366484e-01,
        1.101035306519951e+00,
    ],
    [
        2.121602156281343e-01,
        3.082269984307984e+00,
        -9.677416730563545e-01,
        1.692595121218500e+00,
    ],
    [
        1.403605325174171e-01,
        1.980840835850060e+00,
        -1.293378752752775e+00,
        2.372017569198591e+00,
    ],
];
const SGD_NESTEROV: [[f64; 4]; 6] = [
    [
        9.012000000000000e-01,
        -8.295999999999999e-01,
        3.570250000000000e-01,
        2.327400000000000e+00,
    ],
    [
        7.800707044190336e-01,
        3.667776507296771e-01,
        1.669821913610913e-01,
        1.806135252503669e+00,
    ],
    [
        6.534625723247230e-01,
        1.353598803737112e+00,
        -5.378929635703159e-02,
        1.536201570732565e+00,
    ],
    [
        5.353578125275236e-01,
        1.984054692042371e+00,
        -2.898504814002809e-01,
        1.502112027618602e+00,
    ],
    [
        4.360763791195613e-01,
        2.215957504823893e+00,
        -5.270980157481170e-01,
        1.623648307318658e+00,
    ],
    [
        3.620118516299658e-01,
        2.112445075895574e+00,
        -7.530770986789171e-01,
        1.802957165579574e+00,
    ],
];
const ADAM_AMSGRAD: [[f64; 4]; 6] = [
    [
        9.000000008771930e-01,
        -1.900000000079872e+00,
        4.000000006430868e-01,
        2.900000000135501e+00,
    ],
    [
        8.011261884833238e-01,
        -1.800113774143150e+00,
        3.002656951827256e-01,
        2.800393958296075e+00,
    ],
    [
        7.045715888802881e-01,
        -1.700421382281888e+00,
        2.010022619813752e-01,
        2.701505354306339e+00,
    ],
    [
        6.119903373888813e-01,
        -1.601005954159900e+00,
        1.024389835566042e-01,
        2.603710536063399e+00,
    ],
    [
        5.255591063245345e-01,
        -1.501953601271554e+00,
        4.831839471384713e-03,
        2.507443981385129e+00,
    ],
    [
        4.478996133611254e-01,
        -1.403353313970833e+00,
        -9.153392616655180e-02,
        2.413202198035893e+00,
    ],
];
const ADAMW: [[f64; 4]; 6] = [
    [
        8.500000009615384e-01,
        -1.800000000081169e+00,
        3.750000006644518e-01,
        2.750000000141243e+00,
    ],
    [
        7.099781849103176e-01,
        -1.610264084652045e+00,
        2.565794180362616e-01,
        2.514204563562355e+00,
    ],
    [
        5.824497101094386e-01,
        -1.430454318222994e+00,
        1.446396016345462e-01,
        2.293698587657283e+00,
    ],
    [
        4.711204651618693e-01,
        -1.260248399580908e+00,
        3.909465443849729e-02,
        2.090171199572980e+00,
    ],
    [
        3.803011152420621e-01,
        -1.099338223147685e+00,
        -6.012997833184595e-02,
        1.905890682525522e+00,
    ],
    [
        3.132314980700063e-01,
        -9.474284086875135e-01,
        -1.530994652186533e-01,
        1.743390239583533e+00,
    ],
];
const RMSPROP_CENTERED_MOMENTUM: [[f64; 4]; 6] = [
    [
        9.666666677248676e-01,
        -1.966666666756708e+00,
        4.666666674025018e-01,
        2.966666666822941e+00,
    ],
    [
        9.253728843354941e-01,
        -1.924657066824076e+00,
        4.247915152405529e-01,
        2.924921562016864e+00,
    ],
    [
        8.840655314140651e-01,
        -1.881457249190127e+00,
        3.819390992776668e-01,
        2.882408979079410e+00,
    ],
    [
        8.451493972809310e-01,
        -1.839248733538329e+00,
        3.403204880700649e-01,
        2.841374162876657e+00,
    ],
    [
        8.090877028090954e-01,
        -1.798380114310542e+00,
        3.002919496993136e-01,
        2.802186864583696e+00,
    ],
    [
        7.757187893807828e-01,
        -1.758599196035593e+00,
        2.616041194034373e-01,
        2.764606689296451e+00,
    ],
];
const RMSPROP_PLAIN: [[f64; 4]; 6] = [
    [
        9.000000096153837e-01,
        -1.900000000811688e+00,
        4.000000066445178e-01,
        2.900000001412429e+00,
    ],
    [
        8.374693477236066e-01,
        -1.830422943355641e+00,
        3.316397587893059e-01,
        2.832897357414491e+00,
    ],
    [
        7.906832370278346e-01,
        -1.774125524994110e+00,
        2.769632511297937e-01,
        2.779908485063659e+00,
    ],
    [
        7.531676796387355e-01,
        -1.725683887780873e+00,
        2.303599027298291e-01,
        2.735231663672544e+00,
    ],
    [
        7.219754739416486e-01,
        -1.682575311395489e+00,
        1.892350243144549e-01,
        2.696196950899881e+00,
    ],
    [
        6.954678947290573e-01,
        -1.643387536562487e+00,
        1.521409833482023e-01,
        2.661318603495887e+00,
    ],
];
const ADAGRAD: [[f64; 4]; 6] = [
    [
        5.212412098267283e-01,
        -1.500164095194178e+00,
        1.061646980844533e-02,
        2.500493806804152e+00,
    ],
    [
        4.991493048279354e-01,
        -1.211460323010977e+00,
        -2.384778693148100e-01,
        2.292916118258619e+00,
    ],
    [
        4.960128175502746e-01,
        -1.008233220153027e+00,
        -3.969722775991757e-01,
        2.179518493532578e+00,
    ],
    [
        4.953587463817857e-01,
        -8.528669806095548e-01,
        -5.071980225498380e-01,
        2.110652520526513e+00,
    ],
    [
        4.951853232963846e-01,
        -7.283430958966908e-01,
        -5.878452868210391e-01,
        2.066154613323329e+00,
    ],
    [
        4.951308425220025e-01,
        -6.253595264348053e-01,
        -6.489050991863734e-01,
        2.036124399853742e+00,
    ],
];

/// Six steps on `Σ w (x − c)² + 0.01 Σ x⁴`, as the reference script does.
fn trajectory(spec: OptimizerSpec) -> Vec<Vec<f64>> {
    let x = Tensor::from_slice(&[1.0f64, -2.0, 0.5, 3.0]).set_requires_grad(true);
    let c = Tensor::from_slice(&[0.5f64, 1.0, -1.0, 2.0]);
    let w = Tensor::from_slice(&[1.0f64, 2.0, 0.5, 3.0]);
    let mut opt = Optimizer::new(&spec, vec![ParamRef::new("x", x.shallow_clone())]).unwrap();
    (0..6)
        .map(|_| {
            opt.zero_grad();
            let loss = (&w * (&x - &c).square()).sum(Kind::Double)
                + x.pow_tensor_scalar(4).sum(Kind::Double) * 0.01;
            loss.backward();
            opt.step().unwrap();
            Vec::<f64>::try_from(&x.detach()).unwrap()
        })
        .collect()
}

fn assert_matches(name: &str, spec: OptimizerSpec, expected: &[[f64; 4]; 6]) {
    let got = trajectory(spec);
    for (step, (g, e)) in got.iter().zip(expected).enumerate() {
        for (a, b) in g.iter().zip(e) {
            assert!(
                (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                "{name}, step {}: {g:?} vs PyTorch {e:?}",
                step + 1
            );
        }
    }
}

#[test]
fn sgd_matches_pytorch() {
    assert_matches(
        "sgd momentum+dampening",
        OptimizerSpec::Sgd {
            lr: 0.1,
            momentum: 0.9,
            dampening: 0.1,
            nesterov: false,
            weight_decay: 0.01,
        },
        &SGD_MOMENTUM_DAMPENING,
    );
    assert_matches(
        "sgd nesterov",
        OptimizerSpec::Sgd {
            lr: 0.05,
            momentum: 0.9,
            dampening: 0.0,
            nesterov: true,
            weight_decay: 0.0,
        },
        &SGD_NESTEROV,
    );
}

#[test]
fn adam_and_adamw_match_pytorch() {
    assert_matches(
        "adam amsgrad",
        OptimizerSpec::Adam {
            lr: 0.1,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.1,
            amsgrad: true,
        },
        &ADAM_AMSGRAD,
    );
    assert_matches(
        "adamw",
        OptimizerSpec::AdamW {
            lr: 0.1,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.5,
            amsgrad: false,
        },
        &ADAMW,
    );
}

#[test]
fn rmsprop_matches_pytorch() {
    assert_matches(
        "rmsprop centered momentum",
        OptimizerSpec::RmsProp {
            lr: 0.01,
            alpha: 0.9,
            eps: 1e-8,
            weight_decay: 0.01,
            momentum: 0.5,
            centered: true,
        },
        &RMSPROP_CENTERED_MOMENTUM,
    );
    assert_matches(
        "rmsprop",
        OptimizerSpec::RmsProp {
            lr: 0.01,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
        },
        &RMSPROP_PLAIN,
    );
}

#[test]
fn adagrad_matches_pytorch() {
    assert_matches(
        "adagrad",
        OptimizerSpec::Adagrad {
            lr: 0.5,
            lr_decay: 0.1,
            weight_decay: 0.01,
            initial_accumulator_value: 0.1,
            eps: 1e-10,
        },
        &ADAGRAD,
    );
}

#[test]
fn saved_state_continues_the_same_trajectory() {
    // Three steps, save, a new optimizer restores, three more steps: same as six in a row.
    let spec = OptimizerSpec::Adam {
        lr: 0.1,
        betas: (0.9, 0.999),
        eps: 1e-8,
        weight_decay: 0.1,
        amsgrad: true,
    };
    let x = Tensor::from_slice(&[1.0f64, -2.0, 0.5, 3.0]).set_requires_grad(true);
    let c = Tensor::from_slice(&[0.5f64, 1.0, -1.0, 2.0]);
    let w = Tensor::from_slice(&[1.0f64, 2.0, 0.5, 3.0]);
    let step = |opt: &mut Optimizer| {
        opt.zero_grad();
        let loss = (&w * (&x - &c).square()).sum(Kind::Double)
            + x.pow_tensor_scalar(4).sum(Kind::Double) * 0.01;
        loss.backward();
        opt.step().unwrap();
    };
    let mut first = Optimizer::new(&spec, vec![ParamRef::new("x", x.shallow_clone())]).unwrap();
    for _ in 0..3 {
        step(&mut first);
    }
    let saved: std::collections::BTreeMap<String, Tensor> = first
        .state_tensors()
        .into_iter()
        .map(|(n, t)| (n, t.copy()))
        .collect();
    let mut second = Optimizer::new(&spec, vec![ParamRef::new("x", x.shallow_clone())]).unwrap();
    second.load_state(&saved, first.steps()).unwrap();
    for _ in 0..3 {
        step(&mut second);
    }
    let got = Vec::<f64>::try_from(&x.detach()).unwrap();
    for (a, b) in got.iter().zip(&ADAM_AMSGRAD[5]) {
        assert!((a - b).abs() < 1e-9, "{got:?} vs {:?}", ADAM_AMSGRAD[5]);
    }
}

#[test]
fn clipping_bounds_the_gradient() {
    let x = Tensor::from_slice(&[3.0f32, 4.0]).set_requires_grad(true);
    let params = vec![ParamRef::new("x", x.shallow_clone())];
    (&x * &x).sum(Kind::Float).backward(); // grad (6, 8), norm 10
    clip_grad_norm(&params, 1.0).unwrap();
    let g = Vec::<f32>::try_from(&x.grad()).unwrap();
    assert!(
        (g[0] - 0.6).abs() < 1e-5 && (g[1] - 0.8).abs() < 1e-5,
        "{g:?}"
    );
    clip_grad_value(&params, 0.7).unwrap();
    let g = Vec::<f32>::try_from(&x.grad()).unwrap();
    assert!(
        (g[0] - 0.6).abs() < 1e-5 && (g[1] - 0.7).abs() < 1e-6,
        "{g:?}"
    );
}
