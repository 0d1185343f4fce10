//! Any text as a pipeline: parsing, `extends` merging, `--set` overrides and validation
//! (shape inference included) return a pipeline or diagnostics; they never panic. A valid
//! pipeline's summary renders and its resolved form (`ronin check --resolved`) reads back
//! as the same pipeline.
//!
//! The input is up to three parts separated by NUL bytes: the pipeline, a base it is
//! merged onto, and a `PATH=VALUE` override. It runs from the repository root, so the
//! example pipelines of the seed corpus find their data under `.ronin/data/`.
#![no_main]

use std::str::FromStr;

use libfuzzer_sys::fuzz_target;
use ronin_spec::{Override, Pipeline, compose, overrides, summary};

fuzz_target!(
    init: {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../..");
        std::env::set_current_dir(root).expect("the repository root exists");
    },
    |data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, '\0');
    let child = parts.next().unwrap_or_default();
    let base = parts.next();
    let set = parts.next();

    match Pipeline::from_str_named(child, "fuzz", None) {
        Ok(pipeline) => {
            let _ = summary::render(&pipeline.graph);
            let resolved = pipeline
                .resolved_ron()
                .expect("a valid pipeline prints as RON");
            let again = Pipeline::from_str_named(&resolved, "fuzz", None)
                .unwrap_or_else(|e| panic!("the resolved pipeline does not read back: {e}\n{resolved}"));
            assert_eq!(again.file, pipeline.file, "the resolved pipeline reads back differently");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }

    let (Ok(child), Some(Ok(base))) = (
        compose::parse_file(child, "child.ron"),
        base.map(|b| compose::parse_file(b, "base.ron")),
    ) else {
        return;
    };
    let mut merged = compose::merge(base, child);
    if let Some(Ok(o)) = set.map(Override::from_str) {
        let _ = overrides::apply(&mut merged, &o);
    }
    let _ = compose::typed(&merged, "merged.ron", "merged with what it extends");
});
