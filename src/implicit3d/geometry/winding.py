"""Generalized winding number of a triangle mesh at query points (robust inside test for open/flipped meshes).

``w(q) = sum over triangles of the signed solid angle / (4 pi)``: 1 inside and 0 outside a closed, outward-oriented
mesh; for meshes with holes it varies smoothly and ``|w| > 0.5`` is the usual inside test (Jacobson et al. 2013).
The default evaluation is hierarchical (Barill et al. 2018, first-order dipole far field; see
``_inside_kernels``), with exact solid angles for triangles near the query point; ``exact=True`` sums every triangle
(O(N F), for tests and small meshes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from implicit3d.geometry import _inside_kernels as K
from implicit3d.geometry._common_kernels import morton_codes
from implicit3d.geometry.validation import as_mesh_arrays, as_points

LEAF_SIZE = 4  # triangles per leaf (tuned on bench_geometry_inside.py)


@dataclass(frozen=True)
class WindingTree:
    """Dipole tree over a mesh (build once, query many times with :meth:`__call__`).

    tri: (F, 9) float64 triangle corners in Morton order; node_int: (M, 4) int64 start, end, left, right;
    node_f: (M, 7) float64 area-weighted centroid, area vector, radius.
    """

    tri: np.ndarray
    node_int: np.ndarray
    node_f: np.ndarray

    @classmethod
    def build(cls, mesh: Any, leaf_size: int = LEAF_SIZE) -> WindingTree:
        vertices, faces = as_mesh_arrays(mesh)
        tri = vertices[faces].reshape(-1, 9)
        cent = vertices[faces].mean(axis=1)
        lo = cent.min(axis=0)
        span = max(float((cent.max(axis=0) - lo).max()), 1e-300)
        # Morton order with z the least significant bit of each triple (columns reversed)
        order = np.argsort(morton_codes(cent[:, ::-1], lo[::-1], 1023.0 / span, 10), kind="stable")
        tri = np.ascontiguousarray(tri[order])
        node_int, node_f = K.build_dipole_tree(tri, int(leaf_size))
        return cls(tri, node_int, node_f)

    def __call__(self, points: Any, beta: float = 2.0) -> np.ndarray:
        """Winding number at ``points (N, 3)``; returns ``(N,) float64``. ``beta`` > 0: far-field distance factor."""
        pts = as_points(points)
        if beta <= 0:
            raise ValueError(f"beta must be > 0, got {beta}")
        return K.winding_tree(pts, self.tri, self.node_int, self.node_f, float(beta))


def winding_number(mesh: Any, points: Any, exact: bool = False, beta: float = 2.0) -> np.ndarray:
    """Generalized winding number of ``mesh`` (Trimesh or ``(V, F)``) at ``points (N, 3)`` -> ``(N,) float64``.

    ``exact=True``: exact sum over all triangles, O(N F). Otherwise hierarchical; ``beta`` (default 2) trades
    accuracy for speed in the far field (larger is more accurate). Degenerate triangles contribute 0.
    """
    pts = as_points(points)
    if exact:
        vertices, faces = as_mesh_arrays(mesh)
        return K.winding_brute(pts, np.ascontiguousarray(vertices[faces].reshape(-1, 9)))
    return WindingTree.build(mesh)(pts, beta=beta)
