//! Loads torchvision weights (safetensors, torchvision's names) into a zoo preset strictly,
//! exports it and compares ONNX Runtime's output with torchvision's on the same input.
//! `tests/python/torchvision_parity.py` writes the inputs and runs this; see its docstring.
//!
//!     cargo run --release -p ronin-export --example torchvision_parity -- \
//!         MODEL weights.safetensors input.f32 output.f32

use std::path::Path;

use ndarray::Array4;
use ronin_export::weights::Weights;
use ronin_export::{ExportOptions, Runtime, SessionOptions, to_onnx};
use ronin_spec::zoo::{ALL, PresetSpec, preset_graph};

fn floats(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, weights, input, output] = args.as_slice() else {
        eprintln!("usage: torchvision_parity MODEL weights.safetensors input.f32 output.f32");
        std::process::exit(2);
    };
    let (name, batch_norm) = match model.strip_suffix("_BN") {
        Some(m) => (m, true),
        None => (model.as_str(), false),
    };
    let zoo = ALL
        .into_iter()
        .find(|m| format!("{m:?}") == name)
        .unwrap_or_else(|| panic!("no preset {name}"));
    let preset = PresetSpec {
        model: zoo,
        classes: Some(1000),
        width: 1.0,
        batch_norm,
        dropout: None,
    };
    let graph = preset_graph(&preset, vec![3, 224, 224], 1000).expect("preset");
    let weights = Weights::from_safetensors(weights).expect("weights");
    // Strict: every tensor of the graph, with its shape, and nothing else.
    weights
        .check(&graph)
        .expect("torchvision's tensors are the preset's");
    let onnx = to_onnx(&graph, &weights, &ExportOptions::default()).expect("export");
    let x = floats(Path::new(input));
    let n = x.len() / (3 * 224 * 224);
    let x = Array4::from_shape_vec((n, 3, 224, 224), x).expect("input shape");
    let session = Runtime::global()
        .expect("ONNX Runtime")
        .load_bytes(&onnx, &SessionOptions::default())
        .expect("load");
    let got = session.run(x.view()).expect("run");
    let want = floats(Path::new(output));
    let diff = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    println!("{model}: {n} images, max abs diff {diff:.3e} (largest output {scale:.3e})");
}
