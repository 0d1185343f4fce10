//! How a model is trained: loss, optimizer, learning-rate schedule, regularization,
//! callbacks, precision. Names and defaults follow PyTorch (`torch.optim`,
//! `torch.optim.lr_scheduler`, `torch.nn` losses) and Keras (`keras.callbacks`), so a
//! user can carry their parameters over unchanged.

use serde::{Deserialize, Serialize};

/// The training objective. Every variant is written with parentheses:
/// `CrossEntropy()`, `CrossEntropy(label_smoothing: 0.1)`, `Huber(delta: 1.0)`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub enum LossSpec {
    /// Softmax cross-entropy on the logits (`nn.CrossEntropyLoss`).
    CrossEntropy {
        /// One weight per class (rescales each class's contribution), as PyTorch's `weight`.
        #[serde(default)]
        weight: Option<Vec<f64>>,
        /// Mix the one-hot target with the uniform distribution: 0.1 is common.
        #[serde(default)]
        label_smoothing: f64,
    },
    /// Sigmoid + binary cross-entropy on each output against the one-hot target
    /// (`nn.BCEWithLogitsLoss`).
    BinaryCrossEntropy {
        /// Weight of the positive examples (`pos_weight`), one value for all classes.
        #[serde(default)]
        pos_weight: Option<f64>,
    },
    /// Mean squared error between the softmax output and the one-hot target.
    Mse {},
    /// Mean absolute error between the softmax output and the one-hot target.
    L1 {},
    /// Huber (smooth L1) between the softmax output and the one-hot target.
    Huber {
        #[serde(default = "one")]
        delta: f64,
    },
}

impl Default for LossSpec {
    fn default() -> Self {
        LossSpec::CrossEntropy {
            weight: None,
            label_smoothing: 0.0,
        }
    }
}

fn one() -> f64 {
    1.0
}

/// The optimizer (`torch.optim`); `weight_decay` is L2 added to the gradient except in
/// AdamW, where it is decoupled.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub enum OptimizerSpec {
    /// Stochastic gradient descent with optional (Nesterov) momentum.
    Sgd {
        lr: f64,
        #[serde(default)]
        momentum: f64,
        #[serde(default)]
        dampening: f64,
        #[serde(default)]
        nesterov: bool,
        #[serde(default)]
        weight_decay: f64,
    },
    /// Adam (Kingma & Ba) with bias-corrected moments.
    Adam {
        lr: f64,
        #[serde(default = "default_betas")]
        betas: (f64, f64),
        #[serde(default = "default_eps")]
        eps: f64,
        #[serde(default)]
        weight_decay: f64,
        #[serde(default)]
        amsgrad: bool,
    },
    /// Adam with decoupled weight decay (Loshchilov & Hutter); PyTorch's default decay 0.01.
    AdamW {
        lr: f64,
        #[serde(default = "default_betas")]
        betas: (f64, f64),
        #[serde(default = "default_eps")]
        eps: f64,
        #[serde(default = "default_adamw_decay")]
        weight_decay: f64,
        #[serde(default)]
        amsgrad: bool,
    },
    /// RMSprop (Hinton), PyTorch's variant: eps outside the square root.
    RmsProp {
        #[serde(default = "default_lr_001")]
        lr: f64,
        #[serde(default = "default_alpha")]
        alpha: f64,
        #[serde(default = "default_eps")]
        eps: f64,
        #[serde(default)]
        weight_decay: f64,
        #[serde(default)]
        momentum: f64,
        #[serde(default)]
        centered: bool,
    },
    /// Adagrad (Duchi et al.).
    Adagrad {
        #[serde(default = "default_lr_001")]
        lr: f64,
        #[serde(default)]
        lr_decay: f64,
        #[serde(default)]
        weight_decay: f64,
        #[serde(default)]
        initial_accumulator_value: f64,
        #[serde(default = "default_adagrad_eps")]
        eps: f64,
    },
}

fn default_betas() -> (f64, f64) {
    (0.9, 0.999)
}
fn default_eps() -> f64 {
    1e-8
}
fn default_adamw_decay() -> f64 {
    0.01
}
fn default_lr_001() -> f64 {
    0.01
}
fn default_alpha() -> f64 {
    0.99
}
fn default_adagrad_eps() -> f64 {
    1e-10
}

impl OptimizerSpec {
    /// The base learning rate.
    pub fn lr(&self) -> f64 {
        match self {
            Self::Sgd { lr, .. }
            | Self::Adam { lr, .. }
            | Self::AdamW { lr, .. }
            | Self::RmsProp { lr, .. }
            | Self::Adagrad { lr, .. } => *lr,
        }
    }

    pub fn weight_decay(&self) -> f64 {
        match self {
            Self::Sgd { weight_decay, .. }
            | Self::Adam { weight_decay, .. }
            | Self::AdamW { weight_decay, .. }
            | Self::RmsProp { weight_decay, .. }
            | Self::Adagrad { weight_decay, .. } => *weight_decay,
        }
    }

    /// The PyTorch class name, for logs and hyperparameter tables.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sgd { .. } => "SGD",
            Self::Adam { .. } => "Adam",
            Self::AdamW { .. } => "AdamW",
            Self::RmsProp { .. } => "RMSprop",
            Self::Adagrad { .. } => "Adagrad",
        }
    }
}

/// Whether a learning-rate schedule advances once per epoch or once per batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum Interval {
    Epoch,
    Step,
}

/// A learning-rate schedule (`torch.optim.lr_scheduler`). Counts (`step_size`,
/// `milestones`, `t_max`, `total_iters`) are in epochs, or in batches with
/// `interval: Step`. `OneCycle` always steps per batch over the whole run.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub enum ScheduleSpec {
    /// lr × gamma every `step_size`.
    StepLR {
        step_size: usize,
        #[serde(default = "default_gamma")]
        gamma: f64,
        #[serde(default = "epoch_interval")]
        interval: Interval,
    },
    /// lr × gamma at each milestone.
    MultiStepLR {
        milestones: Vec<usize>,
        #[serde(default = "default_gamma")]
        gamma: f64,
        #[serde(default = "epoch_interval")]
        interval: Interval,
    },
    /// lr × gamma every step.
    ExponentialLR {
        gamma: f64,
        #[serde(default = "epoch_interval")]
        interval: Interval,
    },
    /// Half a cosine from lr down to `eta_min` over `t_max` (defaults to the run's length).
    CosineAnnealingLR {
        #[serde(default)]
        t_max: Option<usize>,
        #[serde(default)]
        eta_min: f64,
        #[serde(default = "epoch_interval")]
        interval: Interval,
    },
    /// SGDR: cosine cycles of `t_0`, each `t_mult` times longer than the last.
    CosineAnnealingWarmRestarts {
        t_0: usize,
        #[serde(default = "one_usize")]
        t_mult: usize,
        #[serde(default)]
        eta_min: f64,
        #[serde(default = "epoch_interval")]
        interval: Interval,
    },
    /// Linear change of the lr factor from `start_factor` to `end_factor` over `total_iters`.
    LinearLR {
        #[serde(default = "one_third")]
        start_factor: f64,
        #[serde(default = "one")]
        end_factor: f64,
        #[serde(default = "five")]
        total_iters: usize,
        #[serde(default = "epoch_interval")]
        interval: Interval,
    },
    /// The 1cycle policy (Smith): up to `max_lr` then down, per batch over the whole run.
    OneCycleLR {
        max_lr: f64,
        #[serde(default = "default_pct_start")]
        pct_start: f64,
        #[serde(default)]
        anneal_strategy: Anneal,
        #[serde(default = "default_div_factor")]
        div_factor: f64,
        #[serde(default = "default_final_div_factor")]
        final_div_factor: f64,
        #[serde(default)]
        three_phase: bool,
    },
    /// Divide the lr by 1/`factor` when `monitor` stops improving (also available as a callback).
    ReduceLROnPlateau {
        #[serde(default = "default_monitor")]
        monitor: String,
        #[serde(default)]
        mode: Mode,
        #[serde(default = "default_factor")]
        factor: f64,
        #[serde(default = "default_plateau_patience")]
        patience: usize,
        /// Improvement smaller than this does not count (PyTorch's `threshold`, absolute).
        #[serde(default = "default_plateau_delta")]
        min_delta: f64,
        #[serde(default)]
        cooldown: usize,
        #[serde(default)]
        min_lr: f64,
    },
}

/// OneCycle's annealing shape.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum Anneal {
    #[default]
    Cos,
    Linear,
}

fn default_gamma() -> f64 {
    0.1
}
fn epoch_interval() -> Interval {
    Interval::Epoch
}
fn one_usize() -> usize {
    1
}
fn one_third() -> f64 {
    1.0 / 3.0
}
fn five() -> usize {
    5
}
fn default_pct_start() -> f64 {
    0.3
}
fn default_div_factor() -> f64 {
    25.0
}
fn default_final_div_factor() -> f64 {
    1e4
}
fn default_monitor() -> String {
    "val_loss".into()
}
fn default_factor() -> f64 {
    0.1
}
fn default_plateau_patience() -> usize {
    10
}
fn default_plateau_delta() -> f64 {
    1e-4
}

impl ScheduleSpec {
    /// The schedule's interval (OneCycle and ReduceLROnPlateau have a fixed one).
    pub fn interval(&self) -> Interval {
        match self {
            Self::StepLR { interval, .. }
            | Self::MultiStepLR { interval, .. }
            | Self::ExponentialLR { interval, .. }
            | Self::CosineAnnealingLR { interval, .. }
            | Self::CosineAnnealingWarmRestarts { interval, .. }
            | Self::LinearLR { interval, .. } => *interval,
            Self::OneCycleLR { .. } => Interval::Step,
            Self::ReduceLROnPlateau { .. } => Interval::Epoch,
        }
    }
}

/// A linear warm-up in front of the schedule: the lr factor goes from `start_factor` to 1
/// over `epochs` epochs or `steps` batches (one of the two), then the schedule starts.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WarmupSpec {
    #[serde(default)]
    pub epochs: usize,
    #[serde(default)]
    pub steps: usize,
    #[serde(default)]
    pub start_factor: f64,
}

/// Penalties and limits on top of the loss and the optimizer's weight decay.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegularizationSpec {
    /// λ of the L1 penalty λ·Σ|w| over the weights (not biases or norms) added to the loss.
    #[serde(default)]
    pub l1: f64,
    /// λ of an L2 penalty λ·Σw² over the weights added to the loss (the course's form;
    /// the optimizer's `weight_decay` is the usual way).
    #[serde(default)]
    pub l2: f64,
    /// Rescale all gradients together so their global L2 norm is at most this.
    #[serde(default)]
    pub clip_grad_norm: Option<f64>,
    /// Clamp each gradient element to [-v, v].
    #[serde(default)]
    pub clip_grad_value: Option<f64>,
}

/// Whether a monitored metric should go down or up. `Auto` reads it from the name
/// (accuracy, precision, recall, f1 and auc go up, the rest down), as Keras does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum Mode {
    #[default]
    Auto,
    Min,
    Max,
}

impl Mode {
    /// `Min` or `Max` for `metric`.
    pub fn resolve(self, metric: &str) -> Mode {
        match self {
            Mode::Auto => {
                if ["acc", "precision", "recall", "f1", "auc"]
                    .iter()
                    .any(|k| metric.contains(k))
                {
                    Mode::Max
                } else {
                    Mode::Min
                }
            }
            m => m,
        }
    }
}

/// How often something happens during training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum Frequency {
    /// At the end of every epoch.
    Epoch,
    /// Every N batches.
    Batches(usize),
}

/// Keras callbacks, with Keras' parameter names and defaults.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub enum CallbackSpec {
    /// Stop when `monitor` has not improved by `min_delta` for `patience` epochs.
    EarlyStopping {
        #[serde(default = "default_monitor")]
        monitor: String,
        #[serde(default)]
        min_delta: f64,
        #[serde(default)]
        patience: usize,
        #[serde(default)]
        mode: Mode,
        /// Stop if the metric has not beaten this value after `patience` epochs.
        #[serde(default)]
        baseline: Option<f64>,
        /// Go back to the best epoch's weights when stopping.
        #[serde(default)]
        restore_best_weights: bool,
        /// Epochs to wait before watching for improvement.
        #[serde(default)]
        start_from_epoch: usize,
    },
    /// Save checkpoints named after the epoch (`epoch-N`) besides ronin's `last`/`best`.
    ModelCheckpoint {
        #[serde(default = "default_monitor")]
        monitor: String,
        #[serde(default)]
        mode: Mode,
        /// Only save when `monitor` improved.
        #[serde(default)]
        save_best_only: bool,
        /// Leave the optimizer state out of these checkpoints.
        #[serde(default)]
        save_weights_only: bool,
        /// Every N epochs.
        #[serde(default = "one_usize")]
        every_epochs: usize,
        /// Keep only the newest K of these checkpoints.
        #[serde(default)]
        keep_last: Option<usize>,
    },
    /// Keras' ReduceLROnPlateau (the same as the schedule of that name).
    ReduceLROnPlateau {
        #[serde(default = "default_monitor")]
        monitor: String,
        #[serde(default = "default_factor")]
        factor: f64,
        #[serde(default = "default_plateau_patience")]
        patience: usize,
        #[serde(default)]
        mode: Mode,
        #[serde(default = "default_plateau_delta")]
        min_delta: f64,
        #[serde(default)]
        cooldown: usize,
        #[serde(default)]
        min_lr: f64,
    },
    /// What goes to TensorBoard beyond the per-epoch scalars.
    TensorBoard {
        /// Histograms of weights and gradients every N epochs (0: never).
        #[serde(default)]
        histogram_freq: usize,
        /// Also log the batch loss every N batches (`Batches(N)`), or only per epoch.
        #[serde(default = "default_update_freq")]
        update_freq: Frequency,
        /// Images: augmented training samples, misclassified validation samples, the
        /// confusion matrix.
        #[serde(default = "default_true")]
        write_images: bool,
        /// The model graph.
        #[serde(default = "default_true")]
        write_graph: bool,
    },
    /// One CSV row per epoch; `append` keeps the rows of earlier runs of the same file.
    CsvLogger {
        filename: String,
        #[serde(default = "default_separator")]
        separator: char,
        #[serde(default)]
        append: bool,
    },
    /// Stop at the first NaN or infinite loss, naming the epoch and batch.
    TerminateOnNaN {},
    /// Save the whole training state (model, optimizer, schedule, callbacks, data order,
    /// RNG) so that `ronin train` continues an interrupted run of the same pipeline.
    BackupAndRestore {
        #[serde(default = "default_backup_freq")]
        save_freq: Frequency,
        /// Remove the backup when training ends normally.
        #[serde(default = "default_true")]
        delete_checkpoint: bool,
    },
    /// An exponential moving average of the weights, used for evaluation and saved
    /// checkpoints (Keras' `use_ema` + SwapEMAWeights).
    Ema {
        #[serde(default = "default_ema_momentum")]
        momentum: f64,
        /// Batches between EMA updates.
        #[serde(default = "one_usize")]
        every: usize,
    },
}

fn default_true() -> bool {
    true
}
fn default_update_freq() -> Frequency {
    Frequency::Batches(25)
}
fn default_separator() -> char {
    ','
}
fn default_backup_freq() -> Frequency {
    Frequency::Epoch
}
fn default_ema_momentum() -> f64 {
    0.99
}

impl CallbackSpec {
    pub fn name(&self) -> &'static str {
        match self {
            Self::EarlyStopping { .. } => "EarlyStopping",
            Self::ModelCheckpoint { .. } => "ModelCheckpoint",
            Self::ReduceLROnPlateau { .. } => "ReduceLROnPlateau",
            Self::TensorBoard { .. } => "TensorBoard",
            Self::CsvLogger { .. } => "CsvLogger",
            Self::TerminateOnNaN { .. } => "TerminateOnNaN",
            Self::BackupAndRestore { .. } => "BackupAndRestore",
            Self::Ema { .. } => "Ema",
        }
    }

    /// The metric this callback watches, if any.
    pub fn monitor(&self) -> Option<&str> {
        match self {
            Self::EarlyStopping { monitor, .. }
            | Self::ModelCheckpoint { monitor, .. }
            | Self::ReduceLROnPlateau { monitor, .. } => Some(monitor),
            _ => None,
        }
    }
}

/// Floating-point precision of the forward and backward passes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum Precision {
    #[default]
    Fp32,
    /// bfloat16 autocast (CUDA).
    Bf16,
    /// float16 autocast with a dynamic gradient scaler (CUDA).
    Fp16,
}
