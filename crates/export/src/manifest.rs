//! The JSON manifest written beside an exported model as `<name>.json`: everything a
//! consumer needs to feed the model and read its answer, and where it came from.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::ExportError;
use crate::fsutil::write_atomic;

/// One axis of the input shape: a fixed size, or a named dynamic axis (`"batch"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ManifestDim {
    Fixed(usize),
    Dynamic(String),
}

/// Pixel normalisation `(x − mean) / std`, applied to pixels scaled to [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// `true`: the graph applies it, so feed pixels in [0, 1]. `false`: the caller must.
    pub in_graph: bool,
}

/// Parity measured when the model was exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParityRecord {
    pub max_abs_diff: f64,
    pub max_rel_diff: f64,
    /// `max |onnx − reference| / max(|reference|, 1)`, the figure held to `tolerance`
    /// (absent from manifests written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_scaled_diff: Option<f64>,
    /// Largest `max_scaled_diff` accepted.
    pub tolerance: f64,
    pub n_samples: usize,
}

/// Agreement of a quantized model with the reference, measured when it was exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgreementRecord {
    /// `max |int8 − reference|` over every output.
    pub max_abs_diff: f64,
    /// Share of reference examples with the same top-1 class.
    pub top1_agreement: f64,
    /// Lowest `top1_agreement` accepted.
    pub min_top1_agreement: f64,
    pub n_samples: usize,
}

/// The int8 model beside the float one on the run's own data, measured at export: what
/// quantizing costs in accuracy and gains in speed on this machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantizedComparison {
    /// The split scored: `"validation"`, or `"test"` for a run without one.
    pub split: String,
    /// Examples scored (evenly spread over the split, at most 2,048).
    pub examples: usize,
    pub float_accuracy: f64,
    pub int8_accuracy: f64,
    /// Examples per timed run (real images of the split).
    pub batch: usize,
    /// Median milliseconds of one run at `batch`, ONNX Runtime's default threads.
    pub float_ms: f64,
    pub int8_ms: f64,
}

/// How the static int8 model's activation ranges were measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationRecord {
    /// `"minmax"`: the smallest and largest value over every calibration example.
    pub method: String,
    /// The split the examples came from, `"train"` (without augmentation).
    pub split: String,
    pub batches: usize,
    pub examples: usize,
    /// Activation tensors with their own range.
    pub tensors: usize,
    /// `"uint8 asymmetric per-tensor"`.
    pub activations: String,
    /// `"int8 symmetric per-channel"`.
    pub weights: String,
}

/// What a consumer may do with an image that is not the model's input size or channels
/// (`ronin predict` follows it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputPolicy {
    /// Resize bilinearly to the input size and convert the channels (colour → gray by
    /// ITU-R 601-2 luma as PIL, gray → RGB by repetition).
    #[default]
    Bilinear,
    /// Refuse it.
    Refuse,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// File name of the ONNX model, relative to the manifest.
    pub model_file: String,
    pub input_name: String,
    /// `["batch", C, H, W]`, or `[1, C, H, W]` for a model exported with
    /// `export.dynamic_batch: false`.
    pub input_shape: Vec<ManifestDim>,
    /// Always `"NCHW"`.
    pub layout: String,
    /// Element type of input and output, `"float32"`.
    pub dtype: String,
    /// `None` when pixels are used as they are, in [0, 1].
    pub normalization: Option<Normalization>,
    /// Class names in output order.
    pub class_names: Vec<String>,
    /// The model outputs probabilities (`true`) or logits (`false`).
    pub softmax_in_graph: bool,
    pub output_name: String,
    pub opset: i64,
    pub ir_version: i64,
    /// Run directory of the training run the weights come from.
    pub source_run_dir: String,
    pub pipeline_name: String,
    /// Checkpoint file name within the run, e.g. `best.safetensors`.
    pub checkpoint: String,
    pub git_commit: Option<String>,
    /// `None` when the export was not verified.
    pub parity: Option<ParityRecord>,
    /// BatchNorms were merged into the convolutions before them (`ronin export --fold-bn`).
    /// Absent in manifests written before the option existed: read as `false`.
    #[serde(default)]
    pub batch_norm_folded: bool,
    /// `"dynamic-int8"` for a model written by `ronin export --quantize dynamic` (see
    /// [`crate::quantize`]); absent for a float32 model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<String>,
    /// ONNX op types of the float export that became integer ops (`["Conv", "Gemm"]`);
    /// absent when nothing was quantized.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quantized_ops: Vec<String>,
    /// The quantized model against the trained model's reference outputs, in place of
    /// `parity` (which int8 cannot meet); absent for a float32 model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantized_agreement: Option<AgreementRecord>,
    /// How a `"static-int8"` model was calibrated; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<CalibrationRecord>,
    /// An int8 model's accuracy and speed against the float model's; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantized_comparison: Option<QuantizedComparison>,
    /// Images of another size or channel count: resized and converted (`"bilinear"`) or
    /// refused (`"refuse"`). Absent in manifests written before the option existed: read
    /// as `"bilinear"`, what `ronin predict` did then.
    #[serde(default)]
    pub input_policy: InputPolicy,
    pub ronin_version: String,
    /// Creation time as given by the caller (RFC 3339 recommended).
    pub created: String,
}

impl Manifest {
    /// Manifest path of a model: `exports/net.onnx` → `exports/net.json`.
    pub fn path_for(model_path: impl AsRef<Path>) -> PathBuf {
        model_path.as_ref().with_extension("json")
    }

    /// Parses a manifest from JSON text; `origin` names it in errors.
    pub fn from_json(text: &str, origin: &Path) -> Result<Self, ExportError> {
        serde_json::from_str(text).map_err(|source| ExportError::Manifest {
            path: origin.to_owned(),
            source,
        })
    }

    pub fn read(path: impl AsRef<Path>) -> Result<Self, ExportError> {
        let path = path.as_ref();
        Self::from_json(&fs_err::read_to_string(path)?, path)
    }

    /// Pretty JSON with a trailing newline (diffs well in git).
    pub fn to_json(&self) -> String {
        // Serialising plain structs of strings and numbers cannot fail.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Writes the manifest atomically (temporary file, fsync, rename).
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), ExportError> {
        write_atomic(path, self.to_json().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            model_file: "fashion_cnn.onnx".into(),
            input_name: "input".into(),
            input_shape: vec![
                ManifestDim::Dynamic("batch".into()),
                ManifestDim::Fixed(1),
                ManifestDim::Fixed(28),
                ManifestDim::Fixed(28),
            ],
            layout: "NCHW".into(),
            dtype: "float32".into(),
            normalization: Some(Normalization {
                mean: vec![0.286],
                std: vec![0.353],
                in_graph: true,
            }),
            class_names: vec!["T-shirt/top".into(), "Trouser".into()],
            softmax_in_graph: false,
            output_name: "logits".into(),
            opset: 17,
            ir_version: 10,
            source_run_dir: "experiments/fashion_cnn/run-1".into(),
            pipeline_name: "fashion_cnn".into(),
            checkpoint: "best.safetensors".into(),
            git_commit: None,
            parity: Some(ParityRecord {
                max_abs_diff: 1.2e-6,
                max_rel_diff: 3.0e-5,
                max_scaled_diff: Some(1.2e-6),
                tolerance: 1e-4,
                n_samples: 64,
            }),
            batch_norm_folded: true,
            quantization: None,
            quantized_ops: Vec::new(),
            quantized_agreement: None,
            calibration: None,
            quantized_comparison: None,
            input_policy: InputPolicy::Refuse,
            ronin_version: "0.1.0".into(),
            created: "2025-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn json_round_trip_through_a_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let model = dir.path().join("fashion_cnn.onnx");
        let path = Manifest::path_for(&model);
        assert_eq!(path, dir.path().join("fashion_cnn.json"));
        sample().write(&path).expect("write");
        assert_eq!(Manifest::read(&path).expect("read"), sample());
    }

    #[test]
    fn batch_axis_is_a_string_and_sizes_are_numbers() {
        let json: serde_json::Value =
            serde_json::from_str(&sample().to_json()).expect("valid json");
        assert_eq!(json["input_shape"], serde_json::json!(["batch", 1, 28, 28]));
        assert_eq!(json["git_commit"], serde_json::Value::Null);
    }

    #[test]
    fn manifest_without_batch_norm_folded_reads_as_false() {
        let mut json: serde_json::Value =
            serde_json::from_str(&sample().to_json()).expect("valid json");
        assert_eq!(json["batch_norm_folded"], true);
        json.as_object_mut()
            .expect("object")
            .remove("batch_norm_folded");
        let old = Manifest::from_json(&json.to_string(), Path::new("old.json")).expect("reads");
        assert!(!old.batch_norm_folded);
    }

    #[test]
    fn quantization_fields_round_trip_and_are_absent_for_float_models() {
        let float: serde_json::Value =
            serde_json::from_str(&sample().to_json()).expect("valid json");
        for key in ["quantization", "quantized_ops", "quantized_agreement"] {
            assert!(float.get(key).is_none(), "{key} in a float manifest");
        }
        let int8 = Manifest {
            parity: None,
            quantization: Some("dynamic-int8".into()),
            quantized_ops: vec!["Conv".into(), "Gemm".into()],
            quantized_agreement: Some(AgreementRecord {
                max_abs_diff: 0.05,
                top1_agreement: 1.0,
                min_top1_agreement: 0.9,
                n_samples: 64,
            }),
            ..sample()
        };
        let back = Manifest::from_json(&int8.to_json(), Path::new("q.json")).expect("reads");
        assert_eq!(back, int8);
        let json: serde_json::Value = serde_json::from_str(&int8.to_json()).expect("json");
        assert_eq!(json["quantization"], "dynamic-int8");
    }

    /// A manifest as `ronin export` wrote it before `input_policy` and `calibration`
    /// existed (and before `batch_norm_folded` and the quantization fields).
    #[test]
    fn an_old_manifest_still_loads_with_the_old_behaviour() {
        let old = r#"{
  "model_file": "mnist_cnn.onnx",
  "input_name": "input",
  "input_shape": ["batch", 1, 28, 28],
  "layout": "NCHW",
  "dtype": "float32",
  "normalization": {"mean": [0.13], "std": [0.31], "in_graph": false},
  "class_names": ["0", "1"],
  "softmax_in_graph": false,
  "output_name": "logits",
  "opset": 17,
  "ir_version": 10,
  "source_run_dir": "experiments/mnist_cnn/run-1",
  "pipeline_name": "mnist_cnn",
  "checkpoint": "best",
  "git_commit": null,
  "parity": null,
  "ronin_version": "0.1.0",
  "created": "2025-01-01T00:00:00Z"
}"#;
        let m = Manifest::from_json(old, Path::new("old.json")).expect("reads");
        assert_eq!(m.input_policy, InputPolicy::Bilinear);
        assert_eq!(m.calibration, None);
        assert!(!m.batch_norm_folded && m.quantization.is_none());
        let json: serde_json::Value = serde_json::from_str(&sample().to_json()).expect("json");
        assert_eq!(json["input_policy"], "refuse");
        assert!(json.get("calibration").is_none());
    }

    #[test]
    fn invalid_manifest_names_the_file() {
        let err = Manifest::from_json("{}", Path::new("exports/x.json")).expect_err("empty");
        assert!(err.to_string().contains("exports/x.json"), "{err}");
    }
}
