"""Numba kernels behind ``implicit3d.geometry.inside`` (ray crossings) and ``implicit3d.geometry.winding``.

Ray crossings
-------------
Rays are cast from each query point along +w, where ``(u, v, w)`` is a cyclic permutation of ``(x, y, z)`` chosen by
the caller (``axes``). Triangles are bucketed by their ``(u, v)`` bounding box in a uniform 2D grid (CSR layout:
``cell_start (C + 1,)``, ``cell_tris (K,)``); a point only tests the triangles listed in its own cell.

Whether the ray meets a triangle is decided in the projected plane with *symbolic perturbation*: the query point
is moved to ``(u + eps, v + eps**2)`` for an infinitesimal ``eps``, so it never lies on a projected edge or vertex.
For each projected edge the edge function is evaluated with the endpoints in a canonical (lexicographic) order, so
the two triangles sharing an edge compute bit-identical values and disagree only in sign: a ray through a shared
edge is counted by exactly one of its two triangles (no double counting, no misses). When the float64 edge
function is exactly zero the first-order term of the perturbation decides its sign (``-(v_b - v_a)``, or
``u_b - u_a`` for an edge parallel to u); an edge of zero projected length gives sign 0, which rejects the triangle
(it projects to a segment, which the perturbed ray misses). Triangles seen edge-on (vertical faces) are therefore
never counted, and degenerate triangles are harmless. Limits: edge functions are float64, not exact predicates; the
answer is exact whenever they are computed without rounding (e.g. axis-aligned or dyadic coordinates, which covers
rays through box vertices and edges), and otherwise can only go wrong for rays passing within rounding error
(~1e-16 relative) of a mesh vertex.

A triangle that contains the perturbed point counts when its plane is met strictly above the point
(``w_hit > w``). A point exactly on a non-vertical face is hence classified as if moved up by an infinitesimal amount
(on a "floor" it is inside, on a "roof" outside); a point on a face seen edge-on follows the (u, v) perturbation.
Each crossing also carries the sign of the projected triangle's orientation (the common sign of its three edge
functions): the signed sum over a ray is the winding number of a consistently oriented closed mesh (exact under the
same conditions as the count, since it uses the same decisions), the count's parity the parity rule.

Winding number
--------------
Generalized winding number ``w(q) = sum_t solid_angle_t(q) / (4 pi)`` (Jacobson et al. 2013) with the hierarchical
evaluation of Barill et al. 2018: a binary tree over triangles sorted in Morton order of their centroids; each node
stores the area-weighted centroid ``p``, the summed area vector ``N = sum_t A_t n_t`` and a radius ``r`` bounding its
vertices around ``p``. A node farther than ``beta * r`` from the query contributes its dipole term
``N . (p - q) / (4 pi |p - q|^3)``; otherwise its children are visited, and leaves sum exact solid angles
(van Oosterom and Strackee 1983).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from implicit3d.geometry._common_kernels import corner_minus, cross_edges

# ----------------------------------------------------------------------------------------------------------------
# Ray crossings
# ----------------------------------------------------------------------------------------------------------------


@njit(cache=True)
def _cell_range(lo: float, hi: float, origin: float, inv: float, n: int) -> tuple[int, int]:
    a = int(np.floor((lo - origin) * inv))
    b = int(np.floor((hi - origin) * inv))
    a = min(max(a, 0), n - 1)
    b = min(max(b, 0), n - 1)
    return a, b


@njit(cache=True)
def _triangle_cells(tri: np.ndarray, t: int, u0: float, v0: float, inv: float, nu: int, nv: int) -> tuple:
    """Cell index ranges ``(ia, ib, ja, jb)`` (inclusive) covered by the (u, v) bounding box of triangle ``t``."""
    ulo = min(tri[t, 0], min(tri[t, 3], tri[t, 6]))
    uhi = max(tri[t, 0], max(tri[t, 3], tri[t, 6]))
    vlo = min(tri[t, 1], min(tri[t, 4], tri[t, 7]))
    vhi = max(tri[t, 1], max(tri[t, 4], tri[t, 7]))
    ia, ib = _cell_range(ulo, uhi, u0, inv, nu)
    ja, jb = _cell_range(vlo, vhi, v0, inv, nv)
    return ia, ib, ja, jb


@njit(cache=True)
def build_grid(tri: np.ndarray, u0: float, v0: float, inv: float, nu: int, nv: int) -> tuple[np.ndarray, np.ndarray]:
    """Bucket triangles ``tri (F, 10)`` (u v w of the 3 corners, then max w) by their (u, v) bounding box.

    Returns ``cell_start (nu * nv + 1,) int64`` and ``cell_tris (K,) int32`` (CSR; cell ``iu * nv + iv``).
    """
    f = tri.shape[0]
    counts = np.zeros(nu * nv + 1, np.int64)
    for t in range(f):
        ia, ib, ja, jb = _triangle_cells(tri, t, u0, v0, inv, nu, nv)
        for i in range(ia, ib + 1):
            for j in range(ja, jb + 1):
                counts[i * nv + j + 1] += 1
    for c in range(nu * nv):
        counts[c + 1] += counts[c]
    cell_start = counts
    fill = cell_start[:-1].copy()
    cell_tris = np.empty(cell_start[-1], np.int32)
    for t in range(f):
        ia, ib, ja, jb = _triangle_cells(tri, t, u0, v0, inv, nu, nv)
        for i in range(ia, ib + 1):
            for j in range(ja, jb + 1):
                c = i * nv + j
                cell_tris[fill[c]] = t
                fill[c] += 1
    return cell_start, cell_tris


@njit(cache=True, inline="always")
def _edge(au: float, av: float, bu: float, bv: float, pu: float, pv: float) -> tuple[float, int]:
    """Edge function of p against the directed edge a->b (positive: p left of it) and its perturbed sign.

    The value is computed with the endpoints in lexicographic order so that both directions give the same
    magnitude bit for bit; the sign of a zero value comes from the perturbation p + (eps, eps**2).
    """
    flip = 1
    if bu < au or (bu == au and bv < av):
        au, bu = bu, au
        av, bv = bv, av
        flip = -1
    du = bu - au
    dv = bv - av
    e = du * (pv - av) - dv * (pu - au)
    if e == 0.0:
        t = -dv if dv != 0.0 else du
        s = 1 if t > 0.0 else (-1 if t < 0.0 else 0)
    else:
        s = 1 if e > 0.0 else -1
    return e * flip, s * flip


@njit(cache=True, inline="always")
def _crossings(
    tri: np.ndarray, cell_start: np.ndarray, cell_tris: np.ndarray, c: int, pu: float, pv: float, pw: float
) -> tuple[int, int]:
    """Crossings of the +w ray from ``(pu, pv, pw)`` with the triangles of cell ``c``: ``(count, signed sum)``.

    A crossing's sign is the triangle's orientation seen along the ray: +1 when its corners run counter-clockwise
    in (u, v) (its normal points along +w: the ray leaves an outward-oriented solid there), -1 otherwise.
    """
    n = 0
    s = 0
    for k in range(cell_start[c], cell_start[c + 1]):
        t = cell_tris[k]
        if tri[t, 9] <= pw:  # the whole triangle is at or below the point
            continue
        au = tri[t, 0]
        av = tri[t, 1]
        bu = tri[t, 3]
        bv = tri[t, 4]
        cu = tri[t, 6]
        cv = tri[t, 7]
        ec, sc = _edge(au, av, bu, bv, pu, pv)  # opposite corner c
        if sc == 0:
            continue
        ea, sa = _edge(bu, bv, cu, cv, pu, pv)  # opposite corner a
        if sa != sc:
            continue
        eb, sb = _edge(cu, cv, au, av, pu, pv)  # opposite corner b
        if sb != sc:
            continue
        w_hit = (ea * tri[t, 2] + eb * tri[t, 5] + ec * tri[t, 8]) / (ea + eb + ec)
        if w_hit > pw:
            n += 1
            s += sc
    return n, s


@njit(cache=True, inline="always")
def _decide(n: int, s: int, signed: bool) -> bool:
    """Inside from a ray's crossings: non-zero signed sum (winding number) or odd count (parity)."""
    return s != 0 if signed else (n & 1) == 1


@njit(cache=True, parallel=True)
def ray_brute(points: np.ndarray, tri: np.ndarray, signed: bool) -> np.ndarray:
    """Reference: the same crossing test against every triangle (O(N F)); +w ray, points already in (u, v, w)."""
    n = points.shape[0]
    f = tri.shape[0]
    out = np.zeros(n, np.bool_)
    cell_start = np.array([0, f], np.int64)
    cell_tris = np.arange(f).astype(np.int32)
    for i in prange(n):
        n_cross, s_cross = _crossings(tri, cell_start, cell_tris, 0, points[i, 0], points[i, 1], points[i, 2])
        out[i] = _decide(n_cross, s_cross, signed)
    return out


# ----------------------------------------------------------------------------------------------------------------
# Winding number
# ----------------------------------------------------------------------------------------------------------------

_FOUR_PI = 4.0 * np.pi


@njit(cache=True, inline="always")
def _solid_angle(tri: np.ndarray, t: int, qx: float, qy: float, qz: float) -> float:
    ax, ay, az = corner_minus(tri, t, 0, qx, qy, qz)
    bx, by, bz = corner_minus(tri, t, 1, qx, qy, qz)
    cx, cy, cz = corner_minus(tri, t, 2, qx, qy, qz)
    la = np.sqrt(ax * ax + ay * ay + az * az)
    lb = np.sqrt(bx * bx + by * by + bz * bz)
    lc = np.sqrt(cx * cx + cy * cy + cz * cz)
    det = ax * (by * cz - bz * cy) - ay * (bx * cz - bz * cx) + az * (bx * cy - by * cx)
    den = la * lb * lc + (ax * bx + ay * by + az * bz) * lc + (ax * cx + ay * cy + az * cz) * lb
    den += (bx * cx + by * cy + bz * cz) * la
    return 2.0 * np.arctan2(det, den)


@njit(cache=True, parallel=True)
def winding_brute(points: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Exact generalized winding number, O(N F). ``tri (F, >=9)`` corners xyz; returns ``(N,) float64``."""
    n = points.shape[0]
    out = np.empty(n)
    for i in prange(n):
        s = 0.0
        for t in range(tri.shape[0]):
            s += _solid_angle(tri, t, points[i, 0], points[i, 1], points[i, 2])
        out[i] = s / _FOUR_PI
    return out


@njit(cache=True)
def build_dipole_tree(tri: np.ndarray, leaf_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Tree over ``tri (F, 9)`` (already in Morton order): ranges split in the middle.

    Returns ``node_int (M, 4) int64`` (start, end, left, right; left == -1 for a leaf) and ``node_f (M, 7)``
    (centroid xyz, area vector xyz, radius). Children always have larger ids than their parent.
    """
    f = tri.shape[0]
    cap = 2 * (f // max(leaf_size // 2, 1) + 1) + 1
    node_int = np.full((cap, 4), -1, np.int64)
    stack = np.empty(128, np.int64)
    node_int[0, 0] = 0
    node_int[0, 1] = f
    m = 1
    top = 0
    stack[0] = 0
    while top >= 0:
        k = stack[top]
        top -= 1
        s = node_int[k, 0]
        e = node_int[k, 1]
        if e - s > leaf_size:
            mid = (s + e) // 2
            node_int[m, 0] = s
            node_int[m, 1] = mid
            node_int[m + 1, 0] = mid
            node_int[m + 1, 1] = e
            node_int[k, 2] = m
            node_int[k, 3] = m + 1
            top += 1
            stack[top] = m
            top += 1
            stack[top] = m + 1
            m += 2
    node_int = node_int[:m].copy()
    node_f = np.zeros((m, 7))
    area = np.zeros(m)
    for k in range(m - 1, -1, -1):  # children before parents
        lft = node_int[k, 2]
        rgt = node_int[k, 3]
        if lft < 0:
            s = node_int[k, 0]
            e = node_int[k, 1]
            a_sum = 0.0
            c = np.zeros(3)
            g = np.zeros(3)
            for t in range(s, e):
                nx, ny, nz = cross_edges(
                    tri[t, 0], tri[t, 1], tri[t, 2], tri[t, 3], tri[t, 4], tri[t, 5], tri[t, 6], tri[t, 7], tri[t, 8]
                )
                gx = 0.5 * nx
                gy = 0.5 * ny
                gz = 0.5 * nz
                a = np.sqrt(gx * gx + gy * gy + gz * gz)
                g[0] += gx
                g[1] += gy
                g[2] += gz
                a_sum += a
                for j in range(3):
                    c[j] += a * (tri[t, j] + tri[t, 3 + j] + tri[t, 6 + j]) / 3.0
            for j in range(3):
                c[j] = c[j] / a_sum if a_sum > 0.0 else tri[s, j]
            r2 = 0.0
            for t in range(s, e):
                for v in range(3):
                    dx = tri[t, 3 * v] - c[0]
                    dy = tri[t, 3 * v + 1] - c[1]
                    dz = tri[t, 3 * v + 2] - c[2]
                    r2 = max(r2, dx * dx + dy * dy + dz * dz)
            for j in range(3):
                node_f[k, j] = c[j]
                node_f[k, 3 + j] = g[j]
            node_f[k, 6] = np.sqrt(r2)
            area[k] = a_sum
        else:
            al = area[lft]
            ar = area[rgt]
            a = al + ar
            area[k] = a
            for j in range(3):
                if a > 0.0:
                    node_f[k, j] = (al * node_f[lft, j] + ar * node_f[rgt, j]) / a
                else:
                    node_f[k, j] = 0.5 * (node_f[lft, j] + node_f[rgt, j])
                node_f[k, 3 + j] = node_f[lft, 3 + j] + node_f[rgt, 3 + j]
            r = 0.0
            for ch in (lft, rgt):
                dx = node_f[ch, 0] - node_f[k, 0]
                dy = node_f[ch, 1] - node_f[k, 1]
                dz = node_f[ch, 2] - node_f[k, 2]
                r = max(r, np.sqrt(dx * dx + dy * dy + dz * dz) + node_f[ch, 6])
            node_f[k, 6] = r
    return node_int, node_f


@njit(cache=True, parallel=True)
def winding_tree(
    points: np.ndarray, tri: np.ndarray, node_int: np.ndarray, node_f: np.ndarray, beta: float
) -> np.ndarray:
    """Hierarchical (dipole far field) winding number of each point; returns ``(N,) float64``."""
    n = points.shape[0]
    out = np.empty(n)
    for i in prange(n):
        qx = points[i, 0]
        qy = points[i, 1]
        qz = points[i, 2]
        stack = np.empty(128, np.int64)
        top = 0
        stack[0] = 0
        s = 0.0
        while top >= 0:
            k = stack[top]
            top -= 1
            dx = node_f[k, 0] - qx
            dy = node_f[k, 1] - qy
            dz = node_f[k, 2] - qz
            d2 = dx * dx + dy * dy + dz * dz
            r = beta * node_f[k, 6]
            if d2 > r * r:
                d = np.sqrt(d2)
                s += (node_f[k, 3] * dx + node_f[k, 4] * dy + node_f[k, 5] * dz) / (d2 * d)
            elif node_int[k, 2] < 0:
                for t in range(node_int[k, 0], node_int[k, 1]):
                    s += _solid_angle(tri, t, qx, qy, qz)
            else:
                top += 1
                stack[top] = node_int[k, 2]
                top += 1
                stack[top] = node_int[k, 3]
        out[i] = s / _FOUR_PI
    return out


# ----------------------------------------------------------------------------------------------------------------
# Preparation helpers
# ----------------------------------------------------------------------------------------------------------------


@njit(cache=True, parallel=True)
def prepare_triangles(vertices: np.ndarray, faces: np.ndarray, axes: np.ndarray) -> tuple[np.ndarray, float]:
    """Corners of ``faces`` in (u, v, w) order plus max w: ``tri (F, 10)``; and the mean max(du, dv) extent."""
    f = faces.shape[0]
    tri = np.empty((f, 10))
    ext = np.empty(f)
    for t in prange(f):
        for j in range(3):
            for k in range(3):
                tri[t, 3 * j + k] = vertices[faces[t, j], axes[k]]
        tri[t, 9] = max(tri[t, 2], max(tri[t, 5], tri[t, 8]))
        du = max(tri[t, 0], max(tri[t, 3], tri[t, 6])) - min(tri[t, 0], min(tri[t, 3], tri[t, 6]))
        dv = max(tri[t, 1], max(tri[t, 4], tri[t, 7])) - min(tri[t, 1], min(tri[t, 4], tri[t, 7]))
        ext[t] = max(du, dv)
    return tri, ext.mean()


@njit(cache=True)
def edge_closure(faces: np.ndarray, n_vertices: int) -> tuple[bool, bool]:
    """``(closed, oriented)`` of ``faces (F, 3)`` (self-loop edges skipped; both False without any edge).

    closed: every undirected edge occurs an even number of times. oriented: every edge is traversed as often in one
    direction (a -> b) as in the other (b -> a), so the faces bound a 3-chain and the signed ray crossing count is
    the winding number; oriented implies closed.
    """
    f = faces.shape[0]
    count = np.zeros(n_vertices + 1, np.int64)
    n_edges = 0
    for t in range(f):
        for j in range(3):
            a = faces[t, j]
            b = faces[t, (j + 1) % 3]
            if a != b:
                count[min(a, b) + 1] += 1
                n_edges += 1
    if n_edges == 0:
        return False, False
    for i in range(n_vertices):
        count[i + 1] += count[i]
    fill = count[:-1].copy()
    other = np.empty(n_edges, np.int64)  # 2 * larger end + (1 if the edge runs from the larger end)
    for t in range(f):
        for j in range(3):
            a = faces[t, j]
            b = faces[t, (j + 1) % 3]
            if a != b:
                lo = min(a, b)
                other[fill[lo]] = 2 * max(a, b) + (1 if a > b else 0)
                fill[lo] += 1
    oriented = True
    for i in range(n_vertices):
        s = count[i]
        e = count[i + 1]
        for k in range(s + 1, e):  # insertion sort of the (short) neighbour list
            x = other[k]
            m = k - 1
            while m >= s and other[m] > x:
                other[m + 1] = other[m]
                m -= 1
            other[m + 1] = x
        k = s
        while k < e:
            m = k
            backward = 0
            while m < e and other[m] >> 1 == other[k] >> 1:
                backward += other[m] & 1
                m += 1
            if (m - k) % 2 == 1:
                return False, False
            if 2 * backward != m - k:
                oriented = False
            k = m
    return True, oriented


@njit(cache=True, parallel=True)
def ray_query(
    points: np.ndarray,
    axes: np.ndarray,
    tri: np.ndarray,
    cell_start: np.ndarray,
    cell_tris: np.ndarray,
    u0: float,
    v0: float,
    inv: float,
    nu: int,
    nv: int,
    bounds: np.ndarray,
    signed: bool,
) -> np.ndarray:
    """Inside test by the +w ray from each point. ``points (N, 3) float64``; returns ``(N,) bool``.

    ``signed``: inside when the signed crossing count (the winding number of a consistently oriented closed mesh) is
    non-zero; else when the number of crossings is odd (parity).
    ``axes (3,) int64``: the columns of ``points`` that are u, v, w. ``bounds (6,)``: u, v, w min then max of the mesh.
    Points are counting-sorted by cell first so that neighbouring work items share their triangles in cache.
    """
    n = points.shape[0]
    out = np.zeros(n, np.bool_)
    iu = axes[0]
    iv = axes[1]
    iw = axes[2]
    cell = np.empty(n, np.int64)
    for i in prange(n):
        pu = points[i, iu]
        pv = points[i, iv]
        pw = points[i, iw]
        if pu < bounds[0] or pv < bounds[1] or pw >= bounds[5] or pu >= bounds[3] or pv >= bounds[4]:
            cell[i] = -1  # (u+eps, v+eps^2) is outside the projected bounds or the ray starts above everything
        else:
            a = min(max(int(np.floor((pu - u0) * inv)), 0), nu - 1)
            b = min(max(int(np.floor((pv - v0) * inv)), 0), nv - 1)
            c = a * nv + b
            cell[i] = c if cell_start[c + 1] > cell_start[c] else -1
    nc = nu * nv
    start = np.zeros(nc + 1, np.int64)
    for i in range(n):
        if cell[i] >= 0:
            start[cell[i] + 1] += 1
    for c in range(nc):
        start[c + 1] += start[c]
    m = start[nc]
    order = np.empty(m, np.int64)
    fill = start[:-1].copy()
    for i in range(n):
        c = cell[i]
        if c >= 0:
            order[fill[c]] = i
            fill[c] += 1
    for k in prange(m):
        i = order[k]
        n_cross, s_cross = _crossings(tri, cell_start, cell_tris, cell[i], points[i, iu], points[i, iv], points[i, iw])
        out[i] = _decide(n_cross, s_cross, signed)
    return out
