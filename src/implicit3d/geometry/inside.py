"""Inside/outside tests of query points against triangle meshes.

Methods of :func:`inside`:

- ``"signed"``: signed ray crossings. A ray is cast from each point along +z; each triangle it crosses counts +1
  when the triangle's normal points along the ray (the ray leaves the solid there) and -1 otherwise. For a
  consistently oriented closed mesh (:func:`is_oriented`: every edge traversed equally often in both directions)
  the sum is the winding number itself, an integer; inside means non-zero. Several closed parts that overlap,
  touch or nest (convex decompositions, CAD assemblies) hence give their union, whichever orientation each part has
  (all outward, all inward or mixed), and duplicated faces count as often as they occur, like in the exact winding
  number. A part that is meant as a cavity must face inward to subtract (the usual convention).
- ``"parity"``: ray parity along +z; an odd number of crossings means inside. Correct for closed meshes (every edge
  shared by an even number of faces), whatever their face orientation, as long as their parts do not overlap: where
  two closed parts overlap (winding number 2) parity says outside, and a part nested in another is a cavity.
- ``"vote"``: ray parity along +x, +y and +z; inside when at least two of the three agree. The robust mode of
  ``"auto"``: on pybullet's duck with three holes punched in it, it agrees with the winding number on 99.9% of
  uniform points in the padded bounding box and is ~10x faster than ``"winding"``.
- ``"winding"``: generalized winding number, inside when ``|w| > 0.5`` (``implicit3d.geometry.winding``); robust to
  holes, open boundaries and self-overlap, but needs a consistently oriented mesh.
- ``"auto"`` (default): ``"signed"`` when the mesh is consistently oriented and closed (:func:`is_oriented`; so the
  answer is the exact winding number's ``w != 0``), else ``"parity"`` when it is closed (:func:`is_closed`:
  orientation inconsistent, e.g. some faces flipped), else ``"vote"`` (open mesh).

For ``"signed"`` and ``"parity"`` the query points are bucketed in a uniform 2D grid over the xy plane and each face
tests the points of the cells its bounding box covers (compiled; the faces split over the threads when the sweep is
large enough to pay for waking them). On a closed mesh (consistently oriented for ``"signed"``) with many points, a
voxel shortcut goes first: the voxels of the mesh's bounding box that no face meets (separating-axis test against
the voxel grown by a small margin, so never a voxel the surface touches) take one answer per run of them along z
(the answer is constant off the surface), and only points in touched voxels cast their own ray. Those rays and the
runs' are short: each counts the crossings only up to the run of untouched voxels above it and adds that run's count
(chained down each column). The answers are the same as without the shortcut. Rays through edges and vertices are
decided by symbolic perturbation with bit-identical shared-edge computations (see ``_inside_kernels``): each such
ray is counted exactly once. The two rules share every crossing decision and differ only in how the crossings are
summed. :class:`RayGrid` (faces bucketed instead of points; build once, query many times) gives the same answers.

Points exactly on the surface get a deterministic answer: ``"signed"`` and ``"parity"`` treat them as moved by an
infinitesimal amount in +z (a point on an upward-facing face is outside, on a downward-facing face inside) and, on
faces parallel to z, by ``(+eps, +eps**2)`` in xy (on a box face at ``x = x_max`` outside, at ``x = x_min`` inside).
For an axis-aligned box ``[lo, hi]`` this means exactly: inside iff ``lo <= p < hi`` in every coordinate, also for
``"vote"`` (its x and y rays use the cyclic permutations of the same rule). ``"winding"`` gives ``w`` close to 0.5
there, so either answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numba
import numpy as np

from implicit3d.geometry import _inside_kernels as K
from implicit3d.geometry.validation import as_mesh_arrays, as_points
from implicit3d.geometry.winding import WindingTree

METHODS = ("auto", "signed", "parity", "vote", "winding")
_AXES = {0: (1, 2, 0), 1: (2, 0, 1), 2: (0, 1, 2)}  # ray axis -> (u, v, w) columns, cyclic (right-handed)
_MAX_CELLS = 1 << 22
WINDING_BETA = 1.5  # far-field factor for the inside test: max |w| error ~0.06, far below the 0.5 threshold
CELL_FACTOR = 0.33  # grid cell size / mean xy extent of the triangles (tuned on bench_geometry_inside.py)
VOXEL_FACTOR = 0.25  # voxel size / median xy extent of the triangles (tuned on bench_geometry_inside.py) ...
VOXEL_POINTS = 1.0  # ... but at most one voxel per this many query points ...
VOXEL_MAX = 256  # ... and at most this many along an axis
VOXEL_MIN_POINTS = 120.0  # no voxels below this many x sqrt(faces) query points: the sweep alone is cheaper (the
# crossover measured at ~3k points for 1k faces, ~14k for 20k faces, ~70k for 330k faces)
_PARALLEL_MIN_WORK = 200_000  # fewer query points + faces (faces for the closedness check): one thread
_SWEEP_COUNTERS = 1 << 23  # counters of one sweep (x 8 bytes)
SWEEP_FACTOR = 0.125  # point cell size of the sweep / median xy extent of the triangles (tuned on the benchmark)
SWEEP_CELLS = 2.0  # ... but no finer than (SWEEP_CELLS x SWEEP_CELLS) cells per query point over the mesh's extent
SWEEP_MAX_CELLS = 1 << 17  # ... nor this many cells in all (their index, 8 bytes each, stays in cache)
EXTENT_SAMPLE = 1024  # faces sampled for the median extent


@dataclass(frozen=True)
class RayGrid:
    """Triangles bucketed for rays along one axis (build once, query many times with :meth:`__call__`).

    axes: (3,) int64 columns (u, v, w), the ray runs along +w; tri: (F, 10) float64 corners in (u, v, w) order,
    then each triangle's max w; cell_start (nu * nv + 1,) int64 and cell_tris (K,) int32: CSR cell lists;
    origin (u0, v0), inv = 1 / cell size; bounds: (6,) u, v, w min then max of the mesh.
    """

    axes: np.ndarray
    tri: np.ndarray
    cell_start: np.ndarray
    cell_tris: np.ndarray
    u0: float
    v0: float
    inv: float
    nu: int
    nv: int
    bounds: np.ndarray

    @classmethod
    def build(cls, mesh: Any, axis: int = 2, cell_factor: float = CELL_FACTOR) -> RayGrid:
        """Bucket ``mesh``'s triangles for rays along ``axis`` (0 = x, 1 = y, 2 = z)."""
        vertices, faces = as_mesh_arrays(mesh)
        if axis not in _AXES:
            raise ValueError(f"axis must be 0, 1 or 2, got {axis}")
        axes = np.array(_AXES[axis], np.int64)
        tri, mean_ext = K.prepare_triangles(vertices, faces, axes)
        lo, hi = K.bounds(vertices, axes)
        width = np.maximum(hi[:2] - lo[:2], 1e-12 * max(float(np.abs(hi - lo).max()), 1e-300))
        h = cell_factor * float(mean_ext)
        cap = min(_MAX_CELLS, max(64 * len(faces), 16))
        h = max(h, float(np.sqrt(width[0] * width[1] / cap)), float(width.max()) / 4096.0)
        nu = max(1, int(np.ceil(width[0] / h)))
        nv = max(1, int(np.ceil(width[1] / h)))
        inv = 1.0 / h
        cell_start, cell_tris = K.build_grid(tri, float(lo[0]), float(lo[1]), inv, nu, nv)
        return cls(axes, tri, cell_start, cell_tris, float(lo[0]), float(lo[1]), inv, nu, nv, np.concatenate([lo, hi]))

    def __call__(self, points: Any, signed: bool = False) -> np.ndarray:
        """Inside test by the ray from each of ``points (N, 3)``: ``(N,) bool``.

        ``signed=False``: odd crossing count (parity); ``signed=True``: non-zero signed crossing count (winding
        number of a consistently oriented closed mesh).
        """
        pts = as_points(points)
        return K.ray_query(
            pts, self.axes, self.tri, self.cell_start, self.cell_tris,
            self.u0, self.v0, self.inv, self.nu, self.nv, self.bounds, bool(signed),
        )


def closure(mesh: Any) -> tuple[bool, bool]:
    """``(closed, oriented)`` of ``mesh``: :func:`is_closed` and :func:`is_oriented` in one pass over the edges."""
    vertices, faces = as_mesh_arrays(mesh)
    closed, oriented, _, _ = _closure(vertices, faces, _kernels(len(faces)))
    return closed, oriented


def _closure(
    vertices: np.ndarray, faces: np.ndarray, k: SimpleNamespace
) -> tuple[bool, bool, np.ndarray, np.ndarray]:
    """``(closed, oriented, lo, hi)``: the hashed edge check (one pass over the vertices, which also gives their
    bounds ``lo, hi (3,)``, then one over the faces) with the kernels ``k``."""
    threads = numba.get_num_threads()
    hv, lo, hi = k.vertex_hashes(vertices, vertices.view(np.int64), threads)
    closed, oriented = k.edge_closure(hv, faces, threads)
    return bool(closed), bool(oriented), lo, hi


def _kernels(work: int) -> SimpleNamespace:
    """The serial kernels below ``_PARALLEL_MIN_WORK`` (query points + faces), else the parallel ones."""
    return K.SERIAL if work < _PARALLEL_MIN_WORK else K.PARALLEL


def is_closed(mesh: Any) -> bool:
    """True when every edge of ``mesh`` is shared by an even number of faces (so ray parity is exact).

    Vertices are matched by exact coordinates (duplicated vertices of an unmerged mesh still close it); edges of zero
    length (degenerate triangles) are ignored. Decided in one pass over the faces by 128 bits of edge hashes
    (``K.edge_closure``): a closed mesh is always reported closed; an open one is reported closed only by a chance
    cancellation of both 64-bit checks (about 2**-120).
    """
    return closure(mesh)[0]


def is_oriented(mesh: Any) -> bool:
    """True when ``mesh`` is closed and consistently oriented: every edge is traversed as often from a to b as from
    b to a (so the signed ray crossing count is the exact winding number). Vertices matched as in :func:`is_closed`.

    Several closed parts, each consistently oriented on its own, are oriented together, also where they overlap,
    touch along edges or share faces.
    """
    return closure(mesh)[1]


def inside(mesh: Any, points: Any, method: str = "auto") -> np.ndarray:
    """Which of ``points (N, 3)`` lie inside ``mesh`` (``trimesh.Trimesh`` or ``(V, F)``): ``(N,) bool``.

    ``method``: ``"auto"`` | ``"signed"`` | ``"parity"`` | ``"vote"`` | ``"winding"`` (module docstring). ``"auto"``
    uses the signed crossing count (exact winding number, inside = non-zero: the union of overlapping or nested parts)
    when the mesh is closed and consistently oriented, ray parity when it is closed but not consistently oriented,
    and the three-ray vote when it is open. Units are the mesh's. Degenerate (zero-area) triangles are tolerated.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    vertices, faces = as_mesh_arrays(mesh)
    pts = as_points(points)
    if len(pts) == 0:
        return np.zeros(0, bool)
    if method == "winding":
        return np.abs(WindingTree.build((vertices, faces))(pts, beta=WINDING_BETA)) > 0.5
    k = _kernels(len(pts) + len(faces))
    if method == "vote":
        return _vote(vertices, faces, pts, k)
    closed, oriented, lo, hi = _closure(vertices, faces, k)
    if method == "auto":
        method = "signed" if oriented else ("parity" if closed else "vote")
    if method == "vote":
        return _vote(vertices, faces, pts, k)
    signed = method == "signed"
    ext = float(K.median_extent(vertices, faces, _Z, EXTENT_SAMPLE))
    size = float((hi - lo).max())
    grid = _voxel_grid(lo, hi, ext, len(pts), len(faces))
    # the voxel shortcut needs the ray answer to be constant off the surface
    if grid is None or not (oriented if signed else closed):
        counts = _sweep(_NONE, _NO_TOP, pts, None, _NO_TOP, vertices, faces, _Z, _sweep_cell(ext, size, len(pts)),
                        signed, k)
        return counts != 0 if signed else (counts & 1) == 1
    inv, shape = grid
    state = k.voxel_mark(vertices, faces, _Z, lo, inv, shape)
    centres, run_start, run_top, run_bottom, above = k.voxel_runs(state, lo, inv)
    # flat voxel of each point (-1: outside the box); the points in touched voxels and their segments' tops
    voxel, ray, ray_top = k.voxel_classify(pts, _Z, state, above, run_bottom, lo, hi, inv)
    # one sweep: the runs' segments (each up to the run above), then those of the points in touched voxels
    h = _sweep_cell(ext, size, len(centres) + len(ray))
    counts = _sweep(centres, run_top, pts, ray, ray_top, vertices, faces, _Z, h, signed, k)
    return k.voxel_answers(state, run_start, above, counts, voxel, ray, signed)


_Z = np.array(_AXES[2], np.int64)  # rays along +z: (u, v, w) = (x, y, z)
_NONE = np.zeros((0, 3))
_NO_TOP = np.zeros(0)  # segment tops: none given, whole rays


def _voxel_grid(lo: np.ndarray, hi: np.ndarray, ext: float, n_points: int, n_faces: int) -> tuple | None:
    """``(inv, shape (3,) int64)`` of the voxel shortcut's grid over the box ``[lo, hi]`` (u, v, w) for ``n_points``
    queries, ``ext`` the median face extent; None where the sweep alone is cheaper (few points) or the box is flat."""
    size = float((hi - lo).max())
    h_vox = max(VOXEL_FACTOR * ext, size / min(VOXEL_MAX, max(1.0, np.cbrt(n_points / VOXEL_POINTS))))
    if n_points < VOXEL_MIN_POINTS * np.sqrt(n_faces) or not (np.isfinite(h_vox) and h_vox > 0.0):
        return None
    inv = 1.0 / h_vox
    return inv, np.maximum(1, np.ceil((hi - lo) * inv)).astype(np.int64)


def _vote(vertices: np.ndarray, faces: np.ndarray, pts: np.ndarray, k: SimpleNamespace) -> np.ndarray:
    """``"vote"``: ray parity along +x, +y and +z (the point-grid sweep, no voxel shortcut), at least two agreeing.
    The third ray is cast only from the points where the first two disagree (elsewhere it cannot change the vote)."""
    first = [_axis_sweep(vertices, faces, pts, None, axis, k) for axis in (2, 0)]
    out = first[0].copy()
    split = np.flatnonzero(first[0] != first[1])
    if len(split):
        out[split] = _axis_sweep(vertices, faces, pts, split, 1, k)
    return out


def _axis_sweep(
    vertices: np.ndarray, faces: np.ndarray, pts: np.ndarray, select: np.ndarray | None, axis: int, k: SimpleNamespace
) -> np.ndarray:
    """Ray parity along ``axis`` of ``pts[select]`` (every point when ``select`` is None) by the point-grid sweep."""
    axes = np.array(_AXES[axis], np.int64)
    ext = float(K.median_extent(vertices, faces, axes, EXTENT_SAMPLE))
    lo, hi = K.bounds(vertices, axes)
    h = _sweep_cell(ext, float((hi - lo).max()), len(pts) if select is None else len(select))
    return (_sweep(_NONE, _NO_TOP, pts, select, _NO_TOP, vertices, faces, axes, h, False, k) & 1) == 1


def _sweep(
    extra: np.ndarray, extra_top: np.ndarray, pts: np.ndarray, select: np.ndarray | None, point_top: np.ndarray,
    vertices: np.ndarray, faces: np.ndarray, axes: np.ndarray, h: float, signed: bool, k: SimpleNamespace,
) -> np.ndarray:
    """``k.sweep_query`` of the segments from the queries ``extra (R, 3)`` up to ``extra_top (R,)``, then from
    ``pts[select]`` (every point when ``select`` is None) up to ``point_top`` (empty tops: whole rays): ``(Q,)
    int32`` signed crossing sums (``signed``) or counts. In blocks: its counters take (work items x queries) int32
    pairs, kept to about ``_SWEEP_COUNTERS`` (one pass over the faces per block)."""
    # parallel work items, a few per thread (a small sweep runs on one thread: sweep_query estimates its cost)
    chunks = (4 if k is K.PARALLEL else 2) * numba.get_num_threads()
    block = max(1 << 16, _SWEEP_COUNTERS // chunks)
    every = select is None
    sel = np.zeros(0, np.int64) if every else select
    m = len(pts) if every else len(sel)
    if len(extra) + m <= block:
        return k.sweep_query(extra, extra_top, pts, sel, point_top, every, vertices, faces, axes, h, signed, chunks)
    parts = [k.sweep_query(extra[s : s + block], extra_top[s : s + block], pts, sel[:0], _NO_TOP, False, vertices,
                           faces, axes, h, signed, chunks)
             for s in range(0, len(extra), block)]
    for s in range(0, m, block):
        idx = np.arange(s, min(s + block, m)) if every else sel[s : s + block]
        parts.append(k.sweep_query(extra[:0], _NO_TOP, pts, idx, point_top[s : s + block], False, vertices, faces,
                                   axes, h, signed, chunks))
    return np.concatenate(parts)


def _sweep_cell(ext: float, size: float, n: int) -> float:
    """Point cell size of the sweep: ``SWEEP_FACTOR`` x the median face extent ``ext``, but no finer than about
    ``SWEEP_CELLS**2`` cells per point (``n`` points over the mesh's extent ``size``) nor ``SWEEP_MAX_CELLS`` cells."""
    h = max(SWEEP_FACTOR * ext, size / (SWEEP_CELLS * np.sqrt(max(n, 1))), size / np.sqrt(SWEEP_MAX_CELLS))
    return h if h > 0.0 else 1.0


def ray_brute_force(mesh: Any, points: Any, axis: int = 2, signed: bool = False) -> np.ndarray:
    """Reference ray test (parity, or non-zero signed count with ``signed``) against every triangle, O(N F):
    ``(N,) bool``."""
    vertices, faces = as_mesh_arrays(mesh)
    pts = as_points(points)
    axes = list(_AXES[axis])
    corners = vertices[faces][:, :, axes]
    tri = np.empty((len(faces), 10))
    tri[:, :9] = corners.reshape(-1, 9)
    tri[:, 9] = corners[:, :, 2].max(axis=1)
    return K.ray_brute(np.ascontiguousarray(pts[:, axes]), tri, bool(signed))
