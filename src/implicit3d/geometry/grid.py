"""Regular grids over a box: point generation, evaluation of implicit functions, marching cubes.

Grid convention: ``resolution`` samples per axis *including both ends* of ``bounds``, so the sample spacing is
``(hi - lo) / (resolution - 1)``. Values are indexed ``values[i, j, k]`` with ``i`` along x, ``j`` along y,
``k`` along z.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import trimesh

Bounds = tuple[tuple[float, float, float], tuple[float, float, float]] | np.ndarray


def _bounds(bounds: Bounds) -> tuple[np.ndarray, np.ndarray]:
    b = np.asarray(bounds, dtype=np.float64)
    if b.shape != (2, 3):
        raise ValueError(f"bounds must be shaped (2, 3) as [[xmin, ymin, zmin], [xmax, ymax, zmax]], got {b.shape}")
    if not np.all(b[1] > b[0]):
        raise ValueError(f"bounds must have max > min on every axis, got {b.tolist()}")
    return b[0], b[1]


def _resolution(resolution: int | tuple[int, int, int]) -> np.ndarray:
    res = np.broadcast_to(np.asarray(resolution, dtype=np.int64), (3,)).copy()
    if np.any(res < 2):
        raise ValueError(f"resolution must be >= 2 per axis, got {res.tolist()}")
    return res


def grid_points(bounds: Bounds, resolution: int | tuple[int, int, int]) -> np.ndarray:
    """Sample points of a regular grid: ``(Rx*Ry*Rz, 3) float64``, x slowest, z fastest (C order)."""
    lo, hi = _bounds(bounds)
    res = _resolution(resolution)
    axes = [np.linspace(lo[a], hi[a], res[a]) for a in range(3)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)


def evaluate_grid(
    fn: Callable[[np.ndarray], np.ndarray],
    bounds: Bounds,
    resolution: int | tuple[int, int, int],
    batch_size: int = 262_144,
) -> np.ndarray:
    """Evaluate ``fn((N, 3) float64) -> (N,)`` on a grid in batches; returns ``(Rx, Ry, Rz) float64``."""
    res = _resolution(resolution)
    pts = grid_points(bounds, res)
    out = np.empty(len(pts), dtype=np.float64)
    for start in range(0, len(pts), batch_size):
        out[start : start + batch_size] = np.asarray(fn(pts[start : start + batch_size]), dtype=np.float64)
    return out.reshape(tuple(res))


def marching_cubes(values: np.ndarray, bounds: Bounds, level: float = 0.0, inside: str = "below") -> trimesh.Trimesh:
    """Extract the ``level`` iso-surface of a grid of values as a mesh in world coordinates.

    ``values``: ``(Rx, Ry, Rz)`` samples on the grid of :func:`grid_points` over ``bounds``.
    ``inside``: ``"below"`` when values below ``level`` are inside (SDF), ``"above"`` when values above it are
    (occupancy probability). Faces are wound so normals point outwards. Raises ``ValueError`` when the
    level is not crossed anywhere in the grid.
    """
    from skimage import measure

    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 3 or min(values.shape) < 2:
        raise ValueError(f"values must be a 3D grid with >= 2 samples per axis, got shape {values.shape}")
    if inside not in ("below", "above"):
        raise ValueError(f"inside must be 'below' or 'above', got {inside!r}")
    if not (np.nanmin(values) < level < np.nanmax(values)):
        raise ValueError(
            f"level {level} is not crossed in the grid (values in [{np.nanmin(values):.4g}, {np.nanmax(values):.4g}])"
        )
    lo, hi = _bounds(bounds)
    spacing = (hi - lo) / (np.asarray(values.shape) - 1)
    field = values if inside == "above" else -values
    lvl = level if inside == "above" else -level
    verts, faces, normals, _ = measure.marching_cubes(field, level=lvl, spacing=tuple(spacing))
    # skimage winds faces so normals point towards increasing values (i.e. inwards for "above" fields).
    faces = faces[:, ::-1]
    mesh = trimesh.Trimesh(vertices=verts + lo, faces=faces, process=True)
    return mesh
