//! `run.ron`: what a run is, where it came from, and how it ended.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunStatus {
    Running,
    Completed,
    Failed,
    Stopped,
    Interrupted,
}

/// The git state of the repository a run was started from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct GitInfo {
    pub commit: Option<String>,
    /// Uncommitted changes existed when the run started.
    pub dirty: bool,
    /// sha256 of `git diff HEAD` when `dirty`: which uncommitted changes they were.
    #[serde(default)]
    pub diff_hash: Option<String>,
}

/// The best value a monitored metric reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Best {
    pub metric: String,
    pub value: f64,
    pub epoch: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    pub pipeline: String,
    pub status: RunStatus,
    pub git: GitInfo,
    pub seed: u64,
    pub device: String,
    /// Library versions: ronin, libtorch, …
    pub versions: BTreeMap<String, String>,
    pub host: String,
    /// RFC 3339, UTC.
    pub started: String,
    pub ended: Option<String>,
    pub epochs_completed: usize,
    pub best: Option<Best>,
    /// Metrics of the last completed epoch (`train_loss`, `val_accuracy`, …).
    pub final_metrics: BTreeMap<String, f64>,
    /// Metrics on the test split with the best weights.
    pub test_metrics: BTreeMap<String, f64>,
    /// Why the run failed or stopped, when it did.
    pub message: Option<String>,
    /// Free-form labels (`sweep`, `trial`, …) given by the command that started the run.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The run whose last checkpoint this one started from (watch mode's continuation).
    #[serde(default)]
    pub continued_from: Option<String>,
    /// Identifies the experiment: resolved pipeline, data bytes, commit and diff (see
    /// `experiment_fingerprint`). Runs with equal fingerprints are the same experiment.
    #[serde(default)]
    pub fingerprint: Option<String>,
}

impl RunRecord {
    /// Seconds from start to end, or to now for a run still `Running`; `None` when the
    /// times cannot be read or an ended run has no end.
    pub fn duration_seconds(&self) -> Option<f64> {
        use time::OffsetDateTime;
        use time::format_description::well_known::Rfc3339;
        let start = OffsetDateTime::parse(&self.started, &Rfc3339).ok()?;
        let end = match &self.ended {
            Some(e) => OffsetDateTime::parse(e, &Rfc3339).ok()?,
            None if self.status == RunStatus::Running => OffsetDateTime::now_utc(),
            None => return None,
        };
        Some((end - start).as_seconds_f64().max(0.0))
    }
}
