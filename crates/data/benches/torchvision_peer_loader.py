"""The torchvision peer of crates/data/benches/loader.rs: images per second out of
torchvision transforms + torch.utils.data.DataLoader on Fashion-MNIST's 60,000 training
images at batch 64, with the same augmentation (rotation, affine with shift, shear and zoom,
horizontal flip, normalize) and the same number of workers.

    python torchvision_peer_loader.py [--workers N] [--epochs E] [--plain]

The dataset is torchvision's own FashionMNIST recipe (uint8 array, PIL image per sample),
read from ronin's IDX files so that no download is needed. Interpolation is bilinear, as
ronin's (torchvision's default is nearest). Prints one JSON object per epoch; the clock
starts when the first batch arrives (worker start-up is left out, as in ronin's bench)."""

import argparse
import json
import os
import time

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms as T
from torchvision.transforms import InterpolationMode

ROOT = os.path.join(os.path.dirname(__file__), "../../../.ronin/data/fashion_mnist")


def read_idx(path, offset):
    with open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


class FashionMNIST(Dataset):
    """torchvision.datasets.FashionMNIST's __getitem__, on arrays already in memory."""

    def __init__(self, transform):
        self.data = read_idx(os.path.join(ROOT, "train-images-idx3-ubyte"), 16).reshape(-1, 28, 28)
        self.targets = torch.from_numpy(
            read_idx(os.path.join(ROOT, "train-labels-idx1-ubyte"), 8).astype(np.int64)
        )
        self.transform = transform

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        img = Image.fromarray(self.data[i], mode="L")
        return self.transform(img), int(self.targets[i])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--plain", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)
    bilinear = InterpolationMode.BILINEAR
    steps = [] if args.plain else [
        T.RandomRotation(10, interpolation=bilinear),
        T.RandomAffine(0, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=10, interpolation=bilinear),
        T.RandomHorizontalFlip(),
    ]
    transform = T.Compose(steps + [T.ToTensor(), T.Normalize((0.2860,), (0.3530,))])
    loader = DataLoader(
        FashionMNIST(transform),
        batch_size=64,
        shuffle=True,
        drop_last=True,
        num_workers=args.workers,
        persistent_workers=args.workers > 0,
        prefetch_factor=4 if args.workers > 0 else None,
    )
    for epoch in range(args.epochs):
        it = iter(loader)
        first, _ = next(it)
        start = time.perf_counter()
        images = 0
        checksum = float(first[0, 0, 14, 14])
        for x, _ in it:
            checksum += float(x[0, 0, 14, 14])
            images += len(x)
        seconds = time.perf_counter() - start
        print(json.dumps({
            "side": "torchvision", "augment": not args.plain, "workers": args.workers,
            "epoch": epoch, "images": images, "seconds": round(seconds, 4),
            "images_per_second": round(images / seconds, 1), "checksum": round(checksum, 3),
            "torch_threads": torch.get_num_threads(),
        }), flush=True)


if __name__ == "__main__":
    main()
