"""Dense-grid extraction: evaluate a field at every grid sample, then marching cubes.

Resolution convention for extraction (both here and in :mod:`implicit3d.extraction.mise`): ``resolution`` is the
number of *cells* per axis, so the grid holds ``resolution + 1`` samples per axis including both ends of
``bounds`` and the sample spacing is ``(hi - lo) / resolution``. "256^3" means 256 cells, 257^3 samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

import numpy as np
import trimesh

from implicit3d.extraction.field import Field, evaluate_batched
from implicit3d.geometry.frames import MODEL_HALF_EXTENT
from implicit3d.geometry.grid import grid_points, marching_cubes

DEFAULT_BOUNDS = ((-MODEL_HALF_EXTENT,) * 3, (MODEL_HALF_EXTENT,) * 3)  #: the model cube
INSIDE = ("below", "above")


@dataclass
class Extraction:
    """Result of a grid extraction.

    ``mesh``: the iso-surface in the coordinates of ``bounds`` (empty ``Trimesh`` when the level is not crossed).
    ``values``: ``(R+1, R+1, R+1) float32`` grid of field values (for MISE, unevaluated samples hold interpolated
    values whose sign is right but whose magnitude is approximate). ``n_evaluated``: number of points the field
    was evaluated at. ``seconds``: wall time per stage.
    """

    mesh: trimesh.Trimesh
    values: np.ndarray
    bounds: np.ndarray
    resolution: int
    level: float
    inside: str
    n_evaluated: int
    seconds: dict[str, float] = dc_field(default_factory=dict)


def check_bounds(bounds: Any) -> np.ndarray:
    """``(2, 3) float64`` box ``[[xmin, ymin, zmin], [xmax, ymax, zmax]]`` or ``ValueError``."""
    b = np.asarray(bounds, dtype=np.float64)
    if b.shape != (2, 3):
        raise ValueError(f"bounds must be shaped (2, 3) as [[xmin, ymin, zmin], [xmax, ymax, zmax]], got {b.shape}")
    if not (np.all(np.isfinite(b)) and np.all(b[1] > b[0])):
        raise ValueError(f"bounds must be finite with max > min on every axis, got {b.tolist()}")
    return b


def check_resolution(resolution: Any, name: str = "resolution") -> int:
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) or resolution < 1:
        raise ValueError(f"{name} must be a positive int (cells per axis), got {resolution!r}")
    return int(resolution)


def check_inside(inside: str) -> str:
    if inside not in INSIDE:
        raise ValueError(f"inside must be 'below' (SDF: values below the level are inside) or 'above' "
                         f"(occupancy), got {inside!r}")
    return inside


def inside_mask(values: np.ndarray, level: float, inside: str) -> np.ndarray:
    """Boolean mask of samples on the inside: ``values < level`` (``"below"``) or ``values > level`` (``"above"``)."""
    return values < level if inside == "below" else values > level


def finite_values(values: np.ndarray) -> np.ndarray:
    """``values`` with ``±inf`` (a field undefined outside a domain, a logit of a probability of exactly 0 or 1)
    replaced by ``±(2 max|finite| + 1)``, so marching cubes can place a surface between such a sample and a finite
    one; ``ValueError`` for NaN."""
    finite = np.isfinite(values)
    if finite.all():
        return values
    if np.isnan(values).any():
        raise ValueError(f"field returned NaN values ({int(np.isnan(values).sum())} of {values.size} samples)")
    big = 2.0 * float(np.abs(values[finite]).max(initial=0.0)) + 1.0
    return np.where(finite, values, np.sign(values) * big).astype(values.dtype)


def empty_mesh() -> trimesh.Trimesh:
    return trimesh.Trimesh(vertices=np.zeros((0, 3)), faces=np.zeros((0, 3), dtype=np.int64), process=False)


def mesh_from_grid(values: np.ndarray, bounds: Any, level: float, inside: str) -> trimesh.Trimesh:
    """Marching cubes on ``values: (Rx, Ry, Rz)`` sampled over ``bounds``, cropped to the cells the surface crosses.

    Cropping gives exactly the triangles of the full grid (only cells with a sign change on an edge produce any)
    while running marching cubes on a fraction of the samples. Returns an empty mesh if the level is not crossed.
    An inside region that reaches the grid's faces is capped there (the grid is padded with outside samples and the
    cap's vertices are put on the bounds), so the mesh is always closed.
    """
    b = check_bounds(bounds)
    values = np.asarray(values)
    shape0 = np.asarray(values.shape)
    step = (b[1] - b[0]) / (shape0 - 1)
    outward = -1.0 if inside == "above" else 1.0  # the side of the level the outside is on
    on_level = values == level
    if on_level.any():  # a sample exactly on the level is outside (inside_mask): moved a little out, so the surface
        # crosses next to it (exactly at it, the vertices of neighbouring cells would coincide: degenerate faces)
        nudge = 1e-3 * float(np.ptp(values)) or 1e-6 * max(1.0, abs(float(level)))
        values = np.where(on_level, values.dtype.type(level + outward * nudge), values)
    outside = float(level) + outward * max(1.0, abs(float(level)))
    values = np.pad(values, 1, constant_values=outside)
    padded = np.stack([b[0] - step, b[1] + step])
    mesh = _mesh_from_padded(values, padded, level, inside)
    if len(mesh.vertices):
        mesh.vertices = np.clip(np.asarray(mesh.vertices), b[0], b[1])
    return mesh


def _mesh_from_padded(values: np.ndarray, b: np.ndarray, level: float, inside: str) -> trimesh.Trimesh:
    ins = inside_mask(values, level, inside)
    lo_idx, hi_idx = [], []
    for axis in range(3):
        changed = np.diff(ins, axis=axis)  # bool diff = xor: edges along `axis` whose two ends differ
        if not changed.any():
            continue
        # along `axis` an edge spans samples i..i+1; along the other axes it sits at its own index
        hits = [np.flatnonzero(changed.any(axis=tuple(o for o in range(3) if o != d))) for d in range(3)]
        lo_idx.append([hits[d].min() for d in range(3)])
        hi_idx.append([hits[d].max() + (1 if d == axis else 0) for d in range(3)])
    if not lo_idx:
        return empty_mesh()
    shape = np.asarray(values.shape)
    lo = np.maximum(np.min(lo_idx, axis=0) - 1, 0)
    hi = np.minimum(np.max(hi_idx, axis=0) + 1, shape - 1)
    crop = values[lo[0] : hi[0] + 1, lo[1] : hi[1] + 1, lo[2] : hi[2] + 1]
    spacing = (b[1] - b[0]) / (shape - 1)
    sub_bounds = np.stack([b[0] + lo * spacing, b[0] + hi * spacing])
    return marching_cubes(crop, sub_bounds, level=level, inside=inside)


def extract_dense(
    field: Field,
    bounds: Any = DEFAULT_BOUNDS,
    resolution: int = 128,
    level: float = 0.0,
    inside: str = "below",
    batch_size: int = 262_144,
) -> Extraction:
    """Evaluate ``field`` at all ``(resolution + 1)^3`` samples of ``bounds`` and extract the ``level`` surface.

    ``inside``: ``"below"`` for SDF-like fields (values below ``level`` are inside), ``"above"`` for occupancy
    (probabilities or logits above ``level`` are inside). The reference against which MISE is checked.
    """
    import time

    b = check_bounds(bounds)
    res = check_resolution(resolution)
    check_inside(inside)
    t0 = time.perf_counter()
    pts = grid_points(b, res + 1)
    values = evaluate_batched(field, pts, batch_size).astype(np.float32).reshape((res + 1,) * 3)
    values = finite_values(values)
    t1 = time.perf_counter()
    mesh = mesh_from_grid(values, b, level, inside)
    t2 = time.perf_counter()
    return Extraction(mesh, values, b, res, float(level), inside, len(pts), {"evaluate": t1 - t0, "mesh": t2 - t1})
