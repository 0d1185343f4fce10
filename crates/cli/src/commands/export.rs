//! `ronin export RUN`: the run's model as ONNX, verified against the trained model; with
//! `--quantize dynamic|dynamic-linear|static` also an int8 model beside it, checked for
//! top-1 agreement. The pipeline's `export` section gives the defaults; flags override it.

mod quantize;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use ndarray::Axis;
use ronin_export::{
    ExportOptions, InputPolicy, Manifest, ManifestDim, Normalization, ParityRecord, Quantization,
    Reference, Weights,
};
use ronin_spec::{PipelineFile, QuantizeSpec, ResizePolicy};
use serde::Deserialize;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run: its directory, its id, or a unique prefix of the id.
    run: String,
    /// Which checkpoint to export.
    #[arg(long, default_value = "best")]
    checkpoint: String,
    /// Where to write the model (default: exports/<pipeline>.onnx); the manifest goes beside it.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Put a softmax in the graph so the model outputs probabilities (default: the pipeline's `export.softmax`).
    #[arg(long)]
    softmax: bool,
    /// Put the input normalization inside the graph: the model takes pixels in [0, 1] and
    /// its manifest says `normalization.in_graph: true` (default: the pipeline's
    /// `export.normalize`).
    #[arg(long)]
    normalize: bool,
    /// Merge each BatchNorm that directly follows a convolution (read by nothing else) into
    /// that convolution's weight and bias; the manifest records `batch_norm_folded`
    /// (default: the pipeline's `export.fold_batch_norm`).
    #[arg(long)]
    fold_bn: bool,
    /// Also write an int8 model beside the float one, `<name>.int8.onnx` with its manifest
    /// `<name>.int8.json` (default: the pipeline's `export.quantize`): `dynamic` (Conv and
    /// Linear as ConvInteger and MatMulInteger, activations quantized per batch),
    /// `dynamic-linear` (Linear only) or `static` (QDQ as ONNX Runtime's quantize_static,
    /// activation ranges calibrated on training batches; run as QLinearConv and QGemm).
    /// Written only when it keeps the top-1 class of at least 90% of the reference examples.
    #[arg(long, value_enum, value_name = "MODE")]
    quantize: Option<QuantizeMode>,
    /// Training batches (of `data.batch_size`) that `--quantize static` calibrates on
    /// (default: the pipeline's `export.calibration_batches`, 10).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    calibration_batches: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum QuantizeMode {
    /// Conv and Linear: int8 weights, activations quantized per batch at run time.
    Dynamic,
    /// Linear only (as PyTorch's quantize_dynamic); convolutions stay float32.
    DynamicLinear,
    /// QDQ: uint8 activations with scales calibrated on training data, int8 weights.
    Static,
}

impl From<QuantizeSpec> for QuantizeMode {
    fn from(q: QuantizeSpec) -> Self {
        match q {
            QuantizeSpec::Dynamic => Self::Dynamic,
            QuantizeSpec::DynamicLinear => Self::DynamicLinear,
            QuantizeSpec::Static => Self::Static,
        }
    }
}

/// The run's `data.json`, written by the runner.
#[derive(Debug, Deserialize)]
struct DataRecord {
    input_shape: [usize; 3],
    classes: Vec<String>,
    normalization_mean: Vec<f32>,
    normalization_std: Vec<f32>,
}

fn read_run(run: &Path) -> anyhow::Result<(PipelineFile, DataRecord)> {
    let resolved = run.join(ronin_store::RESOLVED);
    let text = fs_err::read_to_string(&resolved)
        .context("the run has no resolved pipeline; was it written by ronin train?")?;
    let file: PipelineFile = ron::from_str(&text)
        .with_context(|| format!("{} is not a valid pipeline", resolved.display()))?;
    let data_path = run.join("data.json");
    let data: DataRecord = serde_json::from_str(&fs_err::read_to_string(&data_path)?)
        .with_context(|| format!("{} is corrupt", data_path.display()))?;
    Ok((file, data))
}

pub fn run(args: Args, experiments: &Path) -> anyhow::Result<ExitCode> {
    let run_dir = ronin_store::find_run(experiments, &args.run)?;
    let record = ronin_store::read_record(&run_dir)?;
    let (file, data) = read_run(&run_dir)?;
    let graph = file
        .model
        .graph(data.input_shape.to_vec(), data.classes.len())
        .map_err(|e| {
            anyhow::anyhow!(
                "the model of {} no longer builds: {e}",
                run_dir.join(ronin_store::RESOLVED).display()
            )
        })?;
    let checkpoints = run_dir.join(ronin_store::CHECKPOINTS);
    let Some(checkpoint) = ronin_store::find_checkpoint(&checkpoints, &args.checkpoint) else {
        let found = ronin_store::list_checkpoints(&checkpoints);
        let have = if found.is_empty() {
            "it has none".to_owned()
        } else {
            format!("it has {}", found.join(", "))
        };
        bail!(
            "{} has no checkpoint '{}' (expected {}); {have}",
            run_dir.display(),
            args.checkpoint,
            checkpoints.join(&args.checkpoint).display()
        );
    };
    let weights = Weights::from_safetensors(checkpoint.join("model.safetensors"))?;
    weights.check(&graph).with_context(|| {
        format!(
            "checkpoint {} does not match the pipeline",
            checkpoint.display()
        )
    })?;

    let spec = &file.export;
    let softmax = args.softmax || spec.softmax;
    let fold_bn = args.fold_bn || spec.fold_batch_norm;
    let batch = (!spec.dynamic_batch).then_some(1);
    let normalize = args.normalize || spec.normalize;
    let in_graph = normalize.then(|| {
        (
            data.normalization_mean.clone(),
            data.normalization_std.clone(),
        )
    });
    let opts = ExportOptions {
        opset: spec.opset,
        softmax,
        normalize: in_graph.clone(),
        metadata: vec![
            ("ronin.pipeline".into(), record.pipeline.clone()),
            ("ronin.run".into(), record.id.clone()),
            ("ronin.checkpoint".into(), args.checkpoint.clone()),
            (
                "ronin.classes".into(),
                serde_json::to_string(&data.classes)?,
            ),
            (
                "ronin.normalization.mean".into(),
                serde_json::to_string(&data.normalization_mean)?,
            ),
            (
                "ronin.normalization.std".into(),
                serde_json::to_string(&data.normalization_std)?,
            ),
        ],
        graph_name: record.pipeline.clone(),
        fold_batch_norm: fold_bn,
        quantize: None,
        batch,
    };
    let folded = if fold_bn {
        ronin_export::foldable_batch_norms(&graph).len()
    } else {
        0
    };
    if fold_bn {
        eprintln!("folded {folded} BatchNorm(s) into the convolutions before them");
    }
    let bytes = ronin_export::to_onnx(&graph, &weights, &opts)?;

    // Verify before writing anything: ONNX Runtime against the trained model's outputs.
    let mut reference = Reference::from_safetensors(checkpoint.join("reference.safetensors"))?;
    if let Some((mean, std)) = &in_graph {
        // The reference batch is normalised as in training; the model now takes pixels.
        denormalize(&mut reference.input, mean, std)?;
    }
    let mut expected = reference.output.clone();
    if softmax && !ronin_export::output_is_softmax(&graph) {
        for mut row in expected.axis_iter_mut(Axis(0)) {
            let p = ronin_export::softmax(row.view());
            row.assign(&p);
        }
    }
    let parity = ronin_export::verify(&bytes, reference.input.view(), expected.view())?;
    let tolerance = spec.tolerance;
    if !parity.within(tolerance) {
        bail!(
            "ONNX Runtime's outputs differ from the trained model's by {:.3e}·max(1, |output|) at [example, class] {:?}, above the tolerance {tolerance:.0e} (max abs diff {:.3e}, max rel diff {:.3e}); nothing was written",
            parity.max_scaled_diff,
            parity.worst_index.unwrap_or_default(),
            parity.max_abs_diff,
            parity.max_rel_diff
        );
    }
    let mode = args.quantize.or(spec.quantize.map(QuantizeMode::from));
    let scheme = mode.map(|m| match m {
        QuantizeMode::Dynamic => quantize::Scheme::Dynamic(Quantization::DynamicInt8),
        QuantizeMode::DynamicLinear => {
            quantize::Scheme::Dynamic(Quantization::DynamicInt8LinearOnly)
        }
        QuantizeMode::Static => quantize::Scheme::Static {
            batches: args
                .calibration_batches
                .map_or(spec.calibration_batches, |n| n as usize),
        },
    });
    let quantized = match scheme {
        Some(scheme) => {
            let calibration = quantize::CalibrationData {
                file: &file,
                input_shape: data.input_shape,
                normalization: (!normalize).then_some((
                    data.normalization_mean.as_slice(),
                    data.normalization_std.as_slice(),
                )),
            };
            Some(quantize::quantize(
                &graph,
                &weights,
                &opts,
                scheme,
                &bytes,
                &reference,
                &expected,
                &calibration,
            )?)
        }
        None => None,
    };

    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from("exports").join(format!("{}.onnx", record.pipeline)));
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs_err::create_dir_all(dir)?;
    }
    ronin_export::write_atomic(&out, &bytes)?;
    let [c, h, w] = data.input_shape;
    let manifest = Manifest {
        model_file: out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        input_name: ronin_export::INPUT_NAME.into(),
        input_shape: vec![
            batch.map_or_else(
                || ManifestDim::Dynamic(ronin_export::BATCH_DIM.into()),
                ManifestDim::Fixed,
            ),
            ManifestDim::Fixed(c),
            ManifestDim::Fixed(h),
            ManifestDim::Fixed(w),
        ],
        layout: "NCHW".into(),
        dtype: "float32".into(),
        normalization: Some(Normalization {
            mean: data.normalization_mean,
            std: data.normalization_std,
            in_graph: in_graph.is_some(),
        }),
        class_names: data.classes,
        softmax_in_graph: ronin_export::ends_with_softmax(&graph, &opts),
        output_name: ronin_export::output_name(&graph, &opts).into(),
        opset: opts.opset,
        ir_version: ronin_export::IR_VERSION,
        source_run_dir: run_dir.display().to_string(),
        pipeline_name: record.pipeline.clone(),
        checkpoint: args.checkpoint.clone(),
        git_commit: record.git.commit.clone(),
        parity: Some(ParityRecord {
            max_abs_diff: parity.max_abs_diff,
            max_rel_diff: parity.max_rel_diff,
            max_scaled_diff: Some(parity.max_scaled_diff),
            tolerance,
            n_samples: parity.n_samples,
        }),
        batch_norm_folded: folded > 0,
        quantization: None,
        quantized_ops: Vec::new(),
        quantized_agreement: None,
        calibration: None,
        quantized_comparison: None,
        input_policy: match spec.resize {
            ResizePolicy::Bilinear => InputPolicy::Bilinear,
            ResizePolicy::Refuse => InputPolicy::Refuse,
        },
        ronin_version: env!("CARGO_PKG_VERSION").into(),
        created: ronin_store::now_rfc3339(),
    };
    let manifest_path = Manifest::path_for(&out);
    manifest.write(&manifest_path)?;
    eprintln!(
        "verified on {} reference samples: max abs diff {:.3e}, max rel diff {:.3e}, {:.3e}·max(1, |output|) (tolerance {tolerance:.0e})",
        parity.n_samples, parity.max_abs_diff, parity.max_rel_diff, parity.max_scaled_diff
    );
    eprintln!("manifest: {}", manifest_path.display());
    println!("{}", out.display());

    if let Some(q) = quantized {
        let q_out = ronin_export::quantized_path(&out);
        ronin_export::write_atomic(&q_out, &q.bytes)?;
        let q_manifest = Manifest {
            model_file: q_out
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            parity: None,
            batch_norm_folded: q.batch_norm_folded,
            quantization: Some(q.name.to_owned()),
            quantized_ops: q.quantized_ops,
            quantized_agreement: Some(q.record),
            calibration: q.calibration,
            quantized_comparison: q.comparison,
            ..manifest
        };
        let q_manifest_path = Manifest::path_for(&q_out);
        q_manifest.write(&q_manifest_path)?;
        eprintln!("int8 manifest: {}", q_manifest_path.display());
        println!("{}", q_out.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `x · std + mean` per channel: a batch normalised as in training back to pixels.
///
/// # Shapes
/// `input`: `[N, C, H, W]`; `mean`, `std`: `C` values (or one for every channel).
fn denormalize(input: &mut ndarray::Array4<f32>, mean: &[f32], std: &[f32]) -> anyhow::Result<()> {
    let n = ronin_data::Normalization::given(mean, std, input.shape()[1])
        .context("the run's normalization (data.json) does not fit its input")?;
    for ((mut plane, m), s) in input.axis_iter_mut(Axis(1)).zip(n.mean).zip(n.std) {
        plane.mapv_inplace(|v| v * s + m);
    }
    Ok(())
}
