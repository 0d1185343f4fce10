//! `ronin data stats FILE`: what a pipeline's data section yields — the source, the image
//! shape, the classes, each split's size and class counts, the normalisation.
//! `ronin data preview FILE`: a PNG grid of augmented training samples, each labelled
//! with its class, as the first training epoch sees them.

mod grid;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ronin_data::{DataBundle, Part};
use ronin_spec::{NormalizeSpec, Override, Pipeline};

#[derive(Debug, clap::Subcommand)]
pub enum Data {
    /// The source, image shape, classes, split sizes, class counts and normalisation.
    Stats(StatsArgs),
    /// A PNG grid of augmented training samples, each labelled with its class name.
    Preview(PreviewArgs),
}

#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// The pipeline.
    file: PathBuf,
    /// Use at most N examples of each split, as `ronin train --limit N`.
    #[arg(long)]
    limit: Option<usize>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Change a value of the pipeline first, as `ronin train --set`.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    set: Vec<Override>,
}

#[derive(Debug, clap::Args)]
pub struct PreviewArgs {
    /// The pipeline.
    file: PathBuf,
    /// Number of samples (8 per row).
    #[arg(long, default_value_t = 64)]
    n: usize,
    /// The PNG to write [default: <experiments>/<pipeline>/preview.png].
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// Seed of the loader (order and augmentation) instead of the pipeline's: other draws.
    #[arg(long)]
    seed: Option<u64>,
    /// Change a value of the pipeline first, as `ronin train --set`.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    set: Vec<Override>,
}

pub fn run(data: Data, experiments: &Path) -> anyhow::Result<ExitCode> {
    match data {
        Data::Stats(args) => stats(args),
        Data::Preview(args) => preview(args, experiments),
    }
}

/// The validated pipeline and its data, or the exit code after printing why not: an
/// invalid pipeline is [`crate::exit::INVALID`]; data that cannot be read is an error
/// (exit 1), as in `ronin train`.
fn load(
    file: &Path,
    overrides: &[Override],
) -> anyhow::Result<Result<(Pipeline, DataBundle), ExitCode>> {
    let pipeline = match super::load_pipeline(file, overrides) {
        Ok(p) => p,
        Err(e) => {
            super::print_spec_error(&e);
            return Ok(Err(ExitCode::from(crate::exit::INVALID)));
        }
    };
    let data = ronin_data::build(&pipeline.file.data, pipeline.file.seed)
        .with_context(|| format!("cannot build the data of {}", file.display()))?;
    Ok(Ok((pipeline, data)))
}

fn stats(args: StatsArgs) -> anyhow::Result<ExitCode> {
    let mut overrides = args.set.clone();
    if let Some(n) = args.limit {
        anyhow::ensure!(n > 0, "--limit must be at least 1");
        overrides.push(Override::new("data.limit", n.to_string()));
    }
    let (pipeline, data) = match load(&args.file, &overrides)? {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let spec = &pipeline.file.data;
    let normalization = match spec.normalize {
        NormalizeSpec::None => "None",
        NormalizeSpec::Given { .. } => "Given",
        NormalizeSpec::Computed => "Computed",
    };
    let files = ronin_spec::source_files(&spec.source);
    if args.json {
        let report = StatsReport {
            file: args.file.display().to_string(),
            pipeline: &pipeline.name,
            source: SourceReport {
                kind: spec.source.kind(),
                files: files.into_iter().collect(),
            },
            extra_train: ronin_spec::extra_files(spec)
                .into_iter()
                .map(|(_, p)| p)
                .collect(),
            shape: data.shape(),
            image_files: image_files(&data),
            classes: &data.classes,
            splits: Part::ALL
                .into_iter()
                .map(|part| {
                    let split = SplitReport {
                        examples: data.indices(part).len(),
                        class_counts: data.class_counts(part),
                    };
                    (part.name(), split)
                })
                .collect(),
            normalization: NormalizationReport {
                mode: normalization,
                mean: &data.normalization.mean,
                std: &data.normalization.std,
            },
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    print!(
        "{}",
        stats_text(&args.file, &pipeline, &data, normalization)
    );
    Ok(ExitCode::SUCCESS)
}

/// `ronin data stats --json`. Floats are written as `f32`, as the run's `data.json` has them.
#[derive(Debug, serde::Serialize)]
struct StatsReport<'a> {
    file: String,
    pipeline: &'a str,
    source: SourceReport<'a>,
    extra_train: Vec<&'a str>,
    shape: [usize; 3],
    /// For a folder or CSV source: its files and their sizes before resizing.
    #[serde(skip_serializing_if = "Option::is_none")]
    image_files: Option<FilesReport>,
    classes: &'a [String],
    splits: BTreeMap<&'static str, SplitReport>,
    normalization: NormalizationReport<'a>,
}

#[derive(Debug, serde::Serialize)]
struct SourceReport<'a> {
    kind: &'static str,
    /// Field of the source → path.
    files: BTreeMap<String, &'a str>,
}

#[derive(Debug, serde::Serialize)]
struct FilesReport {
    /// Files read (the training source's and the test source's), after any left out.
    files: usize,
    /// How the images are made to fit `shape`.
    resize: &'static str,
    /// Original sizes, most common first: `[height, width, files]`.
    original_sizes: Vec<[usize; 3]>,
}

/// The files of a folder or CSV source, found by the header scan `build` does.
fn image_files(data: &DataBundle) -> Option<FilesReport> {
    let train = data.train.files()?;
    let mut sizes = train.original_sizes().clone();
    let mut files = train.len();
    if let Some(test) = data
        .test
        .files()
        .filter(|_| !std::sync::Arc::ptr_eq(&data.train, &data.test))
    {
        files += test.len();
        for (&s, &n) in test.original_sizes() {
            *sizes.entry(s).or_insert(0) += n;
        }
    }
    let mut original_sizes: Vec<[usize; 3]> =
        sizes.into_iter().map(|((h, w), n)| [h, w, n]).collect();
    original_sizes.sort_by(|a, b| b[2].cmp(&a[2]).then(a.cmp(b)));
    let resize = match train.options().size {
        Some(_) => "resized to the source's size (triangle filter)",
        None => "all of one size, not resized",
    };
    Some(FilesReport {
        files,
        resize,
        original_sizes,
    })
}

#[derive(Debug, serde::Serialize)]
struct SplitReport {
    examples: usize,
    /// Indexed by label.
    class_counts: Vec<usize>,
}

#[derive(Debug, serde::Serialize)]
struct NormalizationReport<'a> {
    /// `None`, `Given` or `Computed` (on the training split).
    mode: &'static str,
    mean: &'a [f32],
    std: &'a [f32],
}

fn stats_text(file: &Path, pipeline: &Pipeline, data: &DataBundle, normalization: &str) -> String {
    use std::fmt::Write;
    let spec = &pipeline.file.data;
    let mut out = String::new();
    let _ = writeln!(out, "data of '{}' ({})", pipeline.name, file.display());
    let _ = writeln!(out, "source: {}", spec.source.kind());
    for (field, path) in ronin_spec::source_files(&spec.source) {
        let _ = writeln!(out, "  {field:<13} {path}");
    }
    for (field, path) in ronin_spec::extra_files(spec) {
        let _ = writeln!(out, "  {field} {path}");
    }
    let [c, h, w] = data.shape();
    let _ = writeln!(
        out,
        "images: {c}×{h}×{w} (C×H×W), {} classes",
        data.classes.len()
    );
    if let Some(files) = image_files(data) {
        const SHOWN: usize = 5;
        let sizes: Vec<String> = files
            .original_sizes
            .iter()
            .take(SHOWN)
            .map(|[h, w, n]| format!("{h}×{w}: {n}"))
            .collect();
        let more = files.original_sizes.len().saturating_sub(SHOWN);
        let _ = writeln!(
            out,
            "files: {}, {}; original sizes (H×W): {}{}",
            files.files,
            files.resize,
            sizes.join(", "),
            if more > 0 {
                format!(", and {more} more")
            } else {
                String::new()
            }
        );
    }
    let how = match normalization {
        "Computed" => "computed on the training split",
        "Given" => "given",
        _ => "none (pixels in [0, 1])",
    };
    let _ = writeln!(
        out,
        "normalization: {how}: mean {:?}, std {:?}",
        data.normalization.mean, data.normalization.std
    );
    let counts: Vec<Vec<usize>> = Part::ALL.iter().map(|&p| data.class_counts(p)).collect();
    let width = data
        .classes
        .iter()
        .map(|c| c.chars().count())
        .chain([5])
        .max()
        .unwrap_or(5);
    let _ = write!(out, "\n{:<width$}", "class");
    for part in Part::ALL {
        let _ = write!(out, "  {:>10}", part.name());
    }
    out.push('\n');
    for (k, name) in data.classes.iter().enumerate() {
        let _ = write!(out, "{name:<width$}");
        for c in &counts {
            let _ = write!(out, "  {:>10}", c[k]);
        }
        out.push('\n');
    }
    let _ = write!(out, "{:<width$}", "total");
    for part in Part::ALL {
        let _ = write!(out, "  {:>10}", data.indices(part).len());
    }
    out.push('\n');
    out
}

fn preview(args: PreviewArgs, experiments: &Path) -> anyhow::Result<ExitCode> {
    if args.n == 0 {
        eprintln!("error: --n must be at least 1");
        return Ok(ExitCode::from(crate::exit::INVALID));
    }
    let (pipeline, data) = match load(&args.file, &args.set)? {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let file = &pipeline.file;
    let seed = args.seed.unwrap_or(file.seed);
    let loader = data
        .loader(Part::Train, &file.data, &file.augment, seed)
        .context("cannot make the training loader")?;
    // The batches of the first training epoch, as `ronin train` draws them.
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for batch in loader.epoch(0) {
        let batch = batch.context("cannot read a training batch")?;
        let take = (args.n - labels.len()).min(batch.len());
        for i in 0..take {
            images.push(batch.images.index_axis(ndarray::Axis(0), i).to_owned());
            labels.push(data.classes[batch.labels[i] as usize].clone());
        }
        if labels.len() == args.n {
            break;
        }
    }
    anyhow::ensure!(
        !labels.is_empty(),
        "the training split of {} is empty",
        args.file.display()
    );
    let png = grid::labelled_grid(
        &images,
        &labels,
        &data.normalization.mean,
        &data.normalization.std,
    );
    let out = args
        .out
        .unwrap_or_else(|| experiments.join(&pipeline.name).join("preview.png"));
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs_err::create_dir_all(dir)?;
    }
    png.save(&out)
        .with_context(|| format!("cannot write {}", out.display()))?;
    let augment = match file.augment.len() {
        0 => "no augmentation".to_owned(),
        1 => "1 transform".to_owned(),
        k => format!("{k} transforms"),
    };
    if labels.len() < args.n {
        eprintln!(
            "the training split has only {} examples per epoch",
            labels.len()
        );
    }
    eprintln!(
        "{} training samples of epoch 1 of '{}' (seed {seed}, {augment}), {}×{} pixels",
        labels.len(),
        pipeline.name,
        png.width(),
        png.height()
    );
    println!("{}", out.display());
    Ok(ExitCode::SUCCESS)
}
