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

On a CPU a second table compares **bf16 autocast with fp32** (the baseline) per model, in the same run: one training
update (``train.amp: bf16`` vs ``none``) and one inference (:class:`~implicit3d.extraction.field.ModelField`: encode
the first input cloud, decode ``--infer-points`` query points, ``bf16=True`` vs ``False``), fp32 and bf16 repetitions
interleaved in one loop, medians of ``--amp-repeats``; ``ratio = fp32 time / bf16 time`` (above 1: bf16 is faster).
``max dlogit`` is the largest logit difference between the two inferences over the largest fp32 logit; ``auto``
says whether ``train.amp: auto`` picks bf16 for that model on this CPU. bf16 is emulated (slow) on CPUs without
AMX or AVX-512 BF16; the CPU capability detected is printed first. With ``--threads 1`` the table times CPU seconds
of this process instead of wall seconds: on a shared, loaded machine those are far less skewed by other jobs.

    python benchmarks/bench_training.py                      # all registered models, full and small
    python benchmarks/bench_training.py --models occnet --device cuda --batch-size 32 --n-points 2048
    python benchmarks/bench_training.py --tables amp --threads 1 --models conv_onet_grid,conv_onet_grid_small
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import sys
import time

import numpy as np
import torch
from _cli import non_negative_int, positive_int
from torch import nn

from implicit3d.extraction.field import ModelField
from implicit3d.training import TrainConfig, Trainer
from implicit3d.training.synthetic import SphereDataset, TinyPointNetOccupancy
from implicit3d.training.trainer import cpu_bf16_capability, resolve_amp


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


def throughput_table(names: list[str], batch: dict, device: str, steps: int, warmup: int, repeats: int) -> None:
    """Print the throughput table: each model beside the plain MLP of its parameter count."""
    gpu = device == "cuda"
    bsz, n_pts = batch["points"].shape[:2]
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
        t_model = time_steps(model, batch, device, amp, steps, warmup, repeats)
        t_mlp = time_steps(mlp_with_params(n_params), batch, device, amp, steps, warmup, repeats)
        pts, mlp_pts = bsz * n_pts / t_model, bsz * n_pts / t_mlp
        line = (
            f"{name:<20} {n_params:>10,} {1e3 * t_model:>9.1f} {bsz / t_model:>9.1f} {pts:>11,.0f} "
            f"{mlp_pts:>11,.0f} {pts / mlp_pts:>6.2f}"
        )
        if gpu:
            t_fp32 = time_steps(model, batch, device, "none", steps, warmup, repeats)
            line += f" {bsz * n_pts / t_fp32:>11,.0f} {t_fp32 / t_model:>8.2f}"
        print(line, flush=True)


def compare_bf16(model: nn.Module, batch: dict, repeats: int, n_query: int) -> dict[str, float]:
    """CPU: seconds of one training update and one inference in fp32 and under bf16 autocast, interleaved; medians.

    Returns ``train_fp32``, ``train_bf16``, ``infer_fp32``, ``infer_bf16`` (seconds) and ``dlogit`` (the largest
    logit difference of the two inferences over the largest fp32 logit)."""
    bsz = batch["points"].shape[0]
    trainers = {}
    for amp in ("none", "bf16"):
        cfg = TrainConfig(batch_size=bsz, lr=1e-5, warmup_steps=0, max_steps=10**9, amp=amp)
        trainers[amp] = Trainer(copy.deepcopy(model), cfg, SphereDataset(1), None, None, device="cpu", progress=False)
        trainers[amp].model.train()
    cloud = batch["inputs"][0].numpy()
    query = torch.rand(n_query, 3, generator=torch.Generator().manual_seed(0)).numpy() - 0.5
    infer_model = copy.deepcopy(model)

    def infer(bf16: bool) -> np.ndarray:
        return ModelField(infer_model, cloud, output="logits", bf16=bf16)(query)

    clock = time.process_time if torch.get_num_threads() == 1 else time.perf_counter
    times: dict[str, list[float]] = {k: [] for k in ("train_fp32", "train_bf16", "infer_fp32", "infer_bf16")}
    values: dict[str, np.ndarray] = {}
    for rep in range(repeats + 1):  # the first round warms up (oneDNN kernels, allocator) and is not timed
        for amp, tag in (("none", "fp32"), ("bf16", "bf16")):
            t0 = clock()
            trainers[amp].train_step(batch)
            t1 = clock()
            values[tag] = infer(tag == "bf16")
            t2 = clock()
            if rep:
                times[f"train_{tag}"].append(t1 - t0)
                times[f"infer_{tag}"].append(t2 - t1)
    out = {k: statistics.median(v) for k, v in times.items()}
    out["dlogit"] = float(abs(values["fp32"] - values["bf16"]).max() / max(abs(values["fp32"]).max(), 1e-12))
    return out


def amp_table(names: list[str], batch: dict, repeats: int, n_query: int) -> None:
    """Print the fp32-vs-bf16 table (CPU)."""
    bsz, n_pts = batch["points"].shape[:2]
    n_threads = torch.get_num_threads()
    clock = "CPU seconds (1 thread)" if n_threads == 1 else f"wall seconds ({n_threads} threads)"
    print(f"\nbf16 autocast vs fp32 on CPU: one training update (batch {bsz} x {n_pts} queries) and one inference "
          f"(encode + {n_query} queries), {clock}; medians of {repeats} interleaved repetitions; "
          "ratio = fp32 / bf16")
    print(f"{'model':<24} {'auto':>5} {'train fp32':>10} {'bf16':>8} {'ratio':>6} {'infer fp32':>10} {'bf16':>8} "
          f"{'ratio':>6} {'max dlogit':>10}")
    for name in names:
        try:
            torch.manual_seed(0)
            model = build(name)
        except Exception as exc:  # noqa: BLE001 - report and go on with the other models
            print(f"{name:<24} could not be built: {exc}")
            continue
        n_params = sum(q.numel() for q in model.parameters())
        auto = resolve_amp("auto", torch.device("cpu"), n_params) == torch.bfloat16
        r = compare_bf16(model, batch, repeats, n_query)
        print(
            f"{name:<24} {'bf16' if auto else 'fp32':>5} {r['train_fp32']:>9.3f}s {r['train_bf16']:>7.3f}s "
            f"{r['train_fp32'] / r['train_bf16']:>6.2f} {r['infer_fp32']:>9.3f}s {r['infer_bf16']:>7.3f}s "
            f"{r['infer_fp32'] / r['infer_bf16']:>6.2f} {r['dlogit']:>10.4f}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="all", help="comma-separated names, or all (registry + tiny_pointnet)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--batch-size", type=positive_int, default=None,
                   help="shapes per batch (default 4 on CPU, 32 on GPU)")
    p.add_argument("--n-inputs", type=positive_int, default=None, help="input points (default 1024 CPU, 2048 GPU)")
    p.add_argument("--n-points", type=positive_int, default=None, help="query points (default 1024 CPU, 2048 GPU)")
    p.add_argument("--steps", type=positive_int, default=3, help="timed steps per repeat (default 3)")
    p.add_argument("--warmup", type=non_negative_int, default=2, help="untimed steps first (default 2)")
    p.add_argument("--repeats", type=positive_int, default=3, help="repeats, median reported (default 3)")
    p.add_argument("--tables", default="throughput,amp", help="which tables: throughput, amp (CPU only), or both")
    p.add_argument("--amp-repeats", type=positive_int, default=3,
                   help="interleaved fp32/bf16 repetitions per model (CPU)")
    p.add_argument("--infer-points", type=positive_int, default=32768,
                   help="query points of the inference timing (CPU)")
    p.add_argument("--threads", type=non_negative_int, default=0,
                   help="torch threads (default: torch's); with 1 the fp32/bf16 table times CPU seconds of this "
                   "process, which other jobs on a shared machine barely skew")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    tables = set(args.tables.split(","))
    if not tables or not tables <= {"throughput", "amp"}:
        p.error(f"--tables lists throughput and/or amp, got {args.tables!r}")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA GPU is available to this torch build")

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
    print(f"torch {torch.__version__}; CPU capability {torch.backends.cpu.get_cpu_capability()}; "
          f"native bf16: {cpu_bf16_capability() or 'no (bf16 is emulated: slower than fp32)'}")
    if "throughput" in tables:
        print(f"training throughput on {dev_name}: batch {bsz} shapes x {n_in} input points x {n_pts} query points")
        throughput_table(names, batch, device, args.steps, args.warmup, args.repeats)
    if not gpu and "amp" in tables:
        amp_table(names, batch, args.amp_repeats, args.infer_points)
    return 0


if __name__ == "__main__":
    sys.exit(main())
