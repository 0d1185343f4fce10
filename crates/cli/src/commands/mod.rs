pub mod check;
pub mod data;
pub mod eval;
pub mod export;
pub mod predict;
pub mod runs;
pub mod view;

use std::path::Path;

use ronin_spec::{Override, Pipeline, SpecError};

/// Loads a pipeline (following its `extends`), applies `--set` overrides, validates it; the
/// caller prints a failure in full and exits with [`crate::exit::INVALID`].
pub fn load_pipeline(path: &Path, overrides: &[Override]) -> Result<Pipeline, SpecError> {
    Pipeline::from_path_with(path, overrides)
}

/// Prints a pipeline error: the list with `file:line:column` for every problem, then
/// each placed problem as a rustc-style snippet of the file with the spot marked
/// (rendered by miette), so the user sees the line without opening the file.
pub fn print_spec_error(e: &SpecError) {
    eprintln!("error: {e}");
    let SpecError::Invalid { file, diagnostics } = e else {
        return;
    };
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_context_lines(1);
    for d in diagnostics {
        let (Some(line), Some(column)) = (d.line, d.column) else {
            continue;
        };
        // A problem placed in a base the pipeline extends is shown in that file.
        let file = d.file.as_deref().unwrap_or(file);
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let Some(offset) = byte_offset(&text, line, column) else {
            continue;
        };
        let len = text[offset..]
            .find(|c: char| c.is_whitespace() || ",()[]:".contains(c))
            .unwrap_or(text.len() - offset)
            .max(1)
            .min(text.len().saturating_sub(offset).max(1));
        let label = if d.path.is_empty() {
            "here".to_owned()
        } else {
            d.path.clone()
        };
        let diagnostic = miette::MietteDiagnostic::new(d.message.clone())
            .with_label(miette::LabeledSpan::at(offset..offset + len, label));
        let report =
            miette::Report::new(diagnostic).with_source_code(miette::NamedSource::new(file, text));
        let mut out = String::new();
        if handler.render_report(&mut out, report.as_ref()).is_ok() {
            eprint!("{out}");
        }
    }
}

/// The byte offset of 1-based `line`, `column` (in characters) in `text`.
fn byte_offset(text: &str, line: usize, column: usize) -> Option<usize> {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.checked_sub(1)?)
        .map(str::len)
        .sum();
    let rest = text.get(start..)?;
    let within = rest
        .char_indices()
        .nth(column.checked_sub(1)?)
        .map_or(rest.len(), |(i, _)| i);
    (start + within <= text.len()).then_some(start + within)
}
