"""``implicit3d generate``: meshes predicted by a trained model for the shapes of a prepared dataset split.

The counterpart of Convolutional Occupancy Networks' ``generate.py``: for every shape of ``--split``, the model's
input (a partial depth view or surface samples, in the dataset's normalized frame) is fed to the model and the
surface is extracted with MISE (:mod:`implicit3d.evaluation.dataset_inference`). The dataset options are shared
with ``implicit3d evaluate``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

INPUT_KINDS = ("partial", "surface")

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


def add_dataset_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by ``generate`` and ``evaluate``."""
    p.add_argument(
        "--checkpoint", default=None, metavar="DIR_OR_FILE",
        help="trained model: run folder, checkpoint folder or file, or NAME.safetensors with NAME.json "
        "(default: the bundled model, see README 'Bundled model')",
    )
    p.add_argument("--data", required=True, metavar="DATASET_DIR", help="a dataset built by `implicit3d prepare`")
    p.add_argument("--split", choices=("train", "val", "test"), default="test", help="dataset split (default test)")
    p.add_argument(
        "--input", choices=INPUT_KINDS, default=None,
        help="model input: a partial depth view or surface samples (default: as the checkpoint was trained)",
    )
    p.add_argument("--view", type=int, default=0, help="which depth view for --input partial (default 0)")
    p.add_argument("--n-inputs", type=int, default=None, help="input points per shape (default: as in training)")
    p.add_argument("--noise", type=float, default=None, help="input noise std, normalized units (default: training)")
    p.add_argument("--resolution", type=int, default=128, help="extraction grid cells per axis (default 128)")
    p.add_argument("--threshold", type=float, default=0.5, help="occupancy probability of the surface (default 0.5)")
    p.add_argument("--limit", type=int, default=None, help="only the first N shapes of the split")
    p.add_argument("--seed", type=int, default=0, help="seed of input subsampling and noise (default 0)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: cuda if available")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "generate",
        help="extract meshes predicted by a trained model for a dataset split",
        description="Generate meshes for the shapes of a prepared dataset split with a trained model "
        "(multiresolution iso-surface extraction).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_dataset_arguments(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="output folder")
    p.add_argument("--world", action="store_true", help="write meshes in the original mesh frame (loc/scale undone)")
    p.add_argument("--format", choices=("ply", "obj", "off", "glb"), default="ply", help="mesh format (default ply)")
    p.add_argument("--save-inputs", action="store_true", help="also write each input cloud as <name>.input.ply")
    p.add_argument("--html", default=None, metavar="FILE", help="figure of the first (up to 12) inputs and meshes")
    return p


def open_dataset_run(args: argparse.Namespace) -> Any:
    """The :class:`~implicit3d.evaluation.dataset_inference.DatasetRun` of the options :func:`add_dataset_arguments`
    adds (shared by ``generate`` and ``evaluate``)."""
    from implicit3d.evaluation.dataset_inference import DatasetRun

    return DatasetRun.open(
        args.checkpoint, args.data, args.split, limit=args.limit, resolution=args.resolution,
        threshold=args.threshold, device=args.device, progress=not args.no_progress, input=args.input,
        n_inputs=args.n_inputs, noise=args.noise, view=args.view, seed=args.seed,
    )


def run(args: argparse.Namespace) -> int:
    from implicit3d.evaluation.dataset_inference import generate_split

    t0 = time.perf_counter()
    dataset_run = open_dataset_run(args)
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
