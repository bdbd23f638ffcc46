"""One-to-one matching of two point sets: which point of one set is which of the other.

Used to keep the identity of objects from one depth frame to the next (:func:`implicit3d.scene.match_objects`): each
object's centre in one frame is matched to the nearest unclaimed centre in the next, as a whole (the assignment with
the least total distance, Hungarian method), never across more than a given distance.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def match_points(a: Any, b: Any, max_distance: float) -> list[tuple[int, int]]:
    """Pairs ``(i, j)`` matching points ``a (N, D)`` to ``b (M, D)`` one to one with the least total distance among
    the pairs closer than ``max_distance`` (the units of the points); points with no partner that close stay
    unmatched. Sorted by ``i``. Raises ``ValueError`` for points of different dimensions or a ``max_distance`` that
    is not a positive number."""
    from scipy.optimize import linear_sum_assignment

    pa = np.asarray(a, dtype=np.float64).reshape(len(a), -1) if len(a) else np.zeros((0, 0))
    pb = np.asarray(b, dtype=np.float64).reshape(len(b), -1) if len(b) else np.zeros((0, 0))
    if not (np.isfinite(max_distance) and max_distance > 0):
        raise ValueError(f"max_distance must be a positive number, got {max_distance!r}")
    if len(pa) == 0 or len(pb) == 0:
        return []
    if pa.shape[1] != pb.shape[1]:
        raise ValueError(f"points of {pa.shape[1]} and {pb.shape[1]} dimensions cannot be matched")
    dist = np.linalg.norm(pa[:, None, :] - pb[None, :, :], axis=2)
    far = dist >= max_distance
    cost = np.where(far, 1e6 * max_distance, dist)  # every far pair costs the same (then dropped): fewest of them
    rows, cols = linear_sum_assignment(cost)
    return sorted((int(i), int(j)) for i, j in zip(rows, cols, strict=True) if not far[i, j])
