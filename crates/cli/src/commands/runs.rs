//! The experiment store from the command line: `ronin runs`, `show`, `diff` and `gc`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ronin_store::{RunEntry, RunRecord, RunStatus};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusArg {
    Running,
    Completed,
    Failed,
    Stopped,
    Interrupted,
}

impl StatusArg {
    fn status(self) -> RunStatus {
        match self {
            StatusArg::Running => RunStatus::Running,
            StatusArg::Completed => RunStatus::Completed,
            StatusArg::Failed => RunStatus::Failed,
            StatusArg::Stopped => RunStatus::Stopped,
            StatusArg::Interrupted => RunStatus::Interrupted,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct RunsArgs {
    /// Only the runs of this pipeline.
    pipeline: Option<String>,
    /// Order by a metric (`test_accuracy`, `val_loss`, `best`, …; losses ascending, others
    /// descending; runs without it last), or by `started` (the default), `duration`, `epochs`.
    #[arg(long, value_name = "METRIC")]
    sort: Option<String>,
    /// Only runs with this status.
    #[arg(long, value_enum, value_name = "S")]
    status: Option<StatusArg>,
    /// One JSON array of run records (with their paths) instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The run: its directory, its id, or a unique prefix of the id.
    run: String,
    /// The run record as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The first run (directory, id or unique prefix).
    run_a: String,
    /// The second run.
    run_b: String,
}

#[derive(Debug, clap::Args)]
pub struct GcArgs {
    /// Only the runs of this pipeline.
    pipeline: Option<String>,
    /// Delete; without it, gc lists what it would delete and how much space that frees.
    #[arg(long)]
    yes: bool,
}

#[derive(Serialize)]
struct JsonRun<'a> {
    path: &'a Path,
    duration_seconds: Option<f64>,
    #[serde(flatten)]
    record: &'a RunRecord,
}

fn human_duration(seconds: Option<f64>) -> String {
    let Some(s) = seconds else {
        return "-".into();
    };
    let s = s.round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// A metric of a run by name: its test metrics, its last epoch's, or `best`.
fn metric(r: &RunRecord, name: &str) -> Option<f64> {
    r.test_metrics
        .get(name)
        .or_else(|| r.final_metrics.get(name))
        .copied()
        .filter(|v| v.is_finite())
}

/// Whether smaller values of `name` are better: the pipeline language's own rule for a
/// monitored metric (`Mode::Auto`), and durations.
fn lower_is_better(name: &str) -> bool {
    name == "duration" || ronin_spec::Mode::Auto.resolve(name) == ronin_spec::Mode::Min
}

fn status_name(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Running => "running",
        RunStatus::Completed => "completed",
        RunStatus::Failed => "failed",
        RunStatus::Stopped => "stopped",
        RunStatus::Interrupted => "interrupted",
    }
}

fn commit(r: &RunRecord) -> String {
    match &r.git.commit {
        Some(c) => format!(
            "{}{}",
            &c[..c.len().min(8)],
            if r.git.dirty { "+dirty" } else { "" }
        ),
        None => "-".into(),
    }
}

fn run_label(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn warn_unreadable(errors: &[ronin_store::StoreError]) {
    for e in errors {
        eprintln!("warning: skipped a run: {e}");
    }
}

pub fn runs(args: RunsArgs, experiments: &Path) -> anyhow::Result<ExitCode> {
    let (mut list, errors) = ronin_store::list_runs(experiments, args.pipeline.as_deref());
    warn_unreadable(&errors);
    if let Some(s) = args.status {
        list.retain(|r| r.record.status == s.status());
    }
    match args.sort.as_deref() {
        None | Some("started") => {}
        Some("epochs") => list.sort_by_key(|r| std::cmp::Reverse(r.record.epochs_completed)),
        Some(key) => {
            // `best` compares each run's best value in its own metric's direction.
            let value = |r: &RunEntry| match key {
                "duration" => r.record.duration_seconds(),
                "best" => best_score(&r.record),
                _ => metric(&r.record, key),
            };
            let low = key != "best" && lower_is_better(key);
            list.sort_by(|a, b| match (value(a), value(b)) {
                (Some(x), Some(y)) if low => x.total_cmp(&y),
                (Some(x), Some(y)) => y.total_cmp(&x),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            });
        }
    }
    if args.json {
        let rows: Vec<JsonRun> = list
            .iter()
            .map(|r| JsonRun {
                path: &r.path,
                duration_seconds: r.record.duration_seconds(),
                record: &r.record,
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        eprintln!(
            "no runs under {}{}",
            experiments.display(),
            args.pipeline
                .as_deref()
                .map(|p| format!(" for pipeline '{p}'"))
                .unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let sort_col = args
        .sort
        .as_deref()
        .filter(|k| !["started", "epochs", "duration", "best", "test_accuracy"].contains(k));
    let mut header = vec![
        "RUN".to_owned(),
        "STATUS".into(),
        "STARTED".into(),
        "DURATION".into(),
        "EPOCHS".into(),
        "BEST".into(),
        "TEST ACC".into(),
    ];
    if let Some(k) = sort_col {
        header.push(k.to_uppercase());
    }
    header.push("COMMIT".into());
    let mut rows = vec![header];
    for r in &list {
        let rec = &r.record;
        let mut row = vec![
            run_label(experiments, &r.path),
            status_name(rec.status).to_owned(),
            rec.started
                .get(..16)
                .map_or_else(|| rec.started.clone(), |s| s.replace('T', " ")),
            human_duration(rec.duration_seconds()),
            rec.epochs_completed.to_string(),
            rec.best.as_ref().map_or("-".into(), |b| {
                format!("{} {:.4} @{}", b.metric, b.value, b.epoch)
            }),
            metric(rec, "test_accuracy").map_or("-".into(), |v| format!("{:.4}", v)),
        ];
        if let Some(k) = sort_col {
            row.push(metric(rec, k).map_or("-".into(), |v| format!("{v:.4}")));
        }
        row.push(commit(rec));
        rows.push(row);
    }
    print_table(&rows);
    Ok(ExitCode::SUCCESS)
}

fn print_table(rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

pub fn show(args: ShowArgs, experiments: &Path) -> anyhow::Result<ExitCode> {
    let dir = ronin_store::find_run(experiments, &args.run)?;
    let rec = ronin_store::read_record(&dir)?;
    if args.json {
        let row = JsonRun {
            path: &dir,
            duration_seconds: rec.duration_seconds(),
            record: &rec,
        };
        println!("{}", serde_json::to_string_pretty(&row)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("run         {}", dir.display());
    println!("pipeline    {}", rec.pipeline);
    println!(
        "status      {}{}",
        status_name(rec.status),
        rec.message
            .as_deref()
            .map(|m| format!(" — {m}"))
            .unwrap_or_default()
    );
    println!(
        "started     {}   ended {}   ({})",
        rec.started,
        rec.ended.as_deref().unwrap_or("-"),
        human_duration(rec.duration_seconds())
    );
    println!(
        "git         {}{}",
        rec.git
            .commit
            .as_deref()
            .unwrap_or("(not in a git repository)"),
        match (&rec.git.dirty, &rec.git.diff_hash) {
            (true, Some(h)) => format!(
                " with uncommitted changes (diff sha256 {})",
                &h[..h.len().min(12)]
            ),
            (true, None) => " with uncommitted changes".into(),
            _ => String::new(),
        }
    );
    println!(
        "seed        {}   device {}   host {}",
        rec.seed, rec.device, rec.host
    );
    let versions: Vec<String> = rec
        .versions
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!("versions    {}", versions.join(", "));
    if let Some(fp) = &rec.fingerprint {
        println!("experiment  {}", &fp[..fp.len().min(16)]);
    }
    if let Some(from) = &rec.continued_from {
        println!("continues   {from}");
    }
    for (k, v) in &rec.tags {
        println!("tag         {k} = {v}");
    }
    println!("epochs      {}", rec.epochs_completed);
    if let Some(b) = &rec.best {
        println!(
            "best        {} {:.6} at epoch {}",
            b.metric, b.value, b.epoch
        );
    }
    let fmt = |m: &std::collections::BTreeMap<String, f64>| {
        m.iter()
            .filter(|(k, _)| !matches!(k.as_str(), "epoch" | "step"))
            .map(|(k, v)| match k.as_str() {
                "lr" => format!("{k} {v:.3e}"),
                _ => format!("{k} {v:.4}"),
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    if !rec.final_metrics.is_empty() {
        println!("last epoch  {}", fmt(&rec.final_metrics));
    }
    if !rec.test_metrics.is_empty() {
        println!("test        {}", fmt(&rec.test_metrics));
    }
    let checkpoints = dir.join(ronin_store::CHECKPOINTS);
    let found: Vec<(String, u64)> = ronin_store::list_checkpoints(&checkpoints)
        .into_iter()
        .filter_map(|name| {
            let dir = ronin_store::find_checkpoint(&checkpoints, &name)?;
            Some((name, ronin_store::dir_size(&dir)))
        })
        .collect();
    if found.is_empty() {
        println!("checkpoints (none)");
    } else {
        let list: Vec<String> = found
            .iter()
            .map(|(n, b)| format!("{n} ({})", human_bytes(*b)))
            .collect();
        println!("checkpoints {}", list.join(", "));
    }
    let metrics = dir.join(ronin_store::METRICS);
    if let Ok(text) = fs_err::read_to_string(&metrics) {
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() > 1 {
            println!(
                "\n{} (last {} of {} epochs):",
                metrics.display(),
                (lines.len() - 1).min(5),
                lines.len() - 1
            );
            println!("{}", lines[0]);
            for l in &lines[lines.len().saturating_sub(5).max(1)..] {
                println!("{l}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn human_bytes(b: u64) -> String {
    let b = b as f64;
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} GiB", b / (1024.0 * 1024.0 * 1024.0))
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{b} B")
    }
}

pub fn diff(args: DiffArgs, experiments: &Path) -> anyhow::Result<ExitCode> {
    let a = ronin_store::find_run(experiments, &args.run_a)?;
    let b = ronin_store::find_run(experiments, &args.run_b)?;
    let ra = ronin_store::read_record(&a)?;
    let rb = ronin_store::read_record(&b)?;
    let resolved = |d: &Path| {
        let p = d.join(ronin_store::RESOLVED);
        fs_err::read_to_string(&p)
            .with_context(|| format!("{} has no resolved pipeline", d.display()))
    };
    let (ta, tb) = (resolved(&a)?, resolved(&b)?);
    let (la, lb) = (run_label(experiments, &a), run_label(experiments, &b));
    if ta == tb {
        println!("pipelines: identical (resolved)");
    } else {
        let diff = similar::TextDiff::from_lines(&ta, &tb);
        print!(
            "{}",
            diff.unified_diff()
                .context_radius(2)
                .header(&format!("{la}/resolved.ron"), &format!("{lb}/resolved.ron"))
        );
    }
    println!();
    let mut facts = Vec::new();
    if ra.git.commit != rb.git.commit || ra.git.diff_hash != rb.git.diff_hash {
        facts.push(format!("commit: {} → {}", commit(&ra), commit(&rb)));
    }
    if ra.seed != rb.seed {
        facts.push(format!("seed: {} → {}", ra.seed, rb.seed));
    }
    if ra.device != rb.device {
        facts.push(format!("device: {} → {}", ra.device, rb.device));
    }
    if ra.fingerprint.is_some() && ra.fingerprint == rb.fingerprint {
        facts.push("same experiment (pipeline, data and code are identical)".into());
    }
    for f in &facts {
        println!("{f}");
    }
    let mut names: Vec<&String> = ra
        .test_metrics
        .keys()
        .chain(rb.test_metrics.keys())
        .chain(ra.final_metrics.keys())
        .chain(rb.final_metrics.keys())
        .collect();
    names.sort();
    names.dedup();
    let mut rows = vec![vec![
        "METRIC".to_owned(),
        "A".into(),
        "B".into(),
        "B − A".into(),
    ]];
    let cell = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.4}"));
    let mut push = |name: String, x: Option<f64>, y: Option<f64>| {
        let delta = match (x, y) {
            (Some(x), Some(y)) => format!("{:+.4}", y - x),
            _ => "-".into(),
        };
        rows.push(vec![name, cell(x), cell(y), delta]);
    };
    push(
        "epochs".into(),
        Some(ra.epochs_completed as f64),
        Some(rb.epochs_completed as f64),
    );
    if let (Some(x), Some(y)) = (&ra.best, &rb.best)
        && x.metric == y.metric
    {
        push(format!("best {}", x.metric), Some(x.value), Some(y.value));
    }
    for n in names {
        if n == "epoch" || n == "step" {
            continue;
        }
        push(n.clone(), metric(&ra, n), metric(&rb, n));
    }
    println!(
        "A = {la} ({})\nB = {lb} ({})",
        status_name(ra.status),
        status_name(rb.status)
    );
    print_table(&rows);
    Ok(ExitCode::SUCCESS)
}

/// A run's best monitored value, negated when smaller is better: higher is better.
fn best_score(r: &RunRecord) -> Option<f64> {
    r.best.as_ref().map(|b| {
        if lower_is_better(&b.metric) {
            -b.value
        } else {
            b.value
        }
    })
}

/// How runs of one pipeline are ranked for `gc`: test accuracy when the run has one (the
/// held-out figure), else its best monitored value.
fn rank(r: &RunRecord) -> Option<f64> {
    metric(r, "test_accuracy").or_else(|| best_score(r))
}

pub fn gc(args: GcArgs, experiments: &Path) -> anyhow::Result<ExitCode> {
    let (list, errors) = ronin_store::list_runs(experiments, args.pipeline.as_deref());
    warn_unreadable(&errors);
    let mut by_pipeline: std::collections::BTreeMap<&str, Vec<&RunEntry>> = Default::default();
    for r in &list {
        by_pipeline.entry(&r.record.pipeline).or_default().push(r);
    }
    let mut doomed: Vec<(PathBuf, u64)> = Vec::new();
    for (pipeline, runs) in &by_pipeline {
        let best = runs
            .iter()
            .filter(|r| r.record.status == RunStatus::Completed)
            .filter_map(|r| rank(&r.record).map(|v| (v, *r)))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, r)| r.path.clone());
        if let Some(b) = &best {
            println!("keep    {} (best of {pipeline})", run_label(experiments, b));
        }
        for r in runs {
            let checkpoints = r.path.join(ronin_store::CHECKPOINTS);
            if !checkpoints.exists() || best.as_ref() == Some(&r.path) {
                continue;
            }
            match r.record.status {
                RunStatus::Running | RunStatus::Interrupted => {
                    println!(
                        "keep    {} ({}: resumable)",
                        run_label(experiments, &r.path),
                        status_name(r.record.status)
                    );
                }
                _ => doomed.push((checkpoints.clone(), ronin_store::dir_size(&checkpoints))),
            }
        }
    }
    let total: u64 = doomed.iter().map(|(_, b)| b).sum();
    for (path, bytes) in &doomed {
        let verb = if args.yes { "delete" } else { "would delete" };
        println!("{verb} {} ({})", path.display(), human_bytes(*bytes));
        if args.yes {
            fs_err::remove_dir_all(path)?;
        }
    }
    if doomed.is_empty() {
        println!("nothing to delete");
    } else if args.yes {
        println!("freed {} in {} runs", human_bytes(total), doomed.len());
    } else {
        println!(
            "{} in {} runs would be freed; run `ronin gc{} --yes` to delete them",
            human_bytes(total),
            doomed.len(),
            args.pipeline
                .as_deref()
                .map(|p| format!(" {p}"))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}
