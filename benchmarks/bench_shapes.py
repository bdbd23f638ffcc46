"""Procedural catalogue build speed: ``shapes.generate()`` per category, beside a fixed meshing baseline.

For each category, ``--count`` shapes (catalogue seeds 0..count-1, as ``catalogue(category, count)`` builds them)
are generated one by one and timed in CPU time (``time.process_time``: robust to other jobs on a shared machine;
wall time is printed too). The baseline, timed in the same run, is meshing a sphere on a fixed grid:
``Sphere(0.05).to_mesh(resolution=96, coarse=1)`` (median of 5). Printed per category: mean, p90 and max CPU
milliseconds per shape, mean / baseline, mean faces, and whether every shape was one watertight, consistently
wound body of positive volume. Never asserts on timings.

    .venv/bin/python benchmarks/bench_shapes.py [--count 30] [--category all]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from _cli import positive_int

from implicit3d import shapes
from implicit3d.geometry.sdf import Sphere


def baseline_ms(repeats: int = 5) -> float:
    """Median CPU ms of meshing ``Sphere(0.05)`` on a 96^3 grid without the coarse-to-fine pass."""
    times = []
    for _ in range(repeats):
        t = time.process_time()
        Sphere(0.05).to_mesh(resolution=96, coarse=1)
        times.append(1e3 * (time.process_time() - t))
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=positive_int, default=30, help="shapes per category (default 30)")
    ap.add_argument("--category", default="all", help=f"one of: all, {', '.join(shapes.CATEGORIES)}")
    args = ap.parse_args(argv)
    if args.category != "all" and args.category not in shapes.CATEGORIES:
        ap.error(f"unknown category {args.category!r}; known: all, {', '.join(shapes.CATEGORIES)}")
    names = list(shapes.CATEGORIES) if args.category == "all" else [args.category]

    base = baseline_ms()
    print(f"baseline: Sphere(0.05).to_mesh(resolution=96, coarse=1) = {base:.0f} ms CPU (median of 5)")
    print(f"{'category':<10} {'mean ms':>8} {'p90 ms':>7} {'max ms':>7} {'mean/base':>9} {'wall ms':>8} "
          f"{'faces':>8}  one watertight body")
    all_ok = True
    for category in names:
        cpu, wall, faces, ok = [], [], [], True
        for i in range(args.count):
            seed = shapes.shape_seed(category, i, 0)
            t_cpu, t_wall = time.process_time(), time.perf_counter()
            s = shapes.generate(category, seed)
            cpu.append(1e3 * (time.process_time() - t_cpu))
            wall.append(1e3 * (time.perf_counter() - t_wall))
            m = s.mesh
            faces.append(len(m.faces))
            ok &= bool(m.is_watertight and m.is_winding_consistent and m.volume > 0 and m.body_count == 1)
        all_ok &= ok
        mean = statistics.fmean(cpu)
        print(f"{category:<10} {mean:8.0f} {np.percentile(cpu, 90):7.0f} {max(cpu):7.0f} {mean / base:9.2f} "
              f"{statistics.fmean(wall):8.0f} {statistics.fmean(faces) / 1e3:7.1f}k  {'yes' if ok else 'NO'}")
    print(f"{len(names) * args.count} shapes: {'all' if all_ok else 'NOT all'} one watertight body")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
