"""Trajectories of torch.optim on a fixed problem, the reference for optim_tests.rs.

Run with the bench venv (full torch): .ronin/venv-bench/bin/python crates/runner/tests/reference/optim_reference.py
Prints Rust constants: for each configuration, x after each of 6 steps.
"""
import torch

CONFIGS = [
    ("sgd_momentum_dampening", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("sgd_nesterov", lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True)),
    ("adam_amsgrad", lambda p: torch.optim.Adam(p, lr=0.1, weight_decay=0.1, amsgrad=True)),
    ("adamw", lambda p: torch.optim.AdamW(p, lr=0.1, weight_decay=0.5)),
    ("rmsprop_centered_momentum", lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.01)),
    ("rmsprop_plain", lambda p: torch.optim.RMSprop(p, lr=0.01)),
    ("adagrad", lambda p: torch.optim.Adagrad(p, lr=0.5, lr_decay=0.1, weight_decay=0.01, initial_accumulator_value=0.1)),
]

def run(make):
    x = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64, requires_grad=True)
    c = torch.tensor([0.5, 1.0, -1.0, 2.0], dtype=torch.float64)
    w = torch.tensor([1.0, 2.0, 0.5, 3.0], dtype=torch.float64)
    opt = make([x])
    out = []
    for _ in range(6):
        opt.zero_grad()
        loss = (w * (x - c) ** 2).sum() + (x ** 4).sum() * 0.01
        loss.backward()
        opt.step()
        out.append(x.detach().tolist())
    return out

for name, make in CONFIGS:
    traj = run(make)
    rows = ",\n    ".join("[" + ", ".join(f"{v:.15e}" for v in row) + "]" for row in traj)
    print(f"const {name.upper()}: [[f64; 4]; 6] = [\n    {rows},\n];")
