//! Parity between ONNX Runtime and the trained model's own outputs.

use std::path::Path;

use ndarray::{Array2, Array4, ArrayView2, ArrayView4};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};

use crate::error::ExportError;
use crate::runtime::{OnnxModel, Runtime, SessionOptions};
use crate::weights::{f32_bytes, f32_data, serialize_f32};

/// Denominator floor of the relative difference, so outputs near zero do not blow it up.
pub const REL_FLOOR: f64 = 1e-6;

/// How far ONNX Runtime's outputs are from the reference.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Parity {
    /// `max |actual − expected|`; infinite when one side is NaN and the other is not.
    pub max_abs_diff: f64,
    /// `max |actual − expected| / max(|expected|, REL_FLOOR)`.
    pub max_rel_diff: f64,
    /// `max |actual − expected| / max(|expected|, 1)`: the absolute difference for outputs
    /// up to 1 in size, the relative one above (what [`Parity::within`] tests, as
    /// `numpy.allclose` with `atol = rtol`). Logits of 100 carry float32 rounding of
    /// ~1e-5 per operation, which an absolute bound alone would refuse.
    #[serde(default)]
    pub max_scaled_diff: f64,
    /// `[example, class]` of the largest scaled difference; `None` for empty outputs.
    pub worst_index: Option<[usize; 2]>,
    /// Examples compared.
    pub n_samples: usize,
}

impl Parity {
    /// True when every output is within `tolerance · max(|expected|, 1)` of the reference.
    pub fn within(&self, tolerance: f64) -> bool {
        self.max_scaled_diff <= tolerance
    }
}

/// Compares two `[N, K]` outputs element by element.
pub fn compare(
    actual: ArrayView2<'_, f32>,
    expected: ArrayView2<'_, f32>,
) -> Result<Parity, ExportError> {
    if actual.shape() != expected.shape() {
        return Err(ExportError::ParityShape {
            actual: actual.shape().to_vec(),
            expected: expected.shape().to_vec(),
        });
    }
    let mut parity = Parity {
        max_abs_diff: 0.0,
        max_rel_diff: 0.0,
        max_scaled_diff: 0.0,
        worst_index: None,
        n_samples: actual.nrows(),
    };
    for ((idx, &a), &e) in actual.indexed_iter().zip(expected.iter()) {
        let (a, e) = (f64::from(a), f64::from(e));
        let abs = match (a.is_nan(), e.is_nan()) {
            (true, true) => 0.0,
            (false, false) if a == e => 0.0, // equal infinities too
            (false, false) => (a - e).abs(),
            _ => f64::INFINITY,
        };
        let rel = abs / e.abs().max(REL_FLOOR);
        let scaled = if e.is_finite() {
            abs / e.abs().max(1.0)
        } else {
            abs
        };
        if parity.worst_index.is_none() || scaled > parity.max_scaled_diff {
            parity.max_scaled_diff = scaled;
            parity.worst_index = Some([idx.0, idx.1]);
        }
        parity.max_abs_diff = parity.max_abs_diff.max(abs);
        if rel > parity.max_rel_diff || rel.is_nan() {
            parity.max_rel_diff = rel;
        }
    }
    Ok(parity)
}

/// A serialised model or a model file.
#[derive(Debug, Clone, Copy)]
pub enum ModelSource<'a> {
    Bytes(&'a [u8]),
    Path(&'a Path),
}

impl<'a> From<&'a [u8]> for ModelSource<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        Self::Bytes(bytes)
    }
}

impl<'a> From<&'a Vec<u8>> for ModelSource<'a> {
    fn from(bytes: &'a Vec<u8>) -> Self {
        Self::Bytes(bytes)
    }
}

impl<'a> From<&'a Path> for ModelSource<'a> {
    fn from(path: &'a Path) -> Self {
        Self::Path(path)
    }
}

impl<'a> From<&'a std::path::PathBuf> for ModelSource<'a> {
    fn from(path: &'a std::path::PathBuf) -> Self {
        Self::Path(path)
    }
}

/// Loads the model in the global [`Runtime`] (default session options), runs
/// `reference_input` and compares with `reference_output`.
///
/// # Shapes
/// `reference_input`: `[N, C, H, W]`; `reference_output`: `[N, K]`.
pub fn verify<'a>(
    model: impl Into<ModelSource<'a>>,
    reference_input: ArrayView4<'_, f32>,
    reference_output: ArrayView2<'_, f32>,
) -> Result<Parity, ExportError> {
    let rt = Runtime::global()?;
    let opts = SessionOptions::default();
    let model = match model.into() {
        ModelSource::Bytes(b) => rt.load_bytes(b, &opts)?,
        ModelSource::Path(p) => rt.load_file(p, &opts)?,
    };
    verify_model(&model, reference_input, reference_output)
}

/// As [`verify`], with a model already loaded.
pub fn verify_model(
    model: &OnnxModel,
    reference_input: ArrayView4<'_, f32>,
    reference_output: ArrayView2<'_, f32>,
) -> Result<Parity, ExportError> {
    let actual = model.run(reference_input)?;
    compare(actual.view(), reference_output)
}

/// Inputs and outputs of the trained model, saved by the runner as
/// `reference.safetensors` beside each checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// Tensor `input`, `[N, C, H, W]`.
    pub input: Array4<f32>,
    /// Tensor `output`, `[N, K]`.
    pub output: Array2<f32>,
}

impl Reference {
    pub fn from_safetensors(path: impl AsRef<Path>) -> Result<Self, ExportError> {
        let path = path.as_ref();
        let bytes = fs_err::read(path)?;
        Self::from_safetensors_bytes(&bytes, path)
    }

    /// As [`Reference::from_safetensors`]; `origin` names the bytes in errors.
    pub fn from_safetensors_bytes(bytes: &[u8], origin: &Path) -> Result<Self, ExportError> {
        let file = SafeTensors::deserialize(bytes).map_err(|source| ExportError::SafeTensors {
            path: origin.to_owned(),
            source,
        })?;
        let read = |name: &str, rank: usize, what: &str| {
            let view = file.tensor(name).map_err(|_| ExportError::MissingTensor {
                name: name.to_owned(),
                path: origin.to_owned(),
            })?;
            if view.shape().len() != rank {
                return Err(ExportError::TensorShape {
                    name: name.to_owned(),
                    path: origin.to_owned(),
                    found: view.shape().to_vec(),
                    expected: what.to_owned(),
                });
            }
            Ok((view.shape().to_vec(), f32_data(name, &view, origin)?))
        };
        let (in_shape, in_data) = read("input", 4, "[N, C, H, W]")?;
        let (out_shape, out_data) = read("output", 2, "[N, K]")?;
        if in_shape[0] != out_shape[0] {
            return Err(ExportError::TensorShape {
                name: "output".to_owned(),
                path: origin.to_owned(),
                found: out_shape,
                expected: format!("[{}, K] (as many rows as `input`)", in_shape[0]),
            });
        }
        let shape_err = |name: &str, found: Vec<usize>| ExportError::TensorShape {
            name: name.to_owned(),
            path: origin.to_owned(),
            found,
            expected: "data filling the shape".to_owned(),
        };
        let input = Array4::from_shape_vec(
            (in_shape[0], in_shape[1], in_shape[2], in_shape[3]),
            in_data,
        )
        .map_err(|_| shape_err("input", in_shape.clone()))?;
        let output = Array2::from_shape_vec((out_shape[0], out_shape[1]), out_data)
            .map_err(|_| shape_err("output", out_shape.clone()))?;
        Ok(Self { input, output })
    }

    /// Serialises as the runner does (tensors `input` and `output`, F32).
    pub fn to_safetensors_bytes(&self) -> Result<Vec<u8>, ExportError> {
        let input: Vec<f32> = self.input.iter().copied().collect();
        let output: Vec<f32> = self.output.iter().copied().collect();
        let (ib, ob) = (f32_bytes(&input), f32_bytes(&output));
        serialize_f32(
            [
                ("input", self.input.shape(), ib.as_slice()),
                ("output", self.output.shape(), ob.as_slice()),
            ]
            .into_iter(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn compare_finds_worst_element() {
        let a = array![[1.0f32, 2.0], [3.0, 4.5]];
        let e = array![[1.0f32, 2.1], [3.0, 4.0]];
        let p = compare(a.view(), e.view()).expect("same shape");
        assert!((p.max_abs_diff - 0.5).abs() < 1e-6);
        assert_eq!(p.worst_index, Some([1, 1]));
        assert!((p.max_rel_diff - 0.125).abs() < 1e-6);
        assert_eq!(p.n_samples, 2);
        // Scaled by |expected| = 4: 0.125; the 0.1 at |expected| 2.1 scales to 0.048.
        assert!((p.max_scaled_diff - 0.125).abs() < 1e-6);
        assert!(p.within(0.125) && !p.within(0.12));
    }

    #[test]
    fn the_tolerance_is_absolute_up_to_one_and_relative_above() {
        // A logit of 171 off by 1.7e-4 (float32 rounding through a ResNet) passes 1e-4;
        // a probability of 0.5 off by 1.7e-4 does not.
        let e = array![[171.0f32, 0.5]];
        let logit = compare(array![[171.00017f32, 0.5]].view(), e.view()).expect("shape");
        assert!(logit.max_abs_diff > 1e-4 && logit.within(1e-4), "{logit:?}");
        let prob = compare(array![[171.0f32, 0.50017]].view(), e.view()).expect("shape");
        assert!(!prob.within(1e-4), "{prob:?}");
        assert_eq!(prob.worst_index, Some([0, 1]));
    }

    #[test]
    fn nan_on_one_side_is_infinitely_far() {
        let a = array![[f32::NAN, 0.0]];
        let e = array![[0.0f32, 0.0]];
        let p = compare(a.view(), e.view()).expect("same shape");
        assert!(p.max_abs_diff.is_infinite());
        assert!(!p.within(1e9));
    }

    #[test]
    fn shape_mismatch_names_both() {
        let err = compare(Array2::zeros((2, 3)).view(), Array2::zeros((2, 4)).view())
            .expect_err("different shapes");
        assert!(err.to_string().contains("[2, 3]") && err.to_string().contains("[2, 4]"));
    }

    #[test]
    fn reference_round_trip_and_errors() {
        let r = Reference {
            input: Array4::from_shape_fn((2, 1, 2, 2), |(n, _, h, w)| (n * 4 + h * 2 + w) as f32),
            output: array![[0.1f32, 0.9], [0.7, 0.3]],
        };
        let bytes = r.to_safetensors_bytes().expect("serialise");
        let back = Reference::from_safetensors_bytes(&bytes, Path::new("ref")).expect("read");
        assert_eq!(back, r);

        let only_input =
            serialize_f32([("input", &[1usize, 1, 1, 1][..], &f32_bytes(&[0.0])[..])].into_iter())
                .expect("serialise");
        let err = Reference::from_safetensors_bytes(&only_input, Path::new("ref.safetensors"))
            .expect_err("no output");
        assert!(
            err.to_string()
                .contains("`output` is missing from ref.safetensors"),
            "{err}"
        );
    }
}
