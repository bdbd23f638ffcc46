"""Bounding volume hierarchy over triangles for nearest-point queries (flat arrays, numba kernels).

Layout: a binary tree built in depth-first order, then compacted so that each inner node stores the float32 boxes
of both its children (one 48-byte row) and their codes (see ``TriangleBVH``). A leaf owns up to 15 consecutive
triangles of the *reordered* triangle array ``tri`` (``tri_index`` maps them back to the caller's face indices).
Inner nodes split their triangles at the median centroid along the longest axis of the centroid bounds
(quickselect, O(F log F) build).

The query walks the tree with an explicit stack, visits the nearer child first and prunes every box whose
distance to the point is not below the best squared distance found so far. Points are processed in Morton order
and each search starts from the previous point's closest triangle as an upper bound. Point-to-triangle distance uses the
Voronoi-region method of Ericson (Real-Time Collision Detection, 5.1.5); zero-area triangles take the closest of
their three edges instead, so no NaN can appear. Distances are float64 (boxes float32, rounded outwards).

Closest-feature codes (``feature`` output): 0, 1, 2 = vertex 0/1/2 of the face; 3, 4, 5 = edge (v0,v1), (v1,v2),
(v2,v0); 6 = face interior.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

FEATURE_FACE = 6
_STACK = 128  # the median split keeps the depth near log2(F); 128 covers any mesh that fits in memory
_BLOCK = 64  # points per parallel work item (one traversal stack per item)


@dataclass(frozen=True)
class TriangleBVH:
    """Flat BVH arrays (see module docstring). ``M`` inner nodes, ``F`` triangles.

    boxes: (M, 12) float32 boxes of the two children of each inner node (lo xyz, hi xyz of the left child, then of
    the right child), rounded outwards so they still contain their triangles; kids: (M, 2) int64 child codes;
    root: the root's code; root_box: (6,) float64. A code ``c >= 0`` is inner node ``c``; ``c < 0`` is a leaf holding
    triangles ``s : s + n`` with ``-1 - c = s * 16 + n``. tri: (F, 9) float64 reordered triangle corners
    (x0 y0 z0 x1 ... z2); tri_index: (F,) int64 original face index; degenerate: (F,) bool zero-area flags.
    """

    boxes: np.ndarray
    kids: np.ndarray
    root: int
    root_box: np.ndarray
    tri: np.ndarray
    tri_index: np.ndarray
    degenerate: np.ndarray

    @property
    def n_nodes(self) -> int:
        """Number of inner nodes."""
        return int(self.boxes.shape[0])


@njit(cache=True)
def _select(order, keys, lo, hi, k):  # pragma: no cover - compiled
    """Reorder ``order[lo:hi+1]`` so that keys left of ``k`` <= ``keys[order[k]]`` <= keys right of it (Hoare)."""
    while hi > lo:
        pivot = keys[order[(lo + hi) // 2]]
        i = lo
        j = hi
        while i <= j:
            while keys[order[i]] < pivot:
                i += 1
            while keys[order[j]] > pivot:
                j -= 1
            if i <= j:
                tmp = order[i]
                order[i] = order[j]
                order[j] = tmp
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            break


@njit(cache=True)
def _build(tri, leaf_size):  # pragma: no cover - compiled
    n = tri.shape[0]
    cent = np.empty((n, 3))
    tlo = np.empty((n, 3))
    thi = np.empty((n, 3))
    for t in range(n):
        for a in range(3):
            x0 = tri[t, a]
            x1 = tri[t, 3 + a]
            x2 = tri[t, 6 + a]
            tlo[t, a] = min(x0, x1, x2)
            thi[t, a] = max(x0, x1, x2)
            cent[t, a] = (x0 + x1 + x2) / 3.0
    order = np.arange(n)
    keys = np.empty(n)
    max_nodes = 2 * n  # at most n leaves, so at most 2n - 1 nodes
    lo = np.empty((max_nodes, 3))
    hi = np.empty((max_nodes, 3))
    right = np.full(max_nodes, -1, np.int64)
    start = np.zeros(max_nodes, np.int64)
    count = np.zeros(max_nodes, np.int64)
    st_s = np.empty(_STACK, np.int64)
    st_e = np.empty(_STACK, np.int64)
    st_parent = np.empty(_STACK, np.int64)
    st_s[0] = 0
    st_e[0] = n
    st_parent[0] = -1
    sp = 1
    nn = 0
    while sp > 0:
        sp -= 1
        s = st_s[sp]
        e = st_e[sp]
        parent = st_parent[sp]
        node = nn
        nn += 1
        if parent >= 0:
            right[parent] = node
        bl0 = bl1 = bl2 = np.inf
        bh0 = bh1 = bh2 = -np.inf
        cl0 = cl1 = cl2 = np.inf
        ch0 = ch1 = ch2 = -np.inf
        for i in range(s, e):
            t = order[i]
            bl0 = min(bl0, tlo[t, 0])
            bl1 = min(bl1, tlo[t, 1])
            bl2 = min(bl2, tlo[t, 2])
            bh0 = max(bh0, thi[t, 0])
            bh1 = max(bh1, thi[t, 1])
            bh2 = max(bh2, thi[t, 2])
            cl0 = min(cl0, cent[t, 0])
            cl1 = min(cl1, cent[t, 1])
            cl2 = min(cl2, cent[t, 2])
            ch0 = max(ch0, cent[t, 0])
            ch1 = max(ch1, cent[t, 1])
            ch2 = max(ch2, cent[t, 2])
        lo[node, 0] = bl0
        lo[node, 1] = bl1
        lo[node, 2] = bl2
        hi[node, 0] = bh0
        hi[node, 1] = bh1
        hi[node, 2] = bh2
        if e - s <= leaf_size:
            start[node] = s
            count[node] = e - s
            continue
        ex0 = ch0 - cl0
        ex1 = ch1 - cl1
        ex2 = ch2 - cl2
        axis = 0
        if ex1 > ex0 and ex1 >= ex2:
            axis = 1
        elif ex2 > ex0 and ex2 > ex1:
            axis = 2
        for i in range(s, e):
            t = order[i]
            keys[t] = cent[t, axis]
        mid = (s + e) // 2
        _select(order, keys, s, e - 1, mid)
        # right pushed first so the left child is built next and gets index node + 1
        st_s[sp] = mid
        st_e[sp] = e
        st_parent[sp] = node
        sp += 1
        st_s[sp] = s
        st_e[sp] = mid
        st_parent[sp] = -1
        sp += 1
    return lo[:nn].copy(), hi[:nn].copy(), right[:nn].copy(), start[:nn].copy(), count[:nn].copy(), order


def build_bvh(triangles: np.ndarray, leaf_size: int = 4) -> TriangleBVH:
    """Build a BVH over ``triangles: (F, 3, 3) float64`` (F >= 1). Zero-area triangles are flagged, not dropped."""
    tri = np.ascontiguousarray(triangles, dtype=np.float64).reshape(-1, 9)
    if tri.shape[0] == 0:
        raise ValueError("cannot build a BVH over zero triangles")
    if not 1 <= leaf_size <= 15:
        raise ValueError(f"leaf_size must be in [1, 15], got {leaf_size}")
    lo, hi, right, start, count, order = _build(tri, int(leaf_size))
    tri = np.ascontiguousarray(tri[order])
    t = tri.reshape(-1, 3, 3)
    e1 = t[:, 1] - t[:, 0]
    e2 = t[:, 2] - t[:, 0]
    area2 = np.einsum("ij,ij->i", *(np.cross(e1, e2),) * 2)  # |2A|^2
    longest2 = np.max(np.stack([(e1 * e1).sum(1), (e2 * e2).sum(1), ((t[:, 2] - t[:, 1]) ** 2).sum(1)]), axis=0)
    # relative test: the Voronoi-region formulas lose all precision when |2A|^2 ~ eps * longest^4
    degenerate = area2 <= 1e-24 * longest2 * longest2
    boxes, kids, root = _compact(lo, hi, right, start, count)
    root_box = np.concatenate([lo[0], hi[0]])
    return TriangleBVH(boxes, kids, root, root_box, tri, order.astype(np.int64), degenerate)


def _compact(lo, hi, right, start, count) -> tuple[np.ndarray, np.ndarray, int]:
    """Depth-first node arrays -> per-inner-node child boxes (float32, rounded outwards) and child codes."""
    inner = count == 0
    code = np.where(inner, np.cumsum(inner) - 1, -1 - (start * 16 + count))
    idx = np.flatnonzero(inner)
    left, rgt = idx + 1, right[idx]
    lo32 = lo.astype(np.float32)
    lo32 = np.where(lo32 > lo, np.nextafter(lo32, np.float32(-np.inf)), lo32)
    hi32 = hi.astype(np.float32)
    hi32 = np.where(hi32 < hi, np.nextafter(hi32, np.float32(np.inf)), hi32)
    boxes = np.ascontiguousarray(np.concatenate([lo32[left], hi32[left], lo32[rgt], hi32[rgt]], axis=1))
    kids = np.ascontiguousarray(np.stack([code[left], code[rgt]], axis=1).astype(np.int64))
    return boxes, kids, int(code[0])


@njit(cache=True, inline="always")
def _closest_on_segment(px, py, pz, ax, ay, az, bx, by, bz):  # pragma: no cover - compiled
    ex = bx - ax
    ey = by - ay
    ez = bz - az
    l2 = ex * ex + ey * ey + ez * ez
    t = 0.0
    if l2 > 0.0:
        t = ((px - ax) * ex + (py - ay) * ey + (pz - az) * ez) / l2
        t = min(max(t, 0.0), 1.0)
    cx = ax + t * ex
    cy = ay + t * ey
    cz = az + t * ez
    dx = px - cx
    dy = py - cy
    dz = pz - cz
    return dx * dx + dy * dy + dz * dz, cx, cy, cz, t


@njit(cache=True)
def _closest_on_degenerate(px, py, pz, T, k):  # pragma: no cover - compiled
    """Closest point on the three edges of a zero-area triangle; returns (d2, cx, cy, cz, feature)."""
    best = np.inf
    bx = by = bz = 0.0
    feat = 0
    for e in range(3):
        a = e
        b = (e + 1) % 3
        d2, cx, cy, cz, t = _closest_on_segment(
            px, py, pz, T[k, 3 * a], T[k, 3 * a + 1], T[k, 3 * a + 2], T[k, 3 * b], T[k, 3 * b + 1], T[k, 3 * b + 2]
        )
        if d2 < best:
            best = d2
            bx = cx
            by = cy
            bz = cz
            if t <= 0.0:
                feat = a
            elif t >= 1.0:
                feat = b
            else:
                feat = 3 + e
    return best, bx, by, bz, feat


@njit(cache=True, inline="always")
def _closest_on_triangle(px, py, pz, T, k):  # pragma: no cover - compiled
    """Ericson's region method for triangle ``T[k]`` (non-degenerate); returns (d2, cx, cy, cz, feature)."""
    ax = T[k, 0]
    ay = T[k, 1]
    az = T[k, 2]
    abx = T[k, 3] - ax
    aby = T[k, 4] - ay
    abz = T[k, 5] - az
    acx = T[k, 6] - ax
    acy = T[k, 7] - ay
    acz = T[k, 8] - az
    apx = px - ax
    apy = py - ay
    apz = pz - az
    d1 = abx * apx + aby * apy + abz * apz
    d2 = acx * apx + acy * apy + acz * apz
    if d1 <= 0.0 and d2 <= 0.0:
        cx, cy, cz, feat = ax, ay, az, 0
    else:
        bpx = apx - abx
        bpy = apy - aby
        bpz = apz - abz
        d3 = abx * bpx + aby * bpy + abz * bpz
        d4 = acx * bpx + acy * bpy + acz * bpz
        if d3 >= 0.0 and d4 <= d3:
            cx, cy, cz, feat = ax + abx, ay + aby, az + abz, 1
        else:
            vc = d1 * d4 - d3 * d2
            if vc <= 0.0 and d1 >= 0.0 and d3 <= 0.0:
                den = d1 - d3
                v = d1 / den if den > 0.0 else 0.0
                cx, cy, cz, feat = ax + v * abx, ay + v * aby, az + v * abz, 3
            else:
                cpx = apx - acx
                cpy = apy - acy
                cpz = apz - acz
                d5 = abx * cpx + aby * cpy + abz * cpz
                d6 = acx * cpx + acy * cpy + acz * cpz
                if d6 >= 0.0 and d5 <= d6:
                    cx, cy, cz, feat = ax + acx, ay + acy, az + acz, 2
                else:
                    vb = d5 * d2 - d1 * d6
                    if vb <= 0.0 and d2 >= 0.0 and d6 <= 0.0:
                        den = d2 - d6
                        w = d2 / den if den > 0.0 else 0.0
                        cx, cy, cz, feat = ax + w * acx, ay + w * acy, az + w * acz, 5
                    else:
                        va = d3 * d6 - d5 * d4
                        e43 = d4 - d3
                        e56 = d5 - d6
                        if va <= 0.0 and e43 >= 0.0 and e56 >= 0.0:
                            den = e43 + e56
                            w = e43 / den if den > 0.0 else 0.0
                            bx = ax + abx
                            by = ay + aby
                            bz = az + abz
                            cx = bx + w * (acx - abx)
                            cy = by + w * (acy - aby)
                            cz = bz + w * (acz - abz)
                            feat = 4
                        else:
                            den = va + vb + vc
                            v = vb / den
                            w = vc / den
                            cx = ax + v * abx + w * acx
                            cy = ay + v * aby + w * acy
                            cz = az + v * abz + w * acz
                            feat = 6
    dx = px - cx
    dy = py - cy
    dz = pz - cz
    return dx * dx + dy * dy + dz * dz, cx, cy, cz, feat


@njit(cache=True, inline="always")
def _child_d2(px, py, pz, boxes, n, o):  # pragma: no cover - compiled
    """Squared distance from the point to child box ``o`` (0 left, 6 right) of inner node ``n``."""
    dx = max(boxes[n, o] - px, 0.0, px - boxes[n, o + 3])
    dy = max(boxes[n, o + 1] - py, 0.0, py - boxes[n, o + 4])
    dz = max(boxes[n, o + 2] - pz, 0.0, pz - boxes[n, o + 5])
    return dx * dx + dy * dy + dz * dz


@njit(cache=True, inline="always")
def _closest(px, py, pz, tri, degenerate, k):  # pragma: no cover - compiled
    if degenerate[k]:
        return _closest_on_degenerate(px, py, pz, tri, k)
    return _closest_on_triangle(px, py, pz, tri, k)


@njit(parallel=True, cache=True)
def _morton_codes(points, lo, scale):  # pragma: no cover - compiled
    """30-bit Morton codes (10 bits per axis) of ``points`` quantized in the box starting at ``lo``."""
    n = points.shape[0]
    out = np.empty(n, np.int64)
    for i in prange(n):
        code = 0
        for a in range(3):
            q = int((points[i, a] - lo[a]) * scale)
            q = min(max(q, 0), 1023)
            for b in range(10):
                code |= ((q >> b) & 1) << (3 * b + a)
        out[i] = code
    return out


@njit(parallel=True, cache=True)
def _nearest(  # pragma: no cover - compiled
    points, perm, boxes, kids, root, root_box, tri, degenerate, max_d2, out_d2, out_c, out_t, out_f
):
    n = points.shape[0]
    nblocks = (n + _BLOCK - 1) // _BLOCK
    for blk in prange(nblocks):
        st_n = np.empty(_STACK, np.int64)
        st_d = np.empty(_STACK)
        prev = -1
        for j in range(blk * _BLOCK, min(n, (blk + 1) * _BLOCK)):
            i = perm[j]
            px = points[i, 0]
            py = points[i, 1]
            pz = points[i, 2]
            best = max_d2
            bt = -1
            bf = 0
            bx = by = bz = np.nan
            if prev >= 0:  # warm start: the previous (spatially close, Morton order) point's triangle bounds the search
                d2, cx, cy, cz, f = _closest(px, py, pz, tri, degenerate, prev)
                if d2 < best:
                    best, bt, bf, bx, by, bz = d2, prev, f, cx, cy, cz
            dx = max(root_box[0] - px, 0.0, px - root_box[3])
            dy = max(root_box[1] - py, 0.0, py - root_box[4])
            dz = max(root_box[2] - pz, 0.0, pz - root_box[5])
            st_n[0] = root
            st_d[0] = dx * dx + dy * dy + dz * dz
            sp = 1
            while sp > 0:
                sp -= 1
                if st_d[sp] >= best:
                    continue
                node = st_n[sp]
                while True:
                    if node < 0:
                        code = -1 - node
                        s = code >> 4
                        for k in range(s, s + (code & 15)):
                            d2, cx, cy, cz, f = _closest(px, py, pz, tri, degenerate, k)
                            if d2 < best:
                                best, bt, bf, bx, by, bz = d2, k, f, cx, cy, cz
                        break
                    dn = _child_d2(px, py, pz, boxes, node, 0)
                    df = _child_d2(px, py, pz, boxes, node, 6)
                    near = kids[node, 0]
                    far = kids[node, 1]
                    if df < dn:
                        near, far = far, near
                        dn, df = df, dn
                    if df < best:
                        st_n[sp] = far
                        st_d[sp] = df
                        sp += 1
                    if dn < best:
                        node = near
                    else:
                        break
            if bt >= 0:
                prev = bt
            out_d2[i] = best
            out_c[i, 0] = bx
            out_c[i, 1] = by
            out_c[i, 2] = bz
            out_t[i] = bt
            out_f[i] = bf


def spatial_order(points: np.ndarray) -> np.ndarray:
    """Permutation ``(N,) int64`` that sorts ``points: (N, 3) float64`` along a Morton (Z-order) curve."""
    if len(points) < 2:
        return np.arange(len(points))
    lo = points.min(axis=0)
    extent = float((points.max(axis=0) - lo).max())
    scale = 1023.0 / extent if extent > 0 else 0.0
    return np.argsort(_morton_codes(points, lo, scale), kind="stable")


def nearest(
    bvh: TriangleBVH, points: np.ndarray, max_distance: float = np.inf
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Nearest triangle to each of ``points: (N, 3) float64`` (C-contiguous).

    Returns ``d2 (N,) float64`` squared distances, ``closest (N, 3) float64``, ``tri (N,) int64`` index into the
    *reordered* ``bvh.tri`` (map with ``bvh.tri_index``) and ``feature (N,) int64`` (codes in the module docstring).
    Points farther than ``max_distance`` get ``d2 = max_distance**2``, NaN closest points and ``tri = -1``.
    Queries run in Morton order of the points (cache locality, warm starts); results come back in input order.
    """
    n = points.shape[0]
    d2 = np.empty(n)
    closest = np.empty((n, 3))
    tri = np.empty(n, np.int64)
    feat = np.empty(n, np.int64)
    if n:
        max_d2 = float(max_distance) ** 2 if np.isfinite(max_distance) else np.inf
        _nearest(
            points,
            spatial_order(points),
            bvh.boxes,
            bvh.kids,
            bvh.root,
            bvh.root_box,
            bvh.tri,
            bvh.degenerate,
            max_d2,
            d2,
            closest,
            tri,
            feat,
        )
    return d2, closest, tri, feat
