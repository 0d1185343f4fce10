//! `ronin tune lr FILE`: the learning-rate range test (Smith, 2017; fastai's `lr_find`).
//! The pipeline trains for `--steps` batches while the lr grows exponentially from
//! `--min` to `--max` (an `ExponentialLR` per step, every batch's loss logged); the
//! smoothed loss against the lr is plotted and the lr where it falls fastest suggested.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use image::{Rgb, RgbImage};
use ronin_runner::{TrainOptions, train};
use ronin_spec::Override;

#[derive(Debug, clap::Subcommand)]
pub enum Tune {
    /// The learning-rate range test.
    Lr(LrArgs),
}

#[derive(Debug, clap::Args)]
pub struct LrArgs {
    /// The pipeline.
    file: PathBuf,
    /// First learning rate.
    #[arg(long, default_value_t = 1e-7)]
    min: f64,
    /// Last learning rate.
    #[arg(long, default_value_t = 10.0)]
    max: f64,
    /// Batches to train.
    #[arg(long, default_value_t = 100)]
    steps: usize,
    /// Change a value of the pipeline first, as `ronin train --set`.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    set: Vec<Override>,
}

pub fn run(tune: Tune, experiments: &Path) -> anyhow::Result<ExitCode> {
    let Tune::Lr(args) = tune;
    if !(args.min > 0.0 && args.max > args.min && args.steps >= 10) {
        eprintln!("error: need 0 < --min < --max and --steps of at least 10");
        return Ok(ExitCode::from(ronin_cli::exit::INVALID));
    }
    let base = match ronin_cli::commands::load_pipeline(&args.file, &args.set) {
        Ok(p) => p,
        Err(e) => {
            ronin_cli::commands::print_spec_error(&e);
            return Ok(ExitCode::from(ronin_cli::exit::INVALID));
        }
    };
    let gamma = (args.max / args.min).powf(1.0 / (args.steps - 1) as f64);
    let mut overrides = args.set.clone();
    overrides.extend([
        Override::new("optimizer.lr", format!("{:e}", args.min)),
        Override::new(
            "schedule",
            format!("Some(ExponentialLR(gamma: {gamma:?}, interval: Step))"),
        ),
        Override::new("warmup", "None"),
        Override::new("epochs", "1"),
        Override::new(
            "data.limit",
            format!("Some({})", args.steps * base.file.data.batch_size),
        ),
        Override::new(
            "callbacks",
            "[TensorBoard(update_freq: Batches(1), write_images: false, write_graph: false)]",
        ),
    ]);
    let pipeline = match ronin_cli::commands::load_pipeline(&args.file, &overrides) {
        Ok(p) => p,
        Err(e) => {
            ronin_cli::commands::print_spec_error(&e);
            return Ok(ExitCode::from(ronin_cli::exit::INVALID));
        }
    };
    eprintln!(
        "lr range test of '{}': {} batches, lr {:e} → {:e}",
        pipeline.name, args.steps, args.min, args.max
    );
    let opts = TrainOptions::new(experiments.join(".tune"));
    // A loss that diverges ends the run with an error: that is where the test ends.
    let run = match train(&pipeline, &opts) {
        Ok(o) => o.run_dir,
        Err(e) => {
            eprintln!("the loss diverged ({e}); the test ends there");
            newest_run(&experiments.join(".tune").join(&pipeline.name))
                .context("the range test wrote no run")?
        }
    };
    let log = ronin_viewer::read_scalars(run.join(ronin_store::EVENTS))?;
    let (Some(losses), Some(lrs)) = (log.series.get("batch/loss"), log.series.get("batch/lr"))
    else {
        anyhow::bail!("{} logged no batch/loss and batch/lr", run.display());
    };
    let points: Vec<(f64, f64)> = lrs
        .iter()
        .zip(losses)
        .filter(|(l, v)| l.step == v.step && v.value.is_finite())
        .map(|(l, v)| (l.value, v.value))
        .collect();
    let curve = smooth_until_divergence(&points);
    anyhow::ensure!(curve.len() >= 5, "too few finite losses to suggest an lr");
    let (suggested, at_min) = suggest(&curve);
    let csv: String = std::iter::once("lr,loss,smoothed_loss\n".to_owned())
        .chain(
            points
                .iter()
                .zip(
                    curve
                        .iter()
                        .map(|c| Some(c.1))
                        .chain(std::iter::repeat(None)),
                )
                .map(|((lr, l), s)| {
                    format!("{lr},{l},{}\n", s.map_or(String::new(), |s| s.to_string()))
                }),
        )
        .collect();
    let csv_path = run.join("lr_range.csv");
    ronin_store::write_atomic(&csv_path, csv.as_bytes())?;
    let png = run.join("lr_range.png");
    plot(&curve, suggested)
        .save(&png)
        .with_context(|| format!("cannot write {}", png.display()))?;
    println!("{suggested:e}");
    eprintln!(
        "suggested lr {suggested:.2e} (steepest descent of the smoothed loss); the loss was lowest at {at_min:.2e} — a tenth of that, {:.2e}, is the other common pick",
        at_min / 10.0
    );
    eprintln!("plot: {}\nvalues: {}", png.display(), csv_path.display());
    eprintln!(
        "use it: ronin train {} --set optimizer.lr={suggested:.2e}",
        args.file.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn newest_run(dir: &Path) -> Option<PathBuf> {
    let (runs, _) = ronin_store::list_runs(dir.parent()?, dir.file_name()?.to_str());
    runs.into_iter().last().map(|r| r.path)
}

/// (lr, smoothed loss): an exponential moving average (β 0.98, bias-corrected), cut
/// where the smoothed loss exceeds four times its lowest value.
pub fn smooth_until_divergence(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let beta: f64 = 0.98;
    let mut avg = 0.0;
    let mut best = f64::INFINITY;
    let mut out = Vec::new();
    for (i, &(lr, loss)) in points.iter().enumerate() {
        avg = beta * avg + (1.0 - beta) * loss;
        let smoothed = avg / (1.0 - beta.powi(i as i32 + 1));
        if smoothed > 4.0 * best {
            break;
        }
        best = best.min(smoothed);
        out.push((lr, smoothed));
    }
    out
}

/// The lr of steepest descent of the smoothed loss against log lr (skipping the first and
/// last tenth, which are noise), and the lr of its minimum.
pub fn suggest(curve: &[(f64, f64)]) -> (f64, f64) {
    let n = curve.len();
    let (from, to) = (n / 10, n - n / 10);
    let mut steepest = (f64::INFINITY, curve[from.max(1)].0);
    for i in from.max(1)..to.max(from + 2).min(n) {
        let (a, b) = (curve[i - 1], curve[i]);
        let slope = (b.1 - a.1) / (b.0.ln() - a.0.ln()).max(1e-12);
        if slope < steepest.0 {
            steepest = (slope, b.0);
        }
    }
    let at_min = curve
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(curve[0].0, |p| p.0);
    (steepest.1, at_min)
}

/// Loss against lr (log scale) with the suggestion marked, 720×420.
fn plot(curve: &[(f64, f64)], mark: f64) -> RgbImage {
    let (w, h, m) = (720u32, 420u32, 40.0);
    let mut img = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    let (lx0, lx1) = (curve[0].0.ln(), curve[curve.len() - 1].0.ln());
    let lo = curve.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let hi = curve.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let x = |lr: f64| m + (lr.ln() - lx0) / (lx1 - lx0).max(1e-12) * (f64::from(w) - 2.0 * m);
    let y = |loss: f64| {
        f64::from(h) - m - (loss - lo) / (hi - lo).max(1e-12) * (f64::from(h) - 2.0 * m)
    };
    let grey = Rgb([150, 150, 150]);
    line(
        &mut img,
        (m, f64::from(h) - m),
        (f64::from(w) - m, f64::from(h) - m),
        grey,
    );
    line(&mut img, (m, m), (m, f64::from(h) - m), grey);
    // A tick at every power of ten.
    let mut decade = lx0 / std::f64::consts::LN_10;
    decade = decade.ceil();
    while decade * std::f64::consts::LN_10 <= lx1 {
        let px = x(10f64.powf(decade));
        line(
            &mut img,
            (px, f64::from(h) - m),
            (px, f64::from(h) - m + 6.0),
            grey,
        );
        decade += 1.0;
    }
    for pair in curve.windows(2) {
        line(
            &mut img,
            (x(pair[0].0), y(pair[0].1)),
            (x(pair[1].0), y(pair[1].1)),
            Rgb([31, 119, 180]),
        );
    }
    let px = x(mark);
    line(
        &mut img,
        (px, m),
        (px, f64::from(h) - m),
        Rgb([214, 39, 40]),
    );
    img
}

fn line(img: &mut RgbImage, a: (f64, f64), b: (f64, f64), color: Rgb<u8>) {
    let steps = (b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil().max(1.0) as usize;
    for i in 0..=steps {
        let t = i as f64 / steps as f64;
        let (px, py) = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
        if px >= 0.0 && py >= 0.0 && (px as u32) < img.width() && (py as u32) < img.height() {
            img.put_pixel(px as u32, py as u32, color);
        }
    }
}
