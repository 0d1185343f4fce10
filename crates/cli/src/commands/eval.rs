//! `ronin eval MODEL --data PIPELINE`: an exported ONNX model scored on one split of a
//! pipeline's data through ONNX Runtime (accuracy, top-5, cross-entropy).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use ronin_data::{DataBundle, Normalization, Part};
use ronin_export::{
    ExecutionDevice, ExportError, InputPolicy, Manifest, ManifestDim, OnnxModel, OptimizationLevel,
    PROBABILITIES_NAME, Placement, Runtime, Scores, SessionOptions,
};
use ronin_spec::{ColorSpec, DataSpec, NormalizeSpec, OnCorrupt, Override, SourceSpec, SplitSpec};

/// Examples per ONNX Runtime call.
const BATCH: usize = 256;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The exported model (`ronin export`); its manifest `<model>.json` must lie beside it.
    model: PathBuf,
    /// What to evaluate on: a pipeline file (its data's source, split, seed and limit), a
    /// folder of class subfolders (every image in it), or a data source in the pipeline
    /// language, e.g. `'Idx(images: "t10k-images.idx", labels: "t10k-labels.idx")'` or
    /// `'Csv(file: "photos/labels.csv")'` (every example of its files; its `test` files
    /// when it names them). A folder or source is labelled by the manifest's class names
    /// and read at the model's size and channels.
    #[arg(long, value_name = "PIPELINE|FOLDER|SOURCE")]
    data: PathBuf,
    /// Which split of the pipeline's data (a pipeline only).
    #[arg(long, value_enum, default_value = "test")]
    split: Split,
    /// Change one value of the pipeline before building its data, e.g.
    /// `--set data.limit=256`; VALUE is RON. Repeatable.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    set: Vec<Override>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// ONNX Runtime's intra-op threads (default: one per core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// ONNX Runtime's graph optimisations.
    #[arg(long, value_enum, default_value = "all")]
    opt_level: OptLevel,
    /// Where ONNX Runtime computes: `cpu`, `cuda` / `cuda:N` (an error when this ONNX
    /// Runtime has no CUDA execution provider), or `auto` (CUDA device 0 when available).
    #[arg(long, value_name = "DEVICE", default_value = "auto", value_parser = parse_device)]
    device: ExecutionDevice,
}

/// Says on stderr that `--device auto` found a CUDA build of ONNX Runtime whose provider
/// could not start, so the model runs on the CPU.
pub(crate) fn note_placement(model: &OnnxModel) {
    if let Placement::CpuFallback(reason) = model.placement() {
        eprintln!(
            "note: running on the CPU: ONNX Runtime's CUDA provider could not start ({reason}); --device cuda makes this an error"
        );
    }
}

/// `cpu`, `auto`, `cuda` or `cuda:N`.
pub(crate) fn parse_device(s: &str) -> Result<ExecutionDevice, String> {
    match s {
        "cpu" => Ok(ExecutionDevice::Cpu),
        "auto" => Ok(ExecutionDevice::CudaIfAvailable(0)),
        "cuda" => Ok(ExecutionDevice::Cuda(0)),
        _ => s
            .strip_prefix("cuda:")
            .and_then(|n| n.parse().ok())
            .map(ExecutionDevice::Cuda)
            .ok_or_else(|| format!("expected cpu, auto, cuda or cuda:N, found `{s}`")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Split {
    Train,
    Validation,
    Test,
}

impl From<Split> for Part {
    fn from(s: Split) -> Self {
        match s {
            Split::Train => Part::Train,
            Split::Validation => Part::Validation,
            Split::Test => Part::Test,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OptLevel {
    Disable,
    Basic,
    Extended,
    All,
}

impl From<OptLevel> for OptimizationLevel {
    fn from(o: OptLevel) -> Self {
        match o {
            OptLevel::Disable => Self::Disable,
            OptLevel::Basic => Self::Basic,
            OptLevel::Extended => Self::Extended,
            OptLevel::All => Self::All,
        }
    }
}

/// An invalid input: printed, and the command exits with [`crate::exit::INVALID`].
fn invalid(message: String) -> anyhow::Result<ExitCode> {
    eprintln!("error: {message}");
    Ok(ExitCode::from(crate::exit::INVALID))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let model_path = &args.model;
    let manifest_path = Manifest::path_for(model_path);
    if !model_path.is_file() {
        return invalid(format!("{} does not exist", model_path.display()));
    }
    if !manifest_path.is_file() {
        return invalid(format!(
            "{} has no manifest: {} is missing; export the model with `ronin export RUN --out {}`, which writes both",
            model_path.display(),
            manifest_path.display(),
            model_path.display()
        ));
    }
    let manifest = match Manifest::read(&manifest_path) {
        Ok(m) => m,
        Err(e) => return invalid(chain(&e)),
    };
    let Some(model_chw) = chw(&manifest) else {
        return invalid(format!(
            "{}: input_shape {:?} is not [batch, C, H, W]",
            manifest_path.display(),
            manifest.input_shape
        ));
    };

    let options = SessionOptions {
        intra_threads: args.threads,
        optimization: args.opt_level.into(),
        device: args.device,
    };
    let runtime = Runtime::global()?;
    let model = match runtime.load_file(model_path, &options) {
        Ok(m) => m,
        Err(e @ (ExportError::NoCuda { .. } | ExportError::CudaFailed { .. })) => {
            return Err(e.into());
        }
        Err(e) => return invalid(chain(&e)),
    };

    note_placement(&model);
    let declared: Vec<Option<usize>> = model.input_shape().iter().skip(1).copied().collect();
    let agrees = declared.len() == 3
        && declared
            .iter()
            .zip(model_chw)
            .all(|(d, m)| d.is_none_or(|d| d == m));
    if !agrees {
        return invalid(format!(
            "{} declares input {:?} but its manifest {} says [batch, {model_chw:?}]; export it again",
            model_path.display(),
            model.input_shape(),
            manifest_path.display()
        ));
    }

    // A pipeline: one split of its data. A folder or source: all of its files, or its
    // `test` files when it names them (reported as split "all" or "test").
    let (spec, seed, part, split, from_pipeline) =
        match source_spec(&args.data, &manifest, model_chw) {
            Some(Err(message)) => return invalid(message),
            Some(Ok(_)) if !args.set.is_empty() => {
                return invalid("--set changes a pipeline; --data here is a source".into());
            }
            Some(Ok(spec)) if spec.source.has_test_files() => (spec, 0, Part::Test, "test", false),
            Some(Ok(spec)) => (spec, 0, Part::Train, "all", false),
            None => match super::load_pipeline(&args.data, &args.set) {
                Ok(p) => {
                    let part = Part::from(args.split);
                    (p.file.data, p.file.seed, part, part.name(), true)
                }
                Err(e) => {
                    super::print_spec_error(&e);
                    return Ok(ExitCode::from(crate::exit::INVALID));
                }
            },
        };
    let data = match ronin_data::build(&spec, seed) {
        Ok(d) => d,
        Err(e) => {
            return invalid(format!(
                "cannot build the data of {}: {}",
                args.data.display(),
                chain(&e)
            ));
        }
    };
    if data.shape() != model_chw {
        return invalid(format!(
            "{} takes images of {model_chw:?} (C, H, W, from {}), but the data of {} are {:?}; evaluate on the pipeline the model was trained with",
            model_path.display(),
            manifest_path.display(),
            args.data.display(),
            data.shape()
        ));
    }
    if data.classes.len() != manifest.class_names.len() {
        return invalid(format!(
            "{} has {} classes ({}), but the data of {} have {}; evaluate on the pipeline the model was trained with (same data.keep_classes)",
            model_path.display(),
            manifest.class_names.len(),
            manifest_path.display(),
            args.data.display(),
            data.classes.len()
        ));
    }
    let normalization = match input_normalization(&manifest, &data, &manifest_path, from_pipeline) {
        Ok(n) => n,
        Err(message) => return invalid(message),
    };

    let indices = data.indices(part);
    if indices.is_empty() {
        return invalid(format!(
            "the {} split of {} is empty",
            part.name(),
            args.data.display()
        ));
    }
    let dataset = data.dataset(part);
    // Every batch gives as many scores as the first: check them once.
    let first = ronin_data::dataset_batch(dataset, &indices[..1], &normalization)?;
    let width = model
        .run(first.images.view())
        .with_context(|| format!("running {}", model_path.display()))?
        .ncols();
    if width != manifest.class_names.len() {
        return invalid(format!(
            "{} outputs {width} scores per example but its manifest {} names {} classes",
            model_path.display(),
            manifest_path.display(),
            manifest.class_names.len()
        ));
    }
    let probabilities = manifest.softmax_in_graph || manifest.output_name == PROBABILITIES_NAME;
    let started = Instant::now();
    let [scores] = score([&model], dataset, indices, &normalization, probabilities)
        .with_context(|| format!("running {}", model_path.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    report(&args, &manifest, split, &scores, seconds, model.placement())?;
    Ok(ExitCode::SUCCESS)
}

/// Scores each of `models` on the examples `indices` of `dataset`, [`BATCH`] at a time,
/// each batch built once for all of them.
pub(crate) fn score<const M: usize>(
    models: [&OnnxModel; M],
    dataset: &ronin_data::Dataset,
    indices: &[usize],
    normalization: &Normalization,
    probabilities: bool,
) -> anyhow::Result<[Scores; M]> {
    let mut scores = [(); M].map(|()| Scores::new(probabilities));
    for chunk in indices.chunks(BATCH) {
        let batch = ronin_data::dataset_batch(dataset, chunk, normalization)?;
        let labels = batch.labels.to_vec();
        for (model, s) in models.iter().zip(&mut scores) {
            s.add(model.run(batch.images.view())?.view(), &labels)?;
        }
    }
    Ok(scores)
}

/// What the model is fed: pixels in [0, 1] when it normalises them itself or was trained
/// on raw pixels, otherwise pixels normalised with the statistics it was trained with
/// (the manifest's, which the pipeline's own should equal).
fn input_normalization(
    manifest: &Manifest,
    data: &DataBundle,
    manifest_path: &Path,
    compare_with_pipeline: bool,
) -> Result<Normalization, String> {
    let channels = data.shape()[0];
    match &manifest.normalization {
        Some(n) if !n.in_graph => {
            let norm = Normalization::given(&n.mean, &n.std, channels)
                .map_err(|e| format!("{}: normalization: {e}", manifest_path.display()))?;
            let close = |a: &[f32], b: &[f32]| {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-6)
            };
            if compare_with_pipeline
                && (!close(&norm.mean, &data.normalization.mean)
                    || !close(&norm.std, &data.normalization.std))
            {
                eprintln!(
                    "note: the pipeline's normalization (mean {:?}, std {:?}) differs from the model's (mean {:?}, std {:?}, {}); using the model's",
                    data.normalization.mean,
                    data.normalization.std,
                    norm.mean,
                    norm.std,
                    manifest_path.display()
                );
            }
            Ok(norm)
        }
        _ => Ok(Normalization::identity(channels)),
    }
}

/// `--data` as a folder of class subfolders or a data source in RON (`Idx(…)`,
/// `ImageFolder(…)`, `Csv(…)`, `Cifar10(…)`…), as a data section holding every example
/// in one part and labelled by the manifest's classes; `None` for a pipeline file.
/// Images of a folder or CSV are read at the model's channels, and at its size when the
/// manifest lets them be resized.
fn source_spec(
    data: &Path,
    manifest: &Manifest,
    [c, h, w]: [usize; 3],
) -> Option<Result<DataSpec, String>> {
    let text = data.to_string_lossy();
    let mut source = if data.is_dir() {
        SourceSpec::ImageFolder {
            root: text.into_owned(),
            test: None,
            size: None,
            color: ColorSpec::default(),
            on_corrupt: OnCorrupt::default(),
        }
    } else if !data.exists()
        && text.trim_start().starts_with(char::is_alphabetic)
        && text.contains('(')
    {
        match ron::from_str::<SourceSpec>(&text) {
            Ok(s) => s,
            Err(e) => {
                return Some(Err(format!(
                    "--data {text} is neither a file nor a data source: {e}; write a source as in a pipeline's `data.source`, e.g. 'Idx(images: \"…\", labels: \"…\")'"
                )));
            }
        }
    } else {
        return None;
    };
    let colour = if c == 1 {
        ColorSpec::Grayscale
    } else {
        ColorSpec::Rgb
    };
    let resize = (manifest.input_policy == InputPolicy::Bilinear).then_some((h, w));
    if let SourceSpec::ImageFolder { size, color, .. } | SourceSpec::Csv { size, color, .. } =
        &mut source
    {
        *size = size.or(resize);
        *color = colour;
    }
    let mut spec = DataSpec::of_source(source);
    spec.classes = Some(manifest.class_names.clone());
    spec.split = SplitSpec {
        validation: 0.0,
        test: 0.0,
        stratified: false,
    };
    spec.normalize = NormalizeSpec::None;
    Some(Ok(spec))
}

fn chw(m: &Manifest) -> Option<[usize; 3]> {
    match m.input_shape.as_slice() {
        [
            _,
            ManifestDim::Fixed(c),
            ManifestDim::Fixed(h),
            ManifestDim::Fixed(w),
        ] => Some([*c, *h, *w]),
        _ => None,
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.join(": ")
}

fn report(
    args: &Args,
    manifest: &Manifest,
    split: &str,
    scores: &Scores,
    seconds: f64,
    placement: &Placement,
) -> anyhow::Result<()> {
    let top5 = (manifest.class_names.len() >= 5).then(|| scores.top5_accuracy());
    let per_second = scores.examples as f64 / seconds.max(1e-9);
    if args.json {
        let json = serde_json::json!({
            "model": args.model.display().to_string(),
            "data": args.data.display().to_string(),
            "split": split,
            "examples": scores.examples,
            "correct": scores.correct,
            "accuracy": scores.accuracy(),
            "top5_accuracy": top5,
            "loss": scores.loss(),
            "loss_from": if scores.probabilities { "probabilities" } else { "logits" },
            "seconds": seconds,
            "images_per_second": per_second,
            "threads": args.threads,
            "opt_level": format!("{:?}", args.opt_level).to_lowercase(),
            "device": placement.to_string(),
            "cuda_fallback": match placement {
                Placement::CpuFallback(reason) => Some(reason.as_str()),
                _ => None,
            },
        });
        println!("{}", serde_json::to_string(&json)?);
        return Ok(());
    }
    let on = match split {
        "all" => args.data.display().to_string(),
        _ => format!("the {split} split of {}", args.data.display()),
    };
    println!(
        "{} on {on}: {} examples",
        args.model.display(),
        scores.examples
    );
    println!(
        "  accuracy        {:.4} ({}/{})",
        scores.accuracy(),
        scores.correct,
        scores.examples
    );
    if let Some(t) = top5 {
        println!(
            "  top-5 accuracy  {t:.4} ({}/{})",
            scores.correct_top5, scores.examples
        );
    }
    println!(
        "  loss            {:.4} (cross-entropy from {})",
        scores.loss(),
        if scores.probabilities {
            "probabilities"
        } else {
            "logits"
        }
    );
    println!("  time            {seconds:.2} s ({per_second:.0} images/s on {placement})");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_as_written() {
        assert_eq!(parse_device("cpu"), Ok(ExecutionDevice::Cpu));
        assert_eq!(
            parse_device("auto"),
            Ok(ExecutionDevice::CudaIfAvailable(0))
        );
        assert_eq!(parse_device("cuda"), Ok(ExecutionDevice::Cuda(0)));
        assert_eq!(parse_device("cuda:3"), Ok(ExecutionDevice::Cuda(3)));
        assert!(parse_device("cuda:x").is_err());
        assert!(parse_device("gpu").is_err());
    }
}
