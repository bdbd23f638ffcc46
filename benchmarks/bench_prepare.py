"""Throughput of `implicit3d prepare`: shapes/minute for catalogue bottles with 4 depth views (default sizes).

Prints, per configuration, the median over --repeats builds into fresh folders:
  ours, 2 workers      the figure the issue asks for (target >= 60 shapes/min on a 2-core machine)
  ours, 1 worker       baseline: same pipeline, one process (shows the parallel speed-up)
  trimesh labels, 1 w  baseline: same pipeline with trimesh's ray `contains` + `proximity.closest_point` for the
                       occupancy/SDF labels (measured on fewer shapes: it is slow)
and a per-stage breakdown of one shape. Never asserts on timings.

    .venv/bin/python benchmarks/bench_prepare.py [--shapes 8] [--repeats 3] [--trimesh-shapes 1]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import trimesh
from _cli import non_negative_int, positive_int

from implicit3d.data import prepare as prep
from implicit3d.data.prepare import PrepareConfig, prepare
from implicit3d.data.sources import load_mesh, resolve_source
from implicit3d.geometry.sampling import sample_near_surface, sample_surface, sample_uniform
from implicit3d.geometry.transforms import normalize_to_unit_cube


def trimesh_labels(mesh, points, method, chunk: int = 2000):
    """Baseline labels: trimesh ``contains`` + ``proximity.closest_point`` (in chunks: its candidate arrays grow with
    points x nearby triangles and exhaust memory on 200k points at once)."""
    occ = mesh.contains(points)
    dist = np.concatenate(
        [trimesh.proximity.closest_point(mesh, points[i : i + chunk])[1] for i in range(0, len(points), chunk)]
    )
    return occ, np.where(occ, -dist, dist)


def build_rate(n: int, workers: int, config: PrepareConfig, seed: int) -> float:
    import warnings

    from implicit3d.errors import InputWarning

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)  # a build of a few shapes has empty val/test splits
        t0 = time.perf_counter()
        prepare(
            "catalogue:bottle", Path(tmp) / "ds", count=n, config=config, seed=seed, workers=workers, progress=False
        )
        return n / (time.perf_counter() - t0) * 60.0


def stage_breakdown(config: PrepareConfig) -> dict[str, float]:
    item = resolve_source("catalogue:bottle", count=1, seed=123)[0]
    t = {}
    t0 = time.perf_counter()
    mesh = load_mesh(item)
    t["generate mesh"] = time.perf_counter() - t0
    mesh_n, loc, scale = normalize_to_unit_cube(mesh, config.padding)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    uni = sample_uniform(config.n_uniform, 0.5, rng)
    near = sample_near_surface(mesh_n, config.n_near, config.near_sigmas, rng)
    sample_surface(mesh_n, config.n_surface, rng)
    t["sampling"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    prep._labels(mesh_n, np.concatenate([uni, near]), config.inside_method)
    t[f"labels ({config.n_uniform + config.n_near} pts)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    prep.render_views(mesh_n, float(scale), config, rng)
    t[f"render+noise+backproject ({config.n_views} views)"] = time.perf_counter() - t0
    t["faces"] = len(mesh_n.faces)
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", type=positive_int, default=8, help="shapes per build (default 8)")
    ap.add_argument("--repeats", type=positive_int, default=3, help="builds per configuration; the median is reported")
    ap.add_argument("--trimesh-shapes", type=non_negative_int, default=1,
                    help="shapes for the trimesh-labels baseline (0 = skip)")
    args = ap.parse_args()
    config = PrepareConfig(n_views=4)
    print(
        f"catalogue bottles, {config.n_uniform} uniform + {config.n_near} near + {config.n_surface} surface points, "
        f"{config.n_views} views {config.image_size[0]}x{config.image_size[1]}, noise {config.noise}"
    )

    # warm-up: numba compilation caches, imports
    build_rate(1, 1, config, seed=999)
    for stage, sec in stage_breakdown(config).items():
        print(f"  stage  {stage:<40s} " + (f"{sec:8.0f}" if stage == "faces" else f"{sec:8.3f} s"))

    rows = []
    for label, workers, n in (("ours, 2 workers", 2, args.shapes), ("ours, 1 worker (baseline)", 1, args.shapes)):
        rates = [build_rate(n, workers, config, seed=r) for r in range(args.repeats)]
        rows.append((label, statistics.median(rates), rates))
    if args.trimesh_shapes > 0:
        real = prep._labels
        prep._labels = trimesh_labels
        try:
            rates = [build_rate(args.trimesh_shapes, 1, config, seed=r) for r in range(max(1, args.repeats // 2))]
        finally:
            prep._labels = real
        rows.append(("trimesh labels, 1 worker (baseline)", statistics.median(rates), rates))

    ours = rows[0][1]
    print(f"\n{'configuration':<40s} {'shapes/min':>11s} {'ours / this':>12s}   runs")
    for label, med, rates in rows:
        print(f"{label:<40s} {med:11.1f} {ours / med:12.2f}   {', '.join(f'{r:.1f}' for r in rates)}")
    print(
        f"\ntarget: >= 60 shapes/min with 2 workers -> {'met' if ours >= 60 else 'NOT met'} on this machine "
        "(timings on a shared machine are noisy)"
    )


if __name__ == "__main__":
    main()
