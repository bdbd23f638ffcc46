"""Geometry benchmarks in one run, printed as ratios against baselines measured in the same run.

Runs ``bench_geometry_inside.py`` (inside/outside vs. libigl's fast winding number and trimesh/embree) and
``bench_geometry_distance.py`` (signed distance vs. point_cloud_utils), each printing its own detailed tables, then
one summary table: case, ours (s), baseline (s), ratio (baseline / ours, higher is better), target, met?

Targets (from the issue): signed distance on 100k points uniform in the padded bounding box of the ~300k-face mesh
>= 12x faster than ``point_cloud_utils.signed_distance_to_mesh`` including the BVH build, with max |error| vs. brute
force < 1e-6 of the bounding-box diagonal. Inside/outside on 1M points uniform in the padded bounding box: >= 10x
faster than both baselines on the ~1k-face bunny, >= 4x on the ~300k-face mesh, exactly the winding number's answer on
watertight meshes, >= 99.5% agreement on the open (holed) duck. Other rows are reported without a target ("-").

A missing baseline package prints "skipped: X not installed" instead of failing; timings never fail the run (the
machine may be shared: compare the ratios, which are measured in the same run). Exit status 1 only when a benchmark
raised an unexpected error.

    .venv/bin/python benchmarks/bench_geometry.py [--repeats 3] [--quick] [--points N] [--inside-points N]
        [--only inside,distance]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import platform
import sys
import traceback
from pathlib import Path

from _cli import cpu_model, positive_int

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling benchmark modules, run from anywhere

BENCHES = ("inside", "distance")


def version(module: str) -> str:
    """Installed version of ``module`` (import name), or "not installed"."""
    if importlib.util.find_spec(module) is None:
        return "not installed"
    from importlib import metadata

    dist = {"igl": "libigl", "point_cloud_utils": "point-cloud-utils", "pybullet_data": "pybullet"}.get(module, module)
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return str(getattr(importlib.import_module(module), "__version__", "unknown"))


def print_machine() -> None:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    import numba

    print(
        f"machine: {cpu_model()}; {os.cpu_count()} logical CPUs ({usable} usable), numba threads "
        f"{numba.get_num_threads()}; {platform.platform()}"
    )
    mods = ["implicit3d", "numpy", "numba", "trimesh", "point_cloud_utils", "igl", "embreex", "pybullet_data"]
    print(f"python {platform.python_version()}; " + ", ".join(f"{m} {version(m)}" for m in mods))


def missing(modules: list[str]) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


INSIDE_SPEED_TARGETS = {"bunny": 10.0, "blob": 4.0}
INSIDE_OPEN_AGREEMENT = 0.995


def run_inside(args: argparse.Namespace) -> list[dict]:
    """bench_geometry_inside.main with forwarded options; summary rows (ours = method "auto")."""
    gone = missing(["pybullet_data", "igl"])
    if gone:
        print(f"inside/outside: skipped: {', '.join(gone)} not installed")
        return []
    import bench_geometry_inside

    argv = ["--repeats", str(args.repeats)]
    points = args.inside_points or (100_000 if args.quick else None)
    if points:
        argv += ["--sizes", str(points)]
    if args.quick:
        argv += ["--big-subdivisions", "5"]
    print(f"\n=== inside/outside: bench_geometry_inside.py {' '.join(argv)}")
    rows = bench_geometry_inside.main(argv)
    out = []
    full = (args.inside_points or (0 if args.quick else 1_000_000)) >= 1_000_000
    for r in rows:
        if r["method"] != "auto":
            continue
        case = f"inside auto, {r['mesh']} ({r['faces']} faces)"
        # the targets: >= 10x on the ~1k-face bunny, >= 4x on the ~300k-face mesh, 1M points
        speed = INSIDE_SPEED_TARGETS.get(r["mesh"]) if full else None
        out.append(row(f"{case} vs igl winding", r["seconds"], r["igl_s"], "libigl", speed))
        tm = "trimesh+embree" if importlib.util.find_spec("embreex") else "trimesh (no embree)"
        out.append(row(f"{case} vs trimesh.contains", r["seconds"], r["trimesh_s"], tm, speed))
        if r["closed"]:  # exactly the winding number's answer (igl's disagreements re-checked exactly)
            met = "yes" if r["exact_diff"] == 0 else "NO"
            out.append({"case": f"{case}: points differing from the exact winding number", "ours": f"{r['exact_diff']}",
                        "baseline": "", "ratio": "", "target": "0", "met": met})
        else:
            met = "yes" if r["agree"] >= INSIDE_OPEN_AGREEMENT else "NO"
            out.append({"case": f"{case}: agreement with igl winding (open mesh)", "ours": f"{r['agree']:.2%}",
                        "baseline": "", "ratio": "", "target": f">= {INSIDE_OPEN_AGREEMENT:.1%}", "met": met})
    return out


def run_distance(args: argparse.Namespace) -> list[dict]:
    """bench_geometry_distance.main with forwarded options; summary rows with the issue's targets."""
    gone = missing(["pybullet_data"])
    if gone:
        print(f"signed distance: skipped: {', '.join(gone)} not installed")
        return []
    import bench_geometry_distance as bd

    argv = ["--repeats", str(args.repeats)]
    if args.quick:
        argv.append("--quick")
    if args.points:
        argv += ["--points", str(args.points)]
    print(f"\n=== signed distance: bench_geometry_distance.py {' '.join(argv)}")
    rows = bd.main(argv)
    if rows and rows[0]["baseline"] is None:
        print("signed distance baseline: skipped: point_cloud_utils not installed")
    out = []
    for r in rows:
        targeted = r["distribution"] == "uniform" and r["faces"] >= 250_000 and r["points"] >= 100_000
        case = f"signed distance, {r['mesh']}, {r['points']} {r['distribution']} pts"
        base = "point_cloud_utils"
        out.append(row(f"{case}, incl. build", r["ours total"], r["pcu"], base, bd.TARGET_RATIO if targeted else None))
        out.append(row(f"{case}, query only", r["query"], r["pcu"], base))
        err_target = bd.TARGET_ERROR if targeted else None
        err_met = "-" if err_target is None else ("yes" if r["err ours"] < err_target else "NO")
        out.append(
            {
                "case": f"{case}, max |err|/diag ({r['check points']} pts)",
                "ours": f"{r['err ours']:.1e}",
                "baseline": "skipped" if r["err pcu"] != r["err pcu"] else f"{r['err pcu']:.1e}",
                "ratio": "",
                "target": "-" if err_target is None else f"< {err_target:.0e}",
                "met": err_met,
            }
        )
    return out


def row(case: str, ours: float, baseline: float, name: str, target: float | None = None) -> dict:
    """One summary row; ``baseline`` NaN means the baseline package is missing."""
    if baseline != baseline:
        return {
            "case": case,
            "ours": f"{ours:.3f}",
            "baseline": f"skipped: {name} not installed",
            "ratio": "-",
            "target": "-" if target is None else f">= {target:g}x",
            "met": "-",
        }
    ratio = baseline / ours if ours > 0 else float("inf")
    met = "-" if target is None else ("yes" if ratio >= target else "NO")
    return {
        "case": case,
        "ours": f"{ours:.3f}",
        "baseline": f"{baseline:.3f} {name}",
        "ratio": f"{ratio:.1f}x",
        "target": "-" if target is None else f">= {target:g}x",
        "met": met,
    }


def print_summary(rows: list[dict]) -> None:
    cols = ["case", "ours", "baseline", "ratio", "target", "met"]
    heads = {
        "case": "case",
        "ours": "ours (s)",
        "baseline": "baseline (s)",
        "ratio": "ratio",
        "target": "target",
        "met": "met?",
    }
    width = {c: max([len(heads[c])] + [len(str(r[c])) for r in rows]) for c in cols}
    line = "  ".join(heads[c].ljust(width[c]) for c in cols)
    print("\n=== summary (ratio = baseline seconds / ours, same run; higher is better)")
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(str(r[c]).ljust(width[c]) for c in cols))


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks and print the combined summary; returns the exit status."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=positive_int, default=3, help="runs per timing, median reported (default 3)")
    ap.add_argument("--quick", action="store_true", help="smoke run: fewer points, 1 repeat, smaller big meshes")
    ap.add_argument("--points", type=positive_int, default=None, help="signed-distance query points (default 100000)")
    ap.add_argument("--inside-points", type=positive_int, default=None,
                    help="inside/outside query points (default 1000000)")
    ap.add_argument("--only", default=",".join(BENCHES), help=f"comma-separated subset of {', '.join(BENCHES)}")
    args = ap.parse_args(argv)
    if args.quick and "--repeats" not in (argv if argv is not None else sys.argv[1:]):
        args.repeats = 1
    chosen = [b.strip() for b in args.only.split(",") if b.strip()]
    if not chosen or any(b not in BENCHES for b in chosen):
        ap.error(f"--only must list some of {', '.join(BENCHES)}, got {args.only!r}")
    print_machine()
    rows: list[dict] = []
    status = 0
    for name in chosen:
        try:
            rows += {"inside": run_inside, "distance": run_distance}[name](args)
        except Exception:  # report and go on with the other benchmark; never hide the error
            print(f"{name}: FAILED with an error:")
            traceback.print_exc()
            status = 1
    if rows:
        print_summary(rows)
    else:
        print("\nno benchmark produced results")
    return status


if __name__ == "__main__":
    sys.exit(main())
