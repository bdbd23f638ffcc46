"""``MeshGenerator``: from a trained model (or any implicit function) to a mesh in the input's original frame.

Frames: the model works in the *normalized* frame (the shape in ``[-0.5, 0.5]^3``). A mesh extracted there is
mapped back with

    world = R @ (normalized * scale + loc) + t

where ``loc`` (3,) and ``scale`` come from the normalization of the input (``normalized = (world - loc) / scale``,
see :mod:`implicit3d.geometry.transforms`) and the optional ``pose`` (4, 4) = ``[[R, t], [0, 1]]`` is the
object-to-world transform that was removed from the input before normalizing (e.g. a gravity alignment). Face
winding is kept outward (it is flipped if ``R`` is a reflection).

Thresholds: for occupancy the surface is where the probability equals ``threshold`` (default 0.5); models are
evaluated as logits and cut at ``log(t / (1 - t))``, which is the same surface but interpolates better along cell
edges (logits do not saturate away from the surface). For SDF fields the surface is where the value equals
``level`` (default 0), negative inside.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import trimesh
from scipy.special import expit

from implicit3d.extraction.confidence import coarse_samples, grid_softness, undecided_ratio
from implicit3d.extraction.dense import DEFAULT_BOUNDS, Extraction, check_bounds, check_resolution, extract_dense
from implicit3d.extraction.field import Field, ModelField
from implicit3d.extraction.mise import extract_mise
from implicit3d.extraction.simplify import simplify_mesh
from implicit3d.geometry.frames import probability_to_logit

KINDS = ("occupancy", "sdf")
METHODS = ("mise", "dense")


def to_world(
    mesh: trimesh.Trimesh,
    loc: Any | None = None,
    scale: float | None = None,
    pose: Any | None = None,
) -> trimesh.Trimesh:
    """Map a mesh from the normalized frame to the world: ``R @ (v * scale + loc) + t``; returns a new mesh."""
    v = np.asarray(mesh.vertices, dtype=np.float64)
    f = np.asarray(mesh.faces, dtype=np.int64)
    if scale is not None:
        s = float(scale)
        if not (np.isfinite(s) and s > 0):
            raise ValueError(f"scale must be a positive number, got {scale!r}")
        v = v * s
    if loc is not None:
        loc_arr = np.asarray(loc, dtype=np.float64)
        if loc_arr.shape != (3,) or not np.isfinite(loc_arr).all():
            raise ValueError(f"loc must be a finite (3,) vector, got shape {loc_arr.shape}")
        v = v + loc_arr
    if pose is not None:
        p = np.asarray(pose, dtype=np.float64)
        if p.shape != (4, 4) or not np.isfinite(p).all():
            raise ValueError(f"pose must be a finite (4, 4) matrix, got shape {p.shape}")
        v = v @ p[:3, :3].T + p[:3, 3]
        if np.linalg.det(p[:3, :3]) < 0:
            f = f[:, ::-1]
    out = trimesh.Trimesh(vertices=v, faces=f, process=False)
    out.metadata.update(mesh.metadata)
    return out


class MeshGenerator:
    """Owns mesh extraction settings; turns fields or (model, input cloud) pairs into meshes.

    ``kind``: ``"occupancy"`` (fields return probabilities; inside above ``threshold``) or ``"sdf"`` (inside below
    ``level``). ``method``: ``"mise"`` (default) or ``"dense"``. ``resolution``: cells per axis of the final grid
    over ``bounds`` (normalized frame, default ``[-0.55, 0.55]^3``). ``initial_resolution``/``dilation``: MISE
    settings (see :mod:`implicit3d.extraction.mise`). ``simplify``: target face count, or ``None`` to keep the
    marching-cubes mesh (see :mod:`implicit3d.extraction.simplify`). ``batch_size``: points per field call.
    ``bf16``: evaluate models under bf16 autocast (see :class:`~implicit3d.extraction.field.ModelField`; ``None``:
    its default).

    The returned meshes carry ``mesh.metadata["extraction"]``: method, resolution, level, points evaluated,
    seconds per stage and, for occupancy, the field's ``undecided_ratio``; occupancy meshes also carry each vertex's
    softness as ``mesh.vertex_attributes["uncertainty"]`` (0: a decided surface, 1: a guess), read from the grid
    (:mod:`implicit3d.extraction.confidence`).
    """

    def __init__(
        self,
        kind: str = "occupancy",
        threshold: float = 0.5,
        level: float = 0.0,
        method: str = "mise",
        resolution: int = 128,
        initial_resolution: int = 32,
        bounds: Any = DEFAULT_BOUNDS,
        batch_size: int = 100_000,
        device: str | None = None,
        simplify: int | None = None,
        dilation: int = 1,
        progress: bool = False,
        bf16: bool | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        if kind == "occupancy" and not (0.0 < float(threshold) < 1.0):
            raise ValueError(f"threshold is a probability and must be in (0, 1), got {threshold!r}")
        if not np.isfinite(float(level)):
            raise ValueError(f"level must be finite, got {level!r}")
        self.kind = kind
        self.threshold = float(threshold)
        self.level = float(level)
        self.method = method
        self.resolution = check_resolution(resolution)
        self.initial_resolution = check_resolution(initial_resolution, "initial_resolution")
        self.bounds = check_bounds(bounds)
        self.batch_size = int(batch_size)
        self.device = device
        self.simplify = simplify
        self.dilation = dilation
        self.progress = progress
        self.bf16 = bf16

    # ------------------------------------------------------------------ extraction in the normalized frame
    def _method_used(self, resolution: int) -> str:
        """``"dense"`` also for MISE at a resolution with no coarser level (an odd one: one dense pass)."""
        from implicit3d.extraction.mise import mise_levels

        if self.method == "mise" and mise_levels(resolution, self.initial_resolution)[1] == 0:
            return "dense"
        return self.method

    def _extract(self, field: Field, level: float, inside: str) -> Extraction:
        if self.method == "dense":
            return extract_dense(field, self.bounds, self.resolution, level, inside, self.batch_size)
        return extract_mise(
            field, self.bounds, self.resolution, level, inside,
            initial_resolution=self.initial_resolution, dilation=self.dilation,
            batch_size=self.batch_size, progress=self.progress,
        )

    def _finish(self, ext: Extraction, loc: Any, scale: float | None, pose: Any,
                occupancy: str | None = None) -> trimesh.Trimesh:
        """The mesh of ``ext`` in world coordinates with its metadata; ``occupancy``: ``"probabilities"`` or
        ``"logits"`` when ``ext.values`` are occupancies (the undecided ratio and each vertex's softness are then
        recorded)."""
        t0 = time.perf_counter()
        mesh = ext.mesh
        if self.simplify is not None and len(mesh.faces):
            mesh = simplify_mesh(mesh, self.simplify)
        softness = None
        if occupancy is not None and len(mesh.faces):
            softness = grid_softness(ext.values, ext.bounds, np.asarray(mesh.vertices),
                                     np.asarray(mesh.vertex_normals), logits=occupancy == "logits")
        mesh = to_world(mesh, loc, scale, pose)
        if softness is not None:
            mesh.vertex_attributes["uncertainty"] = softness
        seconds = dict(ext.seconds)
        seconds["finish"] = time.perf_counter() - t0
        mesh.metadata["extraction"] = {
            "method": self._method_used(ext.resolution),
            "resolution": ext.resolution,
            "level": ext.level,
            "inside": ext.inside,
            "n_evaluated": ext.n_evaluated,
            "n_grid": (ext.resolution + 1) ** 3,
            "seconds": seconds,
            "empty": len(mesh.faces) == 0,
        }
        if occupancy is not None:
            coarse = coarse_samples(ext.values, ext.resolution, self.initial_resolution)
            probabilities = expit(coarse) if occupancy == "logits" else coarse
            mesh.metadata["extraction"]["undecided_ratio"] = undecided_ratio(probabilities, self.threshold)
        return mesh

    def extract(
        self,
        field: Field,
        loc: Any | None = None,
        scale: float | None = None,
        pose: Any | None = None,
    ) -> trimesh.Trimesh:
        """Mesh of an implicit function ``field((N, 3) normalized points) -> (N,)`` in world coordinates.

        For ``kind="occupancy"`` the field returns probabilities (cut at ``threshold``); for ``"sdf"`` signed
        distances (cut at ``level``). ``loc``, ``scale``, ``pose``: see the module docstring; ``None`` skips a step.
        Returns an empty mesh (no faces, ``metadata["extraction"]["empty"]``) if no sample is inside (one that is
        inside everywhere gives the capped box).
        """
        if self.kind == "occupancy":
            ext = self._extract(field, self.threshold, "above")
            return self._finish(ext, loc, scale, pose, occupancy="probabilities")
        ext = self._extract(field, self.level, "below")
        return self._finish(ext, loc, scale, pose)

    def model_field(self, model: Any, inputs: Any) -> ModelField:
        """The :class:`ModelField` this generator evaluates: logits for occupancy models, raw values for SDF."""
        output = "logits" if self.kind == "occupancy" else "sdf"
        return ModelField(model, inputs, output=output, batch_size=self.batch_size, device=self.device,
                          bf16=self.bf16)

    def generate(
        self,
        model: Any,
        inputs: Any,
        loc: Any | None = None,
        scale: float | None = None,
        pose: Any | None = None,
    ) -> trimesh.Trimesh:
        """Mesh predicted by ``model`` from the normalized input cloud ``inputs: (N, 3)``, in world coordinates."""
        t0 = time.perf_counter()
        field = self.model_field(model, inputs)
        encode = time.perf_counter() - t0
        if self.kind == "occupancy":
            t = self.threshold
            ext = self._extract(field, probability_to_logit(t), "above")
            ext.seconds = {"encode": encode, **ext.seconds}
            return self._finish(ext, loc, scale, pose, occupancy="logits")
        ext = self._extract(field, self.level, "below")
        ext.seconds = {"encode": encode, **ext.seconds}
        return self._finish(ext, loc, scale, pose)
