# ronin's entry points. Each target sets up what it needs (bash .ci/setup.sh is idempotent).
.PHONY: setup demo test lint bench bench-models bench-onnx bench-loader bench-check bench-store fuzz build-cuda clean-deps

# Fetch libtorch (CPU), ONNX Runtime, MNIST/Fashion-MNIST and the test venv into .ronin/.
setup:
	bash .ci/setup.sh

# The main job: train the default pipeline on real MNIST, export it to ONNX, predict.
demo:
	bash .ci/demo.sh

# Every test: unit tests of each crate and the end-to-end tests in tests/.
test:
	bash .ci/setup.sh --test
	cargo test --workspace

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

# ronin against the PyTorch equivalent of the same work, in one run (installs the peer on demand).
bench:
	bash .ci/bench.sh

# Forward + backward of the seed CNN and ResNet-18 against PyTorch eager; ResNet-50 build time.
bench-models:
	bash .ci/bench_models.sh

# Inference: batch-1 latency and batch-64 throughput of the seed CNN and ResNet-18 through
# ronin's ONNX export + ort, against ONNX Runtime's Python API and PyTorch eager.
bench-onnx:
	bash .ci/bench_onnx.sh

# The batch loader with augmentation against torchvision transforms + DataLoader, and against
# what the seed CNN's training step consumes.
bench-loader:
	bash .ci/bench_loader.sh

# Checking a 200-layer pipeline: in-process, and as a whole `ronin check` process.
bench-check:
	bash .ci/bench_check.sh

# The cargo-fuzz targets (IDX, CIFAR, the pipeline language), SECONDS each (default 60).
fuzz:
	bash .ci/fuzz.sh $(SECONDS)

# The experiment store and watch mode against their speed targets (ronin runs over 1,000
# runs, save -> diagnostics, save -> training).
bench-store:
	bash .ci/setup.sh
	cargo build --release -p ronin-cli
	.ronin/venv/bin/python .ci/bench_store.py target/release/ronin

# A CUDA build against the full torch==2.13.0 wheel (see README: "CUDA").
build-cuda:
	bash .ci/setup.sh --cuda
	PATH="$(CURDIR)/.ronin/venv-cuda/bin:$$PATH" LIBTORCH_USE_PYTORCH=1 CARGO_TARGET_DIR=target/cuda \
		cargo build --release -p ronin-cli
	@echo "run it with: .ci/ronin-cuda train pipelines/mnist_cnn.ron"

clean-deps:
	rm -rf .ronin
