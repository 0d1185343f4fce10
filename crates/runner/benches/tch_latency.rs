//! Inference through ronin's own graph executor on libtorch (`tch`): the seed CNN and
//! ResNet-18 in eval mode without gradients, on the weights `ort_latency` (crates/export)
//! wrote, checked first against ONNX Runtime's outputs on its fixed batch. The `tch`
//! column of `.ci/bench_onnx.sh`.
//!
//!     cargo bench -p ronin-runner --bench tch_latency -- [--dir DIR] [--threads T]
//!         [--only seed_cnn|resnet18] [--iters1 N] [--iters64 N]
//!
//! Prints one JSON object per measurement, as the other sides of the bench do.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ronin_runner::net::Net;
use ronin_runner::transfer::load_weights;
use ronin_spec::zoo::{ZooModel, imagenet_graph};
use ronin_spec::{InitSpec, ModelGraph};
use tch::{Device, Kind, Tensor, nn};

fn seed_cnn() -> ModelGraph {
    ronin_spec::Pipeline::from_path(Path::new("pipelines/mnist_cnn.ron"))
        .expect("pipelines/mnist_cnn.ron is valid (bash .ci/setup.sh fetches its data)")
        .graph
}

fn resnet18() -> ModelGraph {
    imagenet_graph(ZooModel::ResNet18).expect("ResNet-18 is valid")
}

/// A model to time: name, graph, runs at batch 1 and at batch 64, input (C, H, W).
type Bench = (&'static str, fn() -> ModelGraph, usize, usize, [i64; 3]);

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn median_ms(net: &Net, x: &Tensor, warmup: usize, iters: usize) -> f64 {
    let _guard = tch::no_grad_guard();
    for _ in 0..warmup {
        let _ = net.forward_t(x, false).expect("forward");
    }
    let mut times: Vec<f64> = (0..iters)
        .map(|_| {
            let start = Instant::now();
            let y = net.forward_t(x, false).expect("forward");
            // Reading the result waits for it (and is what a caller does).
            let _ = y.double_value(&[0, 0]);
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::env::set_current_dir(&root).expect("the repository root exists");
    let dir = arg(&args, "--dir").map_or_else(|| PathBuf::from("target/bench/onnx"), PathBuf::from);
    let threads = arg(&args, "--threads")
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as i32));
    let only = arg(&args, "--only");
    tch::set_num_threads(threads);
    let models: [Bench; 2] = [
        ("seed_cnn", seed_cnn, 1000, 50, [1, 28, 28]),
        ("resnet18", resnet18, 200, 5, [3, 224, 224]),
    ];
    for (name, graph, iters1, iters64, shape) in models {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let graph = graph();
        let vs = nn::VarStore::new(Device::Cpu);
        let net = Net::new(&vs.root(), &graph, InitSpec::default()).expect("the net builds");
        let weights = dir.join(format!("{name}.safetensors"));
        load_weights(&vs, &graph, &weights, true, false).unwrap_or_else(|e| {
            panic!("{e} (run cargo bench -p ronin-export --bench ort_latency first)")
        });
        let io: std::collections::HashMap<String, Tensor> =
            Tensor::read_safetensors(dir.join(format!("{name}.io.safetensors")))
                .expect("the check batch")
                .into_iter()
                .collect();
        let (input, expected) = (&io["input"], &io["output"]);
        let got = {
            let _guard = tch::no_grad_guard();
            net.forward_t(input, false).expect("forward")
        };
        let diff = (&got - expected).abs().max().double_value(&[]);
        let scale = expected.abs().max().double_value(&[]).max(1.0);
        assert!(
            diff <= 1e-3 * scale,
            "tch {name}: outputs differ from ronin/ort by {diff}"
        );
        let iters1 = arg(&args, "--iters1")
            .and_then(|n| n.parse().ok())
            .unwrap_or(iters1);
        let iters64 = arg(&args, "--iters64")
            .and_then(|n| n.parse().ok())
            .unwrap_or(iters64);
        for (batch, iters, warmup) in [(1i64, iters1, 20), (64, iters64, 2)] {
            let x = Tensor::rand(
                [batch, shape[0], shape[1], shape[2]],
                (Kind::Float, Device::Cpu),
            );
            let ms = median_ms(&net, &x, warmup, iters);
            println!(
                "{{\"side\": \"tch\", \"model\": \"{name}\", \"batch\": {batch}, \"iters\": {iters}, \"threads\": {threads}, \"median_ms\": {ms}, \"images_per_second\": {}, \"max_abs_diff_vs_ronin\": {diff}}}",
                batch as f64 * 1e3 / ms
            );
        }
    }
}
