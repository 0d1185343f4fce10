//! The epoch loop: train, validate, log, checkpoint; then test with the best weights.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use ronin_data::{Batch, DataBundle, Loader, Part};
use ronin_spec::Pipeline;
use ronin_store::{Best, MetricsCsv, RunContext, RunDir, RunStatus, write_atomic};
use serde::Serialize;
use tch::{Device, Kind, Tensor, nn};

use crate::RunnerError;
use crate::checkpoint::{self, CheckpointData, CheckpointMeta};
use crate::device::{device_name, resolve_device};
use crate::metrics::{EpochMeter, EpochStats};
use crate::net::Net;
use crate::optim::{Optimizer, ParamRef};
use crate::progress::epoch_bar;
use crate::tensorboard::Board;

/// How `train` runs, beyond what the pipeline says.
#[derive(Clone)]
pub struct TrainOptions {
    /// Folder holding `<pipeline>/<run-id>/` run directories.
    pub experiments: PathBuf,
    /// Draw a per-batch progress bar (on a terminal).
    pub progress: bool,
    /// Set by Ctrl-C: the loop finishes the batch, saves `last` and stops.
    pub interrupt: Arc<AtomicBool>,
    /// The status a run stopped by `interrupt` ends with: `Interrupted` for Ctrl-C,
    /// `Stopped` when a tool (watch mode, a sweep) stopped it on purpose.
    pub interrupt_status: RunStatus,
    /// Labels recorded in `run.ron` (`sweep`, `trial`, …).
    pub tags: BTreeMap<String, String>,
    /// Called after every completed epoch with its metrics; `EpochFlow::Stop` ends the
    /// run with status `Stopped` and the given reason (a sweep pruning a weak trial).
    pub on_epoch: Option<EpochHook>,
    /// Where training starts from.
    pub start: Start,
}

/// Called after each epoch with `(epoch, metrics of that epoch)`.
pub type EpochHook = Arc<dyn Fn(usize, &BTreeMap<String, f64>) -> EpochFlow + Send + Sync>;

/// What an [`EpochHook`] asks of the loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EpochFlow {
    Continue,
    Stop(String),
}

/// Where a training run starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Start {
    /// A new run directory, freshly initialised weights.
    #[default]
    Fresh,
    /// Continue the interrupted run in this directory, in place, exactly where it stopped
    /// (model, optimizer, schedule, callbacks, data order, RNG).
    Resume(PathBuf),
    /// A new run directory whose weights, optimizer and epoch count start from the last
    /// checkpoint of the run in this directory (watch mode, when a change only extends
    /// training). Recorded as `continued_from`.
    ContinueFrom(PathBuf),
}

impl TrainOptions {
    /// Defaults: no progress bar, a fresh run, nothing tagged.
    pub fn new(experiments: impl Into<PathBuf>) -> Self {
        TrainOptions {
            experiments: experiments.into(),
            progress: false,
            interrupt: Arc::new(AtomicBool::new(false)),
            interrupt_status: RunStatus::Interrupted,
            tags: BTreeMap::new(),
            on_epoch: None,
            start: Start::Fresh,
        }
    }
}

impl std::fmt::Debug for TrainOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainOptions")
            .field("experiments", &self.experiments)
            .field("progress", &self.progress)
            .field("interrupt_status", &self.interrupt_status)
            .field("tags", &self.tags)
            .field("on_epoch", &self.on_epoch.is_some())
            .field("start", &self.start)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct TrainOutcome {
    pub run_dir: PathBuf,
    pub status: RunStatus,
    pub epochs_completed: usize,
    pub best: Option<Best>,
    pub test: BTreeMap<String, f64>,
}

/// Data facts recorded in the run (`data.json`), read by `ronin export`.
#[derive(Debug, Serialize)]
struct DataRecord<'a> {
    input_shape: [usize; 3],
    classes: &'a [String],
    normalization_mean: &'a [f32],
    normalization_std: &'a [f32],
    train_examples: usize,
    validation_examples: usize,
    test_examples: usize,
    /// Dataset indices of the reference batch saved with each checkpoint.
    reference_indices: &'a [usize],
    reference_split: &'a str,
}

pub const DATA_RECORD: &str = "data.json";
const METRIC_COLUMNS: [&str; 9] = [
    "epoch",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "lr",
    "epoch_seconds",
    "images_per_second",
    "step",
];
/// Batches between progress-bar refreshes (each costs one host synchronisation).
const PROGRESS_EVERY: usize = 25;
const REFERENCE_BATCH: usize = 16;

/// Trains `pipeline` to the end (or until interrupted), writing a run directory.
///
/// Errors before the run directory exists (data, device) leave nothing on disk; errors
/// after it mark the run `Failed` with the message and keep what was written.
pub fn train(pipeline: &Pipeline, opts: &TrainOptions) -> Result<TrainOutcome, RunnerError> {
    let device = resolve_device(pipeline.file.device)?;
    let data = ronin_data::build(&pipeline.file.data, pipeline.file.seed)?;
    let outputs = pipeline.num_classes() as i64;
    let max_label = data
        .train
        .labels
        .iter()
        .chain(data.test.labels.iter())
        .copied()
        .max()
        .unwrap_or(0);
    if max_label >= outputs {
        return Err(RunnerError::ClassMismatch {
            outputs: outputs as usize,
            max_label,
            needed: max_label + 1,
        });
    }
    let ctx = RunContext {
        device: device_name(device),
        versions: versions(),
    };
    if opts.start != Start::Fresh {
        return Err(RunnerError::Unsupported {
            what: "resuming or continuing a run (not implemented yet)".into(),
        });
    }
    let mut run = RunDir::create(&opts.experiments, pipeline, &ctx)?;
    if !opts.tags.is_empty() {
        run.record.tags = opts.tags.clone();
        run.save()?;
    }
    let result =
        Trainer::new(pipeline, opts, device, &data, &run.path).and_then(|mut t| t.run(&mut run));
    match result {
        Ok(outcome) => Ok(outcome),
        Err(e) => {
            // Keep everything written so far; say why the run ended.
            let _ = run.finish(RunStatus::Failed, Some(e.to_string()));
            Err(e)
        }
    }
}

fn versions() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("ronin".into(), env!("CARGO_PKG_VERSION").into()),
        ("libtorch".into(), "2.13.0".into()),
        ("tch".into(), "0.26.0".into()),
    ])
}

struct Trainer<'a> {
    pipeline: &'a Pipeline,
    opts: &'a TrainOptions,
    device: Device,
    vars: nn::VarStore,
    net: Net,
    optimizer: Optimizer,
    train_loader: Loader,
    val_loader: Option<Loader>,
    test_loader: Option<Loader>,
    reference_input: Tensor,
    board: Board,
    csv: MetricsCsv,
    checkpoints: PathBuf,
}

fn batch_tensors(batch: &Batch, device: Device) -> Result<(Tensor, Tensor), RunnerError> {
    let shape: Vec<i64> = batch.images.shape().iter().map(|&d| d as i64).collect();
    let images = match batch.images.as_slice() {
        Some(s) => Tensor::f_from_slice(s)?,
        None => Tensor::f_from_slice(&batch.images.iter().copied().collect::<Vec<f32>>())?,
    };
    let images = images.f_view(shape.as_slice())?.f_to_device(device)?;
    let labels = match batch.labels.as_slice() {
        Some(s) => Tensor::f_from_slice(s)?,
        None => Tensor::f_from_slice(&batch.labels.to_vec())?,
    };
    Ok((images, labels.f_to_device(device)?))
}

impl<'a> Trainer<'a> {
    fn new(
        pipeline: &'a Pipeline,
        opts: &'a TrainOptions,
        device: Device,
        data: &DataBundle,
        run_path: &Path,
    ) -> Result<Self, RunnerError> {
        let file = &pipeline.file;
        tch::manual_seed(file.seed as i64);
        let vars = nn::VarStore::new(device);
        let net = Net::new(&vars.root(), &pipeline.graph)?;
        let named = vars.variables();
        let params = pipeline
            .graph
            .params()
            .filter(|p| p.trainable)
            .filter_map(|p| {
                named
                    .get(&p.name)
                    .map(|t| ParamRef::new(p.name.clone(), t.shallow_clone()))
            })
            .collect();
        let optimizer = Optimizer::new(&file.optimizer, params)?;

        let loader = |part: Part| -> Result<Option<Loader>, RunnerError> {
            if data.indices(part).is_empty() {
                Ok(None)
            } else {
                Ok(Some(data.loader(
                    part,
                    &file.data,
                    &file.augment,
                    file.seed,
                )?))
            }
        };
        let train_loader = loader(Part::Train)?.ok_or_else(|| RunnerError::Unsupported {
            what: "a pipeline whose training split is empty".into(),
        })?;
        let val_loader = loader(Part::Validation)?;
        let test_loader = loader(Part::Test)?;

        // The reference batch for ONNX parity: the first examples of validation (or test, or train).
        let (ref_part, ref_indices) = [Part::Validation, Part::Test, Part::Train]
            .into_iter()
            .map(|p| (p, data.indices(p)))
            .find(|(_, idx)| !idx.is_empty())
            .map(|(p, idx)| (p, idx[..idx.len().min(REFERENCE_BATCH)].to_vec()))
            .unwrap_or((Part::Train, Vec::new()));
        let reference =
            ronin_data::dataset_batch(data.dataset(ref_part), &ref_indices, &data.normalization)?;
        let (reference_input, _) = batch_tensors(&reference, device)?;

        let record = DataRecord {
            input_shape: data.shape(),
            classes: &data.classes,
            normalization_mean: &data.normalization.mean,
            normalization_std: &data.normalization.std,
            train_examples: data.splits.train.len(),
            validation_examples: data.splits.validation.len(),
            test_examples: data.splits.test.len(),
            reference_indices: &ref_indices,
            reference_split: ref_part.name(),
        };
        let json = serde_json::to_vec_pretty(&record).map_err(|e| RunnerError::Encode {
            what: DATA_RECORD.into(),
            message: e.to_string(),
        })?;
        write_atomic(&run_path.join(DATA_RECORD), &json)?;

        let events = run_path.join(ronin_store::EVENTS);
        let board = Board::open(&events).map_err(|source| RunnerError::Io {
            path: events,
            source,
        })?;
        let csv = MetricsCsv::create(&run_path.join(ronin_store::METRICS), &METRIC_COLUMNS)?;
        Ok(Trainer {
            pipeline,
            opts,
            device,
            vars,
            net,
            optimizer,
            train_loader,
            val_loader,
            test_loader,
            reference_input,
            board,
            csv,
            checkpoints: run_path.join(ronin_store::CHECKPOINTS),
        })
    }

    fn run(&mut self, run: &mut RunDir) -> Result<TrainOutcome, RunnerError> {
        let epochs = self.pipeline.file.epochs;
        let monitor = if self.val_loader.is_some() {
            "val_loss"
        } else {
            "train_loss"
        };
        let mut best: Option<Best> = None;
        let mut status = RunStatus::Completed;
        let mut stop_message = None;
        for epoch in 1..=epochs {
            let started = Instant::now();
            let (train, interrupted) = self.train_epoch(epoch)?;
            let seconds = started.elapsed().as_secs_f64();
            if !train.loss.is_finite() {
                return Err(RunnerError::NonFiniteLoss {
                    epoch,
                    batch: None,
                    value: train.loss,
                });
            }
            if interrupted {
                // A partial epoch is not a completed one: keep `last` at the previous epoch
                // boundary unless nothing was saved yet.
                status = self.opts.interrupt_status;
                break;
            }
            let val = match &self.val_loader {
                Some(l) => Some(self.evaluate(l)?),
                None => None,
            };
            let metrics = self.epoch_metrics(epoch, &train, val.as_ref(), seconds);
            self.log_epoch(epoch, &metrics)?;
            let value = metrics[monitor];
            let improved = best.as_ref().is_none_or(|b| value < b.value);
            let meta = CheckpointMeta {
                epoch,
                step: self.optimizer.steps(),
                lr: self.optimizer.lr(),
                metrics: metrics.clone(),
            };
            let names: &[&str] = if improved {
                &["last", "best"]
            } else {
                &["last"]
            };
            self.save_checkpoints(names, meta)?;
            if improved {
                best = Some(Best {
                    metric: monitor.into(),
                    value,
                    epoch,
                });
            }
            run.record.epochs_completed = epoch;
            run.record.best = best.clone();
            run.record.final_metrics = metrics;
            run.save()?;
            if let Some(hook) = &self.opts.on_epoch
                && let EpochFlow::Stop(reason) = hook(epoch, &run.record.final_metrics)
            {
                status = RunStatus::Stopped;
                stop_message = Some(reason);
                break;
            }
            if self.opts.interrupt.load(Ordering::SeqCst) {
                status = self.opts.interrupt_status;
                break;
            }
        }
        let mut test = BTreeMap::new();
        if status == RunStatus::Completed
            && let Some(loader) = self.test_loader.clone()
        {
            checkpoint::load_weights(&mut self.vars, &self.checkpoints, "best")?;
            let stats = self.evaluate(&loader)?;
            test.insert("test_loss".to_owned(), stats.loss);
            test.insert("test_accuracy".to_owned(), stats.accuracy);
            let step = self.optimizer.steps() as usize;
            self.board.scalar("test/loss", stats.loss, step);
            self.board.scalar("test/accuracy", stats.accuracy, step);
            eprintln!(
                "test (best weights, epoch {}): loss {:.4}  accuracy {:.4}",
                best.as_ref().map_or(0, |b| b.epoch),
                stats.loss,
                stats.accuracy
            );
        }
        self.board.flush();
        run.record.test_metrics = test.clone();
        let message = match status {
            RunStatus::Interrupted => Some("interrupted by the user".to_owned()),
            RunStatus::Stopped => stop_message.or_else(|| Some("stopped".to_owned())),
            _ => None,
        };
        run.finish(status, message)?;
        Ok(TrainOutcome {
            run_dir: run.path.clone(),
            status,
            epochs_completed: run.record.epochs_completed,
            best,
            test,
        })
    }

    /// One pass over the training split. Returns the epoch's statistics and whether it
    /// stopped early on an interrupt.
    fn train_epoch(&mut self, epoch: usize) -> Result<(EpochStats, bool), RunnerError> {
        let epochs = self.pipeline.file.epochs;
        let bar = epoch_bar(epoch, epochs, self.train_loader.len(), self.opts.progress);
        let mut meter = EpochMeter::new(self.device);
        let mut interrupted = false;
        for (i, batch) in self.train_loader.epoch(epoch - 1).enumerate() {
            let (logits, labels, loss) = self.forward_loss(&batch, true)?;
            self.optimizer.zero_grad();
            loss.f_backward()?;
            self.optimizer.step()?;
            meter.add(&loss, &logits, &labels)?;
            bar.inc(1);
            if (i + 1) % PROGRESS_EVERY == 0 {
                let value = loss.f_double_value(&[])?;
                if !value.is_finite() {
                    bar.abandon();
                    return Err(RunnerError::NonFiniteLoss {
                        epoch,
                        batch: Some(i + 1),
                        value,
                    });
                }
                let step = self.optimizer.steps() as usize;
                self.board.scalar("batch/loss", value, step);
                bar.set_message(format!("loss {value:.4}"));
            }
            if self.opts.interrupt.load(Ordering::SeqCst) {
                interrupted = true;
                break;
            }
        }
        bar.finish_and_clear();
        Ok((meter.finish()?, interrupted))
    }

    /// Moves a batch to the device and returns (logits, labels, mean loss).
    fn forward_loss(
        &self,
        batch: &Batch,
        train: bool,
    ) -> Result<(Tensor, Tensor, Tensor), RunnerError> {
        let (images, labels) = batch_tensors(batch, self.device)?;
        let logits = self.net.forward_t(&images, train)?;
        // The pipeline's `loss` has one variant today: CrossEntropy (mean over the batch).
        let loss = logits.f_cross_entropy_loss::<Tensor>(
            &labels,
            None,
            tch::Reduction::Mean,
            -100,
            0.0,
        )?;
        Ok((logits, labels, loss))
    }

    fn evaluate(&self, loader: &Loader) -> Result<EpochStats, RunnerError> {
        let _g = tch::no_grad_guard();
        let mut meter = EpochMeter::new(self.device);
        for batch in loader.epoch(0) {
            let (logits, labels, loss) = self.forward_loss(&batch, false)?;
            meter.add(&loss, &logits, &labels)?;
        }
        meter.finish()
    }

    fn epoch_metrics(
        &self,
        epoch: usize,
        train: &EpochStats,
        val: Option<&EpochStats>,
        seconds: f64,
    ) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::from([
            ("epoch".to_owned(), epoch as f64),
            ("train_loss".to_owned(), train.loss),
            ("train_accuracy".to_owned(), train.accuracy),
            ("lr".to_owned(), self.optimizer.lr()),
            ("epoch_seconds".to_owned(), seconds),
            (
                "images_per_second".to_owned(),
                train.count as f64 / seconds.max(1e-9),
            ),
            ("step".to_owned(), self.optimizer.steps() as f64),
        ]);
        if let Some(v) = val {
            m.insert("val_loss".to_owned(), v.loss);
            m.insert("val_accuracy".to_owned(), v.accuracy);
        }
        m
    }

    fn log_epoch(&mut self, epoch: usize, m: &BTreeMap<String, f64>) -> Result<(), RunnerError> {
        let get = |k: &str| m.get(k).copied().unwrap_or(f64::NAN);
        self.csv.append(&METRIC_COLUMNS.map(get))?;
        for (tag, key) in [
            ("train/loss", "train_loss"),
            ("train/accuracy", "train_accuracy"),
            ("val/loss", "val_loss"),
            ("val/accuracy", "val_accuracy"),
            ("lr", "lr"),
            ("throughput/images_per_second", "images_per_second"),
            ("time/epoch_seconds", "epoch_seconds"),
        ] {
            if let Some(v) = m.get(key) {
                self.board.scalar(tag, *v, epoch);
            }
        }
        self.board.flush();
        let val = match (m.get("val_loss"), m.get("val_accuracy")) {
            (Some(l), Some(a)) => format!("  val_loss {l:.4}  val_acc {a:.4}"),
            _ => String::new(),
        };
        eprintln!(
            "epoch {epoch}/{}  loss {:.4}  acc {:.4}{val}  lr {:.2e}  {:.1}s  {:.0} img/s",
            self.pipeline.file.epochs,
            get("train_loss"),
            get("train_accuracy"),
            get("lr"),
            get("epoch_seconds"),
            get("images_per_second"),
        );
        Ok(())
    }

    /// Saves the current weights as each of `names` (the reference output is computed once).
    fn save_checkpoints(&self, names: &[&str], meta: CheckpointMeta) -> Result<(), RunnerError> {
        let output = tch::no_grad(|| self.net.forward_t(&self.reference_input, false))?
            .f_to_kind(Kind::Float)?;
        let data = CheckpointData {
            vars: &self.vars,
            optimizer_state: self.optimizer.state_tensors(),
            reference: (&self.reference_input, &output),
            meta,
        };
        for name in names {
            checkpoint::save(&self.checkpoints, name, &data)?;
        }
        Ok(())
    }
}
