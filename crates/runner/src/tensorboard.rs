//! TensorBoard event files: scalars and histograms through `tensorboard-rs`, and the
//! summaries it leaves unimplemented (images of any shape, text, the hparams plugin, the
//! model graph) built from the same protobuf types (`tensorboard-proto`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use image::RgbImage;
use protobuf::well_known_types::Value;
use protobuf::{Message, RepeatedField};
use tensorboard_proto::api::Status;
use tensorboard_proto::node_def::NodeDef;
use tensorboard_proto::plugin_hparams::{HParamsPluginData, SessionEndInfo, SessionStartInfo};
use tensorboard_proto::summary::{
    Summary, Summary_Image, Summary_Value, SummaryMetadata, SummaryMetadata_PluginData,
};
use tensorboard_proto::tensor::TensorProto;
use tensorboard_proto::tensor_shape::TensorShapeProto;
use tensorboard_proto::types::DataType;
use tensorboard_rs::summary::{histogram_raw, scalar};
use tensorboard_rs::summary_writer::FileWriter;

/// A hyperparameter value for the HParams tab.
#[derive(Debug, Clone, PartialEq)]
pub enum HParam {
    Number(f64),
    Text(String),
    Bool(bool),
}

/// Name of the model input's node in the logged graph.
pub const GRAPH_INPUT: &str = "input";

pub struct Board {
    writer: FileWriter,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn one_value(value: Summary_Value) -> Summary {
    let mut summary = Summary::new();
    summary.set_value(RepeatedField::from(vec![value]));
    summary
}

fn plugin_metadata(plugin: &str, content: Vec<u8>) -> SummaryMetadata {
    let mut data = SummaryMetadata_PluginData::new();
    data.set_plugin_name(plugin.to_owned());
    data.set_content(content);
    let mut meta = SummaryMetadata::new();
    meta.set_plugin_data(data);
    meta
}

/// Bucket edges and counts of `values`: `buckets` equal-width buckets over [min, max].
pub fn histogram_buckets(values: &[f32], buckets: usize) -> (f64, f64, Vec<f64>, Vec<f64>) {
    let finite: Vec<f64> = values
        .iter()
        .filter(|v| v.is_finite())
        .map(|v| f64::from(*v))
        .collect();
    let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if finite.is_empty() {
        return (0.0, 0.0, vec![0.0], vec![0.0]);
    }
    let buckets = buckets.max(1);
    let width = ((max - min) / buckets as f64).max(1e-12);
    let mut counts = vec![0.0; buckets];
    for v in &finite {
        let i = (((v - min) / width) as usize).min(buckets - 1);
        counts[i] += 1.0;
    }
    let limits = (1..=buckets).map(|i| min + width * i as f64).collect();
    (min, max, limits, counts)
}

impl Board {
    /// Opens an event file in `dir` (created beforehand so the writer cannot fail to).
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Board {
            writer: FileWriter::new(dir),
        })
    }

    pub fn scalar(&mut self, tag: &str, value: f64, step: usize) {
        self.writer.add_summary(scalar(tag, value as f32), step);
    }

    /// A histogram of `values` (weights, gradients).
    pub fn histogram(&mut self, tag: &str, values: &[f32], step: usize) {
        let (min, max, limits, counts) = histogram_buckets(values, 30);
        let num = counts.iter().sum::<f64>();
        let sum: f64 = values.iter().map(|v| f64::from(*v)).sum();
        let sum_sq: f64 = values.iter().map(|v| f64::from(*v).powi(2)).sum();
        self.writer.add_summary(
            histogram_raw(tag, min, max, num, sum, sum_sq, &limits, &counts),
            step,
        );
    }

    /// An RGB image, PNG-encoded.
    pub fn image(
        &mut self,
        tag: &str,
        img: &RgbImage,
        step: usize,
    ) -> Result<(), image::ImageError> {
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
        let mut im = Summary_Image::new();
        im.set_height(img.height() as i32);
        im.set_width(img.width() as i32);
        im.set_colorspace(3);
        im.set_encoded_image_string(png);
        let mut value = Summary_Value::new();
        value.set_tag(tag.to_owned());
        value.set_image(im);
        self.writer.add_summary(one_value(value), step);
        Ok(())
    }

    /// Markdown text for the Text tab.
    pub fn text(&mut self, tag: &str, markdown: &str, step: usize) {
        let mut tensor = TensorProto::new();
        tensor.set_dtype(DataType::DT_STRING);
        tensor.set_tensor_shape(TensorShapeProto::new());
        tensor.set_string_val(RepeatedField::from(vec![markdown.as_bytes().to_vec()]));
        let mut value = Summary_Value::new();
        value.set_tag(tag.to_owned());
        value.set_metadata(plugin_metadata("text", Vec::new()));
        value.set_tensor(tensor);
        self.writer.add_summary(one_value(value), step);
    }

    fn hparams_event(
        &mut self,
        tag: &str,
        data: HParamsPluginData,
    ) -> Result<(), protobuf::ProtobufError> {
        let content = data.write_to_bytes()?;
        let mut value = Summary_Value::new();
        value.set_tag(tag.to_owned());
        value.set_metadata(plugin_metadata("hparams", content));
        // TensorBoard's own writer gives these summaries an empty string tensor.
        let mut tensor = TensorProto::new();
        tensor.set_dtype(DataType::DT_STRING);
        tensor.set_tensor_shape(TensorShapeProto::new());
        value.set_tensor(tensor);
        self.writer.add_summary(one_value(value), 0);
        Ok(())
    }

    /// The hparams plugin's session start: the run's hyperparameters, so the HParams tab
    /// lists it (the experiment is inferred from the sessions and the scalar tags).
    pub fn hparams_start(
        &mut self,
        hparams: &BTreeMap<String, HParam>,
        group: &str,
    ) -> Result<(), protobuf::ProtobufError> {
        let mut start = SessionStartInfo::new();
        for (name, v) in hparams {
            let mut value = Value::new();
            match v {
                HParam::Number(x) => value.set_number_value(*x),
                HParam::Text(s) => value.set_string_value(s.clone()),
                HParam::Bool(b) => value.set_bool_value(*b),
            }
            start.mut_hparams().insert(name.clone(), value);
        }
        start.set_group_name(group.to_owned());
        start.set_start_time_secs(now());
        let mut data = HParamsPluginData::new();
        data.set_version(0);
        data.set_session_start_info(start);
        self.hparams_event("_hparams_/session_start_info", data)
    }

    /// The hparams plugin's session end.
    pub fn hparams_end(&mut self, ok: bool) -> Result<(), protobuf::ProtobufError> {
        let mut end = SessionEndInfo::new();
        end.set_status(if ok {
            Status::STATUS_SUCCESS
        } else {
            Status::STATUS_FAILURE
        });
        end.set_end_time_secs(now());
        let mut data = HParamsPluginData::new();
        data.set_version(0);
        data.set_session_end_info(end);
        self.hparams_event("_hparams_/session_end_info", data)
    }

    /// The model for the Graphs tab: an `input` node, then each node `(name, op, inputs)`
    /// reading the names it lists (residual and branch edges included). Dotted state_dict
    /// names become TensorBoard's `/` scopes, so blocks fold into groups.
    pub fn graph(&mut self, nodes: &[(String, String, Vec<String>)]) {
        let scoped = |n: &str| n.replace('.', "/");
        let mut input = NodeDef::new();
        input.set_name(GRAPH_INPUT.to_owned());
        input.set_op("Input".to_owned());
        let mut list = vec![input];
        for (name, op, inputs) in nodes {
            let mut node = NodeDef::new();
            node.set_name(scoped(name));
            node.set_op(op.clone());
            node.set_input(RepeatedField::from(
                inputs.iter().map(|i| scoped(i)).collect::<Vec<_>>(),
            ));
            list.push(node);
        }
        let mut graph = tensorboard_proto::graph::GraphDef::new();
        graph.set_node(RepeatedField::from(list));
        let mut version = tensorboard_proto::versions::VersionDef::new();
        version.set_producer(22);
        graph.set_versions(version);
        self.writer
            .add_graph(graph, tensorboard_proto::step_stats::RunMetadata::new());
    }

    pub fn flush(&mut self) {
        self.writer.flush();
    }
}
