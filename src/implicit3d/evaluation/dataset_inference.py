"""A trained model over the shapes of a prepared dataset split: meshes (``implicit3d generate``) and metrics beside
classical baselines (``implicit3d evaluate``).

For every shape, the model's input — a partial depth view (``views.npz``) or surface samples (``pointcloud.npz``),
in the dataset's normalized frame — is framed by the model's input contract
(:meth:`implicit3d.data.contract.InputContract.dataset_frame`), the surface is extracted with MISE and mapped back to
the dataset frame. Units: normalized shape units (the dataset's cube ``[-0.5, 0.5]^3``, longest bounding-box edge
``1 - padding``); the evaluation summary also gives Chamfer-L1 in the ONet/ConvONet papers' units (x10).
"""

from __future__ import annotations

import csv
import io
import math
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from implicit3d.data.contract import InputContract
from implicit3d.errors import UserError
from implicit3d.geometry.frames import probability_to_logit, subsample_indices

INPUT_KINDS = ("partial", "surface")
METHOD_MODEL = "model"


@dataclass
class ShapeInput:
    """One dataset shape's model input: ``inputs (N, 3) float32`` in the dataset's normalized frame, and the
    normalization ``loc (3,)``/``scale`` back to the z-up mesh frame (``normalized * scale + loc``), ``up``: the
    axis the mesh file had up (``"y"``: ShapeNet, ``--up y``; :meth:`to_source` turns points back into the file's
    own frame); for a depth view, ``view_rotations``: canonical -> the view's frames (``camera``, ``gravity``)."""

    key: str
    category: str
    name: str
    inputs: np.ndarray
    loc: np.ndarray
    scale: float
    view_rotations: dict[str, np.ndarray] | None = None
    up: str = "z"

    def source_transform(self) -> np.ndarray:
        """``(4, 4)``: normalized frame -> the mesh file's own frame and units (loc/scale undone, then a y-up file's
        turn to z-up)."""
        from implicit3d.data.sources import Y_UP_TO_Z_UP

        m = np.eye(4)
        m[:3, :3] *= self.scale
        m[:3, 3] = self.loc
        if self.up == "y":
            turn = np.eye(4)
            turn[:3, :3] = Y_UP_TO_Z_UP.T  # its inverse
            m = turn @ m
        return m

    def to_source(self, points: np.ndarray) -> np.ndarray:
        """``(N, 3)`` normalized points in the mesh file's own frame and units."""
        m = self.source_transform()
        return np.asarray(points, dtype=np.float64) @ m[:3, :3].T + m[:3, 3]


@dataclass
class InferenceSettings:
    """How dataset shapes are given to a model: ``input`` kind, ``n_inputs`` points, Gaussian ``noise`` (std,
    normalized units), which depth ``view``, and the ``seed`` of subsampling and noise."""

    input: str
    n_inputs: int
    noise: float
    view: int = 0
    seed: int = 0

    @classmethod
    def for_model(
        cls, contract: InputContract, input: str | None = None, n_inputs: int | None = None,
        noise: float | None = None, view: int = 0, seed: int = 0,
    ) -> InferenceSettings:
        """The given values, else the model's training settings (its input contract)."""
        settings = cls(input or contract.input, contract.n_inputs if n_inputs is None else int(n_inputs),
                       contract.noise if noise is None else float(noise), int(view), int(seed))
        if settings.input not in INPUT_KINDS:
            raise UserError(f"--input must be one of {INPUT_KINDS}, got {settings.input!r}")
        if settings.n_inputs < 1:
            raise UserError(f"--n-inputs must be >= 1, got {settings.n_inputs}")
        if not settings.noise >= 0:
            raise UserError(f"--noise must be >= 0, got {settings.noise}")
        if settings.view < 0:
            raise UserError(f"--view must be >= 0, got {settings.view}")
        return settings


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


def _guess_up(origin: Any) -> str:
    """The up axis of a dataset shape prepared before ``shape.json`` recorded it: y for a ShapeNet model file, as
    ``prepare`` read those, else z."""
    from implicit3d.data.sources import is_shapenet_file

    return "y" if origin and is_shapenet_file(origin) else "z"


def load_shape_input(root: str | Path, key: str, settings: InferenceSettings) -> ShapeInput:
    """The model input of shape ``key``: view ``settings.view`` of ``views.npz`` (the next one that saw the object if
    it is empty) or ``pointcloud.npz`` surface samples, at most ``n_inputs`` points, plus Gaussian ``noise``."""
    from implicit3d.data import formats
    from implicit3d.data.contract import view_rotations

    d = Path(root) / key
    rng = shape_rng(settings.seed, key)
    try:
        surf = formats.read_pointcloud_npz(d / formats.POINTCLOUD)
        if settings.input == "partial":
            v = formats.load_npz(d / formats.VIEWS)
            counts = np.diff(v["offsets"])
            usable = np.flatnonzero(counts > 0)
            if settings.view >= len(counts):
                raise UserError(f"{d}: --view {settings.view}, but the shape has only {len(counts)} views")
            if len(usable) == 0:
                raise EmptyViewsError(f"{key}: none of its depth views saw the object (use --input surface)")
            k = int(usable[np.searchsorted(usable, settings.view) % len(usable)])
            cloud = v["points"][v["offsets"][k] : v["offsets"][k + 1]]
            rotations = view_rotations(cloud, v["cam_to_world"][k], v["object_pose"][k], float(v["object_scale"][k]))
        else:
            cloud = surf["points"]
            rotations = None
        loc, scale = np.asarray(surf["loc"], float), float(surf["scale"])
        info = formats.read_json(d / formats.SHAPE_INFO) if (d / formats.SHAPE_INFO).is_file() else {}
        up = str(info.get("up") or _guess_up(info.get("origin")))
    except FileNotFoundError as exc:
        raise UserError(f"{d}: incomplete shape folder ({exc.filename or exc} missing)") from None
    except (KeyError, ValueError) as exc:
        raise UserError(f"{d}: unreadable dataset files ({exc})") from None
    cloud = np.asarray(cloud, dtype=np.float64)
    cloud = cloud[subsample_indices(rng, len(cloud), settings.n_inputs)]
    if settings.noise > 0:
        cloud = cloud + rng.normal(0.0, settings.noise, cloud.shape)
    category, name = key.split("/", 1)
    return ShapeInput(key, category, name, cloud.astype(np.float32), loc, scale, rotations, up)


def iter_shape_inputs(root: str | Path, keys: list[str], settings: InferenceSettings) -> Iterator[ShapeInput]:
    """Inputs of ``keys`` in order; shapes without a usable depth view are skipped with a warning on stderr."""
    for key in keys:
        try:
            shape = load_shape_input(root, key, settings)
        except EmptyViewsError as exc:
            print(f"warning: skipped {exc}", file=sys.stderr)
            continue
        yield shape


def complete_in_dataset_frame(
    gen: Any, model: Any, contract: InputContract, inputs: np.ndarray, rotations: dict[str, np.ndarray] | None = None
) -> tuple[Any, Callable[[np.ndarray], np.ndarray]]:
    """``(mesh, field)``: the model's mesh for dataset-frame ``inputs (N, 3)``, mapped back to the dataset frame,
    and its field as a function of dataset-frame points ``(M, 3) -> (M,)`` (logits or SDF in model units).
    ``rotations``: the view's rotations (:func:`implicit3d.data.contract.view_rotations`), used by ``camera`` and
    ``gravity`` models."""
    frame = contract.dataset_frame(inputs, rotations)
    model_inputs = frame.to_model(inputs).astype(np.float32)
    mesh = gen.generate(model, model_inputs, loc=frame.loc, scale=frame.scale, pose=frame.pose)
    field = gen.model_field(model, model_inputs)
    return mesh, (lambda points: field(frame.to_model(points)))


def model_occupancy(gen: Any, field: Callable[[np.ndarray], np.ndarray], points: np.ndarray) -> np.ndarray:
    """``(M,) bool`` occupancy predicted by the network's ``field`` at ``points`` (cut where the extractor cuts)."""
    values = field(points)
    if gen.kind == "occupancy":
        return values > probability_to_logit(gen.threshold)
    return values < gen.level


def _progress(iterable: Any, total: int, desc: str, disable: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="shape", disable=disable)


def csv_text(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """CSV of ``rows`` with ``columns`` (floats with 6 significant digits)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return buf.getvalue()


def cloud_ply_bytes(points: np.ndarray) -> bytes:
    """Binary PLY of a point cloud ``(N, 3)`` (float32 vertices, no faces)."""
    v = np.ascontiguousarray(points, dtype="<f4")
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {len(v)}\nproperty float x\nproperty float y\nproperty float z\nend_header\n"
    ).encode()
    return header + v.tobytes()


@dataclass
class DatasetRun:
    """What :func:`generate_split` / :func:`evaluate_split` need: the model, its metadata and contract, the
    dataset ``root`` and the shapes' ``keys``, the input ``settings`` and the mesh generator."""

    model: Any
    meta: dict[str, Any]
    contract: InputContract
    root: Path
    keys: list[str]
    settings: InferenceSettings
    generator: Any
    progress: bool = True
    split: str = ""  #: the split's name, for messages and summaries
    source: str = ""  #: what the model was loaded from (``"bundled model"`` for the bundled one)

    @classmethod
    def open(
        cls, checkpoint: str | None, root: str | Path, split: str, *, limit: int | None = None,
        resolution: int = 128, threshold: float = 0.5, device: str = "auto", progress: bool = True,
        bf16: bool = False, **inputs: Any,
    ) -> DatasetRun:
        """Load the model (``None``: the bundled one) and the split; ``inputs``: ``input``, ``n_inputs``,
        ``noise``, ``view``, ``seed`` (:meth:`InferenceSettings.for_model`); ``bf16``: evaluate the model under bf16
        autocast (:class:`implicit3d.extraction.MeshGenerator`)."""
        from implicit3d.completion import model_contract
        from implicit3d.extraction import MeshGenerator
        from implicit3d.limits import (
            MAX_POINTS,
            MIN_EXTRACTION_RESOLUTION,
            check_int,
            check_probability,
            check_resolution,
            check_seed,
        )
        from implicit3d.training.run import resolve_device
        from implicit3d.training.weights import load_model

        check_resolution(resolution, least=MIN_EXTRACTION_RESOLUTION)
        check_seed(inputs.get("seed", 0))
        if inputs.get("n_inputs") is not None:
            check_int(inputs["n_inputs"], "--n-inputs", 1, MAX_POINTS)
        check_probability(threshold)
        if limit is not None and limit < 1:
            raise UserError(f"--limit must be >= 1, got {limit}")
        keys = split_keys(root, split, limit)
        device = resolve_device(device)
        model, meta = load_model(checkpoint, device)
        contract = model_contract(meta)
        settings = InferenceSettings.for_model(contract, **inputs)
        gen = MeshGenerator(kind=contract.task, threshold=threshold, resolution=resolution, device=device, bf16=bf16)
        return cls(model, meta, contract, Path(root), keys, settings, gen, progress, split,
                   str(checkpoint) if checkpoint is not None else "bundled model")

    def shapes(self, desc: str) -> Iterator[ShapeInput]:
        return _progress(iter_shape_inputs(self.root, self.keys, self.settings), len(self.keys), desc,
                         not self.progress)

    def complete(self, shape: ShapeInput) -> tuple[Any, Callable[[np.ndarray], np.ndarray]]:
        return complete_in_dataset_frame(self.generator, self.model, self.contract, shape.inputs,
                                         shape.view_rotations)


# ------------------------------------------------------------------------------------------------ generate


def generate_split(
    run: DatasetRun, out: str | Path, *, world: bool = False, fmt: str = "ply", save_inputs: bool = False,
    figure_shapes: int = 0,
) -> tuple[list[dict[str, Any]], list[tuple[str, np.ndarray, Any]]]:
    """Write ``out/<category>/<name>.<fmt>`` for every shape (dataset frame, or the original mesh frame with
    ``world``), ``<name>.input.ply`` with ``save_inputs``, and ``out/generate.csv``. Returns the CSV rows and the
    first ``figure_shapes`` ``(key, input points, mesh)`` for a figure. An empty prediction writes no mesh."""
    from implicit3d.fileio import atomic_write_bytes, atomic_write_text, ensure_folder, write_mesh

    out = ensure_folder(Path(out))
    rows: list[dict[str, Any]] = []
    shown: list[tuple[str, np.ndarray, Any]] = []
    for shape in run.shapes("generate"):
        t0 = time.perf_counter()
        mesh, _ = run.complete(shape)
        seconds = time.perf_counter() - t0
        pts = shape.inputs.astype(np.float64)
        if world:  # the mesh file's own frame: loc/scale undone, and a y-up file's turn to z-up
            mesh = mesh.copy()
            mesh.apply_transform(shape.source_transform())
            pts = shape.to_source(pts)
        target = out / shape.category / f"{shape.name}.{fmt}"
        if len(mesh.faces):
            write_mesh(target, mesh)
        if save_inputs:
            atomic_write_bytes(out / shape.category / f"{shape.name}.input.ply", cloud_ply_bytes(pts))
        rows.append({
            "key": shape.key, "category": shape.category, "name": shape.name, "n_inputs": len(pts),
            "vertices": len(mesh.vertices), "faces": len(mesh.faces), "seconds": seconds,
            "file": str(target.relative_to(out)) if len(mesh.faces) else "",
        })
        if len(shown) < figure_shapes and len(mesh.faces):
            shown.append((shape.key, pts, mesh))
    columns = ["key", "category", "name", "n_inputs", "vertices", "faces", "seconds", "file"]
    atomic_write_text(out / "generate.csv", csv_text(rows, columns))
    return rows, shown


# ------------------------------------------------------------------------------------------------ evaluate

TABLE_METRICS = ("iou", "chamfer_l1", "chamfer_l1_x10", "accuracy", "completeness", "chamfer_l2",
                 "normal_consistency")
TABLE_TITLES = {
    "iou": "IoU ↑",
    "chamfer_l1": "Chamfer-L1 ↓",
    "chamfer_l1_x10": "Chamfer-L1 ×10 (papers) ↓",
    "accuracy": "accuracy ↓",
    "completeness": "completeness ↓",
    "chamfer_l2": "Chamfer-L2 ↓",
    "normal_consistency": "normal consistency ↑",
}


def load_ground_truth(root: str | Path, key: str) -> Any:
    """:class:`~implicit3d.evaluation.metrics.GroundTruth` of a dataset shape: ``pointcloud.npz`` surface samples
    with normals and ``points.npz`` uniform points with occupancy (normalized frame)."""
    from implicit3d.data import formats
    from implicit3d.evaluation.metrics import GroundTruth

    d = Path(root) / key
    try:
        surf = formats.read_pointcloud_npz(d / formats.POINTCLOUD)
        vol = formats.read_points_npz(d / formats.POINTS)
    except FileNotFoundError as exc:
        raise UserError(f"{d}: incomplete shape folder ({exc.filename or exc} missing)") from None
    except (KeyError, ValueError) as exc:
        raise UserError(f"{d}: unreadable dataset files ({exc})") from None
    normals = surf.get("normals")
    return GroundTruth(
        surface_points=surf["points"].astype(np.float64),
        surface_normals=None if normals is None else normals.astype(np.float64),
        volume_points=vol["points"].astype(np.float64),
        volume_occ=np.asarray(vol["occupancies"], dtype=bool),
    )


def summarize(rows: list[dict[str, Any]], metric_keys: list[str]) -> list[dict[str, Any]]:
    """Mean of ``metric_keys`` per (category, method), then per method over all shapes (category ``"all"``)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    methods: list[str] = []
    for r in rows:
        groups.setdefault((r["category"], r["method"]), []).append(r)
        groups.setdefault(("all", r["method"]), []).append(r)
        if r["method"] not in methods:
            methods.append(r["method"])
    categories = sorted({r["category"] for r in rows})
    out = []
    for cat in [*categories, "all"]:
        for m in methods:
            members = groups.get((cat, m), [])
            if not members:
                continue
            entry: dict[str, Any] = {"category": cat, "method": m, "shapes": len(members)}
            for k in metric_keys:
                vals = [float(r[k]) for r in members if k in r and r[k] != ""]
                entry[k] = float(np.mean(vals)) if vals else float("nan")
            entry["empty"] = int(sum(float(r.get("empty_prediction", 0.0)) for r in members))
            out.append(entry)
    return out


def markdown_summary(summary: list[dict[str, Any]], thresholds: tuple[float, ...], info: dict[str, Any]) -> str:
    """The summary as a Markdown table with a header that states inputs, extraction and units."""
    from implicit3d.evaluation.metrics import fscore_key

    fkeys = [fscore_key(t) for t in thresholds]
    cols = [*TABLE_METRICS, *fkeys]
    titles = [TABLE_TITLES.get(c, c.replace("fscore", "F-score") + " ↑") for c in cols]
    lines = [
        f"# Evaluation: {info['checkpoint']} on {info['data']} ({info['split']} split)",
        "",
        f"Inputs: {info['input']} ({info['n_inputs']} points, noise {info['noise']:g}); extraction: MISE at "
        f"{info['resolution']}^3, threshold {info['threshold']:g}. IoU over the dataset's uniform points "
        "(network occupancy for the model, inside tests for baselines).",
        "",
        "Units: distances in normalized shape units (the cube [-0.5, 0.5]^3; longest bounding-box edge = 1 - "
        "padding); 'Chamfer-L1 ×10' is the ONet/ConvONet papers' unit (1/10 of the object's longest bounding-box "
        "edge, i.e. Chamfer-L1 × 10 / (1 - padding)). F-score "
        "thresholds are fractions of the cube's edge (1% = 0.01). 'empty' counts shapes with no predicted surface "
        "(scored with the reference penalties).",
        "",
        "| category | method | shapes | " + " | ".join(titles) + " | empty |",
        "| --- | --- | ---: | " + " | ".join("---:" for _ in titles) + " | ---: |",
    ]
    for e in summary:
        cells = [f"{e[c]:.4f}" if np.isfinite(e[c]) else "–" for c in cols]
        lines.append(f"| {e['category']} | {e['method']} | {e['shapes']} | " + " | ".join(cells) + f" | {e['empty']} |")
    notes = [BASELINE_NOTES[m] for m in dict.fromkeys(e["method"] for e in summary) if m in BASELINE_NOTES]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"


#: what a reader of the summary table must know of a baseline's figures
BASELINE_NOTES = {
    "convex_hull": "convex_hull: the convex hull of the input points: closed, fills every concavity (an upper bound on "
                   "the volume of a convex object seen from all sides).",
    "alpha_shape": "alpha_shape: the boundary of the input's Delaunay tetrahedra up to the default alpha (the smallest "
                   "that covers 99 % of the points). On points sampled on a surface, as here, that is a thin shell "
                   "along the surface, not a solid: its IoU is near 0 by construction; compare its Chamfer and "
                   "F-scores (surfaces), not its IoU.",
}


def _finite_or_none(obj: Any) -> Any:
    """``obj`` with NaN / inf numbers replaced by ``None`` (JSON ``null``), recursively."""
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def evaluate_split(
    run: DatasetRun, out: str | Path, *, baselines: list[str], n_points: int = 100_000,
    thresholds: tuple[float, ...] | None = None, info: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Score the model (and each of ``baselines`` on the same inputs) on every shape: ``out/metrics.csv`` (a row per
    shape and method), ``out/summary.md`` and ``out/summary.json`` (means per category and method). ``info``
    describes the run in the summary's header (``checkpoint``, ``data``, ``split``; default: those ``run`` was
    opened with). Returns the summary entries."""
    import json

    import trimesh

    from implicit3d.data.prepare import load_manifest
    from implicit3d.evaluation.baselines import reconstruct
    from implicit3d.evaluation.metrics import (
        DISTANCE_KEYS,
        FSCORE_THRESHOLDS,
        SQUARED_DISTANCE_KEYS,
        evaluate_mesh,
        fscore_key,
        to_paper_units,
    )
    from implicit3d.fileio import atomic_write_text, ensure_folder

    if n_points < 1:
        raise UserError(f"--n-points must be >= 1, got {n_points}")
    out = ensure_folder(Path(out))
    thresholds = tuple(thresholds or FSCORE_THRESHOLDS)
    # the papers' unit is 1/10 of the object's longest bounding-box edge, which prepare scales to 1 - padding
    bbox_edge = 1.0 - float(load_manifest(run.root).get("settings", {}).get("padding", 0.1))

    def row(shape: ShapeInput, method: str, metrics: dict[str, float], mesh: Any, seconds: float,
            note: str) -> dict[str, Any]:
        x10 = to_paper_units({"chamfer_l1": metrics["chamfer_l1"]}, bbox_edge)["chamfer_l1"]
        return {"key": shape.key, "category": shape.category, "name": shape.name, "method": method, **metrics,
                "chamfer_l1_x10": x10, "n_inputs": len(shape.inputs), "vertices": len(mesh.vertices),
                "faces": len(mesh.faces), "seconds": seconds, "note": note}

    rows: list[dict[str, Any]] = []
    for shape in run.shapes("evaluate"):
        gt = load_ground_truth(run.root, shape.key)
        rng = np.random.default_rng([run.settings.seed, len(rows)])
        t0 = time.perf_counter()
        mesh, field = run.complete(shape)
        occ = model_occupancy(run.generator, field, gt.volume_points)
        seconds = time.perf_counter() - t0
        metrics = evaluate_mesh(mesh, gt, n_points=n_points, rng=rng, thresholds=thresholds, pred_occ=occ)
        rows.append(row(shape, METHOD_MODEL, metrics, mesh, seconds, ""))
        for name in baselines:
            t0 = time.perf_counter()
            note = ""
            try:
                base = reconstruct(shape.inputs.astype(np.float64), name)
            except ValueError as exc:  # degenerate input: scored as an empty prediction
                base, note = trimesh.Trimesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)), f"failed: {exc}"
            seconds = time.perf_counter() - t0
            metrics = evaluate_mesh(base, gt, n_points=n_points, rng=rng, thresholds=thresholds)
            rows.append(row(shape, name, metrics, base, seconds, note))

    fcols = [fscore_key(t, n) for t in thresholds for n in ("fscore", "precision", "recall")]
    metric_keys = ["iou", *DISTANCE_KEYS, "chamfer_l1_x10", *SQUARED_DISTANCE_KEYS, "normal_consistency",
                   "normal_accuracy", "normal_completeness", *fcols, "empty_prediction"]
    columns = ["key", "category", "name", "method", *metric_keys, "n_inputs", "vertices", "faces", "seconds", "note"]
    named = {"checkpoint": run.source or str(run.meta.get("directory") or "the model"), "data": str(run.root),
             "split": run.split or f"{len(run.keys)}-shape"}  # what the header names when the caller says nothing
    info = {**named, **(info or {}), **vars(run.settings), "resolution": run.generator.resolution,
            "threshold": run.generator.threshold, "n_points": n_points, "thresholds": list(thresholds),
            "baselines": baselines, "step": run.meta.get("step"),
            "units": "normalized shape units (cube [-0.5, 0.5]^3); chamfer_l1_x10: papers' units"}
    summary = summarize(rows, [*metric_keys, "seconds"])
    atomic_write_text(out / "metrics.csv", csv_text(rows, columns))
    atomic_write_text(out / "summary.md", markdown_summary(summary, thresholds, info))
    atomic_write_text(
        out / "summary.json",
        json.dumps(_finite_or_none({"settings": info, "summary": summary}), indent=1, default=float, allow_nan=False),
    )
    return summary
