//! `metrics.csv`: one row per epoch, flushed to disk as each epoch ends.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::StoreError;

/// Appends rows with a fixed set of columns; the header is written once.
#[derive(Debug)]
pub struct MetricsCsv {
    path: PathBuf,
    columns: Vec<String>,
    separator: char,
}

impl MetricsCsv {
    pub fn create(path: &Path, columns: &[&str]) -> Result<Self, StoreError> {
        Self::create_with(path, columns, ',')
    }

    /// Like [`Self::create`] with another field separator (Keras' CSVLogger `separator`).
    pub fn create_with(path: &Path, columns: &[&str], separator: char) -> Result<Self, StoreError> {
        let me = MetricsCsv {
            path: path.to_owned(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            separator,
        };
        if !path.exists() {
            me.append_line(&me.columns.join(&separator.to_string()))?;
        }
        Ok(me)
    }

    /// Keeps the header and the first `rows` rows, dropping the rest (rows written after
    /// the checkpoint a run resumes from); atomic.
    pub fn keep_rows(&self, rows: usize) -> Result<(), StoreError> {
        let text = match fs_err::read_to_string(&self.path) {
            Ok(t) => t,
            Err(_) => return Ok(()),
        };
        let kept: Vec<&str> = text.lines().take(rows + 1).collect();
        let mut out = kept.join("\n");
        out.push('\n');
        crate::write_atomic(&self.path, out.as_bytes())
    }

    /// Appends one row; values are in `columns` order.
    pub fn append(&self, values: &[f64]) -> Result<(), StoreError> {
        debug_assert_eq!(values.len(), self.columns.len());
        let row: Vec<String> = values.iter().map(|v| format_value(*v)).collect();
        self.append_line(&row.join(&self.separator.to_string()))
    }

    fn append_line(&self, line: &str) -> Result<(), StoreError> {
        let io = || -> std::io::Result<()> {
            let mut f = fs_err::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            writeln!(f, "{line}")?;
            f.sync_data()
        };
        io().map_err(|source| StoreError::Write {
            path: self.path.clone(),
            source,
        })
    }
}

/// Integers without a fraction, everything else with full precision.
fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_once_then_rows() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("metrics.csv");
        MetricsCsv::create(&p, &["epoch", "loss"])
            .unwrap()
            .append(&[1.0, 0.25])
            .unwrap();
        MetricsCsv::create(&p, &["epoch", "loss"])
            .unwrap()
            .append(&[2.0, 0.125])
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "epoch,loss\n1,0.25\n2,0.125\n"
        );
        let csv = MetricsCsv::create(&p, &["epoch", "loss"]).unwrap();
        csv.keep_rows(1).unwrap();
        csv.append(&[2.0, 0.5]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "epoch,loss\n1,0.25\n2,0.5\n"
        );
    }
}
