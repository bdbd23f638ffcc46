"""Point samples for training implicit functions: on the surface (with normals), uniform in a box, near the surface.

All functions take a ``numpy.random.Generator`` or an int seed and are deterministic given it. Outputs are
``float64``; callers cast for storage.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import trimesh

from implicit3d.geometry.validation import as_mesh_arrays


def _rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _count(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return int(n)


def sample_surface(
    mesh: trimesh.Trimesh | tuple[np.ndarray, np.ndarray],
    n: int,
    rng: np.random.Generator | int | None = None,
    return_faces: bool = False,
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample ``n`` points uniformly by area on the triangles of ``mesh``.

    Returns ``points (n, 3) float64``, ``normals (n, 3) float64`` (unit face normals, right-hand rule on the face
    winding, i.e. outward for a consistently wound closed mesh) and, if ``return_faces``, ``faces (n,) int64``.
    Zero-area triangles are never picked; a mesh with zero total area raises ``ValueError``.
    """
    n = _count(n)
    vertices, faces = as_mesh_arrays(mesh)
    rng = _rng(rng)
    tri = vertices[faces]  # (F, 3, 3)
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    double_area = np.linalg.norm(cross, axis=1)
    total = double_area.sum()
    if not total > 0.0:
        raise ValueError("mesh has zero surface area: cannot sample its surface")
    cdf = np.cumsum(double_area)
    face_idx = np.searchsorted(cdf, rng.uniform(0.0, cdf[-1], n), side="right")
    face_idx = np.minimum(face_idx, len(faces) - 1)
    # uniform barycentric coordinates by reflecting the unit square onto the triangle
    uv = rng.uniform(0.0, 1.0, (n, 2))
    flip = uv.sum(axis=1) > 1.0
    uv[flip] = 1.0 - uv[flip]
    t = tri[face_idx]
    points = t[:, 0] + uv[:, :1] * (t[:, 1] - t[:, 0]) + uv[:, 1:] * (t[:, 2] - t[:, 0])
    normals = cross[face_idx] / double_area[face_idx, None]
    if return_faces:
        return points, normals, face_idx.astype(np.int64)
    return points, normals


def sample_uniform(
    n: int,
    bounds: Sequence[Sequence[float]] | np.ndarray | float = ((-0.5, -0.5, -0.5), (0.5, 0.5, 0.5)),
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """``n`` points uniform in an axis-aligned box: ``(n, 3) float64``.

    ``bounds``: ``[[xmin, ymin, zmin], [xmax, ymax, zmax]]``, or a half-width ``h`` for the cube ``[-h, h]^3``.
    The default is the unit cube ``[-0.5, 0.5]^3`` where datasets store normalized shapes.
    """
    n = _count(n)
    b = np.asarray(bounds, dtype=np.float64)
    if b.ndim == 0:
        b = np.array([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]]) * float(b)
    if b.shape != (2, 3):
        raise ValueError(f"bounds must be shaped (2, 3) or be a scalar half-width, got shape {b.shape}")
    if not np.all(b[1] > b[0]):
        raise ValueError(f"bounds must have max > min on every axis, got {b.tolist()}")
    return _rng(rng).uniform(b[0], b[1], (n, 3))


def split_count(n: int, k: int) -> np.ndarray:
    """Split ``n`` into ``k`` near-equal non-negative parts (the first ``n % k`` get one more): ``(k,) int64``."""
    parts = np.full(k, n // k, dtype=np.int64)
    parts[: n % k] += 1
    return parts


def sample_near_surface(
    mesh: trimesh.Trimesh | tuple[np.ndarray, np.ndarray],
    n: int,
    sigma: float | Sequence[float] = (0.005, 0.015, 0.05),
    rng: np.random.Generator | int | None = None,
    return_sigma_index: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """IF-Net style samples near the surface: area-uniform surface points plus isotropic Gaussian offsets.

    ``sigma``: one standard deviation (same units as the mesh) or several; with ``k`` sigmas the ``n`` points are
    split near-equally (:func:`split_count`) and returned grouped by sigma in the given order. Each coordinate of a
    point's offset is ``N(0, sigma^2)``, so its distance to the sampled surface point follows a chi distribution
    with 3 degrees of freedom (mean ``~1.596 sigma``); the distance to the surface is at most that.

    Returns ``points (n, 3) float64`` and, if ``return_sigma_index``, ``sigma_index (n,) int64`` into ``sigma``.
    """
    n = _count(n)
    sigmas = np.atleast_1d(np.asarray(sigma, dtype=np.float64))
    if sigmas.ndim != 1 or len(sigmas) == 0:
        raise ValueError(f"sigma must be a positive number or a non-empty 1-d sequence, got {sigma!r}")
    if not np.all(np.isfinite(sigmas)) or np.any(sigmas <= 0):
        raise ValueError(f"sigma values must be finite and > 0, got {sigmas.tolist()}")
    rng = _rng(rng)
    surface, _ = sample_surface(mesh, n, rng)
    index = np.repeat(np.arange(len(sigmas), dtype=np.int64), split_count(n, len(sigmas)))
    points = surface + rng.standard_normal((n, 3)) * sigmas[index, None]
    if return_sigma_index:
        return points, index
    return points
