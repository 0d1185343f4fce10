//! `ronin export RUN`: the run's model as ONNX, verified against the trained model; with
//! `--quantize dynamic` also an int8 model beside it, checked for top-1 agreement.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use ndarray::Axis;
use ronin_export::{
    AgreementRecord, ExportOptions, MIN_TOP1_AGREEMENT, Manifest, ManifestDim, Normalization,
    ParityRecord, Quantization, Reference, Weights,
};
use ronin_spec::{PipelineFile, graph::build_graph};
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
    /// Merge each BatchNorm that directly follows a convolution (read by nothing else) into
    /// that convolution's weight and bias; the manifest records `batch_norm_folded`.
    #[arg(long)]
    fold_bn: bool,
    /// Also write an int8 model beside the float one, `<name>.int8.onnx` with its manifest
    /// `<name>.int8.json`, in ONNX Runtime's dynamic quantization (`dynamic`: Conv and
    /// Linear as ConvInteger and MatMulInteger; `dynamic-linear`: Linear only). Written
    /// only when it keeps the top-1 class of at least 90% of the reference examples.
    #[arg(long, value_enum, value_name = "MODE")]
    quantize: Option<QuantizeMode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum QuantizeMode {
    /// Conv and Linear: int8 weights, activations quantized per batch at run time.
    Dynamic,
    /// Linear only (as PyTorch's quantize_dynamic); convolutions stay float32.
    DynamicLinear,
}

impl From<QuantizeMode> for Quantization {
    fn from(m: QuantizeMode) -> Self {
        match m {
            QuantizeMode::Dynamic => Self::DynamicInt8,
            QuantizeMode::DynamicLinear => Self::DynamicInt8LinearOnly,
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
    let graph = build_graph(data.input_shape.to_vec(), &file.model.layers)
        .map_err(|e| anyhow::anyhow!("the run's model no longer builds: {:?}", e))?;
    let checkpoints = run_dir.join(ronin_store::CHECKPOINTS);
    let Some(checkpoint) = ronin_store::find_checkpoint(&checkpoints, &args.checkpoint) else {
        bail!(
            "{} has no checkpoint '{}' (expected {}); use --checkpoint best or last",
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

    let softmax = args.softmax || file.export.softmax;
    let opts = ExportOptions {
        opset: file.export.opset,
        softmax,
        normalize: None,
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
        fold_batch_norm: args.fold_bn,
        quantize: None,
    };
    let folded = if args.fold_bn {
        ronin_export::foldable_batch_norms(&graph).len()
    } else {
        0
    };
    if args.fold_bn {
        eprintln!("folded {folded} BatchNorm(s) into the convolutions before them");
    }
    let bytes = ronin_export::to_onnx(&graph, &weights, &opts)?;

    // Verify before writing anything: ONNX Runtime against the trained model's outputs.
    let reference = Reference::from_safetensors(checkpoint.join("reference.safetensors"))?;
    let mut expected = reference.output.clone();
    if softmax && !ronin_export::output_is_softmax(&graph) {
        for mut row in expected.axis_iter_mut(Axis(0)) {
            let p = ronin_export::softmax(row.view());
            row.assign(&p);
        }
    }
    let parity = ronin_export::verify(&bytes, reference.input.view(), expected.view())?;
    let tolerance = file.export.tolerance;
    if !parity.within(tolerance) {
        bail!(
            "ONNX Runtime's outputs differ from the trained model's by {:.3e} (tolerance {tolerance:.0e}) at {:?}; nothing was written",
            parity.max_abs_diff,
            parity.worst_index
        );
    }
    let quantized = match args.quantize {
        Some(mode) => Some(quantize(
            &graph,
            &weights,
            &opts,
            mode.into(),
            &reference,
            &expected,
        )?),
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
            ManifestDim::Dynamic(ronin_export::BATCH_DIM.into()),
            ManifestDim::Fixed(c),
            ManifestDim::Fixed(h),
            ManifestDim::Fixed(w),
        ],
        layout: "NCHW".into(),
        dtype: "float32".into(),
        normalization: Some(Normalization {
            mean: data.normalization_mean,
            std: data.normalization_std,
            in_graph: false,
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
            tolerance,
            n_samples: parity.n_samples,
        }),
        batch_norm_folded: folded > 0,
        quantization: None,
        quantized_ops: Vec::new(),
        quantized_agreement: None,
        ronin_version: env!("CARGO_PKG_VERSION").into(),
        created: ronin_store::now_rfc3339(),
    };
    let manifest_path = Manifest::path_for(&out);
    manifest.write(&manifest_path)?;
    eprintln!(
        "verified on {} reference samples: max abs diff {:.3e}, max rel diff {:.3e} (tolerance {tolerance:.0e})",
        parity.n_samples, parity.max_abs_diff, parity.max_rel_diff
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
            quantization: Some(q.scheme.name().to_owned()),
            quantized_ops: q.scheme.quantized_ops(&graph),
            quantized_agreement: Some(q.record),
            ..manifest
        };
        let q_manifest_path = Manifest::path_for(&q_out);
        q_manifest.write(&q_manifest_path)?;
        eprintln!("int8 manifest: {}", q_manifest_path.display());
        println!("{}", q_out.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The quantized model, checked against the reference before anything is written.
struct Quantized {
    bytes: Vec<u8>,
    scheme: Quantization,
    record: AgreementRecord,
}

/// Builds the `scheme`-quantized model and compares it with the trained model's outputs
/// on the reference batch: fails when fewer than [`MIN_TOP1_AGREEMENT`] of the examples
/// keep their top-1 class.
fn quantize(
    graph: &ronin_spec::ModelGraph,
    weights: &Weights,
    opts: &ExportOptions,
    scheme: Quantization,
    reference: &Reference,
    expected: &ndarray::Array2<f32>,
) -> anyhow::Result<Quantized> {
    let q_opts = ExportOptions {
        quantize: Some(scheme),
        ..opts.clone()
    };
    let bytes = ronin_export::to_onnx(graph, weights, &q_opts)
        .with_context(|| format!("cannot write the {} model", scheme.name()))?;
    let rt = ronin_export::Runtime::global()?;
    let model = rt
        .load_bytes(&bytes, &ronin_export::SessionOptions::default())
        .with_context(|| format!("ONNX Runtime cannot load the {} model", scheme.name()))?;
    let actual = model.run(reference.input.view())?;
    let a = ronin_export::agreement(actual.view(), expected.view())?;
    eprintln!(
        "{} model on {} reference samples: top-1 agreement {:.4} (at least {MIN_TOP1_AGREEMENT}), max abs diff {:.3e}; quantized {} of {} nodes ({})",
        scheme.name(),
        a.n_samples,
        a.top1_agreement,
        a.max_abs_diff,
        scheme.quantized_nodes(graph),
        graph.nodes.len(),
        scheme.quantized_ops(graph).join(", ")
    );
    if a.top1_agreement < MIN_TOP1_AGREEMENT {
        bail!(
            "the {} model keeps the top-1 class of only {:.1}% of the reference examples (at least {:.0}% needed); nothing was written",
            scheme.name(),
            100.0 * a.top1_agreement,
            100.0 * MIN_TOP1_AGREEMENT
        );
    }
    Ok(Quantized {
        bytes,
        scheme,
        record: AgreementRecord {
            max_abs_diff: a.max_abs_diff,
            top1_agreement: a.top1_agreement,
            min_top1_agreement: MIN_TOP1_AGREEMENT,
            n_samples: a.n_samples,
        },
    })
}
