//! The epoch loop: train, validate, log, checkpoint; then test with the best weights.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

use ronin_data::{Batch, DataBundle, Loader, Part};
use ronin_spec::{CallbackSpec, Frequency, Mode, Pipeline, Precision};
use ronin_store::{Best, MetricsCsv, RunContext, RunDir, RunStatus, write_atomic};
use serde::Serialize;
use tch::{Device, Kind, Tensor, nn};

use crate::RunnerError;
use crate::callbacks::{EarlyDecision, EarlyStopping, Ema};
use crate::checkpoint::{self, CheckpointData, CheckpointMeta};
use crate::device::{device_name, resolve_device};
use crate::loss::{Loss, Targets, penalty};
use crate::metrics::{EpochMeter, EpochStats};
use crate::mix::Mixer;
use crate::net::Net;
use crate::optim::{Optimizer, ParamRef, clip_grad_norm, clip_grad_value};
use crate::progress::epoch_bar;
use crate::report;
use crate::schedule::LrSchedule;
use crate::state::TrainerState;
use crate::tensorboard::{Board, HParam};
use crate::transfer;

/// How `train` runs, beyond what the pipeline says.
#[derive(Clone)]
pub struct TrainOptions {
    /// Folder holding `<pipeline>/<run-id>/` run directories.
    pub experiments: PathBuf,
    /// Draw a per-batch progress bar (on a terminal).
    pub progress: bool,
    /// Set by Ctrl-C or a tool: the loop finishes the batch, saves and stops with the
    /// status the signal carries.
    pub stop: StopSignal,
    /// Labels recorded in `run.ron` (`sweep`, `trial`, …).
    pub tags: BTreeMap<String, String>,
    /// Called after every completed epoch with its metrics; `EpochFlow::Stop` ends the
    /// run with status `Stopped` and the given reason (a sweep pruning a weak trial).
    pub on_epoch: Option<EpochHook>,
    /// Where training starts from.
    pub start: Start,
}

/// Asks a training loop to stop after its current batch (saving where it is), and says
/// why: [`StopSignal::interrupt`] (Ctrl-C) ends the run `Interrupted`,
/// [`StopSignal::stop`] (watch mode, a sweep stopping it on purpose) ends it `Stopped`.
/// The first request wins. Clones share the signal.
#[derive(Debug, Clone, Default)]
pub struct StopSignal(Arc<AtomicU8>);

impl StopSignal {
    const INTERRUPT: u8 = 1;
    const STOP: u8 = 2;

    /// The user interrupted (Ctrl-C): the run stays resumable, status `Interrupted`.
    pub fn interrupt(&self) {
        self.request(Self::INTERRUPT);
    }

    /// A tool stops the run on purpose: status `Stopped`.
    pub fn stop(&self) {
        self.request(Self::STOP);
    }

    fn request(&self, what: u8) {
        let _ = self
            .0
            .compare_exchange(0, what, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// The status a stop was asked with, if one was.
    pub fn requested(&self) -> Option<RunStatus> {
        match self.0.load(Ordering::SeqCst) {
            Self::INTERRUPT => Some(RunStatus::Interrupted),
            Self::STOP => Some(RunStatus::Stopped),
            _ => None,
        }
    }
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
            stop: StopSignal::default(),
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
            .field("stop", &self.stop.requested())
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
/// `metrics.csv`: what the model did each epoch — identical for the same seed on the same
/// machine, interrupted and resumed or not. Timings go to `timing.csv`. With `mix`,
/// `train_loss` is against the mixed (soft) targets, and the train accuracies and F1 count
/// each mixed example as its dominant label (its own when λ ≥ 0.5, else its partner's);
/// the `val_*` columns and the test report are never mixed.
pub const METRIC_COLUMNS: [&str; 11] = [
    "epoch",
    "train_loss",
    "train_accuracy",
    "train_top5_accuracy",
    "train_f1",
    "val_loss",
    "val_accuracy",
    "val_top5_accuracy",
    "val_f1",
    "lr",
    "step",
];
pub const TIMING: &str = "timing.csv";
const TIMING_COLUMNS: [&str; 3] = ["epoch", "epoch_seconds", "images_per_second"];
/// Checkpoint written mid-epoch (Ctrl-C, BackupAndRestore every N batches).
pub const RESUME_CHECKPOINT: &str = "resume";
/// Best weights by EarlyStopping's monitor, for `restore_best_weights`.
const EARLY_BEST: &str = "early-stopping-best";
const REFERENCE_BATCH: usize = 16;
/// Misclassified images kept by an evaluation, with a mask of which were right.
type Mistakes = Option<(Tensor, Vec<bool>)>;
const GRID_IMAGES: usize = 64;

/// Trains `pipeline` to the end (or until interrupted), writing a run directory.
///
/// Errors before the run directory exists (data, device) leave nothing on disk; errors
/// after it mark the run `Failed` with the message and keep what was written.
pub fn train(pipeline: &Pipeline, opts: &TrainOptions) -> Result<TrainOutcome, RunnerError> {
    let file = &pipeline.file;
    let device = resolve_device(file.device)?;
    if file.precision != Precision::Fp32 && !device.is_cuda() {
        eprintln!(
            "note: precision {:?} needs CUDA; training in Fp32 on {}",
            file.precision,
            device_name(device)
        );
    }
    if file.precision == Precision::Bf16 && device.is_cuda() {
        return Err(RunnerError::Unsupported {
            what: "Bf16 autocast (tch 0.26 exposes float16 autocast only; use precision: Fp16)"
                .into(),
        });
    }
    if device.is_cuda() {
        // cuDNN autotuning picks the fastest kernels, which may differ between runs.
        tch::Cuda::cudnn_set_benchmark(!file.deterministic);
    }
    let data = ronin_data::build(&file.data, file.seed)?;
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
    let start = match &opts.start {
        Start::Fresh => backup_to_restore(pipeline, opts).map_or(Start::Fresh, Start::Resume),
        other => other.clone(),
    };
    let (mut run, from) = match &start {
        Start::Fresh => (RunDir::create(&opts.experiments, pipeline, &ctx)?, None),
        Start::Resume(dir) => {
            let recorded = std::fs::read_to_string(dir.join(ronin_store::RESOLVED)).ok();
            let now = pipeline.resolved_ron().ok();
            if recorded.is_none() || recorded != now {
                return Err(RunnerError::ResumeMismatch { run: dir.clone() });
            }
            let run = RunDir::reopen(dir)?;
            (run, Some(dir.clone()))
        }
        Start::ContinueFrom(dir) => {
            let mut run = RunDir::create(&opts.experiments, pipeline, &ctx)?;
            run.record.continued_from = Some(
                ronin_store::read_record(dir)
                    .map(|r| r.id)
                    .unwrap_or_else(|_| dir.display().to_string()),
            );
            run.save()?;
            (run, Some(dir.clone()))
        }
    };
    if !opts.tags.is_empty() {
        run.record.tags.extend(opts.tags.clone());
        run.save()?;
    }
    let result = Trainer::new(pipeline, opts, device, &data, &run.path).and_then(|mut t| {
        if let Some(dir) = &from {
            t.restore(dir, matches!(start, Start::Resume(_)))?;
        } else {
            t.log_run_start(&data)?;
        }
        t.run(&mut run)
    });
    match result {
        Ok(outcome) => Ok(outcome),
        Err(e) => {
            // Keep everything written so far; say why the run ended.
            let _ = run.finish(RunStatus::Failed, Some(e.to_string()));
            Err(e)
        }
    }
}

/// With BackupAndRestore, the newest interrupted run of the same resolved pipeline.
fn backup_to_restore(pipeline: &Pipeline, opts: &TrainOptions) -> Option<PathBuf> {
    if !pipeline
        .file
        .callbacks
        .iter()
        .any(|c| matches!(c, CallbackSpec::BackupAndRestore { .. }))
    {
        return None;
    }
    let resolved = pipeline.resolved_ron().ok()?;
    let mut candidates: Vec<(String, PathBuf)> =
        std::fs::read_dir(opts.experiments.join(&pipeline.name))
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join(ronin_store::RECORD).is_file())
            .filter_map(|p| {
                let rec = ronin_store::read_record(&p).ok()?;
                let same = std::fs::read_to_string(p.join(ronin_store::RESOLVED)).ok()? == resolved;
                (same && rec.status == RunStatus::Interrupted).then_some((rec.started, p))
            })
            .collect();
    candidates.sort();
    let (_, dir) = candidates.pop()?;
    let has_checkpoint = [RESUME_CHECKPOINT, "last"]
        .iter()
        .any(|n| ronin_store::find_checkpoint(&dir.join(ronin_store::CHECKPOINTS), n).is_some());
    if has_checkpoint {
        eprintln!(
            "BackupAndRestore: continuing the interrupted run {}",
            dir.display()
        );
        Some(dir)
    } else {
        None
    }
}

fn versions() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("ronin".into(), env!("CARGO_PKG_VERSION").into()),
        ("libtorch".into(), "2.13.0".into()),
        ("tch".into(), "0.26.0".into()),
    ])
}

/// A seed for batch `batch` of epoch `epoch`: dropout masks depend on the position in the
/// run only, so a resumed run draws the same ones (splitmix64 of the three).
fn batch_seed(seed: u64, epoch: usize, batch: usize) -> i64 {
    let mut z = seed
        .wrapping_add((epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add((batch as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 1) as i64
}

/// TensorBoard callback settings (its defaults when the pipeline has none).
struct BoardOptions {
    histogram_freq: usize,
    update_freq: Option<usize>,
    write_images: bool,
    write_graph: bool,
}

/// What the run monitors for `best`: ModelCheckpoint's metric, else EarlyStopping's, else
/// `val_loss` (or `train_loss` without validation data).
fn run_monitor(pipeline: &Pipeline, has_validation: bool) -> (String, Mode) {
    let named = pipeline.file.callbacks.iter().find_map(|c| match c {
        CallbackSpec::ModelCheckpoint { monitor, mode, .. } => Some((monitor.clone(), *mode)),
        _ => None,
    });
    let named = named.or_else(|| {
        pipeline.file.callbacks.iter().find_map(|c| match c {
            CallbackSpec::EarlyStopping { monitor, mode, .. } => Some((monitor.clone(), *mode)),
            _ => None,
        })
    });
    let (monitor, mode) = named.unwrap_or_else(|| {
        let m = if has_validation {
            "val_loss"
        } else {
            "train_loss"
        };
        (m.to_owned(), Mode::Min)
    });
    let monitor = ronin_spec::canonical_metric(&monitor)
        .unwrap_or("val_loss")
        .to_owned();
    let mode = mode.resolve(&monitor);
    (monitor, mode)
}

struct Trainer<'a> {
    pipeline: &'a Pipeline,
    opts: &'a TrainOptions,
    device: Device,
    vars: nn::VarStore,
    net: Net,
    optimizer: Optimizer,
    loss: Loss,
    /// The pipeline's `mix`, applied to training batches only.
    mixer: Option<Mixer>,
    schedule: LrSchedule,
    train_loader: Loader,
    val_loader: Option<Loader>,
    test_loader: Option<Loader>,
    reference_input: Tensor,
    board: Board,
    board_opts: BoardOptions,
    csv: MetricsCsv,
    timing: MetricsCsv,
    csv_logger: Option<(MetricsCsv, char)>,
    checkpoints: PathBuf,
    run_path: PathBuf,
    classes: Vec<String>,
    normalization: (Vec<f32>, Vec<f32>),
    monitor: (String, Mode),
    early: Option<EarlyStopping>,
    ema: Option<Ema>,
    terminate_on_nan: bool,
    backup: Option<(Frequency, bool)>,
    state: TrainerState,
    loss_scale: Option<f64>,
    /// Parameters frozen until `model.unfreeze_after_epochs`.
    frozen: Vec<ParamRef>,
}

/// Identifies a loader's dataset for the feature cache (the same `Arc` is the same data).
fn dataset_key(loader: &Loader) -> usize {
    std::sync::Arc::as_ptr(loader.dataset()) as *const u8 as usize
}

fn batch_tensors(batch: &Batch, device: Device) -> Result<(Tensor, Tensor), RunnerError> {
    let shape: Vec<i64> = batch.images.shape().iter().map(|&d| d as i64).collect();
    let images = match batch.images.as_slice() {
        Some(s) => Tensor::f_from_slice(s)?,
        None => Tensor::f_from_slice(&batch.images.iter().copied().collect::<Vec<f32>>())?,
    };
    let images = to_device(images.f_view(shape.as_slice())?, device)?;
    let labels = match batch.labels.as_slice() {
        Some(s) => Tensor::f_from_slice(s)?,
        None => Tensor::f_from_slice(&batch.labels.to_vec())?,
    };
    Ok((images, to_device(labels, device)?))
}

/// A host tensor on `device`. To a GPU it goes through page-locked (pinned) memory and
/// an asynchronous copy, as PyTorch's `DataLoader(pin_memory=True)` + `.to(non_blocking=
/// True)`: the copy overlaps the work already queued, and libtorch's caching host
/// allocator keeps the pinned block until the copy is done.
fn to_device(t: Tensor, device: Device) -> Result<Tensor, RunnerError> {
    Ok(match device {
        Device::Cpu => t,
        Device::Cuda(_) => {
            let kind = t.kind();
            t.f_pin_memory(device)?
                .f_to_device_(device, kind, true, false)?
        }
        _ => t.f_to_device(device)?,
    })
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
        let mut net = Net::new(&vars.root(), &pipeline.graph, file.model.init)?;
        if let Some(weights) = ronin_store::weights_file(pipeline, &opts.experiments)? {
            let spec = file.model.weights.as_ref();
            let (strict, skip_head) = spec.map_or((true, false), |w| (w.strict, w.skip_head));
            let report =
                transfer::load_weights(&vars, &pipeline.graph, &weights, strict, skip_head)?;
            eprintln!("weights from {}: {}", weights.display(), report.describe());
            transfer::record(run_path, &weights, &report)?;
        }
        let (frozen_until, lr_scale) = transfer::param_groups(pipeline)?;
        net.set_frozen_until(frozen_until);
        if file.model.cache_features {
            net.enable_feature_cache();
        }
        let named = vars.variables();
        let mut params = Vec::new();
        let mut frozen = Vec::new();
        for (i, node) in pipeline.graph.nodes.iter().enumerate() {
            for p in node.params.iter().filter(|p| p.trainable) {
                let Some(t) = named.get(&p.name) else {
                    return Err(RunnerError::Unsupported {
                        what: format!("a model whose parameter {} was not created", p.name),
                    });
                };
                let mut r = ParamRef::new(p.name.clone(), t.shallow_clone());
                r.lr_scale = lr_scale(i);
                if i < frozen_until {
                    let _ = t.shallow_clone().set_requires_grad(false);
                    frozen.push(r);
                } else {
                    params.push(r);
                }
            }
        }
        let optimizer = Optimizer::new(&file.optimizer, params)?;
        let loss = Loss::new(&file.loss, pipeline.num_classes(), device)?;
        let mixer = file
            .mix
            .as_ref()
            .map(|m| Mixer::new(m, file.seed, pipeline.num_classes()));

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
        let schedule = LrSchedule::new(
            file.optimizer.lr(),
            file.schedule.as_ref(),
            file.warmup.as_ref(),
            &file.callbacks,
            file.epochs,
            train_loader.len(),
        );

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
        let timing = MetricsCsv::create(&run_path.join(TIMING), &TIMING_COLUMNS)?;

        let mut board_opts = BoardOptions {
            histogram_freq: 0,
            update_freq: Some(25),
            write_images: true,
            write_graph: true,
        };
        let mut csv_logger = None;
        let mut ema = None;
        let mut terminate_on_nan = false;
        let mut backup = None;
        for cb in &file.callbacks {
            match cb {
                CallbackSpec::TensorBoard {
                    histogram_freq,
                    update_freq,
                    write_images,
                    write_graph,
                } => {
                    board_opts = BoardOptions {
                        histogram_freq: *histogram_freq,
                        update_freq: match update_freq {
                            Frequency::Epoch => None,
                            Frequency::Batches(n) => Some((*n).max(1)),
                        },
                        write_images: *write_images,
                        write_graph: *write_graph,
                    }
                }
                CallbackSpec::CsvLogger {
                    filename,
                    separator,
                    append,
                } => {
                    let path = run_path.join(filename);
                    if !append && path.exists() && opts.start == Start::Fresh {
                        fs_err::remove_file(&path).map_err(|source| RunnerError::Io {
                            path: path.clone(),
                            source,
                        })?;
                    }
                    let columns: Vec<&str> = METRIC_COLUMNS
                        .iter()
                        .chain(&TIMING_COLUMNS[1..])
                        .copied()
                        .collect();
                    csv_logger = Some((
                        MetricsCsv::create_with(&path, &columns, *separator)?,
                        *separator,
                    ));
                }
                CallbackSpec::Ema { momentum, every } => {
                    ema = Some(Ema::new(
                        *momentum,
                        *every,
                        &vars.variables().into_iter().collect(),
                    )?);
                }
                CallbackSpec::TerminateOnNaN {} => terminate_on_nan = true,
                CallbackSpec::BackupAndRestore {
                    save_freq,
                    delete_checkpoint,
                } => backup = Some((*save_freq, *delete_checkpoint)),
                CallbackSpec::EarlyStopping { .. }
                | CallbackSpec::ModelCheckpoint { .. }
                | CallbackSpec::ReduceLROnPlateau { .. } => {}
            }
        }
        let early = file.callbacks.iter().find_map(EarlyStopping::from_spec);
        let loss_scale = (file.precision == Precision::Fp16 && device.is_cuda()).then_some(65536.0);
        Ok(Trainer {
            pipeline,
            opts,
            device,
            vars,
            net,
            optimizer,
            loss,
            mixer,
            schedule,
            train_loader,
            val_loader: val_loader.clone(),
            test_loader,
            reference_input,
            board,
            board_opts,
            csv,
            timing,
            csv_logger,
            checkpoints: run_path.join(ronin_store::CHECKPOINTS),
            run_path: run_path.to_owned(),
            classes: data.classes.clone(),
            normalization: (
                data.normalization.mean.clone(),
                data.normalization.std.clone(),
            ),
            monitor: run_monitor(pipeline, val_loader.is_some()),
            early,
            ema,
            terminate_on_nan,
            backup,
            state: TrainerState::default(),
            loss_scale,
            frozen,
        })
    }

    /// What a new run writes once: the pipeline as text, the model graph, its
    /// hyperparameters for the HParams tab.
    fn log_run_start(&mut self, _data: &DataBundle) -> Result<(), RunnerError> {
        let p = self.pipeline;
        let text: String = p
            .source_text
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect();
        self.board.text("pipeline", &text, 0);
        if self.board_opts.write_graph {
            let name_of = |s: &ronin_spec::Source| match s {
                ronin_spec::Source::Input => crate::tensorboard::GRAPH_INPUT.to_owned(),
                ronin_spec::Source::Node(j) => p.graph.nodes[*j].name.clone(),
            };
            use ronin_spec::LayerSpec as L;
            let one_node_per_layer = p.file.model.layers.len() == p.graph.nodes.len()
                && p.file.model.layers.iter().all(|l| {
                    !matches!(
                        l,
                        L::Identity
                            | L::Sequential(_)
                            | L::Named(..)
                            | L::Residual { .. }
                            | L::Parallel { .. }
                    )
                });
            let nodes: Vec<(String, String, Vec<String>)> = p
                .graph
                .nodes
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    // The layer's own name (ReLU, BatchNorm2d), as the pipeline spells it.
                    let op = match p.file.model.layers.get(i) {
                        Some(layer) if one_node_per_layer => layer.kind().to_owned(),
                        _ => {
                            let op = format!("{:?}", n.op);
                            op.split([' ', '{', '(']).next().unwrap_or("").to_owned()
                        }
                    };
                    (n.name.clone(), op, n.inputs.iter().map(name_of).collect())
                })
                .collect();
            self.board.graph(&nodes);
        }
        let f = &p.file;
        let mut hp = BTreeMap::from([
            (
                "optimizer".to_owned(),
                HParam::Text(f.optimizer.name().into()),
            ),
            ("lr".to_owned(), HParam::Number(f.optimizer.lr())),
            (
                "weight_decay".to_owned(),
                HParam::Number(f.optimizer.weight_decay()),
            ),
            (
                "batch_size".to_owned(),
                HParam::Number(f.data.batch_size as f64),
            ),
            ("epochs".to_owned(), HParam::Number(f.epochs as f64)),
            ("seed".to_owned(), HParam::Number(f.seed as f64)),
            ("augment".to_owned(), HParam::Number(f.augment.len() as f64)),
            (
                "mix".to_owned(),
                HParam::Text(f.mix.as_ref().map_or("none", |m| m.describe()).into()),
            ),
            (
                "schedule".to_owned(),
                HParam::Text(f.schedule.as_ref().map_or("none".into(), |s| {
                    format!("{s:?}")
                        .split([' ', '{', '('])
                        .next()
                        .unwrap_or("")
                        .to_owned()
                })),
            ),
            (
                "parameters".to_owned(),
                HParam::Number(p.graph.trainable_count() as f64),
            ),
        ]);
        for (k, v) in &self.opts.tags {
            if let Some(name) = k.strip_prefix("hp.") {
                let value = v
                    .parse::<f64>()
                    .map_or_else(|_| HParam::Text(v.clone()), HParam::Number);
                hp.insert(name.to_owned(), value);
            }
        }
        let group = self
            .run_path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        self.board
            .hparams_start(&hp, &group)
            .map_err(|e| RunnerError::Encode {
                what: "the hparams summary".into(),
                message: e.to_string(),
            })?;
        self.board.flush();
        Ok(())
    }

    /// Loads the state of the run in `dir`: the newest of its `resume` and `last`
    /// checkpoints. `exact` (resume in place) also restores the position within the epoch
    /// and truncates the logs to it; otherwise (continue from) only weights, optimizer,
    /// schedule and callbacks carry over and the epoch count goes on.
    fn restore(&mut self, dir: &Path, exact: bool) -> Result<(), RunnerError> {
        let checkpoints = dir.join(ronin_store::CHECKPOINTS);
        let candidates = [RESUME_CHECKPOINT, "last"]
            .into_iter()
            .filter_map(|n| checkpoint::read_meta(&checkpoints, n))
            .filter(|(_, m)| m.trainer.is_some());
        let (ck, meta) = candidates.max_by_key(|(_, m)| m.step).ok_or_else(|| {
            RunnerError::MissingCheckpoint {
                path: checkpoints.join("last"),
            }
        })?;
        let Some(state) = meta.trainer.clone() else {
            return Err(RunnerError::MissingCheckpoint {
                path: ck.join(checkpoint::META),
            });
        };
        let model = ck.join(checkpoint::MODEL);
        self.vars
            .load(&model)
            .map_err(|e| RunnerError::Checkpoint {
                path: model.clone(),
                message: e.to_string(),
            })?;
        let saved = checkpoint::read_tensors(&ck.join(checkpoint::STATE))?;
        if let Some(ema) = &mut self.ema {
            // model.safetensors holds the averages; the live weights are `raw.*`.
            let averages: BTreeMap<String, Tensor> = self
                .vars
                .variables()
                .into_iter()
                .map(|(n, t)| (format!("ema.{n}"), t))
                .collect();
            ema.load(&averages)?;
            let _g = tch::no_grad_guard();
            for (n, mut t) in self.vars.variables() {
                if let Some(raw) = saved.get(&format!("raw.{n}")) {
                    t.f_copy_(raw)?;
                }
            }
            ema.updates = state.ema_updates;
        }
        if self.unfreeze_due(state.epochs_done + 1) {
            self.unfreeze(state.epochs_done + 1)?;
        }
        self.optimizer.load_state(&saved, state.step)?;
        if let (Some(p), Some(s)) = (&mut self.schedule.plateau, &state.plateau) {
            p.state = s.clone();
        }
        if let (Some(e), Some(s)) = (&mut self.early, &state.early) {
            e.state = s.clone();
        }
        self.loss_scale = state.loss_scale.or(self.loss_scale);
        if exact {
            self.state = state;
            let epochs = self.state.epochs_done;
            self.csv.keep_rows(epochs)?;
            self.timing.keep_rows(epochs)?;
            if let Some((csv, _)) = &self.csv_logger {
                csv.keep_rows(epochs)?;
            }
            report::truncate_per_class(&self.run_path, epochs)?;
            eprintln!(
                "resuming after epoch {}{} (step {})",
                epochs,
                if self.state.batch > 0 {
                    format!(", batch {}", self.state.batch)
                } else {
                    String::new()
                },
                self.state.step
            );
        } else {
            // A new run continuing an old one: it starts at an epoch boundary.
            self.state = TrainerState {
                batch: 0,
                meter: None,
                epoch_checkpoints: Vec::new(),
                ..state
            };
            eprintln!(
                "continuing from {} after epoch {}",
                dir.display(),
                self.state.epochs_done
            );
        }
        Ok(())
    }

    /// True when epoch `epoch` is the first to train the frozen layers.
    fn unfreeze_due(&self, epoch: usize) -> bool {
        !self.frozen.is_empty()
            && self
                .pipeline
                .file
                .model
                .unfreeze_after_epochs
                .is_some_and(|n| epoch > n)
    }

    /// Fine-tuning: the frozen parameters join the optimizer (with empty state, as a new
    /// param group) and their batch norms train again.
    fn unfreeze(&mut self, epoch: usize) -> Result<(), RunnerError> {
        let params = std::mem::take(&mut self.frozen);
        for p in &params {
            let _ = p.tensor.shallow_clone().set_requires_grad(true);
        }
        eprintln!(
            "epoch {epoch}: {} frozen tensors now train{}",
            params.len(),
            self.pipeline
                .file
                .model
                .backbone_lr
                .map(|lr| format!(" at lr {lr:e}"))
                .unwrap_or_default()
        );
        self.optimizer.add_params(params)?;
        self.net.set_frozen_until(0);
        Ok(())
    }

    fn run(&mut self, run: &mut RunDir) -> Result<TrainOutcome, RunnerError> {
        let epochs = self.pipeline.file.epochs;
        let mut status = RunStatus::Completed;
        let mut message = None;
        while self.state.epochs_done < epochs {
            let epoch = self.state.epochs_done + 1;
            let started = Instant::now();
            // Images this process trained on in this epoch (a resumed epoch restores the
            // counts of the batches before the interruption).
            let restored = self.state.meter.as_ref().map_or(0, |m| m.count);
            if self.unfreeze_due(epoch) {
                self.unfreeze(epoch)?;
            }
            let (train, interrupted) = self.train_epoch(epoch)?;
            let seconds = started.elapsed().as_secs_f64();
            if interrupted {
                status = self.opts.stop.requested().unwrap_or(RunStatus::Interrupted);
                break;
            }
            if !train.loss.is_finite() {
                return Err(RunnerError::NonFiniteLoss {
                    epoch,
                    batch: None,
                    value: train.loss,
                });
            }
            let val = match self.val_loader.clone() {
                Some(l) => Some(self.with_eval_weights(|t| t.evaluate(&l))?),
                None => None,
            };
            self.state.epochs_done = epoch;
            self.state.batch = 0;
            self.state.meter = None;
            let metrics = self.epoch_metrics(epoch, &train, val.as_ref());
            let images = (train.count - restored) as f64;
            self.log_epoch(epoch, &metrics, seconds, images)?;
            report::append_per_class(&self.run_path, epoch, "train", &train, &self.classes)?;
            if let Some(v) = &val {
                report::append_per_class(&self.run_path, epoch, "val", v, &self.classes)?;
            }
            if let Some(lr) = self.schedule.epoch_end(&metrics) {
                eprintln!("ReduceLROnPlateau: lr reduced to {lr:.3e}");
            }
            if self.board_opts.histogram_freq > 0
                && epoch.is_multiple_of(self.board_opts.histogram_freq)
            {
                self.log_histograms(epoch)?;
            }
            let stop = self.end_of_epoch_checkpoints(epoch, &metrics)?;
            run.record.epochs_completed = epoch;
            run.record.best = self.state.best.clone();
            run.record.final_metrics = metrics.clone();
            run.save()?;
            if let Some(reason) = stop {
                eprintln!("{reason}");
                message = Some(reason);
                break;
            }
            if let Some(hook) = &self.opts.on_epoch
                && let EpochFlow::Stop(reason) = hook(epoch, &metrics)
            {
                status = RunStatus::Stopped;
                message = Some(reason);
                break;
            }
            if let Some(requested) = self.opts.stop.requested() {
                status = requested;
                break;
            }
        }
        let mut test = BTreeMap::new();
        if status == RunStatus::Completed
            && let Some(loader) = self.test_loader.clone()
        {
            let best = ronin_store::find_checkpoint(&self.checkpoints, "best").is_some();
            if best {
                checkpoint::load_weights(&mut self.vars, &self.checkpoints, "best")?;
            }
            let (stats, samples) = self.evaluate_collecting(&loader)?;
            test.insert("test_loss".to_owned(), stats.loss);
            test.insert("test_accuracy".to_owned(), stats.accuracy);
            test.insert("test_top5_accuracy".to_owned(), stats.top5_accuracy);
            test.insert("test_f1".to_owned(), stats.macro_f1());
            let step = self.optimizer.steps() as usize;
            self.board.scalar("test/loss", stats.loss, step);
            self.board.scalar("test/accuracy", stats.accuracy, step);
            self.board
                .scalar("test/top5_accuracy", stats.top5_accuracy, step);
            let best_epoch = self.state.best.as_ref().map_or(0, |b| b.epoch);
            report::write_test_report(&self.run_path, &stats, &self.classes, best_epoch)?;
            if self.board_opts.write_images {
                let img = report::confusion_image(&stats.confusion);
                self.log_image("images/confusion_matrix", &img, step);
                if let Some((images, ok)) = samples {
                    let (mean, std) = self.normalization.clone();
                    let grid = report::image_grid(&images, &mean, &std, Some(&ok))?;
                    self.log_image("images/misclassified", &grid, step);
                }
            }
            eprintln!(
                "test (best weights, epoch {best_epoch}): loss {:.4}  accuracy {:.4}  top-5 {:.4}",
                stats.loss, stats.accuracy, stats.top5_accuracy
            );
        }
        if status == RunStatus::Completed
            && let Some((_, true)) = self.backup
        {
            checkpoint::remove(&self.checkpoints, RESUME_CHECKPOINT)?;
        }
        let _ = self.board.hparams_end(status == RunStatus::Completed);
        self.board.flush();
        run.record.test_metrics = test.clone();
        let message = match status {
            RunStatus::Interrupted => Some(format!(
                "interrupted by the user; continue with: ronin resume {}",
                run.path.display()
            )),
            RunStatus::Stopped => message.or_else(|| Some("stopped".to_owned())),
            _ => message,
        };
        run.finish(status, message)?;
        Ok(TrainOutcome {
            run_dir: run.path.clone(),
            status,
            epochs_completed: run.record.epochs_completed,
            best: self.state.best.clone(),
            test,
        })
    }

    fn log_image(&mut self, tag: &str, img: &image::RgbImage, step: usize) {
        if let Err(e) = self.board.image(tag, img, step) {
            eprintln!("warning: cannot log {tag} to TensorBoard: {e}");
        }
    }

    /// Runs `f` with the EMA weights in place of the live ones (when EMA is on).
    fn with_eval_weights<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, RunnerError>,
    ) -> Result<T, RunnerError> {
        if let Some(ema) = &mut self.ema {
            ema.swap()?;
        }
        let out = f(self);
        if let Some(ema) = &mut self.ema {
            ema.swap()?;
        }
        out
    }

    /// Best/last/epoch checkpoints and EarlyStopping; returns why training stops early.
    fn end_of_epoch_checkpoints(
        &mut self,
        epoch: usize,
        metrics: &BTreeMap<String, f64>,
    ) -> Result<Option<String>, RunnerError> {
        let (monitor, mode) = self.monitor.clone();
        let improved = metrics.get(&monitor).is_some_and(|&v| {
            v.is_finite()
                && self.state.best.as_ref().is_none_or(|b| match mode {
                    Mode::Max => v > b.value,
                    _ => v < b.value,
                })
        });
        if improved {
            self.state.best = Some(Best {
                metric: monitor.clone(),
                value: metrics[&monitor],
                epoch,
            });
        }
        let early = match &mut self.early {
            Some(e) => {
                let d = e.epoch_end(epoch - 1, metrics);
                self.state.early = Some(e.state.clone());
                Some((
                    d,
                    e.restore_best_weights,
                    e.monitor.clone(),
                    e.state.best_epoch,
                ))
            }
            None => None,
        };
        self.state.plateau = self.schedule.plateau.as_ref().map(|p| p.state.clone());
        // ModelCheckpoint's epoch files.
        let mut epoch_file = None;
        for cb in &self.pipeline.file.callbacks {
            if let CallbackSpec::ModelCheckpoint {
                save_best_only,
                save_weights_only,
                every_epochs,
                keep_last,
                ..
            } = cb
            {
                let due = if *save_best_only {
                    improved
                } else {
                    epoch.is_multiple_of(*every_epochs.max(&1))
                };
                if due {
                    epoch_file = Some((*save_weights_only, *keep_last));
                }
            }
        }
        let mut names: Vec<(String, bool)> = vec![("last".into(), true)];
        if improved {
            names.push(("best".into(), true));
        }
        if let Some((weights_only, _)) = epoch_file {
            names.push((format!("epoch-{epoch}"), !weights_only));
            self.state.epoch_checkpoints.push(epoch);
        }
        if let Some((EarlyDecision::Improved, true, _, _)) = early {
            names.push((EARLY_BEST.into(), false));
        }
        if let Some((_, Some(keep))) = epoch_file {
            while self.state.epoch_checkpoints.len() > keep {
                let old = self.state.epoch_checkpoints.remove(0);
                checkpoint::remove(&self.checkpoints, &format!("epoch-{old}"))?;
            }
        }
        self.save_checkpoints(&names, metrics)?;
        // An epoch boundary supersedes any mid-epoch backup.
        checkpoint::remove(&self.checkpoints, RESUME_CHECKPOINT)?;
        if let Some((EarlyDecision::Stop, restore, monitor, best_epoch)) = early {
            let mut reason = format!(
                "EarlyStopping: {monitor} has not improved for the patience; stopped after epoch {epoch}"
            );
            if restore && ronin_store::find_checkpoint(&self.checkpoints, EARLY_BEST).is_some() {
                checkpoint::load_weights(&mut self.vars, &self.checkpoints, EARLY_BEST)?;
                self.save_checkpoints(&[("last".into(), false)], metrics)?;
                reason.push_str(&format!("; restored the weights of epoch {best_epoch}"));
            }
            return Ok(Some(reason));
        }
        Ok(None)
    }

    /// One pass over the training split, from `state.batch` on. Returns the epoch's
    /// statistics and whether it stopped early on an interrupt (after saving `resume`).
    fn train_epoch(&mut self, epoch: usize) -> Result<(EpochStats, bool), RunnerError> {
        let epochs = self.pipeline.file.epochs;
        let first = self.state.batch;
        let total = self.train_loader.len();
        let bar = epoch_bar(epoch, epochs, total, self.opts.progress);
        bar.inc(first as u64);
        let mut meter = EpochMeter::new(
            self.device,
            self.classes.len().max(self.pipeline.num_classes()),
        );
        if let Some(sums) = &self.state.meter {
            meter.restore(sums)?;
        }
        let seed = self.pipeline.file.seed;
        let reg = self.pipeline.file.regularization.clone();
        let loader = self.train_loader.clone();
        let check_every = if self.terminate_on_nan { 1 } else { 25 };
        let log_every = self.board_opts.update_freq;
        let backup_every = match self.backup {
            Some((Frequency::Batches(n), _)) => Some(n.max(1)),
            _ => None,
        };
        let mut grid_logged = epoch > 1 || first > 0 || !self.board_opts.write_images;
        for (i, batch) in (first..).zip(loader.epoch_from(epoch - 1, first)) {
            let batch = batch?;
            if batch.is_empty() {
                // Every file of the batch was left out (`on_corrupt: Skip`, warned about):
                // no step, rather than the NaN loss of an empty mean.
                continue;
            }
            let step = self.optimizer.steps() as usize;
            self.optimizer.set_lr(self.schedule.lr(epoch - 1, step));
            tch::manual_seed(batch_seed(seed, epoch - 1, i));
            let (images, labels) = batch_tensors(&batch, self.device)?;
            // With `mix`: the mixed images, their soft targets, and the dominant labels
            // that the accuracy counts.
            let (images, labels, soft) = match &self.mixer {
                Some(m) => {
                    let mixed = m.mix(&images, &labels, epoch - 1, i)?;
                    (mixed.images, mixed.labels, Some(mixed.targets))
                }
                None => (images, labels, None),
            };
            if !grid_logged {
                let n = images.size()[0].min(GRID_IMAGES as i64);
                let (mean, std) = self.normalization.clone();
                let grid = report::image_grid(&images.f_narrow(0, 0, n)?, &mean, &std, None)?;
                self.log_image("images/augmented", &grid, 0);
                grid_logged = true;
            }
            let fp16 = self.loss_scale.is_some();
            let logits = tch::autocast(fp16, || {
                self.net
                    .forward_examples(&images, dataset_key(&loader), &batch.indices, true)
            })?
            .f_to_kind(Kind::Float)?;
            let targets = match &soft {
                Some(t) => Targets::Soft(t),
                None => Targets::Labels(&labels),
            };
            let mut loss = self.loss.batch(&logits, targets)?;
            if let Some(p) = penalty(&reg, self.optimizer.params())? {
                loss = loss.f_add(&p)?;
            }
            self.optimizer.zero_grad();
            let stepped = match self.loss_scale {
                Some(scale) => self.scaled_step(&loss, scale, &reg)?,
                None => {
                    loss.f_backward()?;
                    self.clip(&reg)?;
                    self.optimizer.step()?;
                    true
                }
            };
            if stepped && let Some(ema) = &mut self.ema {
                ema.after_step(self.optimizer.steps())?;
                self.state.ema_updates = ema.updates;
            }
            meter.add(&loss, &logits, &labels)?;
            bar.inc(1);
            let done = i + 1;
            if done % check_every == 0 || log_every.is_some_and(|n| done % n == 0) {
                let value = loss.f_double_value(&[])?;
                if !value.is_finite() {
                    bar.abandon();
                    return Err(RunnerError::NonFiniteLoss {
                        epoch,
                        batch: Some(done),
                        value,
                    });
                }
                if log_every.is_some_and(|n| done % n == 0) {
                    let step = self.optimizer.steps() as usize;
                    self.board.scalar("batch/loss", value, step);
                    self.board.scalar("batch/lr", self.optimizer.lr(), step);
                }
                bar.set_message(format!("loss {value:.4}"));
            }
            let interrupted = self.opts.stop.requested().is_some();
            if (interrupted || backup_every.is_some_and(|n| done % n == 0)) && done < total {
                self.state.batch = done;
                self.state.meter = Some(meter.sums()?);
                self.save_checkpoints(&[(RESUME_CHECKPOINT.into(), true)], &BTreeMap::new())?;
            }
            if interrupted {
                bar.abandon();
                return Ok((meter.finish()?, true));
            }
        }
        bar.finish_and_clear();
        Ok((meter.finish()?, false))
    }

    fn clip(&mut self, reg: &ronin_spec::RegularizationSpec) -> Result<(), RunnerError> {
        if let Some(v) = reg.clip_grad_value {
            clip_grad_value(self.optimizer.params(), v)?;
        }
        if let Some(n) = reg.clip_grad_norm {
            clip_grad_norm(self.optimizer.params(), n)?;
        }
        Ok(())
    }

    /// fp16: backward on the scaled loss, unscale, skip the step on overflow and halve the
    /// scale, double it after 2,000 good steps (torch.cuda.amp.GradScaler's defaults).
    fn scaled_step(
        &mut self,
        loss: &Tensor,
        scale: f64,
        reg: &ronin_spec::RegularizationSpec,
    ) -> Result<bool, RunnerError> {
        loss.f_mul_scalar(scale)?.f_backward()?;
        let mut finite = true;
        {
            let _g = tch::no_grad_guard();
            for p in self.optimizer.params() {
                let mut g = p.tensor.grad();
                if g.defined() {
                    let _ = g.f_div_scalar_(scale)?;
                    if !bool::try_from(g.f_isfinite()?.f_all()?)? {
                        finite = false;
                    }
                }
            }
        }
        if !finite {
            self.loss_scale = Some(scale / 2.0);
            return Ok(false);
        }
        self.clip(reg)?;
        self.optimizer.step()?;
        if self.optimizer.steps() % 2000 == 0 {
            self.loss_scale = Some(scale * 2.0);
        }
        self.state.loss_scale = self.loss_scale;
        Ok(true)
    }

    fn evaluate(&self, loader: &Loader) -> Result<EpochStats, RunnerError> {
        Ok(self.evaluate_inner(loader, false)?.0)
    }

    /// Evaluates and keeps up to 64 misclassified images with a mask of which were right
    /// (all false: every kept image is a mistake).
    fn evaluate_collecting(&self, loader: &Loader) -> Result<(EpochStats, Mistakes), RunnerError> {
        self.evaluate_inner(loader, true)
    }

    fn evaluate_inner(
        &self,
        loader: &Loader,
        collect: bool,
    ) -> Result<(EpochStats, Mistakes), RunnerError> {
        let _g = tch::no_grad_guard();
        let mut meter = EpochMeter::new(
            self.device,
            self.classes.len().max(self.pipeline.num_classes()),
        );
        let mut wrong: Vec<Tensor> = Vec::new();
        let mut kept = 0i64;
        for batch in loader.epoch(0) {
            let batch = batch?;
            if batch.is_empty() {
                continue;
            }
            let (images, labels) = batch_tensors(&batch, self.device)?;
            let logits = self
                .net
                .forward_examples(&images, dataset_key(loader), &batch.indices, false)?
                .f_to_kind(Kind::Float)?;
            let loss = self.loss.batch(&logits, Targets::Labels(&labels))?;
            meter.add(&loss, &logits, &labels)?;
            if collect && kept < GRID_IMAGES as i64 {
                let miss = logits.f_argmax(-1, false)?.f_ne_tensor(&labels)?;
                let idx = miss.f_nonzero()?.f_squeeze_dim(-1)?;
                let take = idx.size()[0].min(GRID_IMAGES as i64 - kept);
                if take > 0 {
                    let idx = idx.f_narrow(0, 0, take)?;
                    wrong.push(images.f_index_select(0, &idx)?);
                    kept += take;
                }
            }
        }
        let samples = if wrong.is_empty() {
            None
        } else {
            let images = Tensor::f_cat(&wrong, 0)?;
            Some((images, vec![false; kept as usize]))
        };
        Ok((meter.finish()?, samples))
    }

    fn epoch_metrics(
        &self,
        epoch: usize,
        train: &EpochStats,
        val: Option<&EpochStats>,
    ) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::from([
            ("epoch".to_owned(), epoch as f64),
            ("train_loss".to_owned(), train.loss),
            ("train_accuracy".to_owned(), train.accuracy),
            ("train_top5_accuracy".to_owned(), train.top5_accuracy),
            ("train_f1".to_owned(), train.macro_f1()),
            ("lr".to_owned(), self.optimizer.lr()),
            ("step".to_owned(), self.optimizer.steps() as f64),
        ]);
        if let Some(v) = val {
            m.insert("val_loss".to_owned(), v.loss);
            m.insert("val_accuracy".to_owned(), v.accuracy);
            m.insert("val_top5_accuracy".to_owned(), v.top5_accuracy);
            m.insert("val_f1".to_owned(), v.macro_f1());
        }
        m
    }

    fn log_epoch(
        &mut self,
        epoch: usize,
        m: &BTreeMap<String, f64>,
        seconds: f64,
        images: f64,
    ) -> Result<(), RunnerError> {
        let get = |k: &str| m.get(k).copied().unwrap_or(f64::NAN);
        self.csv.append(&METRIC_COLUMNS.map(get))?;
        let rate = images / seconds.max(1e-9);
        self.timing.append(&[epoch as f64, seconds, rate])?;
        if let Some((csv, _)) = &self.csv_logger {
            let mut row: Vec<f64> = METRIC_COLUMNS.iter().map(|k| get(k)).collect();
            row.extend([seconds, rate]);
            csv.append(&row)?;
        }
        for key in METRIC_COLUMNS.iter().skip(1).filter(|k| **k != "step") {
            if let Some(v) = m.get(*key) {
                let tag = match key.split_once('_') {
                    Some((split @ ("train" | "val"), rest)) => format!("{split}/{rest}"),
                    _ => (*key).to_owned(),
                };
                self.board.scalar(&tag, *v, epoch);
            }
        }
        self.board
            .scalar("throughput/images_per_second", rate, epoch);
        self.board.scalar("time/epoch_seconds", seconds, epoch);
        self.board.flush();
        let val = match (m.get("val_loss"), m.get("val_accuracy")) {
            (Some(l), Some(a)) => format!("  val_loss {l:.4}  val_acc {a:.4}"),
            _ => String::new(),
        };
        eprintln!(
            "epoch {epoch}/{}  loss {:.4}  acc {:.4}{val}  lr {:.2e}  {seconds:.1}s  {rate:.0} img/s",
            self.pipeline.file.epochs,
            get("train_loss"),
            get("train_accuracy"),
            get("lr"),
        );
        Ok(())
    }

    fn log_histograms(&mut self, epoch: usize) -> Result<(), RunnerError> {
        let mut vars: Vec<(String, Tensor)> = self.vars.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, t) in vars {
            let values = Vec::<f32>::try_from(
                &t.f_detach()?
                    .f_to_kind(Kind::Float)?
                    .f_flatten(0, -1)?
                    .f_to_device(Device::Cpu)?,
            )?;
            self.board
                .histogram(&format!("weights/{name}"), &values, epoch);
            let g = t.grad();
            if g.defined() {
                let values = Vec::<f32>::try_from(
                    &g.f_to_kind(Kind::Float)?
                        .f_flatten(0, -1)?
                        .f_to_device(Device::Cpu)?,
                )?;
                self.board
                    .histogram(&format!("grads/{name}"), &values, epoch);
            }
        }
        Ok(())
    }

    /// Saves the evaluation weights (EMA when on) as each of `names` with the training
    /// state; `(name, with optimizer state)`. The reference output is computed once.
    fn save_checkpoints(
        &mut self,
        names: &[(String, bool)],
        metrics: &BTreeMap<String, f64>,
    ) -> Result<(), RunnerError> {
        self.state.step = self.optimizer.steps();
        let mut state = self.optimizer.state_tensors();
        if let Some(ema) = &self.ema {
            let _g = tch::no_grad_guard();
            for (n, t) in self.vars.variables() {
                state.push((format!("raw.{n}"), t.f_detach_copy()?));
            }
            let _ = ema;
        }
        let meta = CheckpointMeta {
            epoch: self.state.epochs_done,
            step: self.optimizer.steps(),
            lr: self.optimizer.lr(),
            metrics: metrics.clone(),
            trainer: Some(self.state.clone()),
        };
        let reference = self.reference_input.shallow_clone();
        let checkpoints = self.checkpoints.clone();
        self.with_eval_weights(|t| {
            let output =
                tch::no_grad(|| t.net.forward_t(&reference, false))?.f_to_kind(Kind::Float)?;
            for (name, with_state) in names {
                let data = CheckpointData {
                    vars: &t.vars,
                    optimizer_state: state
                        .iter()
                        .map(|(n, x)| (n.clone(), x.shallow_clone()))
                        .collect(),
                    reference: (&reference, &output),
                    meta: meta.clone(),
                    with_state: *with_state,
                };
                checkpoint::save(&checkpoints, name, &data)?;
            }
            Ok(())
        })
    }
}
