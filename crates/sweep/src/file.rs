//! The sweep file: a base pipeline, the fields to vary and their domains, the metric,
//! the strategy and the budget, in RON.
//!
//! ```ron
//! (
//!     base: "fashion_cnn.ron",               // relative to the sweep file
//!     set: {"epochs": "3"},                  // fixed for every trial, as `--set`
//!     params: [
//!         (path: "optimizer.lr", domain: LogUniform(low: 1e-4, high: 1e-2)),
//!         (path: "data.batch_size", domain: Choice([32, 64, 128])),
//!         (path: "optimizer", domain: Choice(["Adam(lr: 0.001)", "Sgd(lr: 0.05, momentum: 0.9)"])),
//!     ],
//!     metric: "val_accuracy",
//!     strategy: Tpe(trials: 20),
//! )
//! ```
//!
//! A choice written as a string is RON text for the field (a whole sub-tree such as an
//! optimizer); a string field is written with its quotes inside: `"\"val_loss\""`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::strategy::Param;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepFile {
    /// The pipeline every trial starts from, relative to the sweep file.
    pub base: String,
    /// Values every trial sets (`PATH: RON text`), as `ronin train --set`.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    pub params: Vec<Param>,
    /// What is optimised: a metric of the epochs (`val_accuracy`, `val_loss`, …; its best
    /// value over the trial's epochs) or of the test split (`test_accuracy`).
    pub metric: String,
    #[serde(default)]
    pub mode: Goal,
    pub strategy: StrategySpec,
    /// Stops weak trials early from their epoch metrics (`Asha()`).
    #[serde(default)]
    pub pruner: Option<crate::prune::Pruner>,
    /// Seed of the random and TPE strategies.
    #[serde(default)]
    pub seed: u64,
    /// Start no trial after this many minutes.
    #[serde(default)]
    pub minutes: Option<f64>,
}

/// Whether the metric is maximised or minimised; `Auto` leaves it to the metric's name,
/// by the pipeline language's rule for monitors (the CLI resolves it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Goal {
    #[default]
    Auto,
    Max,
    Min,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum StrategySpec {
    /// Every combination (`grid_points` values of each float range).
    Grid {
        /// At most this many of them, in order.
        #[serde(default)]
        trials: Option<usize>,
    },
    /// `trials` seeded random draws.
    Random { trials: usize },
    /// Bayesian search with TPE after `startup` random trials.
    Tpe {
        trials: usize,
        #[serde(default = "default_startup")]
        startup: usize,
    },
}

fn default_startup() -> usize {
    10
}

/// Parses a sweep file's text.
pub fn parse_sweep(text: &str) -> Result<SweepFile, ron::error::SpannedError> {
    ron::Options::default()
        .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
        .from_str(text)
}

/// A trial's value as the RON text `--set` takes: numbers and booleans as written,
/// strings as RON text of their own, lists element by element.
pub fn value_to_ron(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(value_to_ron).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k:?}: {}", value_to_ron(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
        Value::Null => "None".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_file_parses_with_defaults() {
        let f = parse_sweep(
            r#"(base: "b.ron", params: [(path: "optimizer.lr", domain: LogUniform(low: 1e-4, high: 1e-2)),
                (path: "optimizer", domain: Choice(["Sgd(lr: 0.1)", 3, true]))],
                metric: "val_loss", strategy: Tpe(trials: 5))"#,
        )
        .unwrap();
        assert_eq!(
            f.strategy,
            StrategySpec::Tpe {
                trials: 5,
                startup: 10
            }
        );
        assert_eq!(f.mode, Goal::Auto);
        let Domain::Choice(c) = &f.params[1].domain else {
            panic!("{:?}", f.params[1].domain)
        };
        let texts: Vec<String> = c.iter().map(value_to_ron).collect();
        assert_eq!(texts, ["Sgd(lr: 0.1)", "3", "true"]);
        assert!(parse_sweep("(base: \"b.ron\", bogus: 1)").is_err());
    }

    use crate::Domain;
}
