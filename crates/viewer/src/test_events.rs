//! A small event writer for tests: builds `Event` payloads and TFRecord frames.

use prost::Message;

use crate::proto::{
    DT_DOUBLE, DT_FLOAT, Event, PluginData, Summary, SummaryMetadata, SummaryValue, TensorProto,
    TensorShapeDim, TensorShapeProto,
};
use crate::record::encode_record;

/// The ways a scalar can be stored in a `Summary.Value`.
#[derive(Debug, Clone)]
pub(crate) enum Scalar {
    /// `simple_value`, as TF1, Keras (TF1) and PyTorch's default `add_scalar` write.
    Simple(f32),
    /// A rank-0 `DT_FLOAT` tensor with `float_val` (PyTorch `new_style=True`).
    FloatVal(f32),
    /// A rank-0 `DT_DOUBLE` tensor with `double_val`.
    DoubleVal(f64),
    /// A rank-0 `DT_FLOAT` tensor with `tensor_content` (TF2 / Keras).
    FloatContent(f32),
    /// A rank-0 `DT_DOUBLE` tensor with `tensor_content`.
    DoubleContent(f64),
    /// Any tensor, for the cases that are not scalars.
    Tensor {
        dtype: i32,
        dims: Vec<i64>,
        floats: Vec<f32>,
    },
}

/// Builds one `Event` with a summary.
pub(crate) struct EventBuilder {
    event: Event,
}

impl EventBuilder {
    pub fn new(step: i64, wall_time: f64) -> Self {
        Self {
            event: Event {
                wall_time,
                step,
                file_version: None,
                summary: Some(Summary::default()),
            },
        }
    }

    /// The first event of every file: `file_version: "brain.Event:2"`.
    pub fn file_version() -> Vec<u8> {
        encode_record(
            &Event {
                wall_time: 1.0,
                step: 0,
                file_version: Some("brain.Event:2".to_owned()),
                summary: None,
            }
            .encode_to_vec(),
        )
    }

    /// Adds a value with no plugin metadata.
    pub fn value(self, tag: &str, scalar: Scalar) -> Self {
        self.tagged(tag, scalar, None)
    }

    /// Adds a value, with plugin metadata naming `plugin` when given.
    pub fn tagged(mut self, tag: &str, scalar: Scalar, plugin: Option<&str>) -> Self {
        let tensor = |dtype, f: Vec<f32>, d: Vec<f64>, content: Vec<u8>| TensorProto {
            dtype,
            tensor_shape: Some(TensorShapeProto::default()),
            tensor_content: content,
            float_val: f,
            double_val: d,
        };
        let (simple_value, tensor) = match scalar {
            Scalar::Simple(v) => (Some(v), None),
            Scalar::FloatVal(v) => (None, Some(tensor(DT_FLOAT, vec![v], vec![], vec![]))),
            Scalar::DoubleVal(v) => (None, Some(tensor(DT_DOUBLE, vec![], vec![v], vec![]))),
            Scalar::FloatContent(v) => (
                None,
                Some(tensor(DT_FLOAT, vec![], vec![], v.to_le_bytes().to_vec())),
            ),
            Scalar::DoubleContent(v) => (
                None,
                Some(tensor(DT_DOUBLE, vec![], vec![], v.to_le_bytes().to_vec())),
            ),
            Scalar::Tensor {
                dtype,
                dims,
                floats,
            } => {
                let mut t = tensor(dtype, floats, vec![], vec![]);
                t.tensor_shape = Some(TensorShapeProto {
                    dim: dims
                        .into_iter()
                        .map(|size| TensorShapeDim { size })
                        .collect(),
                });
                (None, Some(t))
            }
        };
        let metadata = plugin.map(|name| SummaryMetadata {
            plugin_data: Some(PluginData {
                plugin_name: name.to_owned(),
                content: Vec::new(),
            }),
        });
        if let Some(summary) = self.event.summary.as_mut() {
            summary.value.push(SummaryValue {
                tag: tag.to_owned(),
                simple_value,
                image: None,
                tensor,
                metadata,
            });
        }
        self
    }

    /// The encoded `Event`, without framing.
    pub fn payload(&self) -> Vec<u8> {
        self.event.encode_to_vec()
    }

    /// The encoded `Event` framed as a TFRecord.
    pub fn record(&self) -> Vec<u8> {
        encode_record(&self.payload())
    }
}

/// A framed event with one `simple_value` scalar.
pub(crate) fn simple(tag: &str, step: i64, value: f32) -> Vec<u8> {
    EventBuilder::new(step, 1000.0 + step as f64)
        .value(tag, Scalar::Simple(value))
        .record()
}
