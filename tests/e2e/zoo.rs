//! The model zoo and the layers beyond the seed CNN: parameter counts through `ronin check`,
//! and a trained model of every new layer exported to ONNX with its parity checked.

use std::path::Path;

use crate::common::*;

/// torchvision's `sum(p.numel() for p in model.parameters())` at 3×224×224, 1000 classes.
#[test]
fn ronin_check_counts_the_parameters_torchvision_counts() {
    let tmp = tempfile::tempdir().expect("temp dir");
    for (preset, batch_norm, count) in [
        ("AlexNet", false, 61_100_840u64),
        ("VGG11", false, 132_863_336),
        ("VGG13", false, 133_047_848),
        ("VGG16", false, 138_357_544),
        ("VGG19", false, 143_667_240),
        ("VGG11", true, 132_868_840),
        ("ResNet18", false, 11_689_512),
        ("ResNet34", false, 21_797_672),
        ("ResNet50", false, 25_557_032),
        ("GoogLeNet", false, 6_624_904),
    ] {
        let mut args = vec!["check", "--preset", preset, "--json"];
        if batch_norm {
            args.push("--batch-norm");
        }
        let out = ronin(tmp.path(), &args);
        ok(&out);
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
        assert_eq!(v["trainable_params"], count, "{preset} bn={batch_norm}");
    }
    // The largest receptive field of each network, as published (Araujo et al., Distill
    // 2019: AlexNet 195, VGG-16 212, ResNet-50 427; ResNet-18 435).
    for (preset, rf) in [
        ("AlexNet", 195u64),
        ("VGG16", 212),
        ("ResNet18", 435),
        ("ResNet50", 427),
    ] {
        let out = ronin(tmp.path(), &["check", "--preset", preset, "--json"]);
        ok(&out);
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
        let largest = v["receptive_fields"]
            .as_array()
            .expect("receptive_fields")
            .iter()
            .filter_map(|f| f[0].as_u64())
            .max();
        assert_eq!(largest, Some(rf), "{preset}");
    }
    let table = ronin(tmp.path(), &["check", "--preset", "ResNet50"]);
    ok(&table);
    let text = stdout(&table);
    for needle in [
        "layer1.0.downsample.0",
        "layer4.2.conv3",
        "Parameters as PyTorch counts them (no buffers): 25,557,032",
        "Receptive field",
    ] {
        assert!(text.contains(needle), "lacks {needle}:\n{text}");
    }
    let bad = ronin(tmp.path(), &["check", "--preset", "ResNet51"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("ResNet50"), "{}", stderr(&bad));
    let small = ronin(
        tmp.path(),
        &["check", "--preset", "VGG16", "--input", "1,28,28"],
    );
    assert_eq!(small.status.code(), Some(2));
    assert!(
        stderr(&small).contains("does not fit"),
        "{}",
        stderr(&small)
    );
}

const EVERY_LAYER: &str = r#"(
    name: "every_layer",
    epochs: 1,
    data: (
        source: Idx(
            images: ".ronin/data/mnist/images-idx3-ubyte",
            labels: ".ronin/data/mnist/labels-idx1-ubyte",
        ),
        split: (validation: 0.2, test: 0.1),
        batch_size: 32,
        limit: 128,
    ),
    model: (
        layers: [
            Conv2d(filters: 8, kernel_size: 3, padding: Same, bias: false),
            GroupNorm(groups: 4),
            GELU,
            Residual(
                layers: [
                    Named("conv1", Conv2d(filters: 16, kernel_size: 3, stride: 2, padding: Explicit(1))),
                    Named("norm", InstanceNorm2d(affine: true)),
                    ELU(alpha: 0.5),
                    Conv2d(filters: 16, kernel_size: 3, padding: Same),
                ],
                shortcut: Named("downsample", Conv2d(filters: 16, kernel_size: 1, stride: 2)),
                activation: SiLU,
            ),
            Parallel(branches: [
                Conv2d(filters: 8, kernel_size: 1),
                Sequential([
                    MaxPool2d(kernel_size: 3, stride: 1, padding: Explicit(1), ceil_mode: true),
                    Conv2d(filters: 4, kernel_size: 1),
                ]),
                Residual(layers: [Conv2d(filters: 16, kernel_size: 3, padding: Same), Tanh]),
            ]),
            LocalResponseNorm(size: 3),
            BatchNorm2d(),
            LeakyReLU(negative_slope: 0.1),
            Dropout2d(rate: 0.2),
            AvgPool2d(kernel_size: 3, stride: 2, padding: Explicit(1), ceil_mode: true, count_include_pad: false),
            AdaptiveAvgPool2d(output_size: 2),
            Flatten,
            LayerNorm(),
            Linear(units: 32),
            Sigmoid,
            Dropout(rate: 0.1),
            Linear(units: 10),
        ],
        init: XavierUniform,
    ),
    optimizer: AdamW(lr: 0.003),
)"#;

#[test]
fn a_model_of_every_layer_trains_and_exports_with_parity() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let exp = tmp.path().join("experiments");
    let file = tmp.path().join("every_layer.ron");
    std::fs::write(&file, EVERY_LAYER).expect("write pipeline");
    let file = file.to_str().expect("utf-8");

    let check = ronin(&exp, &["check", file]);
    ok(&check);
    for needle in [
        "layers.3.conv1",
        "layers.3.downsample",
        "layers.4.2",
        "Concat (3 branches)",
    ] {
        assert!(
            stdout(&check).contains(needle),
            "lacks {needle}:\n{}",
            stdout(&check)
        );
    }

    let out = ronin(&exp, &["train", file, "--no-progress"]);
    ok(&out);
    let run = stdout(&out).trim().to_owned();
    assert!(
        Path::new(&run)
            .join("checkpoints/best/model.safetensors")
            .is_file()
    );

    let model = tmp.path().join("every_layer.onnx");
    let model_s = model.to_str().expect("utf-8");
    let out = ronin(&exp, &["export", &run, "--out", model_s]);
    ok(&out);
    let manifest: serde_json::Value =
        serde_json::from_str(&read(&model.with_extension("json"))).expect("manifest JSON");
    let diff = manifest["parity"]["max_abs_diff"]
        .as_f64()
        .expect("parity figure");
    assert!(diff <= 1e-4, "libtorch and ONNX Runtime differ by {diff}");

    let checked = python_script("check_onnx.py", &[&model]);
    ok(&checked);
}
