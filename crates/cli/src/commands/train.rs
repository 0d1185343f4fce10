//! `ronin train FILE`: validate, then train into a new run directory.
//! `ronin train --resume RUN` (and `ronin resume RUN`): continue an interrupted run in place.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use ronin_runner::{Start, TrainOptions, train};
use ronin_spec::{Override, Pipeline};
use ronin_store::RunStatus;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The pipeline file (optional with --resume: the run's own resolved pipeline is used).
    #[arg(required_unless_present = "resume")]
    file: Option<PathBuf>,
    /// Continue this interrupted run (a directory, a run id or a unique prefix) in place:
    /// model, optimizer, schedule, callbacks, data order and RNG go on where its newest
    /// checkpoint left them.
    #[arg(long, value_name = "RUN")]
    resume: Option<String>,
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

/// `ronin resume RUN`: the same as `ronin train --resume RUN`.
#[derive(Debug, clap::Args)]
pub struct ResumeArgs {
    /// The run: its directory, its id, or a unique prefix of the id.
    run: String,
    /// No per-batch progress bar, even on a terminal.
    #[arg(long)]
    no_progress: bool,
}

pub fn resume(args: ResumeArgs, experiments: &Path) -> anyhow::Result<ExitCode> {
    run(
        Args {
            file: None,
            resume: Some(args.run),
            set: Vec::new(),
            epochs: None,
            limit: None,
            no_progress: args.no_progress,
        },
        experiments,
    )
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
    let (pipeline, start) = match &args.resume {
        Some(query) => {
            if !overrides.is_empty() {
                eprintln!(
                    "error: --set, --epochs and --limit change the pipeline, and a resumed run keeps its own; start a new run instead"
                );
                return Ok(ExitCode::from(crate::exit::INVALID));
            }
            match resumable(query, args.file.as_deref(), experiments) {
                Ok(found) => found,
                Err(message) => {
                    eprintln!("error: {message}");
                    return Ok(ExitCode::from(crate::exit::INVALID));
                }
            }
        }
        None => {
            let Some(file) = &args.file else {
                anyhow::bail!("a pipeline file or --resume RUN is needed");
            };
            match super::load_pipeline(file, &overrides) {
                Ok(p) => (p, Start::Fresh),
                Err(e) => {
                    eprintln!("error: {e}");
                    eprintln!("nothing was trained and no run directory was written.");
                    return Ok(ExitCode::from(crate::exit::INVALID));
                }
            }
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
        start,
        ..TrainOptions::new(experiments)
    };
    let what = pipeline
        .path
        .as_deref()
        .map_or_else(|| pipeline.name.clone(), |p| p.display().to_string());
    match &opts.start {
        Start::Resume(dir) => eprintln!(
            "resuming '{}' in {} ({} epochs in all)",
            pipeline.name,
            dir.display(),
            pipeline.file.epochs
        ),
        _ => eprintln!(
            "training '{}' for {} epochs",
            pipeline.name, pipeline.file.epochs
        ),
    }
    let outcome = train(&pipeline, &opts).with_context(|| format!("training {what} failed"))?;
    let run = outcome.run_dir.display();
    match outcome.status {
        RunStatus::Interrupted => {
            eprintln!(
                "interrupted after {} epochs; the run is in {run}",
                outcome.epochs_completed
            );
            eprintln!("resume it with: ronin train --resume {run}");
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

/// The pipeline and start of `--resume QUERY`, or why the run cannot be resumed (bad
/// input: exit code 2). With `file`, that pipeline must be the run's own.
fn resumable(
    query: &str,
    file: Option<&Path>,
    experiments: &Path,
) -> Result<(Pipeline, Start), String> {
    let dir = match ronin_store::find_run(experiments, query) {
        Ok(d) => d,
        Err(e) => return Err(e.to_string()),
    };
    let record = match ronin_store::read_record(&dir) {
        Ok(r) => r,
        Err(e) => return Err(e.to_string()),
    };
    match record.status {
        RunStatus::Completed => {
            return Err(format!(
                "{} already completed its {} epochs; nothing to resume (train it again, or `--set epochs=N` on a new run)",
                dir.display(),
                record.epochs_completed
            ));
        }
        RunStatus::Running => {
            return Err(format!(
                "{} is still training in another process; wait for it or stop it first",
                dir.display()
            ));
        }
        RunStatus::Failed | RunStatus::Stopped | RunStatus::Interrupted => {}
    }
    let pipeline = match file {
        Some(f) => match super::load_pipeline(f, &[]) {
            Ok(p) => p,
            Err(e) => return Err(e.to_string()),
        },
        None => {
            let resolved = dir.join(ronin_store::RESOLVED);
            let text = match fs_err::read_to_string(&resolved) {
                Ok(t) => t,
                Err(e) => {
                    return Err(format!(
                        "{e}; the run cannot be resumed without its resolved pipeline"
                    ));
                }
            };
            match Pipeline::from_str_named(&text, &record.pipeline, Some(resolved)) {
                Ok(p) => p,
                Err(e) => return Err(e.to_string()),
            }
        }
    };
    Ok((pipeline, Start::Resume(dir)))
}
