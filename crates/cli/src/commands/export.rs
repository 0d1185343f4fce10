//! `ronin export RUN`: the run's model as ONNX, verified against the trained model.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use ndarray::Axis;
use ronin_export::{
    ExportOptions, Manifest, ManifestDim, Normalization, ParityRecord, Reference, Weights,
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
    Ok(ExitCode::SUCCESS)
}
