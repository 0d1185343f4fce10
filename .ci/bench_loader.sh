#!/usr/bin/env bash
# make bench-loader: ronin's batch loader against torchvision transforms + DataLoader, and
# against what the seed CNN's training step consumes, in one run.
#
#   bash .ci/bench_loader.sh [--workers N] [--epochs E]
#
# Both loaders read Fashion-MNIST's 60,000 training images at batch 64 with the same
# augmentation (rotation 10 deg, affine with shift 0.1, shear 10 deg, zoom 0.9-1.1, both
# bilinear; horizontal flip; normalize) and the same number of workers (default: the cores);
# medians over the epochs. The training step is forward + backward of the seed CNN of
# pipelines/mnist_cnn.ron at batch 64 (crates/runner/benches/model_step.rs, optimizer step
# left out, so the step's rate is if anything overstated). Rust side:
# crates/data/benches/loader.rs; peer: crates/data/benches/torchvision_peer_loader.py.
# Writes target/bench/loader.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

WORKERS=$(nproc)
EPOCHS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --workers)
      [ $# -ge 2 ] && [[ "$2" =~ ^[1-9][0-9]*$ ]] || { echo "bench-loader: --workers needs a positive number" >&2; exit 2; }
      WORKERS="$2"; shift 2 ;;
    --epochs)
      [ $# -ge 2 ] && [[ "$2" =~ ^[1-9][0-9]*$ ]] || { echo "bench-loader: --epochs needs a positive number" >&2; exit 2; }
      EPOCHS="$2"; shift 2 ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "bench-loader: unknown option '$1' (expected --workers N or --epochs E)" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1mbench:\033[0m %s\n' "$*" >&2; }
bash .ci/setup.sh --bench
PY=.ronin/venv-bench/bin/python
OUT=target/bench/loader.json
mkdir -p target/bench
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

say "building the Rust side (release)"
cargo bench -p ronin-data --bench loader --no-run >&2
cargo bench -p ronin-runner --bench model_step --no-run >&2
say "ronin loader, $WORKERS workers"
cargo bench -q -p ronin-data --bench loader -- --workers "$WORKERS" --epochs "$EPOCHS" | tee "$TMP/ronin.jsonl" >&2
say "torchvision + DataLoader, $WORKERS workers"
"$PY" crates/data/benches/torchvision_peer_loader.py --workers "$WORKERS" --epochs "$EPOCHS" | tee "$TMP/torchvision.jsonl" >&2
say "seed CNN training step (forward + backward, batch 64)"
cargo bench -q -p ronin-runner --bench model_step -- --only seed_cnn | tee "$TMP/step.jsonl" >&2

"$PY" - "$TMP" "$OUT" <<'PYEOF'
import json, os, statistics, sys
tmp, out = sys.argv[1:3]
def rows(name):
    return [json.loads(l) for l in open(os.path.join(tmp, name)) if l.strip().startswith("{")]
ronin = statistics.median(r["images_per_second"] for r in rows("ronin.jsonl"))
tv = statistics.median(r["images_per_second"] for r in rows("torchvision.jsonl"))
step = next(r for r in rows("step.jsonl") if r.get("model") == "seed_cnn")
step_ips = 64 / (step["median_ms"] / 1000)
result = {
    "ronin_images_per_second": ronin,
    "torchvision_images_per_second": tv,
    "ronin_over_torchvision": ronin / tv,
    "seed_cnn_step_images_per_second": step_ips,
    "ronin_over_step": ronin / step_ips,
    "workers": rows("ronin.jsonl")[0]["workers"],
}
print(f"{'ronin loader':<34}{ronin:>12,.0f} images/s")
print(f"{'torchvision + DataLoader':<34}{tv:>12,.0f} images/s   ronin / torchvision {ronin / tv:.2f}x (bar: 3x)")
print(f"{'seed CNN step consumes':<34}{step_ips:>12,.0f} images/s   ronin / step {ronin / step_ips:.2f}x (bar: 5x)")
json.dump(result, open(out, "w"), indent=2)
PYEOF
say "wrote $OUT"
