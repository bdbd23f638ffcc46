"""Bounding volume hierarchy over triangles for nearest-point queries (flat arrays, numba kernels).

Layout: a binary tree built in depth-first order, then compacted so that each inner node stores the bounding
volumes of both its children in one float32 row (2 x 16 values, see ``TriangleBVH``) and their codes. A leaf owns
up to 15 consecutive triangles of the *reordered* triangle array ``tri`` (``tri_index`` maps them back to the
caller's face indices).

Build: inner nodes split their triangles along the longest axis of their centroid bounds at the spatial midpoint
(one partition pass); when every centroid falls on one side, or below depth ``_MIDPOINT_DEPTH``, at the median
centroid (quickselect), which bounds the depth by ``_MIDPOINT_DEPTH + log2(F)``; the centroid bounds of both halves
come out of the partition pass. The top of the tree is split on one thread until about ``_TASKS_PER_THREAD`` subtrees
per thread remain, which are split in parallel and placed in depth-first order: the same tree, bit for bit, as one
serial split. Reordering, boxes, cylinders and compaction run in parallel too; builds under ``_PARALLEL_MIN_FACES``
triangles and queries under ``_PARALLEL_MIN_POINTS`` points run on one thread (``serial_below``: on a loaded machine
each parallel region can cost milliseconds).

Bounding volumes: every child has an axis-aligned box *and* a bounding cylinder: axis = the node's unit mean
(area-weighted) normal, radius = largest distance of a vertex from the axis, and the range of heights along it. For
a smooth patch the cylinder is a thin disk, so its distance to a point is close to the true distance even where the
patch is tilted against the axes; an axis-aligned box of the same patch is loose by about its size. Boxes alone let
a query far from a curved surface visit hundreds of leaves (every leaf whose box comes within one leaf size of the
answer); with the cylinders it visits a few. Nodes whose normals do not agree (|sum of area normals| <=
``_COHERENCE`` x area, e.g. the upper levels of a closed surface) and nodes of more than ``_CYL_MAX`` triangles get
a bounding sphere instead (zero axis).
A child's lower bound is the larger of its box and cylinder distances. Float32 values are rounded outwards and
padded for the float64 rounding of the query, so the bounds stay conservative.

The query walks the tree with an explicit stack, visits the nearer child first and prunes every child whose lower
bound is not below the best squared distance found so far. Points are processed in Morton order and each search
starts from the previous point's closest triangle as an upper bound. Point-to-triangle distance uses the
Voronoi-region method of Ericson (Real-Time Collision Detection, 5.1.5); zero-area triangles take the closest of
their three edges instead, so no NaN can appear. Distances are float64.

Closest-feature codes (``feature`` output): 0, 1, 2 = vertex 0/1/2 of the face; 3, 4, 5 = edge (v0,v1), (v1,v2),
(v2,v0); 6 = face interior.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange

from implicit3d.geometry._common_kernels import corner_minus, cross_edges, morton_order

FEATURE_FACE = 6
_STACK = 128  # tree depth < _MIDPOINT_DEPTH + log2(F): 128 covers any mesh that fits in memory
_BLOCK = 64  # points per parallel work item (one traversal stack per item)
_ROW = 16  # float32 values per child in a node row: box lo, hi; cylinder centre, axis, radius, height lo, hi; pad
_PARALLEL_MIN_FACES = 50_000  # smaller builds run on one thread (see ``serial_below``)
_PARALLEL_MIN_POINTS = 10_000  # smaller queries run on one thread
_TASKS_PER_THREAD = 8  # parallel build: subtrees of about F / (this x threads) triangles, split in parallel
_MIDPOINT_DEPTH = 48  # below this depth splits fall back to the median, so the depth stays < 48 + log2(F)
# the float32 axis u is unit only to within 2**-23 in |u|**2: heights h = w . u are off by that factor, so the query
# takes h**2 * _AXIS_HI off |w|**2 for the squared radial distance, and the build h**2 * _AXIS_LO (both conservative)
_AXIS_LO = 1.0 - 1e-6
_AXIS_HI = 1.0 + 1e-6
_COHERENCE = 0.5  # cylinder axis only for nodes whose |sum of area normals| exceeds this fraction of their area
_CYL_MAX = 4096  # bigger nodes get a bounding sphere: their scan costs more build time than it saves in queries


@dataclass(frozen=True)
class TriangleBVH:
    """Flat BVH arrays (see module docstring). ``M`` inner nodes, ``F`` triangles.

    boxes: (M, 32) float32 bounding volumes of the two children of each inner node, 16 values per child (left,
    then right): box lo xyz, box hi xyz, cylinder centre xyz, unit axis xyz (zero: a sphere), radius, height lo,
    height hi (of ``(x - centre) . axis``), padding; rounded outwards. kids: (M, 2) int64 child codes;
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


@contextmanager
def serial_below(work: int, threshold: int) -> Iterator[None]:
    """Run numba parallel regions inside the block on one thread when ``work < threshold``.

    Launching a parallel region costs little on an idle machine but, on a loaded one (OpenMP threads descheduled),
    can cost milliseconds each, far more than small builds or queries take in total."""
    if work >= threshold:
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


@njit(cache=True, inline="always")
def _swap(cs, order, i, j):  # pragma: no cover - compiled
    """Exchange the columns ``i`` and ``j`` of ``cs: (3, F)`` and the entries ``i`` and ``j`` of ``order``."""
    for a in range(3):
        tmp = cs[a, i]
        cs[a, i] = cs[a, j]
        cs[a, j] = tmp
    tmp2 = order[i]
    order[i] = order[j]
    order[j] = tmp2


@njit(cache=True)
def _select(cs, order, axis, lo, hi, k):  # pragma: no cover - compiled
    """Quickselect (Hoare) on the columns ``lo..hi`` of the centroids ``cs: (3, F)`` by row ``axis``, moving the
    columns and ``order`` together: afterwards keys left of ``k`` <= ``cs[axis, k]`` <= keys right of it."""
    keys = cs[axis]
    while hi > lo:
        pivot = keys[(lo + hi) // 2]
        i = lo
        j = hi
        while i <= j:
            while keys[i] < pivot:
                i += 1
            while keys[j] > pivot:
                j -= 1
            if i <= j:
                _swap(cs, order, i, j)
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            break


@njit(cache=True)
def _partition(cs, order, axis, s, e, pivot):  # pragma: no cover - compiled
    """Move the columns ``s..e-1`` of ``cs`` with ``cs[axis] < pivot`` first (with ``order``); return the split."""
    i = s
    j = e - 1
    while True:
        while i <= j and cs[axis, i] < pivot:
            i += 1
        while i <= j and cs[axis, j] >= pivot:
            j -= 1
        if i >= j:
            return i
        _swap(cs, order, i, j)
        i += 1
        j -= 1


@njit(cache=True, inline="always")
def _grow(cs, i, b):  # pragma: no cover - compiled
    """Extend the bounds ``b`` (min xyz, max xyz) by column ``i`` of ``cs``."""
    for a in range(3):
        x = cs[a, i]
        b[a] = min(b[a], x)
        b[3 + a] = max(b[3 + a], x)


@njit(cache=True)
def _partition_bounds(cs, order, axis, s, e, pivot, bl, br):  # pragma: no cover - compiled
    """``_partition`` that also returns the centroid bounds of both sides in ``bl`` and ``br`` (min xyz, max xyz;
    initialized here): every column is looked at once, by the scans or after its swap."""
    for a in range(3):
        bl[a] = br[a] = np.inf
        bl[3 + a] = br[3 + a] = -np.inf
    i = s
    j = e - 1
    while True:
        while i <= j and cs[axis, i] < pivot:
            _grow(cs, i, bl)
            i += 1
        while i <= j and cs[axis, j] >= pivot:
            _grow(cs, j, br)
            j -= 1
        if i >= j:
            return i
        _swap(cs, order, i, j)
        _grow(cs, i, bl)
        _grow(cs, j, br)
        i += 1
        j -= 1


@njit(cache=True)
def _bounds(cs, s, e, b):  # pragma: no cover - compiled
    """Centroid bounds of the columns ``s..e-1`` into ``b`` (min xyz, max xyz)."""
    for a in range(3):
        b[a] = np.inf
        b[3 + a] = -np.inf
    for i in range(s, e):
        _grow(cs, i, b)


@njit(parallel=True, cache=True)
def _corners(v, f):  # pragma: no cover - compiled
    """Centroids ``(3, F)``, unnormalized face normals ``(F, 3)`` (twice the area vector) and corners ``(F, 9)`` of
    the triangles ``v[f]``, in face order."""
    n = f.shape[0]
    cs = np.empty((3, n))
    tnrm = np.empty((n, 3))
    tri = np.empty((n, 9))
    for t in prange(n):
        i0 = f[t, 0]
        i1 = f[t, 1]
        i2 = f[t, 2]
        for a in range(3):
            cs[a, t] = (v[i0, a] + v[i1, a] + v[i2, a]) / 3.0
            tri[t, a] = v[i0, a]
            tri[t, 3 + a] = v[i1, a]
            tri[t, 6 + a] = v[i2, a]
        tnrm[t, 0], tnrm[t, 1], tnrm[t, 2] = cross_edges(
            v[i0, 0], v[i0, 1], v[i0, 2], v[i1, 0], v[i1, 1], v[i1, 2], v[i2, 0], v[i2, 1], v[i2, 2]
        )
    return cs, tnrm, tri


@njit(cache=True)
def _split(cs, order, s0, e0, depth0, leaf_size, task_max, right, start, end, depth_out, base):  # pragma: no cover
    """Split the triangles ``s0:e0`` (depth ``depth0``) top-down, depth first: inner nodes at the spatial midpoint of
    the longest axis of their centroid bounds, or at the median (see the module docstring); ranges of at most
    ``leaf_size`` triangles become leaves and, when ``task_max > 0``, ranges of at most ``task_max`` stay unsplit
    (``right = -2``: a subtree for ``_split`` to build later). Nodes are written in depth-first order from index
    ``base`` of ``right`` (the right child's index relative to ``base``, -1 for a leaf), ``start``, ``end`` and
    ``depth_out``; ``cs`` and ``order`` are permuted within ``s0:e0``. Returns the number of nodes."""
    st_s = np.empty(_STACK, np.int64)
    st_e = np.empty(_STACK, np.int64)
    st_parent = np.empty(_STACK, np.int64)
    st_depth = np.empty(_STACK, np.int64)
    st_b = np.empty((_STACK, 6))  # centroid bounds of the range, when known (from the parent's partition)
    st_known = np.zeros(_STACK, np.bool_)
    st_s[0] = s0
    st_e[0] = e0
    st_parent[0] = -1
    st_depth[0] = depth0
    sp = 1
    nn = 0
    bl = np.empty(6)
    br = np.empty(6)
    while sp > 0:
        sp -= 1
        s = st_s[sp]
        e = st_e[sp]
        parent = st_parent[sp]
        depth = st_depth[sp]
        node = nn
        nn += 1
        if parent >= 0:
            right[base + parent] = node
        right[base + node] = -1
        start[base + node] = s
        end[base + node] = e
        depth_out[base + node] = depth
        if e - s <= leaf_size:
            continue
        if e - s <= task_max:
            right[base + node] = -2
            continue
        if not st_known[sp]:
            _bounds(cs, s, e, st_b[sp])
        b = st_b[sp]
        ex0 = b[3] - b[0]
        ex1 = b[4] - b[1]
        ex2 = b[5] - b[2]
        axis = 0
        if ex1 > ex0 and ex1 >= ex2:
            axis = 1
        elif ex2 > ex0 and ex2 > ex1:
            axis = 2
        mid = s
        if depth < _MIDPOINT_DEPTH:  # spatial midpoint: one partition pass, tight boxes
            mid = _partition_bounds(cs, order, axis, s, e, 0.5 * (b[axis] + b[3 + axis]), bl, br)
        known = s < mid < e
        if not known:  # all centroids on one side, or too deep: median split (balanced)
            mid = (s + e) // 2
            _select(cs, order, axis, s, e - 1, mid)
        st_s[sp] = mid
        st_e[sp] = e
        st_parent[sp] = node
        st_depth[sp] = depth + 1
        st_known[sp] = known
        if known:
            st_b[sp] = br
        sp += 1
        st_s[sp] = s
        st_e[sp] = mid
        st_parent[sp] = -1
        st_depth[sp] = depth + 1
        st_known[sp] = known
        if known:
            st_b[sp] = bl
        sp += 1
    return nn


@njit(cache=True, inline="always")
def _fill_node(node, right, start, end, rtri, rnrm, lo, hi, nsum, area):  # pragma: no cover - compiled
    """Box, normal sum and area of ``node`` from its triangles (leaf) or its children (``node + 1``, ``right``)."""
    if right[node] < 0:
        for a in range(3):
            lo[node, a] = np.inf
            hi[node, a] = -np.inf
        for i in range(start[node], end[node]):
            for a in range(3):
                lo[node, a] = min(lo[node, a], rtri[i, a], rtri[i, 3 + a], rtri[i, 6 + a])
                hi[node, a] = max(hi[node, a], rtri[i, a], rtri[i, 3 + a], rtri[i, 6 + a])
                nsum[node, a] += rnrm[i, a]
            area[node] += np.sqrt(rnrm[i, 0] ** 2 + rnrm[i, 1] ** 2 + rnrm[i, 2] ** 2)
    else:
        l = node + 1
        r = right[node]
        for a in range(3):
            lo[node, a] = min(lo[l, a], lo[r, a])
            hi[node, a] = max(hi[l, a], hi[r, a])
            nsum[node, a] = nsum[l, a] + nsum[r, a]
        area[node] = area[l] + area[r]


@njit(parallel=True, cache=True)
def _build(v, f, leaf_size, min_coherence, n_tasks):  # pragma: no cover - compiled
    """Split the triangles ``v[f]`` (v: (V, 3) float64, f: (F, 3) int64) top-down (see the module docstring),
    reorder them, then fill boxes and cylinders bottom-up.

    The top of the tree is split on one thread until about ``n_tasks`` subtrees of at most ``F / n_tasks`` triangles
    remain; those are split in parallel, each into its own block of node slots, and the blocks are then placed in
    depth-first order: the same tree, bit for bit, as one depth-first split of everything (``n_tasks <= 1``).

    Returns depth-first node arrays (lo, hi (K, 3), cylinders (K, 9): centre, axis, radius, height lo/hi; right
    child (-1 for leaves), triangle range start/end), the order, the reordered triangles and their normals."""
    n = f.shape[0]
    cs, tnrm, tri = _corners(v, f)  # centroids are permuted along with ``order`` while splitting
    order = np.arange(n)
    task_max = (n + n_tasks - 1) // n_tasks if n_tasks > 1 else 0
    # ---- the top of the tree, one thread (all of it when task_max == 0)
    cap = 2 * n
    top_right = np.empty(cap, np.int64)
    top_start = np.empty(cap, np.int64)
    top_end = np.empty(cap, np.int64)
    top_depth = np.empty(cap, np.int64)
    n_top = _split(cs, order, 0, n, 0, leaf_size, task_max, top_right, top_start, top_end, top_depth, 0)
    # ---- the subtrees (``right == -2``) in parallel: subtree s..e fills node slots 2s..2e of the scratch arrays
    tasks = np.flatnonzero(top_right[:n_top] == -2)
    cap = cap if tasks.shape[0] else 1
    sub_right = np.empty(cap, np.int64)
    sub_start = np.empty(cap, np.int64)
    sub_end = np.empty(cap, np.int64)
    sub_depth = np.empty(cap, np.int64)
    size = np.ones(n_top, np.int64)  # node slots of each top node: 1, or the subtree's node count
    for k in prange(tasks.shape[0]):
        j = tasks[k]
        s = top_start[j]
        size[j] = _split(cs, order, s, top_end[j], top_depth[j], leaf_size, 0, sub_right, sub_start, sub_end,
                         sub_depth, 2 * s)
    # ---- place the blocks in depth-first order
    gid = np.empty(n_top, np.int64)
    nn = 0
    for j in range(n_top):
        gid[j] = nn
        nn += size[j]
    right = np.empty(nn, np.int64)
    start = np.empty(nn, np.int64)
    end = np.empty(nn, np.int64)
    for j in range(n_top):
        g = gid[j]
        right[g] = gid[top_right[j]] if top_right[j] >= 0 else -1
        start[g] = top_start[j]
        end[g] = top_end[j]
    for k in prange(tasks.shape[0]):
        j = tasks[k]
        g = gid[j]
        b = 2 * top_start[j]
        for m in range(size[j]):
            right[g + m] = g + sub_right[b + m] if sub_right[b + m] >= 0 else -1
            start[g + m] = sub_start[b + m]
            end[g + m] = sub_end[b + m]
    # ---- reorder the triangles
    rtri = np.empty((n, 9))
    rnrm = np.empty((n, 3))
    for i in prange(n):
        t = order[i]
        for k in range(9):
            rtri[i, k] = tri[t, k]
        for a in range(3):
            rnrm[i, a] = tnrm[t, a]
    # ---- bottom-up: boxes, normal sums and areas (children come after their parent in depth-first order)
    lo = np.empty((nn, 3))
    hi = np.empty((nn, 3))
    nsum = np.zeros((nn, 3))
    area = np.zeros(nn)
    for k in prange(tasks.shape[0]):
        g = gid[tasks[k]]
        for node in range(g + size[tasks[k]] - 1, g - 1, -1):
            _fill_node(node, right, start, end, rtri, rnrm, lo, hi, nsum, area)
    for j in range(n_top - 1, -1, -1):
        if top_right[j] != -2:
            _fill_node(gid[j], right, start, end, rtri, rnrm, lo, hi, nsum, area)
    cyl = _cylinders(lo, hi, nsum, area, start, end, rtri, min_coherence, _CYL_MAX)
    return lo, hi, cyl, right, start, end, order, rtri, rnrm


@njit(parallel=True, cache=True)
def _cylinders(lo, hi, nsum, area, start, end, rtri, min_coherence, max_size):  # pragma: no cover - compiled
    """Bounding cylinder per node (K, 9): centre, unit axis (zero for an incoherent node: a sphere), radius, height
    range. Axis u = unit mean (area-weighted) normal, centre c = box centre, radius = largest distance of a vertex
    from the axis, heights = range of (x - c) . u over the vertices; all rounded/padded outwards."""
    nn = lo.shape[0]
    corners = rtri.reshape(-1, 3)
    cyl = np.zeros((nn, 9))
    for node in prange(nn):
        nl = np.sqrt(nsum[node, 0] ** 2 + nsum[node, 1] ** 2 + nsum[node, 2] ** 2)
        ux = uy = uz = np.float32(0.0)
        if nl > min_coherence * area[node] and nl > 0.0 and end[node] - start[node] <= max_size:
            ux = np.float32(nsum[node, 0] / nl)  # stored in float32: use the rounded values here as well
            uy = np.float32(nsum[node, 1] / nl)
            uz = np.float32(nsum[node, 2] / nl)
        cx = np.float32(0.5 * (lo[node, 0] + hi[node, 0]))
        cy = np.float32(0.5 * (lo[node, 1] + hi[node, 1]))
        cz = np.float32(0.5 * (lo[node, 2] + hi[node, 2]))
        hmin = 0.0
        hmax = 0.0
        q2max = 0.0
        w2max = 0.0
        if ux == 0.0 and uy == 0.0 and uz == 0.0:  # incoherent node: bounding sphere of the box, no scan
            for a in range(3):
                w2max += max(hi[node, a] - (cx, cy, cz)[a], (cx, cy, cz)[a] - lo[node, a]) ** 2
            q2max = w2max
        else:
            hmin = np.inf
            hmax = -np.inf
            for j in range(3 * start[node], 3 * end[node]):  # the corners of the node's triangles
                wx = corners[j, 0] - cx
                wy = corners[j, 1] - cy
                wz = corners[j, 2] - cz
                h = wx * ux + wy * uy + wz * uz
                w2 = wx * wx + wy * wy + wz * wz
                hmin = min(hmin, h)
                hmax = max(hmax, h)
                q2max = max(q2max, w2 - h * h * _AXIS_LO)
                w2max = max(w2max, w2)
        # outward margins for rounding in these float64 expressions and in the query's
        mag = 1e-12 * (np.sqrt(w2max) + abs(cx) + abs(cy) + abs(cz))
        cyl[node, 0] = cx
        cyl[node, 1] = cy
        cyl[node, 2] = cz
        cyl[node, 3] = ux
        cyl[node, 4] = uy
        cyl[node, 5] = uz
        cyl[node, 6] = np.sqrt(q2max) * (1.0 + 1e-12) + mag
        cyl[node, 7] = hmin - mag
        cyl[node, 8] = hmax + mag
    return cyl


@njit(cache=True, inline="always")
def _down32(x):  # pragma: no cover - compiled
    """Largest float32 <= x (``np.nextafter`` of the rounded value where that is above x, in bit arithmetic and
    without branches: the library call and the unpredictable branch cost more than the rest of ``_compact``)."""
    y = np.float32(x)
    bits = y.view(np.int32)
    base = bits if y != 0.0 else np.int32(-2147483648)  # a zero steps down from -0.0 to the smallest negative
    below = np.int32(base - 1 if y > 0.0 else base + 1).view(np.float32)
    return below if y > x else y


@njit(cache=True, inline="always")
def _up32(x):  # pragma: no cover - compiled
    """Smallest float32 >= x (see ``_down32``)."""
    y = np.float32(x)
    bits = y.view(np.int32)
    base = bits if y != 0.0 else np.int32(0)  # a zero steps up from +0.0 to the smallest positive
    above = np.int32(base + 1 if y >= 0.0 else base - 1).view(np.float32)
    return above if y < x else y


@njit(parallel=True, cache=True)
def _compact(lo, hi, cyl, right, start, end):  # pragma: no cover - compiled
    """Depth-first nodes -> one float32 row per inner node holding both children (box and slab), child codes."""
    nn = right.shape[0]
    code = np.empty(nn, np.int64)
    m = 0
    for node in range(nn):
        if right[node] >= 0:
            code[node] = m
            m += 1
        else:
            code[node] = -1 - (start[node] * 16 + (end[node] - start[node]))
    nodes = np.zeros((max(m, 1), 2 * _ROW), np.float32)
    kids = np.zeros((max(m, 1), 2), np.int64)
    for node in prange(nn):
        if right[node] < 0:
            continue
        j = code[node]
        for side in range(2):
            c = node + 1 if side == 0 else right[node]
            o = side * _ROW
            for a in range(3):
                nodes[j, o + a] = _down32(lo[c, a])
                nodes[j, o + 3 + a] = _up32(hi[c, a])
                nodes[j, o + 6 + a] = np.float32(cyl[c, a])
                nodes[j, o + 9 + a] = np.float32(cyl[c, 3 + a])
            nodes[j, o + 12] = _up32(cyl[c, 6])
            nodes[j, o + 13] = _down32(cyl[c, 7])
            nodes[j, o + 14] = _up32(cyl[c, 8])
            kids[j, side] = code[c]
    return nodes, kids, code[0]


def build_bvh(triangles: np.ndarray, leaf_size: int = 8) -> TriangleBVH:
    """Build a BVH over ``triangles: (F, 3, 3) float64`` (F >= 1). Zero-area triangles are flagged, not dropped."""
    tri = np.ascontiguousarray(triangles, dtype=np.float64).reshape(-1, 3)
    return build_bvh_indexed(tri, np.arange(len(tri), dtype=np.int64).reshape(-1, 3), leaf_size)


def build_bvh_indexed(vertices: np.ndarray, faces: np.ndarray, leaf_size: int = 8) -> TriangleBVH:
    """Build a BVH over the triangles ``vertices[faces]`` (``vertices: (V, 3) float64``, ``faces: (F, 3) int64``
    indices in range, F >= 1) without materializing them first. ``tri_index`` refers to rows of ``faces``."""
    v = np.ascontiguousarray(vertices, dtype=np.float64)
    f = np.ascontiguousarray(faces, dtype=np.int64)
    if f.shape[0] == 0:
        raise ValueError("cannot build a BVH over zero triangles")
    if not 1 <= leaf_size <= 15:
        raise ValueError(f"leaf_size must be in [1, 15], got {leaf_size}")
    with serial_below(len(f), _PARALLEL_MIN_FACES):
        threads = numba.get_num_threads()
        n_tasks = _TASKS_PER_THREAD * threads if threads > 1 else 1
        lo, hi, cyl, right, start, end, order, rtri, rnrm = _build(v, f, int(leaf_size), _COHERENCE, n_tasks)
        degenerate = _degenerate(rtri, rnrm)
        nodes, kids, root = _compact(lo, hi, cyl, right, start, end)
    root_box = np.concatenate([lo[0], hi[0]])
    return TriangleBVH(nodes, kids, int(root), root_box, rtri, order, degenerate)


@njit(parallel=True, cache=True)
def _degenerate(tri, nrm):  # pragma: no cover - compiled
    """Zero-area flags: the Voronoi-region formulas lose all precision when |2A|^2 ~ eps * longest^4."""
    n = tri.shape[0]
    out = np.empty(n, np.bool_)
    for t in prange(n):
        area2 = nrm[t, 0] ** 2 + nrm[t, 1] ** 2 + nrm[t, 2] ** 2
        longest2 = 0.0
        for e in range(3):
            a = e
            b = (e + 1) % 3
            l2 = 0.0
            for c in range(3):
                l2 += (tri[t, 3 * b + c] - tri[t, 3 * a + c]) ** 2
            longest2 = max(longest2, l2)
        out[t] = area2 <= 1e-24 * longest2 * longest2
    return out


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
def _dots(abx, aby, abz, acx, acy, acz, wx, wy, wz):  # pragma: no cover - compiled
    """``(ab . w, ac . w)``."""
    return abx * wx + aby * wy + abz * wz, acx * wx + acy * wy + acz * wz


@njit(cache=True, inline="always")
def _ratio(a, b):  # pragma: no cover - compiled
    """``a / (a - b)``, 0 when ``a - b <= 0`` (the parameter along an edge in Ericson's method)."""
    den = a - b
    return a / den if den > 0.0 else 0.0


@njit(cache=True, inline="always")
def _corner_or_edge(ax, ay, az, ex, ey, ez, da_e, da_o, dq_e, dq_o, corner, edge):  # pragma: no cover - compiled
    """Ericson's tests for the corner ``q = a + e`` and the edge ``a -> q`` of a triangle (called for b with the edge
    ab, the other edge ac, and for c with the roles of ab and ac swapped). ``da_*`` / ``dq_*``: ``(p - a)`` /
    ``(p - q)`` dotted with this edge (``_e``) and the other one (``_o``).

    Returns ``(feature, cx, cy, cz, v)``: ``corner`` or ``edge`` with the closest point when p lies in that region,
    else -1; ``v`` is the barycentric numerator ``da_e * dq_o - dq_e * da_o`` for the face region."""
    if dq_e >= 0.0 and dq_o <= dq_e:
        return corner, ax + ex, ay + ey, az + ez, 0.0
    v = da_e * dq_o - dq_e * da_o
    if v <= 0.0 and da_e >= 0.0 and dq_e <= 0.0:
        t = _ratio(da_e, dq_e)
        return edge, ax + t * ex, ay + t * ey, az + t * ez, v
    return -1, 0.0, 0.0, 0.0, v


@njit(cache=True, inline="always")
def _closest_on_triangle(px, py, pz, T, k):  # pragma: no cover - compiled
    """Ericson's region method for triangle ``T[k]`` (non-degenerate); returns (d2, cx, cy, cz, feature)."""
    ax = T[k, 0]
    ay = T[k, 1]
    az = T[k, 2]
    abx, aby, abz = corner_minus(T, k, 1, ax, ay, az)
    acx, acy, acz = corner_minus(T, k, 2, ax, ay, az)
    apx = px - ax
    apy = py - ay
    apz = pz - az
    d1, d2 = _dots(abx, aby, abz, acx, acy, acz, apx, apy, apz)  # (p - a) against the edges ab, ac
    if d1 <= 0.0 and d2 <= 0.0:
        cx, cy, cz, feat = ax, ay, az, 0
    else:
        d3, d4 = _dots(abx, aby, abz, acx, acy, acz, apx - abx, apy - aby, apz - abz)  # (p - b)
        feat, cx, cy, cz, vc = _corner_or_edge(ax, ay, az, abx, aby, abz, d1, d2, d3, d4, 1, 3)  # b, then ab
        if feat < 0:
            d5, d6 = _dots(abx, aby, abz, acx, acy, acz, apx - acx, apy - acy, apz - acz)  # (p - c)
            feat, cx, cy, cz, vb = _corner_or_edge(ax, ay, az, acx, acy, acz, d2, d1, d6, d5, 2, 5)  # c, then ac
            if feat < 0:
                va = d3 * d6 - d5 * d4
                e43 = d4 - d3
                e56 = d5 - d6
                if va <= 0.0 and e43 >= 0.0 and e56 >= 0.0:
                    w = _ratio(e43, -e56)
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
def _child_d2(px, py, pz, nodes, n, o, best):  # pragma: no cover - compiled
    """Lower bound on the squared distance from the point to child ``o`` (0 left, _ROW right) of inner node ``n``:
    the larger of the squared distances to its box and to its bounding cylinder (skipped when the box already
    reaches ``best``)."""
    dx = max(nodes[n, o] - px, 0.0, px - nodes[n, o + 3])
    dy = max(nodes[n, o + 1] - py, 0.0, py - nodes[n, o + 4])
    dz = max(nodes[n, o + 2] - pz, 0.0, pz - nodes[n, o + 5])
    box = dx * dx + dy * dy + dz * dz
    if box >= best:
        return box
    wx = px - nodes[n, o + 6]
    wy = py - nodes[n, o + 7]
    wz = pz - nodes[n, o + 8]
    h = wx * nodes[n, o + 9] + wy * nodes[n, o + 10] + wz * nodes[n, o + 11]
    g = max(nodes[n, o + 13] - h, 0.0, h - nodes[n, o + 14])
    q2 = wx * wx + wy * wy + wz * wz - h * h * _AXIS_HI
    rho = nodes[n, o + 12]
    c2 = g * g * _AXIS_LO
    if q2 > rho * rho:
        t = np.sqrt(q2) - rho
        c2 += t * t
    return max(box, c2)


@njit(cache=True, inline="always")
def _closest(px, py, pz, tri, degenerate, k):  # pragma: no cover - compiled
    if degenerate[k]:
        return _closest_on_degenerate(px, py, pz, tri, k)
    return _closest_on_triangle(px, py, pz, tri, k)


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
                    dn = _child_d2(px, py, pz, boxes, node, 0, best)
                    df = _child_d2(px, py, pz, boxes, node, _ROW, best)
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


def spatial_order(points: np.ndarray, bits: int = 10) -> np.ndarray:
    """Permutation ``(N,) int64`` that sorts ``points: (N, 3) float64`` along a Morton (Z-order) curve (stable)."""
    if len(points) < 2:
        return np.arange(len(points))
    return morton_order(points, bits)


def nearest(
    bvh: TriangleBVH, points: np.ndarray, max_distance: float = np.inf, order: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Nearest triangle to each of ``points: (N, 3) float64`` (C-contiguous).

    Returns ``d2 (N,) float64`` squared distances, ``closest (N, 3) float64``, ``tri (N,) int64`` index into the
    *reordered* ``bvh.tri`` (map with ``bvh.tri_index``) and ``feature (N,) int64`` (codes in the module docstring).
    Points farther than ``max_distance`` get ``d2 = max_distance**2``, NaN closest points and ``tri = -1``.
    Queries run in Morton order of the points (``order``: ``spatial_order(points)`` when not given; cache locality,
    warm starts); results come back in input order.
    """
    n = points.shape[0]
    d2 = np.empty(n)
    closest = np.empty((n, 3))
    tri = np.empty(n, np.int64)
    feat = np.empty(n, np.int64)
    if n:
        max_d2 = float(max_distance) ** 2 if np.isfinite(max_distance) else np.inf
        with serial_below(n, _PARALLEL_MIN_POINTS):
            _nearest(
                points,
                spatial_order(points) if order is None else order,
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
