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
    /// Export a run's model to ONNX and verify it against the trained model.
    Export(commands::export::Args),
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
        Command::Export(args) => commands::export::run(args, &cli.experiments),
        Command::Predict(args) => commands::predict::run(args),
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
