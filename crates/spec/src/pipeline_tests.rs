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
        e.contains("child.ron: epochs: epochs must be at least 1"),
        "{e}"
    );
    let c = child(
        tmp.path(),
        "(extends: \"base.ron\", data: (batch_size: \"x\"))",
    );
    let e = Pipeline::from_path(&c).unwrap_err().to_string();
    assert!(e.contains("child.ron: data.batch_size: "), "{e}");
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
        e.contains("base.ron: epochs: ") && e.contains("after --set"),
        "{e}"
    );
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
