#!/usr/bin/env bash
# make bench-onnx: inference speed of exported models. Batch-1 latency and batch-64
# throughput of the seed CNN (1x28x28) and ResNet-18 (3x224x224) on the same pseudo-random
# weights, through ronin's exporter + ort, ONNX Runtime's Python API on the same ONNX file,
# PyTorch eager (eval, inference_mode) on the same weights, and ronin's own graph executor
# on libtorch (tch: eval, no_grad) on the same weights, with the same threads.
#
#   bash .ci/bench_onnx.sh [--rounds R] [--threads T] [--only seed_cnn|resnet18]
#       [--iters1 N] [--iters64 N]
#
# The four sides run one after another, R times over (default 3), so that a busy spell on a
# shared machine falls on every side alike; the table shows each side's best median over
# the rounds, and the JSON keeps every round.
#
# Rust side: crates/export/benches/ort_latency.rs (cargo bench; it writes the models, the
# weights and a check batch to target/bench/onnx/). Python side:
# crates/export/benches/peer_latency.py (each peer first checks it reproduces ronin's
# outputs). Writes target/bench/onnx_latency.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash .ci/setup.sh --bench
OUT=target/bench/onnx_latency.json
mkdir -p target/bench/onnx
say() { printf '\033[1mbench:\033[0m %s\n' "$*" >&2; }
say "building the Rust side (release)"
cargo bench -p ronin-export --bench ort_latency --no-run >&2
cargo bench -p ronin-runner --bench tch_latency --no-run >&2
ROUNDS=3
ARGS=()
while (($#)); do
    case "$1" in
        --rounds) ROUNDS="$2"; shift 2 ;;
        *) ARGS+=("$1"); shift ;;
    esac
done
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for round in $(seq 1 "$ROUNDS"); do
    say "round $round of $ROUNDS: ronin / ort"
    cargo bench -q -p ronin-export --bench ort_latency -- --out "$PWD/target/bench/onnx" "${ARGS[@]}" >>"$TMP/ronin.jsonl"
    say "round $round of $ROUNDS: ONNX Runtime (Python)"
    .ronin/venv/bin/python crates/export/benches/peer_latency.py --side ort "${ARGS[@]}" >>"$TMP/ort.jsonl"
    say "round $round of $ROUNDS: PyTorch eager"
    .ronin/venv-bench/bin/python crates/export/benches/peer_latency.py --side torch "${ARGS[@]}" >>"$TMP/torch.jsonl"
    say "round $round of $ROUNDS: tch (ronin's graph executor on libtorch)"
    cargo bench -q -p ronin-runner --bench tch_latency -- "${ARGS[@]}" >>"$TMP/tch.jsonl"
done
.ronin/venv/bin/python - "$TMP/ronin.jsonl" "$TMP/ort.jsonl" "$TMP/torch.jsonl" "$TMP/tch.jsonl" "$OUT" <<'PYEOF'
import json, sys
rows = [json.loads(l) for f in sys.argv[1:5] for l in open(f) if l.strip().startswith("{")]
# Each side's best median over the rounds (the least disturbed one).
by = {}
for r in rows:
    key = (r["side"], r["model"], r["batch"])
    if key not in by or r["median_ms"] < by[key]["median_ms"]:
        by[key] = r
sides = [("ronin_ort", "ronin/ort"), ("ort_python", "ORT-Python"), ("pytorch_eager", "PyTorch eager"), ("tch", "tch")]
out = {"threads": rows[0]["threads"] if rows else None, "best": list(by.values()), "rounds": rows}
print(f"{'model':<10}{'batch':>6}{'':>4}" + "".join(f"{label:>16}" for _, label in sides))
for model in ["seed_cnn", "resnet18"]:
    for batch in [1, 64]:
        got = [by.get((s, model, batch)) for s, _ in sides]
        if not any(got):
            continue
        if batch == 1:
            cells = [f"{r['median_ms']:>13.3f} ms" if r else f"{'-':>16}" for r in got]
            unit = "lat"
        else:
            cells = [f"{r['images_per_second']:>11.0f} img/s" if r else f"{'-':>16}" for r in got]
            unit = "thr"
        print(f"{model:<10}{batch:>6}{unit:>4}" + "".join(cells))
json.dump(out, open(sys.argv[5], "w"), indent=2)
PYEOF
say "wrote $OUT (batch 1: median latency; batch 64: images/s from the median time; best of $ROUNDS rounds)"
