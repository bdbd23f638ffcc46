"""Inside/outside of triangle meshes: implicit3d.geometry.inside vs. trimesh (embree) and libigl, same run.

Queries: ``--points`` (default 1M) uniform points in the mesh bounding box padded by 10% per side.
Meshes: pybullet_data/bunny.obj (902 faces, closed), pybullet_data/duck.obj (4212 faces; open along UV seams in
trimesh's vertex merge, closed once vertices are matched by position), ``duck_holed`` (duck with the faces of a few
patches removed: a genuinely open mesh), and ``blob`` (icosphere with 7 subdivisions, 327,680 faces, smoothly
displaced, closed; generated here).

Columns: seconds = median of ``--repeats`` runs of the whole call (validation, closedness check, acceleration
structure, query) with numba compiled in a warm-up beforehand; ``x trimesh`` / ``x igl`` = baseline seconds / ours;
``agree`` = fraction of points where the method agrees with igl's winding number (``|w| > 0.5``); ``exact diff`` =
points where ours disagrees with the exact winding number, rechecked exactly on the points igl and ours disagree
about (closed meshes should show 0). Baselines: ``trimesh.Trimesh.contains`` (uses embree through embreex when
installed) and ``igl.fast_winding_number(V, F, Q)``. Timings on a shared machine are noisy; compare ratios.

    .venv/bin/python benchmarks/bench_geometry_inside.py [--points 1000000] [--repeats 3] [--big-subdivisions 7]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import trimesh

from implicit3d.geometry.inside import inside, is_closed
from implicit3d.geometry.winding import winding_number


def blob_mesh(subdivisions: int = 7) -> trimesh.Trimesh:
    """Closed, smooth, not-a-sphere mesh with 20 * 4**subdivisions faces."""
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions)
    v = sphere.vertices
    r = 1.0 + 0.15 * np.sin(3 * v[:, 0]) * np.cos(2 * v[:, 1]) + 0.1 * np.sin(4 * v[:, 2]) + 0.05 * v[:, 0] * v[:, 2]
    return trimesh.Trimesh(v * r[:, None], sphere.faces, process=False)


def pybullet_mesh(name: str) -> trimesh.Trimesh:
    import pybullet_data

    return trimesh.load(Path(pybullet_data.getDataPath()) / name, force="mesh", skip_materials=True)


def holed(mesh: trimesh.Trimesh, n_holes: int = 3, frac: float = 0.01, seed: int = 0) -> trimesh.Trimesh:
    """``mesh`` without the faces nearest to ``n_holes`` random face centres (``frac`` of the faces per hole)."""
    rng = np.random.default_rng(seed)
    c = mesh.triangles_center
    keep = np.ones(len(c), bool)
    k = max(1, int(frac * len(c)))
    for centre in c[rng.choice(len(c), n_holes, replace=False)]:
        keep[np.argsort(np.linalg.norm(c - centre, axis=1))[:k]] = False
    return trimesh.Trimesh(mesh.vertices, mesh.faces[keep], process=False)


def uniform_points(mesh: trimesh.Trimesh, n: int, seed: int = 0) -> np.ndarray:
    lo, hi = mesh.bounds
    pad = 0.1 * (hi - lo)
    return np.random.default_rng(seed).uniform(lo - pad, hi + pad, (n, 3))


def timed(fn: Callable[[], np.ndarray], repeats: int) -> tuple[float, np.ndarray]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def bench_mesh(name: str, mesh: trimesh.Trimesh, n_points: int, repeats: int) -> list[dict]:
    """Time the baselines and every method of ``inside`` on one mesh; print and return one row per method."""
    import igl

    pts = uniform_points(mesh, n_points)
    v, f = np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64)
    t_tm, _ = timed(lambda: mesh.contains(pts), repeats)
    t_igl, w_igl = timed(lambda: igl.fast_winding_number(v, f, pts), repeats)
    ref = np.abs(w_igl) > 0.5
    closed = is_closed(mesh)
    rows = []
    for method in ["auto", "parity", "vote"] + (["winding"] if len(f) < 100_000 else []):
        reps = repeats if method != "winding" else 1  # the slow one: once
        t, ours = timed(lambda m=method: inside((v, f), pts, m), reps)
        diff = np.flatnonzero(ours != ref)
        exact = np.abs(winding_number((v, f), pts[diff], exact=True)) > 0.5 if len(diff) else np.zeros(0, bool)
        n_exact = int((exact != ours[diff]).sum())
        row = dict(mesh=name, faces=len(f), closed=closed, method=method, seconds=t, trimesh_s=t_tm, igl_s=t_igl,
                   x_trimesh=t_tm / t, x_igl=t_igl / t, agree=1.0 - len(diff) / len(pts), exact_diff=n_exact)
        rows.append(row)
        print(f"{name:<11} {len(f):>7} {str(closed):>6} {method:<8} {t:>8.3f} {t_tm / t:>9.1f} {t_igl / t:>7.1f} "
              f"{row['agree']:>9.5f} {n_exact:>10}")
    print(f"{'':<11} {'':>7} {'':>6} {'(trimesh':<8} {t_tm:>8.3f} s, igl {t_igl:.3f} s)")
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    """Run the benchmark, print the table and return its rows (dicts)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--big-subdivisions", type=int, default=7, help="icosphere subdivisions of the big mesh")
    args = parser.parse_args(argv)

    print(f"machine: {platform.processor() or platform.machine()}, nproc={os.cpu_count()}, "
          f"numba threads={__import__('numba').get_num_threads()}; {args.points:,} points, median of {args.repeats}")
    duck = pybullet_mesh("duck.obj")
    meshes = {"bunny": pybullet_mesh("bunny.obj"), "duck": duck, "duck_holed": holed(duck),
              "blob": blob_mesh(args.big_subdivisions)}
    # warm-up: numba compile (cached on disk after the first run)
    for method in ("parity", "vote", "winding"):
        inside(meshes["bunny"], uniform_points(meshes["bunny"], 100), method)
    winding_number(meshes["bunny"], uniform_points(meshes["bunny"], 10), exact=True)

    header = (f"{'mesh':<11} {'faces':>7} {'closed':>6} {'method':<8} {'seconds':>8} {'x trimesh':>9} {'x igl':>7} "
              f"{'agree':>9} {'exact diff':>10}")
    print(header)
    print("-" * len(header))
    rows = []
    for name, mesh in meshes.items():
        rows += bench_mesh(name, mesh, args.points, args.repeats)
    return rows


if __name__ == "__main__":
    main()
