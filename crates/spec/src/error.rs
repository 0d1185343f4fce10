//! Errors of the pipeline language, each with a location a person can jump to.

use std::fmt;
use std::path::PathBuf;

/// One problem in a pipeline file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based line and column, when the problem can be placed.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Field path such as `model.layers[3]` or `optimizer.lr`; empty for syntax errors.
    pub path: String,
    pub message: String,
    /// The file the line and column are in when it is not the pipeline's own file: a base
    /// it `extends`, where the offending value was written.
    pub file: Option<String>,
}

impl Diagnostic {
    /// A RON syntax or type error at the position ron reports.
    pub fn from_ron(e: &ron::error::SpannedError, _text: &str) -> Self {
        let pos = e.span.start;
        let mut message = e.code.to_string();
        if let Some(s) = suggestion(&e.code) {
            message.push_str(&format!("; did you mean `{s}`?"));
        }
        Diagnostic {
            line: Some(pos.line),
            column: Some(pos.col),
            path: String::new(),
            message,
            file: None,
        }
    }

    /// A semantic error about `path`, placed at the first occurrence of `needle` after the
    /// last segment's parent key (a best effort: semantic checks run on typed values).
    pub fn at_field(text: &str, path: &str, needle: &str, message: String) -> Self {
        let (line, column) =
            locate(text, path, needle).map_or((None, None), |(l, c)| (Some(l), Some(c)));
        Diagnostic {
            line,
            column,
            path: path.to_owned(),
            message,
            file: None,
        }
    }
}

/// The known field or variant closest to a misspelt one: the same name in another case
/// (`SGD` → `Sgd`), else the most similar when it is similar enough.
fn suggestion(code: &ron::error::Error) -> Option<&'static str> {
    use ron::error::Error;
    let (expected, found) = match code {
        Error::NoSuchStructField {
            expected, found, ..
        }
        | Error::NoSuchEnumVariant {
            expected, found, ..
        } => (*expected, found.as_str()),
        _ => return None,
    };
    if let Some(same) = expected.iter().find(|e| e.eq_ignore_ascii_case(found)) {
        return Some(same);
    }
    expected
        .iter()
        .map(|e| {
            (
                strsim::jaro_winkler(&found.to_lowercase(), &e.to_lowercase()),
                *e,
            )
        })
        .filter(|(score, _)| *score >= 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, e)| e)
}

/// Finds `needle` in `text`, after the first key of `path` when it appears, skipping comments.
fn locate(text: &str, path: &str, needle: &str) -> Option<(usize, usize)> {
    let first_key = path.split(['.', '[']).next().unwrap_or("");
    let start = if first_key.is_empty() {
        0
    } else {
        find_code(text, first_key, 0).unwrap_or(0)
    };
    // Layers are found by index: the n-th element of the list after `layers:`.
    let offset = if let Some(idx) = layer_index(path) {
        let layers_at = find_code(text, "layers", start)?;
        let open = find_code(text, "[", layers_at)?;
        nth_element(text, open, idx)?
    } else {
        find_code(text, needle, start).or_else(|| find_code(text, needle, 0))?
    };
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Some((line, column))
}

fn layer_index(path: &str) -> Option<usize> {
    let rest = path.strip_prefix("model.layers[")?;
    rest[..rest.find(']')?].parse().ok()
}

/// Byte offset of the first character of element `n` of the list opening at `open` (a
/// `[`), skipping nested brackets, strings and comments.
fn nth_element(text: &str, open: usize, n: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let (mut depth, mut index, mut i) = (0usize, 0usize, open + 1);
    let mut element_start = None;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                element_start.get_or_insert(i);
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'(' | b'[' | b'{' => {
                element_start.get_or_insert(i);
                depth += 1;
            }
            b')' | b']' | b'}' => {
                if depth == 0 {
                    return None;
                }
                depth -= 1;
            }
            b',' if depth == 0 => {
                index += 1;
                element_start = None;
            }
            c if c.is_ascii_whitespace() => {}
            _ => {
                element_start.get_or_insert(i);
            }
        }
        if index == n
            && let Some(at) = element_start
        {
            return Some(at);
        }
        i += 1;
    }
    None
}

/// Byte offset of `needle` at or after `from`, outside `//` comments.
fn find_code(text: &str, needle: &str, from: usize) -> Option<usize> {
    let mut pos = from;
    while let Some(found) = text.get(pos..)?.find(needle) {
        let at = pos + found;
        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        if !text[line_start..at].contains("//") {
            return Some(at);
        }
        pos = at + needle.len();
    }
    None
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, "{l}:{c}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read pipeline {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} extends {}, which cannot be read", from.display(), base.display())]
    MissingBase {
        base: PathBuf,
        from: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("extends cycle: {}", files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(" → "))]
    ExtendsCycle { files: Vec<PathBuf> },
    #[error("--set {set}: {reason}")]
    Override {
        set: String,
        reason: crate::overrides::OverrideError,
    },
    #[error("{file}: {} error{} in the pipeline:\n{}", diagnostics.len(), if diagnostics.len() == 1 { "" } else { "s" }, render(file, diagnostics))]
    Invalid {
        file: String,
        diagnostics: Vec<Diagnostic>,
    },
}

fn render(file: &str, diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| (d.file.as_deref().unwrap_or(file), d))
        .map(|(file, d)| match (d.line, d.column) {
            (Some(l), Some(c)) => format!("  {file}:{l}:{c}: {}{}", path_prefix(d), d.message),
            _ => format!("  {file}: {}{}", path_prefix(d), d.message),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn path_prefix(d: &Diagnostic) -> String {
    if d.path.is_empty() {
        String::new()
    } else {
        format!("{}: ", d.path)
    }
}
