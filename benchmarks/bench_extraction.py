"""Benchmark: MISE against the dense grid it replaces, and point-cloud-to-mesh latency.

Prints, per field, the points evaluated and seconds of a dense grid (the baseline, measured in the same run) and of
MISE at the same final resolution, their ratios, and the IoU between the two meshes (100k uniform points).
Targets (issue 5): at 256^3, MISE evaluates <= 10% of the dense points, takes <= 1/5 of its time, IoU >= 0.99.

Fields:
- ``bottle``: an analytic bottle (body, shoulder, neck, cap, smooth CSG in numpy) — cheap per point, so the
  bookkeeping of MISE is visible;
- ``bottle+mlp``: the same SDF plus a 5-layer, 128-wide random MLP (torch, CPU) scaled to a small ripple, so the
  per-point cost is that of a small decoder and evaluation dominates, as with a trained model.

Then the latency from a 2048-point partial cloud to a mesh at 128^3 with the small ConvONet grid model, MISE beside
the dense grid of the same model (baseline): random weights, or a trained model with ``--checkpoint RUN`` (a trained
field has a thin surface band, so MISE evaluates far fewer points than for random weights).

Usage: ``python benchmarks/bench_extraction.py [--resolution 256] [--mlp-resolution 256] [--repeats 3]
[--checkpoint RUN]``.
Timings are medians over ``--repeats`` runs (the dense MLP grid runs ``--mlp-repeats`` times, default 1).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from _cli import non_negative_int, positive_int

from implicit3d.evaluation import metrics
from implicit3d.extraction import CountingField, MeshGenerator, extract_dense, extract_mise


# ------------------------------------------------------------------ fields
def _smooth_union(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b + (a - b) * h - k * h * (1.0 - h)


def _capped_cylinder(p: np.ndarray, z0: float, z1: float, r: float) -> np.ndarray:
    d_r = np.sqrt(p[:, 0] ** 2 + p[:, 1] ** 2) - r
    d_z = np.abs(p[:, 2] - 0.5 * (z0 + z1)) - 0.5 * (z1 - z0)
    outside = np.sqrt(np.maximum(d_r, 0) ** 2 + np.maximum(d_z, 0) ** 2)
    return outside + np.minimum(np.maximum(d_r, d_z), 0.0)


def bottle_sdf(p: np.ndarray) -> np.ndarray:
    """A bottle standing on z = -0.45 in the normalized cube: body, rounded shoulder, neck and cap (SDF-like)."""
    body = _capped_cylinder(p, -0.45, 0.1, 0.17) - 0.02
    shoulder = np.linalg.norm(p - [0.0, 0.0, 0.1], axis=1) - 0.17
    neck = _capped_cylinder(p, 0.1, 0.38, 0.06)
    cap = _capped_cylinder(p, 0.33, 0.44, 0.075) - 0.005
    d = _smooth_union(body, shoulder, 0.05)
    d = _smooth_union(d, neck, 0.04)
    return np.minimum(d, cap)


class MLPRipple:
    """``bottle_sdf(p) + 0.01 * tanh(mlp(p))`` with a random 5-layer, 128-wide ReLU MLP (torch, float32, CPU)."""

    def __init__(self, seed: int = 0) -> None:
        torch.manual_seed(seed)
        dims = [3, 128, 128, 128, 128, 1]
        layers: list[torch.nn.Module] = []
        for i in range(len(dims) - 1):
            layers.append(torch.nn.Linear(dims[i], dims[i + 1]))
            if i < len(dims) - 2:
                layers.append(torch.nn.ReLU())
        self.mlp = torch.nn.Sequential(*layers).eval()

    def __call__(self, p: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            ripple = torch.tanh(self.mlp(torch.from_numpy(p.astype(np.float32)))).numpy()[:, 0]
        return bottle_sdf(p) + 0.01 * ripple.astype(np.float64)


# ------------------------------------------------------------------ helpers
def mesh_iou(a, b, n: int = 100_000, seed: int = 0) -> float:
    pts = np.random.default_rng(seed).uniform(-0.55, 0.55, (n, 3))
    return metrics.iou(inside(a, pts), inside(b, pts))


def inside(mesh, pts):
    try:
        return metrics.mesh_inside(mesh, pts)
    except ImportError:  # implicit3d.geometry.inside not available yet
        return mesh.contains(pts)


def timed(fn, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def compare(name: str, field, resolution: int, repeats: int, dense_repeats: int, batch_size: int) -> None:
    counter = CountingField(field)
    t_dense, dense = timed(lambda: extract_dense(field, resolution=resolution, batch_size=batch_size), dense_repeats)
    t_mise, mise = timed(lambda: extract_mise(counter, resolution=resolution, batch_size=batch_size), repeats)
    assert counter.n_points == mise.n_evaluated * repeats
    iou = mesh_iou(dense.mesh, mise.mesh)
    n_grid = dense.n_evaluated
    print(f"\n## {name} at {resolution}^3 cells ({resolution + 1}^3 = {n_grid:,} grid samples)")
    print(f"{'method':<8}{'points evaluated':>18}{'seconds':>10}   breakdown (s)")
    print(f"{'dense':<8}{n_grid:>18,}{t_dense:>10.3f}   " + _fmt(dense.seconds) + f"  [median of {dense_repeats}]")
    print(f"{'MISE':<8}{mise.n_evaluated:>18,}{t_mise:>10.3f}   " + _fmt(mise.seconds) + f"  [median of {repeats}]")
    pts_ratio, time_ratio = mise.n_evaluated / n_grid, t_mise / t_dense
    print(f"ratios MISE/dense: points {pts_ratio:.2%} (target <= 10%), time {time_ratio:.3f} = 1/{1 / time_ratio:.1f}"
          f" (target <= 1/5); IoU(dense, MISE) = {iou:.5f} (target >= 0.99); faces {len(dense.mesh.faces):,} vs "
          f"{len(mise.mesh.faces):,}")


def _fmt(seconds: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.3f}" for k, v in seconds.items())


def latency(repeats: int, checkpoint: str | None = None) -> None:
    """Partial cloud -> mesh at 128^3 with MISE, beside the dense 128^3 grid of the same model (baseline)."""
    print("\n## latency: 2048-point partial cloud -> mesh at 128^3, small ConvONet grid model")
    from implicit3d.models import create_model

    if checkpoint:
        from implicit3d.completion import load_model

        model, meta = load_model(checkpoint)
        used = f"{meta['model_config'].get('name')} (trained: {checkpoint}, step {meta.get('step')})"
    else:
        model, used = create_model("conv_onet_grid_small").eval(), "conv_onet_grid_small (random weights)"
    n_params = sum(p.numel() for p in model.parameters())
    rng = np.random.default_rng(0)
    # a partial view: the half of a bottle's surface facing +x, with noise
    pts = rng.uniform(-0.5, 0.5, (200_000, 3))
    near = pts[np.abs(bottle_sdf(pts)) < 0.004]
    near = near[near[:, 0] > 0]
    cloud = near[rng.choice(len(near), 2048, replace=len(near) < 2048)] + rng.normal(0, 0.003, (2048, 3))
    torch.set_grad_enabled(False)
    results = {}
    for method in ("mise", "dense"):
        gen = MeshGenerator(kind="occupancy", method=method, resolution=128, batch_size=100_000)
        gen.generate(model, cloud)  # warm-up
        results[method] = timed(lambda g=gen: g.generate(model, cloud), repeats)
    print(f"model {used}, {n_params:,} parameters, torch threads {torch.get_num_threads()}, median of {repeats}")
    t_dense = results["dense"][0]
    for method, (t, mesh) in results.items():
        info = mesh.metadata["extraction"]
        print(f"{method:<6} latency {t:.3f} s ({t_dense / t:.1f}x faster than the dense grid) ; goal <= 1 s; "
              f"points evaluated {info['n_evaluated']:,} of {info['n_grid']:,}; faces {len(mesh.faces):,}; "
              + _fmt(info["seconds"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolution", type=positive_int, default=256, help="cells per axis for the analytic field")
    parser.add_argument("--mlp-resolution", type=non_negative_int, default=256,
                        help="cells per axis for the MLP field (0: skip)")
    parser.add_argument("--repeats", type=positive_int, default=3, help="runs per timing (median)")
    parser.add_argument("--mlp-repeats", type=positive_int, default=1, help="runs of the (slow) dense MLP grid")
    parser.add_argument("--batch-size", type=positive_int, default=262_144)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--checkpoint", default=None, help="trained model for the latency section (default: random)")
    args = parser.parse_args()
    if args.checkpoint is not None and not args.skip_latency and not Path(args.checkpoint).exists():
        parser.error(f"--checkpoint {args.checkpoint}: not found")
    print(f"# bench_extraction — torch threads {torch.get_num_threads()}")
    compare("bottle (analytic numpy SDF)", bottle_sdf, args.resolution, args.repeats, args.repeats, args.batch_size)
    if args.mlp_resolution:
        compare("bottle + random 5x128 MLP (torch CPU)", MLPRipple(), args.mlp_resolution, args.repeats,
                args.mlp_repeats, args.batch_size)
    if not args.skip_latency:
        latency(args.repeats, args.checkpoint)


if __name__ == "__main__":
    main()
