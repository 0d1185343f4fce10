//! Bayesian search with the Tree-structured Parzen Estimator (Bergstra et al., 2011), the
//! sampler Optuna and Hyperopt default to: past trials are split into the best quarter
//! and the rest; each parameter gets a Parzen density for each group, and the next value
//! is the candidate, drawn from the good density, that maximises good / bad.
//!
//! Univariate (each parameter on its own), as Hyperopt and Optuna's default. Floats are
//! modelled in their own space (log space for `LogUniform`), integers as floats rounded
//! onto their steps, choices as smoothed category frequencies.

use std::collections::BTreeMap;

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::domain::Domain;
use crate::error::SweepError;
use crate::strategy::{Param, validate};

/// A finished trial as TPE sees it: its values and a score, higher is better.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub values: BTreeMap<String, Value>,
    pub score: f64,
}

/// TPE's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TpeOptions {
    /// Trials drawn at random before the model is used.
    pub startup: usize,
    /// Candidates drawn from the good density for each parameter.
    pub candidates: usize,
    /// Share of past trials counted as good (Optuna: 10 %).
    pub gamma: f64,
}

impl Default for TpeOptions {
    fn default() -> Self {
        TpeOptions {
            startup: 10,
            candidates: 24,
            gamma: 0.1,
        }
    }
}

/// The values of the next trial, given the finished ones. Deterministic for the same
/// history and `seed`; non-finite scores count as the worst.
pub fn suggest(
    params: &[Param],
    history: &[Observation],
    options: TpeOptions,
    seed: u64,
) -> Result<BTreeMap<String, Value>, SweepError> {
    validate(params)?;
    let mut rng =
        ChaCha8Rng::seed_from_u64(seed ^ (history.len() as u64).wrapping_mul(0x9E37_79B9));
    if history.len() < options.startup.max(2) {
        return Ok(params
            .iter()
            .map(|p| (p.path.clone(), p.domain.sample(&mut rng)))
            .collect());
    }
    let mut ranked: Vec<&Observation> = history.iter().collect();
    let score = |o: &Observation| {
        if o.score.is_finite() {
            o.score
        } else {
            f64::NEG_INFINITY
        }
    };
    ranked.sort_by(|a, b| score(b).total_cmp(&score(a)));
    let n_good = ((options.gamma * ranked.len() as f64).ceil() as usize).clamp(1, ranked.len() - 1);
    let (good, bad) = ranked.split_at(n_good);
    Ok(params
        .iter()
        .map(|p| {
            let of = |group: &[&Observation]| -> Vec<Value> {
                group
                    .iter()
                    .filter_map(|o| o.values.get(&p.path).cloned())
                    .collect()
            };
            let value = suggest_one(&p.domain, &of(good), &of(bad), options.candidates, &mut rng);
            (p.path.clone(), value)
        })
        .collect())
}

fn suggest_one(
    domain: &Domain,
    good: &[Value],
    bad: &[Value],
    candidates: usize,
    rng: &mut ChaCha8Rng,
) -> Value {
    match domain {
        Domain::Choice(options) => {
            let index = |v: &Value| options.iter().position(|o| o == v);
            let weights = |group: &[Value]| -> Vec<f64> {
                let mut w = vec![1.0; options.len()];
                for v in group {
                    if let Some(i) = index(v) {
                        w[i] += 1.0;
                    }
                }
                let total: f64 = w.iter().sum();
                w.into_iter().map(|x| x / total).collect()
            };
            let (l, g) = (weights(good), weights(bad));
            let best = (0..candidates.max(1))
                .map(|_| pick(&l, rng))
                .max_by(|&a, &b| (l[a] / g[a]).total_cmp(&(l[b] / g[b])))
                .unwrap_or(0);
            options[best].clone()
        }
        _ => {
            let Some((low, high)) = internal_bounds(domain) else {
                return domain.sample(rng);
            };
            let to_internal = |v: &Value| v.as_f64().map(|x| internal(domain, x));
            let l = Parzen::new(good.iter().filter_map(to_internal).collect(), low, high);
            let g = Parzen::new(bad.iter().filter_map(to_internal).collect(), low, high);
            let best = (0..candidates.max(1))
                .map(|_| l.sample(rng))
                .max_by(|&a, &b| {
                    (l.log_pdf(a) - g.log_pdf(a)).total_cmp(&(l.log_pdf(b) - g.log_pdf(b)))
                })
                .unwrap_or((low + high) / 2.0);
            external(domain, best)
        }
    }
}

fn pick(weights: &[f64], rng: &mut ChaCha8Rng) -> usize {
    let mut u: f64 = rng.random();
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    weights.len().saturating_sub(1)
}

/// The domain's range in the space TPE models it in.
fn internal_bounds(domain: &Domain) -> Option<(f64, f64)> {
    match *domain {
        Domain::Uniform { low, high, .. } => Some((low, high)),
        Domain::LogUniform { low, high, .. } => Some((low.ln(), high.ln())),
        // Half a step beyond each end so that the end values are as likely as the others.
        Domain::IntRange { low, high, step } => Some((
            low as f64 - step as f64 / 2.0,
            high as f64 + step as f64 / 2.0,
        )),
        Domain::Choice(_) => None,
    }
}

fn internal(domain: &Domain, x: f64) -> f64 {
    match domain {
        Domain::LogUniform { .. } => x.ln(),
        _ => x,
    }
}

fn external(domain: &Domain, t: f64) -> Value {
    match *domain {
        Domain::Uniform { low, high, .. } => Value::from(t.clamp(low, high)),
        Domain::LogUniform { low, high, .. } => Value::from(t.exp().clamp(low, high)),
        Domain::IntRange { low, high, step } => {
            let k = ((t - low as f64) / step as f64).round().max(0.0);
            let top = (high - low) / step;
            Value::from(low + (k as i64).min(top) * step)
        }
        Domain::Choice(_) => Value::Null,
    }
}

/// A mixture of Gaussians, one per observation plus a wide prior, truncated to the range.
struct Parzen {
    means: Vec<f64>,
    sigmas: Vec<f64>,
    low: f64,
    high: f64,
}

impl Parzen {
    fn new(points: Vec<f64>, low: f64, high: f64) -> Self {
        let range = (high - low).max(f64::MIN_POSITIVE);
        let mut means = points;
        means.push((low + high) / 2.0); // the prior
        let mut sorted = means.clone();
        sorted.sort_by(f64::total_cmp);
        let n = means.len();
        // Bandwidth: the larger gap to a neighbour (Hyperopt's rule), kept between
        // range / min(100, n + 1) and the range.
        let min_sigma = range / (n as f64 + 1.0).min(100.0);
        let sigmas = means
            .iter()
            .enumerate()
            .map(|(i, m)| {
                if i == n - 1 {
                    return range; // the prior is wide
                }
                let pos = sorted.partition_point(|x| x < m);
                let left = if pos == 0 {
                    m - low
                } else {
                    m - sorted[pos - 1]
                };
                let right = sorted.get(pos + 1).map_or(high - m, |r| r - m);
                left.max(right).clamp(min_sigma, range)
            })
            .collect();
        Parzen {
            means,
            sigmas,
            low,
            high,
        }
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> f64 {
        let i = rng.random_range(0..self.means.len());
        for _ in 0..64 {
            // Box–Muller.
            let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-300), rng.random());
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            let x = self.means[i] + self.sigmas[i] * z;
            if (self.low..=self.high).contains(&x) {
                return x;
            }
        }
        self.means[i].clamp(self.low, self.high)
    }

    fn log_pdf(&self, x: f64) -> f64 {
        let sqrt2 = std::f64::consts::SQRT_2;
        let density: f64 = self
            .means
            .iter()
            .zip(&self.sigmas)
            .map(|(m, s)| {
                // Each kernel renormalised to its mass inside [low, high].
                let mass =
                    0.5 * (erf((self.high - m) / (s * sqrt2)) - erf((self.low - m) / (s * sqrt2)));
                let z = (x - m) / s;
                (-0.5 * z * z).exp() / (s * (std::f64::consts::TAU).sqrt() * mass.max(1e-12))
            })
            .sum::<f64>()
            / self.means.len() as f64;
        density.max(1e-300).ln()
    }
}

/// The error function (Abramowitz and Stegun 7.1.26, |error| < 1.5e-7).
fn erf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let y = 1.0
        - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t
            + 0.254_829_592)
            * t
            * (-x * x).exp();
    if x >= 0.0 { y } else { -y }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::random;

    pub(super) fn space() -> Vec<Param> {
        vec![
            Param {
                path: "optimizer.lr".into(),
                domain: Domain::LogUniform {
                    low: 1e-5,
                    high: 1e-1,
                    grid_points: None,
                },
            },
            Param {
                path: "dropout".into(),
                domain: Domain::Uniform {
                    low: 0.0,
                    high: 1.0,
                    grid_points: None,
                },
            },
            Param {
                path: "units".into(),
                domain: Domain::IntRange {
                    low: 16,
                    high: 512,
                    step: 16,
                },
            },
            Param {
                path: "optimizer".into(),
                domain: Domain::Choice(vec!["sgd".into(), "adam".into(), "rmsprop".into()]),
            },
        ]
    }

    /// A known optimum: lr 1e-3, dropout 0.3, 256 units, adam; the score is at most 0.
    pub(super) fn objective(v: &BTreeMap<String, Value>) -> f64 {
        let lr = v["optimizer.lr"].as_f64().unwrap_or(1.0);
        let d = v["dropout"].as_f64().unwrap_or(1.0);
        let u = v["units"].as_f64().unwrap_or(0.0);
        let choice = if v["optimizer"] == "adam" { 0.0 } else { 0.5 };
        -((lr.log10() + 3.0).powi(2)
            + 4.0 * (d - 0.3).powi(2)
            + ((u - 256.0) / 128.0).powi(2)
            + choice)
    }

    fn best_of_tpe(trials: usize, seed: u64) -> f64 {
        let params = space();
        let mut history = Vec::new();
        for _ in 0..trials {
            let values = suggest(&params, &history, TpeOptions::default(), seed).unwrap();
            let score = objective(&values);
            history.push(Observation { values, score });
        }
        history.iter().map(|o| o.score).fold(f64::MIN, f64::max)
    }

    fn best_of_random(trials: usize, seed: u64) -> f64 {
        random(&space(), trials, seed)
            .unwrap()
            .iter()
            .map(|t| objective(&t.values))
            .fold(f64::MIN, f64::max)
    }

    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    }

    #[test]
    fn tpe_beats_random_search_in_the_median_over_20_seeds() {
        let tpe: Vec<f64> = (0..20).map(|s| best_of_tpe(40, s)).collect();
        let rnd: Vec<f64> = (0..20).map(|s| best_of_random(40, s)).collect();
        let (mt, mr) = (median(tpe.clone()), median(rnd.clone()));
        assert!(
            mt > mr,
            "TPE median best {mt} vs random {mr}\nTPE {tpe:?}\nrandom {rnd:?}"
        );
        let wins = tpe.iter().zip(&rnd).filter(|(a, b)| a > b).count();
        eprintln!(
            "median best of 40 trials over 20 seeds: TPE {mt:.4}, random {mr:.4}; TPE better on {wins} seeds"
        );
        assert!(
            wins >= 12,
            "TPE better on {wins} of 20 seeds; medians {mt} vs {mr}\nTPE {tpe:?}\nrandom {rnd:?}"
        );
    }

    #[test]
    fn suggestions_stay_in_their_domains_and_repeat_for_a_seed() {
        let params = space();
        let mut history = Vec::new();
        for i in 0..30 {
            let v = suggest(&params, &history, TpeOptions::default(), 7).unwrap();
            assert_eq!(
                v,
                suggest(&params, &history, TpeOptions::default(), 7).unwrap()
            );
            let lr = v["optimizer.lr"].as_f64().unwrap();
            assert!((1e-5..=1e-1).contains(&lr), "{lr}");
            let units = v["units"].as_i64().unwrap();
            assert!((16..=512).contains(&units) && units % 16 == 0, "{units}");
            assert!(["sgd", "adam", "rmsprop"].contains(&v["optimizer"].as_str().unwrap()));
            let score = if i % 5 == 0 { f64::NAN } else { objective(&v) };
            history.push(Observation { values: v, score });
        }
    }
}
