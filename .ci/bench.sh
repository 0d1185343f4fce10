#!/usr/bin/env bash
# make bench: ronin against the PyTorch equivalent of the same work, in one run, as a ratio.
#
#   bash .ci/bench.sh              one training epoch over the 60,000 Fashion-MNIST images
#   bash .ci/bench.sh --limit N    the same over the first N training images (a quick check)
#   bash .ci/bench.sh --repeat R   R rounds (ronin, then PyTorch, each round); medians are compared
#
# Comparison 1, training throughput of the seed CNN at batch 64 with Adam:
#   ronin:   target/release/ronin train pipelines/bench_fashion_cnn.ron (epochs 1), whose
#            metrics.csv images_per_second covers the whole epoch, threaded loader included
#   PyTorch: crates/runner/benches/torch_peer_seed_cnn.py, eager, batches indexed from a
#            preloaded tensor, a few warm-up batches before the clock starts
# Both run one after the other on this machine, on the same libtorch_cpu.so (the pinned
# torch 2.13.0 wheel) and the same number of intra-op threads. Prints a table and writes
# target/bench/train_seed_cnn.json. Needs the network only for `setup.sh --bench` (pip).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

LIMIT=""
REPEAT=1
while [ $# -gt 0 ]; do
  case "$1" in
    --limit)
      [ $# -ge 2 ] && [[ "$2" =~ ^[1-9][0-9]*$ ]] || { echo "bench: --limit needs a positive number of images" >&2; exit 2; }
      LIMIT="$2"; shift 2 ;;
    --repeat)
      [ $# -ge 2 ] && [[ "$2" =~ ^[1-9][0-9]*$ ]] || { echo "bench: --repeat needs a positive number of rounds" >&2; exit 2; }
      REPEAT="$2"; shift 2 ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "bench: unknown option '$1' (expected --limit N or --repeat R)" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1mbench:\033[0m %s\n' "$*" >&2; }
fail() { printf 'bench: error: %s\n' "$1" >&2; exit 1; }

PIPELINE=pipelines/bench_fashion_cnn.ron
PEER=crates/runner/benches/torch_peer_seed_cnn.py
DATA=.ronin/data/fashion_mnist
PY=.ronin/venv-bench/bin/python
RONIN=target/release/ronin
OUT=target/bench/train_seed_cnn.json

bash .ci/setup.sh --bench
[ -x "$PY" ] || fail "$PY is missing after setup (run: bash .ci/setup.sh --bench)"
say "building ronin (release)"
cargo build --release -p ronin-cli
"$RONIN" check "$PIPELINE" >/dev/null || fail "$PIPELINE does not pass 'ronin check'"

CORES=$(nproc)
# libtorch picks its intra-op thread count the same way in both processes; the peer
# reports that default before it sets its own to the number of cores.
if [ -n "${OMP_NUM_THREADS:-}${MKL_NUM_THREADS:-}" ]; then
  say "note: OMP_NUM_THREADS='${OMP_NUM_THREADS:-}' MKL_NUM_THREADS='${MKL_NUM_THREADS:-}' change libtorch's default threads"
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

limit_args=()
peer_args=()
if [ -n "$LIMIT" ]; then
  limit_args=(--limit "$LIMIT")
  peer_args=(--images "$LIMIT")
fi

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
say "load average before the runs: $LOAD (other work on the machine skews both sides)"
for round in $(seq 1 "$REPEAT"); do
  say "round $round/$REPEAT, ronin: training $PIPELINE for one epoch ${LIMIT:+(first $LIMIT images)}"
  run=$("$RONIN" --experiments "$TMP/experiments" train "$PIPELINE" --epochs 1 "${limit_args[@]}" --no-progress --force) ||
    fail "ronin train failed (see above)"
  [ -f "$run/metrics.csv" ] && [ -f "$run/timing.csv" ] || fail "ronin wrote no metrics.csv/timing.csv in '$run'"
  cp "$run/metrics.csv" "$TMP/ronin_metrics_$round.csv"
  cp "$run/timing.csv" "$TMP/ronin_timing_$round.csv"
  cp "$run/data.json" "$TMP/ronin_data_$round.json"

  say "round $round/$REPEAT, PyTorch: training the same model on the same images with $CORES threads"
  "$PY" "$PEER" --data "$DATA" --threads "$CORES" "${peer_args[@]}" >"$TMP/peer_$round.json" ||
    fail "the PyTorch peer failed (see above)"
done

say "the CPU's fp32 matmul peak through libtorch (1024x1024 GEMM, $CORES threads)"
"$PY" "$PEER" --data "$DATA" --threads "$CORES" --peak-only >"$TMP/peak.json" || fail "the matmul peak measurement failed"

mkdir -p "$(dirname "$OUT")"
"$PY" - "$TMP" "$OUT" "$CORES" "${LIMIT:-0}" "$LOAD" "$REPEAT" <<'PYEOF'
import csv, datetime, json, platform, statistics, subprocess, sys
tmp, out, cores, limit, load, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6])


def ronin_round(r):
    with open(f"{tmp}/ronin_metrics_{r}.csv") as f:
        rows = list(csv.DictReader(f))
    with open(f"{tmp}/ronin_timing_{r}.csv") as f:
        timing = list(csv.DictReader(f))
    if len(rows) != 1 or len(timing) != 1:
        sys.exit(f"bench: expected one epoch row in ronin's metrics.csv and timing.csv, found {len(rows)} and {len(timing)}")
    with open(f"{tmp}/ronin_data_{r}.json") as f:
        images = json.load(f)["train_examples"]
    row = rows[0]
    return {
        "images_per_second": float(timing[0]["images_per_second"]),
        "seconds": float(timing[0]["epoch_seconds"]),
        "images": images,
        "train_loss": float(row["train_loss"]),
        "train_accuracy": float(row["train_accuracy"]),
    }


def median_round(rounds):
    """The round whose images/s is the (lower) median."""
    ordered = sorted(rounds, key=lambda r: r["images_per_second"])
    return ordered[(len(ordered) - 1) // 2]


ronin_rounds = [ronin_round(r) for r in range(1, repeat + 1)]
peer_rounds = []
for r in range(1, repeat + 1):
    with open(f"{tmp}/peer_{r}.json") as f:
        peer_rounds.append(json.load(f))
for a, b in zip(ronin_rounds, peer_rounds):
    if a["images"] != b["images"]:
        sys.exit(f"bench: ronin trained on {a['images']} images but the peer on {b['images']}")
ronin_images = ronin_rounds[0]["images"]
peer = dict(median_round(peer_rounds))
ronin = dict(median_round(ronin_rounds))
ronin.update({
    "threads": peer["default_threads"],
    "measures": "the whole training epoch as metrics.csv reports it: threaded loader "
    "(gather, scale, normalise), forward, backward, Adam, on-device loss/accuracy sums; "
    "the first batches are not excluded",
})
torch_side = dict(peer)
torch_side["measures"] = (
    "one epoch of eager PyTorch after %d warm-up batches: batches indexed from a "
    "preloaded, normalised tensor, forward, backward, Adam, on-device loss/accuracy sums"
    % peer["warmup_batches"]
)
ratio = ronin["images_per_second"] / peer["images_per_second"]
with open(f"{tmp}/peak.json") as f:
    peak = json.load(f)
flops = peak["train_flops_per_image"]
achieved = {side: r["images_per_second"] * flops / 1e9 for side, r in (("ronin", ronin), ("pytorch", peer))}
round_ratios = [a["images_per_second"] / b["images_per_second"] for a, b in zip(ronin_rounds, peer_rounds)]
try:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True).stdout.strip())
except (OSError, subprocess.CalledProcessError):
    commit, dirty = None, None
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
result = {
    "benchmark": "train_seed_cnn",
    "workload": "seed CNN (Conv32-ReLU-Pool-Conv64-ReLU-Pool-Flatten-Dropout0.5-Linear128-ReLU-Linear10), "
    "Adam lr 1e-3, cross-entropy, batch 64, one epoch over Fashion-MNIST training images, CPU",
    "images": ronin_images,
    "limit": limit or None,
    "rounds": repeat,
    "ratio_ronin_over_pytorch": ratio,
    "ratio_each_round": round_ratios,
    "images_per_second_each_round": {
        "ronin": [r["images_per_second"] for r in ronin_rounds],
        "pytorch": [r["images_per_second"] for r in peer_rounds],
    },
    "ronin": ronin,
    "pytorch": torch_side,
    "matmul_peak_gflops": peak["matmul_gflops"],
    "train_flops_per_image": flops,
    "achieved_gflops": achieved,
    "share_of_matmul_peak": {k: v / peak["matmul_gflops"] for k, v in achieved.items()},
    "machine": {"cpu": cpu, "cores": cores, "host": platform.node(), "load_average_before": load},
    "git_commit": commit,
    "git_dirty": dirty,
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
}
with open(out, "w") as f:
    json.dump(result, f, indent=2)
    f.write("\n")

print()
print(f"train_seed_cnn: {ronin_images} Fashion-MNIST training images, batch 64, Adam, CPU ({cpu}, {cores} cores)")
print(f"threads: ronin {ronin['threads']} (libtorch default)   PyTorch {peer['threads']} (torch.set_num_threads)")
if ronin["threads"] != peer["threads"]:
    print("warning: the two sides ran with different intra-op thread counts; the ratio is not like for like")
print()
if repeat > 1:
    print(f"median of {repeat} rounds (ratio of each round: {', '.join(f'{x:.3f}' for x in round_ratios)})")
print(f"{'side':<10}{'images/s':>12}{'seconds':>10}")
print(f"{'ronin':<10}{ronin['images_per_second']:>12.1f}{ronin['seconds']:>10.2f}")
print(f"{'PyTorch':<10}{peer['images_per_second']:>12.1f}{peer['seconds']:>10.2f}")
print()
print(f"ratio ronin/PyTorch: {ratio:.3f}  (above 1: ronin is faster)")
print(f"fp32 matmul peak {peak['matmul_gflops']:.1f} GFLOP/s; a training image is {flops / 1e6:.1f} MFLOP, so "
      f"ronin reaches {achieved['ronin']:.1f} GFLOP/s ({100 * achieved['ronin'] / peak['matmul_gflops']:.0f} % of the peak), "
      f"PyTorch {achieved['pytorch']:.1f} ({100 * achieved['pytorch'] / peak['matmul_gflops']:.0f} %)")
print(f"ronin:   {ronin['measures']}")
print(f"PyTorch: {torch_side['measures']}")
print(f"written: {out}")
PYEOF
