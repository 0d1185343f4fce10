"""The Python peers of crates/export/benches/ort_latency.rs: the same models, the same weights.

--side ort    ONNX Runtime's Python API on the very ONNX file the Rust bench exported
              (run with .ronin/venv/bin/python, which has onnxruntime).
--side torch  PyTorch eager, eval mode, under torch.inference_mode(), the model built here
              (the seed CNN; ResNet-18 from crates/runner/benches/torch_peer_model_step.py)
              and loaded strictly from the Rust bench's <model>.safetensors
              (run with .ronin/venv-bench/bin/python, which has torch).

Both first check they reproduce the Rust side's outputs on its fixed batch
(<model>.io.safetensors), then time batch 1 (median of --iters1 runs) and batch 64
(median of --iters64 runs), and print one JSON object per measurement.

    python peer_latency.py --side ort|torch [--dir target/bench/onnx] [--threads T]
        [--only NAME] [--iters1 N] [--iters64 N]
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import time
from pathlib import Path

import numpy as np

DEFAULTS = {"seed_cnn": (1000, 50), "resnet18": (200, 5)}
SHAPES = {"seed_cnn": (1, 28, 28), "resnet18": (3, 224, 224)}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """F32 tensors of a safetensors file (8-byte header length, JSON header, data)."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", f"{path}: {name} is {info['dtype']}"
        start, end = info["data_offsets"]
        out[name] = np.frombuffer(data[start:end], dtype="<f4").reshape(info["shape"])
    return out


def median_ms(fn, x, warmup: int, iters: int) -> float:
    for _ in range(warmup):
        fn(x)
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        fn(x)
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return times[len(times) // 2]


def ort_runner(name: str, model: Path, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0].name
    return lambda x: sess.run(None, {inp: x})[0]


def torch_runner(name: str, weights: Path, threads: int):
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "runner" / "benches"))
    from torch_peer_model_step import BasicBlock, ResNet, seed_cnn

    state = read_safetensors(weights)
    if name == "seed_cnn":
        model: nn.Module = seed_cnn()
        # ronin names the layers of a pipeline `layers.<i>`; nn.Sequential names them `<i>`.
        state = {k.removeprefix("layers."): v for k, v in state.items()}
    else:
        model = ResNet(BasicBlock, [2, 2, 2, 2])
    tensors = {k: torch.from_numpy(v.copy()) for k, v in state.items()}
    # BatchNorm's step counter is not exported; everything else must match by name.
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    assert not missing and not unexpected, (missing, unexpected)
    model.eval()

    def run(x):
        with torch.inference_mode():
            return model(torch.from_numpy(x)).numpy()

    return run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", choices=["ort", "torch"], required=True)
    ap.add_argument("--dir", default="target/bench/onnx")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--only")
    ap.add_argument("--iters1", type=int)
    ap.add_argument("--iters64", type=int)
    a = ap.parse_args()
    d = Path(a.dir)
    rng = np.random.default_rng(11)
    for name, (d1, d64) in DEFAULTS.items():
        if a.only and a.only != name:
            continue
        if a.side == "ort":
            run = ort_runner(name, d / f"{name}.onnx", a.threads)
            side = "ort_python"
        else:
            run = torch_runner(name, d / f"{name}.safetensors", a.threads)
            side = "pytorch_eager"
        io = read_safetensors(d / f"{name}.io.safetensors")
        diff = float(np.abs(run(io["input"].copy()) - io["output"]).max())
        scale = max(1.0, float(np.abs(io["output"]).max()))
        assert diff <= 1e-3 * scale, f"{side} {name}: outputs differ from ronin/ort by {diff}"
        for batch, iters, warmup in [(1, a.iters1 or d1, 20), (64, a.iters64 or d64, 2)]:
            x = rng.random((batch, *SHAPES[name]), dtype=np.float32)
            ms = median_ms(run, x, warmup, iters)
            print(
                json.dumps(
                    {
                        "side": side,
                        "model": name,
                        "batch": batch,
                        "iters": iters,
                        "threads": a.threads,
                        "median_ms": ms,
                        "images_per_second": batch * 1e3 / ms,
                        "max_abs_diff_vs_ronin": diff,
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
