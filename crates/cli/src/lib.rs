//! `ronin`: declarative deep-learning experiments. Each subcommand lives in `commands/`.

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Train, export and serve deep-learning experiments described in RON pipeline files.
#[derive(Debug, Parser)]
#[command(name = "ronin", version, about)]
struct Cli {
    /// Folder that holds the run directories.
    #[arg(
        long,
        global = true,
        default_value = "experiments",
        env = "RONIN_EXPERIMENTS"
    )]
    experiments: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate pipelines and print a summary of each model.
    Check(commands::check::Args),
    /// Train a pipeline into experiments/<pipeline>/<run-id>/.
    Train(commands::train::Args),
    /// Continue an interrupted run where its newest checkpoint left it (= train --resume).
    Resume(commands::train::ResumeArgs),
    /// Train a run's snapshot again as a new run, and say whether it reproduced.
    Rerun(commands::train::RerunArgs),
    /// A table of the runs under the experiments folder.
    Runs(commands::runs::RunsArgs),
    /// Everything a run's record says, its checkpoints and last epochs.
    Show(commands::runs::ShowArgs),
    /// Two runs side by side: their resolved pipelines' diff and metric deltas.
    Diff(commands::runs::DiffArgs),
    /// Delete the checkpoints of runs that are not the best of their pipeline (dry run
    /// unless --yes).
    Gc(commands::runs::GcArgs),
    /// Re-validate a pipeline on every save; restart (or continue) its training when it changes.
    Watch(commands::watch::Args),
    /// A hyperparameter search (grid, random, TPE) over any pipeline field.
    Sweep(commands::sweep::Args),
    /// Tuning aids: `ronin tune lr FILE`, the learning-rate range test.
    #[command(subcommand)]
    Tune(commands::tune::Tune),
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => commands::check::run(args),
        Command::Train(args) => commands::train::run(args, &cli.experiments),
        Command::Resume(args) => commands::train::resume(args, &cli.experiments),
        Command::Rerun(args) => commands::train::rerun(args, &cli.experiments),
        Command::Runs(args) => commands::runs::runs(args, &cli.experiments),
        Command::Show(args) => commands::runs::show(args, &cli.experiments),
        Command::Diff(args) => commands::runs::diff(args, &cli.experiments),
        Command::Gc(args) => commands::runs::gc(args, &cli.experiments),
        Command::Watch(args) => commands::watch::run(args, &cli.experiments),
        Command::Sweep(args) => commands::sweep::run(args, &cli.experiments),
        Command::Tune(t) => commands::tune::run(t, &cli.experiments),
        Command::Data(d) => commands::data::run(d, &cli.experiments),
        Command::View(args) => commands::view::run(args, &cli.experiments),
        Command::Export(args) => commands::export::run(args, &cli.experiments),
        Command::Predict(args) => commands::predict::run(args),
        Command::Eval(args) => commands::eval::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(exit::FAILED)
        }
    }
}
