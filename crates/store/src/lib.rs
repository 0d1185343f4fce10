//! The experiment store: run directories under `experiments/`, their records, checkpoints'
//! places, atomic writes and the lock that keeps two processes from writing one run.

mod atomic;
mod checkpoint;
mod fingerprint;
mod git;
mod listing;
mod metrics;
mod record;
mod run;

use std::path::PathBuf;

pub use atomic::write_atomic;
pub use checkpoint::{checkpoint_old, checkpoint_partial, find_checkpoint, list_checkpoints};
pub use fingerprint::{experiment_fingerprint, sha256_hex};
pub use git::git_info;
pub use listing::{RunEntry, dir_size, find_same_experiment, list_runs, weights_file};
pub use metrics::MetricsCsv;
pub use record::{Best, GitInfo, RunRecord, RunStatus};
pub use run::{
    CHECKPOINTS, EVENTS, EXTENDS, METRICS, PIPELINE, RECORD, RESOLVED, RunContext, RunDir,
    find_run, new_run_id, now_rfc3339, read_record, write_record,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is corrupt: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error("cannot encode {}: {message}", path.display())]
    Encode { path: PathBuf, message: String },
    #[error("run {} is being written by another process", path.display())]
    Locked { path: PathBuf },
    #[error("no run matches '{query}' under {} (give a run directory, a run id, or a unique prefix)", root.display())]
    NoSuchRun { query: String, root: PathBuf },
    #[error("'{query}' matches {} runs: {}; give more of the id", candidates.len(), candidates.iter().map(|c| c.display().to_string()).collect::<Vec<_>>().join(", "))]
    Ambiguous {
        query: String,
        candidates: Vec<PathBuf>,
    },
    #[error("model.weights.run: no completed run of '{name}' with a checkpoint under {}; train it first (ronin train pipelines/{name}.ron)", root.display())]
    NoWeightsRun { name: String, root: PathBuf },
}
