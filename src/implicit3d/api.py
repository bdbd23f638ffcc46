"""The few functions most users need.

```python
import implicit3d.api as i3d

model, meta = i3d.load_model()                       # the bundled model; or a training run / checkpoint
mesh = i3d.complete(points, model, config=meta)      # one view (N, 3), sensor at the origin -> trimesh, same frame
mesh = i3d.extract_mesh(lambda p: np.linalg.norm(p, axis=1) - 0.3, kind="sdf", resolution=64)  # negative inside
occ = i3d.inside(mesh, query)                        # (M,) bool
sdf = i3d.signed_distance(mesh, query)               # (M,) float64, negative inside
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

from implicit3d.completion import complete_points
from implicit3d.completion import load_model as _load_model
from implicit3d.extraction.dense import DEFAULT_BOUNDS
from implicit3d.extraction.field import precision_bf16
from implicit3d.geometry.distance import signed_distance
from implicit3d.geometry.inside import inside

__all__ = ["complete", "complete_scene", "extract_mesh", "inside", "load_model", "signed_distance"]


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
    :func:`implicit3d.extraction.field.inference_bf16`).
    """
    if model is None:
        model, loaded = _load_model(None, device or "cpu")
        config = config or loaded
    result = complete_points(
        points, model, config, resolution=resolution, up=up, size=size, threshold=threshold,
        n_inputs=n_inputs, seed=seed, method=method, device=device, viewpoint=viewpoint, turns=turns,
        guess_distance=guess_distance, bf16=precision_bf16(precision, device or "cpu", f"precision={precision!r}"),
    )
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
    precision: str = "fp32",
    settings: Any | None = None,
) -> Any:
    """Every object on the support plane of one depth frame, completed, in the camera frame.

    ``depth``: ``(H, W)`` metres (0 = no data); ``intrinsics``: an :class:`implicit3d.sensing.camera.Intrinsics`, a
    3x3 camera matrix ``K`` or a file in any format :func:`implicit3d.sensing.io.read_intrinsics` reads; ``model``:
    default the bundled model (the tabletop model where one ships; with its metadata as ``config``); ``labels``: an
    optional ``(H, W)`` instance label image (0 = background); ``threshold``: occupancy probability of the surface
    (lower completes more of each object); ``precision``: as in :func:`complete`. Returns a
    :class:`implicit3d.scene.SceneResult` (``.plane``, ``.objects[k].mesh`` with a per-vertex ``uncertainty``
    attribute, ``.skipped``); :func:`implicit3d.scene.write_scene` writes it. ``settings``: a
    :class:`implicit3d.scene.SceneSettings` for everything else (segmentation, copies, seed; its resolution and
    threshold are used instead of the arguments). A frame where nothing stands on the table raises
    :class:`implicit3d.scene.NoObjectError`, one without a support plane :class:`implicit3d.scene.NoSupportPlaneError`
    (both :class:`implicit3d.errors.UserError`, as every other problem with the input).
    """
    from dataclasses import replace

    from implicit3d.scene import SceneSettings, load_scene_model
    from implicit3d.scene import complete_scene as _complete_scene
    from implicit3d.sensing.io import as_intrinsics

    depth = np.asarray(depth, dtype=np.float64)  # (H, W) or (H, W, 1): segment_scene takes both
    intrinsics = as_intrinsics(intrinsics, depth.shape[:2])
    bf16 = precision_bf16(precision, device or "cpu", f"precision={precision!r}")
    name = None
    if model is None:
        model, config, name = load_scene_model(None, device or "cpu")
    return _complete_scene(depth, intrinsics, model=model, meta=config, model_name=name, labels=labels, up=up,
                           no_plane=no_plane,
                           settings=(SceneSettings(resolution=resolution, threshold=threshold, bf16=bf16)
                                     if settings is None else replace(settings, bf16=bf16)),
                           device=device)


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
