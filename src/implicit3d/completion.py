"""Shape completion of user observations: choose a model, put the observed cloud into the model's frame, extract the
mesh and map it back.

Frames. The user's cloud ``points: (N, 3)`` is in its own frame and units (a depth image's camera frame: OpenCV,
metres). It is first rotated so that the ``up`` hint becomes +z (models are trained z-up, see ``docs/complete.md``),
then normalized like the training data — centre of the bounding box to the origin and longest edge to
``1 - padding`` (``normalized = (R @ x - loc) / scale``) — or with ``scale = size / (1 - padding)`` when the
object's true size is given; for a single view with a known sensor position the box is first extended behind the
visible front (:func:`symmetric_footprint_box`). The extracted mesh is mapped back with
``x = R.T @ (v * scale + loc)`` (via :func:`implicit3d.extraction.to_world`), so it lies in the input's frame and
units.

Models. ``load_model(path)`` reads a training checkpoint (``implicit3d train`` output: a run folder, a checkpoint
folder, its ``checkpoint.json`` or ``model.safetensors``), a ``NAME.safetensors`` file next to a ``NAME.json``
metadata file, or — with no path — the bundled model ``implicit3d/weights/default.safetensors`` (+ ``.json``)
shipped as package data.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import trimesh

from implicit3d.errors import UserError
from implicit3d.fileio import MESH_FORMATS, mesh_format, write_mesh  # noqa: F401  (re-exported for callers)

DEFAULT_PADDING = 0.1  # `implicit3d prepare --padding` default: longest bbox edge = 1 - padding
DEFAULT_N_INPUTS = 2048
BUNDLED_WEIGHTS = ("weights", "default.safetensors")
TRAIN_HINT = "train one with `implicit3d train configs/conv_onet_grid_small.yaml --data DATASET_DIR`"

_AXES = {"x": 0, "y": 1, "z": 2}


# ------------------------------------------------------------------------------------------------ models


def bundled_weights() -> tuple[Path, Path] | None:
    """``(weights .safetensors, metadata .json)`` of the model shipped with the package, or ``None`` if absent."""
    from importlib import resources

    try:
        root = resources.files("implicit3d")
    except (ModuleNotFoundError, TypeError):  # pragma: no cover - broken install
        return None
    weights = root.joinpath(*BUNDLED_WEIGHTS)
    meta = root.joinpath(BUNDLED_WEIGHTS[0], Path(BUNDLED_WEIGHTS[1]).stem + ".json")
    if not (weights.is_file() and meta.is_file()):
        return None
    return Path(str(weights)), Path(str(meta))


def _load_weights_pair(weights: Path, meta_path: Path, device: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Load a standalone ``NAME.safetensors`` + ``NAME.json`` (``{"model_config": {...}, ...}``) pair."""
    from safetensors import SafetensorError
    from safetensors.torch import load as st_load

    from implicit3d.fileio import read_json_file
    from implicit3d.models import create_model_from_config
    from implicit3d.training.checkpoint import CheckpointError, check_meta, load_model_state

    meta = check_meta(read_json_file(meta_path, CheckpointError), meta_path)
    config = meta.get("model_config") if isinstance(meta, dict) else None
    if not isinstance(config, dict):
        raise CheckpointError(f"{meta_path} has no model_config: cannot rebuild the model for {weights}")
    try:
        state = st_load(weights.read_bytes())
    except (OSError, SafetensorError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{weights} is not a readable safetensors file: {exc}") from None
    try:
        model = create_model_from_config(config, source=str(meta_path))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{meta_path}: bad model_config ({exc})") from None
    load_model_state(model, state, weights)
    model.to(device)
    model.eval()
    return model, {**meta, "directory": str(weights.parent), "weights": str(weights)}


def load_model(
    path: str | os.PathLike | None = None, device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Load a trained model for completion: ``(model in eval mode on device, metadata dict)``.

    ``path``: a run folder (``<run>/checkpoints/best`` or ``last``), a checkpoint folder, its ``checkpoint.json``
    or ``model.safetensors``, or a ``NAME.safetensors`` file with a ``NAME.json`` beside it; ``None`` loads the
    bundled model. The metadata holds ``model_config``, ``data_config`` (the training data settings: ``n_inputs``,
    ``pose``, ``root``...) and, for checkpoints, ``step``, ``train_config``... Raises :class:`UserError` (a
    :class:`~implicit3d.training.checkpoint.CheckpointError` for bad files) when nothing usable is found.
    """
    from implicit3d.training.checkpoint import META_FILE, MODEL_FILE, CheckpointError, load_checkpoint

    if path is None:
        found = bundled_weights()
        if found is None:
            raise UserError(
                "no bundled model ships with this version of implicit3d yet: pass --checkpoint DIR_OR_FILE "
                f"({TRAIN_HINT})"
            )
        return _load_weights_pair(*found, str(device))
    p = Path(path)
    if p.is_file() and p.suffix == ".safetensors":
        if p.name == MODEL_FILE and (p.parent / META_FILE).is_file():
            p = p.parent
        elif p.with_suffix(".json").is_file():
            return _load_weights_pair(p, p.with_suffix(".json"), str(device))
        else:
            raise CheckpointError(f"{p}: no {META_FILE} beside it and no {p.with_suffix('.json').name} metadata file")
    elif not p.exists():
        # resolve_checkpoint_dir also recovers interrupted saves (hidden temp copies) of a missing path
        if not any(p.parent.glob(f".{p.name}.*")):
            raise CheckpointError(f"checkpoint {p} not found ({TRAIN_HINT})")
    try:
        return load_checkpoint(p, map_location=device)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{p}: cannot rebuild the model ({exc})") from None


def model_kind(model: Any, meta: dict[str, Any] | None = None) -> str:
    """``"occupancy"`` (the model returns logits) or ``"sdf"``, from the model or its config."""
    kind = getattr(model, "output", None)
    if not isinstance(kind, str):
        config = getattr(model, "config", None) or (meta or {}).get("model_config") or {}
        kind = config.get("output", "occupancy") if isinstance(config, dict) else "occupancy"
    return "sdf" if str(kind).lower() == "sdf" else "occupancy"


def normalization_padding(meta: dict[str, Any] | None) -> float:
    """The padding the training data was normalized with (longest bbox edge = ``1 - padding``).

    Looks at ``meta["normalization"]["padding"]`` (bundled models), then the training dataset's manifest
    (``meta["data_config"]["root"]``, when it is still on disk), else the ``implicit3d prepare`` default 0.1.
    """
    meta = meta or {}
    norm = meta.get("normalization")
    if isinstance(norm, dict) and isinstance(norm.get("padding"), (int, float)):
        return float(norm["padding"])
    root = (meta.get("data_config") or {}).get("root")
    if root:
        manifest = Path(str(root)) / "manifest.json"
        try:
            pad = json.loads(manifest.read_text())["settings"]["padding"]
            if isinstance(pad, (int, float)) and 0.0 <= pad < 1.0:
                return float(pad)
        except (OSError, KeyError, TypeError, ValueError):
            pass
    return DEFAULT_PADDING


def training_normalization(meta: dict[str, Any] | None) -> tuple[str, float]:
    """``(mode, visible_extent)`` of the model's inputs: ``"object"`` (the whole object's box, the dataset frame)
    or ``"visible"`` (the observed cloud's own box, ``data.normalize: visible``)."""
    from implicit3d.geometry.transforms import VISIBLE_EXTENT

    data = (meta or {}).get("data_config") or {}
    mode = str(data.get("normalize", "object"))
    extent = data.get("visible_extent", VISIBLE_EXTENT)
    return mode, float(extent) if isinstance(extent, (int, float)) else VISIBLE_EXTENT


def training_pose(meta: dict[str, Any] | None) -> str:
    """The rotation augmentation the model was trained with (``canonical``, ``yaw``, ``so3``, ``view``)."""
    return str(((meta or {}).get("data_config") or {}).get("pose", "canonical"))


DEFAULT_TURNS = 8  #: turned views averaged by default for models trained on turned inputs (see default_turns)


def default_turns(meta: dict[str, Any] | None) -> int:
    """How many turned copies of the input :func:`complete_points` averages by default: :data:`DEFAULT_TURNS` when
    the model was trained on inputs turned about its frame's z axis, else 1.

    Such models: ``pose: yaw`` / ``so3`` (objects turned about the up axis / any axis), and ``view`` / ``camera``
    models trained on views of objects in any orientation (dataset ``view_pose: so3``), where turning the view
    about its line of sight gives another input the model has seen the like of. Not for ``canonical`` models, nor
    for views of upright objects (a turned view would show them lying down).
    """
    pose = training_pose(meta)
    if pose in ("yaw", "so3"):
        return DEFAULT_TURNS
    if pose in ("view", "camera"):
        settings = ((meta or {}).get("dataset") or {}).get("settings") or {}
        return DEFAULT_TURNS if settings.get("view_pose") == "so3" else 1
    return 1


# ------------------------------------------------------------------------------------------------ frames


def parse_up(spec: str | Any) -> np.ndarray:
    """Up direction of the input frame as a unit ``(3,)`` vector.

    ``spec``: an axis ``"x" "y" "z"`` with optional sign (``"-y"``: up is -y, e.g. an upright OpenCV camera),
    three numbers ``"0,-0.8,-0.6"`` or a length-3 sequence. Raises ``ValueError`` for anything else.
    """
    if isinstance(spec, str):
        text = spec.strip().lower()
        sign = -1.0 if text.startswith("-") else 1.0
        axis = text.lstrip("+-")
        if axis in _AXES:
            v = np.zeros(3)
            v[_AXES[axis]] = sign
            return v
        parts = [p for p in text.replace(" ", ",").split(",") if p]
        try:
            vec = np.array([float(p) for p in parts])
        except ValueError:
            raise ValueError(f"up must be x, y, z, -x, -y, -z or three numbers like 0,-1,0; got {spec!r}") from None
    else:
        vec = np.asarray(spec, dtype=np.float64).reshape(-1)
    if vec.shape != (3,) or not np.isfinite(vec).all() or not np.linalg.norm(vec) > 0:
        raise ValueError(f"up must be a non-zero 3-vector or an axis name like -y; got {spec!r}")
    return vec / np.linalg.norm(vec)


def rotation_to_z(up: Any) -> np.ndarray:
    """The smallest rotation ``R (3, 3)`` with ``R @ up = (0, 0, 1)`` (a half turn about x when ``up = -z``)."""
    from implicit3d.geometry.transforms import rotation_to_direction

    return rotation_to_direction(parse_up(up))


def symmetric_footprint_box(canon: np.ndarray, viewpoint: np.ndarray) -> np.ndarray:
    """Corners ``(2, 3)`` of the estimated whole-object box of a single view ``canon (N, 3)`` (z up) seen from
    ``viewpoint (3,)`` (same frame).

    Assumes the object's horizontal footprint is as deep (away from the sensor) as it is wide (across the line of
    sight) — true of round household objects (bottles, cans, mugs, bowls) — so the box is extended behind the
    visible front to that depth, and its horizontal box is that square, centred there (joined with the observed
    box). Heights are kept as observed. Falls back to the observed box when the sensor is straight above (within
    1 % of the object's size horizontally).
    """
    lo, hi = canon.min(axis=0), canon.max(axis=0)
    d = (lo[:2] + hi[:2]) / 2.0 - viewpoint[:2]
    if not np.linalg.norm(d) > 0.01 * float(np.ptp(canon, axis=0).max()):  # sensor (almost) straight above
        return np.stack([lo, hi])
    d = d / np.linalg.norm(d)
    across = np.array([-d[1], d[0]])
    a = canon[:, :2] @ d  # distance along the (horizontal) line of sight
    b = canon[:, :2] @ across
    width = float(np.ptp(b))
    front = float(a.min())
    depth = max(float(a.max()) - front, width)
    centre = d * (front + depth / 2.0) + across * (b.min() + b.max()) / 2.0
    half = np.full(2, depth / 2.0)  # the footprint's box in the object's own (unknown) heading: depth x depth
    new_lo = np.minimum(lo[:2], centre - half)
    new_hi = np.maximum(hi[:2], centre + half)
    return np.array([[new_lo[0], new_lo[1], lo[2]], [new_hi[0], new_hi[1], hi[2]]])


@dataclass
class CompletionFrame:
    """Map between the input frame and the model's normalized frame: ``normalized = (R @ x - loc) / scale``.

    ``rotation (3, 3)`` input -> canonical (z-up), ``loc (3,)`` canonical bbox centre, ``scale`` input units per
    normalized unit, ``padding`` used to derive ``scale``.
    """

    rotation: np.ndarray
    loc: np.ndarray
    scale: float
    padding: float = DEFAULT_PADDING

    @classmethod
    def from_points(
        cls,
        points: np.ndarray,
        up: Any = "z",
        size: float | None = None,
        padding: float = DEFAULT_PADDING,
        viewpoint: Any | None = None,
        visible_extent: float | None = None,
        align_view: bool = False,
        turn: float = 0.0,
    ) -> CompletionFrame:
        """Frame of an observed cloud ``points (N, 3)``: its canonical bbox centre and longest edge (or ``size``,
        the object's true longest edge in input units, when known).

        With ``viewpoint (3,)`` (the sensor position in the input frame, e.g. the origin for a depth image) the box
        is first extended away from the sensor by :func:`symmetric_footprint_box`: a single view sees only the
        front of the object, and the model was trained on inputs normalized by the whole object's box.

        With ``visible_extent`` (models trained with ``data.normalize: visible``) the frame is the observed cloud's
        own box instead (:func:`implicit3d.geometry.transforms.visible_box_params`), exactly as in training;
        ``size`` and ``viewpoint`` are then not needed and are ignored.

        With ``align_view`` (models trained with ``data.pose: camera``) the rotation is not taken from ``up`` but
        turns the line of sight from ``viewpoint`` (default: the origin, i.e. a camera-frame cloud) to the cloud's
        centroid onto +z (:func:`implicit3d.geometry.transforms.view_rotation`), as in training.

        ``turn`` (radians) then turns the cloud about the frame's z axis (the up axis, or the line of sight of an
        aligned view) before its box is measured: the frame of one member of a turned-view ensemble
        (:func:`complete_points` ``turns``).
        """
        from implicit3d.geometry.transforms import (
            normalization_params,
            rotation_about_z,
            view_rotation,
            visible_box_params,
        )

        pts = np.asarray(points, dtype=np.float64)
        if align_view:
            eye = np.zeros(3) if viewpoint is None else np.asarray(viewpoint, dtype=np.float64).reshape(3)
            try:
                rot = view_rotation(pts, eye)
            except ValueError as exc:
                raise UserError(f"cannot align the input cloud to its viewpoint: {exc}") from None
            viewpoint = None  # the footprint box below is for upright models
        else:
            rot = rotation_to_z(up)
        if turn:
            rot = rotation_about_z(turn) @ rot
        canon = pts @ rot.T
        if visible_extent is not None:
            try:
                loc, scale = visible_box_params(canon, visible_extent)
            except ValueError as exc:
                raise UserError(f"cannot normalize the input cloud: {exc}") from None
            return cls(rot, np.asarray(loc, dtype=np.float64), float(scale), float(padding))
        box = canon
        if viewpoint is not None:
            box = symmetric_footprint_box(canon, rot @ np.asarray(viewpoint, dtype=np.float64).reshape(3))
        try:
            loc, scale = normalization_params(box, padding)
        except ValueError as exc:
            raise UserError(f"cannot normalize the input cloud: {exc}") from None
        if size is not None:
            if not (np.isfinite(size) and size > 0):
                raise UserError(f"--scale must be a positive size in the input's units, got {size}")
            scale = float(size) / (1.0 - padding)
        return cls(rot, np.asarray(loc, dtype=np.float64), float(scale), float(padding))

    def turned(self, angle: float) -> CompletionFrame:
        """This frame turned by ``angle`` radians about its normalized z axis through the box centre (same box)."""
        from implicit3d.geometry.transforms import rotation_about_z

        rz = rotation_about_z(angle)
        return CompletionFrame(rz @ self.rotation, rz @ self.loc, self.scale, self.padding)

    def to_normalized(self, points: np.ndarray) -> np.ndarray:
        """Input-frame ``(N, 3)`` -> normalized ``(N, 3) float64``."""
        return (np.asarray(points, dtype=np.float64) @ self.rotation.T - self.loc) / self.scale

    @property
    def pose(self) -> np.ndarray:
        """``(4, 4)`` canonical -> input frame transform (for :func:`implicit3d.extraction.to_world`)."""
        pose = np.eye(4)
        pose[:3, :3] = self.rotation.T
        return pose

    def to_input(self, points: np.ndarray) -> np.ndarray:
        """Normalized ``(N, 3)`` -> input frame ``(N, 3) float64``."""
        return (np.asarray(points, dtype=np.float64) * self.scale + self.loc) @ self.rotation


@dataclass
class CompletionResult:
    """A completed mesh (input frame) with what produced it."""

    mesh: trimesh.Trimesh
    frame: CompletionFrame
    inputs: np.ndarray  #: (M, 3) float32 model inputs in the normalized frame
    info: dict[str, Any] = field(default_factory=dict)


def subsample(points: np.ndarray, n: int | None, seed: int | np.random.Generator = 0) -> np.ndarray:
    """At most ``n`` of ``points (N, 3)``, drawn without replacement (all of them when ``N <= n`` or ``n`` is None)."""
    if n is None or len(points) <= n:
        return points
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return points[np.sort(rng.choice(len(points), int(n), replace=False))]


def complete_points(
    points: Any,
    model: torch.nn.Module,
    meta: dict[str, Any] | None = None,
    resolution: int = 128,
    up: Any = "z",
    size: float | None = None,
    threshold: float = 0.5,
    n_inputs: int | None = None,
    seed: int = 0,
    method: str = "mise",
    device: str | None = None,
    batch_size: int = 100_000,
    progress: bool = False,
    viewpoint: Any | None = None,
    turns: int | None = None,
) -> CompletionResult:
    """Complete the object seen as ``points (N, 3)`` (input frame) with ``model``; the mesh is in the input frame.

    ``up``: the input's up direction (see :func:`parse_up`); ``size``: the object's longest bounding-box edge in
    input units if known (default: the observed cloud's); ``n_inputs``: points given to the model (default: the
    training setting in ``meta["data_config"]``, else 2048), drawn with ``seed``. ``threshold``: occupancy
    probability of the surface. ``resolution``/``method``: see :class:`implicit3d.extraction.MeshGenerator`.
    ``viewpoint``: the sensor position ``(3,)`` in the input frame when the cloud is a single view (the origin for
    a depth image): the normalization box is then extended behind the visible front
    (:func:`symmetric_footprint_box`), as the model saw whole-object boxes in training. Models trained with
    ``data.normalize: visible`` take the observed cloud's own box and need neither; models trained with
    ``data.pose: camera`` (the bundled one) are given the cloud turned so the sensor at ``viewpoint`` (default the
    origin: a camera-frame cloud) looks at it along +z, and ignore ``up``.

    ``turns``: test-time augmentation. The input is also given to the model turned about its frame's z axis by
    ``360 / turns`` degree steps, each copy framed as training framed such inputs (``normalize: visible``: the
    turned view's own box; otherwise the same box, turned about its centre), with the same input points,
    and the occupancy probabilities of all copies are averaged before the surface is extracted
    (:class:`implicit3d.extraction.MeanField`): one view's guess about the unseen back varies with such turns, and
    the mean is the better guess (real-object mean IoU 0.59 -> 0.63 for the bundled model on one suite draw, see
    the README). It costs ``turns`` times the model evaluations. Default :func:`default_turns` (8 for models trained
    on turned inputs, e.g. the bundled one; 1 = off).
    """
    from implicit3d.data.pointcloud_io import check_cloud
    from implicit3d.extraction import MeshGenerator

    pts, _ = check_cloud(points, "points")
    if len(pts) < 4:
        raise UserError(f"the input cloud has {len(pts)} points: at least 4 are needed")
    meta = meta or {}
    mode, extent = training_normalization(meta)
    turns = default_turns(meta) if turns is None else int(turns)
    if turns < 1:
        raise UserError(f"turns must be >= 1, got {turns}")
    if turns > 1 and default_turns(meta) == 1:
        raise UserError(
            f"turns={turns}: this model was trained with pose {training_pose(meta)!r} on inputs that were not "
            "turned about its z axis, so turned copies of the input would mislead it; use turns=1"
        )
    if n_inputs is None:
        n_inputs = int((meta.get("data_config") or {}).get("n_inputs", DEFAULT_N_INPUTS))
    frame = CompletionFrame.from_points(
        pts, up=up, size=size, padding=normalization_padding(meta), viewpoint=viewpoint,
        visible_extent=extent if mode == "visible" else None, align_view=training_pose(meta) == "camera",
    )
    frames = [frame]
    for k in range(1, turns):
        angle = 2.0 * math.pi * k / turns
        if mode == "visible":  # training measured the visible box after the view's rotation: measure it again
            frames.append(CompletionFrame.from_points(
                pts, up=up, padding=frame.padding, viewpoint=viewpoint, visible_extent=extent,
                align_view=training_pose(meta) == "camera", turn=angle,
            ))
        else:  # training turned objects inside their fixed box: turn about the box centre, same box
            frames.append(frame.turned(angle))
    clouds = [subsample(f.to_normalized(pts), n_inputs, seed).astype(np.float32) for f in frames]
    inputs = clouds[0]
    kind = model_kind(model, meta)
    try:
        gen = MeshGenerator(
            kind=kind, threshold=threshold, method=method, resolution=resolution, device=device,
            batch_size=batch_size, progress=progress,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if turns == 1:
        mesh = gen.generate(model, inputs, loc=frame.loc, scale=frame.scale, pose=frame.pose)
    else:
        from implicit3d.extraction import MeanField, ModelField

        t0 = time.perf_counter()
        output = "occupancy" if kind == "occupancy" else "sdf"
        members = [ModelField(model, c, output=output, batch_size=batch_size, device=device) for c in clouds]

        def member_map(f: CompletionFrame) -> Callable[[np.ndarray], np.ndarray]:
            return lambda q: f.to_normalized(frame.to_input(q))

        # beyond a member's cube: empty (occupancy 0) / far outside (SDF: the cube's half side)
        mean_field = MeanField(
            members, [None] + [member_map(f) for f in frames[1:]], domain=gen.bounds,
            outside=0.0 if kind == "occupancy" else float(np.abs(gen.bounds).max()),
        )
        encode = time.perf_counter() - t0
        mesh = gen.extract(mean_field, loc=frame.loc, scale=frame.scale, pose=frame.pose)
        mesh.metadata["extraction"]["seconds"] = {"encode": encode, **mesh.metadata["extraction"]["seconds"]}
    info = {
        "n_observed": int(len(pts)),
        "n_inputs": int(len(inputs)),
        "kind": kind,
        "padding": frame.padding,
        "scale": frame.scale,
        "loc": frame.loc.tolist(),
        "up": parse_up(up).tolist(),
        "training_pose": training_pose(meta),
        "normalize": mode,
        "turns": turns,
        "viewpoint": None if viewpoint is None else np.asarray(viewpoint, float).reshape(3).tolist(),
        **mesh.metadata.get("extraction", {}),
    }
    return CompletionResult(mesh, frame, inputs, info)


# ------------------------------------------------------------------------------------------------ output


