"""Benchmark: shape completion of held-out real objects from one noisy depth view, beside the convex hull.

Two suites (:mod:`implicit3d.evaluation.real_objects`; evaluation data only, never training data):

- default: ``--count`` real meshes from ``pybullet_data`` that are not in the catalogue
  (:func:`implicit3d.evaluation.scans.real_object_meshes`) — named household items and toys (duck, bunny, teddy,
  mug, Lego brick...) then irregular solids (``random_urdfs``) chosen by ``--seed``; their files have no common
  unit, so both protocols rescale them to 10-30 cm. Default protocol: ``free``.
- ``--meshes DIR``: every mesh of a folder, e.g. ``../shared/realobjects/meshes`` (40 YCB, GSO, HOPE, OCRTOC and
  HOI4D household objects), welded and scaled to metres by the ``units`` column of a ``SOURCES.md`` beside them;
  classes from ``classes.csv`` or file-name keywords. Default protocol: ``both``.

Protocols (``--protocol free|table|both``), ``--draws`` views per object and protocol, each a simulated RealSense
D435 frame (640x480, fx = fy = 385 px, ``realsense_d435`` noise): **free** — any orientation (SO(3)), 10-30 cm,
0.5-0.8 m away, completed with up = -y; **table** — resting in a stable pose on a table, random yaw, real metric
size (``--meshes``), seen from 20-80 degrees elevation at 0.4-1.2 m, table pixels, object points < 8 mm above the
table and statistical outliers removed (as the tabletop segmentation does), completed with up = the table normal
(ignored by ``pose: camera`` models such as the bundled one).
Draw 0 of ``free`` is the view of the single-draw suite of earlier releases.

Scores per view, for the completion and for the convex hull of the observed points (baseline, same samples, same
run): volumetric IoU, precision (share of the completed volume inside the object: low = filled in too much), recall
(share of the object completed: low = too little) on 100k uniform points of a cube 1.22x the object's longest edge;
completed / true volume; **shell failure** = completed volume < 50 % of the true volume, **over-fill** = > 150 %
(volumes inside that cube); Chamfer-L1 in mm and F-score at 5 and 10 mm on 30k surface samples each (mm of the
object as scanned: 10-30 cm in free, real size in table). Printed: a ground-truth check per mesh (the inside rule
used, volume vs its convex hull, agreement with the winding number), then per protocol a per-object table (means
over draws), a per-class table and a summary beside the hull.

Issue goal: mean IoU >= 0.75, well above the convex hull. This script measures quality: it prints the figures and
never fails on a value.

Usage: ``python benchmarks/bench_real_objects.py [--meshes DIR] [--protocol free|table|both] [--draws 3] [--checkpoint
RUN] [--count 30] [--objects 'NAME*,...'] [--seed 0] [--resolution 128] [--turns N] [--keep-outliers]
[--max-points K] [--threads N] [--device cpu] [--csv FILE]``. ``--resolution 64`` for quick runs; ``--threads 1`` on
a busy CPU (torch's threads spin against other jobs). Without ``--checkpoint`` the bundled model is used (exit 2 when
none ships).
``--keep-outliers`` keeps the table protocol's flying pixels: the bundled model takes the depth of its normalization
box from the cloud, and a few flying pixels behind a fruit turn a shell into a solid. ``--max-points K`` thins every
view to at most K points (uniformly at random, for completion and hull alike): a far or small object gives a real
sensor a few hundred.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling benchmark modules, run from anywhere
from _cli import positive_int
from bench_geometry import cpu_model  # noqa: E402

from implicit3d.completion import load_model, model_contract
from implicit3d.errors import UserError
from implicit3d.evaluation.real_objects import (
    PROTOCOLS,
    ROW_FIELDS,
    RealObject,
    evaluate_real_objects,
    ground_truth_check,
    load_real_objects,
    object_class,
)
from implicit3d.evaluation.scans import real_object_meshes
from implicit3d.evaluation.summary import OVERFILL_RATIO, SHELL_RATIO, aggregate, uncertainty_ranking
from implicit3d.fileio import atomic_writer

PYBULLET_SIZE = (0.10, 0.30)  #: table-protocol size of pybullet_data meshes (their files have no common unit)
FIELDS = [f"{k}_{m}" for k in ("model", "hull") for m in (
    "iou", "precision", "recall", "volume_ratio", "shell", "overfill", "chamfer_mm", "fscore_5mm", "fscore_10mm")]
FIELDS += ["n_points", "size_m", "seconds"]


def write_csv(path: str, rows: list[dict]) -> None:
    """All rows to ``path`` (temp file then rename)."""
    with atomic_writer(path, "w") as fh:
        writer = csv.DictWriter(fh, fieldnames=ROW_FIELDS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})



def _load() -> str:
    try:
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average n/a"


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("nan")


def print_gt_checks(objects: Sequence[RealObject]) -> None:
    """One line per mesh: the ground-truth inside rule, its volume vs the convex hull, agreement with the winding
    number; ``CHECK`` marks a mesh whose occupancy looks wrong (more volume than its hull beyond 3 sigma of sampling
    noise, or < 99 % agreement)."""
    print("\nground truth (object frame, metres — file units for pybullet_data; 20k uniform points): rule = inside "
          "test of `inside(method='auto')`, watertight = trimesh's test after welding")
    print(f"{'object':<30s} {'class':<7s} {'units':<17s} {'watertight':>10s} {'rule':>6s} {'volume cm3':>10s} "
          f"{'/ hull':>6s} {'= winding':>9s}")
    for obj in objects:
        c = ground_truth_check(obj.mesh, 0)
        flag = "  CHECK" if c["suspect"] else ""
        closed = "yes" if c["watertight"] else "no"
        print(f"{obj.name[:30]:<30s} {obj.category:<7s} {obj.units[:17]:<17s} {closed:>10s} {c['rule']:>6s} "
              f"{c['volume_cm3']:10.1f} {c['volume_vs_hull']:6.2f} "
              f"{100 * c['winding_agreement']:8.2f}%{flag}")


def print_protocol(protocol: str, rows: list[dict[str, Any]]) -> None:
    """Per-object table, per-class table and the summary beside the hull for one protocol's rows."""
    print(f"\n## protocol {protocol}: {len(rows)} views of {len({r['name'] for r in rows})} objects")
    if not rows:
        return
    per_obj = aggregate(rows, FIELDS, by="name")
    meta = {r["name"]: r for r in rows}
    print(f"\n{'object':<30s} {'class':<7s} {'rule':>6s} {'views':>5s} {'points':>6s} {'size cm':>7s} "
          f"{'IoU':>5s} {'hull':>5s} {'P':>5s} {'R':>5s} {'vol':>5s} {'shell':>5s} {'over':>5s} "
          f"{'CD mm':>6s} {'hull':>6s} {'F@5':>5s} {'F@10':>5s} {'s/view':>6s}")
    for name, s in per_obj.items():
        r = meta[name]
        n = int(s["views"])
        print(f"{name[:30]:<30s} {r['category']:<7s} {r['gt_rule']:>6s} {n:5d} {s['n_points']:6.0f} "
              f"{100 * s['size_m']:7.1f} {s['model_iou']:5.3f} {s['hull_iou']:5.3f} {s['model_precision']:5.2f} "
              f"{s['model_recall']:5.2f} {s['model_volume_ratio']:5.2f} {round(s['model_shell'] * n):3d}/{n} "
              f"{round(s['model_overfill'] * n):3d}/{n} {s['model_chamfer_mm']:6.1f} {s['hull_chamfer_mm']:6.1f} "
              f"{s['model_fscore_5mm']:5.2f} {s['model_fscore_10mm']:5.2f} {s['seconds']:6.1f}")
    print(f"\nper class (means over views; shell = completed volume < {SHELL_RATIO:.0%} of the true volume, "
          f"over = > {OVERFILL_RATIO:.0%}):")
    print(f"{'class':<8s} {'obj':>3s} {'views':>5s} {'IoU':>5s} {'hull':>5s} {'ratio':>5s} {'P':>5s} {'R':>5s} "
          f"{'shell':>5s} {'over':>5s} {'hull shell':>10s} {'hull over':>9s} {'CD mm':>6s} {'hull':>6s} "
          f"{'F@5':>5s} {'hull':>5s} {'F@10':>5s} {'hull':>5s}")
    for cls, s in aggregate(rows, FIELDS, by="category").items():
        print(f"{cls:<8s} {s['objects']:3.0f} {s['views']:5.0f} {s['model_iou']:5.3f} {s['hull_iou']:5.3f} "
              f"{_ratio(s['model_iou'], s['hull_iou']):5.2f} {s['model_precision']:5.2f} {s['model_recall']:5.2f} "
              f"{s['model_shell']:5.0%} {s['model_overfill']:5.0%} {s['hull_shell']:10.0%} {s['hull_overfill']:9.0%} "
              f"{s['model_chamfer_mm']:6.1f} {s['hull_chamfer_mm']:6.1f} {s['model_fscore_5mm']:5.2f} "
              f"{s['hull_fscore_5mm']:5.2f} {s['model_fscore_10mm']:5.2f} {s['hull_fscore_10mm']:5.2f}")
    print_summary(rows)
    iou = [r["model_iou"] for r in rows]
    for label, measure in (
        ("undecided ratio (known without ground truth)", [r.get("undecided_ratio") for r in rows]),
        ("baseline: fewer observed points", [-float(r["n_points"]) for r in rows]),
    ):
        rank = uncertainty_ranking(measure, iou)
        if rank is not None:
            t = rank["terciles"]
            print(f"{label} vs IoU over {rank['n']} views: Spearman {rank['rho']:+.2f}; mean IoU of the surest "
                  f"third {t[0]:.3f}, middle {t[1]:.3f}, least sure {t[2]:.3f}")

def print_summary(rows: list[dict[str, Any]]) -> None:
    """Overall means, model beside the hull, with their ratio."""
    s = aggregate(rows, FIELDS)["all"]
    model_iou = np.array([r["model_iou"] for r in rows])
    hull_iou = np.array([r["hull_iou"] for r in rows])
    print(f"\n{'':<28s} {'model':>8s} {'convex hull (baseline)':>23s} {'model / hull':>13s}")
    for label, a, b in (
        ("mean IoU", s["model_iou"], s["hull_iou"]),
        ("median IoU", float(np.median(model_iou)), float(np.median(hull_iou))),
        ("mean precision (volume)", s["model_precision"], s["hull_precision"]),
        ("mean recall (volume)", s["model_recall"], s["hull_recall"]),
        ("mean Chamfer-L1 mm", s["model_chamfer_mm"], s["hull_chamfer_mm"]),
        ("mean F-score @ 5 mm", s["model_fscore_5mm"], s["hull_fscore_5mm"]),
        ("mean F-score @ 10 mm", s["model_fscore_10mm"], s["hull_fscore_10mm"]),
        (f"shell failures (< {SHELL_RATIO:.0%} vol)", s["model_shell"], s["hull_shell"]),
        (f"over-fills (> {OVERFILL_RATIO:.0%} vol)", s["model_overfill"], s["hull_overfill"]),
    ):
        print(f"{label:<28s} {a:8.3f} {b:23.3f} {_ratio(a, b):13.2f}")
    wins = int(np.count_nonzero(model_iou > hull_iou))
    print(f"model IoU above the hull's on {wins} of {len(rows)} views; "
          f"goal mean IoU >= 0.75: {'met' if model_iou.mean() >= 0.75 else 'NOT met'}; "
          f"completion {s['seconds']:.2f} s per view")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=None, help="run folder / checkpoint / NAME.safetensors (default: bundled)")
    ap.add_argument("--meshes", type=Path, default=None,
                    help="folder of meshes (units from a SOURCES.md beside them; default: the pybullet_data suite)")
    ap.add_argument("--protocol", choices=("free", "table", "both"), default=None,
                    help="free-floating, resting on a table, or both (default: both with --meshes, else free)")
    ap.add_argument("--draws", type=positive_int, default=3, help="views per object and protocol (default 3)")
    ap.add_argument("--count", type=positive_int, default=None,
                    help="objects of the pybullet_data suite (default 30; not used with --meshes)")
    ap.add_argument("--objects", default=None, metavar="PATTERNS",
                    help="only the objects whose names match one of these comma-separated shell patterns, e.g. "
                         "'*bottle*,ycb_apple' (each view is drawn from the seed and the object's name, so a subset "
                         "scores the same views as the whole suite)")
    ap.add_argument("--seed", type=int, default=0, help="suite seed: random_urdfs choice, poses, noise (default 0)")
    ap.add_argument("--resolution", type=positive_int, default=128, help="extraction resolution (default 128)")
    ap.add_argument("--csv", default=None, help="also write every view's row to this CSV file")
    ap.add_argument(
        "--turns", type=positive_int, default=None,
        help="test-time turned copies averaged per completion (default: the model's, 8 for the bundled one)",
    )
    ap.add_argument("--keep-outliers", action="store_true",
                    help="table protocol: keep the flying pixels the segmentation would drop (remove_outliers)")
    ap.add_argument("--max-points", type=positive_int, default=None,
                    help="thin every view to at most this many points, as a far or small object gives a real "
                         "sensor (default: keep all)")
    ap.add_argument("--threads", type=positive_int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    args = ap.parse_args(argv)
    if args.seed < 0:
        raise UserError(f"--seed must be >= 0, got {args.seed}")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    protocol = args.protocol or ("both" if args.meshes else "free")
    protocols = PROTOCOLS if protocol == "both" else (protocol,)

    t_start = time.perf_counter()
    load_at_start = _load()
    model, meta = load_model(args.checkpoint, device=device)
    source = args.checkpoint or "bundled model"
    skipped: list[tuple[str, str]] = []
    if args.meshes:
        if args.count is not None:
            print("note: --count picks from the pybullet_data suite; with --meshes every mesh of the folder is "
                  "scored", file=sys.stderr)
        objects = load_real_objects(args.meshes, skipped)
        suite, table_size = f"{len(objects)} meshes from {args.meshes} (metres; table: real size)", None
    else:
        objects = [RealObject(n, m, object_class(n), 1.0, "file units")
                   for n, m in real_object_meshes(args.count or 30, args.seed, skipped)]
        suite = f"{len(objects)} pybullet_data meshes (table: rescaled to 10-30 cm)"
        table_size = PYBULLET_SIZE
    if args.objects is not None:
        patterns = [p.strip() for p in args.objects.split(",") if p.strip()]
        chosen = [o for o in objects if any(fnmatch.fnmatch(o.name, p) for p in patterns)]
        if not chosen:
            raise UserError(f"--objects {args.objects!r} matches none of the {len(objects)} objects (such as "
                            f"{', '.join(o.name for o in objects[:3])})")
        suite += f"; {len(chosen)} chosen by --objects {args.objects}"
        objects = chosen
    turns = model_contract(meta).default_turns if args.turns is None else args.turns
    print(f"# bench_real_objects — model {source} (trained pose: {model_contract(meta).pose}); {suite}; "
          f"protocols {', '.join(protocols)}; {args.draws} draws; seed {args.seed}; resolution {args.resolution}; "
          f"turned copies {turns}{'; table: outliers kept' if args.keep_outliers else ''}"
          f"{f'; views thinned to <= {args.max_points} points' if args.max_points else ''}")
    print(f"# machine: {cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}; "
          f"python {platform.python_version()}, torch {torch.__version__}, device {device}, "
          f"torch threads {torch.get_num_threads()}; {load_at_start}")
    print_gt_checks(objects)

    def progress(row: dict[str, Any]) -> None:
        print(f"  [{time.perf_counter() - t_start:7.1f} s] {row['protocol']:<5s} {row['name']:<30s} "
              f"draw {row['draw']}: IoU {row['model_iou']:.3f} (hull {row['hull_iou']:.3f}), "
              f"{row['seconds']:.1f} s", file=sys.stderr, flush=True)

    rows = evaluate_real_objects(
        model, meta, objects, protocols=protocols, draws=args.draws, seed=args.seed, resolution=args.resolution,
        turns=turns, device=device, table_size_range=table_size, table_outliers=not args.keep_outliers,
        max_points=args.max_points, skipped=skipped, on_row=progress,
    )
    for name, reason in skipped:
        print(f"skipped {name}: {reason}")
    for p in protocols:
        print_protocol(p, [r for r in rows if r["protocol"] == p])
    if len(protocols) > 1 and rows:
        print(f"\n## both protocols: {len(rows)} views")
        print_summary(rows)
    if not rows:
        print("no views could be scanned")
    print(f"\ncompletion {sum(r['seconds'] for r in rows):.1f} s in all; total {time.perf_counter() - t_start:.1f} s; "
          f"{_load()} at the end")
    if args.csv:
        write_csv(args.csv, rows)
        print(f"wrote {args.csv}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
