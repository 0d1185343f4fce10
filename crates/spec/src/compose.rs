//! `extends: "base.ron"`: a pipeline written as changes to another one.
//!
//! The effective document is the base deep-merged with the extending file: structs
//! (`( .. )`) merge field by field, recursively; lists, scalars and enum values
//! (`Adam(lr: ..)`, `Same`) are replaced whole. A base may itself extend another file.

use std::path::{Path, PathBuf};

use crate::doc::{self, Doc};
use crate::error::{Diagnostic, SpecError};
use crate::schema::PipelineFile;

/// A file a pipeline was built from, with its exact text (so a run can snapshot it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

/// A pipeline file and every file it extends, merged.
#[derive(Debug, Clone)]
pub struct Composed {
    /// The merged document, without `extends`.
    pub doc: Doc,
    /// The text of the file that was asked for.
    pub text: String,
    /// The files it extends, nearest base first; empty when it extends nothing.
    pub bases: Vec<SourceFile>,
}

fn ron_options() -> ron::Options {
    ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
}

/// Reads `path`, follows its `extends` chain and merges it.
pub fn load(path: &Path) -> Result<Composed, SpecError> {
    let text = fs_err::read_to_string(path).map_err(|e| SpecError::Read {
        path: path.to_owned(),
        source: e,
    })?;
    let mut seen = vec![canonical(path)];
    let mut chain = vec![SourceFile {
        path: path.to_owned(),
        text,
    }];
    let mut docs = Vec::new();
    while let Some(file) = chain.last() {
        let mut doc = parse_file(&file.text, &file.path.display().to_string())?;
        let extends = take_extends(&mut doc, file)?;
        docs.push(doc);
        let Some(rel) = extends else { break };
        let base = file.path.parent().unwrap_or(Path::new("")).join(rel);
        let text = fs_err::read_to_string(&base).map_err(|e| SpecError::MissingBase {
            base: base.clone(),
            from: file.path.clone(),
            source: e,
        })?;
        let id = canonical(&base);
        if seen.contains(&id) {
            let mut files: Vec<PathBuf> = chain.iter().map(|f| f.path.clone()).collect();
            files.push(base);
            return Err(SpecError::ExtendsCycle { files });
        }
        seen.push(id);
        chain.push(SourceFile { path: base, text });
    }
    let mut docs = docs.into_iter().rev();
    let root = docs.next().unwrap_or(Doc::Struct {
        name: None,
        fields: Vec::new(),
    });
    let doc = docs.fold(root, merge_top);
    let main = chain.remove(0);
    Ok(Composed {
        doc,
        text: main.text,
        bases: chain,
    })
}

fn canonical(path: &Path) -> PathBuf {
    fs_err::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

/// Parses a file into a [`Doc`], reporting syntax errors at ron's own positions.
pub fn parse_file(text: &str, label: &str) -> Result<Doc, SpecError> {
    let invalid = |d: Diagnostic| SpecError::Invalid {
        file: label.to_owned(),
        diagnostics: vec![d],
    };
    ron_options()
        .from_str::<ron::Value>(text)
        .map_err(|e| invalid(Diagnostic::from_ron(&e, text)))?;
    doc::parse(text).map_err(|e| {
        invalid(Diagnostic {
            line: Some(e.line),
            column: Some(e.column),
            path: String::new(),
            message: e.message,
            file: None,
        })
    })
}

/// Removes the top-level `extends` field and returns the path it names.
fn take_extends(doc: &mut Doc, file: &SourceFile) -> Result<Option<String>, SpecError> {
    let Doc::Struct { fields, .. } = doc else {
        return Ok(None);
    };
    let Some(i) = fields.iter().position(|(k, _)| k == "extends") else {
        return Ok(None);
    };
    let (_, value) = fields.remove(i);
    value
        .as_string()
        .map(Some)
        .ok_or_else(|| SpecError::Invalid {
            file: file.path.display().to_string(),
            diagnostics: vec![Diagnostic::at_field(
                &file.text,
                "extends",
                "extends",
                format!(
                    "extends must be a file path in quotes, found {}",
                    value.describe()
                ),
            )],
        })
}

/// Merges the top level: both are the pipeline struct, whatever name they were written with.
fn merge_top(base: Doc, child: Doc) -> Doc {
    match (base, child) {
        (Doc::Struct { fields: b, .. }, Doc::Struct { name, fields: c }) => Doc::Struct {
            name,
            fields: merge_fields(b, c),
        },
        (base, child) => merge(base, child),
    }
}

/// `child` over `base`: unnamed structs and maps merge recursively, all else is replaced.
pub fn merge(base: Doc, child: Doc) -> Doc {
    match (base, child) {
        (
            Doc::Struct {
                name: None,
                fields: b,
            },
            Doc::Struct {
                name: None,
                fields: c,
            },
        ) => Doc::Struct {
            name: None,
            fields: merge_fields(b, c),
        },
        (Doc::Map(b), Doc::Map(c)) => Doc::Map(merge_fields(b, c)),
        (_, child) => child,
    }
}

fn merge_fields<K: PartialEq>(mut base: Vec<(K, Doc)>, child: Vec<(K, Doc)>) -> Vec<(K, Doc)> {
    for (k, v) in child {
        match base.iter().position(|(bk, _)| *bk == k) {
            Some(i) => {
                let old = std::mem::replace(&mut base[i].1, Doc::Atom(String::new()));
                base[i].1 = merge(old, v);
            }
            None => base.push((k, v)),
        }
    }
    base
}

/// The typed pipeline of a composed document; a type error is reported with its field path
/// against `label` (positions are lost: the document was assembled from several sources).
pub fn typed(doc: &Doc, label: &str, what: &str) -> Result<PipelineFile, SpecError> {
    let printed = doc::print(doc);
    ron_options()
        .from_str(&printed.text)
        .map_err(|e| SpecError::Invalid {
            file: label.to_owned(),
            diagnostics: vec![Diagnostic {
                line: None,
                column: None,
                path: printed
                    .path_at(e.span.start.line, e.span.start.col)
                    .to_owned(),
                message: format!("{} (in the pipeline {what})", e.code),
                file: None,
            }],
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Doc {
        doc::parse(text).unwrap()
    }

    #[test]
    fn structs_merge_lists_and_enums_are_replaced() {
        let base = d(
            "(data: (batch_size: 64, split: (validation: 0.1, test: 0.2)), layers: [ReLU, Flatten], optimizer: Adam(lr: 0.1, weight_decay: 0.5), epochs: 3)",
        );
        let child =
            d("(data: (split: (test: 0.0)), layers: [Tanh], optimizer: Adam(lr: 0.01), seed: 1)");
        let want = d(
            "(data: (batch_size: 64, split: (validation: 0.1, test: 0.0)), layers: [Tanh], optimizer: Adam(lr: 0.01), epochs: 3, seed: 1)",
        );
        assert_eq!(merge_top(base, child), want);
    }

    #[test]
    fn a_different_variant_replaces_the_base_one() {
        let merged = merge(d("(o: Adam(lr: 0.1))"), d("(o: Sgd(momentum: 0.9))"));
        assert_eq!(merged, d("(o: Sgd(momentum: 0.9))"));
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn chains_merge_in_order_and_keep_every_text() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        write(dir, "a.ron", "(epochs: 1, seed: 1, name: \"a\")");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        write(dir, "sub/b.ron", "(extends: \"../a.ron\", seed: 2)");
        let c = write(dir, "c.ron", "(extends: \"sub/b.ron\", name: \"c\")");
        let got = load(&c).unwrap();
        assert_eq!(got.doc, d("(epochs: 1, seed: 2, name: \"c\")"));
        let names: Vec<_> = got.bases.iter().map(|f| f.path.clone()).collect();
        assert_eq!(names, [dir.join("sub/b.ron"), dir.join("sub/../a.ron")]);
        assert_eq!(got.bases[1].text, "(epochs: 1, seed: 1, name: \"a\")");
    }

    #[test]
    fn cycles_and_missing_bases_name_the_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        write(dir, "x.ron", "(extends: \"y.ron\")");
        let y = write(dir, "y.ron", "(extends: \"x.ron\", epochs: 1)");
        let e = load(&y).unwrap_err().to_string();
        assert!(
            e.contains("y.ron → ") && e.contains("x.ron → ") && e.contains("cycle"),
            "{e}"
        );
        let m = write(dir, "m.ron", "(extends: \"gone.ron\")");
        let e = load(&m).unwrap_err().to_string();
        assert!(e.contains("gone.ron") && e.contains("m.ron"), "{e}");
        let bad = write(dir, "bad.ron", "(extends: 3)");
        let e = load(&bad).unwrap_err().to_string();
        assert!(
            e.contains("bad.ron:1:2: extends: extends must be a file path"),
            "{e}"
        );
    }

    #[test]
    fn syntax_errors_name_the_base_file_and_position() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        write(dir, "base.ron", "(\n  epochs: 1\n  seed: 2,\n)");
        let c = write(dir, "c.ron", "(extends: \"base.ron\")");
        let e = load(&c).unwrap_err().to_string();
        assert!(e.contains("base.ron:3:3"), "{e}");
    }

    #[test]
    fn type_errors_after_merging_name_the_field() {
        let e = typed(
            &d("(epochs: 1, data: (batch_size: \"x\"))"),
            "c.ron",
            "after extends",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("c.ron: data.batch_size: "), "{e}");
    }
}
