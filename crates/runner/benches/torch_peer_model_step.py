"""The PyTorch eager peer of crates/runner/benches/model_step.rs: the same models, the same step.

One step = zero the gradients, forward in training mode, cross-entropy on random labels,
backward (no optimizer), at batch 64 on random normal input: the seed CNN (1x28x28, 10
classes) and ResNet-18 (3x224x224, 1000 classes, torchvision's architecture written out
here because torchvision is not installed; the parameter count is asserted equal to
torchvision's 11,689,512). Also times building ResNet-50 (25,557,032 parameters).

Prints one JSON object per model, like the Rust side.

    python torch_peer_model_step.py [--iters N] [--threads T] [--only NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch
from torch import nn


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


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int) -> None:
        super().__init__()
        out = planes * 4
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, out, 1, stride, bias=False), nn.BatchNorm2d(out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    def __init__(self, block, depths: list[int], classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = 64
        stages = []
        for i, depth in enumerate(depths):
            planes = 64 << i
            blocks = []
            for b in range(depth):
                blocks.append(block(inplanes, planes, 2 if i > 0 and b == 0 else 1))
                inplanes = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--only")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)

    t = time.perf_counter()
    r50 = ResNet(Bottleneck, [3, 4, 6, 3])
    build_ms = (time.perf_counter() - t) * 1e3
    assert params(r50) == 25_557_032, params(r50)
    print(json.dumps({"side": "pytorch", "model": "resnet50_build", "build_ms": build_ms, "params": params(r50)}))

    for name, model, shape, classes, iters in [
        ("seed_cnn", seed_cnn(), (64, 1, 28, 28), 10, 60),
        ("resnet18", ResNet(BasicBlock, [2, 2, 2, 2]), (64, 3, 224, 224), 1000, 6),
    ]:
        if a.only and a.only != name:
            continue
        if name == "resnet18":
            assert params(model) == 11_689_512, params(model)
        iters = a.iters or iters
        model.train()
        x = torch.randn(shape)
        y = torch.randint(classes, (shape[0],))
        loss_fn = nn.CrossEntropyLoss()

        def step() -> None:
            model.zero_grad()
            loss_fn(model(x), y).backward()

        for _ in range(3):
            step()
        times = []
        for _ in range(iters):
            t = time.perf_counter()
            step()
            times.append((time.perf_counter() - t) * 1e3)
        print(
            json.dumps(
                {
                    "side": "pytorch",
                    "model": name,
                    "batch": shape[0],
                    "threads": a.threads,
                    "median_ms": sorted(times)[len(times) // 2],
                    "ms": times,
                    "params": params(model),
                }
            )
        )


if __name__ == "__main__":
    main()
