"""Shape completion of user observations: put the observed cloud into the model's frame, extract the mesh and map it
back.

The user's cloud ``points: (N, 3)`` is in its own frame and units (a depth image's camera frame: OpenCV, metres).
The model's :class:`~implicit3d.data.contract.InputContract` (saved with its weights) says how it saw inputs in
training, and :mod:`implicit3d.geometry.frames` builds the same frame here: ``normalized = (R @ x - loc) / scale``.
The extracted mesh is mapped back with ``x = R.T @ (v * scale + loc)`` (via :func:`implicit3d.extraction.to_world`),
so it lies in the input's frame and units.

Models come from :func:`implicit3d.training.weights.load_model` (re-exported here): a training run, a checkpoint, an
exported ``NAME.safetensors`` + ``NAME.json`` pair or the bundled model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import trimesh

from implicit3d.data.contract import InputContract, read_contract
from implicit3d.errors import UserError
from implicit3d.fileio import MESH_FORMATS, mesh_format, write_mesh  # noqa: F401  (re-exported for callers)
from implicit3d.geometry.frames import ModelFrame, parse_up, subsample_indices
from implicit3d.training.weights import bundled_weights, load_model  # noqa: F401  (re-exported for callers)

FRAMING_POINTS = 200_000  #: a larger cloud's frame (its box and line of sight) is measured on this many of its points
FEW_POINTS = 100  #: a view with fewer points gets a warning: training views keep 200 or more (data.sparse_min)


def warn_few_points(n_points: int, source: str) -> None:
    """One-line warning when a view of ``n_points`` (< :data:`FEW_POINTS`) is too sparse for a trusted completion."""
    if n_points < FEW_POINTS:
        from implicit3d.errors import warn_user

        warn_user(f"{source}: only {n_points} observed points; the models are trained on views of 200 or more, so "
                  "the completion is a rough guess (move the sensor closer, or use a denser cloud)")


@dataclass
class CompletionResult:
    """A completed mesh (input frame) with what produced it."""

    mesh: trimesh.Trimesh
    frame: ModelFrame
    inputs: np.ndarray  #: (M, 3) float32 model inputs in the normalized frame
    info: dict[str, Any] = field(default_factory=dict)


def model_contract(meta: dict[str, Any] | None, model: torch.nn.Module | None = None) -> InputContract:
    """The input contract of a loaded model's metadata (``None``: the metadata ``model`` carries when it came from
    :func:`implicit3d.training.weights.load_model`); :class:`UserError` naming the model when it is malformed."""
    if meta is None and model is not None:
        from implicit3d.training.weights import META_ATTRIBUTE

        meta = getattr(model, META_ATTRIBUTE, None)
    try:
        return read_contract(meta)
    except ValueError as exc:
        where = (meta or {}).get("weights") or (meta or {}).get("directory") or "the model"
        raise UserError(f"{where}: malformed input contract ({exc})") from None


def turned_frames(points: np.ndarray, contract: InputContract, turns: int, **hints: Any) -> list[ModelFrame]:
    """The frames of ``turns`` copies of an observed cloud ``points (N, 3)`` turned about the model frame's z axis in
    ``360 / turns`` degree steps, each framed as training framed such inputs: ``normalize: visible`` models see each
    turned view's own box; the others the same box, turned about its centre. ``hints``: ``up``, ``viewpoint``,
    ``size`` (:func:`implicit3d.geometry.frames.observation_frame`). Raises :class:`UserError` for a degenerate
    cloud."""
    try:
        first = contract.observation_frame(points, **hints)
        frames = [first]
        for k in range(1, turns):
            angle = 2.0 * math.pi * k / turns
            if contract.normalize == "visible":  # training measured the box after the view's rotation: again
                frames.append(contract.observation_frame(points, turn=angle, **hints))
            else:  # training turned objects inside their fixed box: turn about the box centre, same box
                frames.append(first.turned(angle))
    except ValueError as exc:
        raise UserError(f"cannot frame the input cloud for the model: {exc}") from None
    return frames


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
    source: str = "the input cloud",
    guess_distance: float | None = None,
    bf16: bool | None = None,
) -> CompletionResult:
    """Complete the object seen as ``points (N, 3)`` (input frame) with ``model``; the mesh is in the input frame.

    ``meta``: the model's metadata (its input contract; default: the one a model from
    :func:`implicit3d.training.weights.load_model` carries). ``up``: the input's up direction (see
    :func:`implicit3d.geometry.frames.parse_up`); ``size``: the object's longest bounding-box edge in input units if
    known (default: estimated from the observed cloud); ``n_inputs``: points given to the model (default: the
    contract's), drawn with ``seed``. ``threshold``: occupancy probability of the surface.
    ``resolution``/``method``: see :class:`implicit3d.extraction.MeshGenerator`. ``viewpoint``: the sensor position
    ``(3,)`` in the input frame when the cloud is a single view (the origin for a depth image): for upright
    ``normalize: object`` models the box is then extended behind the visible front
    (:func:`implicit3d.geometry.frames.symmetric_footprint_box`). Models trained with ``normalize: visible`` take
    the observed cloud's own box and ignore ``size``; ``pose: camera`` models (the bundled one) are given the cloud
    turned so the sensor at ``viewpoint`` (default the origin: a camera-frame cloud) looks at it along +z, and
    ignore ``up``. ``source`` names the cloud in messages.

    ``turns``: test-time augmentation. The input is also given to the model turned about its frame's z axis
    (:func:`turned_frames`), with the same input points, and the occupancy probabilities of all copies are averaged
    before the surface is extracted (:class:`implicit3d.extraction.MeanField`): one view's guess about the unseen
    back varies with such turns, and the mean is the better guess (see the README's real-object tables). It costs
    ``turns`` times the model evaluations. Default :attr:`InputContract.default_turns` (8 for models trained on
    turned inputs, e.g. the bundled one; 1 = off).

    Each vertex carries the surface's softness there as ``mesh.vertex_attributes["uncertainty"]`` (0: decided, 1: a
    guess; :mod:`implicit3d.extraction.confidence`). ``guess_distance`` (in the input's units; e.g. 0.012 for a
    cloud in metres, as ``scene`` uses): the softness moves to ``vertex_attributes["softness"]`` and the uncertainty
    becomes it scaled down within that distance of the observed points, 0 on the measured surface
    (:func:`implicit3d.extraction.confidence.unseen_softness`), which ranks vertices by their distance to the true
    surface better than either alone (docs/scene.md).

    ``bf16``: run the model under bf16 autocast (:class:`implicit3d.extraction.ModelField`; ``None``: fp32). Faster
    on a CPU with native bf16; the surface moves by a fraction of a grid cell (README, Performance).
    """
    from implicit3d.data.pointcloud_io import check_cloud
    from implicit3d.extraction import MeshGenerator

    pts, _ = check_cloud(points, source)
    if len(pts) < 4:
        raise UserError(f"{source} has {len(pts)} point{'s' if len(pts) != 1 else ''}: at least 4 are needed")
    contract = model_contract(meta, model)
    turns = contract.default_turns if turns is None else int(turns)
    if turns < 1:
        raise UserError(f"turns must be >= 1, got {turns}")
    if turns > 1 and contract.default_turns == 1:
        raise UserError(
            f"turns={turns}: this model was trained with pose {contract.pose!r} on inputs that were not "
            "turned about its z axis, so turned copies of the input would mislead it; use turns=1"
        )
    if size is not None and not (np.isfinite(size) and size > 0):
        raise UserError(f"--scale must be a positive size in the input's units, got {size}")
    if guess_distance is not None and not (np.isfinite(guess_distance) and guess_distance > 0):
        raise UserError(f"guess_distance must be a positive distance, got {guess_distance}")
    n_inputs = contract.n_inputs if n_inputs is None else int(n_inputs)
    # a very large cloud is framed on a fixed subset (its box and line of sight barely change), and only the points
    # given to the model are mapped into each frame
    framing = pts[subsample_indices(np.random.default_rng(seed), len(pts), FRAMING_POINTS)]
    try:
        frames = turned_frames(framing, contract, turns, up=up, viewpoint=viewpoint, size=size)
    except UserError as exc:
        raise UserError(f"{source}: {exc}") from None
    chosen = pts[subsample_indices(np.random.default_rng(seed), len(pts), n_inputs)]
    clouds = [f.to_model(chosen).astype(np.float32) for f in frames]
    frame, inputs = frames[0], clouds[0]
    kind = contract.task
    try:
        gen = MeshGenerator(
            kind=kind, threshold=threshold, method=method, resolution=resolution, device=device,
            batch_size=batch_size, progress=progress, bf16=bf16,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if turns == 1:
        mesh = gen.generate(model, inputs, loc=frame.loc, scale=frame.scale, pose=frame.pose)
    else:
        from implicit3d.extraction import MeanField, ModelField

        t0 = time.perf_counter()
        members = [ModelField(model, c, output=kind, batch_size=batch_size, device=device, bf16=bf16)
                   for c in clouds]

        def member_map(f: ModelFrame) -> Callable[[np.ndarray], np.ndarray]:
            return lambda q: f.to_model(frame.to_input(q))

        # beyond a member's cube: empty (occupancy 0) / far outside (SDF: the cube's half side)
        mean_field = MeanField(
            members, [None] + [member_map(f) for f in frames[1:]], domain=gen.bounds,
            outside=0.0 if kind == "occupancy" else float(np.abs(gen.bounds).max()),
        )
        encode = time.perf_counter() - t0
        mesh = gen.extract(mean_field, loc=frame.loc, scale=frame.scale, pose=frame.pose)
        mesh.metadata["extraction"]["seconds"] = {"encode": encode, **mesh.metadata["extraction"]["seconds"]}
    if guess_distance is not None:
        from implicit3d.extraction.confidence import mark_unseen

        mark_unseen(mesh, pts, float(guess_distance))
    info = {
        "n_observed": int(len(pts)),
        "n_inputs": int(len(inputs)),
        "kind": kind,
        "padding": frame.padding,
        "scale": frame.scale,
        "loc": frame.loc.tolist(),
        "up": parse_up(up).tolist(),
        "training_pose": contract.pose,
        "normalize": contract.normalize,
        "turns": turns,
        "bf16": bool(bf16),
        "viewpoint": None if viewpoint is None else np.asarray(viewpoint, float).reshape(3).tolist(),
        **mesh.metadata.get("extraction", {}),
    }
    return CompletionResult(mesh, frame, inputs, info)


def unused_hints(
    contract: InputContract, *, up: bool = False, size: bool = False, viewpoint: bool = False
) -> list[str]:
    """One line per hint the user gave (``up``, ``size``, ``viewpoint``: whether given) that this model does not use."""
    notes = []
    if up and contract.pose == "camera":
        notes.append("--up is not used: this model aligns the input to its line of sight (pose camera)")
    if size and contract.normalize == "visible":
        notes.append("--scale is not used: this model frames the input by the observed cloud's own box")
    if viewpoint and contract.pose != "camera" and contract.normalize == "visible":
        notes.append("--viewpoint is not used: this model frames the input by the observed cloud's own box")
    return notes
