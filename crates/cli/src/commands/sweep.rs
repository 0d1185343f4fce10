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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum TrialStatus {
    Running,
    Completed,
    Failed,
    Interrupted,
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

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// sha256 of the sweep file's text when the state was begun.
    sweep: String,
    trials: Vec<TrialState>,
}

struct Sweep {
    name: String,
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
        super::load_pipeline(&self.base, &self.overrides(values)).map_err(|e| e.to_string())
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
                        let mut values = probes[0].values.clone();
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
            return Ok(ExitCode::from(crate::exit::INVALID));
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
            return Ok(ExitCode::from(crate::exit::INVALID));
        }
    };
    let name = args
        .file
        .file_stem()
        .map_or_else(|| "sweep".to_owned(), |s| s.to_string_lossy().into_owned());
    let dir = args.file.parent().unwrap_or(Path::new("."));
    let sweep = Sweep {
        base: dir.join(&file.base),
        maximise: file.mode.maximise(&file.metric),
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
        return Ok(ExitCode::from(crate::exit::INVALID));
    }
    // Every trial known in advance must be a valid pipeline before anything runs.
    let planned = match sweep.planned() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {}: {e}", args.file.display());
            return Ok(ExitCode::from(crate::exit::INVALID));
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
        return Ok(ExitCode::from(crate::exit::INVALID));
    }
    eprintln!(
        "sweep '{}': {} checked trials are valid pipelines (base {})",
        sweep.name,
        planned.len(),
        sweep.base.display()
    );
    if args.dry_run {
        for t in &planned {
            println!("trial {}: {}", t.number, describe(&t.values));
        }
        return Ok(ExitCode::SUCCESS);
    }
    run_trials(&sweep, &text, planned, experiments)
}

fn load_state(path: &Path, hash: &str) -> anyhow::Result<State> {
    match fs_err::read_to_string(path) {
        Ok(t) => {
            let state: State = serde_json::from_str(&t).with_context(|| {
                format!(
                    "{} is corrupt; delete it to start the sweep over",
                    path.display()
                )
            })?;
            anyhow::ensure!(
                state.sweep == hash,
                "the sweep file changed since {} was begun; give the new sweep another file name, or delete that state to start over",
                path.display()
            );
            Ok(state)
        }
        Err(_) => Ok(State {
            sweep: hash.to_owned(),
            trials: Vec::new(),
        }),
    }
}

fn save_state(path: &Path, state: &State) -> anyhow::Result<()> {
    if let Some(d) = path.parent() {
        fs_err::create_dir_all(d)?;
    }
    ronin_store::write_atomic(path, &serde_json::to_vec_pretty(state)?)?;
    Ok(())
}

fn run_trials(
    sweep: &Sweep,
    text: &str,
    planned: Vec<Trial>,
    experiments: &Path,
) -> anyhow::Result<ExitCode> {
    let hash = ronin_store::sha256_hex(text.as_bytes());
    let mut state = load_state(&sweep.state_path, &hash)?;
    let lock_path = sweep.state_path.with_file_name(".lock");
    if let Some(d) = lock_path.parent() {
        fs_err::create_dir_all(d)?;
    }
    let lock = fs_err::File::create(&lock_path)?;
    if lock.file().try_lock().is_err() {
        eprintln!(
            "error: sweep '{}' is running in another process ({})",
            sweep.name,
            lock_path.display()
        );
        return Ok(ExitCode::from(crate::exit::INVALID));
    }
    let stop = StopSignal::default();
    let signal = stop.clone();
    ctrlc::set_handler(move || {
        if signal.requested().is_some() {
            std::process::exit(i32::from(crate::exit::INTERRUPTED));
        }
        eprintln!("\ninterrupt: finishing the current batch of this trial and saving");
        signal.interrupt();
    })
    .context("cannot install the Ctrl-C handler")?;
    let started = Instant::now();
    let done = state
        .trials
        .iter()
        .filter(|t| matches!(t.status, TrialStatus::Completed | TrialStatus::Failed))
        .count();
    if done > 0 {
        eprintln!(
            "resuming sweep '{}': {done} trials already done",
            sweep.name
        );
    }
    loop {
        let finished = state
            .trials
            .iter()
            .filter(|t| matches!(t.status, TrialStatus::Completed | TrialStatus::Failed))
            .count();
        if finished >= sweep.budget().min(planned_len(sweep, &planned)) {
            break;
        }
        if let Some(m) = sweep.file.minutes
            && started.elapsed().as_secs_f64() > m * 60.0
        {
            eprintln!("the sweep's {m} minutes are spent; no new trial starts");
            break;
        }
        // An interrupted trial first, then the next planned or suggested one.
        let (index, start) = match state
            .trials
            .iter()
            .position(|t| matches!(t.status, TrialStatus::Running | TrialStatus::Interrupted))
        {
            Some(i) => {
                let resumable = state.trials[i].run.clone().filter(|r| {
                    ronin_store::read_record(r)
                        .is_ok_and(|rec| rec.status == RunStatus::Interrupted)
                });
                (i, resumable.map_or(Start::Fresh, Start::Resume))
            }
            None => {
                let number = state.trials.len();
                let values = match &sweep.file.strategy {
                    StrategySpec::Tpe { startup, .. } => {
                        let history: Vec<Observation> = state
                            .trials
                            .iter()
                            .filter(|t| t.status == TrialStatus::Completed)
                            .map(|t| Observation {
                                values: t.values.clone(),
                                score: oriented(t.score, sweep.maximise),
                            })
                            .collect();
                        let options = TpeOptions {
                            startup: *startup,
                            ..TpeOptions::default()
                        };
                        ronin_sweep::suggest(
                            &sweep.file.params,
                            &history,
                            options,
                            sweep.file.seed,
                        )?
                    }
                    _ => match planned.get(number) {
                        Some(t) => t.values.clone(),
                        None => break,
                    },
                };
                state.trials.push(TrialState {
                    number,
                    values,
                    status: TrialStatus::Running,
                    run: None,
                    score: None,
                    message: None,
                });
                (number, Start::Fresh)
            }
        };
        let trial = state.trials[index].clone();
        let pipeline = match sweep.pipeline(&trial.values) {
            Ok(p) => p,
            Err(e) => {
                let t = &mut state.trials[index];
                t.status = TrialStatus::Failed;
                t.message = Some(e.clone());
                save_state(&sweep.state_path, &state)?;
                eprintln!("trial {}: not a valid pipeline: {e}", trial.number);
                continue;
            }
        };
        save_state(&sweep.state_path, &state)?;
        eprintln!(
            "trial {} of {}: {}",
            trial.number + 1,
            sweep.budget().min(planned_len(sweep, &planned)),
            describe(&trial.values)
        );
        let mut tags = BTreeMap::from([
            ("sweep".to_owned(), sweep.name.clone()),
            ("trial".to_owned(), trial.number.to_string()),
        ]);
        for (k, v) in &trial.values {
            tags.insert(format!("hp.{k}"), ronin_sweep::value_to_ron(v));
        }
        let opts = TrainOptions {
            stop: stop.clone(),
            start,
            tags,
            ..TrainOptions::new(experiments)
        };
        let outcome = train(&pipeline, &opts);
        let t = &mut state.trials[index];
        match outcome {
            Ok(o) => {
                t.run = Some(o.run_dir.clone());
                match o.status {
                    RunStatus::Interrupted => {
                        t.status = TrialStatus::Interrupted;
                        save_state(&sweep.state_path, &state)?;
                        eprintln!(
                            "sweep interrupted in trial {}; run the same command to resume it",
                            trial.number
                        );
                        return Ok(ExitCode::from(crate::exit::INTERRUPTED));
                    }
                    _ => {
                        t.score = score_of(&o.run_dir, &sweep.file.metric, sweep.maximise);
                        t.status = TrialStatus::Completed;
                    }
                }
            }
            Err(e) => {
                t.status = TrialStatus::Failed;
                t.message = Some(e.to_string());
                eprintln!("trial {} failed: {e}", trial.number);
            }
        }
        save_state(&sweep.state_path, &state)?;
        leaderboard(sweep, &state);
    }
    finish(sweep, &state)
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
        .filter(|t| t.status == TrialStatus::Completed && t.score.is_some())
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
        return Ok(ExitCode::from(crate::exit::FAILED));
    };
    let Some(run) = &best.run else {
        anyhow::bail!("the best trial has no run directory");
    };
    let resolved = fs_err::read_to_string(run.join(ronin_store::RESOLVED))?;
    let out = sweep
        .base
        .with_file_name(format!("{}.best.ron", sweep.name));
    let header = format!(
        "// The best trial ({}) of sweep '{}': {} = {:.6}, run {}.\n// Its values: {}\n// Train it: ronin train {}\n",
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
