//! Images per second out of ronin's batch loader on Fashion-MNIST's 60,000 training
//! images at batch 64, with the augmentation of the loader benchmark: rotation, affine
//! (shift, shear, zoom), horizontal flip, normalize. `.ci/bench_loader.sh` runs it beside
//! the torchvision peer (`torchvision_peer_loader.py`, the same transforms through
//! `DataLoader`) and beside the seed CNN's training step, and compares.
//!
//!     cargo bench -p ronin-data --bench loader -- [--workers N] [--epochs E] [--plain]
//!
//! `--plain` measures the loader without augmentation (normalisation only). Prints one JSON
//! object per epoch; the clock starts when the first batch arrives (worker start-up is
//! left out, as in the peer) and stops after the last.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use ronin_data::{Dataset, Loader, LoaderOptions, Normalization};
use ronin_spec::TransformSpec;

/// The transforms of the benchmark, as a pipeline writes them; the peer uses torchvision's
/// `RandomRotation(10)`, `RandomAffine(0, translate=(0.1, 0.1), scale=(0.9, 1.1),
/// shear=10)` and `RandomHorizontalFlip()`, bilinear like ours.
const AUGMENT: &str = "[
    RandomRotation(degrees: 10),
    RandomAffine(translate: (0.1, 0.1), scale: (0.9, 1.1), shear: 10),
    HorizontalFlip(),
]";

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let workers = arg(&args, "--workers")
        .and_then(|w| w.parse().ok())
        .unwrap_or(cores);
    let epochs: usize = arg(&args, "--epochs")
        .and_then(|e| e.parse().ok())
        .unwrap_or(3);
    let plain = args.iter().any(|a| a == "--plain");

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ronin/data/fashion_mnist");
    let dataset = Dataset::from_idx(
        &root.join("train-images-idx3-ubyte"),
        &root.join("train-labels-idx1-ubyte"),
        None,
    )
    .unwrap_or_else(|e| panic!("{e} (bash .ci/setup.sh fetches Fashion-MNIST)"));
    let augment: Vec<TransformSpec> = if plain {
        Vec::new()
    } else {
        ron::from_str(AUGMENT).expect("the benchmark's transforms parse")
    };
    let normalization =
        Normalization::given(&[0.2860], &[0.3530], 1).expect("one channel, positive std");
    let options = LoaderOptions {
        batch_size: 64,
        shuffle: true,
        drop_last: true,
        seed: 0,
        workers,
        prefetch: 4,
    };
    let indices = (0..dataset.len()).collect();
    let loader = Loader::with_augment(Arc::new(dataset), indices, options, normalization, augment)
        .expect("the loader accepts the dataset");

    for epoch in 0..epochs {
        let mut batches = loader
            .epoch(epoch)
            .map(|b| b.expect("an in-memory batch cannot fail"));
        let first = batches.next().expect("an epoch has batches");
        let start = Instant::now();
        let mut images = 0usize;
        // Read one value of each batch so that nothing is optimised away.
        let mut checksum = f64::from(first.images[[0, 0, 14, 14]]);
        for batch in batches {
            checksum += f64::from(batch.images[[0, 0, 14, 14]]);
            images += batch.len();
        }
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "{{\"side\": \"ronin\", \"augment\": {}, \"workers\": {workers}, \"epoch\": {epoch}, \
             \"images\": {images}, \"seconds\": {seconds:.4}, \"images_per_second\": {:.1}, \
             \"checksum\": {checksum:.3}}}",
            !plain,
            images as f64 / seconds
        );
    }
}
