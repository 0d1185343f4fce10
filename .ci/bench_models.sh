#!/usr/bin/env bash
# make bench-models: forward + backward of the seed CNN (1x28x28) and ResNet-18 (3x224x224)
# at batch 64, ronin's graph executor against PyTorch eager, in one run, on the same
# libtorch and the same number of threads; and the time to build ResNet-50.
#
#   bash .ci/bench_models.sh [--iters N] [--only seed_cnn|resnet18]
#
# Rust side: crates/runner/benches/model_step.rs (cargo bench). PyTorch side:
# crates/runner/benches/torch_peer_model_step.py. Writes target/bench/model_step.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash .ci/setup.sh --bench
PY=.ronin/venv-bench/bin/python
OUT=target/bench/model_step.json
mkdir -p target/bench
say() { printf '\033[1mbench:\033[0m %s\n' "$*" >&2; }
say "building the Rust side (release)"
cargo bench -p ronin-runner --bench model_step --no-run >&2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
say "ronin"
cargo bench -q -p ronin-runner --bench model_step -- "$@" >"$TMP/ronin.jsonl"
say "PyTorch eager"
"$PY" crates/runner/benches/torch_peer_model_step.py "$@" >"$TMP/torch.jsonl"
"$PY" - "$TMP/ronin.jsonl" "$TMP/torch.jsonl" "$OUT" <<'PYEOF'
import json, sys
rows = [json.loads(l) for f in sys.argv[1:3] for l in open(f) if l.strip().startswith("{")]
by = {(r["side"], r["model"]): r for r in rows}
out = {}
print(f"{'model':<16}{'ronin':>14}{'PyTorch':>14}{'ronin / PyTorch':>18}")
for model in ["seed_cnn", "resnet18"]:
    r, t = by.get(("ronin", model)), by.get(("pytorch", model))
    if not (r and t):
        continue
    ratio = r["median_ms"] / t["median_ms"]
    out[model] = {"ronin_ms": r["median_ms"], "pytorch_ms": t["median_ms"], "time_ratio": ratio, "threads": r["threads"]}
    print(f"{model:<16}{r['median_ms']:>11.1f} ms{t['median_ms']:>11.1f} ms{ratio:>17.2f}x")
r, t = by[("ronin", "resnet50_build")], by[("pytorch", "resnet50_build")]
out["resnet50_build"] = {"ronin_ms": r["build_ms"], "pytorch_ms": t["build_ms"]}
print(f"{'resnet50 build':<16}{r['build_ms']:>11.1f} ms{t['build_ms']:>11.1f} ms")
json.dump(out, open(sys.argv[3], "w"), indent=2)
PYEOF
say "wrote $OUT (time ratio < 1.10 meets the 'within 10% of PyTorch' bar)"
