//! `ronin train FILE`: validate, then train into a new run directory.
//! `ronin train --resume RUN` (and `ronin resume RUN`): continue an interrupted run in place.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ronin_runner::{Start, StopSignal, TrainOptions, train};
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
    /// Train even when this exact experiment (same resolved pipeline, data and code)
    /// already completed.
    #[arg(long)]
    force: bool,
}

/// `ronin rerun RUN`: train a run's snapshot again, as a new run.
#[derive(Debug, clap::Args)]
pub struct RerunArgs {
    /// The run: its directory, its id, or a unique prefix of the id.
    run: String,
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
            force: false,
        },
        experiments,
    )
}

/// Reproduces a run from its directory alone: its resolved pipeline, trained as a new run
/// tagged `rerun_of`; then says whether `metrics.csv` came out the same.
pub fn rerun(args: RerunArgs, experiments: &Path) -> anyhow::Result<ExitCode> {
    let original = match ronin_store::find_run(experiments, &args.run)
        .map_err(|e| e.to_string())
        .and_then(|dir| {
            let record = ronin_store::read_record(&dir).map_err(|e| e.to_string())?;
            let pipeline = pipeline_of_run(&dir, &record)?;
            Ok((dir, record, pipeline))
        }) {
        Ok(found) => found,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(ExitCode::from(ronin_cli::exit::INVALID));
        }
    };
    let (dir, record, pipeline) = original;
    let mut tags = std::collections::BTreeMap::new();
    tags.insert("rerun_of".to_owned(), record.id.clone());
    let (code, outcome) =
        train_and_report(pipeline, Start::Fresh, tags, args.no_progress, experiments)?;
    if let Some(outcome) = outcome
        && outcome.status == RunStatus::Completed
    {
        let metrics = |d: &Path| fs_err::read_to_string(d.join(ronin_store::METRICS)).ok();
        match (metrics(&dir), metrics(&outcome.run_dir)) {
            (Some(a), Some(b)) if a == b => eprintln!(
                "reproduced: metrics.csv is identical to {}'s",
                dir.display()
            ),
            (Some(a), Some(b)) => {
                let first = a
                    .lines()
                    .zip(b.lines())
                    .position(|(x, y)| x != y)
                    .unwrap_or(a.lines().count().min(b.lines().count()));
                eprintln!(
                    "not reproduced exactly: metrics.csv differs from {}'s from line {} on (another machine, device or library gives other rounding; see ronin diff)",
                    dir.display(),
                    first + 1
                );
            }
            _ => {}
        }
    }
    Ok(code)
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
                return Ok(ExitCode::from(ronin_cli::exit::INVALID));
            }
            match resumable(query, args.file.as_deref(), experiments) {
                Ok(found) => found,
                Err(message) => {
                    eprintln!("error: {message}");
                    return Ok(ExitCode::from(ronin_cli::exit::INVALID));
                }
            }
        }
        None => {
            let Some(file) = &args.file else {
                anyhow::bail!("a pipeline file or --resume RUN is needed");
            };
            match ronin_cli::commands::load_pipeline(file, &overrides) {
                Ok(p) => (p, Start::Fresh),
                Err(e) => {
                    ronin_cli::commands::print_spec_error(&e);
                    eprintln!("nothing was trained and no run directory was written.");
                    return Ok(ExitCode::from(ronin_cli::exit::INVALID));
                }
            }
        }
    };
    if start == Start::Fresh
        && !args.force
        && let Some(done) = same_experiment(&pipeline, experiments)
    {
        let figure = done
            .record
            .test_metrics
            .get("test_accuracy")
            .map(|v| format!("test_accuracy {v:.4}"))
            .or_else(|| {
                done.record
                    .best
                    .as_ref()
                    .map(|b| format!("{} {:.4}", b.metric, b.value))
            })
            .unwrap_or_else(|| "no metrics".into());
        eprintln!(
            "this exact experiment already ran: {}, {figure} (same resolved pipeline, data and code); --force runs it again",
            done.path.display()
        );
        println!("{}", done.path.display());
        return Ok(ExitCode::SUCCESS);
    }
    Ok(train_and_report(
        pipeline,
        start,
        Default::default(),
        args.no_progress,
        experiments,
    )?
    .0)
}

/// The completed run of the same experiment, if there is one.
pub fn same_experiment(pipeline: &Pipeline, experiments: &Path) -> Option<ronin_store::RunEntry> {
    let cwd = std::env::current_dir().ok()?;
    let fingerprint =
        ronin_store::experiment_fingerprint(pipeline, &ronin_store::git_info(&cwd), experiments)
            .ok()?;
    ronin_store::find_same_experiment(experiments, &pipeline.name, &fingerprint)
}

/// Trains with Ctrl-C handling and says how it ended; the exit code and the outcome.
fn train_and_report(
    pipeline: Pipeline,
    start: Start,
    tags: std::collections::BTreeMap<String, String>,
    no_progress: bool,
    experiments: &Path,
) -> anyhow::Result<(ExitCode, Option<ronin_runner::TrainOutcome>)> {
    let stop = StopSignal::default();
    let signal = stop.clone();
    ctrlc::set_handler(move || {
        if signal.requested().is_some() {
            // A second Ctrl-C: the user wants out now.
            std::process::exit(i32::from(ronin_cli::exit::INTERRUPTED));
        }
        eprintln!(
            "\ninterrupt: finishing the current batch and saving (Ctrl-C again to quit at once)"
        );
        signal.interrupt();
    })
    .context("cannot install the Ctrl-C handler")?;
    let opts = TrainOptions {
        progress: !no_progress && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        stop,
        start,
        tags,
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
            Ok((ExitCode::from(ronin_cli::exit::INTERRUPTED), Some(outcome)))
        }
        _ => {
            if let Some(b) = &outcome.best {
                eprintln!("best {} {:.4} at epoch {}", b.metric, b.value, b.epoch);
            }
            println!("{run}");
            eprintln!("next: ronin export {run}");
            Ok((ExitCode::SUCCESS, Some(outcome)))
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
        Some(f) => ronin_cli::commands::load_pipeline(f, &[]).map_err(|e| e.to_string())?,
        None => pipeline_of_run(&dir, &record)?,
    };
    Ok((pipeline, Start::Resume(dir)))
}

/// The pipeline a run was trained with, from its `resolved.ron` (every default, base file
/// and `--set` applied), checked again.
pub fn pipeline_of_run(dir: &Path, record: &ronin_store::RunRecord) -> Result<Pipeline, String> {
    let resolved = dir.join(ronin_store::RESOLVED);
    let text = fs_err::read_to_string(&resolved).map_err(|e| {
        format!("{e}; the run cannot be trained again without its resolved pipeline")
    })?;
    Pipeline::from_str_named(&text, &record.pipeline, Some(resolved)).map_err(|e| e.to_string())
}
