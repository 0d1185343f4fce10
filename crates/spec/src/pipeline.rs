//! From RON text to a validated [`Pipeline`]: parse, check every value, infer the model graph.

use std::path::{Path, PathBuf};

use crate::compose::{self, SourceFile};
use crate::doc::Doc;
use crate::error::{Diagnostic, SpecError};
use crate::graph::{ModelGraph, build_graph, build_graph_named};
use crate::image_source;
use crate::overrides::{self, Override};
use crate::schema::{NormalizeSpec, PipelineFile, SourceSpec};
use crate::zoo;

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
        let sources = Sources::new(&label, &composed);
        let mut file = compose::typed(&composed.doc, &label, what).map_err(|e| sources.place(e))?;
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
            file = compose::typed(&doc, &label, what).map_err(|e| sources.place(e))?;
        }
        let locate = if composed.bases.is_empty() {
            composed.text.as_str()
        } else {
            ""
        };
        let bases = composed.bases.clone();
        Self::validate(
            file,
            &composed.text,
            locate,
            &stem,
            Some(path.to_owned()),
            bases,
        )
        .map_err(|e| sources.place(e))
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
        if let Some(&[c, h, w]) = input.as_deref() {
            for (path, message) in crate::augment::check_augment_shape(&file.augment, [c, h, w]) {
                let needle = path.rsplit('.').next().unwrap_or("augment").to_owned();
                diags.push(Diagnostic::at_field(text, &path, &needle, message));
            }
        }
        let mut graph = None;
        if let Some(input) = input {
            graph = model_graph(
                &file,
                input,
                classes.as_ref().map(Vec::len),
                text,
                &mut diags,
            );
        }
        if let Some(g) = &graph {
            check_transfer(&file, g, text, &mut diags);
        }
        if let (Some(g), Some(classes)) = (&graph, &classes) {
            let out = g.output_shape();
            if out.as_slice() != [classes.len()] {
                diags.push(Diagnostic::at_field(
                    text,
                    "model.layers",
                    "layers",
                    format!(
                        "the model outputs {out:?} but the data has {} classes; end the model with Linear(units: {}) (or set preset.classes)",
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
    if d.source.has_test_files() && s.test > 0.0 {
        bad(
            "data.split.test",
            "test",
            format!(
                "{} has its own test files; set split.test to 0",
                d.source.kind()
            ),
        );
    }
    if let SourceSpec::Cifar10 { train, .. } | SourceSpec::Cifar100 { train, .. } = &d.source
        && train.is_empty()
    {
        bad(
            "data.source.train",
            "train",
            format!(
                "{} needs at least one training file (e.g. data_batch_1.bin)",
                d.source.kind()
            ),
        );
    }
    if let Some(options) = d.source.image_options() {
        if let Some((h, w)) = options.size
            && (h == 0 || w == 0)
        {
            bad(
                "data.source.size",
                "size",
                format!("size must be (height, width) of at least 1 each, found ({h}, {w})"),
            );
        }
        if !d.extra_train.is_empty() {
            bad(
                "data.extra_train",
                "extra_train",
                format!(
                    "extra_train adds IDX files to an IDX or CIFAR source, not to {}; list the extra images in the source instead",
                    d.source.kind()
                ),
            );
        }
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
    for (path, message) in crate::export::check_export(&file.export) {
        let needle = path.rsplit('.').next().unwrap_or("export").to_owned();
        bad(&path, &needle, message);
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
    for (path, message) in crate::mix::check_mix(file) {
        let needle = path.rsplit('.').next().unwrap_or("mix").to_owned();
        diags.push(Diagnostic::at_field(text, &path, &needle, message));
    }
}

/// The model's graph from its `layers` or its `preset`, with shape errors placed on the
/// layer (or preset) at fault.
fn model_graph(
    file: &PipelineFile,
    input: Vec<usize>,
    data_classes: Option<usize>,
    text: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<ModelGraph> {
    let m = &file.model;
    match (&m.preset, m.layers.is_empty()) {
        (None, true) => {
            diags.push(Diagnostic::at_field(
                text,
                "model",
                "model",
                "the model has no layers; give `layers: [...]` or `preset: (model: ResNet18)`"
                    .into(),
            ));
            None
        }
        (Some(_), false) => {
            diags.push(Diagnostic::at_field(
                text,
                "model.preset",
                "preset",
                "give either `layers` or `preset`, not both".into(),
            ));
            None
        }
        (Some(p), true) => {
            if let Err(e) = zoo::check_preset(p) {
                diags.push(Diagnostic::at_field(text, "model.preset", "preset", e));
                return None;
            }
            let Some(classes) = p.classes.or(data_classes) else {
                diags.push(Diagnostic::at_field(
                    text,
                    "model.preset",
                    "preset",
                    "the number of classes is unknown; give preset.classes or data.classes".into(),
                ));
                return None;
            };
            let layers = zoo::expand(p, input.get(1).copied().unwrap_or(0), classes);
            match build_graph_named(input, "", &layers) {
                Ok(g) => Some(g),
                Err(errors) => {
                    for e in errors {
                        diags.push(Diagnostic::at_field(
                            text,
                            "model.preset",
                            "preset",
                            format!("{:?}: {}; give a larger model.input or pick a preset for small images (LeNet5, ResNet18)", p.model, e.message),
                        ));
                    }
                    None
                }
            }
        }
        (None, false) => match build_graph(input, &m.layers) {
            Ok(g) => Some(g),
            Err(errors) => {
                for e in errors {
                    let kind = m.layers[e.layer].kind();
                    diags.push(Diagnostic::at_field(
                        text,
                        &format!("model.layers[{}]", e.layer),
                        kind,
                        format!("{kind}: {}", e.message),
                    ));
                }
                None
            }
        },
    }
}

impl crate::schema::ModelSpec {
    /// The graph of a model section that was checked before (a run's `resolved.ron`), for
    /// `input` (C, H, W) and the data's number of classes: its `layers`, or its `preset`
    /// expanded (the preset's own `classes` first). [`Pipeline`] builds the same graph,
    /// with diagnostics; this one needs no data files, only what the run recorded.
    pub fn graph(&self, input: Vec<usize>, classes: usize) -> Result<ModelGraph, String> {
        match (&self.preset, self.layers.is_empty()) {
            (Some(p), true) => {
                zoo::preset_graph(p, input, classes).map_err(|e| format!("{:?}: {e}", p.model))
            }
            (None, false) => build_graph(input, &self.layers).map_err(|errors| {
                errors
                    .into_iter()
                    .map(|e| format!("model.layers[{}]: {}", e.layer, e.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            }),
            (None, true) => Err("the model has no layers and no preset".into()),
            (Some(_), false) => Err("the model gives both layers and a preset".into()),
        }
    }
}

/// Checks `weights`, `freeze`, `backbone_lr` and `unfreeze_after_epochs` against the graph.
fn check_transfer(file: &PipelineFile, g: &ModelGraph, text: &str, diags: &mut Vec<Diagnostic>) {
    let m = &file.model;
    let mut bad = |path: &str, needle: &str, msg: String| {
        diags.push(Diagnostic::at_field(text, path, needle, msg))
    };
    if let Some(w) = &m.weights {
        match (&w.file, &w.run) {
            (Some(_), Some(_)) | (None, None) => bad(
                "model.weights",
                "weights",
                "give one of weights.file (a safetensors file) or weights.run (an experiment name)"
                    .into(),
            ),
            (Some(f), None) if !Path::new(f).is_file() => bad(
                "model.weights.file",
                f,
                format!(
                    "{f} does not exist; convert the weights first (see README, transfer learning) or fix the path"
                ),
            ),
            _ => {}
        }
    }
    if let Err(e) = g.frozen_until(m.freeze.as_ref()) {
        bad("model.freeze", "freeze", e);
    }
    if let Some(lr) = m.backbone_lr
        && !(lr >= 0.0 && lr.is_finite())
    {
        bad(
            "model.backbone_lr",
            "backbone_lr",
            format!("backbone_lr must be a finite number ≥ 0, found {lr}"),
        );
    }
    if m.cache_features {
        let reason = if m.freeze.is_none() {
            Some("nothing is frozen; give freeze: AllButHead or Until(\"…\")".to_owned())
        } else if !file.augment.is_empty() {
            Some(
                "augmentation changes the features every epoch; remove augment or cache_features"
                    .to_owned(),
            )
        } else if m.unfreeze_after_epochs.is_some() {
            Some(
                "the frozen layers train again after unfreeze_after_epochs; remove one of the two"
                    .to_owned(),
            )
        } else {
            g.frozen_until(m.freeze.as_ref())
                .ok()
                .and_then(|k| g.cut_after(k).err())
        };
        if let Some(reason) = reason {
            bad(
                "model.cache_features",
                "cache_features",
                format!("cache_features: {reason}"),
            );
        }
    }
    if let Some(n) = m.unfreeze_after_epochs {
        if m.freeze.is_none() {
            bad(
                "model.unfreeze_after_epochs",
                "unfreeze_after_epochs",
                "nothing is frozen; give freeze: AllButHead or Until(\"…\")".into(),
            );
        } else if n == 0 || n >= file.epochs {
            bad(
                "model.unfreeze_after_epochs",
                "unfreeze_after_epochs",
                format!(
                    "unfreeze_after_epochs must be between 1 and epochs − 1 ({}), found {n}",
                    file.epochs.saturating_sub(1)
                ),
            );
        }
    }
}

/// The data files a source names, in order, with the field each came from (`images`,
/// `train[2]`); for `ImageFolder` its folders, for `Csv` its CSV files and `root`.
pub fn source_files(source: &SourceSpec) -> Vec<(String, &str)> {
    let pairs: Vec<(&str, &String)> = match source {
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
        SourceSpec::ImageFolder { root, test, .. } => {
            let mut files = vec![("root".to_owned(), root.as_str())];
            files.extend(test.as_deref().map(|t| ("test".to_owned(), t)));
            return files;
        }
        SourceSpec::Csv {
            file, test, root, ..
        } => {
            let mut files = vec![("file".to_owned(), file.as_str())];
            files.extend(test.as_deref().map(|t| ("test".to_owned(), t)));
            files.extend(root.as_deref().map(|r| ("root".to_owned(), r)));
            return files;
        }
        SourceSpec::Cifar10 { train, test } | SourceSpec::Cifar100 { train, test, .. } => {
            let mut files: Vec<(String, &str)> = Vec::new();
            for (field, list) in [("train", train), ("test", test)] {
                for (i, p) in list.iter().enumerate() {
                    files.push((format!("{field}[{i}]"), p.as_str()));
                }
            }
            return files;
        }
    };
    pairs
        .into_iter()
        .map(|(f, p)| (f.to_owned(), p.as_str()))
        .collect()
}

/// The files of `data.extra_train`, with the field each came from.
pub fn extra_files(data: &crate::schema::DataSpec) -> Vec<(String, &str)> {
    data.extra_train
        .iter()
        .enumerate()
        .flat_map(|(i, p)| {
            [
                (format!("data.extra_train[{i}].images"), p.images.as_str()),
                (format!("data.extra_train[{i}].labels"), p.labels.as_str()),
            ]
        })
        .collect()
}

fn resolve_input(
    file: &PipelineFile,
    diags: &mut Vec<Diagnostic>,
    text: &str,
) -> Option<Vec<usize>> {
    for (field, p) in extra_files(&file.data) {
        if !Path::new(p).is_file() {
            diags.push(Diagnostic::at_field(
                text,
                &field,
                p,
                format!("{p} does not exist; write it with `ronin predict MODEL INPUT… --pseudo-label DIR`, or fix the path"),
            ));
        }
    }
    let mut ok = true;
    let hint = match file.data.source.cifar_format() {
        None => "run `bash .ci/setup.sh` to fetch the datasets",
        Some(_) => "the set-up does not fetch CIFAR: put the files of its binary version there",
    };
    for (field, p) in source_files(&file.data.source) {
        if !Path::new(p).exists() {
            ok = false;
            diags.push(Diagnostic::at_field(
                text,
                &format!("data.source.{field}"),
                p,
                format!("{p} does not exist; {hint}, or fix the path (relative paths start at the current directory)"),
            ));
        }
    }
    if let Some(i) = file.model.input {
        return Some(vec![i.channels, i.height, i.width]);
    }
    if !ok {
        return None;
    }
    if let Some((_, shape)) = file.data.source.cifar_format() {
        return Some(shape.to_vec());
    }
    if let Some(options) = file.data.source.image_options() {
        return image_source_shape(&file.data.source, options, diags, text);
    }
    let files = source_files(&file.data.source);
    let (_, images) = files.first()?;
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

/// `[C, H, W]` of a folder or CSV source: `size` when given, else the first image's.
fn image_source_shape(
    source: &SourceSpec,
    options: crate::schema::ImageOptions,
    diags: &mut Vec<Diagnostic>,
    text: &str,
) -> Option<Vec<usize>> {
    let c = options.color.channels();
    if let Some((h, w)) = options.size {
        return Some(vec![c, h, w]);
    }
    let first = match source {
        SourceSpec::ImageFolder { root, .. } => image_source::folder_classes(Path::new(root))
            .and_then(|classes| {
                image_source::first_image_under(&Path::new(root).join(&classes[0]))
            }),
        SourceSpec::Csv {
            file,
            root,
            path_column,
            label_column,
            ..
        } => image_source::read_csv(
            Path::new(file),
            root.as_deref().map(Path::new),
            path_column,
            label_column,
        )
        .map(|rows| rows.into_iter().next().map(|r| r.path)),
        _ => return None,
    };
    let probe = match first {
        Ok(Some(path)) => image::image_dimensions(&path).map_err(|e| {
            format!(
                "cannot read the size of the first image {}: {e}",
                path.display()
            )
        }),
        Ok(None) => Err("no image to take the size from".to_owned()),
        Err(e) => Err(e.to_string()),
    };
    match probe {
        Ok((w, h)) => Some(vec![c, h as usize, w as usize]),
        Err(e) => {
            // A listing error is reported once, by the class names when they list too.
            if !diags.iter().any(|d| d.message == e) {
                diags.push(Diagnostic::at_field(
                    text,
                    "data.source",
                    source.kind(),
                    format!("{e}; give size: (H, W) or model.input"),
                ));
            }
            None
        }
    }
}

fn resolve_classes(
    file: &PipelineFile,
    diags: &mut Vec<Diagnostic>,
    text: &str,
) -> Option<Vec<String>> {
    let names = source_classes(file, diags, text);
    let Some(keep) = &file.data.keep_classes else {
        return names;
    };
    let mut seen = std::collections::BTreeSet::new();
    if keep.len() < 2 || keep.iter().any(|k| *k > 255 || !seen.insert(*k)) {
        diags.push(Diagnostic::at_field(
            text,
            "data.keep_classes",
            "keep_classes",
            format!("keep_classes needs at least two distinct labels in 0..=255, found {keep:?}"),
        ));
        return None;
    }
    if let Some(n) = &names
        && let Some(k) = keep.iter().find(|k| **k >= n.len())
    {
        diags.push(Diagnostic::at_field(
            text,
            "data.keep_classes",
            "keep_classes",
            format!("label {k} is not one of the source's {} classes", n.len()),
        ));
        return None;
    }
    Some(
        keep.iter()
            .map(|&k| {
                names
                    .as_ref()
                    .map_or_else(|| k.to_string(), |n| n[k].clone())
            })
            .collect(),
    )
}

fn source_classes(
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
    let source = &file.data.source;
    match source {
        SourceSpec::ImageFolder { root, .. } => {
            return match image_source::folder_classes(Path::new(root)) {
                Ok(names) => Some(names),
                Err(e) => {
                    diags.push(Diagnostic::at_field(
                        text,
                        "data.source.root",
                        root,
                        e.to_string(),
                    ));
                    None
                }
            };
        }
        SourceSpec::Csv {
            file: csv,
            root,
            path_column,
            label_column,
            ..
        } => {
            let rows = image_source::read_csv(
                Path::new(csv),
                root.as_deref().map(Path::new),
                path_column,
                label_column,
            );
            return match rows {
                Ok(rows) => Some(image_source::label_classes(&rows)),
                Err(e) => {
                    diags.push(Diagnostic::at_field(
                        text,
                        "data.source.file",
                        csv,
                        e.to_string(),
                    ));
                    None
                }
            };
        }
        _ => {}
    }
    let names_file = source.class_names_file()?;
    let Ok(names) = fs_err::read_to_string(names_file) else {
        // CIFAR fixes the number of classes even without a names file.
        return source
            .cifar_format()
            .map(|(k, _)| (0..k).map(|i| i.to_string()).collect());
    };
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

/// The files a composed pipeline was written in, to place a problem found after merging
/// in the file that wrote the value: the extending file first, then its bases, nearest
/// first.
struct Sources {
    files: Vec<(String, String, Option<Doc>)>,
}

impl Sources {
    fn new(label: &str, composed: &compose::Composed) -> Self {
        let mut files = vec![(
            label.to_owned(),
            composed.text.clone(),
            crate::doc::parse(&composed.text).ok(),
        )];
        for base in &composed.bases {
            files.push((
                base.path.display().to_string(),
                base.text.clone(),
                crate::doc::parse(&base.text).ok(),
            ));
        }
        Self { files }
    }

    /// Gives every unplaced problem of `e` a line in the file that holds most of its field
    /// path (lists and enum values replace whole, so the deepest match wrote it); a problem
    /// in a base names that base.
    fn place(&self, e: SpecError) -> SpecError {
        let SpecError::Invalid { file, diagnostics } = e else {
            return e;
        };
        let diagnostics = diagnostics.into_iter().map(|d| self.place_one(d)).collect();
        SpecError::Invalid { file, diagnostics }
    }

    fn place_one(&self, d: Diagnostic) -> Diagnostic {
        if d.line.is_some() || d.path.is_empty() {
            return d;
        }
        let segments = path_segments(&d.path);
        let owner = self
            .files
            .iter()
            .enumerate()
            .filter_map(|(i, (_, _, doc))| {
                let (depth, key) = matched(doc.as_ref()?, &segments);
                (depth > 0).then_some((depth, std::cmp::Reverse(i), key))
            })
            .max();
        let Some((_, std::cmp::Reverse(i), Some(key))) = owner else {
            return d;
        };
        let (label, text, _) = &self.files[i];
        let placed = Diagnostic::at_field(text, &d.path, key, d.message.clone());
        if placed.line.is_none() {
            return d;
        }
        Diagnostic {
            file: (i > 0).then(|| label.clone()),
            ..placed
        }
    }
}

/// One step of a field path such as `model.layers[3].kernel_size`.
#[derive(Debug, PartialEq)]
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

fn path_segments(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let mut pieces = part.split('[');
        if let Some(key) = pieces.next().filter(|k| !k.is_empty()) {
            out.push(Segment::Key(key));
        }
        for index in pieces {
            match index.trim_end_matches(']').parse() {
                Ok(n) => out.push(Segment::Index(n)),
                Err(_) => return out,
            }
        }
    }
    out
}

/// How many leading segments of `path` the document writes, and the last key among them.
fn matched<'p>(doc: &Doc, path: &[Segment<'p>]) -> (usize, Option<&'p str>) {
    let (mut node, mut depth, mut key) = (doc, 0, None);
    for segment in path {
        // `Some(x)` is transparent: paths name the value inside.
        while let Doc::Tuple {
            name: Some(n),
            items,
        } = node
            && n == "Some"
            && items.len() == 1
        {
            node = &items[0];
        }
        let next = match (segment, node) {
            (Segment::Key(k), Doc::Struct { fields, .. }) => {
                fields.iter().find(|(name, _)| name == k).map(|(_, v)| v)
            }
            (Segment::Index(n), Doc::List(items)) => items.get(*n),
            _ => None,
        };
        let Some(next) = next else { break };
        if let Segment::Key(k) = segment {
            key = Some(*k);
        }
        node = next;
        depth += 1;
    }
    (depth, key)
}
