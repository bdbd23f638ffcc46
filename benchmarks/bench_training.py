"""Training throughput of every model in ``implicit3d.models`` (query points/s and shapes/s) beside a baseline.

What is timed: one optimizer update of :meth:`implicit3d.training.Trainer.train_step` (forward, BCE loss, backward,
gradient clipping, AdamW) on an in-memory synthetic batch (random spheres), so data loading is excluded.

Baseline, measured in the same run and the same harness: **"plain MLP, same parameter count"** — a point-wise
5-layer ReLU MLP on the query coordinates alone (no encoder, no conditioning) whose width is chosen to match the
model's parameter count. ``ratio = model points/s / baseline points/s`` says how much the model's structure
(encoder, feature planes/grids, U-Nets, feature sampling) costs compared with the cheapest network of the same size.
On CUDA the model is also timed in plain fp32 next to the trainer's default bf16/fp16 autocast.

Figures are medians over ``--repeats`` timed blocks of ``--steps`` updates after ``--warmup`` updates. Nothing is
asserted; timings on a shared machine are noisy, compare the ratios.

    python benchmarks/bench_training.py                      # all registered models, full and small
    python benchmarks/bench_training.py --models occnet --device cuda --batch-size 32 --n-points 2048
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time

import torch
from torch import nn

from implicit3d.training import TrainConfig, Trainer
from implicit3d.training.synthetic import SphereDataset, TinyPointNetOccupancy


class PlainMLP(nn.Module):
    """Baseline: point-wise MLP ``points (B, M, 3) -> (B, M)``; ignores ``inputs``."""

    def __init__(self, width: int, depth: int = 5) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(3, width), nn.ReLU()]
        for _ in range(depth - 2):
            layers += [nn.Linear(width, width), nn.ReLU()]
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)
        self.config = {"name": "plain_mlp", "width": width, "depth": depth}

    def forward(self, inputs: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        return self.net(points).squeeze(-1)


def mlp_with_params(n_params: int, depth: int = 5) -> PlainMLP:
    """The :class:`PlainMLP` whose parameter count is closest to ``n_params``."""
    # params(w) = (3w + w) + (depth - 2)(w^2 + w) + (w + 1)
    a, b, c = depth - 2, 4 + (depth - 2) + 1, 1 - n_params
    w = max(1, round((-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)))
    return PlainMLP(w, depth)


def registered_models() -> list[str]:
    try:
        import implicit3d.models as models
    except ImportError:
        return []
    for attr in ("available_models", "list_models"):
        fn = getattr(models, attr, None)
        if callable(fn):
            return list(fn())
    for attr in ("MODEL_NAMES", "MODELS", "REGISTRY"):
        value = getattr(models, attr, None)
        if value:
            return list(value)
    return []


def build(name: str) -> nn.Module:
    """The registered model ``name`` (``*_small`` names are the CPU-sized variants); the tiny stand-in."""
    if name == "tiny_pointnet":
        return TinyPointNetOccupancy(hidden=64, latent=64)
    from implicit3d.models import create_model

    return create_model(name)


def time_steps(model: nn.Module, batch: dict, device: str, amp: str, steps: int, warmup: int, repeats: int) -> float:
    """Median seconds per optimizer update."""
    cfg = TrainConfig(batch_size=batch["points"].shape[0], lr=1e-4, warmup_steps=0, max_steps=10**9, amp=amp)
    trainer = Trainer(model, cfg, SphereDataset(1), None, None, device=device, progress=False)
    trainer.model.train()
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    for _ in range(warmup):
        trainer.train_step(batch)
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            trainer.train_step(batch)
        sync()
        times.append((time.perf_counter() - t0) / steps)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="all", help="comma-separated names, or all (registry + tiny_pointnet)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--batch-size", type=int, default=None, help="shapes per batch (default 4 on CPU, 32 on GPU)")
    p.add_argument("--n-inputs", type=int, default=None, help="input points (default 1024 CPU, 2048 GPU)")
    p.add_argument("--n-points", type=int, default=None, help="query points (default 1024 CPU, 2048 GPU)")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    gpu = device == "cuda"
    bsz = args.batch_size or (32 if gpu else 4)
    n_in = args.n_inputs or (2048 if gpu else 1024)
    n_pts = args.n_points or (2048 if gpu else 1024)
    names = registered_models() + ["tiny_pointnet"] if args.models == "all" else args.models.split(",")
    data = SphereDataset(bsz, n_in, n_pts, seed=0)
    batch = torch.utils.data.default_collate([data[i] for i in range(bsz)])
    batch = {k: v for k, v in batch.items() if k in ("inputs", "points", "occ", "sdf")}
    dev_name = torch.cuda.get_device_name() if gpu else f"CPU ({torch.get_num_threads()} threads)"
    print(f"training throughput on {dev_name}: batch {bsz} shapes x {n_in} input points x {n_pts} query points")
    print("baseline: plain MLP, same parameter count (point-wise, no encoder), same harness, same run\n")
    header = (
        f"{'model':<20} {'params':>10} {'ms/step':>9} {'shapes/s':>9} {'points/s':>11} {'MLP pts/s':>11} {'ratio':>6}"
    )
    if gpu:
        header += f" {'fp32 pts/s':>11} {'amp/fp32':>8}"
    print(header)
    for name in names:
        try:
            torch.manual_seed(0)
            model = build(name)
        except Exception as exc:  # noqa: BLE001 - report and go on with the other models
            print(f"{name:<20} could not be built: {exc}")
            continue
        n_params = sum(q.numel() for q in model.parameters())
        amp = "auto" if gpu else "none"
        t_model = time_steps(model, batch, device, amp, args.steps, args.warmup, args.repeats)
        t_mlp = time_steps(mlp_with_params(n_params), batch, device, amp, args.steps, args.warmup, args.repeats)
        pts, mlp_pts = bsz * n_pts / t_model, bsz * n_pts / t_mlp
        line = (
            f"{name:<20} {n_params:>10,} {1e3 * t_model:>9.1f} {bsz / t_model:>9.1f} {pts:>11,.0f} "
            f"{mlp_pts:>11,.0f} {pts / mlp_pts:>6.2f}"
        )
        if gpu:
            t_fp32 = time_steps(model, batch, device, "none", args.steps, args.warmup, args.repeats)
            line += f" {bsz * n_pts / t_fp32:>11,.0f} {t_fp32 / t_model:>8.2f}"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
