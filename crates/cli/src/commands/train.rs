//! `ronin train FILE`: validate, then train into a new run directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use ronin_runner::{TrainOptions, train};
use ronin_spec::Override;
use ronin_store::RunStatus;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The pipeline file.
    file: PathBuf,
    /// Change one value of the pipeline, e.g. `--set optimizer.lr=3e-4` or
    /// `--set data.batch_size=128`; VALUE is RON. Repeatable.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    set: Vec<Override>,
    /// Train for this many epochs instead of the pipeline's `epochs` (`--set epochs=N`).
    #[arg(long)]
    epochs: Option<usize>,
    /// Use at most N examples of each split (a quick run); `--set data.limit=N`.
    #[arg(long)]
    limit: Option<usize>,
    /// No per-batch progress bar, even on a terminal.
    #[arg(long)]
    no_progress: bool,
}

pub fn run(args: Args, experiments: &Path) -> anyhow::Result<ExitCode> {
    let mut overrides = args.set.clone();
    if let Some(n) = args.epochs {
        anyhow::ensure!(n > 0, "--epochs must be at least 1");
        overrides.push(Override::new("epochs", n.to_string()));
    }
    if let Some(n) = args.limit {
        anyhow::ensure!(n > 0, "--limit must be at least 1");
        overrides.push(Override::new("data.limit", n.to_string()));
    }
    let pipeline = match super::load_pipeline(&args.file, &overrides) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("nothing was trained and no run directory was written.");
            return Ok(ExitCode::from(crate::exit::INVALID));
        }
    };
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = interrupt.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            // A second Ctrl-C: the user wants out now.
            std::process::exit(i32::from(crate::exit::INTERRUPTED));
        }
        eprintln!(
            "\ninterrupt: finishing the current batch and saving (Ctrl-C again to quit at once)"
        );
    })
    .context("cannot install the Ctrl-C handler")?;
    let opts = TrainOptions {
        progress: !args.no_progress && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        interrupt,
        ..TrainOptions::new(experiments)
    };
    eprintln!(
        "training '{}' for {} epochs",
        pipeline.name, pipeline.file.epochs
    );
    let outcome = train(&pipeline, &opts)
        .with_context(|| format!("training {} failed", args.file.display()))?;
    let run = outcome.run_dir.display();
    match outcome.status {
        RunStatus::Interrupted => {
            eprintln!(
                "interrupted after {} epochs; the run is in {run}",
                outcome.epochs_completed
            );
            Ok(ExitCode::from(crate::exit::INTERRUPTED))
        }
        _ => {
            if let Some(b) = &outcome.best {
                eprintln!("best {} {:.4} at epoch {}", b.metric, b.value, b.epoch);
            }
            println!("{run}");
            eprintln!("next: ronin export {run}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
