//! Transfer learning: loading saved weights by state_dict name, strictly or partially, as
//! PyTorch's `load_state_dict(strict=…)` does.

use std::collections::BTreeMap;
use std::path::Path;

use ronin_spec::ModelGraph;
use tch::{Kind, Tensor, nn::VarStore};

use crate::RunnerError;

/// What a load matched, as `load_state_dict` reports it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LoadReport {
    /// Model tensors taken from the file.
    pub loaded: Vec<String>,
    /// Model tensors the file does not have (they keep their initialisation).
    pub missing: Vec<String>,
    /// File tensors the model does not have.
    pub unexpected: Vec<String>,
    /// Tensors of both, of different shapes: (name, model shape, file shape).
    pub mismatched: Vec<(String, Vec<i64>, Vec<i64>)>,
    /// Model tensors left out on purpose (the head, with `skip_head`).
    pub skipped: Vec<String>,
}

impl LoadReport {
    pub fn is_exact(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.mismatched.is_empty()
    }

    /// One line per kind of difference, for the terminal and the run's log.
    pub fn describe(&self) -> String {
        let mut out = format!("{} tensors loaded", self.loaded.len());
        let list = |v: &[String]| {
            let shown: Vec<&str> = v.iter().take(8).map(String::as_str).collect();
            let more = v.len().saturating_sub(shown.len());
            format!(
                "{}{}",
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            )
        };
        if !self.skipped.is_empty() {
            out += &format!("; head left as initialised: {}", list(&self.skipped));
        }
        if !self.missing.is_empty() {
            out += &format!("; missing from the file: {}", list(&self.missing));
        }
        if !self.unexpected.is_empty() {
            out += &format!(
                "; unexpected (not in the model): {}",
                list(&self.unexpected)
            );
        }
        for (name, model, file) in &self.mismatched {
            out += &format!("; {name}: the model has shape {model:?}, the file {file:?}");
        }
        out
    }
}

/// PyTorch's counter of batch-norm updates: in torchvision state_dicts, never in ours.
fn is_batch_counter(name: &str) -> bool {
    name.ends_with(".num_batches_tracked")
}

/// Copies the tensors of `file` into `vars` by name. `strict` refuses any difference
/// (nothing is copied then); otherwise what matches is copied and the rest reported.
/// `skip_head` leaves the graph's head as initialised, counting it neither missing nor
/// mismatched.
pub fn load_weights(
    vars: &VarStore,
    graph: &ModelGraph,
    file: &Path,
    strict: bool,
    skip_head: bool,
) -> Result<LoadReport, RunnerError> {
    let bad = |message: String| RunnerError::Checkpoint {
        path: file.to_owned(),
        message,
    };
    if !file.is_file() {
        return Err(bad(
            "the file does not exist; convert the weights first (README, transfer learning) or fix model.weights".into(),
        ));
    }
    let saved: BTreeMap<String, Tensor> = Tensor::read_safetensors(file)
        .map_err(|e| bad(format!("not a readable safetensors file ({e})")))?
        .into_iter()
        .filter(|(n, _)| !is_batch_counter(n))
        .collect();
    let head: Vec<String> = match (skip_head, graph.head()) {
        (true, Some(h)) => h.params.iter().map(|p| p.name.clone()).collect(),
        _ => Vec::new(),
    };
    let mut model = vars.variables();
    let mut report = LoadReport::default();
    let mut plan = Vec::new();
    for p in graph.params() {
        if head.contains(&p.name) {
            report.skipped.push(p.name.clone());
            continue;
        }
        let Some(target) = model.remove(&p.name) else {
            continue;
        };
        match saved.get(&p.name) {
            None => report.missing.push(p.name.clone()),
            Some(src) if src.size() != target.size() => {
                report
                    .mismatched
                    .push((p.name.clone(), target.size(), src.size()))
            }
            Some(src) => plan.push((p.name.clone(), target, src)),
        }
    }
    report.unexpected = saved
        .keys()
        .filter(|k| graph.params().all(|p| &p.name != *k))
        .cloned()
        .collect();
    if strict && !report.is_exact() {
        return Err(bad(format!(
            "strict loading needs every tensor with its shape and nothing else: {}; set model.weights.strict: false to load what matches (or skip_head: true for a new head)",
            report.describe()
        )));
    }
    let _guard = tch::no_grad_guard();
    for (name, mut target, src) in plan {
        let value = src
            .f_to_kind(Kind::Float)?
            .f_to_device(target.device())?
            .f_to_kind(target.kind())?;
        target.f_copy_(&value)?;
        report.loaded.push(name);
    }
    Ok(report)
}

/// Where training starts: the index of the first node that trains (every node before it
/// is frozen) and each node's learning-rate multiplier (`backbone_lr / lr` before the
/// head — or before the frozen boundary — and 1 from there on).
pub fn param_groups(
    pipeline: &ronin_spec::Pipeline,
) -> Result<(usize, impl Fn(usize) -> f64 + use<>), RunnerError> {
    let m = &pipeline.file.model;
    let g = &pipeline.graph;
    let invalid = |what: String| RunnerError::Unsupported { what };
    let frozen_until = g
        .frozen_until(m.freeze.as_ref())
        .map_err(|e| invalid(format!("model.freeze: {e}")))?;
    let backbone_end = match &m.freeze {
        Some(f) => g.frozen_until(Some(f)),
        None => g.frozen_until(Some(&ronin_spec::FreezeSpec::AllButHead)),
    }
    .unwrap_or(0);
    let lr = pipeline.file.optimizer.lr();
    let scale = match m.backbone_lr {
        Some(b) if lr > 0.0 => b / lr,
        _ => 1.0,
    };
    Ok((
        frozen_until,
        move |node: usize| {
            if node < backbone_end { scale } else { 1.0 }
        },
    ))
}

/// `weights.json` in the run: which file the weights came from (with its sha256) and what
/// was loaded, so the run says how it started.
pub fn record(run: &Path, file: &Path, report: &LoadReport) -> Result<(), RunnerError> {
    let bytes = fs_err::read(file).map_err(|source| RunnerError::Io {
        path: file.to_owned(),
        source,
    })?;
    let json = serde_json::json!({
        "file": file.display().to_string(),
        "sha256": ronin_store::sha256_hex(&bytes),
        "loaded": report.loaded,
        "missing": report.missing,
        "unexpected": report.unexpected,
        "mismatched": report.mismatched.iter().map(|(n, m, f)| serde_json::json!({"name": n, "model": m, "file": f})).collect::<Vec<_>>(),
        "skipped_head": report.skipped,
    });
    let path = run.join("weights.json");
    let text = serde_json::to_vec_pretty(&json).map_err(|e| RunnerError::Encode {
        what: path.display().to_string(),
        message: e.to_string(),
    })?;
    ronin_store::write_atomic(&path, &text)?;
    Ok(())
}
