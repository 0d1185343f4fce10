#!/usr/bin/env bash
# make fuzz: the cargo-fuzz targets, each for a given time: the IDX and CIFAR readers
# (crates/data/fuzz: idx, cifar), from a seed corpus of small valid files (raw and gzip
# IDX, CIFAR-10 and CIFAR-100 records), and parse + merge + override + validate of the
# pipeline language (crates/spec/fuzz: pipeline), from the example pipelines and the
# catalogue of malformed ones.
#
#   bash .ci/fuzz.sh [SECONDS_PER_TARGET]     (default 60)
#
# Needs a nightly toolchain (rustup's `nightly`) for the sanitizer; installs cargo-fuzz
# with cargo when it is missing. A crash leaves its input in the target's artifacts folder
# (crates/<crate>/fuzz/artifacts/) and fails the script.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SECS="${1:-60}"
[[ "$SECS" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: the time per target must be a positive number of seconds" >&2; exit 2; }
say() { printf '\033[1mfuzz:\033[0m %s\n' "$*" >&2; }

rustup toolchain list | grep -q '^nightly' || {
  echo "fuzz: needs a nightly toolchain (rustup toolchain install nightly)" >&2; exit 1; }
command -v cargo-fuzz >/dev/null || { say "installing cargo-fuzz"; cargo install --locked cargo-fuzz; }

mkdir -p target
python3 - crates/data/fuzz/corpus crates/spec/fuzz/corpus <<'PYEOF'
import glob, gzip, os, struct, sys
root, spec_root = sys.argv[1:3]
def put(target, name, data):
    os.makedirs(os.path.join(root, target), exist_ok=True)
    with open(os.path.join(root, target, name), "wb") as f:
        f.write(data)
def idx(dims, body):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + body
images = idx([2, 3, 4], bytes(range(24)))
labels = idx([5], bytes([0, 1, 2, 3, 9]))
rgb = idx([1, 3, 2, 2], bytes(range(12)))
for name, data in [("images", images), ("labels", labels), ("rgb", rgb)]:
    put("idx", name, data)
    put("idx", name + ".gz", gzip.compress(data))
pixels = bytes(i % 256 for i in range(3072))
put("cifar", "cifar10", bytes([3]) + pixels + bytes([9]) + pixels)
put("cifar", "cifar100", bytes([19, 99]) + pixels)
os.makedirs(os.path.join(spec_root, "pipeline"), exist_ok=True)
files = sorted(glob.glob("pipelines/*.ron") + glob.glob("tests/fixtures/malformed/*.ron"))
for f in files:
    with open(f, "rb") as src, open(os.path.join(spec_root, "pipeline", os.path.basename(f)), "wb") as dst:
        dst.write(src.read())
# a child, the base it extends and an override, separated by NUL bytes
with open("pipelines/mnist_cnn.ron", "rb") as f:
    base = f.read()
with open(os.path.join(spec_root, "pipeline", "extends"), "wb") as f:
    f.write(b"(epochs: 3, optimizer: Adam(lr: 0.01))\0" + base + b"\0model.layers[0].filters=8")
PYEOF

for crate_target in data:idx data:cifar spec:pipeline; do
  crate="${crate_target%%:*}" target="${crate_target#*:}"
  say "$target ($crate) for $SECS s"
  (cd "crates/$crate" && cargo +nightly fuzz run "$target" -- -max_total_time="$SECS" -max_len=16384 2>&1) \
    | tee "target/fuzz-$target.log" | grep -E '^(#[0-9]+.*DONE|Done|==[0-9]+==ERROR|SUMMARY)' >&2 || true
  if ! grep -q '^Done' "target/fuzz-$target.log"; then
    echo "fuzz: $target did not finish cleanly: see target/fuzz-$target.log and crates/$crate/fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep '^Done' "target/fuzz-$target.log" | sed "s/^/fuzz: $target: /" >&2
done
