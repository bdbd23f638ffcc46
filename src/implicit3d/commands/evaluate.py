"""``implicit3d evaluate``: metrics of a trained model (and classical baselines) on a prepared dataset split.

Per shape and method: IoU over the dataset's uniform points (``points.npz``, 100 000 by default; the model's
occupancy comes from the network at those points, a baseline's from inside tests on its mesh), Chamfer-L1/L2
(accuracy, completeness, mean), normal consistency and F-scores against ``pointcloud.npz`` surface samples with
normals (:mod:`implicit3d.evaluation.metrics`). Baselines (:mod:`implicit3d.evaluation.baselines`) reconstruct a
mesh from the same input cloud the model sees.

Units: normalized shape units (the dataset's cube ``[-0.5, 0.5]^3``, longest bounding-box edge ``1 - padding``);
the summary also prints Chamfer-L1 in the ONet/ConvONet papers' units (x10).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from implicit3d.commands.options import add_dataset_arguments, open_dataset_run, say_first_run_note
from implicit3d.errors import UserError

EPILOG = """\
examples:
  implicit3d evaluate --checkpoint runs/grid --data data/bottles --split test -o runs/grid/eval
  implicit3d evaluate --checkpoint runs/grid --data data/bottles --input surface --baselines none --limit 50

Output: OUT/metrics.csv (one row per shape and method), OUT/summary.md (mean per category and method, Markdown),
OUT/summary.json. Distances are in normalized shape units (the cube [-0.5, 0.5]^3); the ONet/ConvONet papers
quote Chamfer-L1 x10 (units of 1/10 of the bounding box), printed in its own column. F-score thresholds are
fractions of the unit cube's edge (1% = 0.01).
"""

def _thresholds(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from exc
    if not values or any(not (math.isfinite(v) and v > 0) for v in values):
        raise argparse.ArgumentTypeError(f"thresholds must be positive numbers, got {text!r}")
    return values


HELP = (
    "IoU, Chamfer, normal consistency and F-score of a model and classical baselines on a dataset split"
)
DESCRIPTION = """\
Evaluate a trained model on a prepared dataset split: per-shape metrics (CSV) and a summary table per category
with classical baselines (convex hull, alpha shape) in the same table.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_dataset_arguments(p)
    p.add_argument("-o", "--output", default=None, metavar="OUT_DIR", help="output folder (default eval-<split>)")
    p.add_argument(
        "--baselines", default="convex_hull,alpha_shape",
        help="comma-separated classical baselines on the same inputs, or 'none' (default convex_hull,alpha_shape; "
        "the alpha shape at its default alpha is a thin shell on surface samples: IoU near 0, compare its Chamfer "
        "and F-scores)",
    )
    p.add_argument("--n-points", type=int, default=100_000, help="surface samples per predicted mesh (100000)")
    p.add_argument(
        "--thresholds", type=_thresholds, default=None,
        help="F-score distance thresholds, normalized units (default: evaluation.metrics.FSCORE_THRESHOLDS, "
        "0.005,0.01,0.02)",
    )


def _baselines(text: str) -> list[str]:
    from implicit3d.evaluation.baselines import BASELINES

    if text.strip().lower() in ("", "none"):
        return []
    names = [b.strip() for b in text.split(",") if b.strip()]
    unknown = [b for b in names if b not in BASELINES]
    if unknown:
        raise UserError(f"--baselines: unknown {', '.join(unknown)}; choose from {', '.join(BASELINES)} or none")
    return names


def run(args: argparse.Namespace) -> int:
    from implicit3d.evaluation.dataset_inference import evaluate_split
    from implicit3d.evaluation.metrics import fscore_key
    from implicit3d.fileio import folder_kept_only_if_used

    t0 = time.perf_counter()
    baselines = _baselines(args.baselines)
    dataset_run = open_dataset_run(args)
    say_first_run_note()  # the baselines' IoU tests points against meshes
    out = Path(args.output) if args.output else Path(f"eval-{args.split}")
    info = {"checkpoint": str(args.checkpoint or "bundled model"), "data": str(args.data), "split": args.split}
    with folder_kept_only_if_used(out):
        summary = evaluate_split(dataset_run, out, baselines=baselines, n_points=args.n_points,
                                 thresholds=args.thresholds, info=info)
    thresholds = args.thresholds or (0.01,)
    f1 = fscore_key(0.01) if 0.01 in thresholds else fscore_key(thresholds[0])
    print(f"{out}: {len(dataset_run.keys)} shapes in {time.perf_counter() - t0:.1f} s")
    for e in summary:
        if e["category"] == "all":
            print(f"  {e['method']}: IoU {e['iou']:.3f}, Chamfer-L1 {e['chamfer_l1']:.4f} "
                  f"(x10: {e['chamfer_l1_x10']:.3f}), {f1} {e[f1]:.3f}")
    return 0
