//! A run directory: `experiments/<pipeline>/<run-id>/`.
//!
//! ```text
//! pipeline.ron        the exact bytes of the pipeline file
//! extends/            the exact bytes of each file it extends (`0-base.ron`, …)
//! resolved.ron        the pipeline with every default filled in
//! run.ron             the run record (status, commit, seed, device, versions, metrics)
//! metrics.csv         one row per epoch
//! events/             TensorBoard event files
//! checkpoints/best/   model.safetensors, state.safetensors, reference.safetensors
//! checkpoints/last/   the same, for the last completed epoch
//! ```

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use rand::Rng;
use ronin_spec::Pipeline;

use crate::StoreError;
use crate::atomic::write_atomic;
use crate::fingerprint::experiment_fingerprint;
use crate::git::git_info;
use crate::record::{RunRecord, RunStatus};

/// An open run that this process owns (holds its lock) and writes.
#[derive(Debug)]
pub struct RunDir {
    pub path: PathBuf,
    pub record: RunRecord,
    _lock: File,
}

/// What the runner knows about where it runs, recorded in `run.ron`.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub device: String,
    pub versions: BTreeMap<String, String>,
}

pub const RECORD: &str = "run.ron";
pub const PIPELINE: &str = "pipeline.ron";
pub const RESOLVED: &str = "resolved.ron";
pub const EXTENDS: &str = "extends";
pub const METRICS: &str = "metrics.csv";
pub const EVENTS: &str = "events";
pub const CHECKPOINTS: &str = "checkpoints";
const LOCK: &str = ".lock";

/// `20261122-031500-3fa2`: sortable by start time, unique with a random suffix.
pub fn new_run_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
    let stamp = now
        .format(&fmt)
        .unwrap_or_else(|_| now.unix_timestamp().to_string());
    format!("{stamp}-{:04x}", rand::rng().random::<u16>())
}

pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

impl RunDir {
    /// Creates `root/<pipeline>/<run-id>/`, snapshots the pipeline, takes the run's lock and
    /// writes a `Running` record.
    pub fn create(root: &Path, pipeline: &Pipeline, ctx: &RunContext) -> Result<Self, StoreError> {
        let parent = root.join(&pipeline.name);
        fs_err::create_dir_all(&parent).map_err(|source| StoreError::Write {
            path: parent.clone(),
            source,
        })?;
        let (id, path) = loop {
            let id = new_run_id();
            let path = parent.join(&id);
            match std::fs::create_dir(&path) {
                Ok(()) => break (id, path),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(source) => return Err(StoreError::Write { path, source }),
            }
        };
        let lock = lock(&path)?;
        write_atomic(&path.join(PIPELINE), pipeline.source_text.as_bytes())?;
        // The files it extends, nearest base first, as `extends/<n>-<file name>`.
        if !pipeline.extends.is_empty() {
            let dir = path.join(EXTENDS);
            fs_err::create_dir(&dir).map_err(|source| StoreError::Write {
                path: dir.clone(),
                source,
            })?;
            for (i, base) in pipeline.extends.iter().enumerate() {
                let name = base
                    .path
                    .file_name()
                    .map_or_else(|| "base.ron".into(), |n| n.to_string_lossy().into_owned());
                write_atomic(&dir.join(format!("{i}-{name}")), base.text.as_bytes())?;
            }
        }
        let resolved =
            ron::ser::to_string_pretty(&pipeline.file, ron::ser::PrettyConfig::default()).map_err(
                |e| StoreError::Encode {
                    path: path.join(RESOLVED),
                    message: e.to_string(),
                },
            )?;
        write_atomic(&path.join(RESOLVED), resolved.as_bytes())?;
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let git = git_info(&cwd);
        let fingerprint = experiment_fingerprint(pipeline, &git, root).ok();
        let record = RunRecord {
            id,
            pipeline: pipeline.name.clone(),
            status: RunStatus::Running,
            git,
            seed: pipeline.file.seed,
            device: ctx.device.clone(),
            versions: ctx.versions.clone(),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            started: now_rfc3339(),
            ended: None,
            epochs_completed: 0,
            best: None,
            final_metrics: BTreeMap::new(),
            test_metrics: BTreeMap::new(),
            message: None,
            tags: BTreeMap::new(),
            continued_from: None,
            fingerprint,
        };
        let mut run = RunDir {
            path,
            record,
            _lock: lock,
        };
        run.save()?;
        Ok(run)
    }

    /// Opens an existing run to continue it: takes its lock (refusing a run another
    /// process holds), reads its record and marks it running again.
    pub fn reopen(path: &Path) -> Result<Self, StoreError> {
        let lock = lock(path)?;
        let mut record = read_record(path)?;
        record.status = RunStatus::Running;
        record.ended = None;
        record.message = None;
        let mut run = RunDir {
            path: path.to_owned(),
            record,
            _lock: lock,
        };
        run.save()?;
        Ok(run)
    }

    /// Writes `run.ron` atomically.
    pub fn save(&mut self) -> Result<(), StoreError> {
        write_record(&self.path, &self.record)
    }

    /// Marks the run finished with `status` and writes the record.
    pub fn finish(&mut self, status: RunStatus, message: Option<String>) -> Result<(), StoreError> {
        self.record.status = status;
        self.record.ended = Some(now_rfc3339());
        self.record.message = message;
        self.save()
    }

    pub fn events_dir(&self) -> PathBuf {
        self.path.join(EVENTS)
    }
    pub fn checkpoint_dir(&self, name: &str) -> PathBuf {
        self.path.join(CHECKPOINTS).join(name)
    }
    pub fn metrics_path(&self) -> PathBuf {
        self.path.join(METRICS)
    }
}

fn lock(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join(LOCK);
    let f = File::create(&path).map_err(|source| StoreError::Write {
        path: path.clone(),
        source,
    })?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
            path: dir.to_owned(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(StoreError::Write { path, source }),
    }
}

pub fn write_record(dir: &Path, record: &RunRecord) -> Result<(), StoreError> {
    let path = dir.join(RECORD);
    let text =
        ron::ser::to_string_pretty(record, ron::ser::PrettyConfig::default()).map_err(|e| {
            StoreError::Encode {
                path: path.clone(),
                message: e.to_string(),
            }
        })?;
    write_atomic(&path, text.as_bytes())
}

/// Reads a run's record. A run still marked `Running` whose lock nobody holds has lost its
/// process: it is reported as `Interrupted`.
pub fn read_record(dir: &Path) -> Result<RunRecord, StoreError> {
    let path = dir.join(RECORD);
    let text = fs_err::read_to_string(&path).map_err(|source| StoreError::Read {
        path: path.clone(),
        source,
    })?;
    let mut record: RunRecord = ron::from_str(&text).map_err(|e| StoreError::Corrupt {
        path: path.clone(),
        message: e.to_string(),
    })?;
    if record.status == RunStatus::Running && !is_locked(dir) {
        record.status = RunStatus::Interrupted;
    }
    Ok(record)
}

fn is_locked(dir: &Path) -> bool {
    let Ok(f) = File::open(dir.join(LOCK)) else {
        return false;
    };
    matches!(f.try_lock_shared(), Err(std::fs::TryLockError::WouldBlock))
}

/// Finds a run from a path, a run id, or a unique prefix of one, under `root`.
pub fn find_run(root: &Path, query: &str) -> Result<PathBuf, StoreError> {
    let as_path = Path::new(query);
    if as_path.join(RECORD).is_file() {
        return Ok(as_path.to_owned());
    }
    let mut matches = Vec::new();
    if let Ok(pipelines) = std::fs::read_dir(root) {
        for p in pipelines.flatten() {
            let Ok(runs) = std::fs::read_dir(p.path()) else {
                continue;
            };
            for r in runs.flatten() {
                let name = r.file_name().to_string_lossy().into_owned();
                let full = format!("{}/{name}", p.file_name().to_string_lossy());
                if (name.starts_with(query) || full.starts_with(query))
                    && r.path().join(RECORD).is_file()
                {
                    matches.push(r.path());
                }
            }
        }
    }
    matches.sort();
    match matches.len() {
        0 => Err(StoreError::NoSuchRun {
            query: query.to_owned(),
            root: root.to_owned(),
        }),
        1 => Ok(matches.remove(0)),
        _ => Err(StoreError::Ambiguous {
            query: query.to_owned(),
            candidates: matches,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipeline() -> Pipeline {
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("images-idx3-ubyte");
        let mut bytes = vec![0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 4];
        bytes.extend([0u8; 16]);
        std::fs::write(&images, bytes).unwrap();
        std::fs::write(
            dir.path().join("labels-idx1-ubyte"),
            [0, 0, 8, 1, 0, 0, 0, 1, 0],
        )
        .unwrap();
        let text = format!(
            r#"(epochs: 1, data: (source: Idx(images: "{0}/images-idx3-ubyte", labels: "{0}/labels-idx1-ubyte")),
               model: (layers: [Flatten, Linear(units: 2)]), optimizer: Adam(lr: 0.001))"#,
            dir.path().display()
        );
        let p = Pipeline::from_str_named(&text, "tiny", None).unwrap();
        std::mem::forget(dir);
        p
    }

    fn ctx() -> RunContext {
        RunContext {
            device: "cpu".into(),
            versions: BTreeMap::new(),
        }
    }

    #[test]
    fn create_snapshots_and_records() {
        let root = tempfile::tempdir().unwrap();
        let p = pipeline();
        let mut run = RunDir::create(root.path(), &p, &ctx()).unwrap();
        assert_eq!(
            std::fs::read_to_string(run.path.join(PIPELINE)).unwrap(),
            p.source_text
        );
        assert!(run.path.join(RESOLVED).is_file());
        assert_eq!(read_record(&run.path).unwrap().status, RunStatus::Running);
        // A second writer is refused while the first holds the lock.
        assert!(matches!(lock(&run.path), Err(StoreError::Locked { .. })));
        run.finish(RunStatus::Completed, None).unwrap();
        let path = run.path.clone();
        drop(run);
        let rec = read_record(&path).unwrap();
        assert_eq!(rec.status, RunStatus::Completed);
        assert!(rec.ended.is_some());
    }

    #[test]
    fn a_running_run_without_its_process_reads_as_interrupted() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(root.path(), &pipeline(), &ctx()).unwrap();
        let path = run.path.clone();
        drop(run); // the lock is released as if the process had died
        assert_eq!(read_record(&path).unwrap().status, RunStatus::Interrupted);
    }

    #[test]
    fn find_by_path_id_and_prefix() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(root.path(), &pipeline(), &ctx()).unwrap();
        let id = run.record.id.clone();
        assert_eq!(find_run(root.path(), &id).unwrap(), run.path);
        assert_eq!(find_run(root.path(), &id[..17]).unwrap(), run.path);
        assert_eq!(
            find_run(root.path(), run.path.to_str().unwrap()).unwrap(),
            run.path
        );
        assert!(matches!(
            find_run(root.path(), "nope"),
            Err(StoreError::NoSuchRun { .. })
        ));
    }
}
