"""Argument helpers shared by the commands (parsing only: each command calls one library function)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


class LazyChoices:
    """An argparse ``choices`` read from ``module.attribute`` only when first needed (the help printed, a value
    checked), so that building the parser for ``--help`` imports no heavy module (numba kernels, trimesh). Give
    the option a ``metavar`` (argparse formats it when the option is added) and ``%(choices)s`` in its help."""

    def __init__(self, module: str, attribute: str) -> None:
        self._where = (module, attribute)
        self._names: list[str] | None = None

    def _load(self) -> list[str]:
        if self._names is None:
            import importlib

            self._names = sorted(getattr(importlib.import_module(self._where[0]), self._where[1]))
        return self._names

    def __iter__(self) -> Any:
        return iter(self._load())

    def __contains__(self, value: object) -> bool:
        return value in self._load()

    def __len__(self) -> int:
        return len(self._load())


def show_progress(off: bool) -> bool:
    """Whether a command draws progress bars: unless switched ``off``, when stderr is a terminal (redirected to a log
    file, a bar's carriage returns are noise)."""
    import sys

    return not off and sys.stderr.isatty()


def kernels_compiled() -> bool:
    """Whether numba's cache holds the compiled inside/outside kernels. The first run of an install compiles the
    geometry and rendering kernels (about a minute on a 2-core CPU; cached afterwards): where numba keeps them
    beside the sources, in ``NUMBA_CACHE_DIR``, or in its user-wide folder when the package is read-only."""
    import os

    import implicit3d.geometry

    if os.environ.get("NUMBA_CACHE_DIR"):  # numba then uses that folder alone
        folders = [Path(os.environ["NUMBA_CACHE_DIR"])]
    else:
        beside = Path(implicit3d.geometry.__file__).resolve().parent / "__pycache__"
        try:  # where numba puts it when the package folder is read-only (XDG_CACHE_HOME, ~/Library/Caches...)
            from numba.misc.appdirs import AppDirs

            user = Path(AppDirs(appname="numba", appauthor=False).user_cache_dir)
        except Exception:  # noqa: BLE001 - an internal of numba: fall back to the usual Linux place
            user = Path.home() / ".cache" / "numba"
        folders = [beside, user]
    return any(next(f.rglob("_inside_kernels*.nbi"), None) is not None for f in folders if f.is_dir())


def first_run_note() -> str | None:
    """One line for a command about to use the numba kernels on an install that has not compiled them yet, else
    ``None`` (a silent minute looks like a hang)."""
    if kernels_compiled():
        return None
    return ("first run of this install: compiling the geometry and rendering kernels for this CPU (about a minute "
            "on 2 cores, once; later runs load them from numba's cache)")


def say_first_run_note() -> None:
    """Print :func:`first_run_note` to stderr (one line) when the kernels are still to be compiled."""
    import sys

    note = first_run_note()
    if note is not None:
        print(f"note: {note}", file=sys.stderr, flush=True)


CHECKPOINT_HELP = ("trained model: run folder, checkpoint folder or file, or NAME.safetensors with NAME.json "
                   "(default: the bundled model, see README 'Bundled model')")


def add_model_options(p: argparse.ArgumentParser, checkpoint_help: str = CHECKPOINT_HELP) -> None:
    """``--checkpoint`` (default: the bundled model), ``--device`` and ``--precision``."""
    p.add_argument("--checkpoint", default=None, metavar="DIR_OR_FILE", help=checkpoint_help)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: cuda if available")
    p.add_argument(
        "--precision", choices=("fp32", "bf16", "auto"), default="fp32",
        help="model arithmetic: fp32 (default: the same result on every machine), bf16 (autocast: faster on a CPU "
        "with AMX or AVX-512 BF16 and on recent GPUs; the surface moves by a fraction of a grid cell), auto (bf16 "
        "where the CPU or GPU has it natively)",
    )


def model_bf16(args: argparse.Namespace, device: Any) -> bool:
    """Whether ``--precision`` on ``device`` runs the model in bf16; warns (one line) when bf16 is asked for on a
    machine that only emulates it (:func:`implicit3d.extraction.field.precision_bf16`)."""
    from implicit3d.extraction.field import precision_bf16

    return precision_bf16(args.precision, device)


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
    from implicit3d.training.run import resolve_device

    return DatasetRun.open(
        args.checkpoint, args.data, args.split, limit=args.limit, resolution=args.resolution,
        threshold=args.threshold, device=args.device, progress=show_progress(args.no_progress),
        bf16=model_bf16(args, resolve_device(args.device)), input=args.input,
        n_inputs=args.n_inputs, noise=args.noise, view=args.view, seed=args.seed,
    )


DEPTH_SCALE_HELP = ("depth units per metre of a 16-bit PNG or TIFF or an integer .npy depth image (default: the "
                    "depth_scale of a BOP scene_camera.json or the factor_depth of a YCB-Video *-meta.mat given as "
                    "--intrinsics, else 1000: mm; e.g. 5000 for TUM RGB-D)")


def add_depth_scale_option(p: argparse.ArgumentParser) -> None:
    """``--depth-scale`` (resolved by :func:`depth_scale`)."""
    p.add_argument("--depth-scale", type=float, default=None, help=DEPTH_SCALE_HELP)


def depth_scale(args: argparse.Namespace, depth: Any, intrinsics: Any) -> float:
    """The depth units per metre of an integer depth image (16-bit PNG or TIFF, integer ``.npy``): ``--depth-scale``
    when given, else the one the intrinsics file states (a BOP
    ``scene_camera.json`` or a YCB-Video ``*-meta.mat``; said in one line unless ``--quiet``), else 1000.
    :class:`UserError` for a non-positive value."""
    from implicit3d.errors import UserError
    from implicit3d.sensing.io import depth_has_units, read_depth_scale

    if args.depth_scale is not None:
        if not args.depth_scale > 0:
            raise UserError(f"--depth-scale must be > 0, got {args.depth_scale}")
        ext = Path(str(depth)).suffix.lower()
        if ext not in (".png", ".npy", ".tif", ".tiff") or (ext == ".npy" and intrinsics is None):
            raise UserError(f"--depth-scale gives a depth image's units; {depth} is a point cloud (its coordinates are "
                            "taken in their own units)")
        return float(args.depth_scale)
    if intrinsics is None or not depth_has_units(depth):  # float metres have no depth units
        return 1000.0
    stated = read_depth_scale(intrinsics, image=depth)
    if stated is None:
        return 1000.0
    if not getattr(args, "quiet", False):
        key = "factor_depth" if str(intrinsics).lower().endswith(".mat") else "depth_scale"
        print(f"depth scale {stated:g} units per metre, from the {key} of {intrinsics} (--depth-scale to "
              "override)")
    return stated
