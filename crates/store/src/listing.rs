//! Every run under an experiments folder: listing, finding the same experiment, sizes.

use std::path::{Path, PathBuf};

use crate::StoreError;
use crate::record::{RunRecord, RunStatus};
use crate::run::{RECORD, read_record};

/// A run directory and its record (a dead process's `Running` reads as `Interrupted`).
#[derive(Debug, Clone)]
pub struct RunEntry {
    pub path: PathBuf,
    pub record: RunRecord,
}

/// The runs under `root/<pipeline>/`, of one pipeline or all, oldest first; records that
/// cannot be read come back as errors beside the runs that can.
pub fn list_runs(root: &Path, pipeline: Option<&str>) -> (Vec<RunEntry>, Vec<StoreError>) {
    let mut runs = Vec::new();
    let mut errors = Vec::new();
    let Ok(pipelines) = std::fs::read_dir(root) else {
        return (runs, errors);
    };
    for p in pipelines.flatten() {
        if pipeline.is_some_and(|name| p.file_name() != name) {
            continue;
        }
        let Ok(dirs) = std::fs::read_dir(p.path()) else {
            continue;
        };
        for d in dirs.flatten() {
            let path = d.path();
            if !path.join(RECORD).is_file() {
                continue;
            }
            match read_record(&path) {
                Ok(record) => runs.push(RunEntry { path, record }),
                Err(e) => errors.push(e),
            }
        }
    }
    runs.sort_by(|a, b| (&a.record.started, &a.record.id).cmp(&(&b.record.started, &b.record.id)));
    (runs, errors)
}

/// The newest completed run of `pipeline` with this fingerprint: the same experiment.
pub fn find_same_experiment(root: &Path, pipeline: &str, fingerprint: &str) -> Option<RunEntry> {
    let (runs, _) = list_runs(root, Some(pipeline));
    runs.into_iter().rev().find(|r| {
        r.record.status == RunStatus::Completed
            && r.record.fingerprint.as_deref() == Some(fingerprint)
    })
}

/// The safetensors file `model.weights` names: its `file`, or the best (else last)
/// checkpoint of the newest completed run of experiment `run` under `root`.
pub fn weights_file(
    pipeline: &ronin_spec::Pipeline,
    root: &Path,
) -> Result<Option<PathBuf>, StoreError> {
    let Some(w) = &pipeline.file.model.weights else {
        return Ok(None);
    };
    if let Some(f) = &w.file {
        return Ok(Some(PathBuf::from(f)));
    }
    let Some(name) = &w.run else {
        return Ok(None);
    };
    let (runs, _) = list_runs(root, Some(name));
    runs.iter()
        .rev()
        .filter(|r| r.record.status == RunStatus::Completed)
        .flat_map(|r| {
            ["best", "last"].map(|c| {
                r.path
                    .join(crate::CHECKPOINTS)
                    .join(c)
                    .join("model.safetensors")
            })
        })
        .find(|p| p.is_file())
        .map(Some)
        .ok_or_else(|| StoreError::NoWeightsRun {
            name: name.clone(),
            root: root.to_owned(),
        })
}

/// Bytes of the files under `path` (0 when it does not exist).
pub fn dir_size(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| dir_size(&e.path()))
        .sum()
}
