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

from types import SimpleNamespace

import numpy as np
from numba import njit, prange

from implicit3d.geometry._common_kernels import corner_minus, cross_edges, serial_twin

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
        sc = _cross(tri[t, 0], tri[t, 1], tri[t, 2], tri[t, 3], tri[t, 4], tri[t, 5], tri[t, 6], tri[t, 7], tri[t, 8],
                    pu, pv, pw)
        n += sc != 0
        s += sc
    return n, s


@njit(cache=True, inline="always")
def _cross(au, av, aw, bu, bv, bw, cu, cv, cw, pu, pv, pw) -> int:  # noqa: ANN001
    """Signed crossing of the +w ray from p with triangle abc (corners in (u, v, w)): its orientation in (u, v)
    (+1 counter-clockwise) when the perturbed ray meets it strictly above p, else 0."""
    return _cross_below(au, av, aw, bu, bv, bw, cu, cv, cw, pu, pv, pw, np.inf)


@njit(cache=True, inline="always")
def _cross_below(au, av, aw, bu, bv, bw, cu, cv, cw, pu, pv, pw, top) -> int:  # noqa: ANN001
    """:func:`_cross` of the segment from p up to height ``top`` (``inf``: the whole ray): the crossing counts only
    strictly between ``pw`` and ``top``. Callers put ``top`` where no face comes near (inside a surface-free
    voxel), so the upper comparison never decides a close call."""
    ec, sc = _edge(au, av, bu, bv, pu, pv)  # opposite corner c
    if sc == 0:
        return 0
    ea, sa = _edge(bu, bv, cu, cv, pu, pv)  # opposite corner a
    if sa != sc:
        return 0
    eb, sb = _edge(cu, cv, au, av, pu, pv)  # opposite corner b
    if sb != sc:
        return 0
    w_hit = (ea * aw + eb * bw + ec * cw) / (ea + eb + ec)
    return sc if pw < w_hit < top else 0


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


_MIX1 = np.uint64(0xBF58476D1CE4E5B9)  # splitmix64 finalizer
_MIX2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_NEG_ZERO = np.int64(-0x8000000000000000)  # the bits of -0.0


@njit(cache=True, inline="always")
def _mix(z: np.uint64) -> np.uint64:
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, parallel=True)
def vertex_hashes(v: np.ndarray, bits: np.ndarray, n_chunks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Four pseudo-random 64-bit values ``(V, 4) uint64`` per vertex, hashed from its exact coordinates (``bits (V, 3)
    int64``: ``v (V, 3) float64`` viewed as integers; ``-0.0`` counts as ``0.0``), and the bounds ``lo, hi (3,)`` of
    ``v`` (x, y, z), in ``n_chunks`` parallel chunks. The hashes feed :func:`edge_closure`."""
    nv = bits.shape[0]
    hv = np.empty((nv, 4), np.uint64)
    n_chunks = max(1, min(n_chunks, nv))
    per = (nv + n_chunks - 1) // n_chunks
    box = np.empty((n_chunks, 6))
    for ch in prange(n_chunks):
        lo0 = lo1 = lo2 = np.inf
        hi0 = hi1 = hi2 = -np.inf
        for i in range(ch * per, min(nv, (ch + 1) * per)):
            z = _GOLDEN
            for k in range(3):
                b = bits[i, k]
                z = _mix(z ^ np.uint64(0 if b == _NEG_ZERO else b))
            for s in range(4):
                z = _mix(z + _GOLDEN)
                hv[i, s] = z
            lo0 = min(lo0, v[i, 0])
            lo1 = min(lo1, v[i, 1])
            lo2 = min(lo2, v[i, 2])
            hi0 = max(hi0, v[i, 0])
            hi1 = max(hi1, v[i, 1])
            hi2 = max(hi2, v[i, 2])
        box[ch, 0] = lo0
        box[ch, 1] = lo1
        box[ch, 2] = lo2
        box[ch, 3] = hi0
        box[ch, 4] = hi1
        box[ch, 5] = hi2
    lo = np.full(3, np.inf)
    hi = np.full(3, -np.inf)
    for ch in range(n_chunks):
        for k in range(3):
            lo[k] = min(lo[k], box[ch, k])
            hi[k] = max(hi[k], box[ch, 3 + k])
    return hv, lo, hi


@njit(cache=True, parallel=True)
def edge_closure(hv: np.ndarray, f: np.ndarray, n_chunks: int) -> tuple[bool, bool]:
    """``(closed, oriented)`` of the faces ``f (F, 3)`` from their vertex hashes ``hv`` (:func:`vertex_hashes`), in one
    pass over the faces in ``n_chunks`` parallel chunks (any number gives the same answer).

    closed: every undirected edge occurs an even number of times; oriented: closed, and every edge is traversed as
    often from a to b as from b to a; vertices matched by exact coordinates, edges between equal coordinates skipped,
    ``(False, False)`` without any other edge. How: over the edges (a, b) of all faces, modulo 2**64, the XOR of the
    symmetric ``g_a h_b + g_b h_a`` (and of the same with ``g', h'``: the four hashes) cancels for edges that occur an
    even number of times, and the sum of the antisymmetric ``g_a h_b - g_b h_a`` (and with ``g', h'``) cancels for
    edges traversed as often both ways. A mesh whose edges all match is therefore always reported closed (and
    oriented); an unmatched edge goes unnoticed only when both independent 64-bit checks vanish by chance, about
    2**-120 per mesh (the tests compare with an exact edge count).
    """
    nf = f.shape[0]
    n_chunks = max(1, min(n_chunks, nf))
    per = (nf + n_chunks - 1) // n_chunks
    acc = np.zeros((n_chunks, 5), np.uint64)  # xor, xor, sum, sum, edges
    for ch in prange(n_chunks):
        x0 = np.uint64(0)
        x1 = np.uint64(0)
        d0 = np.uint64(0)
        d1 = np.uint64(0)
        ne = np.uint64(0)
        for t in range(ch * per, min(nf, (ch + 1) * per)):
            # the three corners' hashes, loaded once
            c0 = f[t, 0]
            c1 = f[t, 1]
            c2 = f[t, 2]
            g = (hv[c0, 0], hv[c1, 0], hv[c2, 0])
            h = (hv[c0, 1], hv[c1, 1], hv[c2, 1])
            g2 = (hv[c0, 2], hv[c1, 2], hv[c2, 2])
            h2 = (hv[c0, 3], hv[c1, 3], hv[c2, 3])
            for j in range(3):
                a = j
                b = (j + 1) % 3
                if g[a] == g[b] and g2[a] == g2[b]:  # same coordinates (or a 128-bit collision)
                    continue
                ne += np.uint64(1)
                p0 = g[a] * h[b]
                q0 = g[b] * h[a]
                p1 = g2[a] * h2[b]
                q1 = g2[b] * h2[a]
                x0 ^= p0 + q0
                x1 ^= p1 + q1
                d0 += p0 - q0
                d1 += p1 - q1
        acc[ch, 0] = x0
        acc[ch, 1] = x1
        acc[ch, 2] = d0
        acc[ch, 3] = d1
        acc[ch, 4] = ne
    x0 = np.uint64(0)
    x1 = np.uint64(0)
    d0 = np.uint64(0)
    d1 = np.uint64(0)
    ne = np.uint64(0)
    for ch in range(n_chunks):
        x0 ^= acc[ch, 0]
        x1 ^= acc[ch, 1]
        d0 += acc[ch, 2]
        d1 += acc[ch, 3]
        ne += acc[ch, 4]
    if ne == 0:
        return False, False
    closed = x0 == 0 and x1 == 0
    return closed, closed and d0 == 0 and d1 == 0


@njit(cache=True, inline="always")
def _ray_cell(
    cell_start: np.ndarray, u0: float, v0: float, inv: float, nu: int, nv: int, bounds: np.ndarray,
    pu: float, pv: float, pw: float,
) -> int:
    """Grid cell whose triangles the +w ray from ``(pu, pv, pw)`` must test; -1 when it can meet none."""
    if pu < bounds[0] or pv < bounds[1] or pw >= bounds[5] or pu >= bounds[3] or pv >= bounds[4]:
        return -1  # (u+eps, v+eps^2) is outside the projected bounds or the ray starts above everything
    a = min(max(int(np.floor((pu - u0) * inv)), 0), nu - 1)
    b = min(max(int(np.floor((pv - v0) * inv)), 0), nv - 1)
    c = a * nv + b
    return c if cell_start[c + 1] > cell_start[c] else -1


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
        cell[i] = _ray_cell(cell_start, u0, v0, inv, nu, nv, bounds, pu, pv, pw)
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


# ----------------------------------------------------------------------------------------------------------------
# Point-grid sweep and voxel shortcut (``inside`` for closed meshes)
# ----------------------------------------------------------------------------------------------------------------
# The sweep buckets the *query points* by (u, v) in a uniform grid and loops over the triangles, each testing the
# points of the cells its (u, v) bounding box covers, with the same crossing decisions as ``_crossings`` (so the
# same answers as ``ray_query``); it needs no per-mesh structure beyond the point buckets, which pays when the
# points are few or, with the voxel shortcut, when most of them never need a ray.
#
# Voxel shortcut: a closed voxel that no triangle touches lies in one connected region off the surface, where the
# winding number (and, for a closed mesh, the crossing parity) is constant: one ray from its centre answers for every
# point in it. Points are put in voxels by floor((x - lo) * inv) clamped to the grid; a voxel counts as untouched only
# when the separating-axis test separates every triangle from the voxel grown by a margin far above that formula's
# rounding, so the points that fall in it and its centre are off the surface. Consecutive untouched voxels along w
# share one region too (a run), so one query per run is enough, and it need not be a whole ray: the winding number
# (or crossing count) at a run's top centre is that of the run above plus the signed crossings of the vertical
# segment between them, which passes through touched voxels only. Each query is such a segment -- from a run's top
# centre, or from a point in a touched voxel, up to the centre height of the lowest voxel of the run above (whole
# ray for the top run) -- and the answers are chained down each column. A segment ends inside a surface-free voxel,
# so its upper end never decides a close call; the crossing decisions are the whole rays' own.

VOXEL_SURFACE = 2  # voxel state: 0 untouched, 2 touched by a triangle (its points need their own segment)


@njit(cache=True, inline="always")
def _index(x: float, lo: float, inv: float, n: int) -> int:
    return min(max(int(np.floor((x - lo) * inv)), 0), n - 1)


@njit(cache=True, inline="always")
def _corner(v: np.ndarray, f: np.ndarray, axes: np.ndarray, t: int, j: int) -> tuple[float, float, float]:
    i = f[t, j]
    return v[i, axes[0]], v[i, axes[1]], v[i, axes[2]]


@njit(cache=True)
def bounds(v: np.ndarray, axes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min and max ``(3,)`` of the columns ``axes`` of ``v (V, 3)`` (numpy's axis-0 reductions of an (N, 3) array
    are ~25x slower)."""
    lo = np.full(3, np.inf)
    hi = np.full(3, -np.inf)
    for i in range(v.shape[0]):
        for k in range(3):
            x = v[i, axes[k]]
            lo[k] = min(lo[k], x)
            hi[k] = max(hi[k], x)
    return lo, hi


@njit(cache=True)
def median_extent(v: np.ndarray, f: np.ndarray, axes: np.ndarray, n_sample: int) -> float:
    """Median over about ``n_sample`` faces (every ``F // n_sample``-th one; all of them when fewer) of the larger
    (u, v) side of their bounding box (u, v = columns ``axes[:2]``). A cell-size statistic only: it sets how fine the
    grids are, never an answer."""
    step = max(1, f.shape[0] // max(n_sample, 1))
    m = (f.shape[0] + step - 1) // step
    ext = np.empty(m)
    for s in range(m):
        t = s * step
        au, av, _ = _corner(v, f, axes, t, 0)
        bu, bv, _ = _corner(v, f, axes, t, 1)
        cu, cv, _ = _corner(v, f, axes, t, 2)
        ext[s] = max(max(au, max(bu, cu)) - min(au, min(bu, cu)), max(av, max(bv, cv)) - min(av, min(bv, cv)))
    return np.median(ext)


@njit(cache=True)
def _sweep_faces(
    t0: int, t1: int, v: np.ndarray, f: np.ndarray, axes: np.ndarray, u0: float, v0: float, inv: float, nu: int,
    nv: int, start: np.ndarray, su: np.ndarray, sv: np.ndarray, sw: np.ndarray, st: np.ndarray, bounded: bool,
    cnt: np.ndarray, sgn: np.ndarray,
) -> None:
    """The faces ``t0:t1`` of :func:`sweep_query` against its queries in cell order (``start``, ``su, sv, sw`` and,
    when ``bounded``, the segments' tops ``st``; else whole rays): adds each crossing to ``cnt`` and its sign to
    ``sgn`` ``(Q,) int32``. A function of its own, not the body of the ``prange`` loop: compiled there, the same
    loop ran ~1.8x slower."""
    for t in range(t0, t1):
        au, av, aw = _corner(v, f, axes, t, 0)
        bu, bv, bw = _corner(v, f, axes, t, 1)
        cu, cv, cw = _corner(v, f, axes, t, 2)
        wmax = max(aw, max(bw, cw))
        wmin = min(aw, min(bw, cw))
        ia = _index(min(au, min(bu, cu)), u0, inv, nu)
        ib = _index(max(au, max(bu, cu)), u0, inv, nu)
        ja = _index(min(av, min(bv, cv)), v0, inv, nv)
        jb = _index(max(av, max(bv, cv)), v0, inv, nv)
        if bounded:
            for ci in range(ia, ib + 1):
                for k in range(start[ci * nv + ja], start[ci * nv + jb + 1]):
                    if wmax <= sw[k] or wmin >= st[k]:  # the whole triangle is below the point or above the segment
                        continue
                    sc = _cross_below(au, av, aw, bu, bv, bw, cu, cv, cw, su[k], sv[k], sw[k], st[k])
                    cnt[k] += sc != 0
                    sgn[k] += sc
        else:
            for ci in range(ia, ib + 1):
                for k in range(start[ci * nv + ja], start[ci * nv + jb + 1]):
                    if wmax <= sw[k]:  # the whole triangle is at or below the point
                        continue
                    sc = _cross(au, av, aw, bu, bv, bw, cu, cv, cw, su[k], sv[k], sw[k])
                    cnt[k] += sc != 0
                    sgn[k] += sc


SWEEP_PARALLEL_NS = 150_000.0  # estimated one-thread cost of a sweep's face loop above which it runs on all threads
# (waking them costs ~40-60 microseconds on an idle 2-core machine with passive waiting)
SWEEP_FACE_NS = 12.0  # measured per face (its corners and cell range) ...
SWEEP_CANDIDATE_NS = 10.0  # ... and per query in a face's cells (on pybullet's bunny and duck, a 2-core AMD EPYC)
_SWEEP_SAMPLE = 64  # faces sampled for the estimate


@njit(cache=True)
def _sweep_cost(
    v: np.ndarray, f: np.ndarray, axes: np.ndarray, u0: float, v0: float, inv: float, nu: int, nv: int,
    start: np.ndarray,
) -> float:
    """Estimated one-thread time (ns) of :func:`_sweep_faces` over all faces: the queries in the cells of about
    ``_SWEEP_SAMPLE`` evenly spaced faces, scaled to all of them. Decides threads only, never an answer."""
    n_faces = f.shape[0]
    step = max(1, n_faces // _SWEEP_SAMPLE)
    sampled = 0
    candidates = 0
    for t in range(0, n_faces, step):
        au, av, _ = _corner(v, f, axes, t, 0)
        bu, bv, _ = _corner(v, f, axes, t, 1)
        cu, cv, _ = _corner(v, f, axes, t, 2)
        ia = _index(min(au, min(bu, cu)), u0, inv, nu)
        ib = _index(max(au, max(bu, cu)), u0, inv, nu)
        ja = _index(min(av, min(bv, cv)), v0, inv, nv)
        jb = _index(max(av, max(bv, cv)), v0, inv, nv)
        for ci in range(ia, ib + 1):
            candidates += start[ci * nv + jb + 1] - start[ci * nv + ja]
        sampled += 1
    return n_faces * (SWEEP_FACE_NS + SWEEP_CANDIDATE_NS * candidates / max(sampled, 1))


@njit(cache=True, parallel=True)
def _sweep_chunks(
    per: int, v: np.ndarray, f: np.ndarray, axes: np.ndarray, u0: float, v0: float, inv: float, nu: int,
    nv: int, start: np.ndarray, su: np.ndarray, sv: np.ndarray, sw: np.ndarray, st: np.ndarray, bounded: bool,
    cnt: np.ndarray, sgn: np.ndarray,
) -> None:
    """:func:`_sweep_faces` of the faces split in ``cnt.shape[0]`` parallel work items of ``per`` faces, each with
    its row of the counters ``cnt, sgn (chunks, Q)``."""
    for ch in prange(cnt.shape[0]):
        _sweep_faces(ch * per, min(f.shape[0], (ch + 1) * per), v, f, axes, u0, v0, inv, nu, nv, start, su, sv, sw,
                     st, bounded, cnt[ch], sgn[ch])


@njit(cache=True, parallel=True)
def sweep_query(
    extra: np.ndarray, extra_top: np.ndarray, points: np.ndarray, select: np.ndarray, point_top: np.ndarray,
    every: bool, v: np.ndarray, f: np.ndarray, axes: np.ndarray, h: float, signed: bool, n_chunks: int,
) -> np.ndarray:
    """Crossings of the faces ``v[f]`` by the +w segments from the queries ``extra (R, 3)`` up to the heights
    ``extra_top (R,)``, followed by those from ``points[select]`` (``select (M,) int64``; every row of
    ``points (N, 3)`` when ``every``) up to ``point_top (M,)``; an empty top array means ``inf`` for all (whole
    rays). Columns ``axes`` are u, v, w; ``(u, v)`` cells of size ``h`` (> 0) over the queries. Returns ``(Q,)
    int32`` in query order: the signed crossing sum (``signed``) or the crossing count, so that a whole ray's
    :func:`_decide` gives :func:`ray_query`'s answer. The faces are split in ``n_chunks`` parallel work items, each
    with its own ``(Q,)`` counters, or run on this thread when :func:`_sweep_cost` estimates less than
    ``SWEEP_PARALLEL_NS``."""
    r = extra.shape[0]
    m = points.shape[0] if every else select.shape[0]
    q = r + m
    out = np.zeros(q, np.int32)
    if q == 0:
        return out
    bounded = extra_top.shape[0] > 0 or point_top.shape[0] > 0  # else whole rays: no tops to carry
    pu = np.empty(q)
    pv = np.empty(q)
    pw = np.empty(q)
    pt = np.full(q if bounded else 0, np.inf)
    for i in prange(r):
        pu[i] = extra[i, axes[0]]
        pv[i] = extra[i, axes[1]]
        pw[i] = extra[i, axes[2]]
    for i in prange(extra_top.shape[0]):
        pt[i] = extra_top[i]
    if every:
        for i in prange(m):
            pu[r + i] = points[i, axes[0]]
            pv[r + i] = points[i, axes[1]]
            pw[r + i] = points[i, axes[2]]
    else:
        for i in prange(m):
            j = select[i]
            pu[r + i] = points[j, axes[0]]
            pv[r + i] = points[j, axes[1]]
            pw[r + i] = points[j, axes[2]]
    for i in prange(point_top.shape[0]):
        pt[r + i] = point_top[i]
    u0 = pu.min()
    v0 = pv.min()
    inv = 1.0 / h
    nu = min(int((pu.max() - u0) * inv) + 1, 1 << 12)
    nv = min(int((pv.max() - v0) * inv) + 1, 1 << 12)
    start = np.zeros(nu * nv + 1, np.int64)
    cell = np.empty(q, np.int64)
    for i in range(q):
        c = _index(pu[i], u0, inv, nu) * nv + _index(pv[i], v0, inv, nv)
        cell[i] = c
        start[c + 1] += 1
    for c in range(nu * nv):
        start[c + 1] += start[c]
    fill = start[:-1].copy()
    su = np.empty(q)  # the points in cell order, u v w and top contiguous
    sv = np.empty(q)
    sw = np.empty(q)
    order = np.empty(q, np.int64)
    for i in range(q):
        k = fill[cell[i]]
        fill[cell[i]] += 1
        order[k] = i
        su[k] = pu[i]
        sv[k] = pv[i]
        sw[k] = pw[i]
    st = np.empty(pt.shape[0])
    for k in prange(pt.shape[0]):
        st[k] = pt[order[k]]
    nchunk = max(1, min(f.shape[0], n_chunks))
    if nchunk > 1 and _sweep_cost(v, f, axes, u0, v0, inv, nu, nv, start) < SWEEP_PARALLEL_NS:
        nchunk = 1  # waking the threads would cost more than they save
    cnt = np.zeros((nchunk, q), np.int32)
    sgn = np.zeros((nchunk, q), np.int32)
    per = (f.shape[0] + nchunk - 1) // nchunk
    if nchunk == 1:
        _sweep_faces(0, f.shape[0], v, f, axes, u0, v0, inv, nu, nv, start, su, sv, sw, st, bounded, cnt[0], sgn[0])
    else:
        _sweep_chunks(per, v, f, axes, u0, v0, inv, nu, nv, start, su, sv, sw, st, bounded, cnt, sgn)
    for k in prange(q):
        total = 0
        for ch in range(nchunk):
            total += sgn[ch, k] if signed else cnt[ch, k]
        out[order[k]] = total
    return out


VOXEL_SAT_MIN = 3  # faces whose bounding box spans fewer voxels mark all of them (the triangle nearly always
# meets each); larger ones test every voxel by the separating-axis theorem


@njit(cache=True, inline="always")
def _sat_axes(
    ax: float, ay: float, az: float, bx: float, by: float, bz: float, cx: float, cy: float, cz: float, e: float,
    out: np.ndarray,
) -> None:
    """Four candidate separating axes of a triangle and a cube of half-size ``e``: the triangle's normal and the
    cross products of its edges with the coordinate axis nearest that normal (the edges' normals in the projection
    where the triangle looks largest). Row ``m`` of ``out (4, 5)`` gets the axis and the interval ``[lo, hi]`` that
    the cube's centre must project into for the two to meet along it (the triangle's projection grown by the cube's
    radius along that axis). A subset of the thirteen axes of the exact test: never separates a cube that the
    triangle meets."""
    fx, fy, fz = bx - ax, by - ay, bz - az
    gx, gy, gz = cx - bx, cy - by, cz - bz
    hx, hy, hz = ax - cx, ay - cy, az - cz
    nx, ny, nz = fy * gz - fz * gy, fz * gx - fx * gz, fx * gy - fy * gx
    out[0, 0], out[0, 1], out[0, 2] = nx, ny, nz
    if abs(nz) >= abs(nx) and abs(nz) >= abs(ny):  # z cross edge = (-ey, ex, 0)
        out[1, 0], out[1, 1], out[1, 2] = -fy, fx, 0.0
        out[2, 0], out[2, 1], out[2, 2] = -gy, gx, 0.0
        out[3, 0], out[3, 1], out[3, 2] = -hy, hx, 0.0
    elif abs(ny) >= abs(nx):  # y cross edge = (ez, 0, -ex)
        out[1, 0], out[1, 1], out[1, 2] = fz, 0.0, -fx
        out[2, 0], out[2, 1], out[2, 2] = gz, 0.0, -gx
        out[3, 0], out[3, 1], out[3, 2] = hz, 0.0, -hx
    else:  # x cross edge = (0, -ez, ey)
        out[1, 0], out[1, 1], out[1, 2] = 0.0, -fz, fy
        out[2, 0], out[2, 1], out[2, 2] = 0.0, -gz, gy
        out[3, 0], out[3, 1], out[3, 2] = 0.0, -hz, hy
    for m in range(4):
        px, py, pz = out[m, 0], out[m, 1], out[m, 2]
        p0 = px * ax + py * ay + pz * az
        p1 = px * bx + py * by + pz * bz
        p2 = px * cx + py * cy + pz * cz
        r = e * (abs(px) + abs(py) + abs(pz))
        out[m, 3] = min(p0, min(p1, p2)) - r
        out[m, 4] = max(p0, max(p1, p2)) + r


@njit(cache=True, inline="always")
def _sat_meets(axes: np.ndarray, x: float, y: float, z: float) -> bool:
    """True when no axis of :func:`_sat_axes`' ``axes`` separates the cube centred at ``(x, y, z)``."""
    for m in range(4):
        p = axes[m, 0] * x + axes[m, 1] * y + axes[m, 2] * z
        if p < axes[m, 3] or p > axes[m, 4]:
            return False
    return True


@njit(cache=True, parallel=True)
def voxel_mark(
    v: np.ndarray, f: np.ndarray, axes: np.ndarray, lo: np.ndarray, inv: float, shape: np.ndarray
) -> np.ndarray:
    """``(shape) uint8`` voxels of size ``1 / inv`` from ``lo (3,)`` (u, v, w): ``VOXEL_SURFACE`` where a face may
    touch the voxel, else 0. A face whose bounding box spans fewer than ``VOXEL_SAT_MIN`` voxels marks them all;
    a larger one marks those of its box that it meets by the separating-axis test, each voxel grown by a margin
    (``1e-6`` of its size plus ``1e-12`` of the coordinates' magnitude) far above the rounding of the test and of
    the points' voxel index: every voxel that the surface touches is marked."""
    r0, r1, r2 = shape[0], shape[1], shape[2]
    state = np.zeros((r0, r1, r2), np.uint8)
    h = 1.0 / inv
    n_faces = f.shape[0]
    n_chunks = min(n_faces, 64)
    per = (n_faces + n_chunks - 1) // max(n_chunks, 1)
    for ch in prange(n_chunks):  # faces that share a voxel all store the same byte there: any order, same result
        sat = np.empty((4, 5))
        for t in range(ch * per, min(n_faces, (ch + 1) * per)):
            au, av, aw = _corner(v, f, axes, t, 0)
            bu, bv, bw = _corner(v, f, axes, t, 1)
            cu, cv, cw = _corner(v, f, axes, t, 2)
            i0 = _index(min(au, min(bu, cu)), lo[0], inv, r0)
            i1 = _index(max(au, max(bu, cu)), lo[0], inv, r0)
            j0 = _index(min(av, min(bv, cv)), lo[1], inv, r1)
            j1 = _index(max(av, max(bv, cv)), lo[1], inv, r1)
            k0 = _index(min(aw, min(bw, cw)), lo[2], inv, r2)
            k1 = _index(max(aw, max(bw, cw)), lo[2], inv, r2)
            if (i1 - i0 + 1) * (j1 - j0 + 1) * (k1 - k0 + 1) < VOXEL_SAT_MIN:
                for i in range(i0, i1 + 1):
                    for j in range(j0, j1 + 1):
                        for k in range(k0, k1 + 1):
                            state[i, j, k] = VOXEL_SURFACE
                continue
            mag = max(max(abs(au), abs(av)), max(abs(aw), max(abs(lo[0]), max(abs(lo[1]), abs(lo[2])))))
            e = 0.5 * h + 1e-6 * h + 1e-12 * mag
            _sat_axes(au - lo[0], av - lo[1], aw - lo[2], bu - lo[0], bv - lo[1], bw - lo[2],
                      cu - lo[0], cv - lo[1], cw - lo[2], e, sat)
            for i in range(i0, i1 + 1):
                for j in range(j0, j1 + 1):
                    for k in range(k0, k1 + 1):
                        if state[i, j, k] != VOXEL_SURFACE and _sat_meets(sat, (i + 0.5) * h, (j + 0.5) * h,
                                                                          (k + 0.5) * h):
                            state[i, j, k] = VOXEL_SURFACE
    return state


@njit(cache=True, parallel=True)
def voxel_runs(
    state: np.ndarray, lo: np.ndarray, inv: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The runs of untouched voxels along w in each column of ``state`` and the segments that link them.

    Returns ``centres (R, 3)`` (u, v, w): the centre of each run's first voxel from the top; ``run_start
    (r0 * r1 + 1,)``: the runs of column ``i * r1 + j`` are ``run_start[c]:run_start[c + 1]``, top first;
    ``run_top (R,)``: the height where each run's segment ends, the centre of the lowest voxel of the run above in
    the column (``inf`` for the top run: its segment is the whole ray); ``run_bottom (R,)``: the centre height of
    each run's lowest voxel; ``above (r0, r1, r2) int32``: for an untouched voxel its run, for a touched one the
    nearest run above it in the column (-1: none). A voxel whose centre rounds into another voxel (only on absurdly
    fine grids) is marked touched first."""
    r0, r1, r2 = state.shape
    h = 1.0 / inv
    count = np.zeros(r0 * r1 + 1, np.int64)
    for col in prange(r0 * r1):
        i = col // r1
        j = col % r1
        fresh = True
        for k in range(r2 - 1, -1, -1):
            if state[i, j, k] == VOXEL_SURFACE:
                fresh = True
            elif fresh:
                cu = lo[0] + (i + 0.5) * h
                cv = lo[1] + (j + 0.5) * h
                cw = lo[2] + (k + 0.5) * h
                ci = _index(cu, lo[0], inv, r0)
                if ci != i or _index(cv, lo[1], inv, r1) != j or _index(cw, lo[2], inv, r2) != k:
                    state[i, j, k] = VOXEL_SURFACE
                else:
                    count[col + 1] += 1
                    fresh = False
    for c in range(r0 * r1):
        count[c + 1] += count[c]
    n_runs = count[-1]
    centres = np.empty((n_runs, 3))
    run_top = np.empty(n_runs)
    run_bottom = np.empty(n_runs)
    above = np.empty((r0, r1, r2), np.int32)
    for col in prange(r0 * r1):
        i = col // r1
        j = col % r1
        m = count[col] - 1  # the current run (the nearest untouched one at or above k)
        top = np.inf
        fresh = True
        for k in range(r2 - 1, -1, -1):
            if state[i, j, k] == VOXEL_SURFACE:
                fresh = True
            else:
                if fresh:
                    if m >= count[col]:
                        top = run_bottom[m]
                    m += 1
                    centres[m, 0] = lo[0] + (i + 0.5) * h
                    centres[m, 1] = lo[1] + (j + 0.5) * h
                    centres[m, 2] = lo[2] + (k + 0.5) * h
                    run_top[m] = top
                    fresh = False
                run_bottom[m] = lo[2] + (k + 0.5) * h
            above[i, j, k] = m if m >= count[col] else -1
    return centres, count, run_top, run_bottom, above


@njit(cache=True, parallel=True)
def voxel_classify(
    points: np.ndarray, axes: np.ndarray, state: np.ndarray, above: np.ndarray, run_bottom: np.ndarray,
    lo: np.ndarray, hi: np.ndarray, inv: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat (C order) index ``(N,) int64`` into the voxels ``state`` of each of ``points (N, 3)`` (columns ``axes``
    are u, v, w); ``state.size`` (one past the last voxel) for points outside the closed box ``[lo, hi]`` (u, v, w;
    the mesh's bounds: the mesh lies strictly on one side of them, so they are outside). Also the indices ``(M,)
    int64`` (ascending) of the points in voxels marked ``VOXEL_SURFACE``, which need their own segment, and the
    segments' tops ``(M,)``: the lowest voxel centre of the run above (:func:`voxel_runs`' ``above`` and
    ``run_bottom``; ``inf`` where none)."""
    n = points.shape[0]
    r0, r1, r2 = state.shape
    outside = r0 * r1 * r2
    flat = state.reshape(-1)
    flat_above = above.reshape(-1)
    voxel = np.empty(n, np.int64)
    touched = np.zeros(n, np.bool_)
    for i in prange(n):
        pu = points[i, axes[0]]
        pv = points[i, axes[1]]
        pw = points[i, axes[2]]
        if pu < lo[0] or pv < lo[1] or pw < lo[2] or pu > hi[0] or pv > hi[1] or pw > hi[2]:
            voxel[i] = outside
        else:
            c = (_index(pu, lo[0], inv, r0) * r1 + _index(pv, lo[1], inv, r1)) * r2 + _index(pw, lo[2], inv, r2)
            voxel[i] = c
            touched[i] = flat[c] == VOXEL_SURFACE
    ray = np.flatnonzero(touched)
    top = np.empty(ray.shape[0])
    for k in prange(ray.shape[0]):
        run = flat_above[voxel[ray[k]]]
        top[k] = run_bottom[run] if run >= 0 else np.inf
    return voxel, ray, top


@njit(cache=True, parallel=True)
def voxel_answers(
    state: np.ndarray, run_start: np.ndarray, above: np.ndarray, counts: np.ndarray, voxel: np.ndarray,
    ray: np.ndarray, signed: bool,
) -> np.ndarray:
    """``(N,) bool`` answers of the points with flat voxel indices ``voxel (N,)`` (``state.size``: outside).
    ``counts (R + M,)`` holds the crossings (signed sums for ``signed``, else counts) of the ``R`` runs' segments
    (in :func:`voxel_runs`' order), then of those of the points ``ray (M,)``. A run's ray is its segment plus the
    ray of the run above (top first, so chained down each column); a touched point's ray is its segment plus the
    ray of the run above it (``above``)."""
    r0, r1, r2 = state.shape
    n_runs = run_start[-1]
    total = np.empty(n_runs, np.int64)
    for col in prange(r0 * r1):
        for m in range(run_start[col], run_start[col + 1]):
            total[m] = counts[m] + (total[m - 1] if m > run_start[col] else 0)
    flat = state.reshape(-1)
    flat_above = above.reshape(-1)
    table = np.zeros(flat.shape[0] + 1, np.bool_)  # each voxel's answer (touched ones and "outside": False)
    for c in prange(flat.shape[0]):
        if flat[c] != VOXEL_SURFACE:
            table[c] = _decide(total[flat_above[c]], total[flat_above[c]], signed)
    n = voxel.shape[0]
    out = np.empty(n, np.bool_)
    for i in prange(n):
        out[i] = table[voxel[i]]
    for k in prange(ray.shape[0]):
        run = flat_above[voxel[ray[k]]]
        t = counts[n_runs + k] + (total[run] if run >= 0 else 0)
        out[ray[k]] = _decide(t, t, signed)
    return out


# ----------------------------------------------------------------------------------------------------------------
# The whole test of a closed mesh in one compiled call
# ----------------------------------------------------------------------------------------------------------------
# Small calls (10k points on a 1k-face mesh: about a millisecond) spent ~15 % of their time between kernels: numba
# dispatch, numpy on (3,) arrays and Python arithmetic. ``closed_inside`` runs the same steps in one call. It and
# ``sweep_blocks`` call the parallel kernels; their serial twins (end of the module) call the kernels' serial twins
# (compiled for one thread: launching a parallel loop costs 10-20 microseconds even there), so a small call compiles
# and runs no parallel code but the sweep's face split (``_sweep_chunks``, when its cost pays for the threads).

RULE_SIGNED = 1  # closed_inside's rule codes (its ``method`` argument, and what it used)
RULE_PARITY = 2
RULE_AUTO = 0  # ... as an argument: signed when oriented, parity when only closed
RULE_VOTE = 3  # ... as a result: the mesh is open, the caller votes


@njit(cache=True)
def voxel_grid(
    lo: np.ndarray, hi: np.ndarray, ext: float, n_points: int, n_faces: int, voxel_factor: float,
    voxel_points: float, voxel_max: float, voxel_min_points: float,
) -> tuple[float, np.ndarray]:
    """``(inv, shape (3,) int64)`` of the voxel shortcut's grid over the box ``[lo, hi]`` (u, v, w) for ``n_points``
    queries and ``n_faces`` faces of median extent ``ext``: voxels of ``voxel_factor x ext``, but at most one per
    ``voxel_points`` queries and ``voxel_max`` along an axis; ``inv = 0`` where the sweep alone is cheaper (fewer
    than ``voxel_min_points x sqrt(n_faces)`` queries) or the box is flat."""
    size = max(hi[0] - lo[0], max(hi[1] - lo[1], hi[2] - lo[2]))
    h_vox = max(voxel_factor * ext, size / min(voxel_max, max(1.0, np.cbrt(n_points / voxel_points))))
    shape = np.ones(3, np.int64)
    if n_points < voxel_min_points * np.sqrt(n_faces) or not (np.isfinite(h_vox) and h_vox > 0.0):
        return 0.0, shape
    inv = 1.0 / h_vox
    for a in range(3):
        shape[a] = max(1, int(np.ceil((hi[a] - lo[a]) * inv)))
    return inv, shape


@njit(cache=True)
def sweep_cell(
    ext: float, size: float, n: int, sweep_factor: float, sweep_cells: float, sweep_max_cells: float
) -> float:
    """Point cell size of the sweep: ``sweep_factor`` x the median face extent ``ext``, but no finer than about
    ``sweep_cells**2`` cells per point (``n`` points over the mesh's extent ``size``) nor ``sweep_max_cells`` cells."""
    h = max(sweep_factor * ext, max(size / (sweep_cells * np.sqrt(max(n, 1))), size / np.sqrt(sweep_max_cells)))
    return h if h > 0.0 else 1.0


@njit(cache=True)
def sweep_blocks(
    extra: np.ndarray, extra_top: np.ndarray, points: np.ndarray, select: np.ndarray, point_top: np.ndarray,
    every: bool, v: np.ndarray, f: np.ndarray, axes: np.ndarray, h: float, signed: bool, n_chunks: int, block: int,
) -> np.ndarray:
    """:func:`sweep_query` in blocks of at most ``block`` queries (its counters take ``n_chunks x queries`` int32
    pairs): the same ``(Q,) int32`` crossings, one pass over the faces per block."""
    r = extra.shape[0]
    m = points.shape[0] if every else select.shape[0]
    if r + m <= block:
        return sweep_query(extra, extra_top, points, select, point_top, every, v, f, axes, h, signed, n_chunks)
    out = np.empty(r + m, np.int32)  # (empty tops stay empty when sliced: whole rays)
    for s in range(0, r, block):
        e = min(r, s + block)
        out[s:e] = sweep_query(extra[s:e], extra_top[s:e], points, select[:0], point_top[:0], False, v, f, axes, h,
                               signed, n_chunks)
    for s in range(0, m, block):
        e = min(m, s + block)
        idx = np.arange(s, e) if every else select[s:e].copy()
        out[r + s : r + e] = sweep_query(extra[:0], extra_top[:0], points, idx, point_top[s:e], False, v, f, axes,
                                         h, signed, n_chunks)
    return out


@njit(cache=True)
def closed_inside(
    v: np.ndarray, f: np.ndarray, points: np.ndarray, method: int, n_threads: int, params: np.ndarray,
    n_chunks: int, block: int,
) -> tuple[int, np.ndarray]:
    """``inside`` of ``points (N, 3)`` against the faces ``v[f]`` by +z rays: ``(rule, (N,) bool)``.

    ``method``: ``RULE_AUTO`` (signed when the mesh is consistently oriented and closed, parity when only closed),
    ``RULE_SIGNED`` or ``RULE_PARITY``; returns the rule used, or ``RULE_VOTE`` with no answers when ``RULE_AUTO``
    finds the mesh open. ``params``: voxel factor, voxel points, voxel max, voxel min points, sweep factor, sweep
    cells, sweep max cells, faces sampled for the median extent. ``n_threads`` chunks for the closedness check,
    ``n_chunks`` work items and blocks of ``block`` queries for the sweep."""
    n = points.shape[0]
    hv, lo, hi = vertex_hashes(v, v.view(np.int64), n_threads)
    closed, oriented = edge_closure(hv, f, n_threads)
    rule = method
    if rule == RULE_AUTO:
        rule = RULE_SIGNED if oriented else (RULE_PARITY if closed else RULE_VOTE)
    if rule == RULE_VOTE:
        return rule, np.zeros(0, np.bool_)
    signed = rule == RULE_SIGNED
    axes = np.arange(3)
    ext = median_extent(v, f, axes, int(params[7]))
    size = max(hi[0] - lo[0], max(hi[1] - lo[1], hi[2] - lo[2]))
    inv, shape = voxel_grid(lo, hi, ext, n, f.shape[0], params[0], params[1], params[2], params[3])
    none = np.zeros(0)
    # the voxel shortcut needs the ray answer to be constant off the surface
    if inv == 0.0 or not (oriented if signed else closed):
        h = sweep_cell(ext, size, n, params[4], params[5], params[6])
        counts = sweep_blocks(np.zeros((0, 3)), none, points, np.zeros(0, np.int64), none, True, v, f, axes, h, signed,
                              n_chunks, block)
        out = np.empty(n, np.bool_)
        for i in range(n):
            out[i] = _decide(counts[i], counts[i], signed)
        return rule, out
    state = voxel_mark(v, f, axes, lo, inv, shape)
    centres, run_start, run_top, run_bottom, above = voxel_runs(state, lo, inv)
    voxel, ray, ray_top = voxel_classify(points, axes, state, above, run_bottom, lo, hi, inv)
    # one sweep: the runs' segments (each up to the run above), then those of the points in touched voxels
    h = sweep_cell(ext, size, centres.shape[0] + ray.shape[0], params[4], params[5], params[6])
    counts = sweep_blocks(centres, run_top, points, ray, ray_top, False, v, f, axes, h, signed, n_chunks, block)
    return rule, voxel_answers(state, run_start, above, counts, voxel, ray, signed)


vertex_hashes_serial = serial_twin(vertex_hashes)
edge_closure_serial = serial_twin(edge_closure)
voxel_mark_serial = serial_twin(voxel_mark)
sweep_query_serial = serial_twin(sweep_query)
voxel_runs_serial = serial_twin(voxel_runs)
voxel_classify_serial = serial_twin(voxel_classify)
voxel_answers_serial = serial_twin(voxel_answers)
sweep_blocks_serial = serial_twin(sweep_blocks, {"sweep_query": sweep_query_serial})
closed_inside_serial = serial_twin(closed_inside, {
    "vertex_hashes": vertex_hashes_serial, "edge_closure": edge_closure_serial, "voxel_mark": voxel_mark_serial,
    "voxel_runs": voxel_runs_serial, "voxel_classify": voxel_classify_serial, "voxel_answers": voxel_answers_serial,
    "sweep_blocks": sweep_blocks_serial,
})


#: The kernels of ``inside``, compiled for all threads and (``SERIAL``) for one: small calls take the serial twins,
#: whose loops pay no parallel launch (except a sweep whose faces are worth splitting over the threads:
#: :func:`_sweep_chunks`).
PARALLEL = SimpleNamespace(
    vertex_hashes=vertex_hashes, edge_closure=edge_closure, voxel_mark=voxel_mark, sweep_query=sweep_query,
    voxel_runs=voxel_runs, voxel_classify=voxel_classify, voxel_answers=voxel_answers, sweep_blocks=sweep_blocks,
    closed_inside=closed_inside,
)
SERIAL = SimpleNamespace(
    vertex_hashes=vertex_hashes_serial, edge_closure=edge_closure_serial, voxel_mark=voxel_mark_serial,
    sweep_query=sweep_query_serial, voxel_runs=voxel_runs_serial, voxel_classify=voxel_classify_serial,
    voxel_answers=voxel_answers_serial, sweep_blocks=sweep_blocks_serial, closed_inside=closed_inside_serial,
)
