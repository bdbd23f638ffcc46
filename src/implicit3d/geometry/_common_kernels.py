"""Small numba helpers shared by the geometry kernels (``_bvh``, ``_inside_kernels``, ``distance``)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def corner_minus(tri, t, j, x, y, z):  # pragma: no cover - compiled
    """Corner ``j`` (0-2) of row ``t`` of ``tri (F, >=9)`` (corners xyz) minus the point ``(x, y, z)``: a 3-tuple."""
    return tri[t, 3 * j] - x, tri[t, 3 * j + 1] - y, tri[t, 3 * j + 2] - z


@njit(cache=True, inline="always")
def cross_edges(ax, ay, az, bx, by, bz, cx, cy, cz):  # pragma: no cover - compiled
    """``(b - a) x (c - a)`` of the triangle with corners a, b, c (floats) as a 3-tuple: the unnormalized normal,
    twice the area vector."""
    ux = bx - ax
    uy = by - ay
    uz = bz - az
    wx = cx - ax
    wy = cy - ay
    wz = cz - az
    return uy * wz - uz * wy, uz * wx - ux * wz, ux * wy - uy * wx


@njit(cache=True)
def morton_codes(points, lo, scale, bits):  # pragma: no cover - compiled
    """Morton (Z-order) codes ``(N,) int64`` of ``points (N, 3) float64``.

    Each coordinate is quantized to ``q = int((x - lo) * scale)`` clamped to ``[0, 2**bits - 1]`` (``bits`` <= 21)
    and the bits are interleaved with column 0 the least significant of each triple: bit ``b`` of column ``a`` goes
    to bit ``3b + a``.
    """
    n = points.shape[0]
    out = np.empty(n, np.int64)
    top = (1 << bits) - 1
    for i in range(n):
        code = 0
        for a in range(3):
            q = int((points[i, a] - lo[a]) * scale)
            q = min(max(q, 0), top)
            for b in range(bits):
                code |= ((q >> b) & 1) << (3 * b + a)
        out[i] = code
    return out
