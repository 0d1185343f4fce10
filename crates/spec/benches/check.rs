//! How long `ronin check`'s work takes on a 200-layer pipeline: parsing, validation, shape
//! inference through every layer, and the summary table. The bar is < 50 ms.
//! `.ci/bench_check.sh` also times the whole `ronin check` process on the same file.
//!
//!     cargo bench -p ronin-spec --bench check -- [--iters N]
//!
//! Writes the pipeline to target/bench/deep_200.ron (66 blocks of Conv2d + BatchNorm2d +
//! ReLU, then Flatten and Linear, on the real MNIST files of `bash .ci/setup.sh`) and
//! prints one JSON object: the median, the fastest and the slowest time in milliseconds.

use std::fmt::Write;
use std::path::Path;
use std::time::Instant;

use ronin_spec::{Pipeline, summary};

/// A pipeline of `blocks` × (Conv2d, BatchNorm2d, ReLU) + Flatten + Linear.
fn deep_pipeline(blocks: usize) -> String {
    let mut layers = String::new();
    for i in 0..blocks {
        let filters = 8 + 8 * (i % 3);
        let _ = writeln!(
            layers,
            "            Conv2d(filters: {filters}, kernel_size: 3, padding: Same),\n            BatchNorm2d(),\n            ReLU,"
        );
    }
    format!(
        r#"// {n} layers: {blocks} blocks of Conv2d + BatchNorm2d + ReLU, then Flatten and Linear.
(
    seed: 1,
    epochs: 10,
    data: (
        source: Idx(
            images: ".ronin/data/mnist/images-idx3-ubyte",
            labels: ".ronin/data/mnist/labels-idx1-ubyte",
        ),
        split: (validation: 0.1, test: 0.2, stratified: true),
        normalize: Computed,
        batch_size: 64,
    ),
    augment: [RandomAffine(degrees: 10, translate: (0.1, 0.1)), HorizontalFlip()],
    model: (
        layers: [
{layers}            Flatten,
            Linear(units: 10),
        ],
    ),
    loss: CrossEntropy(label_smoothing: 0.1),
    optimizer: Sgd(lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 5e-4),
    schedule: CosineAnnealingLR(),
    warmup: (epochs: 1),
    callbacks: [
        EarlyStopping(monitor: "val_loss", patience: 3),
        ModelCheckpoint(monitor: "val_accuracy"),
        TensorBoard(histogram_freq: 1),
    ],
    export: (opset: 17),
)
"#,
        n = 3 * blocks + 2
    )
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let iters: usize = arg(&args, "--iters")
        .and_then(|n| n.parse().ok())
        .unwrap_or(50);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::env::set_current_dir(&root).expect("the repository root exists");
    let text = deep_pipeline(66);
    std::fs::create_dir_all("target/bench").expect("target/bench can be created");
    std::fs::write("target/bench/deep_200.ron", &text).expect("target/bench is writable");

    let mut times = Vec::with_capacity(iters);
    let mut layers = 0;
    for _ in 0..iters {
        let start = Instant::now();
        let pipeline = Pipeline::from_str_named(&text, "deep_200", None).unwrap_or_else(|e| {
            panic!("the 200-layer pipeline checks ({e}; bash .ci/setup.sh fetches MNIST)")
        });
        let table = summary::render(&pipeline.graph);
        times.push(start.elapsed().as_secs_f64() * 1e3);
        layers = pipeline.file.model.layers.len();
        assert!(
            table.lines().count() > layers,
            "the summary has a row per layer"
        );
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{{\"bench\": \"check\", \"layers\": {layers}, \"iters\": {iters}, \"median_ms\": {:.3}, \"min_ms\": {:.3}, \"max_ms\": {:.3}}}",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );
}
