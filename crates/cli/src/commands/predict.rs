//! `ronin predict MODEL INPUT…`: top-k classes through ONNX Runtime, and pseudo-labelling:
//! the confident predictions written as a labelled IDX dataset.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use ndarray::{Array4, Axis};
use ronin_export::{InputPolicy, Manifest, ManifestDim, Runtime, SessionOptions};
use ronin_spec::ColorSpec;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ONNX model written by `ronin export` (its manifest must sit beside it).
    model: PathBuf,
    /// Images (PNG, JPEG, BMP), folders of them (searched recursively, in name order), or
    /// IDX image files (raw or gzip).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// How many classes to show per input.
    #[arg(long, short = 'k', default_value_t = 3)]
    top_k: usize,
    /// Predict at most N images of each IDX file.
    #[arg(long)]
    limit: Option<usize>,
    /// IDX label file for the one IDX input: also print the accuracy.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Print JSON lines instead of text.
    #[arg(long)]
    json: bool,
    /// ONNX Runtime intra-op threads (default: ONNX Runtime's choice).
    #[arg(long)]
    threads: Option<usize>,
    /// ONNX Runtime graph optimisation level.
    #[arg(long, value_enum, default_value = "all")]
    opt_level: super::eval::OptLevel,
    /// Where ONNX Runtime computes: `cpu`, `cuda` / `cuda:N` (an error when this ONNX
    /// Runtime has no CUDA execution provider), or `auto` (CUDA device 0 when available).
    #[arg(long, value_name = "DEVICE", default_value = "auto", value_parser = super::eval::parse_device)]
    device: ronin_export::ExecutionDevice,
    /// Pseudo-labelling: write the inputs whose top probability reaches --threshold, with
    /// their predicted class, to DIR as IDX files (images-idx3-ubyte, labels-idx1-ubyte,
    /// classes.txt) and DIR/pseudo_labels.csv, for `data.extra_train`.
    #[arg(long, value_name = "DIR")]
    pseudo_label: Option<PathBuf>,
    /// The confidence a pseudo-label needs (a probability in (0, 1]).
    #[arg(long, default_value_t = 0.9, requires = "pseudo_label")]
    threshold: f32,
    /// Keep at most the N most confident inputs of each predicted class, so the easy
    /// classes do not crowd out the hard ones.
    #[arg(long, value_name = "N", requires = "pseudo_label")]
    per_class: Option<usize>,
}

const CHUNK: usize = 256;

/// Input shape (C, H, W) from the manifest.
fn chw(m: &Manifest) -> anyhow::Result<[usize; 3]> {
    match m.input_shape.as_slice() {
        [
            _,
            ManifestDim::Fixed(c),
            ManifestDim::Fixed(h),
            ManifestDim::Fixed(w),
        ] => Ok([*c, *h, *w]),
        other => bail!("the manifest's input shape {other:?} is not [batch, C, H, W]"),
    }
}

/// One command-line input: its examples' names and where their pixels come from. Only
/// headers are read up front; pixels are decoded chunk by chunk while predicting.
struct Input {
    names: Vec<String>,
    pixels: Pixels,
}

enum Pixels {
    /// An IDX file's images (the first `names.len()`), as bytes.
    Idx(ronin_data::idx::IdxImages),
    /// Image files, decoded as a folder source decodes them for training, to `colour`.
    Files {
        files: Vec<PathBuf>,
        colour: ColorSpec,
    },
}

impl Input {
    /// A folder (every PNG/JPEG/BMP under it, in path order), an IDX file (its first
    /// `limit` images) or one image file, checked against the model's `shape` and the
    /// manifest's `policy` from their headers.
    fn scan(
        path: &Path,
        shape: [usize; 3],
        limit: Option<usize>,
        policy: InputPolicy,
    ) -> anyhow::Result<Self> {
        if path.is_dir() {
            let files = image_files(path)?;
            check_headers(&files, shape, policy, path)?;
            return Self::files(files, shape);
        }
        if ronin_data::idx::looks_like_idx(path)? {
            let images = ronin_data::idx::read_images(path)?;
            if images.shape != shape {
                bail!(
                    "{}: images are {:?} but the model takes {:?}",
                    path.display(),
                    images.shape,
                    shape
                );
            }
            let n = limit.map_or(images.count, |l| l.min(images.count));
            let names = (0..n).map(|i| format!("{}#{i}", path.display())).collect();
            return Ok(Self {
                names,
                pixels: Pixels::Idx(images),
            });
        }
        let files = vec![path.to_owned()];
        check_headers(&files, shape, policy, path)?;
        Self::files(files, shape)
    }

    fn files(files: Vec<PathBuf>, [c, ..]: [usize; 3]) -> anyhow::Result<Self> {
        let colour = match c {
            1 => ColorSpec::Grayscale,
            3 => ColorSpec::Rgb,
            other => bail!(
                "the model takes {other} channels; only 1 (grayscale) and 3 (RGB) images are supported"
            ),
        };
        Ok(Self {
            names: files.iter().map(|f| f.display().to_string()).collect(),
            pixels: Pixels::Files { files, colour },
        })
    }

    /// Examples `range` as the model's input, pixels in [0, 1].
    ///
    /// # Shapes
    /// Returns `[range.len(), C, H, W]` of `shape`.
    fn batch(
        &self,
        range: std::ops::Range<usize>,
        shape: [usize; 3],
    ) -> anyhow::Result<Array4<f32>> {
        let [c, h, w] = shape;
        let per = c * h * w;
        let n = range.len();
        let bytes: Vec<u8> = match &self.pixels {
            Pixels::Idx(images) => images.pixels[range.start * per..range.end * per].to_vec(),
            Pixels::Files { files, colour } => {
                let mut out = Vec::with_capacity(n * per);
                for f in &files[range] {
                    out.extend(ronin_data::decode_image(f, *colour, shape)?);
                }
                out
            }
        };
        Ok(Array4::from_shape_vec(
            (n, c, h, w),
            bytes.into_iter().map(|b| f32::from(b) / 255.0).collect(),
        )?)
    }
}

/// Every PNG/JPEG/BMP under `dir`, in path order.
fn image_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs_err::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                ["png", "jpg", "jpeg", "bmp"].contains(&e.to_ascii_lowercase().as_str())
            }) {
                files.push(path);
            }
        }
    }
    files.sort();
    if files.is_empty() {
        bail!("{} holds no PNG, JPEG or BMP image", dir.display());
    }
    Ok(files)
}

/// Reads every file's header: each must be an image, and of the model's size and channels
/// under [`InputPolicy::Refuse`]. Under [`InputPolicy::Bilinear`] another size is resized
/// (triangle filter) and another channel count converted (colour → gray by ITU-R 601-2
/// luma as PIL's `convert("L")`, gray → RGB by repetition) when decoded, with a note.
fn check_headers(
    files: &[PathBuf],
    shape: [usize; 3],
    policy: InputPolicy,
    input: &Path,
) -> anyhow::Result<()> {
    let [c, h, w] = shape;
    let mut resized = Vec::new();
    for f in files {
        let head = ronin_data::image_header(f).with_context(|| {
            format!(
                "{} is neither an image ronin can read (PNG, JPEG, BMP) nor an IDX file",
                f.display()
            )
        })?;
        let same_size = (head.width, head.height) == (w, h);
        if policy == InputPolicy::Refuse && (!same_size || head.channels != c) {
            bail!(
                "{} is {}×{} with {} channel(s), but the model takes {w}×{h} with {c} channel(s) and its manifest's input_policy is \"refuse\"; convert the image first, or export with `export: (resize: Bilinear)` to let ronin resize it",
                f.display(),
                head.width,
                head.height,
                head.channels
            );
        }
        if !same_size {
            resized.push((f, head));
        }
    }
    match resized.as_slice() {
        [] => {}
        [(f, head)] if files.len() == 1 => eprintln!(
            "note: {} is {}×{}; resized to {w}×{h}",
            f.display(),
            head.width,
            head.height
        ),
        [(first, head), ..] => eprintln!(
            "note: {} of the {} images of {} are not {w}×{h} and are resized (the first, {}, is {}×{})",
            resized.len(),
            files.len(),
            input.display(),
            first.display(),
            head.width,
            head.height
        ),
    }
    Ok(())
}

/// (mean, std) for each of `channels`, when the caller must normalize (not in the graph).
/// A manifest may give one value for every channel or one per channel.
fn channel_normalization(m: &Manifest, channels: usize) -> anyhow::Result<Option<Vec<(f32, f32)>>> {
    let Some(n) = m.normalization.as_ref().filter(|n| !n.in_graph) else {
        return Ok(None);
    };
    let pick = |values: &[f32], what: &str, ch: usize| match values.len() {
        1 => Ok(values[0]),
        len if len == channels => Ok(values[ch]),
        len => Err(anyhow::anyhow!(
            "normalization has {len} {what} values for a {channels}-channel input (expected 1 or {channels})"
        )),
    };
    (0..channels)
        .map(|ch| {
            let (mean, std) = (pick(&n.mean, "mean", ch)?, pick(&n.std, "std", ch)?);
            anyhow::ensure!(
                std > 0.0 && std.is_finite(),
                "normalization std {std} must be a positive number"
            );
            Ok((mean, std))
        })
        .collect::<anyhow::Result<Vec<_>>>()
        .map(Some)
}

/// Exit codes: 0 when every input was predicted, [`crate::exit::INVALID`] when the model,
/// its manifest, the labels or an input cannot be used (nothing is predicted: every input
/// is read first), [`crate::exit::FAILED`] when running the model or writing fails.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let ready = match prepare(&args) {
        Ok(ready) => ready,
        Err(Refusal::Invalid(err)) => {
            crate::print_error(&err);
            return Ok(ExitCode::from(crate::exit::INVALID));
        }
        Err(Refusal::Failed(err)) => return Err(err),
    };
    ready.predict(&args)
}

/// Why nothing was predicted: unusable input, or a failure of the machine.
enum Refusal {
    Invalid(anyhow::Error),
    Failed(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for Refusal {
    fn from(e: E) -> Self {
        Refusal::Invalid(e.into())
    }
}

/// Everything read and checked before the first prediction.
struct Ready {
    manifest: Manifest,
    shape: [usize; 3],
    model: ronin_export::OnnxModel,
    labels: Option<Vec<u8>>,
    normalization: Option<Vec<(f32, f32)>>,
    inputs: Vec<Input>,
}

fn prepare(args: &Args) -> Result<Ready, Refusal> {
    let manifest_path = Manifest::path_for(&args.model);
    if !args.model.is_file() {
        return Err(Refusal::Invalid(anyhow::anyhow!(
            "{} does not exist; write one with `ronin export <run>`",
            args.model.display()
        )));
    }
    let manifest = Manifest::read(&manifest_path).with_context(|| {
        format!(
            "{} needs its manifest {} (written by `ronin export`)",
            args.model.display(),
            manifest_path.display()
        )
    })?;
    let shape = chw(&manifest)?;
    let runtime = Runtime::global().map_err(|e| Refusal::Failed(e.into()))?;
    let options = SessionOptions {
        intra_threads: args.threads,
        optimization: args.opt_level.into(),
        device: args.device,
    };
    let model = match runtime.load_file(&args.model, &options) {
        Ok(m) => m,
        Err(
            e @ (ronin_export::ExportError::NoCuda { .. }
            | ronin_export::ExportError::CudaFailed { .. }),
        ) => {
            return Err(Refusal::Failed(e.into()));
        }
        Err(e) => return Err(e.into()),
    };
    super::eval::note_placement(&model);
    let labels = match &args.labels {
        Some(p) => Some(ronin_data::idx::read_labels(p)?),
        None => None,
    };
    let normalization = channel_normalization(&manifest, shape[0]).with_context(|| {
        format!(
            "{} is inconsistent; export the model again",
            manifest_path.display()
        )
    })?;
    if args.pseudo_label.is_some() && !(args.threshold > 0.0 && args.threshold <= 1.0) {
        return Err(Refusal::Invalid(anyhow::anyhow!(
            "--threshold must be a probability in (0, 1], found {}",
            args.threshold
        )));
    }
    let inputs: Vec<Input> = args
        .inputs
        .iter()
        .map(|input| Input::scan(input, shape, args.limit, manifest.input_policy))
        .collect::<anyhow::Result<_>>()?;
    if let (Some(labels), Some(path)) = (&labels, &args.labels) {
        let [input] = inputs.as_slice() else {
            return Err(Refusal::Invalid(anyhow::anyhow!(
                "--labels {} goes with one input (the IDX images it labels), not {}",
                path.display(),
                inputs.len()
            )));
        };
        if labels.len() < input.names.len() {
            return Err(Refusal::Invalid(anyhow::anyhow!(
                "--labels {} holds {} labels for the {} images of {}",
                path.display(),
                labels.len(),
                input.names.len(),
                args.inputs[0].display()
            )));
        }
    }
    Ok(Ready {
        manifest,
        shape,
        model,
        labels,
        normalization,
        inputs,
    })
}

impl Ready {
    /// Predicts every input, chunk by chunk.
    fn predict(&self, args: &Args) -> anyhow::Result<ExitCode> {
        let mut pseudo = args.pseudo_label.as_ref().map(|_| PseudoLabels::default());
        let (mut correct, mut total) = (0usize, 0usize);
        for input in &self.inputs {
            let names = &input.names;
            for start in (0..names.len()).step_by(CHUNK) {
                let end = (start + CHUNK).min(names.len());
                let mut batch = input.batch(start..end, self.shape)?;
                let raw = pseudo.as_ref().map(|_| batch.clone());
                if let Some(per_channel) = &self.normalization {
                    for (mut plane, &(m, sd)) in batch.axis_iter_mut(Axis(1)).zip(per_channel) {
                        plane.mapv_inplace(|v| (v - m) / sd);
                    }
                }
                let scores = self.model.run(batch.view())?;
                let tops = ronin_export::top_k_batch(
                    scores.view(),
                    args.top_k,
                    self.manifest.softmax_in_graph,
                );
                for (i, top) in tops.iter().enumerate() {
                    let name = &names[start + i];
                    let class = |idx: usize| {
                        self.manifest
                            .class_names
                            .get(idx)
                            .cloned()
                            .unwrap_or_else(|| idx.to_string())
                    };
                    let truth = self.labels.as_ref().and_then(|l| l.get(start + i).copied());
                    if let (Some(y), Some((best, _))) = (truth, top.first()) {
                        total += 1;
                        correct += usize::from(usize::from(y) == *best);
                    }
                    if let (Some(p), Some(raw), Some(&(best, prob))) =
                        (&mut pseudo, &raw, top.first())
                    {
                        p.offer(
                            name,
                            raw.index_axis(Axis(0), i),
                            best,
                            prob,
                            args.threshold,
                            truth,
                        );
                    }
                    if args.json {
                        let top: Vec<_> = top
                        .iter()
                        .map(|(idx, p)| serde_json::json!({"class": class(*idx), "index": idx, "probability": p}))
                        .collect();
                        println!("{}", serde_json::json!({"input": name, "top": top}));
                    } else {
                        let text: Vec<String> = top
                            .iter()
                            .map(|(idx, p)| format!("{} {:.4}", class(*idx), p))
                            .collect();
                        println!("{name}: {}", text.join(", "));
                    }
                }
            }
        }
        if total > 0 {
            eprintln!(
                "accuracy: {:.4} ({correct}/{total})",
                correct as f64 / total as f64
            );
        }
        if let (Some(p), Some(dir)) = (pseudo, &args.pseudo_label) {
            p.write(
                dir,
                self.shape,
                &self.manifest.class_names,
                args.threshold,
                args.per_class,
            )?;
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// One confident prediction kept for `--pseudo-label`.
struct Kept {
    pixels: Vec<u8>,
    label: u8,
    probability: f32,
    truth: Option<u8>,
    row: String,
}

/// The confident predictions collected for `--pseudo-label`.
#[derive(Default)]
struct PseudoLabels {
    kept: Vec<Kept>,
    offered: usize,
}

impl PseudoLabels {
    fn offer(
        &mut self,
        name: &str,
        image: ndarray::ArrayView3<'_, f32>,
        class: usize,
        probability: f32,
        threshold: f32,
        truth: Option<u8>,
    ) {
        self.offered += 1;
        let Ok(label) = u8::try_from(class) else {
            return;
        };
        if probability < threshold {
            return;
        }
        let csv_name = name.replace('"', "\"\"");
        self.kept.push(Kept {
            // Pixels were read as byte / 255: this gives the bytes back.
            pixels: image
                .iter()
                .map(|&v| (v * 255.0).round().clamp(0.0, 255.0) as u8)
                .collect(),
            label,
            probability,
            truth,
            row: format!(
                "\"{csv_name}\",{class},{probability:.6},{}",
                truth.map_or_else(String::new, |y| y.to_string())
            ),
        });
    }

    /// Keeps the `n` most confident of each class (ties by input order), in input order.
    fn cap_per_class(&mut self, n: usize) {
        let mut order: Vec<usize> = (0..self.kept.len()).collect();
        order.sort_by(|&a, &b| {
            let (ka, kb) = (&self.kept[a], &self.kept[b]);
            ka.label
                .cmp(&kb.label)
                .then(kb.probability.total_cmp(&ka.probability))
                .then(a.cmp(&b))
        });
        let mut keep = vec![false; self.kept.len()];
        let mut taken = std::collections::HashMap::<u8, usize>::new();
        for i in order {
            let t = taken.entry(self.kept[i].label).or_default();
            if *t < n {
                *t += 1;
                keep[i] = true;
            }
        }
        let mut flags = keep.into_iter();
        self.kept.retain(|_| flags.next().unwrap_or(false));
    }

    fn write(
        mut self,
        dir: &Path,
        shape: [usize; 3],
        classes: &[String],
        threshold: f32,
        per_class: Option<usize>,
    ) -> anyhow::Result<()> {
        use ronin_data::idx::{Compression, write_images, write_labels};
        if let Some(n) = per_class {
            self.cap_per_class(n);
        }
        let pixels: Vec<u8> = self
            .kept
            .iter()
            .flat_map(|k| k.pixels.iter().copied())
            .collect();
        let labels: Vec<u8> = self.kept.iter().map(|k| k.label).collect();
        let checked: Vec<bool> = self
            .kept
            .iter()
            .filter_map(|k| k.truth.map(|y| y == k.label))
            .collect();
        let correct = checked.iter().filter(|c| **c).count();
        let kinds = labels
            .iter()
            .map(|&l| usize::from(l) + 1)
            .max()
            .unwrap_or(0);
        let mut per = vec![0usize; classes.len().max(kinds)];
        for &l in &labels {
            per[usize::from(l)] += 1;
        }
        fs_err::create_dir_all(dir)?;
        let images = dir.join("images-idx3-ubyte");
        let labels_path = dir.join("labels-idx1-ubyte");
        write_images(&images, &pixels, labels.len(), shape, Compression::None)?;
        write_labels(&labels_path, &labels, Compression::None)?;
        if !classes.is_empty() {
            ronin_store::write_atomic(
                &dir.join("classes.txt"),
                (classes.join("\n") + "\n").as_bytes(),
            )?;
        }
        let csv = std::iter::once("input,label,probability,true_label".to_owned())
            .chain(self.kept.into_iter().map(|k| k.row))
            .collect::<Vec<_>>()
            .join("\n")
            + "\n";
        ronin_store::write_atomic(&dir.join("pseudo_labels.csv"), csv.as_bytes())?;
        eprintln!(
            "pseudo-labelled {} of {} inputs at probability ≥ {threshold} into {}{}",
            labels.len(),
            self.offered,
            dir.display(),
            if checked.is_empty() {
                String::new()
            } else {
                format!(
                    "; {:.2} % of them match --labels ({correct}/{})",
                    100.0 * correct as f64 / checked.len() as f64,
                    checked.len()
                )
            }
        );
        let counts: Vec<String> = per
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let name = classes.get(i).cloned().unwrap_or_else(|| i.to_string());
                format!("{name}: {n}")
            })
            .collect();
        eprintln!("per class: {}", counts.join(", "));
        eprintln!(
            "train with them: data.extra_train: [(images: \"{}\", labels: \"{}\")]",
            images.display(),
            labels_path.display()
        );
        Ok(())
    }
}
