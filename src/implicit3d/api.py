"""The few functions most users need.

```python
import implicit3d.api as i3d

model, meta = i3d.load_model()                       # the bundled model; or a training run / checkpoint
mesh = i3d.complete(points, model, config=meta)      # one view (N, 3), sensor at the origin -> trimesh, same frame
mesh = i3d.extract_mesh(lambda p: np.linalg.norm(p, axis=1) - 0.3, kind="sdf", resolution=64)  # negative inside
occ = i3d.inside(mesh, query)                        # (M,) bool
sdf = i3d.signed_distance(mesh, query)               # (M,) float64, negative inside
scene = i3d.complete_scene(depth, K)                 # every object on the table of one depth frame
same = i3d.match_objects(last_scene, scene)          # {label now: label in the last frame}, by place
```

Everything here delegates: models and checkpoints to :mod:`implicit3d.completion` /
:mod:`implicit3d.training.checkpoint`, extraction to :mod:`implicit3d.extraction`, geometry to
:mod:`implicit3d.geometry`.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
import trimesh

from implicit3d.completion import complete_points, warn_few_points
from implicit3d.completion import load_model as _load_model
from implicit3d.errors import UserError
from implicit3d.extraction.dense import DEFAULT_BOUNDS
from implicit3d.extraction.field import precision_bf16
from implicit3d.geometry.distance import signed_distance
from implicit3d.geometry.inside import inside
from implicit3d.scene import match_objects

__all__ = ["complete", "complete_scene", "extract_mesh", "inside", "load_model", "match_objects", "signed_distance"]


def load_model(
    path: str | os.PathLike | None = None, device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """``(model, config)``: a trained model in eval mode and its metadata (``model_config``, ``data_config``, ...).

    ``path``: a training run folder, a checkpoint folder or file, or ``NAME.safetensors`` with ``NAME.json``;
    ``None`` loads the bundled model (``implicit3d/weights/default.safetensors``).
    """
    return _load_model(path, device)


def complete(
    points: Any,
    model: torch.nn.Module | None = None,
    resolution: int = 128,
    *,
    config: dict[str, Any] | None = None,
    up: Any = "z",
    size: float | None = None,
    viewpoint: Any | None = None,
    threshold: float = 0.5,
    n_inputs: int | None = None,
    seed: int = 0,
    method: str = "mise",
    device: str | None = None,
    turns: int | None = None,
    guess_distance: float | None = None,
    precision: str = "fp32",
) -> trimesh.Trimesh:
    """Complete the object seen as ``points: (N, 3)`` (any unit); returns a mesh in the same frame.

    For the bundled model (and any ``pose: camera`` model) ``points`` is one view with the sensor at ``viewpoint``
    (default the origin, i.e. a camera-frame cloud); ``up`` and ``size`` are not used. Other models accept any
    frame and use the hints below.

    ``model``: from :func:`load_model`, which keeps its metadata (input frame, padding, input count) on the model;
    ``config`` overrides it; ``None`` loads the bundled model. ``up``: the input's up axis (``"z"``, ``"-y"`` for
    an upright OpenCV camera, or a vector); ``size``: the object's longest bounding-box edge in input units, if known;
    ``viewpoint``: the sensor position ``(3,)`` in the input frame when ``points`` is one view (``(0, 0, 0)`` for
    a cloud back-projected from a depth image) — the normalization then assumes the object is as deep as it is
    wide behind what the sensor saw, like the whole-object boxes of training (recommended for single views).
    ``resolution``: grid cells per axis of the extraction (MISE). ``turns``: average the predictions for the
    input turned about its line of sight (or up axis) in that many steps (default 8 for models trained on turned
    inputs, as the bundled one; 1 = a single pass, ``turns`` times faster). The mesh's
    ``metadata["completion"]`` records the normalization and extraction statistics, and
    ``vertex_attributes["uncertainty"]`` each vertex's softness (0: decided, 1: a guess); with ``guess_distance``
    (input units; 0.012 for a cloud in metres) that softness moves to ``vertex_attributes["softness"]`` and the
    uncertainty is 0 on the measured surface, the full softness from that distance off it
    (:func:`implicit3d.completion.complete_points`). ``precision``: ``"fp32"`` (default), ``"bf16"`` (autocast:
    faster on a CPU with native bf16) or ``"auto"`` (bf16 where the CPU or GPU has it natively;
    :func:`implicit3d.extraction.field.inference_bf16`). Bad arguments (a resolution outside 8-1024 — MISE needs a
    few levels, and 1024³ floats take 4 GiB —, a threshold outside (0, 1), an unknown precision, a CUDA device
    without a GPU) raise :class:`implicit3d.errors.ArgumentError` (a ``UserError`` and a ``ValueError``) before any
    work.
    """
    bf16 = _check_arguments(resolution, threshold, device, precision)
    if model is None:
        model, loaded = _load_model(None, device or "cpu")
        config = config or loaded
    result = complete_points(
        points, model, config, resolution=resolution, up=up, size=size, threshold=threshold,
        n_inputs=n_inputs, seed=seed, method=method, device=device, viewpoint=viewpoint, turns=turns,
        guess_distance=guess_distance, bf16=bf16,
    )
    warn_few_points(result.info["n_observed"], "points")
    result.mesh.metadata["completion"] = result.info
    return result.mesh


def complete_scene(
    depth: Any,
    intrinsics: Any,
    model: torch.nn.Module | None = None,
    *,
    config: dict[str, Any] | None = None,
    labels: Any | None = None,
    up: Any | None = None,
    no_plane: bool = False,
    resolution: int = 64,
    threshold: float = 0.5,
    device: str | None = None,
    precision: str | None = None,
    settings: Any | None = None,
    model_name: str | None = None,
) -> Any:
    """Every object on the support plane of one depth frame, completed, in the camera frame.

    ``depth``: ``(H, W)`` float metres (0 or NaN = no data; an integer array, a sensor's raw units, is refused: read
    files with :func:`implicit3d.sensing.io.read_depth_png`, which takes the depth scale); ``intrinsics``: an
    :class:`implicit3d.sensing.camera.Intrinsics`, a 3x3 camera matrix ``K``, a mapping or a file in any format
    :func:`implicit3d.sensing.io.read_intrinsics` reads; ``model``: default the bundled model (the tabletop model
    where one ships; with its metadata as ``config``; ``model_name`` names it in ``scene.json``); ``labels``: an
    optional ``(H, W)`` image of whole-number instance ids (0 = background), kept as the objects' ``label``;
    ``up``: gravity's up in the camera frame if known (a vector or an axis name such as ``"-y"``); ``threshold``:
    occupancy probability of the surface (lower completes more of each object); ``precision``: as in
    :func:`complete` (default ``"fp32"``, or the ``settings``' choice). Returns a
    :class:`implicit3d.scene.SceneResult` (``.plane``, ``.objects[k].mesh`` with a per-vertex ``uncertainty``
    attribute, ``.skipped``); :func:`implicit3d.scene.write_scene` writes it. ``settings``: a
    :class:`implicit3d.scene.SceneSettings` for everything else (segmentation, copies, seed; its resolution,
    threshold and bf16 are used instead of the arguments). A depth whose median is outside 0.15-3 m (a wrong unit)
    gets a one-line warning. A frame where nothing stands on the table raises
    :class:`implicit3d.scene.NoObjectError` (with the ``plane`` it found), one without a support plane
    :class:`implicit3d.scene.NoSupportPlaneError` (both :class:`implicit3d.errors.UserError`, as every other
    problem with the input).
    """
    from dataclasses import replace

    from implicit3d.data.pointcloud_io import CLOSE_RANGE_DEPTH_M, warn_unusual_depth
    from implicit3d.geometry.frames import parse_up
    from implicit3d.scene import SceneSettings, load_scene_model
    from implicit3d.scene import complete_scene as _complete_scene
    from implicit3d.sensing.io import as_intrinsics

    depth = _depth_array(depth)  # (H, W) or (H, W, 1): segment_scene takes both
    try:
        intrinsics = as_intrinsics(intrinsics, depth.shape[:2])
    except TypeError as exc:
        raise UserError(str(exc)) from None
    if settings is None:
        bf16 = _check_arguments(resolution, threshold, device, precision or "fp32")
    else:
        bf16 = _check_arguments(settings.resolution, settings.threshold, device, precision, "settings.")
        bf16 = bool(settings.bf16) if precision is None else bf16
    if up is not None:
        try:
            up = parse_up(up)
        except ValueError as exc:
            raise UserError(f"up: {exc}") from None
    if depth.ndim >= 2 and depth.shape[:2] == intrinsics.shape:  # shape problems: segment_scene's messages
        warn_unusual_depth(np.nan_to_num(depth, nan=0.0), "the depth array", usual=CLOSE_RANGE_DEPTH_M)
    if model is None:
        model, config, loaded = load_scene_model(None, device or "cpu")
        model_name = model_name or loaded
    elif model_name is None:  # a model from load_model: its weights file (from its metadata, given or carried)
        from implicit3d.training.weights import META_ATTRIBUTE

        named = config or getattr(model, META_ATTRIBUTE, None) or {}
        model_name = str(named.get("weights") or named.get("directory") or "") or None
    return _complete_scene(depth, intrinsics, model=model, meta=config, model_name=model_name, labels=labels, up=up,
                           no_plane=no_plane,
                           settings=(SceneSettings(resolution=resolution, threshold=threshold, bf16=bf16)
                                     if settings is None else replace(settings, bf16=bf16)),
                           device=device)


def _depth_array(depth: Any) -> np.ndarray:
    """``depth`` as a float64 array in metres; :class:`UserError` for a file name or a sensor's integer units."""
    if isinstance(depth, (str, os.PathLike)):
        raise UserError(f"depth is an array in metres, got the path {str(depth)!r}: read the file first, e.g. "
                        "implicit3d.data.pointcloud_io.read_depth(path, depth_scale=1000.0)")
    if hasattr(depth, "detach"):  # a torch tensor
        depth = depth.detach().cpu().numpy()
    arr = np.asarray(depth)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise UserError(f"depth must be a numeric (H, W) array in metres, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool:
        raise UserError(f"depth is a {arr.dtype} array: a sensor's raw units (a 16UC1 image in millimetres), not "
                        "metres; divide it by its depth scale first (depth / 1000.0 for millimetres)")
    return arr.astype(np.float64)


def _check_arguments(resolution: int, threshold: float, device: str | None, precision: str | None,
                     prefix: str = "") -> bool:
    """The completion arguments' checks, before any work (the commands' own, :mod:`implicit3d.limits`,
    :class:`~implicit3d.errors.ArgumentError` naming the argument); returns whether ``precision`` (``None``: not
    given) means bf16 autocast on ``device``."""
    from implicit3d.limits import MIN_EXTRACTION_RESOLUTION, check_probability, check_resolution
    from implicit3d.training.run import resolve_device

    check_resolution(resolution, f"{prefix}resolution", least=MIN_EXTRACTION_RESOLUTION)
    check_probability(threshold, f"{prefix}threshold")
    if device is not None:
        resolve_device(device, "device")
    return False if precision is None else precision_bf16(precision, device or "cpu", f"precision={precision!r}")


def extract_mesh(
    fn_or_model: Any,
    inputs: Any | None = None,
    resolution: int = 128,
    *,
    kind: str | None = None,
    threshold: float = 0.5,
    level: float = 0.0,
    method: str = "mise",
    bounds: Any = DEFAULT_BOUNDS,
    loc: Any | None = None,
    scale: float | None = None,
    pose: Any | None = None,
) -> trimesh.Trimesh:
    """Mesh of an implicit function or of a model conditioned on an input cloud.

    ``fn_or_model``: a callable ``f(points (N, 3) float64) -> (N,)`` in the normalized frame (probabilities for
    ``kind="occupancy"``, signed distances for ``kind="sdf"``, the default for plain functions), or a model
    with ``encode``/``decode`` together with ``inputs: (N, 3)`` normalized input points (``kind`` then defaults
    to the model's output). ``loc``, ``scale``, ``pose`` map the result to world coordinates
    (:func:`implicit3d.extraction.to_world`). The surface is ``threshold`` (probability) of an occupancy field,
    ``level`` of an SDF; the other one given raises ``ValueError``. See :class:`implicit3d.extraction.MeshGenerator`
    for the rest.
    """
    from implicit3d.extraction import MeshGenerator

    is_model = hasattr(fn_or_model, "encode") and hasattr(fn_or_model, "decode")
    if is_model:
        if inputs is None:
            raise ValueError("extract_mesh(model, ...) needs the input cloud: inputs=(N, 3) normalized points")
        kind = kind or ("sdf" if str(getattr(fn_or_model, "output", "occupancy")).lower() == "sdf" else "occupancy")
    elif not callable(fn_or_model):
        raise TypeError(f"fn_or_model must be a callable field or a model, got {type(fn_or_model).__name__}")
    else:
        kind = kind or "sdf"
    if kind == "sdf" and threshold != 0.5:
        raise ValueError(f"threshold={threshold} is the surface of an occupancy field; an SDF's surface is level= "
                         "(default 0.0)")
    if kind == "occupancy" and level != 0.0:
        raise ValueError(f"level={level} is the surface of an SDF; an occupancy field's surface is threshold= "
                         "(default 0.5)")
    gen = MeshGenerator(kind=kind, threshold=threshold, level=level, method=method, resolution=resolution,
                        bounds=bounds)
    if is_model:
        return gen.generate(fn_or_model, np.asarray(inputs, dtype=np.float32), loc=loc, scale=scale, pose=pose)
    return gen.extract(fn_or_model, loc=loc, scale=scale, pose=pose)
