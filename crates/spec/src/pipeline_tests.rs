//! `Pipeline::from_path_with`: `extends` and `--set` end to end, on files in a temp dir.

use std::path::{Path, PathBuf};

use super::*;
use crate::doc;
use crate::training::OptimizerSpec;

/// Writes empty data files (the model gives its input shape, so they are never read) and a
/// full base pipeline; returns the base's path.
fn base(dir: &Path) -> PathBuf {
    for f in ["images", "labels"] {
        std::fs::write(dir.join(f), b"").unwrap();
    }
    let d = dir.display();
    let text = format!(
        "(\n  epochs: 2,\n  data: (source: Idx(images: \"{d}/images\", labels: \"{d}/labels\"), classes: Some([\"a\", \"b\"]), batch_size: 32),\n  model: (input: (channels: 1, height: 4, width: 4), layers: [Flatten, Linear(units: 8), ReLU, Linear(units: 2)]),\n  optimizer: Adam(lr: 0.001, weight_decay: 0.1),\n)\n"
    );
    let p = dir.join("base.ron");
    std::fs::write(&p, text).unwrap();
    p
}

fn child(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("child.ron");
    std::fs::write(&p, text).unwrap();
    p
}

fn set(pairs: &[&str]) -> Vec<Override> {
    pairs.iter().map(|p| p.parse().unwrap()).collect()
}

#[test]
fn extends_and_overrides_give_the_merged_pipeline() {
    let tmp = tempfile::tempdir().unwrap();
    let base = base(tmp.path());
    let text = "(extends: \"base.ron\", data: (batch_size: 16), optimizer: Sgd(lr: 0.05, momentum: 0.9, nesterov: true))";
    let c = child(tmp.path(), text);
    let p = Pipeline::from_path_with(
        &c,
        &set(&[
            "optimizer.lr=0.01",
            "model.layers[1].units=16",
            "data.limit=96",
        ]),
    )
    .unwrap();
    assert_eq!(p.name, "child");
    assert_eq!(p.source_text, text);
    assert_eq!(p.extends.len(), 1);
    assert_eq!(p.extends[0].text, std::fs::read_to_string(&base).unwrap());
    assert_eq!(
        p.file.optimizer,
        OptimizerSpec::Sgd {
            lr: 0.01,
            momentum: 0.9,
            dampening: 0.0,
            nesterov: true,
            weight_decay: 0.0
        }
    );
    assert_eq!((p.file.epochs, p.file.data.batch_size), (2, 16));
    assert_eq!(p.file.data.limit, Some(96));
    assert_eq!(p.num_classes(), 2);
    let resolved = p.resolved_ron().unwrap();
    assert!(
        resolved.contains("Sgd(") && resolved.contains("lr: 0.01"),
        "{resolved}"
    );
    let again = Pipeline::from_str_named(&resolved, "r", None).unwrap();
    assert_eq!(again.file, p.file);
}

#[test]
fn errors_after_composition_name_the_file_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let base = base(tmp.path());
    let c = child(tmp.path(), "(extends: \"base.ron\", epochs: 0)");
    let e = Pipeline::from_path(&c).unwrap_err().to_string();
    assert!(
        e.contains("child.ron:1:23: epochs: epochs must be at least 1"),
        "{e}"
    );
    let c = child(
        tmp.path(),
        "(extends: \"base.ron\", data: (batch_size: \"x\"))",
    );
    let e = Pipeline::from_path(&c).unwrap_err().to_string();
    assert!(e.contains("child.ron:1:30: data.batch_size: "), "{e}");
    // Without `extends`, a value set from the command line is still checked and located.
    let e = Pipeline::from_path_with(&base, &set(&["epochs=0"]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("base.ron:2:3: epochs: epochs must be at least 1"),
        "{e}"
    );
    let e = Pipeline::from_path_with(&base, &set(&["optimzer.lr=1"]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "--set optimzer.lr=1: the pipeline has no field `optimzer`; did you mean `optimizer`?"
    );
    let e = Pipeline::from_path_with(&base, &set(&["epochs=\"two\""]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("base.ron:2:3: epochs: ") && e.contains("after --set"),
        "{e}"
    );
}

#[test]
fn augment_is_checked_against_the_image_shape() {
    let tmp = tempfile::tempdir().unwrap();
    base(tmp.path());
    let c = child(
        tmp.path(),
        "(extends: \"base.ron\", augment: [\n  RandomCrop(size: 3, padding: 1),\n  ColorJitter(brightness: 0.2, hue: 0.1),\n])",
    );
    let e = Pipeline::from_path(&c).unwrap_err().to_string();
    assert!(
        e.contains(
            "child.ron:2:14: augment[0].size: RandomCrop: size (3, 3) differs from the images' (4, 4)"
        ),
        "{e}"
    );
    assert!(
        e.contains(
            "child.ron:3:32: augment[1].hue: ColorJitter: hue needs RGB images (3 channels) but these have 1"
        ),
        "{e}"
    );
    let c = child(
        tmp.path(),
        "(extends: \"base.ron\", augment: [RandomCrop(size: 4, padding: 1), ColorJitter(brightness: 0.2)])",
    );
    Pipeline::from_path(&c).unwrap();
}

/// Every example pipeline survives the trip overrides take: typed → RON → document → typed.
#[test]
fn example_pipelines_round_trip_through_the_document() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "ron") {
            continue;
        }
        let composed = compose::load(&path).unwrap();
        let file = compose::typed(&composed.doc, "x", "test").unwrap();
        let text = ron::ser::to_string(&file).unwrap();
        let again = compose::typed(&doc::parse(&text).unwrap(), "x", "test").unwrap();
        assert_eq!(again, file, "{}", path.display());
        n += 1;
    }
    assert!(n >= 2);
}

/// A CIFAR-10 pipeline over `files` (written empty: validation only checks they exist).
fn cifar(dir: &Path, train: &[&str], test: &[&str], rest: &str) -> Result<Pipeline, SpecError> {
    let list = |names: &[&str]| {
        names
            .iter()
            .map(|n| {
                let p = dir.join(n);
                if !n.starts_with("missing") {
                    std::fs::write(&p, b"").unwrap();
                }
                format!("{:?}", p.display().to_string())
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let text = format!(
        "(epochs: 1, data: (source: Cifar10(train: [{}], test: [{}]){rest}), model: (layers: [Flatten, Linear(units: 10)]), optimizer: Sgd(lr: 0.1))",
        list(train),
        list(test)
    );
    Pipeline::from_str_named(&text, "cifar", None)
}

#[test]
fn cifar_sources_have_a_fixed_shape_and_their_files_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let p = cifar(
        dir,
        &["data_batch_1.bin", "data_batch_2.bin"],
        &["test_batch.bin"],
        "",
    )
    .unwrap();
    // 3×32×32 without reading the files; 10 classes named by number without batches.meta.txt.
    assert_eq!(p.graph.input_shape, [3, 32, 32]);
    assert_eq!(p.classes.as_ref().map(Vec::len), Some(10));
    let files = source_files(&p.file.data.source);
    assert_eq!(
        files.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(),
        ["train[0]", "train[1]", "test[0]"]
    );

    std::fs::write(
        dir.join("batches.meta.txt"),
        "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n",
    )
    .unwrap();
    let p = cifar(dir, &["data_batch_1.bin"], &[], ", split: (test: 0.2)").unwrap();
    assert_eq!(p.classes.as_ref().map(|c| c[9].as_str()), Some("truck"));

    let msg = cifar(
        dir,
        &["data_batch_1.bin", "missing_2.bin"],
        &["test_batch.bin"],
        ", split: (test: 0.2)",
    )
    .unwrap_err()
    .to_string();
    assert!(msg.contains("data.source.train[1]"), "{msg}");
    assert!(
        msg.contains("missing_2.bin does not exist; the set-up does not fetch CIFAR"),
        "{msg}"
    );
    assert!(
        msg.contains("Cifar10 has its own test files; set split.test to 0"),
        "{msg}"
    );

    let msg = cifar(dir, &[], &["test_batch.bin"], "")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("Cifar10 needs at least one training file"),
        "{msg}"
    );
}

#[test]
fn errors_after_composition_are_placed_in_the_file_that_wrote_the_value() {
    let tmp = tempfile::tempdir().unwrap();
    let base = base(tmp.path());
    // Written in the child: placed there, on its line.
    let c = child(tmp.path(), "(\n  extends: \"base.ron\",\n  epochs: 0,\n)");
    let e = Pipeline::from_path(&c).unwrap_err().to_string();
    assert!(
        e.contains(&format!(
            "{}:3:3: epochs: epochs must be at least 1",
            c.display()
        )),
        "{e}"
    );
    // Written in the base (the child only changes another part of `data`): placed in
    // the base, which the message names.
    let text = std::fs::read_to_string(&base)
        .unwrap()
        .replace("batch_size: 32", "batch_size: 0");
    std::fs::write(&base, text).unwrap();
    let c = child(
        tmp.path(),
        "(extends: \"base.ron\", data: (shuffle: false))",
    );
    let Err(SpecError::Invalid { diagnostics, .. }) = Pipeline::from_path(&c) else {
        panic!("batch_size 0 is refused");
    };
    let d = &diagnostics[0];
    assert_eq!(d.path, "data.batch_size", "{d:?}");
    assert_eq!(d.file.as_deref(), Some(base.display().to_string().as_str()));
    assert_eq!(d.line, Some(3), "{d:?}");
    // A list replaced by the child belongs to the child: its third layer.
    let c = child(
        tmp.path(),
        "(\n  extends: \"base.ron\",\n  data: (batch_size: 8),\n  model: (input: (channels: 1, height: 4, width: 4), layers: [\n    Flatten,\n    Linear(units: 8),\n    MaxPool2d(kernel_size: 2),\n    Linear(units: 2),\n  ]),\n)",
    );
    let Err(SpecError::Invalid { diagnostics, .. }) = Pipeline::from_path(&c) else {
        panic!("a pool after a Linear is refused");
    };
    let d = diagnostics
        .iter()
        .find(|d| d.path.starts_with("model.layers[2]"))
        .unwrap_or_else(|| panic!("{diagnostics:?}"));
    assert_eq!(
        (d.file.as_deref(), d.line, d.column),
        (None, Some(7), Some(5)),
        "{d:?}"
    );
}

#[test]
fn field_paths_split_into_keys_and_indices() {
    assert_eq!(
        path_segments("model.layers[3].kernel_size"),
        vec![
            Segment::Key("model"),
            Segment::Key("layers"),
            Segment::Index(3),
            Segment::Key("kernel_size")
        ]
    );
    assert_eq!(
        path_segments("augment[0]"),
        vec![Segment::Key("augment"), Segment::Index(0)]
    );
}

#[test]
fn a_model_section_rebuilds_the_pipelines_graph_without_data() {
    // What `ronin export` and the viewer do with a run's resolved.ron: layers and presets.
    let tmp = tempfile::tempdir().unwrap();
    let base = base(tmp.path());
    let preset = child(
        tmp.path(),
        "(extends: \"base.ron\", model: (input: Some((channels: 1, height: 28, width: 28)), layers: [], preset: Some((model: ResNet18, width: 0.5))))",
    );
    for path in [base, preset] {
        let p = Pipeline::from_path(&path).unwrap();
        let g = p
            .file
            .model
            .graph(p.graph.input_shape.clone(), 2)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let names = |g: &ModelGraph| g.params().map(|x| x.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&g), names(&p.graph), "{}", path.display());
        assert!(!names(&g).is_empty());
    }
    let nothing = crate::schema::ModelSpec {
        layers: Vec::new(),
        preset: None,
        ..Pipeline::from_path(&tmp.path().join("base.ron"))
            .unwrap()
            .file
            .model
    };
    assert!(nothing.graph(vec![1, 4, 4], 2).is_err());
}

#[test]
fn a_data_section_of_a_source_alone_has_the_pipelines_defaults() {
    let parsed: crate::schema::DataSpec =
        ron::from_str(r#"(source: Idx(images: "a", labels: "b"))"#).unwrap();
    assert_eq!(
        crate::schema::DataSpec::of_source(parsed.source.clone()),
        parsed
    );
}
