//! `ronin watch FILE`: validate the pipeline on every save and keep a run of its newest
//! valid version going.
//!
//! - An invalid save prints its diagnostics and changes nothing: a healthy run goes on.
//! - A save that does not change the resolved pipeline (whitespace, comments, a second
//!   write of the same bytes) is noted and ignored.
//! - A semantic change stops the current run cleanly (it saves and ends `Stopped`) and
//!   starts a new one; when the change only extends training (more epochs, callbacks) the
//!   new run continues from the last checkpoint of the previous one.
//! - Files the pipeline `extends` are watched too; Ctrl-C stops the run resumable and exits.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use notify::event::ModifyKind;
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, new_debouncer};
use ronin_runner::{Start, StopSignal, TrainOptions, TrainOutcome, train};
use ronin_spec::{Override, Pipeline, PipelineFile};
use ronin_store::RunStatus;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The pipeline file to watch.
    file: PathBuf,
    /// Change one value of the pipeline on every load, as `ronin train --set`.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    set: Vec<Override>,
    /// Validate once, print the result and exit (0 valid, 2 invalid).
    #[arg(long)]
    once: bool,
    /// How long the file must be quiet before a save is handled, in milliseconds.
    #[arg(long, default_value_t = 40, value_name = "MS")]
    debounce_ms: u64,
    /// Train even when this exact experiment already completed.
    #[arg(long)]
    force: bool,
}

enum Event {
    /// A watched file was written, renamed over, or removed.
    Changed,
    RunEnded(Result<TrainOutcome, String>),
    CtrlC,
}

/// The training thread of the newest valid pipeline.
struct Active {
    stop: StopSignal,
    pipeline: Pipeline,
    thread: std::thread::JoinHandle<()>,
}

/// The newest run that ended, which a change that only extends training continues.
struct Ended {
    pipeline: Pipeline,
    run_dir: PathBuf,
    epochs_done: usize,
}

struct Watcher {
    args: Args,
    experiments: PathBuf,
    tx: Sender<Event>,
    /// (folder, file name) of the pipeline and every file it extends.
    files: Arc<Mutex<BTreeSet<(PathBuf, OsString)>>>,
    folders: BTreeSet<PathBuf>,
    debouncer: notify_debouncer_full::Debouncer<
        notify::RecommendedWatcher,
        notify_debouncer_full::RecommendedCache,
    >,
    resolved: Option<String>,
    active: Option<Active>,
    ended: Option<Ended>,
}

fn say(message: impl std::fmt::Display) {
    eprintln!("[watch] {message}");
}

pub fn run(args: Args, experiments: &Path) -> anyhow::Result<ExitCode> {
    if args.once {
        return Ok(
            match ronin_cli::commands::load_pipeline(&args.file, &args.set) {
                Ok(p) => {
                    println!("{}: ok — pipeline '{}'", args.file.display(), p.name);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    ronin_cli::commands::print_spec_error(&e);
                    ExitCode::from(ronin_cli::exit::INVALID)
                }
            },
        );
    }
    anyhow::ensure!(
        args.file.is_file(),
        "{} does not exist; give the pipeline file to watch",
        args.file.display()
    );
    let (tx, rx) = channel();
    let ctrl = tx.clone();
    let pressed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    ctrlc::set_handler(move || {
        if pressed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            std::process::exit(i32::from(ronin_cli::exit::INTERRUPTED));
        }
        let _ = ctrl.send(Event::CtrlC);
    })
    .context("cannot install the Ctrl-C handler")?;
    let files: Arc<Mutex<BTreeSet<(PathBuf, OsString)>>> = Arc::default();
    let seen = files.clone();
    let changed = tx.clone();
    let debouncer = new_debouncer(
        Duration::from_millis(args.debounce_ms.max(1)),
        Some(Duration::from_millis((args.debounce_ms / 4).max(1))),
        move |result: DebounceEventResult| {
            let Ok(events) = result else { return };
            let Ok(watched) = seen.lock() else { return };
            // Writes, creations (a rename-save lands as one) and removals; not the reads
            // of our own reloads.
            let writes = events.iter().filter(|e| {
                matches!(
                    e.kind,
                    EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
                ) && !matches!(e.kind, EventKind::Modify(ModifyKind::Metadata(_)))
            });
            let ours = writes.flat_map(|e| e.paths.iter()).any(|p| {
                let (Some(dir), Some(name)) = (p.parent(), p.file_name()) else {
                    return false;
                };
                let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
                watched.contains(&(dir, name.to_owned()))
            });
            if ours {
                let _ = changed.send(Event::Changed);
            }
        },
    )
    .context("cannot start watching files (inotify)")?;
    let mut w = Watcher {
        args,
        experiments: experiments.to_owned(),
        tx,
        files,
        folders: BTreeSet::new(),
        debouncer,
        resolved: None,
        active: None,
        ended: None,
    };
    let file = w.args.file.clone();
    w.watch_files(&[file])?;
    say(format!(
        "watching {} (Ctrl-C to stop)",
        w.args.file.display()
    ));
    w.reload(Instant::now(), &rx)?;
    w.event_loop(&rx)
}

impl Watcher {
    fn event_loop(&mut self, rx: &Receiver<Event>) -> anyhow::Result<ExitCode> {
        loop {
            let Ok(event) = rx.recv() else {
                return Ok(ExitCode::SUCCESS);
            };
            match event {
                Event::Changed => self.reload(Instant::now(), rx)?,
                Event::RunEnded(result) => self.run_ended(result),
                Event::CtrlC => {
                    let Some(active) = self.active.take() else {
                        say("stopped");
                        return Ok(ExitCode::SUCCESS);
                    };
                    say("Ctrl-C: finishing the current batch and saving");
                    active.stop.interrupt();
                    let (ended, _) = wait_for_end(rx, &self.tx, active);
                    if let Ok(o) = &ended {
                        say(format!(
                            "run {} interrupted after {} epochs; resume it with: ronin train --resume {}",
                            o.run_dir.display(),
                            o.epochs_completed,
                            o.run_dir.display()
                        ));
                    }
                    return Ok(ExitCode::from(ronin_cli::exit::INTERRUPTED));
                }
            }
        }
    }

    /// Watches the folders of `paths` (so that editors saving by rename are seen) and
    /// makes `paths` the files whose events count.
    fn watch_files(&mut self, paths: &[PathBuf]) -> anyhow::Result<()> {
        let mut wanted = BTreeSet::new();
        let mut folders = BTreeSet::new();
        for p in paths {
            let abs = if p.is_absolute() {
                p.clone()
            } else {
                std::env::current_dir()?.join(p)
            };
            let dir = abs
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_owned);
            let dir = dir.canonicalize().unwrap_or(dir);
            if let Some(name) = abs.file_name() {
                wanted.insert((dir.clone(), name.to_owned()));
            }
            folders.insert(dir);
        }
        for gone in self.folders.difference(&folders) {
            let _ = self.debouncer.unwatch(gone);
        }
        for new in folders.difference(&self.folders) {
            self.debouncer
                .watch(new, RecursiveMode::NonRecursive)
                .with_context(|| format!("cannot watch {}", new.display()))?;
        }
        self.folders = folders;
        if let Ok(mut f) = self.files.lock() {
            *f = wanted;
        }
        Ok(())
    }

    /// Re-reads the pipeline after a save and acts on it.
    fn reload(&mut self, since: Instant, rx: &Receiver<Event>) -> anyhow::Result<()> {
        let file = self.args.file.clone();
        let pipeline = match ronin_cli::commands::load_pipeline(&file, &self.args.set) {
            Ok(p) => p,
            Err(e) => {
                ronin_cli::commands::print_spec_error(&e);
                say(format!(
                    "{} is invalid (checked in {} ms); {}",
                    file.display(),
                    since.elapsed().as_millis(),
                    if self.active.is_some() {
                        "the current run goes on; fix the file and save again"
                    } else {
                        "waiting for the next save"
                    }
                ));
                return Ok(());
            }
        };
        let mut paths = vec![file.clone()];
        paths.extend(pipeline.extends.iter().map(|b| b.path.clone()));
        self.watch_files(&paths)?;
        let resolved = pipeline
            .resolved_ron()
            .map_err(|e| anyhow::anyhow!("cannot print the resolved pipeline: {e}"))?;
        if self.resolved.as_deref() == Some(resolved.as_str()) {
            say(format!(
                "{}: no change to the pipeline (checked in {} ms)",
                file.display(),
                since.elapsed().as_millis()
            ));
            return Ok(());
        }
        self.resolved = Some(resolved);
        say(format!(
            "{}: ok (checked in {} ms)",
            file.display(),
            since.elapsed().as_millis()
        ));
        if let Some(active) = self.active.take() {
            say("the pipeline changed: stopping the current run");
            active.stop.stop();
            let previous = active.pipeline.clone();
            let (ended, quitting) = wait_for_end(rx, &self.tx, active);
            if let Ok(outcome) = ended {
                say(format!(
                    "stopped {} after {} epochs",
                    outcome.run_dir.display(),
                    outcome.epochs_completed
                ));
                self.ended = Some(Ended {
                    pipeline: previous,
                    run_dir: outcome.run_dir,
                    epochs_done: outcome.epochs_completed,
                });
            }
            if quitting {
                return Ok(());
            }
        }
        let start = match &self.ended {
            Some(e) if extends_training(&e.pipeline.file, &pipeline.file, e.epochs_done) => {
                say(format!(
                    "the change only extends training: continuing from {} after epoch {}",
                    e.run_dir.display(),
                    e.epochs_done
                ));
                Start::ContinueFrom(e.run_dir.clone())
            }
            _ => Start::Fresh,
        };
        if start == Start::Fresh
            && !self.args.force
            && let Some(done) = crate::train::same_experiment(&pipeline, &self.experiments)
        {
            say(format!(
                "this exact experiment already ran: {} (status completed); edit the pipeline to start another, or --force",
                done.path.display()
            ));
            self.ended = Some(Ended {
                pipeline,
                run_dir: done.path,
                epochs_done: done.record.epochs_completed,
            });
            return Ok(());
        }
        self.start(pipeline, start);
        Ok(())
    }

    fn start(&mut self, pipeline: Pipeline, start: Start) {
        let stop = StopSignal::default();
        let opts = TrainOptions {
            stop: stop.clone(),
            start,
            ..TrainOptions::new(&self.experiments)
        };
        let tx = self.tx.clone();
        let p = pipeline.clone();
        say(format!(
            "training '{}' for {} epochs",
            pipeline.name, pipeline.file.epochs
        ));
        let thread = std::thread::spawn(move || {
            let result = train(&p, &opts).map_err(|e| {
                std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(": ")
            });
            let _ = tx.send(Event::RunEnded(result));
        });
        self.active = Some(Active {
            stop,
            pipeline,
            thread,
        });
    }

    /// A run ended by itself (completed, failed, stopped by a callback).
    fn run_ended(&mut self, result: Result<TrainOutcome, String>) {
        let Some(active) = self.active.take() else {
            return;
        };
        let _ = active.thread.join();
        match result {
            Ok(o) => {
                let test = o
                    .test
                    .get("test_accuracy")
                    .map(|a| format!(", test accuracy {a:.4}"))
                    .unwrap_or_default();
                say(format!(
                    "run {} ended {:?} after {} epochs{test}; waiting for the next save",
                    o.run_dir.display(),
                    o.status,
                    o.epochs_completed
                ));
                self.ended = Some(Ended {
                    pipeline: active.pipeline,
                    run_dir: o.run_dir,
                    epochs_done: o.epochs_completed,
                });
            }
            Err(e) => say(format!(
                "the run failed: {e}; fix the pipeline and save again"
            )),
        }
    }
}

/// Waits for the stopped run's thread to report. A save or a Ctrl-C that arrives
/// meanwhile is put back on the queue, to be handled once the run has ended; the second
/// value says whether a Ctrl-C came, so that no new run is started for a user who quits.
fn wait_for_end(
    rx: &Receiver<Event>,
    tx: &Sender<Event>,
    active: Active,
) -> (Result<TrainOutcome, String>, bool) {
    let (mut changed, mut ctrl_c) = (false, false);
    loop {
        match rx.recv() {
            Ok(Event::RunEnded(result)) => {
                let _ = active.thread.join();
                if let Ok(o) = &result
                    && !matches!(o.status, RunStatus::Stopped | RunStatus::Interrupted)
                {
                    say(format!("the run had already ended {:?}", o.status));
                }
                if let Err(e) = &result {
                    say(format!("the run failed: {e}"));
                }
                if changed {
                    let _ = tx.send(Event::Changed);
                }
                if ctrl_c {
                    let _ = tx.send(Event::CtrlC);
                }
                return (result, ctrl_c);
            }
            Ok(Event::Changed) => changed = true,
            Ok(Event::CtrlC) => ctrl_c = true,
            Err(_) => return (Err("the training thread is gone".into()), ctrl_c),
        }
    }
}

/// Whether `new` only extends the training `old` did (more epochs, other callbacks), so
/// that its weights after `epochs_done` epochs stay meaningful for it.
pub fn extends_training(old: &PipelineFile, new: &PipelineFile, epochs_done: usize) -> bool {
    let mut a = old.clone();
    let mut b = new.clone();
    a.epochs = 0;
    b.epochs = 0;
    a.callbacks.clear();
    b.callbacks.clear();
    a == b && new.epochs >= old.epochs && new.epochs > epochs_done && epochs_done > 0
}
