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


@njit(cache=True, inline="always")
def _spread3(q):  # pragma: no cover - compiled
    """The bits of ``q`` (< 2**21) spread out to every third bit: bit ``b`` goes to bit ``3b``."""
    q &= 0x1FFFFF
    q = (q | (q << 32)) & 0x1F00000000FFFF
    q = (q | (q << 16)) & 0x1F0000FF0000FF
    q = (q | (q << 8)) & 0x100F00F00F00F00F
    q = (q | (q << 4)) & 0x10C30C30C30C30C3
    q = (q | (q << 2)) & 0x1249249249249249
    return q


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
            code |= _spread3(q) << a
        out[i] = code
    return out


@njit(cache=True)
def radix_argsort(keys, key_bits):  # pragma: no cover - compiled
    """Stable argsort ``(N,) int64`` of non-negative ``keys (N,) int64`` below ``2**key_bits`` (least significant
    digit first, 11 bits per pass): the order of ``np.argsort(keys, kind="stable")``."""
    n = keys.shape[0]
    idx = np.arange(n)
    k = keys.copy()
    idx2 = np.empty(n, np.int64)
    k2 = np.empty(n, np.int64)
    count = np.empty(2049, np.int64)
    shift = 0
    while shift < key_bits:
        count[:] = 0
        for i in range(n):
            count[((k[i] >> shift) & 2047) + 1] += 1
        for d in range(2048):
            count[d + 1] += count[d]
        for i in range(n):
            d = (k[i] >> shift) & 2047
            j = count[d]
            count[d] = j + 1
            k2[j] = k[i]
            idx2[j] = idx[i]
        k, k2 = k2, k
        idx, idx2 = idx2, idx
        shift += 11
    return idx


@njit(cache=True)
def morton_order(points, bits):  # pragma: no cover - compiled
    """Permutation ``(N,) int64`` that sorts ``points (N, 3) float64`` along a Morton (Z-order) curve over their
    bounding cube (``bits`` per axis), ties in input order."""
    n = points.shape[0]
    lo = np.full(3, np.inf)
    hi = np.full(3, -np.inf)
    for i in range(n):
        for a in range(3):
            lo[a] = min(lo[a], points[i, a])
            hi[a] = max(hi[a], points[i, a])
    extent = max(hi[0] - lo[0], max(hi[1] - lo[1], hi[2] - lo[2]))
    scale = ((1 << bits) - 1) / extent if extent > 0 else 0.0
    return radix_argsort(morton_codes(points, lo, scale, bits), 3 * bits)


def serial_twin(kernel, calls: dict | None = None):  # noqa: ANN001, ANN201 - a numba dispatcher in, one out
    """The numba ``kernel`` (compiled with ``parallel=True``) compiled again for one thread: its ``prange`` loops run
    as plain loops. Launching a parallel loop costs ~10-20 microseconds even when numba is set to one thread, which
    dominates calls of a few hundred microseconds; small calls use the twin. ``calls`` maps global names that the
    kernel calls to other functions for the twin (e.g. the serial twins of the kernels it calls), so a pipeline's
    twin compiles only what it runs. Cached on disk under its own name (``<name>_serial``), so the two compilations
    never share a cache entry."""
    import types

    fn = kernel.py_func
    scope = {**fn.__globals__, **calls} if calls else fn.__globals__
    twin = types.FunctionType(fn.__code__, scope, fn.__name__ + "_serial", fn.__defaults__, fn.__closure__)
    twin.__qualname__ = fn.__qualname__ + "_serial"
    twin.__module__ = fn.__module__
    twin.__doc__ = fn.__doc__
    options = {k: v for k, v in kernel.targetoptions.items() if k not in ("parallel", "nopython")}
    # ``cache`` is the dispatcher's, not a target option: without passing it again the twin would be compiled anew
    # in every process (~12 s for ``closed_inside``'s)
    from numba.core.caching import NullCache

    return njit(cache=not isinstance(kernel._cache, NullCache), **options)(twin)
