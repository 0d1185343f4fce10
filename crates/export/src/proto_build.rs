//! Small constructors for the generated ONNX protobuf messages.

use crate::onnx::{
    AttributeProto, NodeProto, StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto, attribute_proto::AttributeType, tensor_proto::DataType,
    tensor_shape_proto::Dimension, tensor_shape_proto::dimension, type_proto,
};
use crate::weights::f32_bytes;

/// One axis of a declared tensor shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    /// A fixed size.
    Value(usize),
    /// A named, dynamic size such as `batch`.
    Param(String),
}

/// An f32 initializer stored as little-endian `raw_data`.
pub fn f32_tensor(name: &str, shape: &[usize], data: &[f32]) -> TensorProto {
    TensorProto {
        name: Some(name.to_owned()),
        dims: shape.iter().map(|&d| d as i64).collect(),
        data_type: Some(DataType::Float as i32),
        raw_data: Some(f32_bytes(data)),
        ..TensorProto::default()
    }
}

/// An int64 initializer (Reshape's target shape), stored as little-endian `raw_data`.
pub fn i64_tensor(name: &str, data: &[i64]) -> TensorProto {
    TensorProto {
        name: Some(name.to_owned()),
        dims: vec![data.len() as i64],
        data_type: Some(DataType::Int64 as i32),
        raw_data: Some(data.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ..TensorProto::default()
    }
}

/// An int8 initializer (quantized weights and their zero point), as `raw_data`.
pub fn i8_tensor(name: &str, shape: &[usize], data: &[i8]) -> TensorProto {
    TensorProto {
        name: Some(name.to_owned()),
        dims: shape.iter().map(|&d| d as i64).collect(),
        data_type: Some(DataType::Int8 as i32),
        raw_data: Some(data.iter().map(|v| v.to_le_bytes()[0]).collect()),
        ..TensorProto::default()
    }
}

/// A uint8 initializer (an activation's zero point), as `raw_data`.
pub fn u8_tensor(name: &str, shape: &[usize], data: &[u8]) -> TensorProto {
    TensorProto {
        name: Some(name.to_owned()),
        dims: shape.iter().map(|&d| d as i64).collect(),
        data_type: Some(DataType::Uint8 as i32),
        raw_data: Some(data.to_vec()),
        ..TensorProto::default()
    }
}

/// An int32 initializer (a quantized bias and its zero point), as little-endian `raw_data`.
pub fn i32_tensor(name: &str, shape: &[usize], data: &[i32]) -> TensorProto {
    TensorProto {
        name: Some(name.to_owned()),
        dims: shape.iter().map(|&d| d as i64).collect(),
        data_type: Some(DataType::Int32 as i32),
        raw_data: Some(data.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ..TensorProto::default()
    }
}

/// The values of an f32 tensor (`raw_data` or `float_data`); `None` for another type.
pub fn f32_values(t: &TensorProto) -> Option<Vec<f32>> {
    if t.data_type != Some(DataType::Float as i32) {
        return None;
    }
    match &t.raw_data {
        Some(raw) => Some(
            raw.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        ),
        None => Some(t.float_data.clone()),
    }
}

/// A float tensor's declared type and shape, for graph inputs and outputs.
pub fn value_info(name: &str, dims: &[Dim]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Value(v) => dimension::Value::DimValue(*v as i64),
                Dim::Param(p) => dimension::Value::DimParam(p.clone()),
            }),
            ..Dimension::default()
        })
        .collect();
    ValueInfoProto {
        name: Some(name.to_owned()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto { dim }),
            })),
            ..TypeProto::default()
        }),
        ..ValueInfoProto::default()
    }
}

pub fn attr_ints(name: &str, values: &[usize]) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_owned()),
        r#type: Some(AttributeType::Ints as i32),
        ints: values.iter().map(|&v| v as i64).collect(),
        ..AttributeProto::default()
    }
}

pub fn attr_int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_owned()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(value),
        ..AttributeProto::default()
    }
}

pub fn attr_float(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_owned()),
        r#type: Some(AttributeType::Float as i32),
        f: Some(value),
        ..AttributeProto::default()
    }
}

/// A node of the default (`ai.onnx`) domain with one output.
pub fn node(
    op_type: &str,
    name: &str,
    inputs: &[&str],
    output: &str,
    attribute: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: Some(op_type.to_owned()),
        name: Some(name.to_owned()),
        input: inputs.iter().map(|s| (*s).to_owned()).collect(),
        output: vec![output.to_owned()],
        attribute,
        ..NodeProto::default()
    }
}

/// A node of the default (`ai.onnx`) domain with several outputs.
pub fn node_outputs(
    op_type: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attribute: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        output: outputs.iter().map(|s| (*s).to_owned()).collect(),
        ..node(op_type, name, inputs, "", attribute)
    }
}

pub fn string_entry(key: &str, value: &str) -> StringStringEntryProto {
    StringStringEntryProto {
        key: Some(key.to_owned()),
        value: Some(value.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_data_is_little_endian_f32() {
        let t = f32_tensor("w", &[2], &[1.0, -2.0]);
        assert_eq!(t.dims, vec![2]);
        assert_eq!(
            t.raw_data.as_deref(),
            Some(&[0, 0, 128, 63, 0, 0, 0, 192][..])
        );
    }

    #[test]
    fn batch_axis_is_a_named_dim() {
        let vi = value_info("input", &[Dim::Param("batch".into()), Dim::Value(3)]);
        let Some(type_proto::Value::TensorType(t)) = vi.r#type.and_then(|t| t.value) else {
            panic!("tensor type expected");
        };
        let dims: Vec<_> = t
            .shape
            .map(|s| s.dim.into_iter().filter_map(|d| d.value).collect())
            .unwrap_or_default();
        assert_eq!(
            dims,
            vec![
                dimension::Value::DimParam("batch".into()),
                dimension::Value::DimValue(3)
            ]
        );
    }
}
