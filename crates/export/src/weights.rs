//! Checkpoint weights: f32 tensors keyed by PyTorch state_dict names (`layers.<i>.weight`).

use std::collections::BTreeMap;
use std::path::Path;

use ronin_spec::{ModelGraph, Op};
use safetensors::{Dtype, SafeTensors};

use crate::error::{ExportError, WeightIssue};

/// One f32 tensor in row-major (C) order.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Tensor {
    /// Checks that `data` fills `shape` exactly.
    pub fn new(name: &str, shape: Vec<usize>, data: Vec<f32>) -> Result<Self, ExportError> {
        let expected: usize = shape.iter().product();
        if data.len() != expected {
            return Err(ExportError::TensorLength {
                name: name.to_owned(),
                shape,
                len: data.len(),
                expected,
            });
        }
        Ok(Self { shape, data })
    }
}

/// The model's parameters and buffers, by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Weights {
    tensors: BTreeMap<String, Tensor>,
}

/// Buffers PyTorch keeps that inference never reads; skipped when reading a checkpoint.
const IGNORED_SUFFIXES: &[&str] = &[".num_batches_tracked"];

impl Weights {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a tensor, checking that `data` fills `shape`.
    pub fn insert(
        &mut self,
        name: impl Into<String>,
        shape: Vec<usize>,
        data: Vec<f32>,
    ) -> Result<(), ExportError> {
        let name = name.into();
        let tensor = Tensor::new(&name, shape, data)?;
        self.tensors.insert(name, tensor);
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.get(name)
    }

    /// Removes a tensor, returning it.
    pub fn remove(&mut self, name: &str) -> Option<Tensor> {
        self.tensors.remove(name)
    }

    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Tensors in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.tensors.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Reads every f32 tensor of a safetensors file (the runner's `model.safetensors`).
    ///
    /// `*.num_batches_tracked` counters are skipped; any other non-F32 tensor is an error.
    pub fn from_safetensors(path: impl AsRef<Path>) -> Result<Self, ExportError> {
        let path = path.as_ref();
        let bytes = fs_err::read(path)?;
        Self::from_safetensors_bytes(&bytes, path)
    }

    /// As [`Weights::from_safetensors`], from bytes already read; `origin` names them in errors.
    pub fn from_safetensors_bytes(bytes: &[u8], origin: &Path) -> Result<Self, ExportError> {
        let file = SafeTensors::deserialize(bytes).map_err(|source| ExportError::SafeTensors {
            path: origin.to_owned(),
            source,
        })?;
        let mut weights = Self::new();
        for (name, view) in file.tensors() {
            if IGNORED_SUFFIXES.iter().any(|s| name.ends_with(s)) {
                continue;
            }
            let data = f32_data(&name, &view, origin)?;
            weights.insert(name, view.shape().to_vec(), data)?;
        }
        Ok(weights)
    }

    /// Serialises every tensor as F32 safetensors (what the runner writes).
    pub fn to_safetensors_bytes(&self) -> Result<Vec<u8>, ExportError> {
        let bytes: Vec<(&str, Vec<usize>, Vec<u8>)> = self
            .iter()
            .map(|(name, t)| (name, t.shape.clone(), f32_bytes(&t.data)))
            .collect();
        serialize_f32(
            bytes
                .iter()
                .map(|(n, s, b)| (*n, s.as_slice(), b.as_slice())),
        )
    }

    /// Compares the tensors with the graph's parameters: every missing tensor, unexpected
    /// tensor and shape mismatch is reported at once.
    pub fn check(&self, graph: &ModelGraph) -> Result<(), ExportError> {
        let mut issues = Vec::new();
        for param in graph.params() {
            match self.tensors.get(&param.name) {
                None => issues.push(WeightIssue::Missing {
                    name: param.name.clone(),
                    expected: param.shape.clone(),
                }),
                Some(t) if t.shape != param.shape => issues.push(WeightIssue::Shape {
                    name: param.name.clone(),
                    expected: param.shape.clone(),
                    found: t.shape.clone(),
                }),
                Some(_) => {}
            }
        }
        let expected: std::collections::HashSet<&str> =
            graph.params().map(|p| p.name.as_str()).collect();
        for (name, t) in &self.tensors {
            if !expected.contains(name.as_str()) {
                issues.push(WeightIssue::Unexpected {
                    name: name.clone(),
                    found: t.shape.clone(),
                });
            }
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(ExportError::Weights(issues))
        }
    }

    /// Deterministic pseudo-random weights for every parameter of `graph` (fixtures, tests,
    /// benchmarks): Conv and Linear uniform in ±1/√fan_in like PyTorch's default
    /// initialisation; the weight (scale) of a normalisation (BatchNorm, LayerNorm,
    /// InstanceNorm2d, GroupNorm) and BatchNorm's running variance in [0.5, 1.5), their
    /// bias and running mean in [−0.5, 0.5).
    pub fn pseudo_random(graph: &ModelGraph, seed: u64) -> Self {
        let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            // SplitMix64, mapped to [0, 1).
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 40) as f32 / (1u64 << 24) as f32
        };
        let mut tensors = BTreeMap::new();
        for node in &graph.nodes {
            // Fan-in from the weight's shape: (C/groups)·kh·kw for Conv, F for Linear.
            let fan_in: usize = node
                .params
                .first()
                .map_or(1, |p| p.shape.iter().skip(1).product());
            let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
            let norm = matches!(
                node.op,
                Op::BatchNorm { .. }
                    | Op::LayerNorm { .. }
                    | Op::InstanceNorm2d { .. }
                    | Op::GroupNorm { .. }
            );
            for p in &node.params {
                let data = (0..p.numel())
                    .map(|_| {
                        let u = next();
                        match p.name.rsplit('.').next() {
                            Some("running_var") => 0.5 + u,
                            Some("weight") if norm => 0.5 + u,
                            Some(_) if norm => u - 0.5,
                            _ => (2.0 * u - 1.0) * bound,
                        }
                    })
                    .collect();
                tensors.insert(
                    p.name.clone(),
                    Tensor {
                        shape: p.shape.clone(),
                        data,
                    },
                );
            }
        }
        Self { tensors }
    }

    /// The tensor the graph needs; only call after [`Weights::check`] passed.
    pub(crate) fn expect(&self, name: &str) -> Result<&Tensor, ExportError> {
        self.tensors.get(name).ok_or_else(|| {
            ExportError::Weights(vec![WeightIssue::Missing {
                name: name.to_owned(),
                expected: Vec::new(),
            }])
        })
    }
}

/// Decodes a little-endian F32 safetensors view.
pub(crate) fn f32_data(
    name: &str,
    view: &safetensors::tensor::TensorView<'_>,
    origin: &Path,
) -> Result<Vec<f32>, ExportError> {
    if view.dtype() != Dtype::F32 {
        return Err(ExportError::Dtype {
            name: name.to_owned(),
            dtype: format!("{:?}", view.dtype()),
            path: origin.to_owned(),
        });
    }
    Ok(view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// Little-endian bytes of f32 values (ONNX `raw_data` and safetensors both use them).
pub(crate) fn f32_bytes(data: &[f32]) -> Vec<u8> {
    data.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Writes `(name, shape, little-endian f32 bytes)` triples as a safetensors buffer.
pub(crate) fn serialize_f32<'a>(
    tensors: impl Iterator<Item = (&'a str, &'a [usize], &'a [u8])>,
) -> Result<Vec<u8>, ExportError> {
    let views = tensors
        .map(|(name, shape, bytes)| {
            safetensors::tensor::TensorView::new(Dtype::F32, shape.to_vec(), bytes)
                .map(|v| (name.to_owned(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| ExportError::SafeTensors {
            path: "<memory>".into(),
            source,
        })?;
    safetensors::serialize(views, None).map_err(|source| ExportError::SafeTensors {
        path: "<memory>".into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ronin_spec::graph::build_graph;
    use ronin_spec::layer::LayerSpec;

    fn linear_graph() -> ModelGraph {
        build_graph(
            vec![4],
            &[LayerSpec::Linear {
                units: 3,
                bias: true,
            }],
        )
        .expect("valid graph")
    }

    fn linear_weights() -> Weights {
        let mut w = Weights::new();
        w.insert("layers.0.weight", vec![3, 4], vec![0.5; 12])
            .expect("fits");
        w.insert("layers.0.bias", vec![3], vec![1.0, 2.0, 3.0])
            .expect("fits");
        w
    }

    #[test]
    fn length_must_fill_shape() {
        let err = Weights::new()
            .insert("a", vec![2, 3], vec![0.0; 5])
            .expect_err("5 values cannot fill 2×3");
        assert!(
            err.to_string()
                .contains("5 values do not fill shape [2, 3]")
        );
    }

    #[test]
    fn matching_weights_pass() {
        linear_weights().check(&linear_graph()).expect("match");
    }

    #[test]
    fn every_mismatch_is_reported() {
        let mut w = linear_weights();
        w.insert("layers.0.weight", vec![4, 3], vec![0.0; 12])
            .expect("fits");
        w.tensors.remove("layers.0.bias");
        w.insert("layers.9.weight", vec![1], vec![0.0])
            .expect("fits");
        let Err(ExportError::Weights(issues)) = w.check(&linear_graph()) else {
            panic!("expected weight issues");
        };
        assert_eq!(
            issues,
            vec![
                WeightIssue::Shape {
                    name: "layers.0.weight".into(),
                    expected: vec![3, 4],
                    found: vec![4, 3],
                },
                WeightIssue::Missing {
                    name: "layers.0.bias".into(),
                    expected: vec![3],
                },
                WeightIssue::Unexpected {
                    name: "layers.9.weight".into(),
                    found: vec![1],
                },
            ]
        );
    }

    #[test]
    fn safetensors_round_trip_skips_batch_counter() {
        let w = linear_weights();
        let bytes = w.to_safetensors_bytes().expect("serialise");
        let back = Weights::from_safetensors_bytes(&bytes, Path::new("mem")).expect("read");
        assert_eq!(back, w);

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("model.safetensors");
        let counter = 7_i64.to_le_bytes();
        let views = vec![
            (
                "layers.0.bias".to_owned(),
                safetensors::tensor::TensorView::new(Dtype::F32, vec![1], &[0, 0, 128, 63])
                    .expect("view"),
            ),
            (
                "layers.1.num_batches_tracked".to_owned(),
                safetensors::tensor::TensorView::new(Dtype::I64, vec![], &counter).expect("view"),
            ),
        ];
        safetensors::serialize_to_file(views, None, &path).expect("write");
        let read = Weights::from_safetensors(&path).expect("read file");
        assert_eq!(read.len(), 1);
        assert_eq!(
            read.get("layers.0.bias").map(|t| t.data.clone()),
            Some(vec![1.0])
        );
    }

    #[test]
    fn non_f32_tensor_is_refused() {
        let data = [0u8; 8];
        let views = vec![(
            "layers.0.weight".to_owned(),
            safetensors::tensor::TensorView::new(Dtype::F64, vec![1], &data).expect("view"),
        )];
        let bytes = safetensors::serialize(views, None).expect("serialise");
        let err = Weights::from_safetensors_bytes(&bytes, Path::new("ckpt.safetensors"))
            .expect_err("f64 is refused");
        let msg = err.to_string();
        assert!(
            msg.contains("layers.0.weight") && msg.contains("F64"),
            "{msg}"
        );
    }
}
