//! ronin-export: a trained model to ONNX, checked and served with ONNX Runtime.
//!
//! - [`to_onnx`]: [`ronin_spec::ModelGraph`] + checkpoint [`Weights`] → ONNX bytes, eval
//!   semantics, no libtorch. Protobuf types are generated from the official `onnx.proto`.
//! - [`Runtime`] / [`OnnxModel`]: ONNX Runtime through `ort`, the library loaded at run time.
//! - [`fold_batch_norm`]: BatchNorm merged into the convolution before it (optional).
//! - [`quantize`]: Conv and Linear as dynamically quantized int8 ops (optional).
//! - [`qdq`]: static int8 quantization (QDQ) calibrated on training batches (optional).
//! - [`verify`]: parity of ONNX Runtime against the runner's `reference.safetensors`.
//! - [`Scores`]: accuracy and cross-entropy of outputs against labels (`ronin eval`).
//! - [`Manifest`]: the JSON written beside the model; [`predict`]: top-k answers.

pub mod error;
pub mod fold;
pub mod fsutil;
pub mod graph_to_onnx;
mod lower;
pub mod manifest;
pub mod onnx;
pub mod predict;
pub mod proto_build;
pub mod qdq;
pub mod quantize;
pub mod runtime;
pub mod score;
pub mod verify;
pub mod weights;

pub use error::{ExportError, WeightIssue};
pub use fold::{Folded, FoldedPair, fold_batch_norm, foldable_batch_norms};
pub use fsutil::write_atomic;
pub use graph_to_onnx::{
    BATCH_DIM, DEFAULT_OPSET, ExportOptions, INPUT_NAME, IR_VERSION, LOGITS_NAME, MAX_OPSET,
    MIN_OPSET, PROBABILITIES_NAME, ends_with_softmax, output_is_softmax, output_name, to_onnx,
    to_onnx_model,
};
pub use lower::{GELU_OPSET, LAYER_NORM_OPSET};
pub use manifest::{
    AgreementRecord, CalibrationRecord, InputPolicy, Manifest, ManifestDim, Normalization,
    ParityRecord, QuantizedComparison,
};
pub use predict::{softmax, top_k, top_k_batch};
pub use qdq::{Range, STATIC_NAME, StaticModel, StaticQuantizer};
pub use quantize::{Agreement, MIN_TOP1_AGREEMENT, Quantization, agreement, quantized_path};
pub use runtime::{
    ExecutionDevice, OnnxModel, OptimizationLevel, Placement, Runtime, SessionOptions, dylib_path,
};
pub use score::Scores;
pub use verify::{ModelSource, Parity, Reference, compare, verify, verify_model};
pub use weights::{Tensor, Weights};

/// What the crate's tests need from the set-up, failing with the fix when it is absent.
#[cfg(test)]
mod test_support {
    use std::path::PathBuf;

    /// The ONNX Runtime library (`bash .ci/setup.sh` fetches it).
    pub fn runtime() -> crate::Runtime {
        crate::Runtime::global()
            .unwrap_or_else(|e| panic!("ONNX Runtime is needed: {e} (run `bash .ci/setup.sh`)"))
    }

    /// The set-up's Python venv, with onnx and onnxruntime.
    pub fn venv_python() -> PathBuf {
        let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.ronin/venv/bin/python");
        assert!(
            python.is_file(),
            "no Python venv at {} (run `bash .ci/setup.sh`)",
            python.display()
        );
        python
    }
}
