"""Losses against MixUp's soft targets, the reference for the soft-target tests of loss.rs.

Run with the bench venv (full torch): .ronin/venv-bench/bin/python crates/runner/tests/reference/mix_reference.py
The targets are timm's `mixup_target` (timm.data.mixup), written out here: smoothed one-hots
of the labels and of the labels flipped, mixed with lam. Prints the values as Rust constants.
"""
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
labels = torch.tensor([0, 2])
K = 3


def mixup_target(target, num_classes, lam=1.0, smoothing=0.0):
    off = smoothing / num_classes
    on = 1.0 - smoothing + off
    y1 = F.one_hot(target, num_classes).double() * (on - off) + off
    y2 = F.one_hot(target.flip(0), num_classes).double() * (on - off) + off
    return y1 * lam + y2 * (1.0 - lam)


t = mixup_target(labels, K, lam=0.3, smoothing=0.1)
w = torch.tensor([1.0, 1.0, 3.0])
cases = [
    ("CE_SOFT", F.cross_entropy(logits, t)),
    ("CE_SOFT_WEIGHTED", F.cross_entropy(logits, t, weight=w)),
    ("BCE_SOFT", F.binary_cross_entropy_with_logits(logits, t)),
    (
        "BCE_SOFT_POS_WEIGHT",
        F.binary_cross_entropy_with_logits(logits, t, pos_weight=torch.full((K,), 2.0)),
    ),
]
print(f"// targets {t.tolist()}")
for name, v in cases:
    print(f"const {name}: f64 = {v.item():.12};")
