//! `ronin`: declarative deep-learning experiments. Each subcommand lives in `commands/`
//! (the training ones in `bin/ronin-train/`).
//!
//! Two binaries share this command line. `ronin` runs every command that needs no
//! libtorch (check, runs, view, export, predict, eval, data…) in-process and hands the
//! ones that train (train, resume, rerun, watch, sweep, tune) to `ronin-train`, the binary
//! beside it that links libtorch, by `exec` (same process id, arguments, signals and exit
//! code). Loading libtorch costs about 0.35 s of CPU at start-up, which `ronin check` and
//! `ronin predict` no longer pay.

pub mod commands;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

/// What `ronin --help` says about ronin.
pub const ABOUT: &str =
    "Train, export and serve deep-learning experiments described in RON pipeline files.";

/// The one-line help of the training commands, shared by `ronin` (which lists them and
/// hands them over) and `ronin-train` (which runs them).
pub mod about {
    pub const TRAIN: &str = "Train a pipeline into experiments/<pipeline>/<run-id>/";
    pub const RESUME: &str =
        "Continue an interrupted run where its newest checkpoint left it (= train --resume)";
    pub const RERUN: &str =
        "Train a run's snapshot again as a new run, and say whether it reproduced";
    pub const WATCH: &str =
        "Re-validate a pipeline on every save; restart (or continue) its training when it changes";
    pub const SWEEP: &str = "A hyperparameter search (grid, random, TPE) over any pipeline field";
    pub const TUNE: &str = "Tuning aids: `ronin tune lr FILE`, the learning-rate range test";
}

/// The global option of both binaries.
#[derive(Debug, clap::Args)]
pub struct Global {
    /// Folder that holds the run directories.
    #[arg(
        long,
        global = true,
        default_value = "experiments",
        env = "RONIN_EXPERIMENTS"
    )]
    pub experiments: PathBuf,
}

/// The commands that need no libtorch.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate pipelines and print a summary of each model.
    Check(commands::check::Args),
    /// A table of the runs under the experiments folder.
    Runs(commands::runs::RunsArgs),
    /// Everything a run's record says, its checkpoints and last epochs.
    Show(commands::runs::ShowArgs),
    /// Two runs side by side: their resolved pipelines' diff and metric deltas.
    Diff(commands::runs::DiffArgs),
    /// Delete the checkpoints of runs that are not the best of their pipeline (dry run
    /// unless --yes).
    Gc(commands::runs::GcArgs),
    /// Look at a pipeline's data: `ronin data stats FILE` (splits, class counts,
    /// normalisation), `ronin data preview FILE` (a PNG of augmented training samples).
    #[command(subcommand)]
    Data(commands::data::Data),
    /// The training-log viewer: a local web page of every run, live.
    View(commands::view::Args),
    /// Export a run's model to ONNX and verify it against the trained model.
    Export(commands::export::Args),
    /// Score an exported ONNX model on a split of a pipeline's data (accuracy, top-5, loss).
    Eval(commands::eval::Args),
    /// Classify images (PNG/JPEG/BMP) or an IDX file with an exported ONNX model.
    Predict(commands::predict::Args),
}

/// Exit codes scripts can rely on.
pub mod exit {
    /// A pipeline or input was invalid (nothing ran).
    pub const INVALID: u8 = 2;
    /// Something failed while running.
    pub const FAILED: u8 = 1;
    /// Training was interrupted (Ctrl-C) and left a resumable run.
    pub const INTERRUPTED: u8 = 130;
}

/// Runs a command that needs no libtorch.
pub fn run(command: Command, experiments: &Path) -> anyhow::Result<ExitCode> {
    match command {
        Command::Check(args) => commands::check::run(args),
        Command::Runs(args) => commands::runs::runs(args, experiments),
        Command::Show(args) => commands::runs::show(args, experiments),
        Command::Diff(args) => commands::runs::diff(args, experiments),
        Command::Gc(args) => commands::runs::gc(args, experiments),
        Command::Data(d) => commands::data::run(d, experiments),
        Command::View(args) => commands::view::run(args, experiments),
        Command::Export(args) => commands::export::run(args, experiments),
        Command::Predict(args) => commands::predict::run(args),
        Command::Eval(args) => commands::eval::run(args),
    }
}

/// An error of a command, printed with its causes, as the failure exit code.
pub fn report(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(err) => {
            print_error(&err);
            ExitCode::from(exit::FAILED)
        }
    }
}

/// `error: …` and one `  caused by: …` line per cause, on stderr.
pub fn print_error(err: &anyhow::Error) {
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}
