"""2D ``(r, z)`` profiles for solids of revolution: an outline builder with filleted corners, simplification and
validation, plus the hollow-container outline (outer wall, rounded rim, inner wall, floor) shared by mugs, cups,
bowls and vases.

A profile is an ``(M, 2) float64`` polygon in the ``(r, z)`` half-plane (metres, ``r >= 0``), counter-clockwise
order not required; it normally starts and ends on the axis (``r = 0``), the closing edge running along the axis.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def _simplify(points: np.ndarray, tol: float) -> np.ndarray:
    """Ramer-Douglas-Peucker simplification of an open polyline ``(K, 2)``; keeps both ends. ``tol`` in metres."""
    n = len(points)
    if n <= 2:
        return points
    keep = np.zeros(n, dtype=bool)
    keep[0] = keep[-1] = True
    stack = [(0, n - 1)]
    while stack:
        i, j = stack.pop()
        if j <= i + 1:
            continue
        a, b = points[i], points[j]
        seg = b - a
        mid = points[i + 1 : j] - a
        length = math.hypot(seg[0], seg[1])
        if length == 0:
            dist = np.hypot(mid[:, 0], mid[:, 1])
        else:
            dist = np.abs(seg[0] * mid[:, 1] - seg[1] * mid[:, 0]) / length
        k = int(np.argmax(dist))
        if dist[k] > tol:
            m = i + 1 + k
            keep[m] = True
            stack.append((i, m))
            stack.append((m, j))
    return points[keep]


def _fillet(points: np.ndarray, radii: np.ndarray, step: float) -> np.ndarray:
    """Replace each vertex with ``radii[i] > 0`` by a circular arc tangent to its two segments.

    The radius shrinks where the adjacent segments are too short (tangent length <= 45% of each).
    """
    out = [points[0]]
    for i in range(1, len(points) - 1):
        p, a, b = points[i], points[i - 1], points[i + 1]
        rho = radii[i]
        u, v = a - p, b - p
        lu, lv = math.hypot(*u), math.hypot(*v)
        if rho <= 0 or lu == 0 or lv == 0:
            out.append(p)
            continue
        u, v = u / lu, v / lv
        cos_t = float(np.clip(u @ v, -1.0, 1.0))
        half = math.acos(cos_t) / 2  # half the interior angle
        if half < 1e-3 or half > math.pi / 2 - 1e-3:  # straight or folded back: nothing to round
            out.append(p)
            continue
        tangent = min(rho / math.tan(half), 0.45 * lu, 0.45 * lv)
        rho = tangent * math.tan(half)
        t1, t2 = p + u * tangent, p + v * tangent
        bis = (u + v) / math.hypot(*(u + v))
        centre = p + bis * (rho / math.sin(half))
        a1 = math.atan2(t1[1] - centre[1], t1[0] - centre[0])
        a2 = math.atan2(t2[1] - centre[1], t2[0] - centre[0])
        sweep = (a2 - a1 + math.pi) % (2 * math.pi) - math.pi
        n = max(2, int(math.ceil(abs(sweep) * rho / step)) + 1)
        ang = a1 + sweep * np.linspace(0.0, 1.0, n)
        out.extend(centre + rho * np.stack([np.cos(ang), np.sin(ang)], axis=1))
    out.append(points[-1])
    return np.asarray(out, dtype=np.float64)


def _segments_cross(poly: np.ndarray) -> bool:
    """True when two non-adjacent edges of the closed polygon ``(M, 2)`` intersect (vectorized, O(M^2))."""
    a, b = poly, np.roll(poly, -1, axis=0)
    m = len(poly)

    def orient(p: np.ndarray, q: np.ndarray, r: np.ndarray) -> np.ndarray:
        return (q[..., 0] - p[..., 0]) * (r[..., 1] - p[..., 1]) - (q[..., 1] - p[..., 1]) * (r[..., 0] - p[..., 0])

    A, B = a[:, None], b[:, None]
    C, D = a[None, :], b[None, :]
    o1, o2 = orient(A, B, C), orient(A, B, D)
    o3, o4 = orient(C, D, A), orient(C, D, B)
    eps = 1e-15
    cross = (o1 * o2 < -eps) & (o3 * o4 < -eps)
    idx = np.arange(m)
    gap = np.abs(idx[:, None] - idx[None, :])
    adjacent = (gap <= 1) | (gap == m - 1)
    return bool(np.any(cross & ~adjacent))


class Outline:
    """Builds a profile polyline in the ``(r, z)`` half-plane, corner by corner (metres).

    ``to(r, z, fillet)`` adds a corner (rounded by ``fillet`` metres when built), ``curve(r, z)`` a sampled smooth
    curve, ``build(tol)`` returns the filleted, simplified ``(M, 2)`` polygon and checks that it is simple.
    """

    def __init__(self, r: float, z: float) -> None:
        self._pts: list[tuple[float, float]] = [(float(r), float(z))]
        self._rad: list[float] = [0.0]

    def to(self, r: float, z: float, fillet: float = 0.0) -> Outline:
        self._pts.append((float(r), float(z)))
        self._rad.append(float(fillet))
        return self

    def curve(self, r: np.ndarray, z: np.ndarray) -> Outline:
        for ri, zi in zip(np.asarray(r, dtype=float), np.asarray(z, dtype=float), strict=True):
            self.to(ri, zi)
        return self

    def set_fillet(self, fillet: float) -> Outline:
        """Round the last added corner by ``fillet`` metres."""
        self._rad[-1] = float(fillet)
        return self

    def build(self, tol: float = 1e-4, step: float = 1e-3) -> np.ndarray:
        """Return the ``(M, 2)`` profile: corners filleted (arcs sampled every ``step`` m), simplified to ``tol`` m.

        Raises ``ValueError`` when a radius is negative or the polygon self-intersects.
        """
        pts = np.asarray(self._pts, dtype=np.float64)
        rad = np.asarray(self._rad, dtype=np.float64)
        # drop consecutive duplicates (keep the larger fillet)
        keep = np.ones(len(pts), dtype=bool)
        keep[1:] = np.any(np.abs(np.diff(pts, axis=0)) > 1e-12, axis=1)
        pts, rad = pts[keep], rad[keep]
        pts = _fillet(pts, rad, step)
        pts = _simplify(pts, tol)
        pts[:, 0] = np.where(np.abs(pts[:, 0]) < 1e-12, 0.0, pts[:, 0])
        if pts[:, 0].min() < 0:
            raise ValueError(f"profile has a negative radius ({pts[:, 0].min():.4g} m)")
        if len(pts) < 3:
            raise ValueError("profile has fewer than 3 vertices")
        if _segments_cross(pts):
            raise ValueError("profile self-intersects")
        return pts


def sample(fn: Callable[[np.ndarray], np.ndarray], z0: float, z1: float, step: float = 1e-3) -> tuple:
    """Sample ``r = fn(z)`` on ``[z0, z1]`` every ~``step`` m (both ends excluded): returns ``(r, z)`` arrays."""
    n = max(2, int(math.ceil(abs(z1 - z0) / step)))
    z = np.linspace(z0, z1, n + 1)[1:-1]
    return fn(z), z


def hollow_profile(
    r_out: Callable[[np.ndarray], np.ndarray],
    height: float,
    wall: float,
    floor: float,
    base_fillet: float,
    inner_fillet: float,
    foot: tuple[float, float] | None = None,
    step: float = 1e-3,
    tol: float = 1e-4,
) -> np.ndarray:
    """Profile of an open container: outer wall ``r_out(z)`` for ``z`` in ``[0, height]``, a rounded rim, an inner
    wall at perpendicular thickness ``wall``, a floor at ``z = floor``; all metres.

    The inner wall is the outer wall moved inwards horizontally by ``wall * sqrt(1 + r_out'(z)^2)`` (first-order
    normal offset, so the wall is ``wall`` thick measured perpendicular to it). ``foot = (r_foot, h_foot)`` adds a
    foot ring: radius ``r_foot`` from ``z = 0`` to ``h_foot``. Raises ``ValueError`` when the cavity closes.
    """
    z = np.linspace(0.0, height, max(8, int(math.ceil(height / step)) + 1))
    r = np.asarray(r_out(z), dtype=np.float64)
    slope = np.gradient(r, z)
    r_in = r - wall * np.sqrt(1.0 + slope**2)
    sel = z >= floor
    if r_in[sel].min() < 0.5 * wall:
        raise ValueError("container cavity closes: wall too thick for the outer profile")
    rim_r = wall / 2
    z_rim = height - rim_r
    o = Outline(0.0, 0.0)
    if foot is not None:
        r_foot, h_foot = foot
        o.to(r_foot, 0.0, fillet=min(base_fillet, 0.4 * h_foot))
        o.to(r_foot, h_foot)
        o.to(float(np.interp(h_foot, z, r)), h_foot, fillet=min(base_fillet, 0.4 * h_foot))
        z_start = h_foot
    else:
        o.to(r[0], 0.0, fillet=base_fillet)
        z_start = 0.0
    up = (z > z_start) & (z < z_rim)
    o.curve(r[up], z[up])
    # rim: half an ellipse over the wall from the outer to the inner wall, top at z = height
    top_out, top_in = float(np.interp(z_rim, z, r)), float(np.interp(z_rim, z, r_in))
    ang = np.linspace(0.0, math.pi, 13)
    o.curve((top_out + top_in) / 2 + (top_out - top_in) / 2 * np.cos(ang), z_rim + rim_r * np.sin(ang))
    down = (z > floor) & (z < z_rim)
    o.curve(r_in[down][::-1], z[down][::-1])
    o.to(float(np.interp(floor, z, r_in)), floor, fillet=inner_fillet)
    o.to(0.0, floor)
    return o.build(tol=tol, step=step)


def cavity_profile(
    r_out: Callable[[np.ndarray], np.ndarray],
    height: float,
    wall: float,
    floor: float,
    inner_fillet: float,
    step: float = 1e-3,
    tol: float = 1e-4,
) -> np.ndarray:
    """Profile of the cavity of :func:`hollow_profile` (same arguments), extended 20 mm above the rim.

    Used to clip attachments (handles) so they never intrude into the cavity.
    """
    z = np.linspace(0.0, height, max(8, int(math.ceil(height / step)) + 1))
    r = np.asarray(r_out(z), dtype=np.float64)
    r_in = r - wall * np.sqrt(1.0 + np.gradient(r, z) ** 2)
    o = Outline(0.0, floor).to(float(np.interp(floor, z, r_in)), floor, fillet=inner_fillet)
    up = z > floor
    o.curve(r_in[up], z[up])
    o.to(float(r_in[-1]), height + 0.02).to(0.0, height + 0.02)
    return o.build(tol=tol, step=step)
