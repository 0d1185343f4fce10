//! The ronin pipeline language.
//!
//! A pipeline is one RON file describing a whole experiment. [`Pipeline::from_path`]
//! parses it, checks every value, and infers the [`ModelGraph`] — every layer's output
//! shape and parameters — without touching libtorch, so `ronin check` takes milliseconds.

pub mod augment;
pub mod compose;
pub mod doc;
pub mod error;
pub mod export;
pub mod graph;
pub mod idx;
pub mod image_source;
pub mod layer;
pub mod mix;
pub mod overrides;
pub mod pipeline;
pub mod receptive;
pub mod schema;
pub mod summary;
pub mod training;
mod training_check;
#[cfg(test)]
mod training_tests;
pub mod zoo;

pub use augment::{FillMode, TransformSpec, check_augment};
pub use compose::SourceFile;
pub use error::{Diagnostic, SpecError};
pub use export::{MAX_EXPORT_OPSET, MIN_EXPORT_OPSET, QuantizeSpec, ResizePolicy, check_export};
pub use graph::{ModelGraph, Node, Param, Shape, Source};
pub use layer::{Activation, LayerSpec, Op};
pub use mix::{MixMode, MixSpec, check_mix};
pub use overrides::{Override, OverrideError};
pub use pipeline::{Pipeline, extra_files, source_files};
pub use schema::*;
pub use training::*;
pub use training_check::{METRIC_NAMES, canonical_metric};
pub use zoo::{PresetSpec, ZooModel};
