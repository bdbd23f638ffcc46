"""Gravity-aligned bounding boxes: the smallest box around points whose one axis is a given up direction.

For an object resting on a table the box a grasp planner wants stands on the table: its height along the table's
normal, its footprint the minimum-area rectangle around the points projected onto the table (rotating calipers over
the edges of the footprint's convex hull: the smallest rectangle has a side on a hull edge, Freeman & Shapira 1975).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class UprightBox:
    """A box standing on a plane: ``center (3,)``, ``size (3,)`` = (length >= width along the plane, height along
    ``up``), and ``rotation (3, 3)`` whose columns are the box's length, width and up axes in the points' frame (a
    right-handed rotation: ``points_in_box = (points - center) @ rotation``)."""

    center: np.ndarray
    size: np.ndarray
    rotation: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {"center": [float(v) for v in self.center], "size": [float(v) for v in self.size],
                "rotation": [[float(v) for v in row] for row in self.rotation]}

    def corners(self) -> np.ndarray:
        """``(8, 3)`` the box's corners in the points' frame."""
        signs = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
        return self.center + (signs * self.size) @ self.rotation.T


def upright_box(points: Any, up: Any) -> UprightBox:
    """The smallest box around ``points (N, 3)`` (N >= 1) with one axis along ``up (3,)`` (any length): minimum
    footprint area, then the height the points span along ``up``. Raises ``ValueError`` for an empty or non-finite
    input or a zero ``up``."""
    from scipy.spatial import ConvexHull, QhullError

    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    u = np.asarray(up, dtype=np.float64).reshape(3)
    norm = float(np.linalg.norm(u))
    if len(pts) == 0 or not np.isfinite(pts).all():
        raise ValueError("upright_box needs at least one finite point")
    if not (np.isfinite(norm) and norm > 0):
        raise ValueError(f"up must be a non-zero vector, got {u.tolist()}")
    u = u / norm
    a = np.eye(3)[int(np.argmin(np.abs(u)))]
    e1 = np.cross(u, a)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(u, e1)
    uv = pts @ np.stack([e1, e2], axis=1)  # (N, 2) footprint coordinates
    height = pts @ u
    try:
        hull = uv[ConvexHull(uv).vertices]
    except (QhullError, ValueError):  # fewer than 3 points, or all on a line: their own extent
        hull = uv
    if len(hull) >= 2:
        edges = np.roll(hull, -1, axis=0) - hull
        lengths = np.linalg.norm(edges, axis=1)
        keep = lengths > 0
        dirs = edges[keep] / lengths[keep, None] if keep.any() else np.array([[1.0, 0.0]])
    else:
        dirs = np.array([[1.0, 0.0]])
    normals = np.stack([-dirs[:, 1], dirs[:, 0]], axis=1)
    along = hull @ dirs.T  # (H, E): every hull point on every candidate axis
    across = hull @ normals.T
    area = np.ptp(along, axis=0) * np.ptp(across, axis=0)
    best = int(np.argmin(area))
    d, n = dirs[best], normals[best]
    lo_d, hi_d = along[:, best].min(), along[:, best].max()
    lo_n, hi_n = across[:, best].min(), across[:, best].max()
    if hi_n - lo_n > hi_d - lo_d:  # length first
        d, n, lo_d, hi_d, lo_n, hi_n = n, -d, lo_n, hi_n, -hi_d, -lo_d
    centre_2d = 0.5 * (lo_d + hi_d) * d + 0.5 * (lo_n + hi_n) * n
    x = d[0] * e1 + d[1] * e2
    y = n[0] * e1 + n[1] * e2
    if np.cross(x, y) @ u < 0:  # right-handed with up as the third axis
        y = -y
    center = centre_2d[0] * e1 + centre_2d[1] * e2 + 0.5 * (height.min() + height.max()) * u
    size = np.array([hi_d - lo_d, hi_n - lo_n, np.ptp(height)])
    return UprightBox(center, size, np.stack([x, y, u], axis=1))
