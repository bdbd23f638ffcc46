"""Classical (non-learned) surface reconstructions of an input point cloud, for the comparison table.

- :func:`convex_hull` — the convex hull of the cloud: watertight, fills every concavity (an upper bound on the
  volume of a convex-ish object seen from all sides; from one view it closes the object with a flat back).
- :func:`alpha_shape` — the boundary of the union of Delaunay tetrahedra whose circumsphere radius is below
  ``alpha``: follows concavities, but a partial scan gives a thin shell or nothing where the cloud has holes.
  Watertight in the sense of a closed boundary of a solid, though it can have non-manifold edges/vertices.

Not provided: screened Poisson reconstruction (no Python package for it is installed in this environment —
``open3d``/``pymeshlab`` would provide it) and ball pivoting (needs oriented normals and a robust
implementation; the alpha shape is the Delaunay-based relative used instead).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import trimesh
from scipy.spatial import Delaunay, QhullError

from implicit3d.geometry.validation import as_points

BASELINES = ("convex_hull", "alpha_shape")


def _cloud(points: Any, minimum: int = 4) -> np.ndarray:
    pts = as_points(points)
    if len(pts) < minimum:
        raise ValueError(f"points must hold at least {minimum} points for a volume, got {len(pts)}")
    centred = pts - pts.mean(axis=0)
    sv = np.linalg.svd(centred[:: max(1, len(pts) // 20_000)], compute_uv=False)
    if not sv[-1] > 1e-9 * max(sv[0], 1e-300):
        raise ValueError("the points are degenerate (all on one plane or line): they bound no volume")
    return pts


def convex_hull(points: Any) -> trimesh.Trimesh:
    """Convex hull of ``points: (N, 3)`` as a watertight mesh with outward normals.

    Raises ``ValueError`` if the cloud is degenerate (fewer than 4 points or all on one plane).
    """
    pts = _cloud(points)
    try:
        hull = trimesh.convex.convex_hull(pts, qhull_options="QbB Pp Qt")
    except QhullError as exc:
        raise ValueError(f"cannot build a convex hull: the points are degenerate (coplanar?): {exc}") from exc
    if hull.volume < 0:
        hull.invert()
    return hull


def _circumradius(tets: np.ndarray) -> np.ndarray:
    """Circumsphere radius of tetrahedra ``(T, 4, 3)``; ``inf`` for flat ones."""
    a = tets[:, 1:] - tets[:, :1]  # (T, 3, 3) edge vectors from vertex 0
    rhs = 0.5 * np.sum(a * a, axis=2)  # (T, 3): centre c solves a_i . c = |a_i|^2 / 2
    det = np.linalg.det(a)
    ok = np.abs(det) > 1e-12 * np.max(np.abs(a), axis=(1, 2)) ** 3
    r = np.full(len(tets), np.inf)
    if ok.any():
        centre = np.linalg.solve(a[ok], rhs[ok][..., None])[..., 0]
        r[ok] = np.linalg.norm(centre, axis=1)
    return r


def _boundary(simplices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Faces ``(F, 3)`` used by exactly one of the tetrahedra ``simplices: (T, 4)``, with their opposite vertex."""
    face_ids = np.array([[1, 2, 3], [0, 3, 2], [0, 1, 3], [0, 2, 1]])  # face j is opposite vertex j
    faces = simplices[:, face_ids].reshape(-1, 3)
    opposite = simplices.reshape(-1)
    if len(faces) == 0:
        return faces, opposite
    _, inverse, counts = np.unique(np.sort(faces, axis=1), axis=0, return_inverse=True, return_counts=True)
    boundary = counts[inverse.reshape(-1)] == 1
    return faces[boundary], opposite[boundary]


def _default_alpha(simplices: np.ndarray, radius: np.ndarray, n_points: int, coverage: float) -> float:
    """Smallest alpha at which a fraction ``coverage`` of the points belong to a kept tetrahedron."""
    smallest = np.full(n_points, np.inf)
    np.minimum.at(smallest, simplices.reshape(-1), np.repeat(radius, 4))
    finite = smallest[np.isfinite(smallest)]
    if len(finite) == 0:
        return float("inf")
    return float(np.quantile(finite, coverage)) * (1.0 + 1e-9)


def alpha_shape(points: Any, alpha: float | None = None, coverage: float = 0.99) -> trimesh.Trimesh:
    """Alpha shape of ``points: (N, 3)``: boundary of the Delaunay tetrahedra with circumradius <= ``alpha``.

    ``alpha`` in the units of ``points``. By default it is chosen from the data: the smallest radius at which a
    fraction ``coverage`` of the points belong to at least one kept tetrahedron (the ``coverage`` quantile of each
    point's smallest incident circumradius, so a few outliers do not inflate it to the convex hull). Caveat: points
    sampled only on a surface need ``alpha`` at least about the local thickness of the solid (a sphere's radius)
    for the shape to be solid; the default is often smaller and then gives a thin shell hugging the points (good
    Chamfer, IoU near 0). Pass ``alpha`` explicitly for a solid. Faces are wound outward
    (away from the kept tetrahedron they bound). Returns an empty mesh if no tetrahedron is kept.
    """
    pts = _cloud(points)
    if not 0.0 < coverage <= 1.0:
        raise ValueError(f"coverage must be in (0, 1], got {coverage!r}")
    try:
        tri = Delaunay(pts, qhull_options="Qbb Qc Qz Q12")
    except QhullError as exc:
        raise ValueError(f"cannot tetrahedralize the points (degenerate cloud?): {exc}") from exc
    radius = _circumradius(pts[tri.simplices])
    if alpha is None:
        alpha = _default_alpha(tri.simplices, radius, len(pts), coverage)
    if not (np.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha must be a positive number, got {alpha!r}")
    faces, opposite = _boundary(tri.simplices[radius <= alpha])
    if len(faces) == 0:
        return trimesh.Trimesh(vertices=np.zeros((0, 3)), faces=np.zeros((0, 3), dtype=np.int64), process=False)
    # orient each face so its normal points away from the opposite vertex of its tetrahedron
    v0, v1, v2 = pts[faces[:, 0]], pts[faces[:, 1]], pts[faces[:, 2]]
    normal = np.cross(v1 - v0, v2 - v0)
    flip = np.sum(normal * (pts[opposite] - v0), axis=1) > 0
    faces[flip] = faces[flip][:, ::-1]
    mesh = trimesh.Trimesh(vertices=pts, faces=faces, process=False)
    mesh.remove_unreferenced_vertices()
    mesh.metadata["alpha"] = float(alpha)
    return mesh


def reconstruct(points: Any, method: str, **kwargs: Any) -> trimesh.Trimesh:
    """Run the baseline named ``method`` (one of :data:`BASELINES`) on ``points: (N, 3)``."""
    if method == "convex_hull":
        return convex_hull(points, **kwargs)
    if method == "alpha_shape":
        return alpha_shape(points, **kwargs)
    raise ValueError(f"unknown baseline {method!r}; choose one of {BASELINES}")
