"""Signed distance to triangle meshes: implicit3d (BVH + pseudonormals) vs. point_cloud_utils, same run.

Meshes: a ~330k-face watertight blob (icosphere, 7 subdivisions, smooth radial displacement, generated here) and
pybullet_data/bunny.obj. Queries: half uniform in the bounding box padded by 10% per side, half near the surface
(surface samples + Gaussian noise, sigma = 1% of the bounding-box diagonal).

Columns (median of --repeats runs, seconds):
  ours total       one-shot `signed_distance(mesh, points)`: BVH build + pseudonormals + query
  build            BVH build alone (MeshDistance constructor)
  prep             pseudonormals + watertightness check (first signed query on a MeshDistance)
  query            `MeshDistance.signed_distance` on a prepared object (build once, query many times)
  pcu              `point_cloud_utils.signed_distance_to_mesh` (libigl AABB tree + fast winding number; builds its
                   tree on every call), the baseline
  ratios           pcu / ours total and pcu / query
Errors vs. brute force (O(N*F) numpy closest point + winding-number sign) on a subset of points, as max |error| /
bounding-box diagonal, and the number of sign disagreements. Timings on a shared machine are noisy; compare ratios.

    .venv/bin/python benchmarks/bench_geometry_distance.py [--points 100000] [--repeats 3] [--check 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import trimesh

from implicit3d.geometry.distance import MeshDistance, closest_points_brute_force, signed_distance


def blob_mesh(subdivisions: int = 7) -> trimesh.Trimesh:
    """Watertight, smooth, not-a-sphere test mesh: 20 * 4**subdivisions faces."""
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions)
    v = sphere.vertices
    r = 1.0 + 0.15 * np.sin(3 * v[:, 0]) * np.cos(2 * v[:, 1]) + 0.1 * np.sin(4 * v[:, 2]) + 0.05 * v[:, 0] * v[:, 2]
    return trimesh.Trimesh(v * r[:, None], sphere.faces, process=False)


def bunny_mesh() -> trimesh.Trimesh:
    import pybullet_data

    path = Path(pybullet_data.getDataPath()) / "bunny.obj"
    return trimesh.load(path, force="mesh", skip_materials=True)


def query_points(mesh: trimesh.Trimesh, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lo, hi = mesh.bounds
    pad = 0.1 * (hi - lo)
    diag = float(np.linalg.norm(hi - lo))
    n_near = n // 2
    surf, _ = trimesh.sample.sample_surface(mesh, n_near, seed=seed)
    near = surf + rng.normal(0.0, 0.01 * diag, (n_near, 3))
    uniform = rng.uniform(lo - pad, hi + pad, (n - n_near, 3))
    return np.concatenate([uniform, near])


def winding_number(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Generalized winding number, O(N*F) numpy (Van Oosterom & Strackee solid angles)."""
    out = np.zeros(len(points))
    step = max(1, 2_000_000 // len(faces))
    for s in range(0, len(points), step):
        p = points[s : s + step, None, :]
        a, b, c = (vertices[faces[:, k]][None] - p for k in range(3))
        la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
        det = np.einsum("nfj,nfj->nf", a, np.cross(b, c))
        den = la * lb * lc
        den += np.einsum("nfj,nfj->nf", a, b) * lc + np.einsum("nfj,nfj->nf", b, c) * la
        den += np.einsum("nfj,nfj->nf", c, a) * lb
        out[s : s + step] = np.arctan2(det, den).sum(axis=1) / (2 * np.pi)
    return out


def median_time(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def bench_mesh(name: str, mesh: trimesh.Trimesh, n_points: int, repeats: int, n_check: int) -> dict[str, object]:
    import point_cloud_utils as pcu

    v = np.ascontiguousarray(mesh.vertices, dtype=np.float64)
    f = np.ascontiguousarray(mesh.faces, dtype=np.int64)
    pts = query_points(mesh, n_points)
    diag = float(np.linalg.norm(np.ptp(v, axis=0)))
    signed_distance((v, f), pts[:100])  # compile / load the numba cache outside the timings

    t_total, sd_ours = median_time(lambda: signed_distance((v, f), pts), repeats)
    t_build, md = median_time(lambda: MeshDistance((v, f)), repeats)

    def prep() -> bool:
        m = MeshDistance((v, f))
        t0 = time.perf_counter()
        m.is_closed  # noqa: B018 - triggers the pseudonormal precompute
        return time.perf_counter() - t0

    t_prep = statistics.median(prep() for _ in range(repeats))
    md.signed_distance(pts[:10])
    t_query, sd_query = median_time(lambda: md.signed_distance(pts), repeats)
    t_unsigned, _ = median_time(lambda: md.unsigned_distance(pts), repeats)
    t_pcu, pcu_out = median_time(lambda: pcu.signed_distance_to_mesh(pts, v, f), repeats)
    sd_pcu = np.asarray(pcu_out[0], dtype=np.float64)
    assert np.array_equal(sd_ours, sd_query)

    # brute-force reference on a subset: half uniform, half near-surface points
    rng = np.random.default_rng(1)
    half = n_points - n_points // 2
    idx = np.concatenate(
        [
            rng.choice(half, n_check // 2, replace=False),
            half + rng.choice(n_points // 2, n_check - n_check // 2, replace=False),
        ]
    )
    t0 = time.perf_counter()
    ref_dist, _ = closest_points_brute_force((v, f), pts[idx])
    w = winding_number(v, f, pts[idx])
    t_ref = time.perf_counter() - t0
    ref = np.where(w > 0.5, -ref_dist, ref_dist)
    return {
        "mesh": name,
        "faces": len(f),
        "points": n_points,
        "watertight": md.is_closed,
        "ours total": t_total,
        "build": t_build,
        "prep": t_prep,
        "query": t_query,
        "unsigned query": t_unsigned,
        "pcu": t_pcu,
        "err ours": float(np.abs(sd_ours[idx] - ref).max() / diag),
        "err pcu": float(np.abs(sd_pcu[idx] - ref).max() / diag),
        "sign diff ours": int(np.sum((sd_ours[idx] < 0) != (ref < 0))),
        "sign diff pcu": int(np.sum((sd_pcu[idx] < 0) != (ref < 0))),
        "ours vs pcu (all points) max |diff|/diag": float(np.abs(sd_ours - sd_pcu).max() / diag),
        "check points": len(idx),
        "brute force s": t_ref,
    }


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=100_000, help="query points per mesh (default 100000)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per timing; the median is reported (default 3)")
    ap.add_argument("--check", type=int, default=100, help="points checked against brute force (default 100)")
    ap.add_argument("--subdivisions", type=int, default=7, help="icosphere subdivisions of the blob (7 = 327680 faces)")
    args = ap.parse_args(argv)
    import numba

    print(f"machine: {os.cpu_count()} CPUs, numba threads {numba.get_num_threads()}; median of {args.repeats} runs")
    rows = [
        bench_mesh(
            f"blob (icosphere {args.subdivisions})", blob_mesh(args.subdivisions), args.points, args.repeats, args.check
        ),
        bench_mesh("bunny.obj", bunny_mesh(), args.points, args.repeats, args.check),
    ]
    head = (
        f"{'mesh':<20} {'faces':>7} {'points':>7} {'ours total':>10} {'build':>7} {'prep':>7} {'query':>7} {'pcu':>7} "
        f"{'pcu/total':>9} {'pcu/query':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['mesh']:<20} {r['faces']:>7} {r['points']:>7} {r['ours total']:>10.3f} {r['build']:>7.3f} "
            f"{r['prep']:>7.3f} {r['query']:>7.3f} {r['pcu']:>7.3f} {r['pcu'] / r['ours total']:>8.1f}x "
            f"{r['pcu'] / r['query']:>8.1f}x"
        )
    print()
    print(
        f"{'mesh':<20} {'watertight':>10} {'max err ours':>12} {'max err pcu':>12} {'sign ours':>9} {'sign pcu':>9}"
        "  (vs brute force)"
    )
    for r in rows:
        print(
            f"{r['mesh']:<20} {r['watertight']!s:>10} {r['err ours']:>12.2e} {r['err pcu']:>12.2e} "
            f"{r['sign diff ours']:>9} {r['sign diff pcu']:>9}  on {r['check points']} points; "
            f"ours vs pcu on all points {r['ours vs pcu (all points) max |diff|/diag']:.1e}"
        )
    print("errors: max |signed distance - brute force| / bbox diagonal; sign: disagreements with the winding number")
    for r in rows:
        print(
            f"{r['mesh']}: unsigned query alone {r['unsigned query']:.3f} s; "
            f"sign adds {r['query'] - r['unsigned query']:.3f} s; brute-force check took {r['brute force s']:.1f} s"
        )
    return rows


if __name__ == "__main__":
    main()
