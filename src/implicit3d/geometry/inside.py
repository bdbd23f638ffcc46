"""Inside/outside tests of query points against triangle meshes.

Methods of :func:`inside`:

- ``"signed"``: signed ray crossings. A ray is cast from each point along +z; each triangle it crosses counts +1
  when the triangle's normal points along the ray (the ray leaves the solid there) and -1 otherwise. For a
  consistently oriented closed mesh (:func:`is_oriented`: every edge traversed equally often in both directions)
  the sum is the winding number itself, an integer; inside means non-zero. Several closed parts that overlap,
  touch or nest (convex decompositions, CAD assemblies) hence give their union when they all face the same way
  (all outward or all inward), and duplicated faces count as often as they occur, like in the exact winding
  number. A part facing the other way subtracts where it overlaps the others (winding +1 - 1 = 0): that is how a
  cavity is modelled (an inner shell facing inward), and also what a part flipped by mistake does.
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
    """``(closed, oriented)`` of ``mesh``: :func:`is_closed` and :func:`is_oriented` in one pass over the vertices
    (their hashes) and one over the faces (the hashed edge check)."""
    vertices, faces = as_mesh_arrays(mesh)
    k = _kernels(len(faces))
    threads = numba.get_num_threads()
    hv, _, _ = k.vertex_hashes(vertices, vertices.view(np.int64), threads)
    closed, oriented = k.edge_closure(hv, faces, threads)
    return bool(closed), bool(oriented)


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
    rule, out = k.closed_inside(vertices, faces, pts, _RULES[method], numba.get_num_threads(), _params(),
                                *_sweep_chunks(k))
    return _vote(vertices, faces, pts, k) if rule == K.RULE_VOTE else out


_RULES = {"auto": K.RULE_AUTO, "signed": K.RULE_SIGNED, "parity": K.RULE_PARITY}
_NONE = np.zeros((0, 3))
_NO_TOP = np.zeros(0)  # segment tops: none given, whole rays


def _params() -> np.ndarray:
    """The tuning constants above, as ``K.closed_inside`` takes them (read per call: tests change them)."""
    return np.array([VOXEL_FACTOR, VOXEL_POINTS, VOXEL_MAX, VOXEL_MIN_POINTS, SWEEP_FACTOR, SWEEP_CELLS,
                     SWEEP_MAX_CELLS, EXTENT_SAMPLE], np.float64)


def _sweep_chunks(k: SimpleNamespace) -> tuple[int, int]:
    """``(work items, block)`` of a sweep with the kernels ``k``: a few work items per thread (a small sweep runs on
    one thread anyway: ``sweep_query`` estimates its cost), and blocks of queries whose counters (work items x
    queries int32 pairs) stay near ``_SWEEP_COUNTERS``."""
    chunks = (4 if k is K.PARALLEL else 2) * numba.get_num_threads()
    return chunks, max(1 << 16, _SWEEP_COUNTERS // chunks)


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
    n = len(pts) if select is None else len(select)
    h = K.sweep_cell(ext, float((hi - lo).max()), n, SWEEP_FACTOR, SWEEP_CELLS, SWEEP_MAX_CELLS)
    every = select is None
    sel = np.zeros(0, np.int64) if every else select
    counts = k.sweep_blocks(_NONE, _NO_TOP, pts, sel, _NO_TOP, every, vertices, faces, axes, h, False,
                            *_sweep_chunks(k))
    return (counts & 1) == 1


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
