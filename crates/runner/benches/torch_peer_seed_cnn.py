"""The PyTorch peer of pipelines/bench_fashion_cnn.ron: the same training work in eager PyTorch.

The course's seed CNN (Conv 32 3x3 same, ReLU, MaxPool 2, Conv 64 3x3 same, ReLU, MaxPool 2,
Flatten, Dropout 0.5, Linear 128, ReLU, Linear 10) with PyTorch's default initialisation,
Adam (lr 1e-3) and cross-entropy, trained on the Fashion-MNIST training images read from the
IDX files and normalised with their mean and (population) std, as ronin's `Computed` does.

This is the fastest fair eager loop: the whole set is a preloaded float tensor, each epoch
is a fresh permutation, and a batch is an index into that tensor (no DataLoader, no
workers). Like ronin's epoch, every batch also adds its loss and correct count to sums kept
as tensors, read back once at the end; the last batch may be partial (ronin's drop_last
false). A few warm-up batches run before the clock starts and are not counted.

Prints one line of JSON: images_per_second, seconds, images, batches, threads, ...

    python torch_peer_seed_cnn.py --data .ronin/data/fashion_mnist [--images N] [--threads T]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Reads an uncompressed IDX file of unsigned bytes: header, then the array."""
    raw = path.read_bytes()
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        sys.exit(f"torch peer: {path}: IDX magic {found:#x}, expected {magic:#x}")
    ndim = magic & 0xFF
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        sys.exit(f"torch peer: {path}: {data.size} bytes of data for dimensions {dims}")
    return data.reshape(dims)


def seed_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding="same"),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding="same"),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(64 * 7 * 7, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


def seed_cnn_train_flops() -> int:
    """Floating-point operations of one training image: forward multiply-adds × 2 FLOPs,
    × 3 for forward + backward (input and weight gradients), pooling and ReLU left out."""
    macs = (
        28 * 28 * 32 * 3 * 3 * 1  # conv 1 -> 32 at 28x28
        + 14 * 14 * 64 * 3 * 3 * 32  # conv 32 -> 64 at 14x14
        + 64 * 7 * 7 * 128  # linear 3136 -> 128
        + 128 * 10  # linear 128 -> 10
    )
    return 2 * 3 * macs


def matmul_peak_gflops(threads: int, n: int = 1024, reps: int = 20) -> float:
    """The best fp32 GEMM rate libtorch reaches here with `threads` threads: the ceiling
    for a training step, whose convolutions and linears are GEMMs."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        torch.mm(a, b)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="folder with train-{images-idx3,labels-idx1}-ubyte")
    ap.add_argument("--images", type=int, default=0, help="train on the first N images (0: all)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch.set_num_threads")
    ap.add_argument("--warmup-batches", type=int, default=5)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--peak-only", action="store_true", help="only measure the fp32 matmul peak")
    args = ap.parse_args()

    if args.peak_only:
        print(json.dumps({"matmul_gflops": matmul_peak_gflops(args.threads), "threads": args.threads,
                          "train_flops_per_image": seed_cnn_train_flops()}))
        return

    default_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    images = read_idx(args.data / "train-images-idx3-ubyte", 0x0803)
    labels = read_idx(args.data / "train-labels-idx1-ubyte", 0x0801)
    if len(images) != len(labels):
        sys.exit(f"torch peer: {len(images)} images but {len(labels)} labels")
    if args.images:
        if args.images > len(images):
            sys.exit(f"torch peer: --images {args.images} but the file holds {len(images)}")
        images, labels = images[: args.images], labels[: args.images]

    pixels = images.astype(np.float64) / 255.0
    mean, std = pixels.mean(), pixels.std()
    x = torch.from_numpy(((pixels - mean) / std).astype(np.float32)).unsqueeze(1).contiguous()
    y = torch.from_numpy(labels.astype(np.int64))
    n = len(x)

    model = seed_cnn()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step(idx: torch.Tensor, loss_sum: torch.Tensor, correct: torch.Tensor) -> None:
        xb, yb = x[idx], y[idx]
        logits = model(xb)
        loss = loss_fn(logits, yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            loss_sum.add_(loss.detach().double() * len(idx))
            correct.add_((logits.argmax(-1) == yb).sum())

    loss_sum = torch.zeros((), dtype=torch.float64)
    correct = torch.zeros((), dtype=torch.int64)
    warm = torch.randperm(n)
    for b in range(args.warmup_batches):
        step(warm[b * args.batch_size : (b + 1) * args.batch_size], loss_sum, correct)

    loss_sum.zero_()
    correct.zero_()
    started = time.perf_counter()
    order = torch.randperm(n)
    batches = 0
    for start in range(0, n, args.batch_size):
        step(order[start : start + args.batch_size], loss_sum, correct)
        batches += 1
    train_loss, train_accuracy = loss_sum.item() / n, correct.item() / n
    seconds = time.perf_counter() - started

    print(
        json.dumps(
            {
                "images_per_second": n / seconds,
                "seconds": seconds,
                "images": n,
                "batches": batches,
                "batch_size": args.batch_size,
                "threads": torch.get_num_threads(),
                "default_threads": default_threads,
                "warmup_batches": args.warmup_batches,
                "train_loss": train_loss,
                "train_accuracy": train_accuracy,
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
