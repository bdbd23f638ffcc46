"""Benchmark: shape completion of held-out real objects from one noisy depth view, beside the convex hull.

The suite (:mod:`implicit3d.evaluation.scans`): ``--count`` real meshes from ``pybullet_data`` that are not in the
catalogue — named household items and toys (duck, bunny, teddy, mug, Lego brick...) then irregular solids
(``random_urdfs``) chosen by ``--seed`` — each scanned once by the simulated RealSense D435 (640x480, fx = fy =
385 px, ``realsense_d435`` noise) at a uniformly random orientation, 10-30 cm longest edge, 0.5-0.8 m away. The model
completes the camera-frame cloud (``up = -y``, viewpoint at the origin); the baseline is the convex hull of the same
cloud, scored on the same 100k IoU points (cube of side 1.1/0.9 x the object's longest edge around it). Model P / R:
volumetric precision (share of the completed volume inside the object: low = filled in too much) and recall (share of
the object's volume completed: low = too little).

Issue goal: mean IoU >= 0.75, well above the convex hull. This script measures quality: it prints the figures and
never fails on a value.

Usage: ``python benchmarks/bench_real_objects.py [--checkpoint RUN] [--count 30] [--seed 0] [--resolution 128]
[--csv FILE] [--turns N] [--device cpu]``.
``--turns 1`` scores the single-pass completion. Without ``--checkpoint`` the bundled model is used (exit 2 when
none ships).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time

import numpy as np
import torch

from implicit3d.completion import load_model, model_contract
from implicit3d.errors import UserError
from implicit3d.evaluation.scans import evaluate_scans, make_scans, real_object_meshes
from implicit3d.fileio import atomic_writer

CSV_FIELDS = (
    "name", "n_points", "size_m", "distance_m", "model_iou", "hull_iou", "model_precision", "model_recall",
    "hull_precision", "hull_recall", "model_chamfer_mm", "hull_chamfer_mm", "seconds", "hull_seconds", "error",
    "hull_error",
)


def write_csv(path: str, rows: list[dict]) -> None:
    """All rows to ``path`` (temp file then rename)."""
    with atomic_writer(path, "w") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=None, help="run folder / checkpoint / NAME.safetensors (default: bundled)")
    ap.add_argument("--count", type=_positive, default=30, help="objects in the suite (default 30)")
    ap.add_argument("--seed", type=int, default=0, help="suite seed: random_urdfs choice, poses, noise (default 0)")
    ap.add_argument("--resolution", type=_positive, default=128, help="extraction resolution (default 128)")
    ap.add_argument("--csv", default=None, help="also write the per-object rows to this CSV file")
    ap.add_argument(
        "--turns", type=_positive, default=None,
        help="test-time turned copies averaged per completion (default: the model's, 8 for the bundled one)",
    )
    ap.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    args = ap.parse_args(argv)
    if args.seed < 0:
        raise UserError(f"--seed must be >= 0, got {args.seed}")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")

    t_start = time.perf_counter()
    model, meta = load_model(args.checkpoint, device=device)
    source = args.checkpoint or "bundled model"
    skipped: list[tuple[str, str]] = []
    meshes = real_object_meshes(args.count, args.seed, skipped)
    scans = make_scans(meshes, args.seed, skipped)
    turns = model_contract(meta).default_turns if args.turns is None else args.turns
    print(
        f"# bench_real_objects — model {source} (trained pose: {model_contract(meta).pose}), {len(scans)} objects, "
        f"seed {args.seed}, resolution {args.resolution}, turned copies {turns}, "
        f"device {device}, torch threads {torch.get_num_threads()}"
    )
    for name, reason in skipped:
        print(f"skipped {name}: {reason}")
    rows = evaluate_scans(
        model, meta, scans, resolution=args.resolution, seed=args.seed, device=device, turns=turns
    )

    print(f"\n{'object':<18s} {'points':>7s} {'size cm':>7s} {'dist m':>6s} {'model IoU':>9s} {'hull IoU':>8s} "
          f"{'model P':>7s} {'model R':>7s} {'model CD mm':>11s} {'hull CD mm':>10s} {'seconds':>7s}")
    for r in rows:
        note = "".join(f"  [{k}: {r[k]}]" for k in ("error", "hull_error") if k in r)
        print(f"{r['name']:<18s} {r['n_points']:7d} {100 * r['size_m']:7.1f} {r['distance_m']:6.2f} "
              f"{r['model_iou']:9.3f} {r['hull_iou']:8.3f} {r['model_precision']:7.3f} {r['model_recall']:7.3f} "
              f"{r['model_chamfer_mm']:11.1f} {r['hull_chamfer_mm']:10.1f} "
              f"{r['seconds']:7.2f}{note}")
    if not rows:
        print("no objects could be scanned")
        return 0
    model_iou = np.array([r["model_iou"] for r in rows])
    hull_iou = np.array([r["hull_iou"] for r in rows])
    model_cd = [r["model_chamfer_mm"] for r in rows]
    hull_cd = [r["hull_chamfer_mm"] for r in rows]
    print(f"\n{'':<26s} {'model':>8s} {'convex hull (baseline)':>23s} {'model / hull':>13s}")
    for label, a, b in (
        ("mean IoU", float(model_iou.mean()), float(hull_iou.mean())),
        ("median IoU", float(np.median(model_iou)), float(np.median(hull_iou))),
        ("mean precision (volume)", *(statistics.fmean(r[f"{k}_precision"] for r in rows) for k in ("model", "hull"))),
        ("mean recall (volume)", *(statistics.fmean(r[f"{k}_recall"] for r in rows) for k in ("model", "hull"))),
        ("mean Chamfer-L1 mm", statistics.fmean(model_cd), statistics.fmean(hull_cd)),
    ):
        print(f"{label:<26s} {a:8.3f} {b:23.3f} {a / b if b > 0 else float('nan'):13.2f}")
    wins = int(np.count_nonzero(model_iou > hull_iou))
    print(f"model IoU above the hull's on {wins} of {len(rows)} objects; "
          f"goal mean IoU >= 0.75: {'met' if model_iou.mean() >= 0.75 else 'NOT met'}")
    print(f"completion {sum(r['seconds'] for r in rows):.1f} s in all; total {time.perf_counter() - t_start:.1f} s")
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
