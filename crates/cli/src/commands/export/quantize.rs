//! The int8 model of `ronin export --quantize`: dynamic (rewritten at export) or static
//! (calibrated on the run's training data), checked for top-1 agreement with the trained
//! model on the reference batch before anything is written.

use std::time::Instant;

use anyhow::{Context, bail};
use ndarray::Array2;
use ronin_data::{DataBundle, Normalization, Part};
use ronin_export::{
    AgreementRecord, CalibrationRecord, ExportOptions, MIN_TOP1_AGREEMENT, OnnxModel, Quantization,
    QuantizedComparison, Reference, STATIC_NAME, SessionOptions, StaticQuantizer, Weights,
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
    /// Accuracy and speed against the float model on the run's data.
    pub comparison: Option<QuantizedComparison>,
}

/// Most examples scored by the comparison, evenly spread over the split.
const COMPARED_EXAMPLES: usize = 2048;
/// Examples per timed run.
const TIMED_BATCH: usize = 64;

/// What calibration feeds the model: the run's data and how the model's input is
/// preprocessed (`None` when the graph normalises itself).
pub struct CalibrationData<'a> {
    pub file: &'a PipelineFile,
    pub input_shape: [usize; 3],
    pub normalization: Option<(&'a [f32], &'a [f32])>,
}

/// Builds the `scheme`'s int8 model and compares it with the trained model's outputs on
/// the reference batch (`input` as the model takes it, `expected` its outputs): fails
/// when fewer than [`MIN_TOP1_AGREEMENT`] of the examples keep their top-1 class. Then
/// scores and times it against `float` (the verified float model) on the run's data.
#[allow(clippy::too_many_arguments)]
pub fn quantize(
    graph: &ModelGraph,
    weights: &Weights,
    opts: &ExportOptions,
    scheme: Scheme,
    float: &[u8],
    reference: &Reference,
    expected: &Array2<f32>,
    data: &CalibrationData<'_>,
) -> anyhow::Result<Quantized> {
    let rt = ronin_export::Runtime::global()?;
    // Static calibration needs the run's data; the comparison is done when they load.
    let bundle = match (data.bundle(), scheme) {
        (Ok(b), _) => Some(b),
        (Err(e), Scheme::Static { .. }) => {
            return Err(e.context("static quantization calibrates on the run's training data"));
        }
        (Err(e), Scheme::Dynamic(_)) => {
            eprintln!("note: int8 accuracy and speed not compared: {e:#}");
            None
        }
    };
    let normalization = data.normalization()?;
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
            let bundle = bundle
                .as_ref()
                .context("static quantization calibrates on the run's training data")?;
            let batch_size = data.file.data.batch_size.max(1);
            let (n_batches, examples) =
                calibrate(&mut q, &calib, bundle, &normalization, batches, batch_size)?;
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
    let float = rt
        .load_bytes(float, &SessionOptions::default())
        .context("ONNX Runtime cannot load the float model")?;
    let comparison = match &bundle {
        Some(b) => compare(
            &float,
            &model,
            b,
            &normalization,
            ronin_export::ends_with_softmax(graph, opts),
        )?,
        None => None,
    };
    if let Some(c) = &comparison {
        eprintln!(
            "{name} against float32 on {} {} examples: accuracy {:.4} → {:.4} ({:+.2} points); a batch of {} in {:.3} → {:.3} ms ({})",
            c.examples,
            c.split,
            c.float_accuracy,
            c.int8_accuracy,
            100.0 * (c.int8_accuracy - c.float_accuracy),
            c.batch,
            c.float_ms,
            c.int8_ms,
            speed_change(c.float_ms, c.int8_ms)
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
        comparison,
    })
}

impl CalibrationData<'_> {
    /// The run's data, built again from its resolved pipeline.
    fn bundle(&self) -> anyhow::Result<DataBundle> {
        let bundle = ronin_data::build(&self.file.data, self.file.seed)
            .context("cannot build the run's data")?;
        if bundle.shape() != self.input_shape {
            bail!(
                "the run's data are now {:?} (C, H, W) but the model takes {:?}",
                bundle.shape(),
                self.input_shape
            );
        }
        Ok(bundle)
    }

    /// How the model's input is preprocessed from pixels in [0, 1].
    fn normalization(&self) -> anyhow::Result<Normalization> {
        let channels = self.input_shape[0];
        Ok(match self.normalization {
            Some((mean, std)) => Normalization::given(mean, std, channels)
                .context("the run's normalization (data.json) does not fit its input")?,
            None => Normalization::identity(channels),
        })
    }
}

/// Scores both models on up to [`COMPARED_EXAMPLES`] examples of the validation split (the
/// test split when there is none) and times one batch of them through each; `None` when
/// the run has neither split.
fn compare(
    float: &OnnxModel,
    int8: &OnnxModel,
    bundle: &DataBundle,
    normalization: &Normalization,
    probabilities: bool,
) -> anyhow::Result<Option<QuantizedComparison>> {
    let Some(part) = [Part::Validation, Part::Test]
        .into_iter()
        .find(|&p| !bundle.indices(p).is_empty())
    else {
        eprintln!("note: the run has no validation or test examples; int8 accuracy not compared");
        return Ok(None);
    };
    let picked = spread(bundle.indices(part), COMPARED_EXAMPLES);
    let dataset = bundle.dataset(part);
    let [f, q] = crate::commands::eval::score(
        [float, int8],
        dataset,
        &picked,
        normalization,
        probabilities,
    )?;
    let timed = &picked[..picked.len().min(TIMED_BATCH)];
    let batch = ronin_data::dataset_batch(dataset, timed, normalization)?;
    let x = batch.images.view();
    Ok(Some(QuantizedComparison {
        split: part.name().to_owned(),
        examples: f.examples,
        float_accuracy: f.accuracy(),
        int8_accuracy: q.accuracy(),
        batch: timed.len(),
        float_ms: median_ms(|| float.run(x).map(drop))?,
        int8_ms: median_ms(|| int8.run(x).map(drop))?,
    }))
}

/// At most `n` of `indices`, evenly spread over all of them (every class of a file
/// ordered by class is seen).
fn spread(indices: &[usize], n: usize) -> Vec<usize> {
    let n = n.min(indices.len());
    (0..n).map(|i| indices[i * indices.len() / n]).collect()
}

/// `"1.29× faster"` or `"13.5× slower"`: int8 against float32.
fn speed_change(float_ms: f64, int8_ms: f64) -> String {
    if int8_ms <= float_ms {
        format!("{:.2}× faster", float_ms / int8_ms.max(1e-9))
    } else {
        format!("{:.2}× slower", int8_ms / float_ms.max(1e-9))
    }
}

/// Median milliseconds of `run` after two warm-up runs: 25 runs, or fewer when they take
/// more than two seconds together (at least 3).
fn median_ms(
    mut run: impl FnMut() -> Result<(), ronin_export::ExportError>,
) -> anyhow::Result<f64> {
    run()?;
    run()?;
    let started = Instant::now();
    let mut ms = Vec::new();
    while ms.len() < 25 && (ms.len() < 3 || started.elapsed().as_secs_f64() < 2.0) {
        let t = Instant::now();
        run()?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    Ok(ms[ms.len() / 2])
}

/// Feeds `batches` batches of the training split (no augmentation, preprocessed as the
/// model's input) to the quantizer: `batches · batch_size` examples spread evenly over
/// the whole split (every class of an ordered file is seen). Returns the batches and
/// examples used.
fn calibrate(
    q: &mut StaticQuantizer,
    model: &OnnxModel,
    bundle: &DataBundle,
    normalization: &Normalization,
    batches: usize,
    batch_size: usize,
) -> anyhow::Result<(usize, usize)> {
    let train = bundle.indices(Part::Train);
    if train.is_empty() {
        bail!("the run's training split is empty; nothing to calibrate on");
    }
    let picked = spread(train, batches * batch_size);
    let wanted = picked.len();
    let dataset = bundle.dataset(Part::Train);
    let mut used = 0;
    for chunk in picked.chunks(batch_size) {
        let batch = ronin_data::dataset_batch(dataset, chunk, normalization)?;
        q.calibrate(model, batch.images.view())
            .context("calibration run failed")?;
        used += 1;
    }
    Ok((used, wanted))
}

#[cfg(test)]
mod tests {
    use super::speed_change;

    #[test]
    fn speed_changes_read_both_ways() {
        assert_eq!(speed_change(3.728, 2.901), "1.29× faster");
        assert_eq!(speed_change(3.917, 52.852), "13.49× slower");
        assert_eq!(speed_change(1.0, 1.0), "1.00× faster");
    }
}
