//! Checkpoints: a folder per checkpoint, written beside its final place and renamed in, so a
//! crash never leaves a half-written checkpoint where a reader looks.
//!
//! ```text
//! checkpoints/<name>/model.safetensors      weights and buffers, named as the model graph names them
//! checkpoints/<name>/state.safetensors      optimizer tensors (exp_avg.<param>, …)
//! checkpoints/<name>/reference.safetensors  a fixed batch: `input` (N, C, H, W) and the model's `output` (N, K)
//! checkpoints/<name>/meta.ron               epoch, step, learning rate, metrics
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::{Device, Tensor, nn::VarStore};

use crate::RunnerError;

pub const MODEL: &str = "model.safetensors";
pub const STATE: &str = "state.safetensors";
pub const REFERENCE: &str = "reference.safetensors";
pub const META: &str = "meta.ron";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckpointMeta {
    /// 1-based number of the last completed epoch.
    pub epoch: usize,
    /// Optimizer steps taken so far.
    pub step: i64,
    pub lr: f64,
    pub metrics: BTreeMap<String, f64>,
    /// The whole training state (schedule, callbacks, position in the epoch), so that a
    /// run continues from this checkpoint exactly. Absent in weights-only checkpoints.
    #[serde(default)]
    pub trainer: Option<crate::state::TrainerState>,
}

/// Everything a checkpoint holds, borrowed from the training loop.
pub struct CheckpointData<'a> {
    pub vars: &'a VarStore,
    pub optimizer_state: Vec<(String, Tensor)>,
    pub reference: (&'a Tensor, &'a Tensor),
    pub meta: CheckpointMeta,
    /// Write `state.safetensors` (optimizer, EMA); false for weights-only checkpoints.
    pub with_state: bool,
}

fn to_cpu(named: Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
    named
        .into_iter()
        .map(|(n, t)| (n, t.to_device(Device::Cpu)))
        .collect()
}

fn sync(path: &Path) -> Result<(), RunnerError> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|source| RunnerError::Io {
            path: path.to_owned(),
            source,
        })
}

/// Writes `checkpoints/<name>/`, replacing the previous one only once the new one is complete.
pub fn save(dir: &Path, name: &str, data: &CheckpointData) -> Result<PathBuf, RunnerError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| RunnerError::Io { path, source }
    };
    fs_err::create_dir_all(dir).map_err(io(dir))?;
    let target = dir.join(name);
    let tmp = ronin_store::checkpoint_partial(dir, name);
    if tmp.exists() {
        fs_err::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    fs_err::create_dir(&tmp).map_err(io(&tmp))?;

    let mut vars: Vec<(String, Tensor)> = data.vars.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let write = |file: &str, tensors: Vec<(String, Tensor)>| -> Result<(), RunnerError> {
        let path = tmp.join(file);
        Tensor::write_safetensors(&to_cpu(tensors), &path)?;
        sync(&path)
    };
    write(MODEL, vars)?;
    if data.with_state {
        write(
            STATE,
            data.optimizer_state
                .iter()
                .map(|(n, t)| (n.clone(), t.shallow_clone()))
                .collect(),
        )?;
    }
    let (input, output) = data.reference;
    write(
        REFERENCE,
        vec![
            ("input".into(), input.shallow_clone()),
            ("output".into(), output.shallow_clone()),
        ],
    )?;
    let meta =
        ron::ser::to_string_pretty(&data.meta, ron::ser::PrettyConfig::default()).map_err(|e| {
            RunnerError::Encode {
                what: format!("{}/{META}", tmp.display()),
                message: e.to_string(),
            }
        })?;
    let meta_path = tmp.join(META);
    fs_err::write(&meta_path, meta).map_err(io(&meta_path))?;
    sync(&meta_path)?;

    let old = ronin_store::checkpoint_old(dir, name);
    if target.exists() {
        if old.exists() {
            fs_err::remove_dir_all(&old).map_err(io(&old))?;
        }
        fs_err::rename(&target, &old).map_err(io(&target))?;
    }
    fs_err::rename(&tmp, &target).map_err(io(&tmp))?;
    if old.exists() {
        fs_err::remove_dir_all(&old).map_err(io(&old))?;
    }
    Ok(target)
}

/// Loads the weights of checkpoint `name` (see [`ronin_store::find_checkpoint`]) into `vars`;
/// every variable must be present with its shape.
pub fn load_weights(
    vars: &mut VarStore,
    checkpoints: &Path,
    name: &str,
) -> Result<(), RunnerError> {
    let path = ronin_store::find_checkpoint(checkpoints, name)
        .map(|dir| dir.join(MODEL))
        .filter(|p| p.is_file())
        .ok_or_else(|| RunnerError::MissingCheckpoint {
            path: checkpoints.join(name).join(MODEL),
        })?;
    vars.load(&path).map_err(|e| RunnerError::Checkpoint {
        path,
        message: e.to_string(),
    })
}

/// Reads `meta.ron` of checkpoint `name`, if it exists.
pub fn read_meta(checkpoints: &Path, name: &str) -> Option<(PathBuf, CheckpointMeta)> {
    let dir = ronin_store::find_checkpoint(checkpoints, name)?;
    let text = std::fs::read_to_string(dir.join(META)).ok()?;
    let meta = ron::from_str(&text).ok()?;
    Some((dir, meta))
}

/// Reads a safetensors file of a checkpoint into named tensors (empty when absent).
pub fn read_tensors(path: &Path) -> Result<BTreeMap<String, Tensor>, RunnerError> {
    if !path.is_file() {
        return Ok(BTreeMap::new());
    }
    Ok(Tensor::read_safetensors(path)
        .map_err(|e| RunnerError::Checkpoint {
            path: path.to_owned(),
            message: e.to_string(),
        })?
        .into_iter()
        .collect())
}

/// Deletes checkpoint `name` (and any leftover of an interrupted save).
pub fn remove(checkpoints: &Path, name: &str) -> Result<(), RunnerError> {
    for dir in [
        checkpoints.join(name),
        ronin_store::checkpoint_partial(checkpoints, name),
        ronin_store::checkpoint_old(checkpoints, name),
    ] {
        if dir.exists() {
            fs_err::remove_dir_all(&dir).map_err(|source| RunnerError::Io { path: dir, source })?;
        }
    }
    Ok(())
}
