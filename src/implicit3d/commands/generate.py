"""``implicit3d generate``: meshes predicted by a trained model for the shapes of a prepared dataset split.

The counterpart of Convolutional Occupancy Networks' ``generate.py``: for every shape of ``--split``, the model's
input (a partial depth view or surface samples, in the dataset's normalized frame) is fed to the model and the
surface is extracted with MISE (:mod:`implicit3d.evaluation.dataset_inference`). The dataset options are shared
with ``implicit3d evaluate``.
"""

from __future__ import annotations

import argparse
import time

from implicit3d.commands.options import add_dataset_arguments, open_dataset_run

EPILOG = """\
examples:
  implicit3d generate --checkpoint runs/grid --data data/bottles --split test -o runs/grid/generation
  implicit3d generate --checkpoint runs/grid --data data/bottles --input surface --world --limit 20 -o gen/

Output: OUT/<category>/<name>.ply (normalized frame of the dataset, or the original mesh frame with --world),
OUT/<category>/<name>.input.ply with --save-inputs, OUT/generate.csv (vertices, faces, seconds per shape) and,
with --html, a figure of the first shapes. Inputs: the view --view of views.npz (partial) or surface samples of
pointcloud.npz (surface), --n-inputs points, plus Gaussian --noise (defaults: the checkpoint's training data
settings), drawn reproducibly from --seed and the shape's key.
"""


HELP = "extract meshes predicted by a trained model for a dataset split"
DESCRIPTION = """\
Generate meshes for the shapes of a prepared dataset split with a trained model (multiresolution iso-surface
extraction).
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_dataset_arguments(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="output folder")
    p.add_argument("--world", action="store_true", help="write meshes in the original mesh frame (loc/scale undone)")
    p.add_argument("--format", choices=("ply", "obj", "off", "glb"), default="ply", help="mesh format (default ply)")
    p.add_argument("--save-inputs", action="store_true", help="also write each input cloud as <name>.input.ply")
    p.add_argument("--html", default=None, metavar="FILE", help="figure of the first (up to 12) inputs and meshes")


def run(args: argparse.Namespace) -> int:
    from implicit3d.evaluation.dataset_inference import generate_split
    from implicit3d.fileio import folder_kept_only_if_used

    t0 = time.perf_counter()
    dataset_run = open_dataset_run(args)
    with folder_kept_only_if_used(args.output):
        rows, shown = generate_split(dataset_run, args.output, world=args.world, fmt=args.format,
                                     save_inputs=args.save_inputs, figure_shapes=12 if args.html else 0)
    if args.html and shown:
        from implicit3d.viz.figures import completion_grid_figure
        from implicit3d.viz.report import write_figure

        write_figure(args.html, completion_grid_figure(shown))
    s = dataset_run.settings
    empty = sum(1 for r in rows if not r["faces"])
    print(
        f"{args.output}: {len(rows) - empty} meshes ({s.input} inputs, {s.n_inputs} points, noise "
        f"{s.noise:g}, resolution {args.resolution}) in {time.perf_counter() - t0:.1f} s"
        + (f"; {empty} empty predictions (no file written)" if empty else "")
    )
    return 0
