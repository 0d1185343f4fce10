//! Event files written by other writers, read back with `ronin-viewer`.

use std::path::{Path, PathBuf};
use std::process::Command;

use ronin_viewer::read_scalars;
use tensorboard_rs::summary_writer::SummaryWriter;

#[test]
fn reads_what_tensorboard_rs_writes() {
    let run = tempfile::tempdir().expect("tempdir");
    let events = run.path().join("events");
    {
        let mut writer = SummaryWriter::new(&events);
        for step in 0..5usize {
            writer.add_scalar("train/loss", 1.0 / (step as f32 + 1.0), step);
            writer.add_scalar("train/acc", step as f32 * 0.1, step);
        }
        writer.flush();
    }
    let log = read_scalars(run.path()).expect("read tensorboard-rs run");
    assert!(log.warnings.is_empty(), "{:?}", log.warnings);
    let loss = &log.series["train/loss"];
    let steps: Vec<i64> = loss.iter().map(|p| p.step).collect();
    assert_eq!(steps, vec![0, 1, 2, 3, 4]);
    for (p, step) in loss.iter().zip(0..) {
        assert_eq!(p.value, f64::from(1.0 / (step as f32 + 1.0)));
        assert!(p.wall_time > 1.0e9, "wall time {}", p.wall_time);
    }
    assert_eq!(log.series["train/acc"][3].value, f64::from(3.0f32 * 0.1));
}

/// The workspace's Python venv with `tensorboard` installed (`bash .ci/setup.sh` makes it).
fn venv_python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ronin/venv/bin/python");
    assert!(
        python.exists(),
        "no Python venv at {} (run `bash .ci/setup.sh`)",
        python.display()
    );
    python
}

/// TensorBoard's own writer (no TensorFlow or torch needed): a `simple_value`, a
/// `scalars` tensor with `float_val` (PyTorch `new_style`), and `tensor_content`
/// doubles with metadata only on the first value (as TF2 and Keras write them).
const PYTHON_WRITER: &str = r#"
import struct, sys
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2
from tensorboard.compat.proto import tensor_shape_pb2

V = summary_pb2.Summary.Value
scalars = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
w = EventFileWriter(sys.argv[1])
for step in range(4):
    f = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[step * 0.5],
                               tensor_shape=tensor_shape_pb2.TensorShapeProto())
    d = tensor_pb2.TensorProto(dtype=types_pb2.DT_DOUBLE,
                               tensor_content=struct.pack("<d", step / 3),
                               tensor_shape=tensor_shape_pb2.TensorShapeProto())
    values = [
        V(tag="loss", simple_value=1.0 / (step + 1)),
        V(tag="torch_new_style", tensor=f, metadata=scalars),
        V(tag="keras/epoch_accuracy", tensor=d, metadata=scalars if step == 0 else None),
    ]
    w.add_event(event_pb2.Event(wall_time=1.7e9 + step, step=step,
                                summary=summary_pb2.Summary(value=values)))
w.close()
"#;

#[test]
fn reads_what_tensorboards_python_writer_writes() {
    let python = venv_python();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(&python)
        .arg("-c")
        .arg(PYTHON_WRITER)
        .arg(dir.path())
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python writer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = read_scalars(dir.path()).expect("read python-written events");
    assert!(log.warnings.is_empty(), "{:?}", log.warnings);
    let series = |tag: &str| -> Vec<(i64, f64)> {
        log.series[tag].iter().map(|p| (p.step, p.value)).collect()
    };
    let expect = |f: fn(i64) -> f64| (0..4).map(|s| (s, f(s))).collect::<Vec<_>>();
    assert_eq!(
        series("loss"),
        expect(|s| f64::from((1.0 / (s as f64 + 1.0)) as f32))
    );
    assert_eq!(series("torch_new_style"), expect(|s| s as f64 * 0.5));
    assert_eq!(series("keras/epoch_accuracy"), expect(|s| s as f64 / 3.0));
    assert_eq!(log.series["loss"][2].wall_time, 1.7e9 + 2.0);
}
