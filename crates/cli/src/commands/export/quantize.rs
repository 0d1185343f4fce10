//! The int8 model of `ronin export --quantize`: dynamic (rewritten at export) or static
//! (calibrated on the run's training data), checked for top-1 agreement with the trained
//! model on the reference batch before anything is written.

use anyhow::{Context, bail};
use ndarray::Array2;
use ronin_data::{Normalization, Part};
use ronin_export::{
    AgreementRecord, CalibrationRecord, ExportOptions, MIN_TOP1_AGREEMENT, Quantization, Reference,
    STATIC_NAME, SessionOptions, StaticQuantizer, Weights,
};
use ronin_spec::{ModelGraph, PipelineFile};

/// Which int8 model to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Dynamic(Quantization),
    /// QDQ calibrated on this many training batches.
    Static {
        batches: usize,
    },
}

/// The quantized model, checked against the reference.
pub struct Quantized {
    pub bytes: Vec<u8>,
    /// `"dynamic-int8"` or `"static-int8"`.
    pub name: &'static str,
    pub quantized_ops: Vec<String>,
    pub record: AgreementRecord,
    pub calibration: Option<CalibrationRecord>,
    /// Static quantization folds BatchNorm first.
    pub batch_norm_folded: bool,
}

/// What calibration feeds the model: the run's data and how the model's input is
/// preprocessed (`None` when the graph normalises itself).
pub struct CalibrationData<'a> {
    pub file: &'a PipelineFile,
    pub input_shape: [usize; 3],
    pub normalization: Option<(&'a [f32], &'a [f32])>,
}

/// Builds the `scheme`'s int8 model and compares it with the trained model's outputs on
/// the reference batch (`input` as the model takes it, `expected` its outputs): fails
/// when fewer than [`MIN_TOP1_AGREEMENT`] of the examples keep their top-1 class.
pub fn quantize(
    graph: &ModelGraph,
    weights: &Weights,
    opts: &ExportOptions,
    scheme: Scheme,
    reference: &Reference,
    expected: &Array2<f32>,
    data: &CalibrationData<'_>,
) -> anyhow::Result<Quantized> {
    let rt = ronin_export::Runtime::global()?;
    let (bytes, name, quantized_ops, nodes, calibration, folded) = match scheme {
        Scheme::Dynamic(q) => {
            let q_opts = ExportOptions {
                quantize: Some(q),
                ..opts.clone()
            };
            let bytes = ronin_export::to_onnx(graph, weights, &q_opts)
                .with_context(|| format!("cannot write the {} model", q.name()))?;
            let folded =
                opts.fold_batch_norm && !ronin_export::foldable_batch_norms(graph).is_empty();
            (
                bytes,
                q.name(),
                q.quantized_ops(graph),
                q.quantized_nodes(graph),
                None,
                folded,
            )
        }
        Scheme::Static { batches } => {
            let float_opts = ExportOptions {
                fold_batch_norm: true,
                quantize: None,
                ..opts.clone()
            };
            let float = ronin_export::to_onnx(graph, weights, &float_opts)
                .context("cannot write the float model to quantize")?;
            let mut q = StaticQuantizer::new(&float)?;
            let calib = rt
                .load_bytes(&q.calibration_model()?, &SessionOptions::default())
                .context("ONNX Runtime cannot load the calibration model")?;
            let (n_batches, examples) = calibrate(&mut q, &calib, data, batches)?;
            let tensors = q.calibrated_tensors().len();
            let m = q.finish()?;
            eprintln!(
                "calibrated {tensors} activation ranges (MinMax) on {examples} training examples in {n_batches} batch(es)"
            );
            let record = CalibrationRecord {
                method: "minmax".into(),
                split: "train".into(),
                batches: n_batches,
                examples,
                tensors,
                activations: "uint8 asymmetric per-tensor".into(),
                weights: "int8 symmetric per-channel".into(),
            };
            let folded = !ronin_export::foldable_batch_norms(graph).is_empty();
            (
                m.bytes,
                STATIC_NAME,
                m.quantized_ops,
                m.quantized_nodes,
                Some(record),
                folded,
            )
        }
    };
    let model = rt
        .load_bytes(&bytes, &SessionOptions::default())
        .with_context(|| format!("ONNX Runtime cannot load the {name} model"))?;
    let actual = model.run(reference.input.view())?;
    let a = ronin_export::agreement(actual.view(), expected.view())?;
    eprintln!(
        "{name} model on {} reference samples: top-1 agreement {:.4} (at least {MIN_TOP1_AGREEMENT}), max abs diff {:.3e}; quantized {nodes} of {} nodes ({})",
        a.n_samples,
        a.top1_agreement,
        a.max_abs_diff,
        graph.nodes.len(),
        quantized_ops.join(", ")
    );
    if a.top1_agreement < MIN_TOP1_AGREEMENT {
        bail!(
            "the {name} model keeps the top-1 class of only {:.1}% of the reference examples (at least {:.0}% needed); nothing was written",
            100.0 * a.top1_agreement,
            100.0 * MIN_TOP1_AGREEMENT
        );
    }
    Ok(Quantized {
        bytes,
        name,
        quantized_ops,
        record: AgreementRecord {
            max_abs_diff: a.max_abs_diff,
            top1_agreement: a.top1_agreement,
            min_top1_agreement: MIN_TOP1_AGREEMENT,
            n_samples: a.n_samples,
        },
        calibration,
        batch_norm_folded: folded,
    })
}

/// Feeds `batches` batches of the training split (no augmentation, preprocessed as the
/// model's input) to the quantizer: `batches · batch_size` examples spread evenly over
/// the whole split (every class of an ordered file is seen). Returns the batches and
/// examples used.
fn calibrate(
    q: &mut StaticQuantizer,
    model: &ronin_export::OnnxModel,
    data: &CalibrationData<'_>,
    batches: usize,
) -> anyhow::Result<(usize, usize)> {
    let spec = &data.file.data;
    let bundle = ronin_data::build(spec, data.file.seed)
        .context("cannot build the run's training data for calibration")?;
    if bundle.shape() != data.input_shape {
        bail!(
            "the run's data are now {:?} (C, H, W) but the model takes {:?}; cannot calibrate",
            bundle.shape(),
            data.input_shape
        );
    }
    let channels = data.input_shape[0];
    let normalization = match data.normalization {
        Some((mean, std)) => Normalization::given(mean, std, channels)
            .context("the run's normalization (data.json) does not fit its input")?,
        None => Normalization::identity(channels),
    };
    let train = bundle.indices(Part::Train);
    if train.is_empty() {
        bail!("the run's training split is empty; nothing to calibrate on");
    }
    let batch_size = spec.batch_size.max(1);
    let wanted = (batches * batch_size).min(train.len());
    let picked: Vec<usize> = (0..wanted)
        .map(|i| train[i * train.len() / wanted])
        .collect();
    let dataset = bundle.dataset(Part::Train);
    let mut used = 0;
    for chunk in picked.chunks(batch_size) {
        let batch = ronin_data::dataset_batch(dataset, chunk, &normalization)?;
        q.calibrate(model, batch.images.view())
            .context("calibration run failed")?;
        used += 1;
    }
    Ok((used, wanted))
}
