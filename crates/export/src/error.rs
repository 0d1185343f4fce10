//! The error type of every fallible operation in this crate.

use std::fmt;
use std::path::PathBuf;

/// One way the checkpoint's tensors disagree with the model graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightIssue {
    /// The graph needs a tensor the checkpoint lacks.
    Missing { name: String, expected: Vec<usize> },
    /// The checkpoint holds a tensor no node of the graph uses.
    Unexpected { name: String, found: Vec<usize> },
    /// Both have the tensor, with different shapes.
    Shape {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
}

impl fmt::Display for WeightIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { name, expected } => write!(
                f,
                "tensor `{name}` is missing from the checkpoint (the model expects shape {expected:?})"
            ),
            Self::Unexpected { name, found } => write!(
                f,
                "tensor `{name}` (shape {found:?}) is in the checkpoint but not in the model"
            ),
            Self::Shape {
                name,
                expected,
                found,
            } => write!(
                f,
                "tensor `{name}` has shape {found:?} in the checkpoint but the model expects {expected:?}"
            ),
        }
    }
}

/// Issues shown in a [`ExportError::Weights`] message; the rest are counted.
const SHOWN_ISSUES: usize = 6;

/// The first issues, a count of the others, and what a whole-model mismatch means.
fn join_issues(issues: &[WeightIssue]) -> String {
    let mut text = issues
        .iter()
        .take(SHOWN_ISSUES)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if issues.len() > SHOWN_ISSUES {
        text.push_str(&format!("; and {} more", issues.len() - SHOWN_ISSUES));
    }
    let matched = |i: &WeightIssue| matches!(i, WeightIssue::Shape { .. });
    let unexpected = issues
        .iter()
        .filter(|i| matches!(i, WeightIssue::Unexpected { .. }))
        .count();
    if unexpected > SHOWN_ISSUES && !issues.iter().any(matched) && unexpected * 2 > issues.len() {
        text.push_str(
            ". Most of the checkpoint's tensors are unknown to the model: it was written by a different model than this pipeline's (another run, or an edited model section); export the run it came from",
        );
    }
    text
}

/// Everything that can go wrong while exporting, loading, running or verifying a model.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{} has no CUDA execution provider (it is ONNX Runtime's CPU build); use --device cpu or auto, or point RONIN_ORT_DYLIB at the libonnxruntime.so of onnxruntime-gpu 1.31 with its CUDA libraries on the library path", dylib.display())]
    NoCuda { dylib: std::path::PathBuf },

    #[error(
        "ONNX Runtime's CUDA execution provider could not start on device {device}: {reason}; use --device cpu or auto, check `nvidia-smi`, and put CUDA 13's and cuDNN 9's libraries on the library path (.ci/ronin-cuda does)"
    )]
    CudaFailed { device: i32, reason: String },

    #[error("{} is not a model ONNX Runtime can load ({reason}); write it with `ronin export <run>`", path.display())]
    NotAModel { path: PathBuf, reason: String },

    #[error("checkpoint weights do not match the model ({} problem(s)): {}", .0.len(), join_issues(.0))]
    Weights(Vec<WeightIssue>),

    #[error("tensor `{name}`: {len} values do not fill shape {shape:?} ({expected} values)")]
    TensorLength {
        name: String,
        shape: Vec<usize>,
        len: usize,
        expected: usize,
    },

    #[error("tensor `{name}` in {path} has dtype {dtype}; only F32 is supported")]
    Dtype {
        name: String,
        dtype: String,
        path: PathBuf,
    },

    #[error("tensor `{name}` is missing from {path}")]
    MissingTensor { name: String, path: PathBuf },

    #[error("tensor `{name}` in {path} has shape {found:?}, expected {expected}")]
    TensorShape {
        name: String,
        path: PathBuf,
        found: Vec<usize>,
        expected: String,
    },

    #[error("cannot read safetensors file {path}")]
    SafeTensors {
        path: PathBuf,
        #[source]
        source: safetensors::SafeTensorError,
    },

    #[error("opset {opset} is not supported; use an opset from {min} to {max}")]
    Opset { opset: i64, min: i64, max: i64 },

    #[error("{what}: {reason}")]
    Normalize { what: &'static str, reason: String },

    #[error(
        "the model's output has shape {shape:?} per example; ONNX export needs a flat (K) output — end the model with Flatten or Linear"
    )]
    OutputNotFlat { shape: Vec<usize> },

    #[error("cannot export node `{node}`: {reason}")]
    Node { node: String, reason: String },

    #[error(
        "ONNX Runtime library not found at {path} (looked at RONIN_ORT_DYLIB, then ORT_DYLIB_PATH); run `bash .ci/setup.sh` to install it"
    )]
    DylibMissing { path: PathBuf },

    #[error("cannot load ONNX Runtime from {path}")]
    DylibLoad {
        path: PathBuf,
        #[source]
        source: ort::LoadDynamicError,
    },

    #[error("ONNX Runtime: {op}")]
    Ort {
        op: String,
        #[source]
        source: ort::Error,
    },

    #[error("input has shape {found:?} but the model takes {expected}")]
    InputShape { found: Vec<usize>, expected: String },

    #[error("ONNX Runtime returned output `{name}` with shape {shape:?}; expected (N, K)")]
    OutputShape { name: String, shape: Vec<usize> },

    #[error(
        "cannot compare outputs: ONNX Runtime gave shape {actual:?}, the reference has {expected:?}"
    )]
    ParityShape {
        actual: Vec<usize>,
        expected: Vec<usize>,
    },

    #[error("cannot score outputs: {reason}")]
    Labels { reason: String },

    #[error("manifest {path} is not valid")]
    Manifest {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    /// Static quantization could not calibrate or rewrite the model.
    #[error("static quantization: {reason}")]
    StaticQuantize { reason: String },

    #[error("cannot {op} {path}")]
    File {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl ExportError {
    /// Wraps an `ort` error with the operation that failed.
    pub(crate) fn ort(op: impl Into<String>) -> impl FnOnce(ort::Error) -> Self {
        let op = op.into();
        move |source| Self::Ort { op, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_errors_name_tensor_and_both_shapes() {
        let err = ExportError::Weights(vec![
            WeightIssue::Shape {
                name: "layers.0.weight".into(),
                expected: vec![32, 1, 3, 3],
                found: vec![32, 3, 3, 3],
            },
            WeightIssue::Missing {
                name: "layers.0.bias".into(),
                expected: vec![32],
            },
        ]);
        let msg = err.to_string();
        assert!(msg.contains("2 problem(s)"), "{msg}");
        assert!(
            msg.contains("`layers.0.weight` has shape [32, 3, 3, 3]"),
            "{msg}"
        );
        assert!(msg.contains("expects [32, 1, 3, 3]"), "{msg}");
        assert!(msg.contains("`layers.0.bias` is missing"), "{msg}");
    }

    #[test]
    fn a_checkpoint_of_another_model_is_summarised() {
        let issues: Vec<WeightIssue> = (0..102)
            .map(|i| WeightIssue::Unexpected {
                name: format!("layer{i}.weight"),
                found: vec![4],
            })
            .collect();
        let msg = ExportError::Weights(issues).to_string();
        assert!(msg.contains("102 problem(s)"), "{msg}");
        assert!(
            msg.contains("`layer5.weight`") && !msg.contains("`layer6.weight`"),
            "{msg}"
        );
        assert!(msg.contains("and 96 more"), "{msg}");
        assert!(
            msg.contains("a different model than this pipeline's"),
            "{msg}"
        );
    }

    #[test]
    fn missing_dylib_says_how_to_install() {
        let err = ExportError::DylibMissing {
            path: "/nowhere/libonnxruntime.so".into(),
        };
        assert!(err.to_string().contains("bash .ci/setup.sh"));
    }
}
