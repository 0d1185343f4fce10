//! `ronin export --quantize dynamic`: an int8 model beside the float one, its manifest
//! recording the quantization and its agreement with the trained model, and `ronin eval`
//! of it scoring within a few points of the float model.

use std::path::PathBuf;

use crate::common::*;

fn eval_accuracy(tmp: &std::path::Path, model: &std::path::Path) -> f64 {
    eval_split_accuracy(tmp, model, "test")
}

/// `ronin eval` on one split of mnist_cnn under the runs' `--limit 256`.
fn eval_split_accuracy(tmp: &std::path::Path, model: &std::path::Path, split: &str) -> f64 {
    let args = [
        "--data",
        "pipelines/mnist_cnn.ron",
        "--set",
        "data.limit=256",
        "--split",
        split,
    ];
    eval_report(&tmp.join("experiments"), model, &args)["accuracy"]
        .as_f64()
        .expect("accuracy")
}

#[test]
fn quantized_export_writes_an_int8_model_that_scores_like_the_float_one() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let exp = tmp.path().join("experiments");
    let run = train_quick(&exp, "pipelines/mnist_cnn.ron", 1, 256, &[]);
    let model = tmp.path().join("cnn.onnx");
    let out = export_run(&exp, &run, &model, &["--quantize", "dynamic"]);
    let int8 = tmp.path().join("cnn.int8.onnx");
    // Both models on stdout, float first; both figures on stderr.
    let printed: Vec<PathBuf> = stdout(&out).lines().map(PathBuf::from).collect();
    assert_eq!(printed, [model.clone(), int8.clone()]);
    let err = stderr(&out);
    assert!(
        err.contains("top-1 agreement") && err.contains("max abs diff"),
        "{err}"
    );

    let manifest = |name: &str| -> serde_json::Value {
        serde_json::from_str(&read(&tmp.path().join(name))).expect("manifest JSON")
    };
    let float = manifest("cnn.json");
    assert!(float.get("quantization").is_none(), "{float}");
    let q = manifest("cnn.int8.json");
    assert_eq!(q["model_file"], "cnn.int8.onnx");
    assert_eq!(q["quantization"], "dynamic-int8");
    assert_eq!(q["quantized_ops"], serde_json::json!(["Conv", "Gemm"]));
    assert_eq!(q["parity"], serde_json::Value::Null);
    let agreement = &q["quantized_agreement"];
    let top1 = agreement["top1_agreement"].as_f64().expect("top-1 figure");
    let bound = agreement["min_top1_agreement"].as_f64().expect("bound");
    assert!(top1 >= bound && bound > 0.0, "{agreement}");
    assert!(
        agreement["max_abs_diff"].as_f64().expect("diff") > 0.0,
        "{agreement}"
    );
    assert_eq!(q["class_names"], float["class_names"]);

    // The int8 graph is integer arithmetic, accepted by ONNX's checker.
    ok(&python_script("check_onnx.py", &[&int8]));
    let ops = onnx_ops(&int8);
    for op in ["DynamicQuantizeLinear", "MatMulInteger", "ConvInteger"] {
        assert!(ops.iter().any(|o| o == op), "{op} missing: {ops:?}");
    }
    assert!(!ops.iter().any(|o| o.contains("Gemm")), "{ops:?}");

    // Same test split: the int8 model within a few points of the float one.
    let (fp32, quantized) = (
        eval_accuracy(tmp.path(), &model),
        eval_accuracy(tmp.path(), &int8),
    );
    assert!(
        (fp32 - quantized).abs() <= 0.03,
        "accuracy fp32 {fp32} vs int8 {quantized}"
    );

    // The export compared both on the validation split: `ronin eval`'s very figures.
    let c = &q["quantized_comparison"];
    assert_eq!(c["split"], "validation", "{c}");
    assert_eq!(c["examples"], 256, "{c}");
    assert_eq!(
        c["float_accuracy"].as_f64(),
        Some(eval_split_accuracy(tmp.path(), &model, "validation")),
        "{c}"
    );
    assert_eq!(
        c["int8_accuracy"].as_f64(),
        Some(eval_split_accuracy(tmp.path(), &int8, "validation")),
        "{c}"
    );
    assert_eq!(c["batch"], 64, "{c}");
    for key in ["float_ms", "int8_ms"] {
        assert!(c[key].as_f64().is_some_and(|ms| ms > 0.0), "{key}: {c}");
    }
    assert!(
        err.contains("dynamic-int8 against float32 on 256 validation examples"),
        "{err}"
    );
}

/// `--quantize static`: a QDQ model calibrated on training batches, its manifest saying
/// how, agreeing with the float model on the reference batch and scoring like it.
#[test]
fn static_quantized_export_is_calibrated_qdq_that_scores_like_the_float_one() {
    require_data();
    let tmp = tempfile::tempdir().expect("temp dir");
    let exp = tmp.path().join("experiments");
    let run = train_quick(&exp, "pipelines/mnist_cnn.ron", 1, 256, &[]);
    let model = tmp.path().join("cnn.onnx");
    let out = export_run(
        &exp,
        &run,
        &model,
        &["--quantize", "static", "--calibration-batches", "2"],
    );
    let err = stderr(&out);
    assert!(
        err.contains(
            "calibrated 4 activation ranges (MinMax) on 128 training examples in 2 batch(es)"
        ),
        "{err}"
    );
    assert!(err.contains("static-int8 model on"), "{err}");
    let int8 = tmp.path().join("cnn.int8.onnx");
    let q: serde_json::Value =
        serde_json::from_str(&read(&tmp.path().join("cnn.int8.json"))).expect("manifest JSON");
    assert_eq!(q["quantization"], "static-int8");
    assert_eq!(q["quantized_ops"], serde_json::json!(["Conv", "Gemm"]));
    assert_eq!(q["calibration"]["method"], "minmax");
    assert_eq!(q["calibration"]["split"], "train");
    assert_eq!(q["calibration"]["batches"], 2);
    assert_eq!(q["calibration"]["examples"], 128);
    let agreement = &q["quantized_agreement"];
    assert!(
        agreement["top1_agreement"].as_f64().expect("top-1") >= 0.9,
        "{agreement}"
    );

    ok(&python_script("check_onnx.py", &[&int8]));
    let ops = onnx_ops(&int8);
    let count = |op: &str| ops.iter().filter(|o| *o == op).count();
    // Input, two conv outputs, two pools, flatten, the hidden Linear's output.
    assert_eq!(count("QuantizeLinear"), 7, "{ops:?}");
    assert_eq!(count("Relu"), 0, "{ops:?}");
    assert_eq!((count("Conv"), count("Gemm")), (2, 2), "{ops:?}");

    let (fp32, quantized) = (
        eval_accuracy(tmp.path(), &model),
        eval_accuracy(tmp.path(), &int8),
    );
    assert!(
        (fp32 - quantized).abs() <= 0.03,
        "accuracy fp32 {fp32} vs static int8 {quantized}"
    );
}
