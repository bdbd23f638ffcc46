"""``implicit3d generate``: meshes predicted by a trained model for the shapes of a prepared dataset split.

The counterpart of Convolutional Occupancy Networks' ``generate.py``: for every shape of ``--split``, the model's
input (a partial depth view or surface samples, in the dataset's normalized frame) is fed to the model and the
surface is extracted with MISE. :func:`dataset_inputs` and :func:`resolve_input_settings` are shared with
``implicit3d evaluate``.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from implicit3d.errors import UserError

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


@dataclass
class ShapeInput:
    """One dataset shape's model input: ``inputs (N, 3) float32`` in the dataset's normalized frame, and the
    normalization ``loc (3,)``/``scale`` back to the original mesh frame (``world = normalized * scale + loc``);
    for a depth view, ``camera_rotation (3, 3)``: canonical -> the view's aligned camera frame (``pose: camera``)."""

    key: str
    category: str
    name: str
    inputs: np.ndarray
    loc: np.ndarray
    scale: float
    camera_rotation: np.ndarray | None = None


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


# ------------------------------------------------------------------------------------------------ shared pieces


def resolve_input_settings(args: argparse.Namespace, meta: dict[str, Any]) -> dict[str, Any]:
    """``{"input", "n_inputs", "noise"}`` from the arguments, else the checkpoint's training data settings."""
    from implicit3d.completion import DEFAULT_N_INPUTS

    data_cfg = meta.get("data_config") or {}
    kind = args.input or data_cfg.get("input", "partial")
    if kind not in INPUT_KINDS:  # e.g. "voxels": our models voxelize surface samples themselves
        kind = "surface"
    n_inputs = args.n_inputs if args.n_inputs is not None else int(data_cfg.get("n_inputs", DEFAULT_N_INPUTS))
    noise = args.noise if args.noise is not None else float(data_cfg.get("noise", 0.0) or 0.0)
    from implicit3d.limits import MAX_POINTS, check_int

    n_inputs = check_int(n_inputs, "--n-inputs" if args.n_inputs is not None else "data_config.n_inputs", 1, MAX_POINTS)
    if noise < 0:
        raise UserError(f"--noise must be >= 0, got {noise}")
    return {"input": kind, "n_inputs": int(n_inputs), "noise": float(noise)}


def check_common(args: argparse.Namespace) -> None:
    from implicit3d.limits import check_resolution, check_seed

    check_resolution(args.resolution)
    check_seed(args.seed)
    if not 0.0 < args.threshold < 1.0:
        raise UserError(f"--threshold is a probability in (0, 1), got {args.threshold}")
    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be >= 1, got {args.limit}")
    if args.view < 0:
        raise UserError(f"--view must be >= 0, got {args.view}")


class EmptyViewsError(UserError):
    """A shape none of whose depth views saw the object (skipped by generate / evaluate with a warning)."""


def split_keys(root: str | Path, split: str, limit: int | None = None) -> list[str]:
    """``"<category>/<name>"`` keys of a dataset split; :class:`UserError` if the folder is not a dataset."""
    from implicit3d.data import formats
    from implicit3d.data.prepare import load_manifest

    manifest = load_manifest(root)
    try:
        keys = formats.read_split(root, split)
    except FileNotFoundError as exc:
        raise UserError(f"{exc}; was the prepare run finished?") from None
    if not keys:
        raise UserError(f"{root}: the {split} split is empty ({manifest.get('splits', {})})")
    return keys[:limit] if limit is not None else keys


def shape_rng(seed: int, key: str) -> np.random.Generator:
    """The generator of one shape's input sampling: depends only on ``seed`` and the shape key."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(key.encode())])


def load_shape_input(
    root: str | Path, key: str, kind: str, n_inputs: int, noise: float = 0.0, view: int = 0, seed: int = 0
) -> ShapeInput:
    """The model input of shape ``key``: view ``view`` of ``views.npz`` (the next one that saw the object if it
    is empty) or ``pointcloud.npz`` surface samples, at most ``n_inputs`` points, plus Gaussian ``noise``."""
    from implicit3d.data import formats
    from implicit3d.data.dataset import camera_rotation

    d = Path(root) / key
    rng = shape_rng(seed, key)
    try:
        surf = formats.read_pointcloud_npz(d / formats.POINTCLOUD)
        if kind == "partial":
            v = formats.load_npz(d / formats.VIEWS)
            counts = np.diff(v["offsets"])
            usable = np.flatnonzero(counts > 0)
            if view >= len(counts):
                raise UserError(f"{d}: --view {view}, but the shape has only {len(counts)} views")
            if len(usable) == 0:
                raise EmptyViewsError(f"{key}: none of its depth views saw the object (use --input surface)")
            k = int(usable[np.searchsorted(usable, view) % len(usable)])
            cloud = v["points"][v["offsets"][k] : v["offsets"][k + 1]]
            cam_rot = camera_rotation(cloud, v["cam_to_world"][k], v["object_pose"][k], float(v["object_scale"][k]))
        else:
            cloud = surf["points"]
            cam_rot = None
        loc, scale = np.asarray(surf["loc"], float), float(surf["scale"])
    except FileNotFoundError as exc:
        raise UserError(f"{d}: incomplete shape folder ({exc.filename or exc} missing)") from None
    except (KeyError, ValueError) as exc:
        raise UserError(f"{d}: unreadable dataset files ({exc})") from None
    cloud = np.asarray(cloud, dtype=np.float64)
    if len(cloud) > n_inputs:
        cloud = cloud[np.sort(rng.choice(len(cloud), n_inputs, replace=False))]
    if noise > 0:
        cloud = cloud + rng.normal(0.0, noise, cloud.shape)
    category, name = key.split("/", 1)
    return ShapeInput(key, category, name, cloud.astype(np.float32), loc, scale, cam_rot)


def model_frame(
    inputs: np.ndarray, meta: dict[str, Any], camera_rotation: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """``(rotation (3, 3), loc (3,), scale)`` with ``model_input = (inputs @ rotation.T - loc) / scale`` for
    dataset-frame ``inputs (N, 3)``: the view's aligned camera frame for ``pose: camera`` models (when the view's
    ``camera_rotation`` is known), the observed box for ``normalize: visible`` models, else the identity."""
    from implicit3d.completion import training_normalization, training_pose
    from implicit3d.geometry.transforms import visible_box_params

    rot = camera_rotation if training_pose(meta) == "camera" and camera_rotation is not None else np.eye(3)
    rotated = np.asarray(inputs, dtype=np.float64) @ rot.T
    mode, extent = training_normalization(meta)
    if mode != "visible":
        return rot, np.zeros(3), 1.0
    loc, scale = visible_box_params(rotated, extent)
    return rot, np.asarray(loc, dtype=np.float64), float(scale)


def generate_in_dataset_frame(
    gen: Any, model: Any, meta: dict[str, Any], inputs: np.ndarray, camera_rotation: np.ndarray | None = None
) -> tuple[Any, Any]:
    """``(mesh, field)``: the model's mesh for dataset-frame ``inputs (N, 3)``, mapped back to the dataset frame,
    and its field as a function of dataset-frame points ``(M, 3) -> (M,)`` (logits or SDF in model units).
    ``camera_rotation``: the view's canonical -> camera rotation, used by ``pose: camera`` models."""
    rot, loc, scale = model_frame(inputs, meta, camera_rotation)
    model_inputs = ((np.asarray(inputs, dtype=np.float64) @ rot.T - loc) / scale).astype(np.float32)
    pose = np.eye(4)
    pose[:3, :3] = rot.T
    mesh = gen.generate(model, model_inputs, loc=loc, scale=scale, pose=pose)
    field = gen.model_field(model, model_inputs)
    return mesh, (lambda points: field((np.asarray(points, dtype=np.float64) @ rot.T - loc) / scale))


def iter_inputs(args: argparse.Namespace, keys: list[str], settings: dict[str, Any]) -> Iterator[ShapeInput]:
    """Inputs of ``keys`` in order; shapes without a usable depth view are skipped with a warning on stderr."""
    for key in keys:
        try:
            shape = load_shape_input(args.data, key, settings["input"], settings["n_inputs"], settings["noise"],
                                     args.view, args.seed)
        except EmptyViewsError as exc:
            print(f"warning: skipped {exc}", file=sys.stderr)
            continue
        yield shape


def make_generator(model: Any, meta: dict[str, Any], args: argparse.Namespace, device: str) -> Any:
    from implicit3d.completion import model_kind
    from implicit3d.extraction import MeshGenerator

    return MeshGenerator(kind=model_kind(model, meta), threshold=args.threshold, resolution=args.resolution,
                         device=device)


def progress(iterable: Any, total: int, desc: str, disable: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="shape", disable=disable)


def cloud_ply_bytes(points: np.ndarray) -> bytes:
    """Binary PLY of a point cloud ``(N, 3)`` (float32 vertices, no faces)."""
    v = np.ascontiguousarray(points, dtype="<f4")
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {len(v)}\nproperty float x\nproperty float y\nproperty float z\nend_header\n"
    ).encode()
    return header + v.tobytes()


def csv_text(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------ the command


def run(args: argparse.Namespace) -> int:
    from implicit3d.commands.complete import resolve_device
    from implicit3d.completion import load_model, write_mesh
    from implicit3d.extraction import to_world
    from implicit3d.fileio import atomic_write_bytes, atomic_write_text, ensure_folder

    check_common(args)
    keys = split_keys(args.data, args.split, args.limit)
    device = resolve_device(args.device)
    model, meta = load_model(args.checkpoint, device)
    settings = resolve_input_settings(args, meta)
    gen = make_generator(model, meta, args, device)
    out = Path(args.output)
    ensure_folder(out)
    rows: list[dict[str, Any]] = []
    shown: list[tuple[str, np.ndarray, Any]] = []
    t_all = time.perf_counter()
    for shape in progress(iter_inputs(args, keys, settings), len(keys), "generate", args.no_progress):
        t0 = time.perf_counter()
        mesh, _ = generate_in_dataset_frame(gen, model, meta, shape.inputs, shape.camera_rotation)
        seconds = time.perf_counter() - t0
        pts = shape.inputs.astype(np.float64)
        if args.world:
            mesh = to_world(mesh, shape.loc, shape.scale)
            pts = pts * shape.scale + shape.loc
        target = out / shape.category / f"{shape.name}.{args.format}"
        if len(mesh.faces):
            write_mesh(target, mesh)
        if args.save_inputs:
            atomic_write_bytes(out / shape.category / f"{shape.name}.input.ply", cloud_ply_bytes(pts))
        rows.append({
            "key": shape.key, "category": shape.category, "name": shape.name, "n_inputs": len(pts),
            "vertices": len(mesh.vertices), "faces": len(mesh.faces), "seconds": seconds,
            "file": str(target.relative_to(out)) if len(mesh.faces) else "",
        })
        if args.html and len(shown) < 12 and len(mesh.faces):
            shown.append((shape.key, pts, mesh))
    columns = ["key", "category", "name", "n_inputs", "vertices", "faces", "seconds", "file"]
    atomic_write_text(out / "generate.csv", csv_text(rows, columns))
    if args.html:
        from implicit3d.viz.figures import completion_grid_figure
        from implicit3d.viz.report import write_figure

        if shown:
            write_figure(args.html, completion_grid_figure(shown))
    empty = sum(1 for r in rows if not r["faces"])
    print(
        f"{out}: {len(rows) - empty} meshes ({settings['input']} inputs, {settings['n_inputs']} points, noise "
        f"{settings['noise']:g}, resolution {args.resolution}) in {time.perf_counter() - t_all:.1f} s"
        + (f"; {empty} empty predictions (no file written)" if empty else "")
    )
    return 0
