//! One training step's forward and backward (no optimizer) of the seed CNN and ResNet-18
//! at batch 64, through ronin's graph executor on libtorch, and the time to build
//! ResNet-50. `.ci/bench_models.sh` runs it beside the PyTorch eager peer
//! (`torch_peer_model_step.py`, the same models) and compares.
//!
//!     cargo bench -p ronin-runner --bench model_step -- [--iters N] [--threads T] [--only NAME]
//!
//! Prints one JSON object per model: median and per-iteration milliseconds.

use std::time::Instant;

use ronin_runner::net::Net;
use ronin_spec::zoo::{ZooModel, imagenet_graph};
use ronin_spec::{InitSpec, ModelGraph};
use tch::{Device, Kind, Tensor, nn};

/// The course's seed CNN: the model of `pipelines/mnist_cnn.ron` (read from the
/// repository root, where its data paths start).
fn seed_cnn() -> ModelGraph {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::env::set_current_dir(&root).expect("the repository root exists");
    ronin_spec::Pipeline::from_path(std::path::Path::new("pipelines/mnist_cnn.ron"))
        .expect("pipelines/mnist_cnn.ron is valid (bash .ci/setup.sh fetches its data)")
        .graph
}

fn preset(model: ZooModel) -> ModelGraph {
    imagenet_graph(model).expect("the preset is valid")
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads = arg(&args, "--threads")
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as i32));
    let only = arg(&args, "--only");
    tch::set_num_threads(threads);
    tch::manual_seed(0);

    let build = Instant::now();
    let vs = nn::VarStore::new(Device::Cpu);
    let r50 = preset(ZooModel::ResNet50);
    let _net = Net::new(&vs.root(), &r50, InitSpec::PyTorch).expect("ResNet-50 builds");
    let build_ms = build.elapsed().as_secs_f64() * 1e3;
    println!(
        "{}",
        serde_json::json!({"side": "ronin", "model": "resnet50_build", "build_ms": build_ms, "params": r50.trainable_count()})
    );

    for (name, graph, iters) in [
        ("seed_cnn", seed_cnn(), 60),
        ("resnet18", preset(ZooModel::ResNet18), 6),
    ] {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let iters = arg(&args, "--iters")
            .and_then(|n| n.parse().ok())
            .unwrap_or(iters);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = Net::new(&vs.root(), &graph, InitSpec::PyTorch).expect("the model builds");
        let shape: Vec<i64> = std::iter::once(64)
            .chain(graph.input_shape.iter().map(|&d| d as i64))
            .collect();
        let classes = graph.output_shape()[0] as i64;
        let x = Tensor::randn(shape.as_slice(), (Kind::Float, Device::Cpu));
        let y = Tensor::randint(classes, [64], (Kind::Int64, Device::Cpu));
        let params = vs.trainable_variables();
        let step = || {
            for p in &params {
                let mut g = p.grad();
                if g.defined() {
                    let _ = g.zero_();
                }
            }
            let logits = net.forward_t(&x, true).expect("forward");
            logits.cross_entropy_for_logits(&y).backward();
        };
        for _ in 0..3 {
            step();
        }
        let mut times: Vec<f64> = (0..iters)
            .map(|_| {
                let t = Instant::now();
                step();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        let all = times.clone();
        println!(
            "{}",
            serde_json::json!({"side": "ronin", "model": name, "batch": 64, "threads": threads, "median_ms": median(&mut times), "ms": all, "params": graph.trainable_count()})
        );
    }
}
