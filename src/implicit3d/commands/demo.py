"""``implicit3d demo``: an offline HTML page that explains implicit functions with data generated on the spot
(built by :func:`implicit3d.viz.demo.build_demo`).

Sections: (1) a sphere as an explicit mesh vs an implicit field, (2) inside/outside classification of points
around a catalogue bottle, (3) a signed-distance cross-section with level lines, (4) one object in four
representations, (5) a noisy partial depth view, (6) completion of partial views by a trained model — only when a
model is available (``--checkpoint`` or the bundled ``implicit3d/weights/default.safetensors``); otherwise the
page says that no model is available instead of showing anything made up.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

# ----------------------------------------------------------------------------------------------------------------
# CLI


HELP = "write an offline HTML page explaining implicit functions with freshly generated shapes"
DESCRIPTION = """\
Generate catalogue shapes and write a self-contained HTML page (no network needed) that explains implicit 3D
functions: explicit vs implicit surfaces, inside/outside tests, signed distances, the common 3D
representations, simulated noisy depth views, and - when a trained model is available - shape completion with
IoU / Chamfer-L1 / F-score.
"""
EPILOG = """\
examples:
  implicit3d demo                     # completes views with the bundled model
  implicit3d demo -o demo --seed 3
  implicit3d demo --checkpoint runs/conv_onet_grid_small   # your own model instead
  implicit3d demo --train --train-minutes 5                # train a fresh small model first
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default="demo", help="output folder; the page is OUTPUT/index.html (demo)")
    p.add_argument("--seed", type=int, default=0, help="seed of the shapes, points and cameras (default 0)")
    p.add_argument(
        "--checkpoint",
        default=None,
        help="trained model for the completion section, as `implicit3d complete --checkpoint` takes it: a run "
        "or checkpoint folder, or NAME.safetensors with NAME.json (default: the bundled model)",
    )
    p.add_argument(
        "--train",
        action="store_true",
        help="first build a small catalogue dataset (OUTPUT/train_data) and train a fresh model on it with the "
        "bundled model's run file (OUTPUT/train_run), then complete with that model",
    )
    p.add_argument("--train-minutes", type=float, default=3.0,
                   help="training budget for --train, minutes of wall-clock time (default 3)")
    p.add_argument("--quick", action="store_true",
                   help="smaller grids and fewer objects (a few seconds; the first run of an install also compiles "
                   "the geometry kernels, about a minute)")


def run(args: argparse.Namespace) -> int:
    from implicit3d.commands.options import first_run_note
    from implicit3d.errors import UserError
    from implicit3d.viz.demo import build_demo, train_demo_model

    t0 = time.perf_counter()
    note = first_run_note()
    if note is not None:
        print(f"note: {note}", flush=True)
    checkpoint = args.checkpoint
    if args.train:
        if checkpoint is not None:
            raise UserError("--train trains a fresh model for the demo: it cannot be combined with --checkpoint")
        if not args.train_minutes > 0:
            raise UserError(f"--train-minutes must be > 0, got {args.train_minutes}")
        checkpoint = train_demo_model(Path(args.output), args.train_minutes, seed=args.seed)
    result = build_demo(args.output, seed=args.seed, checkpoint=checkpoint, quick=args.quick)
    total = time.perf_counter() - t0
    print(f"wrote {result.path}  ({result.path.stat().st_size / 1e6:.1f} MB, {total:.1f} s)")
    print("summary:")
    for key, value in result.facts.items():
        print(f"  {key}: {value}")
    if result.model is None:
        print("  completion: no model available (run with --checkpoint PATH to add it)")
    else:
        for row in result.metrics:
            print(f"  completion {row['object']}: IoU {row['iou']:.3f}  Chamfer-L1 {row['chamfer_l1']:.4f}  "
                  f"F-score@1% {row['fscore@1%']:.3f}")
    print(f"open it in a browser: file://{result.path.resolve()}")
    return 0


