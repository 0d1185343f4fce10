//! From RON text to a validated [`Pipeline`]: parse, check every value, infer the model graph.

use std::path::{Path, PathBuf};

use crate::compose::{self, SourceFile};
use crate::error::{Diagnostic, SpecError};
use crate::graph::{ModelGraph, build_graph};
use crate::overrides::{self, Override};
use crate::schema::{NormalizeSpec, PipelineFile, SourceSpec};

/// A pipeline that passed every check: the file as written, and what was derived from it.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// Experiment name (the `name` field or the file's stem).
    pub name: String,
    pub file: PipelineFile,
    /// The exact bytes the pipeline was read from (snapshotted into each run).
    pub source_text: String,
    /// The files it `extends`, nearest base first, with their exact text; empty when it
    /// extends nothing.
    pub extends: Vec<SourceFile>,
    pub path: Option<PathBuf>,
    pub graph: ModelGraph,
    /// Class names in label order, when the pipeline or the source's `classes.txt` gives them.
    pub classes: Option<Vec<String>>,
}

impl Pipeline {
    /// Reads and validates a pipeline file (following its `extends`).
    pub fn from_path(path: &Path) -> Result<Self, SpecError> {
        Self::from_path_with(path, &[])
    }

    /// Reads a pipeline file, merges the files it `extends`, applies `overrides` in order
    /// (`--set PATH=VALUE`), then validates the result.
    ///
    /// A file that extends nothing, read without overrides, is reported exactly as
    /// [`Pipeline::from_str_named`] does; otherwise type errors name the field but not the
    /// line, and semantic errors are placed in the file only when it extends nothing.
    pub fn from_path_with(path: &Path, overrides: &[Override]) -> Result<Self, SpecError> {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("pipeline")
            .to_owned();
        let label = path.display().to_string();
        let composed = compose::load(path)?;
        if composed.bases.is_empty() && overrides.is_empty() {
            return Self::from_str_named(&composed.text, &stem, Some(path.to_owned()));
        }
        let what = if composed.bases.is_empty() {
            "after --set"
        } else if overrides.is_empty() {
            "merged with what it extends"
        } else {
            "merged with what it extends and after --set"
        };
        let mut file = compose::typed(&composed.doc, &label, what)?;
        if !overrides.is_empty() {
            // Overrides edit the resolved document, so defaulted fields can be set too.
            let resolved = ron::ser::to_string(&file).map_err(|e| SpecError::Invalid {
                file: label.clone(),
                diagnostics: vec![Diagnostic::at_field("", "", "", e.to_string())],
            })?;
            let mut doc = compose::parse_file(&resolved, &label)?;
            for o in overrides {
                overrides::apply(&mut doc, o).map_err(|reason| SpecError::Override {
                    set: o.to_string(),
                    reason,
                })?;
            }
            file = compose::typed(&doc, &label, what)?;
        }
        let locate = if composed.bases.is_empty() {
            composed.text.as_str()
        } else {
            ""
        };
        Self::validate(
            file,
            &composed.text,
            locate,
            &stem,
            Some(path.to_owned()),
            composed.bases,
        )
    }

    /// The pipeline with every default filled in, as pretty RON.
    pub fn resolved_ron(&self) -> Result<String, ron::Error> {
        ron::ser::to_string_pretty(&self.file, ron::ser::PrettyConfig::default())
    }

    /// Validates pipeline text; `default_name` is used when the file has no `name`.
    pub fn from_str_named(
        text: &str,
        default_name: &str,
        path: Option<PathBuf>,
    ) -> Result<Self, SpecError> {
        let file_label = path
            .as_ref()
            .map_or_else(|| "<pipeline>".to_owned(), |p| p.display().to_string());
        let file: PipelineFile = ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
            .from_str(text)
            .map_err(|e| SpecError::Invalid {
                file: file_label.clone(),
                diagnostics: vec![Diagnostic::from_ron(&e, text)],
            })?;
        Self::validate(file, text, text, default_name, path, Vec::new())
    }

    /// Checks a typed pipeline; diagnostics are placed in `text` ("" places none).
    fn validate(
        file: PipelineFile,
        source_text: &str,
        text: &str,
        default_name: &str,
        path: Option<PathBuf>,
        extends: Vec<SourceFile>,
    ) -> Result<Self, SpecError> {
        let file_label = path
            .as_ref()
            .map_or_else(|| "<pipeline>".to_owned(), |p| p.display().to_string());
        let mut diags = Vec::new();
        check_values(&file, text, &mut diags);
        let classes = resolve_classes(&file, &mut diags, text);
        let input = resolve_input(&file, &mut diags, text);
        let mut graph = None;
        if let Some(input) = input {
            match build_graph(input, &file.model.layers) {
                Ok(g) => graph = Some(g),
                Err(errors) => {
                    for e in errors {
                        let kind = file.model.layers[e.layer].kind();
                        diags.push(Diagnostic::at_field(
                            text,
                            &format!("model.layers[{}]", e.layer),
                            kind,
                            format!("{kind}: {}", e.message),
                        ));
                    }
                }
            }
        }
        if let (Some(g), Some(classes)) = (&graph, &classes) {
            let out = g.output_shape();
            if out.as_slice() != [classes.len()] {
                diags.push(Diagnostic::at_field(
                    text,
                    "model.layers",
                    "layers",
                    format!(
                        "the model outputs {out:?} but the data has {} classes; end the model with Linear(units: {})",
                        classes.len(),
                        classes.len()
                    ),
                ));
            }
        }
        match graph {
            Some(graph) if diags.is_empty() => Ok(Pipeline {
                name: file.name.clone().unwrap_or_else(|| default_name.to_owned()),
                file,
                source_text: source_text.to_owned(),
                extends,
                path,
                graph,
                classes,
            }),
            _ => Err(SpecError::Invalid {
                file: file_label,
                diagnostics: diags,
            }),
        }
    }

    /// Number of classes the model predicts.
    pub fn num_classes(&self) -> usize {
        self.graph.output_shape().iter().product()
    }
}

fn check_values(file: &PipelineFile, text: &str, diags: &mut Vec<Diagnostic>) {
    let mut bad = |path: &str, needle: &str, msg: String| {
        diags.push(Diagnostic::at_field(text, path, needle, msg))
    };
    if file.epochs == 0 {
        bad("epochs", "epochs", "epochs must be at least 1".into());
    }
    let d = &file.data;
    if d.batch_size == 0 {
        bad(
            "data.batch_size",
            "batch_size",
            "batch_size must be at least 1".into(),
        );
    }
    if d.prefetch == 0 {
        bad(
            "data.prefetch",
            "prefetch",
            "prefetch must be at least 1".into(),
        );
    }
    let s = &d.split;
    for (name, v) in [("validation", s.validation), ("test", s.test)] {
        if !(0.0..1.0).contains(&v) {
            bad(
                &format!("data.split.{name}"),
                name,
                format!("{name} must be a fraction in [0, 1), found {v}"),
            );
        }
    }
    if s.validation + s.test >= 1.0 {
        bad(
            "data.split",
            "split",
            format!(
                "validation + test = {} leaves no training data; keep the sum below 1",
                s.validation + s.test
            ),
        );
    }
    if matches!(d.source, SourceSpec::IdxTrainTest { .. }) && s.test > 0.0 {
        bad(
            "data.split.test",
            "test",
            "IdxTrainTest has its own test files; set split.test to 0".into(),
        );
    }
    if let NormalizeSpec::Given { mean, std } = &d.normalize {
        if mean.len() != std.len() || mean.is_empty() {
            bad(
                "data.normalize",
                "Given",
                format!(
                    "mean has {} values and std {}; give one per channel",
                    mean.len(),
                    std.len()
                ),
            );
        }
        if std.iter().any(|s| *s <= 0.0 || !s.is_finite()) {
            bad(
                "data.normalize.std",
                "std",
                "every std must be a positive number".into(),
            );
        }
    }
    if !(17..=21).contains(&file.export.opset) {
        bad(
            "export.opset",
            "opset",
            format!("opset {} is not supported; use 17 to 21", file.export.opset),
        );
    }
    for (path, message) in crate::training_check::check_training(file) {
        // The field's own name, or the section's for a whole list entry (`callbacks[1]`).
        let last = path.rsplit('.').next().unwrap_or(&path);
        let needle = if last.ends_with(']') {
            last.split('[').next().unwrap_or(last)
        } else {
            last
        }
        .to_owned();
        diags.push(Diagnostic::at_field(text, &path, &needle, message));
    }
    for (path, message) in crate::augment::check_augment(&file.augment) {
        let needle = path.rsplit('.').next().unwrap_or("augment").to_owned();
        diags.push(Diagnostic::at_field(text, &path, &needle, message));
    }
}

/// Image files a source names, in order, with the field each came from.
pub fn source_files(source: &SourceSpec) -> Vec<(&'static str, &str)> {
    match source {
        SourceSpec::Idx { images, labels } => vec![("images", images), ("labels", labels)],
        SourceSpec::IdxTrainTest {
            train_images,
            train_labels,
            test_images,
            test_labels,
        } => vec![
            ("train_images", train_images),
            ("train_labels", train_labels),
            ("test_images", test_images),
            ("test_labels", test_labels),
        ],
    }
}

fn resolve_input(
    file: &PipelineFile,
    diags: &mut Vec<Diagnostic>,
    text: &str,
) -> Option<Vec<usize>> {
    let mut ok = true;
    for (field, p) in source_files(&file.data.source) {
        if !Path::new(p).exists() {
            ok = false;
            diags.push(Diagnostic::at_field(
                text,
                &format!("data.source.{field}"),
                p,
                format!("{p} does not exist; run `bash .ci/setup.sh` to fetch the datasets, or fix the path (relative paths start at the current directory)"),
            ));
        }
    }
    if let Some(i) = file.model.input {
        return Some(vec![i.channels, i.height, i.width]);
    }
    if !ok {
        return None;
    }
    let (_, images) = source_files(&file.data.source)[0];
    match crate::idx::image_shape(Path::new(images)) {
        Ok(shape) => Some(shape),
        Err(e) => {
            diags.push(Diagnostic::at_field(
                text,
                "data.source",
                images,
                format!("{e}; or give model.input explicitly"),
            ));
            None
        }
    }
}

fn resolve_classes(
    file: &PipelineFile,
    diags: &mut Vec<Diagnostic>,
    text: &str,
) -> Option<Vec<String>> {
    if let Some(c) = &file.data.classes {
        if c.len() < 2 {
            diags.push(Diagnostic::at_field(
                text,
                "data.classes",
                "classes",
                "give at least two class names".into(),
            ));
        }
        return Some(c.clone());
    }
    let (_, images) = source_files(&file.data.source)[0];
    let beside = Path::new(images).parent()?.join("classes.txt");
    let names = fs_err::read_to_string(beside).ok()?;
    let names: Vec<String> = names
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    (names.len() >= 2).then_some(names)
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
