"""Inside/outside of triangle meshes: implicit3d.geometry.inside vs. trimesh (embree) and libigl, same run.

Queries: ``--sizes`` (default 10k, 100k, 1M) uniform points in the mesh bounding box padded by 10% per side.
Meshes: pybullet_data/random_urdfs/990/990.obj (1,922 faces, two closed shells that overlap: winding number 2
there), pybullet_data/bunny.obj (902 faces, closed), pybullet_data/duck.obj (4212 faces; open along UV seams in
trimesh's vertex merge, closed once vertices are matched by position), ``duck_holed`` (duck with the faces of a few
patches removed: a genuinely open mesh), ``blob_mid`` (icosphere with 5 subdivisions, 20,480 faces) and ``blob``
(icosphere with 7 subdivisions, 327,680 faces), both smoothly displaced and closed, generated here.

Columns: seconds = median of ``--repeats`` runs of the whole call (validation, closedness check, every structure,
query) with numba compiled in a warm-up beforehand; ours and the baselines run alternately in each repeat, so load
from other processes hits all of them. ``x trimesh`` / ``x igl`` = baseline seconds / ours. Baselines:
``trimesh.Trimesh.contains`` with embree (through embreex), called on a fresh ``Trimesh`` each time so that, like
ours and igl, it pays for its acceleration structure (``x tm cached``: on one ``Trimesh`` whose embree scene is
reused: a lower bound of its per-call cost), and ``igl.fast_winding_number(V, F, Q)`` (builds its tree every call).
``cpu x tm`` / ``cpu x igl``: the same ratios in CPU time of this process (all threads; ``time.process_time``),
steadier than wall time on a loaded machine, where a call of a few milliseconds can wait longer for a core than it
runs.
``load``: the 1-minute load average after the row (other processes on the machine).
``agree`` = fraction of points where ours agrees with igl's winding number (``|w| > 0.5``); ``exact diff`` =
points where ours disagrees with the exact winding number (``w != 0`` for closed meshes, ``|w| > 0.5`` for open
ones), rechecked exactly on the points where igl and ours disagree (closed meshes should show 0). Timings on a
shared machine are noisy; compare ratios.

    .venv/bin/python benchmarks/bench_geometry_inside.py [--sizes 10000,100000,1000000] [--repeats 5]
        [--methods auto] [--big-subdivisions 7] [--meshes 990,bunny,duck,duck_holed,blob_mid,blob]
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
from _cli import non_negative_int, positive_int

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


def alternate(
    fns: dict[str, Callable[[], np.ndarray]], repeats: int
) -> dict[str, tuple[float, float, np.ndarray]]:
    """Median wall seconds, median CPU seconds (all threads of this process) and last output of each function, the
    functions run in turn within each repeat."""
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    out: dict[str, np.ndarray] = {}
    for _ in range(repeats):
        for k, fn in fns.items():
            t, c = time.perf_counter(), time.process_time()
            out[k] = fn()
            wall[k].append(time.perf_counter() - t)
            cpu[k].append(time.process_time() - c)
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k]), out[k]) for k in fns}


def bench_mesh(name: str, mesh: trimesh.Trimesh, n_points: int, repeats: int, methods: list[str]) -> list[dict]:
    """Time the baselines and the given methods of ``inside`` on one mesh and size; print and return the rows."""
    import igl

    pts = uniform_points(mesh, n_points)
    v, f = np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64)
    closed = is_closed((v, f))
    fns: dict[str, Callable[[], np.ndarray]] = {
        "trimesh": lambda: trimesh.Trimesh(v, f, process=False).contains(pts),
        "trimesh_cached": lambda: mesh.contains(pts),
        "igl": lambda: igl.fast_winding_number(v, f, pts),
    }
    for method in methods:
        fns[method] = lambda m=method: inside((v, f), pts, m)
    res = alternate(fns, repeats)
    (t_tm, c_tm, _), t_tmc, (t_igl, c_igl, w_igl) = res["trimesh"], res["trimesh_cached"][0], res["igl"]
    ref = np.abs(w_igl) > 0.5
    rows = []
    for method in methods:
        t, c, ours = res[method]
        diff = np.flatnonzero(ours != ref)
        w = winding_number((v, f), pts[diff], exact=True) if len(diff) else np.zeros(0)
        exact = np.round(w) != 0 if closed else np.abs(w) > 0.5
        n_exact = int((exact != ours[diff]).sum())
        row = dict(mesh=name, faces=len(f), closed=closed, points=n_points, method=method, seconds=t,
                   trimesh_s=t_tm, trimesh_cached_s=t_tmc, igl_s=t_igl, x_trimesh=t_tm / t, x_trimesh_cached=t_tmc / t,
                   x_igl=t_igl / t, cpu_s=c, cpu_x_trimesh=c_tm / c, cpu_x_igl=c_igl / c,
                   agree=1.0 - len(diff) / len(pts), exact_diff=n_exact, load=os.getloadavg()[0])
        rows.append(row)
        print(f"{name:<11} {len(f):>7} {str(closed):>6} {n_points:>9,} {method:<7} {t:>8.4f} {t_tm / t:>9.1f} "
              f"{t_igl / t:>7.1f} {t_tmc / t:>11.1f} {c_tm / c:>9.1f} {c_igl / c:>7.1f} {row['agree']:>9.5f} "
              f"{n_exact:>10} {row['load']:>5.1f}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    """Run the benchmark, print the table and return its rows (dicts)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated numbers of query points")
    parser.add_argument("--repeats", type=positive_int, default=5)
    parser.add_argument("--methods", default="auto", help="comma-separated methods of inside()")
    parser.add_argument("--big-subdivisions", type=non_negative_int, default=7,
                        help="icosphere subdivisions of the big mesh")
    parser.add_argument("--meshes", default="990,bunny,duck,duck_holed,blob_mid,blob", help="comma-separated subset")
    args = parser.parse_args(argv)
    try:
        sizes = [int(x) for x in args.sizes.split(",")]
    except ValueError:
        parser.error(f"--sizes lists point counts such as 1000,100000, got {args.sizes!r}")
    if min(sizes) < 1:
        parser.error(f"--sizes must be positive, got {args.sizes!r}")
    methods = args.methods.split(",")
    known_methods, known_meshes = ("auto", "signed", "parity", "vote", "winding"), ("990", "bunny", "duck",
                                                                                  "duck_holed", "blob_mid", "blob")
    if not set(methods) <= set(known_methods):
        parser.error(f"--methods: choose from {', '.join(known_methods)}, got {args.methods!r}")
    if not set(args.meshes.split(",")) <= set(known_meshes):
        parser.error(f"--meshes: choose from {', '.join(known_meshes)}, got {args.meshes!r}")

    numba = __import__("numba")
    print(f"machine: {platform.processor() or platform.machine()}, nproc={os.cpu_count()}, numba {numba.__version__} "
          f"threads={numba.get_num_threads()}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, "
          f"load average {os.getloadavg()[0]:.1f}; "
          f"median of {args.repeats}")
    duck = pybullet_mesh("duck.obj")
    meshes = {"990": pybullet_mesh("random_urdfs/990/990.obj"), "bunny": pybullet_mesh("bunny.obj"), "duck": duck,
              "duck_holed": holed(duck), "blob_mid": blob_mesh(5), "blob": blob_mesh(args.big_subdivisions)}
    # warm-up: numba compile (cached on disk after the first run)
    for method in ("auto", "signed", "parity", "vote", "winding"):
        for n in (100, 200_000):
            inside(meshes["bunny"], uniform_points(meshes["bunny"], n), method)
    winding_number(meshes["bunny"], uniform_points(meshes["bunny"], 10), exact=True)

    header = (f"{'mesh':<11} {'faces':>7} {'closed':>6} {'points':>9} {'method':<7} {'seconds':>8} {'x trimesh':>9} "
              f"{'x igl':>7} {'x tm cached':>11} {'cpu x tm':>9} {'cpu x igl':>7} {'agree':>9} {'exact diff':>10} "
              f"{'load':>5}")
    print(header)
    print("-" * len(header))
    rows = []
    for name in args.meshes.split(","):
        mesh = meshes[name]
        for n in sizes:
            rows += bench_mesh(name, mesh, n, args.repeats, methods)
    closed_rows = [r for r in rows if r["closed"]]
    if closed_rows:
        print(f"closed meshes: min x trimesh {min(r['x_trimesh'] for r in closed_rows):.1f}, "
              f"min x igl {min(r['x_igl'] for r in closed_rows):.1f} (CPU time: "
              f"{min(r['cpu_x_trimesh'] for r in closed_rows):.1f}, {min(r['cpu_x_igl'] for r in closed_rows):.1f}), "
              f"exact diff {sum(r['exact_diff'] for r in closed_rows)}; load average now {os.getloadavg()[0]:.1f}")
        short = [r for r in closed_rows if min(r["x_trimesh"], r["x_igl"]) < 10.0]
        print("closed meshes below 10x (wall): " + (", ".join(
            f"{r['mesh']} {r['points']:,} ({r['x_trimesh']:.1f}x / {r['x_igl']:.1f}x)" for r in short) or "none"))
    return rows


if __name__ == "__main__":
    main()
