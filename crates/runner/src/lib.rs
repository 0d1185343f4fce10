//! Training with libtorch: the `tch` module built from the model graph, optimizers whose
//! state we own, the epoch loop with metrics kept on the device, TensorBoard scalars,
//! `metrics.csv` and checkpoints, all written into a run directory of the store.

pub mod callbacks;
pub mod checkpoint;
pub mod device;
pub mod loss;
pub mod metrics;
pub mod mix;
pub mod net;
pub mod optim;
mod progress;
pub mod report;
pub mod schedule;
pub mod state;
pub mod tensorboard;
pub mod train;
pub mod transfer;

use std::path::PathBuf;

pub use device::resolve_device;
pub use train::{EpochFlow, EpochHook, Start, StopSignal, TrainOptions, TrainOutcome, train};

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    #[error(transparent)]
    Store(#[from] ronin_store::StoreError),
    #[error(transparent)]
    Data(#[from] ronin_data::DataError),
    #[error("cannot write {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode {what}: {message}")]
    Encode { what: String, message: String },
    #[error("device {requested} is not available: {reason}")]
    Device { requested: String, reason: String },
    #[error(
        "{} was trained from a different pipeline than the one given; resume it with its own (ronin resume reads it from the run)",
        run.display()
    )]
    ResumeMismatch { run: PathBuf },
    #[error("{what} is not supported yet")]
    Unsupported { what: String },
    #[error("no checkpoint at {}; train the run first or pick another checkpoint", path.display())]
    MissingCheckpoint { path: PathBuf },
    #[error("checkpoint {} does not match the pipeline's model: {message}", path.display())]
    Checkpoint { path: PathBuf, message: String },
    #[error(
        "the training loss became {value} in epoch {epoch}{}; {}. Lower optimizer.lr or check the data's normalization",
        batch.map(|b| format!(", batch {b}")).unwrap_or_default(),
        if *epoch > 1 {
            format!("the last good weights (epoch {}) are in checkpoints/last", epoch - 1)
        } else {
            "no epoch had completed, so no checkpoint was written".to_owned()
        }
    )]
    NonFiniteLoss {
        epoch: usize,
        batch: Option<usize>,
        value: f64,
    },
    #[error(
        "the model outputs {outputs} classes but the data has labels up to {max_label}; end the model with Linear(units: {needed})"
    )]
    ClassMismatch {
        outputs: usize,
        max_label: i64,
        needed: i64,
    },
}
