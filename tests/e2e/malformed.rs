//! The catalogue of malformed pipelines (`tests/fixtures/malformed/`, written by
//! `tests/python/gen_malformed.py` from one valid pipeline, one mistake each): every one is
//! refused with exit code 2 and nothing run, and its diagnostics — each `file:line:column:
//! message` line before the source snippets — equal the reviewed snapshot in
//! `tests/e2e/snapshots/`. Update them with `INSTA_UPDATE=always cargo test … malformed`
//! and review the diff.

use crate::common::*;

#[test]
fn every_malformed_pipeline_is_refused_with_its_diagnostics() {
    require_data();
    let dir = repo().join("tests/fixtures/malformed");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the catalogue exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "ron"))
        .collect();
    files.sort();
    assert!(files.len() >= 40, "{} cases", files.len());
    let tmp = tempfile::tempdir().expect("temp dir");
    for path in files {
        let rel = path
            .strip_prefix(repo())
            .expect("inside the repo")
            .display()
            .to_string();
        let out = ronin(tmp.path(), &["check", &rel]);
        assert_eq!(out.status.code(), Some(2), "{rel}: {}", stderr(&out));
        let err = stderr(&out);
        // The list of problems; the miette snippets after it repeat them with the source.
        let listed: String = err
            .lines()
            .take_while(|l| !l.trim_start().starts_with('×'))
            .map(|l| format!("{}\n", l.trim_end()))
            .collect();
        assert!(listed.contains(&rel), "{rel} is not named:\n{err}");
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name");
        insta::assert_snapshot!(name, listed);
    }
    assert!(
        std::fs::read_dir(tmp.path()).map_or(true, |mut d| d.next().is_none()),
        "a refused pipeline wrote something"
    );
}
