//! The training state saved with every checkpoint: where in the run it was taken and what
//! the schedule and callbacks remember, so a resumed run continues exactly.

use serde::{Deserialize, Serialize};

use crate::callbacks::EarlyState;
use crate::metrics::MeterSums;
use crate::schedule::PlateauState;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Completed epochs.
    pub epochs_done: usize,
    /// Batches done of epoch `epochs_done + 1` (0 at an epoch boundary).
    pub batch: usize,
    /// Optimizer steps so far.
    pub step: i64,
    /// The run's best value of its monitored metric and the epoch it came from.
    pub best: Option<ronin_store::Best>,
    pub plateau: Option<PlateauState>,
    pub early: Option<EarlyState>,
    /// Epoch checkpoints kept by ModelCheckpoint, oldest first.
    pub epoch_checkpoints: Vec<usize>,
    /// The partial epoch's sums, for a mid-epoch checkpoint.
    pub meter: Option<MeterSums>,
    pub ema_updates: u64,
    /// fp16 loss scale (CUDA).
    pub loss_scale: Option<f64>,
}
