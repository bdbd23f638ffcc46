"""Depth rendering speed: our numba z-buffer rasterizer vs trimesh's embree ray caster, same mesh, same view.

Mesh: the Stanford bunny from pybullet_data, subdivided to about 300,000 faces (300,002) (4 midpoint subdivisions, then
the largest faces once more), scaled to ~20 cm and viewed from ~0.45 m so it fills a good part of the image.
Prints, per resolution, the median over --repeats runs of
  ours (numba, N threads)   render_depth(mesh, intrinsics, pose) incl. the vertex transform
  ours (numba, 1 thread)    the same on one thread (what each `prepare` worker gets)
  embree (trimesh)          RayMeshIntersector.intersects_location, one ray per pixel centre, first hit, built once
                            outside the timing (BVH build printed separately)
the ratio embree / ours (> 1: ours is faster), and the agreement of the two depth images (pixels hit by one but
not the other; median and max |difference| on pixels both hit). Then the noise presets' cost per image.
Never asserts on timings.

    .venv/bin/python benchmarks/bench_sensing.py [--repeats 7] [--faces 300000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numba
import numpy as np
import trimesh
from _cli import positive_int

from implicit3d.sensing import Intrinsics, intrinsics_preset, look_at, noise_preset, render, render_depth


def bench_mesh(n_faces: int) -> trimesh.Trimesh:
    import pybullet_data

    mesh = trimesh.load(Path(pybullet_data.getDataPath()) / "bunny.obj", force="mesh", skip_materials=True)
    v, f = mesh.vertices, mesh.faces
    while len(f) * 4 <= n_faces:
        v, f = trimesh.remesh.subdivide(v, f)
    extra = -(-(n_faces - len(f)) // 3)  # subdividing one face adds 3 (round up: at least n_faces)
    if extra > 0:
        area = trimesh.triangles.area(v[f])
        v, f = trimesh.remesh.subdivide(v, f, face_index=np.argsort(-area)[:extra])
    out = trimesh.Trimesh(v, f, process=False)
    out.apply_translation(-out.bounds.mean(axis=0))
    out.apply_scale(0.2 / out.extents.max())
    return out


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def embree_depth(caster, k: Intrinsics, pose: np.ndarray) -> np.ndarray:
    vv, uu = np.mgrid[0 : k.height, 0 : k.width]
    dirs = np.stack([(uu - k.cx) / k.fx, (vv - k.cy) / k.fy, np.ones(uu.shape)], -1).reshape(-1, 3) @ pose[:3, :3].T
    origins = np.broadcast_to(pose[:3, 3], dirs.shape)
    locs, idx, _ = caster.intersects_location(origins, dirs, multiple_hits=False)
    depth = np.zeros(k.width * k.height)
    depth[idx] = (locs - pose[:3, 3]) @ pose[:3, 2]
    return depth.reshape(k.height, k.width)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=positive_int, default=7, help="runs per timing, median reported (default 7)")
    ap.add_argument("--faces", type=positive_int, default=300_000,
                    help="faces of the subdivided bunny (default 300000)")
    args = ap.parse_args()

    from trimesh.ray.ray_pyembree import RayMeshIntersector

    mesh = bench_mesh(args.faces)
    pose = look_at([0.32, -0.28, 0.16], [0.0, 0.0, 0.0])
    print(f"mesh: bunny, {len(mesh.faces):,} faces, extent {mesh.extents.max():.2f} m; camera 0.45 m away")
    t0 = time.perf_counter()
    caster = RayMeshIntersector(mesh)
    embree_depth(caster, Intrinsics.from_fov(45.0, 8, 6), pose)  # builds the BVH
    print(f"embree BVH build (once): {1e3 * (time.perf_counter() - t0):.0f} ms")
    t0 = time.perf_counter()
    render_depth(mesh, Intrinsics.from_fov(45.0, 8, 6), pose)
    print(f"numba compile/load (once): {1e3 * (time.perf_counter() - t0):.0f} ms")
    threads = numba.get_num_threads()

    cams = [
        ("640x480 kinect_v1 (fx 525)", intrinsics_preset("kinect_v1")),
        ("320x240", Intrinsics.from_fov(49.1, 320, 240)),
    ]
    print(
        f"\n{'view':28s} {'ours ' + str(threads) + ' thr':>12s} {'ours 1 thr':>11s} {'embree':>9s} {'embree/ours':>12s}"
        f" {'hit xor':>8s} {'median|dz|':>11s} {'max|dz|':>9s}"
    )
    for label, k in cams:
        ours = median_time(lambda k=k: render_depth(mesh, k, pose), args.repeats)
        numba.set_num_threads(1)
        try:
            ours1 = median_time(lambda k=k: render_depth(mesh, k, pose), args.repeats)
        finally:
            numba.set_num_threads(threads)
        emb = median_time(lambda k=k: embree_depth(caster, k, pose), args.repeats)
        a, b = render_depth(mesh, k, pose).astype(np.float64), embree_depth(caster, k, pose)
        both = (a > 0) & (b > 0)
        diff = np.abs(a - b)[both]
        xor = int(((a > 0) != (b > 0)).sum())
        print(
            f"{label:28s} {1e3 * ours:10.1f}ms {1e3 * ours1:9.1f}ms {1e3 * emb:7.1f}ms {emb / ours:11.2f}x"
            f" {xor:8d} {np.median(diff):11.2e} {diff.max():9.2e}   ({both.sum():,} px hit)"
        )

    k = intrinsics_preset("kinect_v1")
    res = render(mesh, k, pose)
    t_full = median_time(lambda: render(mesh, k, pose), args.repeats)
    print(f"\nrender(..., return_faces=True) 640x480: {1e3 * t_full:.1f} ms")
    for name in ("kinect_v1", "realsense_d435"):
        model = noise_preset(name)
        t_given = median_time(
            lambda m=model: m.apply(res.depth, 0, normals=res.normals_cam, intrinsics=k), args.repeats
        )
        t_est = median_time(lambda m=model: m(res.depth, k, 0), args.repeats)
        print(f"noise {name:15s} {1e3 * t_given:6.1f} ms with rendered normals, {1e3 * t_est:6.1f} ms estimating them")


if __name__ == "__main__":
    main()
