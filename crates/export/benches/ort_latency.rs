//! Inference speed through ronin's exporter and `ort`: batch-1 latency and batch-64
//! throughput of the seed CNN (1×28×28) and ResNet-18 (3×224×224, 1000 classes) on
//! pseudo-random weights. `.ci/bench_onnx.sh` runs it, then the Python peer
//! (`peer_latency.py`: ONNX Runtime's Python API on the same ONNX file, PyTorch eager on
//! the same weights) and prints the comparison.
//!
//!     cargo bench -p ronin-export --bench ort_latency -- [--out DIR] [--threads T]
//!         [--only seed_cnn|resnet18] [--iters1 N] [--iters64 N] [--quantize]
//!         [--model FILE.onnx]...
//!
//! `--quantize` also times each model's int8 exports (`<model>.int8`: Conv and Linear
//! quantized, `<model>.int8-linear`: Linear only; see `ronin_export::quantize`;
//! `<model>.int8-static`: QDQ calibrated on pseudo-random inputs, see `ronin_export::qdq`).
//! `--model FILE` (repeatable) times exported model files instead of the built-in graphs
//! (e.g. `exports/mnist_cnn.onnx` and `exports/mnist_cnn.int8.onnx` of a trained run).
//!
//! For each model it writes `DIR/<model>.onnx`, `DIR/<model>.safetensors` (the weights,
//! by PyTorch state_dict name) and `DIR/<model>.io.safetensors` (a fixed batch of two
//! inputs and ONNX Runtime's outputs, so the peer can check it computes the same thing),
//! and prints one JSON object per measurement.

use std::path::PathBuf;
use std::time::Instant;

use ndarray::Array4;
use ronin_export::{
    ExportOptions, OnnxModel, Quantization, Runtime, SessionOptions, StaticQuantizer, Weights,
    to_onnx, write_atomic,
};
use ronin_spec::ModelGraph;
use ronin_spec::zoo::{ZooModel, imagenet_graph};

/// The course's seed CNN: the model of `pipelines/mnist_cnn.ron` (read from the
/// repository root, where its data paths start).
fn seed_cnn() -> ModelGraph {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::env::set_current_dir(&root).expect("the repository root exists");
    ronin_spec::Pipeline::from_path(std::path::Path::new("pipelines/mnist_cnn.ron"))
        .expect("pipelines/mnist_cnn.ron is valid (bash .ci/setup.sh fetches its data)")
        .graph
}

fn resnet18() -> ModelGraph {
    imagenet_graph(ZooModel::ResNet18).expect("ResNet-18 is valid")
}

/// One model to time, with its default number of runs at batch 1 and at batch 64.
struct Bench {
    name: &'static str,
    graph: fn() -> ModelGraph,
    iters1: usize,
    iters64: usize,
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Deterministic inputs in [0, 1).
fn input(n: usize, shape: &[usize], seed: u64) -> Array4<f32> {
    let mut s = seed;
    Array4::from_shape_simple_fn((n, shape[0], shape[1], shape[2]), || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 40) as f32 / (1u64 << 24) as f32
    })
}

/// Median milliseconds of `iters` runs of `x`, after `warmup` runs.
fn time(model: &OnnxModel, x: &Array4<f32>, warmup: usize, iters: usize) -> f64 {
    for _ in 0..warmup {
        model.run(x.view()).expect("run");
    }
    let mut ms: Vec<f64> = (0..iters)
        .map(|_| {
            let t = Instant::now();
            model.run(x.view()).expect("run");
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    ms[ms.len() / 2]
}

/// Times batch 1 and batch 64 and prints one JSON line for each.
fn measure(model: &OnnxModel, name: &str, shape: &[usize], threads: usize, iters: [usize; 2]) {
    for (batch, iters, warmup) in [(1, iters[0], 20), (64, iters[1], 2)] {
        let x = input(batch, shape, 11);
        let median = time(model, &x, warmup, iters);
        println!(
            "{}",
            serde_json::json!({
                "side": "ronin_ort",
                "model": name,
                "batch": batch,
                "iters": iters,
                "threads": threads,
                "median_ms": median,
                "images_per_second": batch as f64 * 1e3 / median,
            })
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out = PathBuf::from(arg(&args, "--out").unwrap_or_else(|| "target/bench/onnx".into()));
    let threads: usize = arg(&args, "--threads")
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let only = arg(&args, "--only");
    let iters1: Option<usize> = arg(&args, "--iters1").and_then(|v| v.parse().ok());
    let iters64: Option<usize> = arg(&args, "--iters64").and_then(|v| v.parse().ok());
    let quantize = args.iter().any(|a| a == "--quantize");
    let files: Vec<PathBuf> = args
        .windows(2)
        .filter(|w| w[0] == "--model")
        .map(|w| PathBuf::from(&w[1]))
        .collect();
    std::fs::create_dir_all(&out).expect("bench output folder");
    let rt = Runtime::global().expect("ONNX Runtime (run bash .ci/setup.sh)");
    let sess = SessionOptions {
        intra_threads: Some(threads),
        ..SessionOptions::default()
    };
    if !files.is_empty() {
        for file in &files {
            let model = rt.load_file(file, &sess).expect("load the model file");
            let shape: Vec<usize> = model.input_shape()[1..]
                .iter()
                .map(|d| d.expect("a fixed C, H, W"))
                .collect();
            let name = file.display().to_string();
            let iters = [iters1.unwrap_or(1000), iters64.unwrap_or(50)];
            measure(&model, &name, &shape, threads, iters);
        }
        return;
    }
    let models = [
        Bench {
            name: "seed_cnn",
            graph: seed_cnn,
            iters1: 1000,
            iters64: 50,
        },
        Bench {
            name: "resnet18",
            graph: resnet18,
            iters1: 200,
            iters64: 5,
        },
    ];
    for Bench {
        name,
        graph,
        iters1: default1,
        iters64: default64,
    } in models
    {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let g = graph();
        let weights = Weights::pseudo_random(&g, 1);
        let bytes = to_onnx(&g, &weights, &ExportOptions::default()).expect("export");
        write_atomic(out.join(format!("{name}.onnx")), &bytes).expect("write model");
        let st = weights.to_safetensors_bytes().expect("weights");
        write_atomic(out.join(format!("{name}.safetensors")), &st).expect("write weights");
        let model = rt.load_bytes(&bytes, &sess).expect("load");

        // The fixed check batch and ONNX Runtime's answer to it, for the peer.
        let check_in = input(2, &g.input_shape, 7);
        let check_out = model.run(check_in.view()).expect("run");
        let mut io = Weights::new();
        io.insert(
            "input",
            check_in.shape().to_vec(),
            check_in.iter().copied().collect(),
        )
        .expect("input");
        io.insert(
            "output",
            check_out.shape().to_vec(),
            check_out.iter().copied().collect(),
        )
        .expect("output");
        write_atomic(
            out.join(format!("{name}.io.safetensors")),
            &io.to_safetensors_bytes().expect("io"),
        )
        .expect("write io");

        let iters = [iters1.unwrap_or(default1), iters64.unwrap_or(default64)];
        measure(&model, name, &g.input_shape, threads, iters);
        if quantize {
            for (suffix, q) in [
                ("int8", Quantization::DynamicInt8),
                ("int8-linear", Quantization::DynamicInt8LinearOnly),
            ] {
                let opts = ExportOptions {
                    quantize: Some(q),
                    ..ExportOptions::default()
                };
                let bytes = to_onnx(&g, &weights, &opts).expect("int8 export");
                let model = rt.load_bytes(&bytes, &sess).expect("load int8");
                measure(
                    &model,
                    &format!("{name}.{suffix}"),
                    &g.input_shape,
                    threads,
                    iters,
                );
            }
            // Static QDQ, calibrated on four batches of the same pseudo-random inputs
            // (it times the kernels; accuracy needs real data, see `ronin export`).
            let mut q = StaticQuantizer::new(&bytes).expect("plan static int8");
            let calib = rt
                .load_bytes(&q.calibration_model().expect("calibration model"), &sess)
                .expect("load the calibration model");
            for seed in 0..4 {
                q.calibrate(&calib, input(8, &g.input_shape, 100 + seed).view())
                    .expect("calibrate");
            }
            let bytes = q.finish().expect("static int8").bytes;
            let model = rt.load_bytes(&bytes, &sess).expect("load static int8");
            measure(
                &model,
                &format!("{name}.int8-static"),
                &g.input_shape,
                threads,
                iters,
            );
        }
    }
}
