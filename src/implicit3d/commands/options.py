"""Argument helpers shared by the commands (parsing only: each command calls one library function)."""

from __future__ import annotations

import argparse
from typing import Any

CHECKPOINT_HELP = ("trained model: run folder, checkpoint folder or file, or NAME.safetensors with NAME.json "
                   "(default: the bundled model, see README 'Bundled model')")


def add_model_options(p: argparse.ArgumentParser, checkpoint_help: str = CHECKPOINT_HELP) -> None:
    """``--checkpoint`` (default: the bundled model) and ``--device``."""
    p.add_argument("--checkpoint", default=None, metavar="DIR_OR_FILE", help=checkpoint_help)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: cuda if available")


def add_dataset_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the commands that run a model over a dataset split (``generate``, ``evaluate``)."""
    add_model_options(p)
    p.add_argument("--data", required=True, metavar="DATASET_DIR", help="a dataset built by `implicit3d prepare`")
    p.add_argument("--split", choices=("train", "val", "test"), default="test", help="dataset split (default test)")
    p.add_argument(
        "--input", choices=("partial", "surface"), default=None,
        help="model input: a partial depth view or surface samples (default: as the checkpoint was trained)",
    )
    p.add_argument("--view", type=int, default=0, help="which depth view for --input partial (default 0)")
    p.add_argument("--n-inputs", type=int, default=None, help="input points per shape (default: as in training)")
    p.add_argument("--noise", type=float, default=None, help="input noise std, normalized units (default: training)")
    p.add_argument("--resolution", type=int, default=128, help="extraction grid cells per axis (default 128)")
    p.add_argument("--threshold", type=float, default=0.5, help="occupancy probability of the surface (default 0.5)")
    p.add_argument("--limit", type=int, default=None, help="only the first N shapes of the split")
    p.add_argument("--seed", type=int, default=0, help="seed of input subsampling and noise (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def open_dataset_run(args: argparse.Namespace) -> Any:
    """The :class:`~implicit3d.evaluation.dataset_inference.DatasetRun` of :func:`add_dataset_arguments`' options."""
    from implicit3d.evaluation.dataset_inference import DatasetRun

    return DatasetRun.open(
        args.checkpoint, args.data, args.split, limit=args.limit, resolution=args.resolution,
        threshold=args.threshold, device=args.device, progress=not args.no_progress, input=args.input,
        n_inputs=args.n_inputs, noise=args.noise, view=args.view, seed=args.seed,
    )
