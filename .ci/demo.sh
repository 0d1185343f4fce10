#!/usr/bin/env bash
# The main job: set up, build, then train the default pipeline (a Fashion-MNIST CNN with
# batch norm, augmentation, a warm-up + cosine schedule and early stopping) on the real
# Fashion-MNIST images, export the best model to ONNX (verified against the trained model)
# and predict with it. Another pipeline: bash .ci/demo.sh pipelines/mnist_cnn.ron
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PIPELINE="${1:-pipelines/fashion_cnn.ron}"

bash .ci/setup.sh
cargo build --release -p ronin-cli
ronin=target/release/ronin

case "$PIPELINE" in
  *mnist_cnn*) images=.ronin/data/mnist/images-idx3-ubyte labels=.ronin/data/mnist/labels-idx1-ubyte ;;
  *) images=.ronin/data/fashion_mnist/t10k-images-idx3-ubyte labels=.ronin/data/fashion_mnist/t10k-labels-idx1-ubyte ;;
esac

$ronin check "$PIPELINE"
start=$(date +%s)
run=$($ronin train "$PIPELINE")
echo "ronin train: $(( $(date +%s) - start )) s (0 when this exact experiment had already run)"
model=$($ronin export "$run")
echo
echo "predictions for the first eight images of $images:"
$ronin predict "$model" "$images" --labels "$labels" --limit 8 -k 3
echo
echo "run:   $run"
echo "model: $model (manifest: ${model%.onnx}.json)"
echo "TensorBoard: tensorboard --logdir $run/events   (the test venv has it: .ronin/venv/bin/tensorboard)"
