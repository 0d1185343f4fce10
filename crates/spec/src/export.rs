//! The choices of the pipeline's `export` section ([`crate::ExportSpec`]) and their checks.

use serde::{Deserialize, Serialize};

use crate::schema::ExportSpec;

/// Oldest opset accepted in `export.opset` (LayerNormalization needs 17).
pub const MIN_EXPORT_OPSET: i64 = 17;
/// Newest opset accepted in `export.opset` (the newest ONNX IR version 10 covers).
pub const MAX_EXPORT_OPSET: i64 = 21;

/// How `ronin export` writes an int8 model beside the float one (`<name>.int8.onnx`), as
/// `--quantize` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum QuantizeSpec {
    /// Conv and Linear as `ConvInteger` / `MatMulInteger`: int8 per-channel weights,
    /// activations quantized per batch at run time (ONNX Runtime's `quantize_dynamic`).
    Dynamic,
    /// Linear only, as PyTorch's `quantize_dynamic`; convolutions stay float32.
    DynamicLinear,
    /// QDQ format as ONNX Runtime's `quantize_static`: uint8 activations with per-tensor
    /// scales calibrated (MinMax) on `calibration_batches` batches of the training data,
    /// int8 per-channel weights, int32 biases; ONNX Runtime runs it as `QLinearConv` and
    /// `QGemm`. BatchNorms are folded into the convolutions first.
    Static,
}

/// What `ronin predict` does with an image whose size or channel count is not the
/// model's (recorded in the manifest as `input_policy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum ResizePolicy {
    /// Resize to the model's input (triangle filter, i.e. bilinear) and convert the
    /// channels: colour → gray by ITU-R 601-2 luma (PIL's `convert("L")`), gray → RGB by
    /// repeating the channel. Alpha is dropped.
    #[default]
    Bilinear,
    /// Refuse such an image with an error naming the file, its size and channels and the
    /// model's; alpha is still dropped (RGBA counts as RGB, gray+alpha as gray).
    Refuse,
}

/// Errors of the `export` section as `(field path, message)`.
pub fn check_export(spec: &ExportSpec) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    if !(MIN_EXPORT_OPSET..=MAX_EXPORT_OPSET).contains(&spec.opset) {
        errors.push((
            "export.opset".to_owned(),
            format!(
                "opset {} is not supported; use {MIN_EXPORT_OPSET} to {MAX_EXPORT_OPSET}",
                spec.opset
            ),
        ));
    }
    if !(spec.tolerance > 0.0 && spec.tolerance.is_finite()) {
        errors.push((
            "export.tolerance".to_owned(),
            format!(
                "tolerance is the largest |ONNX − trained| / max(1, |trained|) accepted and must be a positive number, found {}",
                spec.tolerance
            ),
        ));
    }
    if spec.calibration_batches == 0 {
        errors.push((
            "export.calibration_batches".to_owned(),
            "calibration_batches must be at least 1".to_owned(),
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ExportSpec {
        ron::from_str(text).expect("valid export section")
    }

    #[test]
    fn defaults_keep_what_export_did_before() {
        let d = parse("()");
        assert_eq!(d, ExportSpec::default());
        assert!(d.dynamic_batch && !d.normalize && !d.fold_batch_norm);
        assert_eq!((d.quantize, d.resize), (None, ResizePolicy::Bilinear));
        assert!(check_export(&d).is_empty());
    }

    #[test]
    fn every_field_parses() {
        let e = parse(
            "(opset: 18, normalize: true, fold_batch_norm: true, quantize: Some(Static), \
             calibration_batches: 4, dynamic_batch: false, resize: Refuse)",
        );
        assert_eq!(e.quantize, Some(QuantizeSpec::Static));
        assert_eq!((e.calibration_batches, e.resize), (4, ResizePolicy::Refuse));
        assert!(e.normalize && e.fold_batch_norm && !e.dynamic_batch);
    }

    #[test]
    fn bad_values_are_reported_with_their_field() {
        let e = parse("(opset: 9, tolerance: 0.0, calibration_batches: 0)");
        let fields: Vec<_> = check_export(&e).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "export.opset",
                "export.tolerance",
                "export.calibration_batches"
            ]
        );
        let nan = ExportSpec {
            tolerance: f64::NAN,
            ..ExportSpec::default()
        };
        assert!(check_export(&nan)[0].1.contains("positive number"));
    }
}
