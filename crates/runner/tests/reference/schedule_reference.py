"""Learning rates of torch.optim.lr_scheduler, the reference for schedule_tests.rs.

Run with the bench venv (full torch): .ronin/venv-bench/bin/python crates/runner/tests/reference/schedule_reference.py
Prints Rust constants: the lr used in each of the first 12 epochs (or 40 steps for OneCycle).
"""
import torch

def lrs(make, n, metrics=None):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    sched = make(opt)
    out = []
    for i in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[i])
    return out

S = torch.optim.lr_scheduler
CASES = [
    ("step_lr", lambda o: S.StepLR(o, step_size=3, gamma=0.5), 12),
    ("multi_step_lr", lambda o: S.MultiStepLR(o, milestones=[2, 5, 9], gamma=0.1), 12),
    ("exponential_lr", lambda o: S.ExponentialLR(o, gamma=0.8), 12),
    ("cosine_lr", lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.001), 12),
    ("warm_restarts", lambda o: S.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.01), 12),
    ("linear_lr", lambda o: S.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=4), 12),
    ("one_cycle", lambda o: S.OneCycleLR(o, max_lr=0.5, total_steps=40), 40),
    ("one_cycle_linear_three_phase", lambda o: S.OneCycleLR(o, max_lr=0.5, total_steps=40, anneal_strategy="linear", three_phase=True), 40),
]
for name, make, n in CASES:
    print(f"const {name.upper()}: [f64; {n}] = [" + ", ".join(f"{v:.17e}" for v in lrs(make, n)) + "];")

# Plateau: loss improves, then stalls.
losses = [1.0, 0.9, 0.8, 0.8, 0.8, 0.8, 0.79999, 0.8, 0.8, 0.8, 0.7, 0.7]
print("const PLATEAU_LOSSES: [f64; 12] = [" + ", ".join(repr(v) for v in losses) + "];")
vals = lrs(lambda o: S.ReduceLROnPlateau(o, factor=0.5, patience=2, cooldown=1, threshold=1e-4, threshold_mode="abs"), 12, losses)
print("const PLATEAU: [f64; 12] = [" + ", ".join(f"{v:.17e}" for v in vals) + "];")
