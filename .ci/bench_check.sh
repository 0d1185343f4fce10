#!/usr/bin/env bash
# make bench-check: checking a 200-layer pipeline, in-process (parse, validation, shape
# inference, summary: crates/spec/benches/check.rs) and as a whole `ronin check` process
# (start-up included), against the same command in `ronin-train`, which loads libtorch.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash .ci/setup.sh
say() { printf '\033[1mbench:\033[0m %s\n' "$*" >&2; }
say "in-process (cargo bench -p ronin-spec --bench check)"
cargo bench -q -p ronin-spec --bench check
say "building ronin and ronin-train (release)"
cargo build --release -p ronin-cli >&2
.ronin/venv/bin/python - <<'PYEOF'
import statistics, subprocess, time
def wall(cmd, n):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), min(times), max(times)
for name, n in [("ronin", 30), ("ronin-train", 10)]:
    med, lo, hi = wall([f"target/release/{name}", "check", "target/bench/deep_200.ron"], n)
    print(f"{name + ' check deep_200.ron':<34}{med:8.1f} ms median ({lo:.1f}-{hi:.1f}, {n} runs)")
PYEOF
