//! The `mix` section: MixUp and CutMix of whole training batches with mixed (soft) labels,
//! as timm's `Mixup` (`timm.data.mixup`), whose field names, defaults and meaning it keeps.
//!
//! Each training batch (after augmentation and normalisation) is mixed with itself in
//! reverse order, `x.flip(0)`: example `i` is paired with example `N − 1 − i`.
//! - MixUp: `x ← λ·x + (1 − λ)·x.flip(0)`, with λ ~ Beta(`mixup_alpha`, `mixup_alpha`).
//! - CutMix: a box of area `(1 − λ)·H·W`, λ ~ Beta(`cutmix_alpha`, `cutmix_alpha`), centred
//!   at a uniformly drawn pixel and clipped to the image, is pasted from `x.flip(0)`; with
//!   `correct_lam` λ becomes `1 − box area / image area` of the clipped box.
//!
//! The target of example `i` becomes `λ·onehot(yᵢ) + (1 − λ)·onehot(y_{N−1−i})`, smoothed
//! by `label_smoothing` (`onehot` is `1 − ε + ε/K` on the class, `ε/K` elsewhere). Batches
//! that are not mixed (with `prob < 1`) keep their images and get the smoothed one-hot
//! targets, so every batch of a run is scored the same way.
//!
//! The losses that take such targets are `CrossEntropy` (PyTorch's cross-entropy with class
//! probabilities: `−Σ_c w_c·p_c·log softmax_c`, averaged over the batch — with class
//! weights, the mean is over examples, not over the weights as for class indices) and
//! `BinaryCrossEntropy` (each output against its probability). `Mse`, `L1` and `Huber`
//! are defined here against a one-hot target and are refused.
//!
//! λ and the boxes are drawn from a generator seeded by the pipeline's seed, the epoch and
//! the batch's index only, so a run repeats and resumes exactly. Validation and test
//! batches are never mixed. The training accuracy, top-5 accuracy and F1 count a mixed
//! example as its dominant label: its own when λ ≥ 0.5, else its partner's.

#![allow(clippy::neg_cmp_op_on_partial_ord)]

use serde::{Deserialize, Serialize};

use crate::schema::PipelineFile;
use crate::training::LossSpec;

/// MixUp and/or CutMix of training batches (timm's `Mixup`); e.g.
/// `mix: (mixup_alpha: 0.2, cutmix_alpha: 1.0, label_smoothing: 0.0)`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MixSpec {
    /// α of MixUp's Beta(α, α) for λ; 0 turns MixUp off. 1.0 by default (timm's); 0.2 is
    /// common for small data sets.
    #[serde(default = "one")]
    pub mixup_alpha: f64,
    /// α of CutMix's Beta(α, α) for λ; 0 (the default) turns CutMix off.
    #[serde(default)]
    pub cutmix_alpha: f64,
    /// CutMix box sides as fractions of the image sides, `(min, max)`: each side is drawn
    /// uniformly (in whole pixels) from `[min·H, max·H)` instead of from λ, the box lies
    /// wholly inside the image, and λ is its area's complement. Turns CutMix on (timm sets
    /// `cutmix_alpha` to 1 then) and overrides `cutmix_alpha`'s draw.
    #[serde(default)]
    pub cutmix_minmax: Option<(f64, f64)>,
    /// Probability that a batch (an element, in `Elem`/`Pair` mode) is mixed at all.
    #[serde(default = "one")]
    pub prob: f64,
    /// With both MixUp and CutMix on, the probability of CutMix rather than MixUp.
    #[serde(default = "half")]
    pub switch_prob: f64,
    /// `Batch`: one λ (and one box) for the whole batch; `Pair`: one per pair (i, N−1−i);
    /// `Elem`: one per example.
    #[serde(default)]
    pub mode: MixMode,
    /// CutMix: recompute λ from the box after it is clipped to the image (timm's default).
    #[serde(default = "yes")]
    pub correct_lam: bool,
    /// ε of the label smoothing of the mixed targets; 0.1 by default, as timm's `Mixup`.
    /// `loss.label_smoothing` gives the same targets (smoothing and mixing commute), so
    /// give it in one place only.
    #[serde(default = "default_smoothing")]
    pub label_smoothing: f64,
}

/// How many λ a batch draws (timm's `mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum MixMode {
    /// One λ, one choice of MixUp or CutMix and one box for the whole batch.
    #[default]
    Batch,
    /// One per pair of examples (i, N − 1 − i), shared by both (the middle example of an
    /// odd batch is left as it is).
    Pair,
    /// One per example.
    Elem,
}

fn one() -> f64 {
    1.0
}
fn half() -> f64 {
    0.5
}
fn yes() -> bool {
    true
}
fn default_smoothing() -> f64 {
    0.1
}

impl MixSpec {
    /// Whether MixUp can be drawn.
    pub fn mixup_on(&self) -> bool {
        self.mixup_alpha > 0.0
    }

    /// Whether CutMix can be drawn (`cutmix_alpha > 0` or a `cutmix_minmax`).
    pub fn cutmix_on(&self) -> bool {
        self.cutmix_alpha > 0.0 || self.cutmix_minmax.is_some()
    }

    /// `MixUp`, `CutMix` or `MixUp+CutMix`, for logs and hyperparameter tables.
    pub fn describe(&self) -> &'static str {
        match (self.mixup_on(), self.cutmix_on()) {
            (true, true) => "MixUp+CutMix",
            (true, false) => "MixUp",
            (false, true) => "CutMix",
            (false, false) => "none",
        }
    }
}

/// Every problem of the `mix` section of `file`, each as (path such as `mix.mixup_alpha`,
/// message), including the sections it cannot go with (the loss, `model.cache_features`).
/// Empty when there is no `mix` or it is valid.
pub fn check_mix(file: &PipelineFile) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let Some(m) = &file.mix else {
        return errors;
    };
    let mut bad = |field: &str, msg: String| errors.push((format!("mix.{field}"), msg));
    for (name, a) in [
        ("mixup_alpha", m.mixup_alpha),
        ("cutmix_alpha", m.cutmix_alpha),
    ] {
        if !(a >= 0.0 && a.is_finite()) {
            bad(
                name,
                format!("{name} must be ≥ 0 (α of Beta(α, α); 0 turns it off), found {a}"),
            );
        }
    }
    for (name, p) in [("prob", m.prob), ("switch_prob", m.switch_prob)] {
        if !(0.0..=1.0).contains(&p) {
            bad(
                name,
                format!("{name} must be a probability in [0, 1], found {p}"),
            );
        }
    }
    if let Some((lo, hi)) = m.cutmix_minmax
        && !(lo >= 0.0 && lo < hi && hi <= 1.0)
    {
        bad(
            "cutmix_minmax",
            format!(
                "cutmix_minmax must be side fractions (min, max) with 0 ≤ min < max ≤ 1, found ({lo}, {hi})"
            ),
        );
    }
    let eps = m.label_smoothing;
    if !(0.0..1.0).contains(&eps) {
        bad(
            "label_smoothing",
            format!("label_smoothing must be in [0, 1), found {eps}"),
        );
    }
    if m.mixup_alpha == 0.0 && !m.cutmix_on() {
        errors.push((
            "mix".to_owned(),
            "mixup_alpha and cutmix_alpha are both 0, so nothing would be mixed; set one above 0 \
             (e.g. mixup_alpha: 0.2) or remove mix"
                .to_owned(),
        ));
    }
    match &file.loss {
        LossSpec::CrossEntropy {
            label_smoothing, ..
        } if *label_smoothing > 0.0 && eps > 0.0 => errors.push((
            "mix.label_smoothing".to_owned(),
            format!(
                "label smoothing is given twice: loss.label_smoothing {label_smoothing} and \
                 mix.label_smoothing {eps} (0.1 unless given, as timm's); give it in one place, \
                 e.g. mix.label_smoothing: {label_smoothing} and CrossEntropy()"
            ),
        )),
        LossSpec::CrossEntropy { .. } | LossSpec::BinaryCrossEntropy { .. } => {}
        other => {
            let name = match other {
                LossSpec::Mse {} => "Mse",
                LossSpec::L1 {} => "L1",
                _ => "Huber",
            };
            errors.push((
                "mix".to_owned(),
                format!(
                    "mix makes soft targets, which loss {name} does not take (it compares the \
                     softmax with a one-hot target); use CrossEntropy() or BinaryCrossEntropy(), \
                     or remove mix"
                ),
            ));
        }
    }
    if file.model.cache_features {
        errors.push((
            "mix".to_owned(),
            "mix changes the input images every batch, so features cached from the frozen \
             layers would not match them; remove mix or model.cache_features"
                .to_owned(),
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pipeline around `mix` and `loss` (the data files are never read).
    fn file(mix: &str, loss: &str, cache: bool) -> PipelineFile {
        let text = format!(
            "(epochs: 1, data: (source: Idx(images: \"i\", labels: \"l\")), \
             model: (layers: [Flatten, Linear(units: 2)], cache_features: {cache}), \
             loss: {loss}, optimizer: Sgd(lr: 0.1), mix: {mix})"
        );
        ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
            .from_str(&text)
            .unwrap()
    }

    fn paths(errors: &[(String, String)]) -> Vec<&str> {
        errors.iter().map(|(p, _)| p.as_str()).collect()
    }

    #[test]
    fn defaults_are_timms() {
        let f = file("(cutmix_alpha: 1.0)", "CrossEntropy()", false);
        let m = f.mix.as_ref().unwrap();
        assert_eq!(
            (m.mixup_alpha, m.prob, m.switch_prob, m.label_smoothing),
            (1.0, 1.0, 0.5, 0.1)
        );
        assert!(m.correct_lam && m.mode == MixMode::Batch && m.cutmix_minmax.is_none());
        assert_eq!(m.describe(), "MixUp+CutMix");
        assert!(check_mix(&f).is_empty(), "{:?}", check_mix(&f));
        assert!(check_mix(&file("None", "Mse()", true)).is_empty());
    }

    #[test]
    fn bad_values_are_reported_with_their_path() {
        let f = file(
            "(mixup_alpha: -1.0, cutmix_alpha: inf, prob: 1.5, switch_prob: -0.1, \
             cutmix_minmax: (0.6, 0.4), label_smoothing: 1.0)",
            "BinaryCrossEntropy()",
            false,
        );
        let errors = check_mix(&f);
        assert_eq!(
            paths(&errors),
            [
                "mix.mixup_alpha",
                "mix.cutmix_alpha",
                "mix.prob",
                "mix.switch_prob",
                "mix.cutmix_minmax",
                "mix.label_smoothing",
            ],
            "{errors:?}"
        );
        assert!(errors[2].1.contains("[0, 1], found 1.5"), "{}", errors[2].1);
    }

    #[test]
    fn nothing_to_mix_is_an_error() {
        let errors = check_mix(&file("(mixup_alpha: 0.0)", "CrossEntropy()", false));
        assert_eq!(paths(&errors), ["mix"]);
        assert!(errors[0].1.contains("both 0"), "{}", errors[0].1);
        // cutmix_minmax alone turns CutMix on.
        let f = file(
            "(mixup_alpha: 0.0, cutmix_minmax: Some((0.2, 0.8)))",
            "CrossEntropy()",
            false,
        );
        assert!(check_mix(&f).is_empty());
        assert_eq!(f.mix.unwrap().describe(), "CutMix");
    }

    #[test]
    fn losses_without_soft_targets_and_cached_features_are_refused() {
        for loss in ["Mse()", "L1()", "Huber(delta: 1.0)"] {
            let errors = check_mix(&file("(mixup_alpha: 0.2)", loss, false));
            assert_eq!(paths(&errors), ["mix"], "{loss}");
            assert!(errors[0].1.contains("does not take"), "{}", errors[0].1);
        }
        let errors = check_mix(&file("(mixup_alpha: 0.2)", "CrossEntropy()", true));
        assert!(errors[0].1.contains("cache_features"), "{errors:?}");
        let errors = check_mix(&file(
            "(mixup_alpha: 0.2)",
            "CrossEntropy(label_smoothing: 0.1)",
            false,
        ));
        assert_eq!(paths(&errors), ["mix.label_smoothing"]);
        // Smoothing in the loss alone is fine.
        let f = file(
            "(mixup_alpha: 0.2, label_smoothing: 0.0)",
            "CrossEntropy(label_smoothing: 0.1)",
            false,
        );
        assert!(check_mix(&f).is_empty());
    }
}
