//! `ronin sweep FILE`: a hyperparameter search over any pipeline field. Every trial is an
//! ordinary run in `experiments/`, tagged with the sweep, its trial number and its values;
//! the sweep's state (`experiments/.sweeps/<name>/state.json`) makes it resumable; the
//! best trial's pipeline is written beside the sweep file as `<name>.best.ron`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use ronin_runner::{Start, StopSignal, TrainOptions, train};
use ronin_spec::{Override, Pipeline};
use ronin_store::RunStatus;
use ronin_sweep::{Observation, StrategySpec, SweepFile, TpeOptions, Trial};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The sweep file.
    file: PathBuf,
    /// Check every trial that can be known in advance and list them; train nothing.
    #[arg(long)]
    dry_run: bool,
    /// Run the trials in N local worker processes (each claims trials from the sweep's
    /// shared state).
    #[arg(long, value_name = "N")]
    parallel: Option<usize>,
    /// Be one worker: claim and run trials until none is left, then exit (no best file).
    /// What `--parallel` starts, and what a cluster job runs on each node.
    #[arg(long)]
    worker: bool,
    /// Write a Slurm array job or a Kubernetes Indexed Job whose workers run this sweep.
    #[arg(long, value_enum, value_name = "KIND")]
    emit: Option<Emit>,
    /// With --emit: how many workers.
    #[arg(long, default_value_t = 4, value_name = "N")]
    workers: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Emit {
    Slurm,
    Kubernetes,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum TrialStatus {
    Running,
    Completed,
    /// Stopped early by the pruner.
    Pruned,
    Failed,
    Interrupted,
}

impl TrialStatus {
    fn is_final(&self) -> bool {
        matches!(self, Self::Completed | Self::Pruned | Self::Failed)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TrialState {
    number: usize,
    values: BTreeMap<String, Value>,
    status: TrialStatus,
    run: Option<PathBuf>,
    score: Option<f64>,
    message: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    /// sha256 of the sweep file's text when the state was begun.
    sweep: String,
    trials: Vec<TrialState>,
    /// ASHA's rungs: epoch → (trial, metric value) of the trials that reached it.
    #[serde(default)]
    rungs: BTreeMap<String, Vec<(usize, f64)>>,
}

struct Sweep {
    name: String,
    /// The folder of the sweep file, where the best pipeline is written.
    dir: PathBuf,
    file: SweepFile,
    base: PathBuf,
    state_path: PathBuf,
    maximise: bool,
}

impl Sweep {
    fn overrides(&self, values: &BTreeMap<String, Value>) -> Vec<Override> {
        self.file
            .set
            .iter()
            .map(|(k, v)| Override::new(k, v.clone()))
            .chain(
                values
                    .iter()
                    .map(|(k, v)| Override::new(k, ronin_sweep::value_to_ron(v))),
            )
            .collect()
    }

    fn pipeline(&self, values: &BTreeMap<String, Value>) -> Result<Pipeline, String> {
        ronin_cli::commands::load_pipeline(&self.base, &self.overrides(values))
            .map_err(|e| e.to_string())
    }

    /// The trials known before any runs: all of a grid or a random search; for TPE, a
    /// sample that touches every choice and both ends of every range.
    fn planned(&self) -> Result<Vec<Trial>, String> {
        let p = &self.file.params;
        match &self.file.strategy {
            StrategySpec::Grid { trials } => {
                let mut all = ronin_sweep::grid(p).map_err(|e| e.to_string())?;
                if let Some(n) = trials {
                    all.truncate(*n);
                }
                Ok(all)
            }
            StrategySpec::Random { trials } => {
                ronin_sweep::random(p, *trials, self.file.seed).map_err(|e| e.to_string())
            }
            StrategySpec::Tpe { .. } => {
                let mut probes =
                    ronin_sweep::random(p, 4, self.file.seed).map_err(|e| e.to_string())?;
                let mut n = probes.len();
                for param in p {
                    let ends = match &param.domain {
                        ronin_sweep::Domain::Choice(c) => c.clone(),
                        ronin_sweep::Domain::Uniform { low, high, .. }
                        | ronin_sweep::Domain::LogUniform { low, high, .. } => {
                            vec![Value::from(*low), Value::from(*high)]
                        }
                        ronin_sweep::Domain::IntRange { low, high, .. } => {
                            vec![Value::from(*low), Value::from(*high)]
                        }
                    };
                    for v in ends {
                        let mut values =
                            probes.first().map(|t| t.values.clone()).unwrap_or_default();
                        values.insert(param.path.clone(), v);
                        probes.push(Trial { number: n, values });
                        n += 1;
                    }
                }
                Ok(probes)
            }
        }
    }

    fn budget(&self) -> usize {
        match &self.file.strategy {
            StrategySpec::Grid { trials } => trials.unwrap_or(usize::MAX),
            StrategySpec::Random { trials } | StrategySpec::Tpe { trials, .. } => *trials,
        }
    }
}

fn describe(values: &BTreeMap<String, Value>) -> String {
    values
        .iter()
        .map(|(k, v)| format!("{k}={}", ronin_sweep::value_to_ron(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn run(args: Args, experiments: &Path) -> anyhow::Result<ExitCode> {
    let text = match fs_err::read_to_string(&args.file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(ronin_cli::exit::INVALID));
        }
    };
    let file = match ronin_sweep::parse_sweep(&text) {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "error: {}:{}:{}: {}",
                args.file.display(),
                e.span.start.line,
                e.span.start.col,
                e.code
            );
            return Ok(ExitCode::from(ronin_cli::exit::INVALID));
        }
    };
    let name = args
        .file
        .file_stem()
        .map_or_else(|| "sweep".to_owned(), |s| s.to_string_lossy().into_owned());
    let dir = args.file.parent().unwrap_or(Path::new("."));
    let sweep = Sweep {
        dir: dir.to_owned(),
        base: dir.join(&file.base),
        maximise: match file.mode {
            ronin_sweep::Goal::Max => true,
            ronin_sweep::Goal::Min => false,
            ronin_sweep::Goal::Auto => {
                ronin_spec::Mode::Auto.resolve(&file.metric) == ronin_spec::Mode::Max
            }
        },
        state_path: experiments.join(".sweeps").join(&name).join("state.json"),
        name,
        file,
    };
    if ronin_spec::canonical_metric(&sweep.file.metric).is_none()
        && !sweep.file.metric.starts_with("test_")
    {
        eprintln!(
            "error: {}: metric '{}' is not one ronin records (expected one of {}, or test_accuracy, test_loss, test_top5_accuracy, test_f1)",
            args.file.display(),
            sweep.file.metric,
            ronin_spec::METRIC_NAMES.join(", ")
        );
        return Ok(ExitCode::from(ronin_cli::exit::INVALID));
    }
    // Every trial known in advance must be a valid pipeline before anything runs.
    let planned = match sweep.planned() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {}: {e}", args.file.display());
            return Ok(ExitCode::from(ronin_cli::exit::INVALID));
        }
    };
    let mut invalid = 0;
    for t in &planned {
        if let Err(e) = sweep.pipeline(&t.values) {
            invalid += 1;
            eprintln!("error: trial {} ({}): {e}", t.number, describe(&t.values));
        }
    }
    if invalid > 0 {
        eprintln!(
            "{invalid} of {} checked trials are not valid pipelines; nothing was trained",
            planned.len()
        );
        return Ok(ExitCode::from(ronin_cli::exit::INVALID));
    }
    eprintln!(
        "sweep '{}': {} checked trials are valid pipelines (base {})",
        sweep.name,
        planned.len(),
        sweep.base.display()
    );
    if let Some(kind) = args.emit {
        return emit(kind, &args, &sweep, experiments);
    }
    if args.dry_run {
        for t in &planned {
            println!("trial {}: {}", t.number, describe(&t.values));
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(n) = args.parallel.filter(|&n| n > 1) {
        return run_parallel(&args, n, &sweep, experiments);
    }
    run_trials(&sweep, &text, planned, experiments, args.worker)
}

/// The sweep's shared state on disk: read and written only under an exclusive lock of
/// `.lock` beside it, so that worker processes (local, or on a cluster's shared
/// filesystem) can claim trials from it. A worker holds `trial-N.lock` while it runs trial
/// N; a trial marked running whose lock nobody holds lost its worker and is taken over.
#[derive(Clone)]
struct StateStore {
    path: PathBuf,
    hash: String,
}

impl StateStore {
    fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    fn trial_lock(&self, number: usize) -> PathBuf {
        self.dir().join(format!("trial-{number}.lock"))
    }

    /// Runs `f` on the state under the lock and writes what it leaves.
    fn update<T>(&self, f: impl FnOnce(&mut State) -> anyhow::Result<T>) -> anyhow::Result<T> {
        self.locked(true, f)
    }

    /// The state as it is now (read under the lock, not written).
    fn read(&self) -> anyhow::Result<State> {
        self.locked(false, |s| Ok(std::mem::take(s)))
    }

    fn locked<T>(
        &self,
        write: bool,
        f: impl FnOnce(&mut State) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        fs_err::create_dir_all(self.dir())?;
        let lock = fs_err::File::create(self.dir().join(".lock"))?;
        lock.file()
            .lock()
            .with_context(|| format!("cannot lock {}", self.dir().display()))?;
        let mut state = match fs_err::read_to_string(&self.path) {
            Ok(t) => {
                let state: State = serde_json::from_str(&t).with_context(|| {
                    format!(
                        "{} is corrupt; delete it to start the sweep over",
                        self.path.display()
                    )
                })?;
                anyhow::ensure!(
                    state.sweep == self.hash,
                    "the sweep file changed since {} was begun; give the new sweep another file name, or delete that folder to start over",
                    self.path.display()
                );
                state
            }
            // Only a missing state starts a new sweep; any other read error must not be
            // mistaken for one (and overwrite the trials recorded so far).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State {
                sweep: self.hash.clone(),
                ..State::default()
            },
            Err(e) => return Err(e.into()),
        };
        let out = f(&mut state)?;
        if write {
            ronin_store::write_atomic(&self.path, &serde_json::to_vec_pretty(&state)?)?;
        }
        Ok(out)
    }
}

/// Trial `number` of a state re-read from disk (someone may have deleted it meanwhile).
fn trial_mut(state: &mut State, number: usize) -> anyhow::Result<&mut TrialState> {
    state.trials.get_mut(number).with_context(|| {
        format!(
            "trial {number} vanished from the sweep's state; was it deleted while the sweep ran?"
        )
    })
}

/// A trial this worker claimed, with the lock that says so.
struct Claim {
    index: usize,
    values: BTreeMap<String, Value>,
    start: Start,
    _lock: fs_err::File,
}

fn try_lock(path: &Path) -> anyhow::Result<Option<fs_err::File>> {
    let f = fs_err::File::create(path)?;
    Ok(match f.file().try_lock() {
        Ok(()) => Some(f),
        Err(_) => None,
    })
}

/// The run directory of trial `number` of `sweep`, if its run was created.
fn trial_run(experiments: &Path, pipeline: &str, sweep: &str, number: usize) -> Option<PathBuf> {
    let (runs, _) = ronin_store::list_runs(experiments, Some(pipeline));
    runs.into_iter()
        .rev()
        .find(|r| {
            r.record.tags.get("sweep").map(String::as_str) == Some(sweep)
                && r.record.tags.get("trial") == Some(&number.to_string())
        })
        .map(|r| r.path)
}

fn run_trials(
    sweep: &Sweep,
    text: &str,
    planned: Vec<Trial>,
    experiments: &Path,
    worker_only: bool,
) -> anyhow::Result<ExitCode> {
    let store = StateStore {
        path: sweep.state_path.clone(),
        hash: ronin_store::sha256_hex(text.as_bytes()),
    };
    let stop = StopSignal::default();
    let signal = stop.clone();
    ctrlc::set_handler(move || {
        if signal.requested().is_some() {
            std::process::exit(i32::from(ronin_cli::exit::INTERRUPTED));
        }
        eprintln!("\ninterrupt: finishing the current batch of this trial and saving");
        signal.interrupt();
    })
    .context("cannot install the Ctrl-C handler")?;
    let started = Instant::now();
    let total = sweep.budget().min(planned_len(sweep, &planned));
    let done = store.update(|s| Ok(s.trials.iter().filter(|t| t.status.is_final()).count()))?;
    if done > 0 {
        eprintln!(
            "resuming sweep '{}': {done} trials already done",
            sweep.name
        );
    }
    // Where trial runs are stored (to find a dead worker's run): the base pipeline's name.
    let pipeline_name = sweep.pipeline(&BTreeMap::new()).map(|p| p.name).ok();
    loop {
        if let Some(m) = sweep.file.minutes
            && started.elapsed().as_secs_f64() > m * 60.0
        {
            eprintln!("the sweep's {m} minutes are spent; no new trial starts");
            break;
        }
        let claim = store.update(|state| {
            // A trial whose worker is gone (interrupted, killed) first.
            for (i, t) in state.trials.iter_mut().enumerate() {
                if matches!(t.status, TrialStatus::Running | TrialStatus::Interrupted)
                    && let Some(lock) = try_lock(&store.trial_lock(t.number))?
                {
                    let run = t.run.clone().or_else(|| {
                        trial_run(
                            experiments,
                            pipeline_name.as_deref()?,
                            &sweep.name,
                            t.number,
                        )
                    });
                    let resumable = run.filter(|r| {
                        ronin_store::read_record(r)
                            .is_ok_and(|rec| rec.status == RunStatus::Interrupted)
                    });
                    if resumable.is_some() {
                        eprintln!("taking over trial {} where its run stopped", t.number);
                    }
                    t.status = TrialStatus::Running;
                    t.run = resumable.clone();
                    return Ok(Some(Claim {
                        index: i,
                        values: t.values.clone(),
                        start: resumable.map_or(Start::Fresh, Start::Resume),
                        _lock: lock,
                    }));
                }
            }
            let number = state.trials.len();
            if number >= total {
                return Ok(None);
            }
            let values = match &sweep.file.strategy {
                StrategySpec::Tpe { startup, .. } => {
                    let history: Vec<Observation> = state
                        .trials
                        .iter()
                        .filter(|t| {
                            matches!(t.status, TrialStatus::Completed | TrialStatus::Pruned)
                        })
                        .map(|t| Observation {
                            values: t.values.clone(),
                            score: oriented(t.score, sweep.maximise),
                        })
                        .collect();
                    let options = TpeOptions {
                        startup: *startup,
                        ..TpeOptions::default()
                    };
                    ronin_sweep::suggest(&sweep.file.params, &history, options, sweep.file.seed)?
                }
                _ => match planned.get(number) {
                    Some(t) => t.values.clone(),
                    None => return Ok(None),
                },
            };
            let Some(lock) = try_lock(&store.trial_lock(number))? else {
                anyhow::bail!(
                    "trial {number}'s lock is held by a process that has no record of it"
                );
            };
            state.trials.push(TrialState {
                number,
                values: values.clone(),
                status: TrialStatus::Running,
                run: None,
                score: None,
                message: None,
            });
            Ok(Some(Claim {
                index: number,
                values,
                start: Start::Fresh,
                _lock: lock,
            }))
        })?;
        let Some(claim) = claim else { break };
        let number = claim.index;
        let pipeline = match sweep.pipeline(&claim.values) {
            Ok(p) => p,
            Err(e) => {
                store.update(|s| {
                    let t = trial_mut(s, number)?;
                    t.status = TrialStatus::Failed;
                    t.message = Some(e.clone());
                    Ok(())
                })?;
                eprintln!("trial {number}: not a valid pipeline: {e}");
                continue;
            }
        };
        eprintln!(
            "trial {number} ({} of {total}): {}",
            number + 1,
            describe(&claim.values)
        );
        let mut tags = BTreeMap::from([
            ("sweep".to_owned(), sweep.name.clone()),
            ("trial".to_owned(), number.to_string()),
        ]);
        for (k, v) in &claim.values {
            tags.insert(format!("hp.{k}"), ronin_sweep::value_to_ron(v));
        }
        let opts = TrainOptions {
            stop: stop.clone(),
            start: claim.start.clone(),
            tags,
            on_epoch: sweep
                .file
                .pruner
                .map(|p| asha_hook(&store, sweep, number, p)),
            ..TrainOptions::new(experiments)
        };
        let outcome = train(&pipeline, &opts);
        let interrupted = store.update(|s| {
            let t = trial_mut(s, number)?;
            match &outcome {
                Ok(o) => {
                    t.run = Some(o.run_dir.clone());
                    t.score = score_of(&o.run_dir, &sweep.file.metric, sweep.maximise);
                    t.status = match o.status {
                        RunStatus::Interrupted => TrialStatus::Interrupted,
                        RunStatus::Stopped => TrialStatus::Pruned,
                        _ => TrialStatus::Completed,
                    };
                }
                Err(e) => {
                    t.status = TrialStatus::Failed;
                    t.message = Some(e.to_string());
                }
            }
            Ok(t.status == TrialStatus::Interrupted)
        })?;
        drop(claim);
        if let Err(e) = &outcome {
            eprintln!("trial {number} failed: {e}");
        }
        if interrupted {
            eprintln!("sweep interrupted in trial {number}; run the same command to resume it");
            return Ok(ExitCode::from(ronin_cli::exit::INTERRUPTED));
        }
        leaderboard(sweep, &store.read()?);
    }
    if worker_only {
        return Ok(ExitCode::SUCCESS);
    }
    finish(sweep, &store.read()?)
}

/// Asynchronous successive halving: at epochs `min_epochs · reduction^k` a trial goes on
/// only while its value is in the best `1/reduction` of the values other trials had at
/// that epoch (the first trials to arrive go on).
fn asha_hook(
    store: &StateStore,
    sweep: &Sweep,
    number: usize,
    pruner: ronin_sweep::Pruner,
) -> ronin_runner::EpochHook {
    let store = store.clone();
    let metric = sweep.file.metric.clone();
    let maximise = sweep.maximise;
    std::sync::Arc::new(move |epoch, metrics| {
        let ronin_sweep::Pruner::Asha {
            min_epochs,
            reduction,
        } = pruner;
        if !ronin_sweep::is_rung(epoch, min_epochs, reduction) {
            return ronin_runner::EpochFlow::Continue;
        }
        let Some(&value) = metrics.get(&metric) else {
            return ronin_runner::EpochFlow::Continue;
        };
        let verdict = store.update(|s| {
            let rung = s.rungs.entry(epoch.to_string()).or_default();
            rung.retain(|(t, _)| *t != number);
            rung.push((number, value));
            Ok(ronin_sweep::asha_keeps(rung, number, reduction, maximise))
        });
        match verdict {
            Ok(true) | Err(_) => ronin_runner::EpochFlow::Continue,
            Ok(false) => ronin_runner::EpochFlow::Stop(format!(
                "pruned by ASHA after epoch {epoch}: {metric} {value:.4} is not in the best 1/{reduction} at that epoch"
            )),
        }
    })
}

fn planned_len(sweep: &Sweep, planned: &[Trial]) -> usize {
    match sweep.file.strategy {
        StrategySpec::Tpe { trials, .. } => trials,
        _ => planned.len(),
    }
}

/// The score TPE maximises: the metric, negated when smaller is better.
fn oriented(score: Option<f64>, maximise: bool) -> f64 {
    match score {
        Some(s) if maximise => s,
        Some(s) => -s,
        None => f64::NEG_INFINITY,
    }
}

/// The trial's value of `metric`: its test metric, or the best over its epochs.
fn score_of(run: &Path, metric: &str, maximise: bool) -> Option<f64> {
    if metric.starts_with("test_") {
        return ronin_store::read_record(run)
            .ok()?
            .test_metrics
            .get(metric)
            .copied();
    }
    let text = fs_err::read_to_string(run.join(ronin_store::METRICS)).ok()?;
    let mut lines = text.lines();
    let column = lines.next()?.split(',').position(|c| c == metric)?;
    lines
        .filter_map(|l| l.split(',').nth(column)?.parse::<f64>().ok())
        .filter(|v| v.is_finite())
        .reduce(|a, b| if (b > a) == maximise { b } else { a })
}

fn ranked<'a>(sweep: &Sweep, state: &'a State) -> Vec<&'a TrialState> {
    let mut done: Vec<&TrialState> = state
        .trials
        .iter()
        .filter(|t| {
            matches!(t.status, TrialStatus::Completed | TrialStatus::Pruned) && t.score.is_some()
        })
        .collect();
    done.sort_by(|a, b| {
        oriented(b.score, sweep.maximise).total_cmp(&oriented(a.score, sweep.maximise))
    });
    done
}

fn leaderboard(sweep: &Sweep, state: &State) {
    let done = ranked(sweep, state);
    eprintln!(
        "leaderboard ({}, {} trials done):",
        sweep.file.metric,
        done.len()
    );
    for (place, t) in done.iter().take(5).enumerate() {
        eprintln!(
            "  {}. trial {:>3}  {:.4}  {}",
            place + 1,
            t.number,
            t.score.unwrap_or(f64::NAN),
            describe(&t.values)
        );
    }
}

/// Writes the best trial's resolved pipeline beside the sweep file.
fn finish(sweep: &Sweep, state: &State) -> anyhow::Result<ExitCode> {
    let Some(best) = ranked(sweep, state).first().copied() else {
        eprintln!("no trial completed with a value of {}", sweep.file.metric);
        return Ok(ExitCode::from(ronin_cli::exit::FAILED));
    };
    let Some(run) = &best.run else {
        anyhow::bail!("the best trial has no run directory");
    };
    // The base pipeline with the best values: the sweep's fixed `set` (fewer epochs, less
    // data) is for searching, not for the run that follows.
    let resolved = match ronin_cli::commands::load_pipeline(
        &sweep.base,
        &best
            .values
            .iter()
            .map(|(k, v)| Override::new(k, ronin_sweep::value_to_ron(v)))
            .collect::<Vec<_>>(),
    ) {
        Ok(p) => p
            .resolved_ron()
            .map_err(|e| anyhow::anyhow!("cannot print the best pipeline: {e}"))?,
        Err(e) => anyhow::bail!("the best values no longer make a valid pipeline: {e}"),
    };
    let out = sweep.dir.join(format!("{}.best.ron", sweep.name));
    let header = format!(
        "// The best trial ({}) of sweep '{}': {} = {:.6}, run {}.\n// Its values: {}\n// This is the base pipeline with those values; the sweep's fixed values are left out.\n// Train it: ronin train {}\n",
        best.number,
        sweep.name,
        sweep.file.metric,
        best.score.unwrap_or(f64::NAN),
        run.display(),
        describe(&best.values),
        out.display()
    );
    ronin_store::write_atomic(&out, format!("{header}{resolved}\n").as_bytes())?;
    println!("{}", out.display());
    eprintln!(
        "best: trial {} with {} {:.4}; its pipeline is {}",
        best.number,
        sweep.file.metric,
        best.score.unwrap_or(f64::NAN),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `--parallel N`: N worker processes of this binary on this sweep, then the best file.
fn run_parallel(
    args: &Args,
    n: usize,
    sweep: &Sweep,
    experiments: &Path,
) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find the ronin executable")?;
    eprintln!("sweep '{}': starting {n} worker processes", sweep.name);
    let mut children = Vec::new();
    for _ in 0..n {
        children.push(
            std::process::Command::new(&exe)
                .arg("--experiments")
                .arg(experiments)
                .arg("sweep")
                .arg(&args.file)
                .arg("--worker")
                .spawn()
                .context("cannot start a worker process")?,
        );
        // Let each claim its first trial before the next starts (TPE sees one more result).
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let mut interrupted = false;
    for mut c in children {
        let status = c.wait()?;
        interrupted |= status.code() == Some(i32::from(ronin_cli::exit::INTERRUPTED));
    }
    if interrupted {
        eprintln!("sweep interrupted; run the same command to resume it");
        return Ok(ExitCode::from(ronin_cli::exit::INTERRUPTED));
    }
    let store = StateStore {
        path: sweep.state_path.clone(),
        hash: ronin_store::sha256_hex(fs_err::read_to_string(&args.file)?.as_bytes()),
    };
    let state = store.read()?;
    leaderboard(sweep, &state);
    finish(sweep, &state)
}

/// `--emit slurm|kubernetes`: a job whose workers claim this sweep's trials from the
/// state on a filesystem they share (file locks), so the cluster's scheduler runs them.
fn emit(kind: Emit, args: &Args, sweep: &Sweep, experiments: &Path) -> anyhow::Result<ExitCode> {
    let n = args.workers.max(1);
    let file = args.file.display();
    let exp = experiments.display();
    let (path, text) = match kind {
        Emit::Slurm => (
            args.file.with_file_name(format!("{}.slurm.sh", sweep.name)),
            format!(
                r#"#!/bin/bash
# Slurm array job for the ronin sweep {file}: {n} workers, each claiming trials from the
# sweep's state in {exp}/.sweeps/{name}/ (file locks; it must be on a filesystem every
# node shares). Submit from the repository root: sbatch {script}
# A killed or preempted worker's trial is taken over by the next worker that looks.
#SBATCH --job-name=ronin-{name}
#SBATCH --array=0-{last}
#SBATCH --cpus-per-task=4
#SBATCH --output=ronin-{name}-%a.log
set -euo pipefail
cd "${{SLURM_SUBMIT_DIR}}"
exec ronin --experiments {exp} sweep {file} --worker
"#,
                name = sweep.name,
                last = n - 1,
                script = args
                    .file
                    .with_file_name(format!("{}.slurm.sh", sweep.name))
                    .display(),
            ),
        ),
        Emit::Kubernetes => (
            args.file.with_file_name(format!("{}.k8s.yaml", sweep.name)),
            format!(
                r#"# Kubernetes Indexed Job for the ronin sweep {file}: {n} workers, each claiming trials
# from the sweep's state in {exp}/.sweeps/{name}/ on the shared volume (file locks: use
# a ReadWriteMany volume whose filesystem supports them). kubectl apply -f this file;
# set the image to one with ronin and the repository at /work.
apiVersion: batch/v1
kind: Job
metadata:
  name: ronin-sweep-{name}
spec:
  completionMode: Indexed
  completions: {n}
  parallelism: {n}
  backoffLimit: {n}
  template:
    spec:
      restartPolicy: OnFailure
      containers:
        - name: worker
          image: ronin:latest
          workingDir: /work
          command: ["ronin", "--experiments", "{exp}", "sweep", "{file}", "--worker"]
          volumeMounts:
            - name: work
              mountPath: /work
      volumes:
        - name: work
          persistentVolumeClaim:
            claimName: ronin-work
"#,
                name = sweep.name,
            ),
        ),
    };
    ronin_store::write_atomic(&path, text.as_bytes())?;
    println!("{}", path.display());
    Ok(ExitCode::SUCCESS)
}
