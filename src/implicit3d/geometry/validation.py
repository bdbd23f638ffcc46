"""Input checks shared by the geometry ops: clear ``ValueError``/``TypeError`` instead of deep tracebacks."""

from __future__ import annotations

from typing import Any

import numpy as np
import trimesh


def numeric_array(values: Any, name: str = "points", allow_bool: bool = True) -> np.ndarray:
    """``np.asarray(values)``, checked to hold numbers (and bools when ``allow_bool``); ``TypeError`` naming
    ``name`` otherwise (not array-like, strings, objects)."""
    try:
        arr = np.asarray(values)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise TypeError(f"{name} must be array-like, got {type(values).__name__}") from exc
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or (allow_bool and arr.dtype == bool)):
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    return arr


def as_points(points: Any, name: str = "points", dtype: type = np.float64) -> np.ndarray:
    """Return ``points`` as a C-contiguous ``(N, 3)`` array of ``dtype``.

    Raises ``TypeError`` when the input is not array-like numeric data and ``ValueError`` when it is not
    shaped ``(N, 3)`` or holds NaN/inf. ``N == 0`` is allowed (an empty query gives an empty answer).
    """
    arr = numeric_array(points, name)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"{name} must be shaped (N, 3), got {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).any(axis=1).sum())
        raise ValueError(f"{name} holds {bad} rows with NaN or inf coordinates")
    return arr


def as_mesh_arrays(mesh: Any, name: str = "mesh") -> tuple[np.ndarray, np.ndarray]:
    """Return ``(vertices (V, 3) float64, faces (F, 3) int64)`` from a ``trimesh.Trimesh`` or a pair.

    Raises ``ValueError`` for an empty mesh, a mesh with no faces, NaN/inf vertices or face indices out of
    range. Degenerate (zero-area) triangles are kept: ops must tolerate them.
    """
    if isinstance(mesh, trimesh.Trimesh):
        vertices, faces = mesh.vertices, mesh.faces
    elif isinstance(mesh, (tuple, list)) and len(mesh) == 2:
        vertices, faces = mesh
    else:
        raise TypeError(f"{name} must be a trimesh.Trimesh or a (vertices, faces) pair, got {type(mesh).__name__}")
    vertices = np.asarray(vertices)
    faces = np.asarray(faces)
    if vertices.size == 0:
        raise ValueError(f"{name} is empty: it has no vertices")
    if faces.size == 0:
        raise ValueError(f"{name} has no faces")
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"{name} vertices must be shaped (V, 3), got {vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"{name} faces must be triangles shaped (F, 3), got {faces.shape}")
    if not np.issubdtype(faces.dtype, np.integer):
        raise TypeError(f"{name} faces must be integer indices, got dtype {faces.dtype}")
    vertices = np.ascontiguousarray(vertices, dtype=np.float64)
    if not np.isfinite(vertices).all():
        raise ValueError(f"{name} has NaN or inf vertex coordinates")
    faces = np.ascontiguousarray(faces, dtype=np.int64)
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise ValueError(f"{name} faces index vertices out of range [0, {len(vertices)})")
    return vertices, faces


def weld(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """A plain copy of ``mesh`` (no visuals) with coincident vertices merged
    (``merge_vertices(merge_tex=True, merge_norm=True)``: the UV and normal seams of a textured OBJ, an STL's
    per-triangle corners, are welded), so that its closedness is that of its surface."""
    welded = trimesh.Trimesh(np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64), process=False)
    welded.merge_vertices(merge_tex=True, merge_norm=True)
    return trimesh.Trimesh(np.asarray(welded.vertices, np.float64), np.asarray(welded.faces, np.int64), process=False)
