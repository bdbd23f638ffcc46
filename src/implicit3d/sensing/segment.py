"""A tabletop depth frame split into its support plane and the objects on it.

Everything is in the camera frame (OpenCV: x right, y down, z forward; metres). A plane is ``normal · x + d = 0`` with
``normal`` pointing to the camera's side (``d > 0``: the camera is above it), so ``height(x) = normal · x + d`` is the
signed height above the plane.

- :func:`fit_plane` — RANSAC with vectorized hypotheses, then least-squares refinement on the inliers.
- :func:`find_support_plane` — the dominant supporting plane among the largest planes of the frame (the one with the
  most support that does not face down; a markedly more upward-facing plane with comparable support wins, e.g. a floor
  over a wall), or the one closest to a given ``up`` direction.
- :func:`table_region` — the plane's extent in its own 2D coordinates (inliers rasterized, gaps closed, holes filled:
  objects occlude the table where they stand).
- :func:`segment_objects` — the pixels above the table region become objects by depth-edge-aware connected components
  in the image (neighbouring pixels join when their 3D distance is small), then small, huge and flat clusters are
  skipped with a reason, and outliers (flying pixels at depth edges) are removed from each object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from implicit3d.errors import UserError

DOWN_IN_IMAGE = np.array([0.0, 1.0, 0.0])  #: +y of the OpenCV camera frame points down in the image


@dataclass
class Plane:
    """``normal · x + d = 0``; ``normal (3,)`` unit, towards the camera (``d > 0``). ``inliers``: points within the
    fit threshold, ``rms`` their residual (metres)."""

    normal: np.ndarray
    d: float
    inliers: int = 0
    rms: float = 0.0

    def height(self, points: np.ndarray) -> np.ndarray:
        """Signed height ``(N,)`` of ``points (N, 3)`` above the plane (positive on the camera's side)."""
        return np.asarray(points, dtype=np.float64) @ self.normal + self.d

    def basis(self) -> np.ndarray:
        """``(2, 3)`` orthonormal in-plane axes (for 2D plane coordinates)."""
        a = np.eye(3)[int(np.argmin(np.abs(self.normal)))]
        u = np.cross(self.normal, a)
        u /= np.linalg.norm(u)
        return np.stack([u, np.cross(self.normal, u)])

    def to_dict(self) -> dict[str, Any]:
        return {"normal": [float(v) for v in self.normal], "d": float(self.d), "inliers": int(self.inliers),
                "rms_m": float(self.rms)}


class NoPlaneError(UserError):
    """No supporting plane was found in the frame."""


def _oriented(normal: np.ndarray, d: float) -> tuple[np.ndarray, float]:
    n = np.asarray(normal, dtype=np.float64)
    scale = float(np.linalg.norm(n))
    n, d = n / scale, float(d) / scale
    return (-n, -d) if d < 0 else (n, d)


def _refine(points: np.ndarray, inlier: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares plane through ``points[inlier]`` (smallest principal axis)."""
    p = points[inlier]
    c = p.mean(axis=0)
    _, vecs = np.linalg.eigh(np.cov((p - c).T))
    n = vecs[:, 0]
    return _oriented(n, -float(n @ c))


def fit_plane(
    points: np.ndarray,
    rng: np.random.Generator,
    threshold: float = 0.01,
    iterations: int = 400,
    max_sample: int = 20_000,
) -> Plane:
    """The plane with the most points within ``threshold`` metres of it, by RANSAC over ``points (N, 3)``.

    ``iterations`` three-point hypotheses are scored at once on at most ``max_sample`` points; the best is refined by
    least squares on its inliers among all points (twice). Raises ``ValueError`` for fewer than three points.
    """
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) < 3:
        raise ValueError(f"a plane needs at least 3 points, got {len(pts)}")
    sample = pts if len(pts) <= max_sample else pts[rng.choice(len(pts), max_sample, replace=False)]
    tri = sample[rng.integers(0, len(sample), (iterations, 3))]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norm = np.linalg.norm(normals, axis=1)
    ok = norm > 1e-12
    if not ok.any():
        raise ValueError("the points are collinear: no plane")
    normals, tri = normals[ok] / norm[ok, None], tri[ok]
    d = -np.einsum("ij,ij->i", normals, tri[:, 0])
    dist = np.abs(sample.astype(np.float32) @ normals.T.astype(np.float32) + d.astype(np.float32))
    best = int(np.argmax((dist < threshold).sum(axis=0)))
    n, dd = _oriented(normals[best], d[best])
    for _ in range(2):
        inlier = np.abs(pts @ n + dd) < threshold
        if inlier.sum() < 3:
            break
        n, dd = _refine(pts, inlier)
    res = pts @ n + dd
    inlier = np.abs(res) < threshold
    return Plane(n, dd, int(inlier.sum()), float(np.sqrt(np.mean(res[inlier] ** 2))) if inlier.any() else 0.0)


def find_planes(
    points: np.ndarray, rng: np.random.Generator, threshold: float = 0.01, max_planes: int = 3,
    min_fraction: float = 0.05,
) -> list[Plane]:
    """The ``max_planes`` largest planes of ``points (N, 3)``, found one after the other (each fit removes its
    inliers), as long as each holds ``min_fraction`` of the points."""
    pts = np.asarray(points, dtype=np.float64)
    planes: list[Plane] = []
    left = pts
    for _ in range(max_planes):
        if len(left) < max(3, min_fraction * len(pts)):
            break
        plane = fit_plane(left, rng, threshold)
        if plane.inliers < min_fraction * len(pts):
            break
        planes.append(plane)
        left = left[np.abs(plane.height(left)) >= threshold]
    return planes


def find_support_plane(
    points: np.ndarray,
    rng: np.random.Generator,
    threshold: float = 0.01,
    up: np.ndarray | None = None,
    max_planes: int = 3,
    min_fraction: float = 0.05,
    planes: list[Plane] | None = None,
) -> Plane:
    """The supporting plane of a tabletop frame ``points (N, 3)`` (camera frame).

    The ``max_planes`` largest planes are found one after the other (each fit removes its inliers). With ``up``
    (gravity's up in the camera frame, if known), the plane whose normal is closest to it (within 35 degrees) wins.
    Otherwise planes that face down in the image (ceilings, undersides) are ruled out, and of the rest the one with
    most inliers wins, unless a plane with at least half its support faces clearly more upwards in the image (a floor
    beside a wall). ``planes``: the candidates, if already found (:func:`find_planes`). Raises
    :class:`NoPlaneError` when no plane holds ``min_fraction`` of the points.
    """
    if planes is None:
        planes = find_planes(points, rng, threshold, max_planes, min_fraction)
    if up is not None:
        u = np.asarray(up, dtype=np.float64) / np.linalg.norm(up)
        near = [p for p in planes if p.normal @ u > np.cos(np.radians(35.0))]
        if not near:
            raise NoPlaneError("no large plane is perpendicular to the given up direction (within 35 degrees)")
        return max(near, key=lambda p: p.inliers)
    upward = [p for p in planes if -(p.normal @ DOWN_IN_IMAGE) > -0.2]  # not facing down in the image
    if not upward:
        raise NoPlaneError(
            f"no supporting plane found: no plane holds {min_fraction:.0%} of the valid points and faces up"
        )
    best = max(upward, key=lambda p: p.inliers)
    rivals = [p for p in upward if p.inliers >= 0.5 * best.inliers
              and -(p.normal @ DOWN_IN_IMAGE) > -(best.normal @ DOWN_IN_IMAGE) + 0.3]
    return max(rivals, key=lambda p: -(p.normal @ DOWN_IN_IMAGE)) if rivals else best


@dataclass
class TableRegion:
    """The support plane's extent: a 2D occupancy ``mask (A, B)`` over plane coordinates with ``origin (2,)`` and
    ``cell`` size (metres) along :meth:`Plane.basis`."""

    plane: Plane
    mask: np.ndarray
    origin: np.ndarray
    cell: float

    def contains(self, points: np.ndarray) -> np.ndarray:
        """``(N,) bool``: the projection of ``points (N, 3)`` onto the plane falls inside the region."""
        uv = np.asarray(points, dtype=np.float64) @ self.plane.basis().T
        ij = np.floor((uv - self.origin) / self.cell).astype(np.int64)
        ok = np.all((ij >= 0) & (ij < np.array(self.mask.shape)), axis=1)
        out = np.zeros(len(ij), dtype=bool)
        out[ok] = self.mask[ij[ok, 0], ij[ok, 1]]
        return out

    def depth_inside(self, points: np.ndarray) -> float:
        """Median distance (metres) of the projections of ``points (N, 3)`` from the region's edge (0 outside)."""
        from scipy import ndimage

        if not hasattr(self, "_edt"):
            self._edt = ndimage.distance_transform_edt(self.mask) * self.cell
        uv = np.asarray(points, dtype=np.float64) @ self.plane.basis().T
        ij = np.clip(np.floor((uv - self.origin) / self.cell).astype(np.int64), 0, np.array(self.mask.shape) - 1)
        return float(np.median(self._edt[ij[:, 0], ij[:, 1]])) if len(ij) else 0.0

    def outline(self, points_on_plane: np.ndarray) -> np.ndarray:
        """Corners ``(K, 3)`` of the convex hull of ``points_on_plane (N, 3)`` projected onto the plane."""
        from scipy.spatial import ConvexHull

        basis = self.plane.basis()
        uv = np.asarray(points_on_plane, dtype=np.float64) @ basis.T
        hull = uv[ConvexHull(uv).vertices]
        return hull @ basis - self.plane.d * self.plane.normal


TABLE_PATCH_SHARE = 0.2  #: a coplanar patch of at least this share of the largest one's area is part of the table
TABLE_PATCH_GAP = 1.0  #: ... when it comes within this many metres of the largest (not a desk across the room)


def table_region(plane: Plane, inlier_points: np.ndarray, cell: float = 0.02, margin: int = 2) -> TableRegion:
    """The region of ``plane`` covered by its ``inlier_points (N, 3)``: the convex hull of their projections (a table
    top is convex; objects standing on it hide parts of it, often at its far edge), rasterized at ``cell`` metres and
    grown by ``margin`` cells. Cells holding a single stray inlier are ignored, and so are patches of cells smaller
    than :data:`TABLE_PATCH_SHARE` of the largest or farther than :data:`TABLE_PATCH_GAP` from it (the table seen
    between objects whose shadows reach the image border is several patches: all of them count; a desk of the
    same height across the room does not)."""
    from scipy import ndimage
    from scipy.spatial import ConvexHull, QhullError
    from skimage.draw import polygon

    uv = np.asarray(inlier_points, dtype=np.float64) @ plane.basis().T
    origin = uv.min(axis=0) - (margin + 1) * cell
    ij = np.floor((uv - origin) / cell).astype(np.int64)
    shape = tuple(int(v) for v in ij.max(axis=0) + margin + 2)
    counts = np.zeros(shape, dtype=np.int64)
    np.add.at(counts, (ij[:, 0], ij[:, 1]), 1)
    occupied, n = ndimage.label(counts > 1)
    if n == 0:
        raise NoPlaneError("the support plane holds no area")
    sizes = ndimage.sum_labels(np.ones(shape), occupied, index=np.arange(1, n + 1))
    # the table: every patch of at least a fifth of the largest one's area (objects and their shadows, reaching the
    # image border, cut a table into pieces), not small far coplanar bits
    largest = occupied == 1 + int(np.argmax(sizes))
    near = ndimage.distance_transform_edt(~largest) * cell <= TABLE_PATCH_GAP  # within reach of the largest patch
    reach = ndimage.maximum(near, occupied, index=np.arange(1, n + 1)).astype(bool)
    keep = 1 + np.flatnonzero((sizes >= min(max(TABLE_PATCH_SHARE * sizes.max(), 2.0), sizes.max())) & reach)
    cells = np.argwhere(np.isin(occupied, keep))
    mask = np.zeros(shape, dtype=bool)
    try:
        hull = cells[ConvexHull(cells).vertices]
        rr, cc = polygon(hull[:, 0], hull[:, 1], shape)
        mask[rr, cc] = True
        mask[cells[:, 0], cells[:, 1]] = True
    except (QhullError, ValueError):  # degenerate (a strip of cells): the cells themselves
        mask[cells[:, 0], cells[:, 1]] = True
    return TableRegion(plane, ndimage.binary_dilation(mask, iterations=margin), origin, cell)


@dataclass
class SceneObject:
    """One object of a frame: its camera-frame ``points (N, 3) float64`` and their ``pixels (N, 2)`` (row, column).
    ``hidden_support``: seen from above with the space between it and the support hidden behind itself (only its
    top is seen, e.g. a tall box under a camera looking down): it is taken to stand on the support. ``border_share``
    and ``occluded_share``: how much of its outline the image border cuts or a nearer thing hides
    (:func:`outline_view`, set by :func:`implicit3d.scene.segment_scene`)."""

    points: np.ndarray
    pixels: np.ndarray
    label: int = 0
    hidden_support: bool = False
    border_share: float = 0.0  #: share of its outline on the image border (:func:`outline_view`)
    occluded_share: float = 0.0  #: share of its outline behind something nearer (:func:`outline_view`)
    component: int = -1  #: its id in :attr:`Segmentation.components`


@dataclass
class Segmentation:
    """:func:`segment_objects`' result: the ``objects`` found, the clusters ``skipped`` (``{"points", "reason"}``),
    the ``labels (H, W) int32`` image (0: not an object) and the ``components (H, W) int64`` the objects were cut from
    (-1: no candidate pixel; an object's pixels, its outliers included, hold its ``SceneObject.component``)."""

    objects: list[SceneObject]
    skipped: list[dict[str, Any]] = field(default_factory=list)
    labels: np.ndarray | None = None
    components: np.ndarray | None = None


def pixel_normals(points_map: np.ndarray, valid: np.ndarray, step: int = 3) -> np.ndarray:
    """Unit surface normals ``(H, W, 3)`` of an organized cloud, towards the camera, from the points ``step`` pixels
    to either side (zero where a neighbour is invalid)."""
    p = points_map
    h, w = valid.shape
    dx = np.zeros_like(p)
    dy = np.zeros_like(p)
    dx[:, step:-step] = p[:, 2 * step:] - p[:, : -2 * step]
    dy[step:-step] = p[2 * step:] - p[: -2 * step]
    ok = np.zeros((h, w), dtype=bool)
    ok[step:-step, step:-step] = (valid[step:-step, 2 * step:] & valid[step:-step, : -2 * step]
                                  & valid[2 * step:, step:-step] & valid[: -2 * step, step:-step])
    n = np.cross(dx, dy)
    norm = np.linalg.norm(n, axis=2, keepdims=True)
    n = np.where(ok[..., None] & (norm > 0), n / np.maximum(norm, 1e-12), 0.0)
    flip = np.einsum("hwc,hwc->hw", n, p) > 0  # towards the camera: n . p < 0
    n[flip] *= -1.0
    return n


def _pixel_links(
    points_map: np.ndarray, mask: np.ndarray, tolerance: np.ndarray, normals: np.ndarray | None = None,
    concave_cos: float = 0.85, offset: int = 3,
) -> list[np.ndarray]:
    """Which four-neighbours of ``mask`` join: ``[right (H, W-1) bool, down (H-1, W) bool]``, a pixel and its right
    (lower) neighbour joined when both lie in ``mask``, their 3D distance is below ``tolerance`` (per pixel, ``(H,
    W)``) and, with ``normals``, the surface between them is not a concave crease (normals more than
    ``arccos(concave_cos)`` apart and turning towards each other: where two objects touch), the normals read
    ``offset`` pixels to either side of the pair."""
    h, w = mask.shape
    links = []
    for dv, du in ((0, 1), (1, 0)):
        a = mask[: h - dv, : w - du] & mask[dv:, du:]
        diff = points_map[dv:, du:] - points_map[: h - dv, : w - du]
        dist = np.linalg.norm(diff, axis=2)
        tol = np.minimum(tolerance[: h - dv, : w - du], tolerance[dv:, du:])
        join = a & (dist < tol)
        if normals is not None:  # the normals a few pixels to either side of the pair, so a crease between shows
            k = int(offset)
            n0 = np.roll(normals, (k * dv, k * du), axis=(0, 1))[: h - dv, : w - du]
            n1 = np.roll(normals, (-k * dv, -k * du), axis=(0, 1))[dv:, du:]
            bend = np.einsum("hwc,hwc->hw", n1 - n0, diff)  # < 0: the surface folds towards the camera (concave)
            crease = (np.einsum("hwc,hwc->hw", n0, n1) < concave_cos) & (bend < 0)
            join &= ~crease
        links.append(join)
    return links


def _links_within(links: list[np.ndarray], mask: np.ndarray) -> list[np.ndarray]:
    """:func:`_pixel_links` of a larger mask cut down to the pairs whose both pixels lie in ``mask (H, W) bool`` —
    the same as computing them for ``mask`` (a pair's link depends on its two pixels only)."""
    h, w = mask.shape
    return [j & mask[: h - dv, : w - du] & mask[dv:, du:]
            for (dv, du), j in zip(((0, 1), (1, 0)), links, strict=True)]


def _pixel_components(
    points_map: np.ndarray, mask: np.ndarray, tolerance: np.ndarray, normals: np.ndarray | None = None,
    concave_cos: float = 0.85, offset: int = 3, links: list[np.ndarray] | None = None,
) -> np.ndarray:
    """Connected components ``(H, W) int64`` (-1 outside ``mask``) of the pixels in ``mask``, four-neighbours joined
    as :func:`_pixel_links` says (``links``: those links already computed for ``mask`` or a larger mask)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    h, w = mask.shape
    index = np.full((h, w), -1, dtype=np.int64)
    n = int(mask.sum())
    index[mask] = np.arange(n)
    if links is None:
        links = _pixel_links(points_map, mask, tolerance, normals, concave_cos, offset)
    else:
        links = _links_within(links, mask)
    r = np.concatenate([index[: h - dv, : w - du][j] for (dv, du), j in zip(((0, 1), (1, 0)), links, strict=True)])
    c = np.concatenate([index[dv:, du:][j] for (dv, du), j in zip(((0, 1), (1, 0)), links, strict=True)])
    graph = coo_matrix((np.ones(len(r), dtype=np.int8), (r, c)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    out = np.full((h, w), -1, dtype=np.int64)
    out[mask] = comp
    return out


def _merge_fragments(fine: np.ndarray, coarse: np.ndarray, max_fragment: int) -> np.ndarray:
    """Crease-split pieces smaller than ``max_fragment`` pixels (a can's recessed lid, a handle) joined to the largest
    piece of the same proximity component (``coarse``: components without the crease rule)."""
    inside = fine >= 0
    if not inside.any():
        return fine
    f, c = fine[inside], coarse[inside]
    sizes = np.bincount(f)
    order = np.lexsort((-sizes[f], c))  # per coarse component, pixels of its largest fine piece first
    first = np.full(int(c.max()) + 1, -1)
    first[c[order[::-1]]] = f[order[::-1]]  # last write wins: the first in order, i.e. the largest piece
    merged = np.where(sizes[f] < max_fragment, first[c], f)
    out = fine.copy()
    out[inside] = merged
    return out


def _merge_inside_hull(
    fine: np.ndarray, coarse: np.ndarray, points_map: np.ndarray, plane: Plane, share: float = 0.9,
    tol: float = 0.005, max_extent: float = 0.3,
) -> np.ndarray:
    """Crease-split pieces joined to the largest piece of their proximity component (``coarse``) when at least
    ``share`` of their points lie inside that piece's convex hull closed down to the table (its points and their
    projections onto ``plane``, grown by ``tol`` metres) and that piece spans at most ``max_extent`` metres: a
    screwdriver's shaft and handle, a bowl's inside and outer wall, which a crease splits; two objects side by side
    stay apart (neither lies in the other's footprint), and so do walls and furniture with what stands by them."""
    from scipy.spatial import ConvexHull, QhullError

    inside = fine >= 0
    f, pts_all = fine[inside], points_map[inside]
    order = np.argsort(f, kind="stable")
    ids, first, sizes = np.unique(f[order], return_index=True, return_counts=True)
    comp = coarse[inside][order[first]]  # each piece lies in one proximity component (the crease rule refines them)
    merged = f.copy()
    comps, n_pieces = np.unique(comp, return_counts=True)
    for cid in comps[n_pieces > 1]:  # components split by the crease rule
        members = np.flatnonzero(comp == cid)
        big = members[np.argmax(sizes[members])]
        pts = pts_all[order[first[big] : first[big] + sizes[big]]]
        if float(np.ptp(pts, axis=0).max()) > max_extent:  # a wall, a tote, furniture: not one object's pieces
            continue
        closed = np.vstack([pts, pts - np.outer(plane.height(pts), plane.normal)])
        try:
            eq = ConvexHull(closed).equations  # (K, 4): outward unit normals and offsets
        except (QhullError, ValueError):
            continue
        for piece in members[members != big]:
            rows = order[first[piece] : first[piece] + sizes[piece]]
            within = np.all(pts_all[rows] @ eq[:, :3].T + eq[:, 3] <= tol, axis=1)
            if within.mean() >= share:
                merged[rows] = ids[big]
    out = fine.copy()
    out[inside] = merged
    return out


def _attach_fragments(comp: np.ndarray, points_map: np.ndarray, max_fragment: int, gap: float) -> np.ndarray:
    """Pieces smaller than ``max_fragment`` pixels whose nearest point is within ``gap`` metres of a larger piece
    join it (a lid seen past its rim, a handle behind a depth edge)."""
    from scipy.spatial import cKDTree

    ids, counts = np.unique(comp[comp >= 0], return_counts=True)
    small, large = ids[counts < max_fragment], ids[counts >= max_fragment]
    if len(small) == 0 or len(large) == 0:
        return comp
    big = np.isin(comp, large)
    owner = comp[big]
    is_small = np.isin(comp, small)
    piece = comp[is_small]
    dist, idx = cKDTree(points_map[big]).query(points_map[is_small], k=1)
    order = np.lexsort((dist, piece))  # per piece, its pixel nearest to a larger piece first (stable on ties)
    nearest = order[np.r_[0, np.flatnonzero(np.diff(piece[order])) + 1]]
    joins = dist[nearest] < gap
    lut = np.arange(int(comp.max()) + 1)
    lut[piece[nearest[joins]]] = owner[idx[nearest[joins]]]
    out = comp.copy()
    out[comp >= 0] = lut[comp[comp >= 0]]
    return out


def remove_outliers(points: np.ndarray, k: int = 8, n_std: float = 2.5) -> np.ndarray:
    """``(N,) bool`` keep-mask of ``points (N, 3)`` without statistical outliers: points whose mean distance to their
    ``k`` nearest neighbours exceeds the mean of that by ``n_std`` standard deviations (flying pixels)."""
    from scipy.spatial import cKDTree

    if len(points) <= k + 1:
        return np.ones(len(points), dtype=bool)
    dist, _ = cKDTree(points).query(points, k + 1)
    mean = dist[:, 1:].mean(axis=1)
    return mean <= mean.mean() + n_std * mean.std()


def structure_mask(
    points_map: np.ndarray, valid: np.ndarray, plane: Plane, threshold: float = 0.01, min_size: float = 0.4,
    region: TableRegion | None = None,
) -> np.ndarray:
    """``(H, W) bool``: the ``valid`` pixels of ``plane`` that belong to a structure rather than an object — a
    connected patch of its inlier pixels longer than ``min_size`` metres that runs out of the image (a wall, a tote
    side), or longer than a metre, or, given the support's ``region``, a patch of a vertical ``plane`` longer than
    30 cm whose lowest fifth stands within 10 cm of the region's edge (a tote's wall in full view); not a big box's
    face in full view on the table, nor an object's face that happens to be coplanar with far-away points."""
    from scipy import ndimage

    inlier = valid & (np.abs(plane.height(points_map.reshape(-1, 3)).reshape(valid.shape)) < threshold)
    comp, n = ndimage.label(inlier, structure=np.ones((3, 3)))
    out = np.zeros(valid.shape, dtype=bool)
    if n == 0:
        return out
    for k, sl in enumerate(ndimage.find_objects(comp), start=1):
        if sl is None:
            continue
        patch = points_map[sl][comp[sl] == k]
        if len(patch) <= 100:
            continue
        extent = float(np.ptp(patch, axis=0).max())
        at_border = sl[0].start == 0 or sl[1].start == 0 or sl[0].stop == valid.shape[0] or sl[1].stop == valid.shape[1]
        wall = False
        if region is not None and extent > 0.3 and abs(plane.normal @ region.plane.normal) < 0.3:
            h = region.plane.height(patch)
            wall = region.depth_inside(patch[h <= np.quantile(h, 0.2)]) < 0.1
        if extent > 1.0 or (extent > min_size and at_border) or wall:
            out[sl] |= comp[sl] == k
    return out


OCCLUDER_GAP = 0.02  #: a pixel nearer to the camera than an object's outline by this many metres hides what is behind
OCCLUDER_REACH = 4  #: ... looked for this many pixels out from the outline (past a sensor's shadow band)


def _shifted(shape: tuple[int, int], dv: int, du: int, step: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """``(here, there)`` slices of an ``(H, W)`` image: ``image[there]`` is the neighbour ``step`` pixels along
    ``(dv, du)`` of each pixel of ``image[here]`` (the pixels whose neighbour lies in the image)."""
    h, w = shape
    v0, v1 = max(0, -dv * step), h - max(0, dv * step)
    u0, u1 = max(0, -du * step), w - max(0, du * step)
    return ((slice(v0, v1), slice(u0, u1)),
            (slice(v0 + dv * step, v1 + dv * step), slice(u0 + du * step, u1 + du * step)))


DIRECTIONS = ((0, 1), (0, -1), (1, 0), (-1, 0))  #: the 4-neighbour directions (rows, columns)


def outline_view(
    labels: np.ndarray, depth: np.ndarray, occluder: np.ndarray, reach: int = OCCLUDER_REACH,
    gap: float = OCCLUDER_GAP, groups: np.ndarray | None = None,
) -> dict[int, tuple[float, float]]:
    """How much of each object's outline the view cuts off: ``{label: (border_share, occluded_share)}`` for every
    label > 0 of ``labels (H, W) int``.

    The outline is the object's pixel sides facing another label (4-neighbours). ``border_share``: the share of them on
    the image border (the object runs out of the image); ``occluded_share``: the share whose next ``reach`` pixels
    outward hold an ``occluder (H, W) bool`` pixel of another label nearer to the camera by more than ``gap`` metres
    (``depth (H, W)``, metres): the object goes on behind something in front of it. ``groups (H, W) int``: what
    each pixel was cut from (:attr:`Segmentation.components`); a pixel of the outline pixel's own group (the object's
    outliers, a piece of it left out) hides nothing of it. Both say that the completion guesses more than its
    observed surface shows."""
    lab = np.asarray(labels, dtype=np.int64)
    n = int(lab.max(initial=0)) + 1
    occ = np.asarray(occluder, dtype=bool)
    own = lab > 0
    z = np.asarray(depth, dtype=np.float64)
    grp = np.full(lab.shape, -1, np.int64) if groups is None else np.asarray(groups, dtype=np.int64)
    grp_here = np.where(grp >= 0, grp, -2)  # a pixel of no group is of no other pixel's group
    sides = np.zeros(n, np.int64)
    border = np.zeros(n, np.int64)
    hidden = np.zeros(n, np.int64)
    for dv, du in DIRECTIONS:
        here, there = _shifted(lab.shape, dv, du, 1)
        first = np.full(lab.shape, -1, np.int64)  # -1: beyond the image
        first[here] = lab[there]
        side = own & (first != lab)
        near = np.zeros_like(side)
        for step in range(1, reach + 1):
            here, there = _shifted(lab.shape, dv, du, step)
            near[here] |= (occ[there] & (lab[there] != lab[here]) & (grp[there] != grp_here[here])
                           & (z[there] < z[here] - gap))
        sides += np.bincount(lab[side], minlength=n)
        border += np.bincount(lab[side & (first == -1)], minlength=n)
        hidden += np.bincount(lab[side & near & (first != -1)], minlength=n)
    return {int(k): (float(border[k] / sides[k]), float(hidden[k] / sides[k]))
            for k in np.flatnonzero(sides) if k > 0}


def _touches_border(pixels: np.ndarray, shape: tuple[int, int], margin: int = 2) -> bool:
    """Whether any of ``pixels (N, 2)`` (row, column) lies within ``margin`` of the image border."""
    return bool((pixels.min(axis=0) < margin).any() or (pixels.max(axis=0) >= np.array(shape) - margin).any())


def _plane_normal(points: np.ndarray) -> np.ndarray:
    """The normal ``(3,)`` of the least-squares plane of ``points (N, 3)``."""
    c = points.mean(axis=0)
    return np.linalg.eigh(np.cov((points - c).T))[1][:, 0]


def _planar_share(points: np.ndarray, threshold: float = 0.01) -> float:
    """The share of ``points (N, 3)`` within ``threshold`` of their least-squares plane."""
    c = points.mean(axis=0)
    return float(np.mean(np.abs((points - c) @ _plane_normal(points)) < threshold))


def _continuing_pixels(comp: np.ndarray, beyond: np.ndarray, links: list[np.ndarray]
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Per component id of ``comp (H, W)`` (-1: none): how many of its pixels are joined (``links``,
    :func:`_pixel_links`: close and no crease between) to a four-neighbour in ``beyond (H, W) bool`` — their surface
    runs on into it — and how many have a neighbour outside the component (its outline). Two ``(max id + 1,)
    int64`` arrays."""
    h, w = comp.shape
    inside = comp >= 0
    runs_on = np.zeros((h, w), dtype=bool)
    outline = np.zeros((h, w), dtype=bool)
    for (dv, du), join in zip(((0, 1), (1, 0)), links, strict=True):
        a, b = (slice(0, h - dv), slice(0, w - du)), (slice(dv, h), slice(du, w))
        differ = comp[a] != comp[b]
        for p, q in ((a, b), (b, a)):
            runs_on[p] |= inside[p] & beyond[q] & join
            outline[p] |= inside[p] & differ
    n = int(comp.max()) + 1 if inside.any() else 0
    return (np.bincount(comp[runs_on], minlength=n), np.bincount(comp[outline], minlength=n))


def crease_pixels(scale: float, focal: float, depths: np.ndarray, least: int = 3, most: int = 10) -> int:
    """The pixel step of the normals that find creases: ``scale`` metres at the median of ``depths (N,)`` (metres)
    seen with ``focal`` pixels, within ``least``–``most`` pixels; ``least`` when ``scale`` is 0 or nothing is given.
    A noisy sensor's depth steps (an Xtion's are millimetres at a metre) turn normals taken 3 pixels apart by tens
    of degrees: a fixed length on the surface keeps them steady at any focal length and distance."""
    if scale <= 0 or len(depths) == 0:
        return least
    return int(np.clip(round(scale * focal / float(np.median(depths))), least, most))


@dataclass
class SegmentSettings:
    """Thresholds of :func:`segment_objects` (metres unless said; defaults for 640x480 frames of objects 3–60 cm tall
    at 0.3–2 m)."""

    plane_threshold: float = 0.01  #: distance that counts as on a plane (RANSAC inliers, structures)
    min_height: float = 0.008  #: object points lie at least this high above the support plane ...
    max_height: float = 0.6  #: ... and at most this high
    min_points: int = 150  #: smaller clusters are skipped
    max_size: float = 0.8  #: larger clusters are skipped
    edge_tolerance: float = 0.004  #: neighbouring pixels join when closer than this ...
    edge_pixels: float = 4.0  #: ... plus this many pixel footprints (depth / focal)
    fragment_gap: float = 0.015  #: small pieces this close to a larger one join it
    crease_scale: float = 0.004  #: creases are found from normals this far apart on the surface (metres, at the
    #: objects' median depth; :func:`crease_pixels`); 0: 3 pixels
    rest_gap: float = 0.05  #: clusters whose lowest point is higher above the plane are not resting on it
    run_on_share: float = 0.1  #: clusters whose outline runs on smoothly (no depth edge, no crease) for more than
    #: this share into what stands above the plane beyond the table region's edge are part of something larger: a
    #: chair pushed to the table, a door (not into a wall's plane: objects stand against walls, in totes)


def segment_objects(
    points_map: np.ndarray,
    valid: np.ndarray,
    region: TableRegion | None,
    *,
    labels: np.ndarray | None = None,
    structures: list[Plane] | None = None,
    focal: float = 525.0,
    settings: SegmentSettings | None = None,
) -> Segmentation:
    """The objects standing on ``region`` in an organized cloud ``points_map (H, W, 3)`` (camera frame) with ``valid
    (H, W) bool`` pixels, seen with a ``focal`` length in pixels; thresholds from ``settings``
    (:class:`SegmentSettings`).

    Candidate pixels lie ``min_height``–``max_height`` metres above the plane, over the table region, and off the
    other ``structures`` (planes larger than any object: walls, tote sides) by ``plane_threshold``. Without
    ``labels`` they are grouped into connected components (neighbours closer than ``edge_tolerance`` metres plus
    ``edge_pixels`` pixel footprints ``depth / focal``, and not across a concave crease; small crease-split or
    occlusion-split pieces rejoin their neighbour); with ``labels (H, W) int`` (an instance segmentation, 0 =
    background) each label is an object. Clusters with fewer than ``min_points`` points, larger than ``max_size``
    metres, or flat (thinner than 5 mm and lower than 2 cm: table texture, paper), not resting on the support
    (lowest point more than ``rest_gap`` metres above it: a shelf, the back of a chair, flying pixels), one plane
    larger than 40 cm (a wall), a sheet within ``ON_WALL_DEPTH`` of a room's wall found in the frame and parallel to it
    (a skirting board, a socket), or — found without ``labels`` — part of something larger (more than ``run_on_share``
    of its outline runs on, with no depth edge and no crease, into pixels above the plane beyond the table region's
    edge: a chair's seat at a desk, a door) are skipped with the reason; each object first loses its statistical
    outliers (:func:`remove_outliers`).
    """
    cfg = settings or SegmentSettings()
    min_points, max_size = cfg.min_points, cfg.max_size
    if region is not None:
        h_above = region.plane.height(points_map.reshape(-1, 3)).reshape(valid.shape)
        candidate = valid & (h_above > cfg.min_height) & (h_above < cfg.max_height)
        over_table = region.contains(points_map.reshape(-1, 3)).reshape(valid.shape)
        candidate &= over_table
    else:  # no support plane: every valid pixel may belong to an object
        candidate = valid.copy()
    wall_tops = []  # heights above the support of the tops of the vertical structures (a tote's walls)
    walls: list[Plane] = []  # the planes of those that rise as high as objects may (a room's walls)
    for other in structures or []:  # among the candidates only: the floor along a wall's foot is no part of it
        mask = structure_mask(points_map, candidate, other, cfg.plane_threshold, region=region)
        candidate &= ~mask
        if region is not None and mask.any() and abs(float(other.normal @ region.plane.normal)) < 0.3:
            wall_tops.append(float(np.quantile(h_above[mask], 0.99)))
            if wall_tops[-1] > ROOM_WALL_HEIGHT:  # a room's wall, not a tote's side (objects lean flat against those)
                walls.append(other)
    run_on = outline = None
    if labels is not None:
        comp = np.where(candidate & (labels > 0), labels.astype(np.int64), -1)
    else:
        tol = cfg.edge_tolerance + cfg.edge_pixels * points_map[..., 2] / focal
        step = crease_pixels(cfg.crease_scale, focal, points_map[..., 2][candidate])
        normals = pixel_normals(points_map, valid, step=step)
        links = beyond = None
        if region is not None:  # what the surface may run on into: above the plane, beyond the table's edge
            beyond = valid & (h_above > cfg.min_height) & ~over_table
            links = _pixel_links(points_map, candidate | beyond, tol, normals, offset=step)
        comp = _pixel_components(points_map, candidate, tol, normals, offset=step, links=links)
        coarse = _pixel_components(points_map, candidate, tol)
        comp = _merge_fragments(comp, coarse, 3 * min_points)
        if region is not None:
            comp = _merge_inside_hull(comp, coarse, points_map, region.plane)
        comp = _attach_fragments(comp, points_map, 3 * min_points, cfg.fragment_gap)
        if links is not None:
            run_on, outline = _continuing_pixels(comp, beyond, links)
    ids, counts = np.unique(comp[comp >= 0], return_counts=True)
    result = Segmentation(objects=[], labels=np.zeros(valid.shape, dtype=np.int32))
    pieces: dict[int, dict[str, Any]] = {}  # skipped as too small or not resting: may rejoin their object

    def skip(count: int, cid: int, reason: str, piece: bool = False) -> None:
        entry: dict[str, Any] = {"points": int(count), "reason": reason}
        if labels is not None:  # the caller's instance id, to match its detections
            entry["label"] = int(cid)
        result.skipped.append(entry)
        if piece:
            pieces[int(cid)] = entry

    if labels is not None:  # instances with no depth over the table at all: reported, not silently dropped
        for lid in np.setdiff1d(np.unique(labels[labels > 0]), ids):
            result.skipped.append({"points": 0, "label": int(lid),
                                   "reason": "no valid depth on the table (no pixel of it measured above the support "
                                   "and over the table)"})
    for cid, count in zip(ids[np.argsort(-counts)], np.sort(counts)[::-1], strict=True):
        if count < min_points:  # before looking up its pixels: a frame can hold hundreds of such specks
            skip(count, cid, f"too small (< {min_points} points)", piece=True)
            continue
        pix = np.argwhere(comp == cid)
        pts = points_map[pix[:, 0], pix[:, 1]]
        keep = remove_outliers(pts)
        pts, pix = pts[keep], pix[keep]
        extent = float(np.ptp(pts, axis=0).max())
        if extent > max_size:
            skip(count, cid, f"too large for an object ({extent:.2f} m)")
            continue
        if region is None:
            label = int(cid) if labels is not None else len(result.objects) + 1
            result.labels[pix[:, 0], pix[:, 1]] = label
            result.objects.append(SceneObject(pts, pix, label, component=int(cid)))
            continue
        heights = region.plane.height(pts)
        if np.ptp(heights) < 0.005 and heights.max() < 0.02:
            skip(count, cid, "flat (lies on the table)")
            continue
        if any(float(np.quantile(np.abs(w.height(pts)), 0.97)) < ON_WALL_DEPTH and _is_sheet(pts, w.normal)
               for w in walls):
            skip(count, cid, f"on a wall (within {ON_WALL_DEPTH * 100:.0f} cm "
                 "of a wall's plane and parallel to it: a skirting board, a socket)")
            continue
        lowest = float(np.quantile(heights, 0.01))
        hidden_support = False
        if lowest > max(cfg.rest_gap, 0.3 * float(np.ptp(heights))):
            top = float(np.median(heights))
            if any(abs(top - t) < WALL_TOP_TOLERANCE for t in wall_tops):
                skip(count, cid, f"the rim of a wall ({top * 100:.0f} cm "
                     "above the support, as high as a wall of the frame)")
                continue
            hidden = hidden_below_share(pts, pix, region.plane, points_map, valid, focal)
            if hidden < HIDDEN_SUPPORT_SHARE:
                skip(count, cid, f"not resting on the support (lowest point "
                     f"{lowest * 100:.0f} cm above, {1 - hidden:.0%} of the support below it seen)", piece=True)
                continue
            hidden_support = True
        if extent > 0.4 and _touches_border(pix, valid.shape):
            skip(count, cid, f"runs out of the image ({extent:.2f} m seen)")
            continue
        if (extent > 0.3 and _planar_share(pts) > 0.85 and abs(_plane_normal(pts) @ region.plane.normal) < 0.3
                and region.depth_inside(pts[heights < np.quantile(heights, 0.2)]) < 0.1):
            skip(count, cid, f"a wall ({extent:.2f} m, one vertical plane along the support's edge)")
            continue
        share = float(run_on[cid]) / max(int(outline[cid]), 1) if run_on is not None else 0.0
        if share > cfg.run_on_share:
            skip(count, cid, f"part of something larger ({share:.0%} of its "
                 "outline runs on beyond the table's edge)")
            continue
        label = int(cid) if labels is not None else len(result.objects) + 1  # the caller's id, or 1, 2, ...
        result.labels[pix[:, 0], pix[:, 1]] = label
        result.objects.append(SceneObject(pts, pix, label, hidden_support, component=int(cid)))
    if labels is None and region is not None and pieces and result.objects:
        big = [cid for cid, entry in pieces.items() if entry["points"] >= MIN_PIECE]  # not specks: flying pixels
        joined = _rejoin_pieces(comp, points_map, big, result.objects, 2 * cfg.fragment_gap, result.labels)
        if joined:
            to_label = np.zeros(int(comp.max()) + 1, np.int32)
            to_comp = np.arange(int(comp.max()) + 1)
            for cid, obj in joined.items():
                to_label[cid], to_comp[cid] = obj.label, obj.component
            mask = np.isin(comp, list(joined))
            pix_all, of = np.argwhere(mask), to_label[comp[mask]]
            for obj in {id(o): o for o in joined.values()}.values():
                pix = pix_all[of == obj.label]
                pts = points_map[pix[:, 0], pix[:, 1]]
                keep = remove_outliers(np.vstack([obj.points, pts]))[len(obj.points):]  # outliers of the whole
                obj.points, obj.pixels = np.vstack([obj.points, pts[keep]]), np.vstack([obj.pixels, pix[keep]])
                result.labels[pix[keep, 0], pix[keep, 1]] = obj.label
            comp = np.where(comp >= 0, to_comp[np.maximum(comp, 0)], comp)
            merged_entries = {id(pieces[cid]) for cid in joined}
            result.skipped = [e for e in result.skipped if id(e) not in merged_entries]
            _label_by_size(result, comp)
    result.components = comp
    return result


def _label_by_size(result: Segmentation, comp: np.ndarray) -> None:
    """Number ``result``'s objects 1, 2, ... by size (the pixels of their component in ``comp (H, W)``, as the
    segmentation first numbers them), in its objects and its labels."""
    sizes = np.bincount(comp[comp >= 0].ravel(), minlength=int(comp.max(initial=0)) + 1)
    order = sorted(result.objects, key=lambda o: -int(sizes[o.component]))
    lut = np.zeros(int(result.labels.max(initial=0)) + 1, np.int32)
    for new, obj in enumerate(order, start=1):
        lut[obj.label] = new
        obj.label = new
    result.labels = lut[result.labels]
    result.objects = order


def _rejoin_pieces(
    comp: np.ndarray, points_map: np.ndarray, pieces: list[int], objects: list[SceneObject], gap: float,
    labels: np.ndarray, rounds: int = 3,
) -> dict[int, SceneObject]:
    """Which skipped ``pieces`` (component ids of ``comp (H, W)``: too small, or not resting on the support) rejoin
    an object — a duck's head split off at its neck, the rounded bottom band of a pot seen from far away. A piece
    joins the nearest object (its nearest point within ``gap`` metres) that it meets in the image (their pixels,
    ``labels (H, W)`` for the objects', within :data:`OCCLUDER_REACH` of each other), that spans at least as far as
    the piece, and that the piece does not lie behind (along most of where they meet, the object nearer by
    :data:`OCCLUDER_GAP`: another object seen past it). So a lid held above a smaller box, a small object standing
    apart, an object behind another stay apart. Over ``rounds`` rounds a piece may join through a piece joined before
    it. Returns ``{piece id: object}``."""
    from scipy import ndimage
    from scipy.spatial import cKDTree

    piece_mask = np.isin(comp, pieces)
    if not piece_mask.any() or not objects:
        return {}
    ids, pts = comp[piece_mask], points_map[piece_mask]
    uniq, slot = np.unique(ids, return_inverse=True)  # each piece pixel's piece index
    lo = np.stack([ndimage.minimum(pts[:, a], slot, np.arange(len(uniq))) for a in range(3)], axis=1)
    hi = np.stack([ndimage.maximum(pts[:, a], slot, np.arange(len(uniq))) for a in range(3)], axis=1)
    extent = np.asarray(hi - lo).reshape(len(uniq), 3).max(axis=1)
    joined: dict[int, SceneObject] = {}
    clouds = [[o.points] for o in objects]
    spans = np.array([float(np.ptp(o.points, axis=0).max()) for o in objects])
    index = {o.label: k for k, o in enumerate(objects)}
    current = labels.copy()
    for _ in range(rounds):
        left = np.flatnonzero(~np.isin(ids, list(joined)))
        if len(left) == 0:
            break
        meets = _meeting_pairs(comp, piece_mask & ~np.isin(comp, list(joined)), current, points_map[..., 2])
        allowed = np.zeros((len(uniq), len(objects)), dtype=bool)  # piece index x object index
        for (c, lab), behind in meets.items():
            if behind <= 0.5 and lab in index:
                i = int(np.searchsorted(uniq, c))
                allowed[i, index[lab]] = extent[i] <= spans[index[lab]]
        if not allowed.any():
            break
        best = np.full(len(left), np.inf)
        owner = np.full(len(left), -1)
        for k, cloud in enumerate(clouds):
            ok = allowed[slot[left], k]
            if not ok.any():
                continue
            dist = np.full(len(left), np.inf)
            dist[ok] = cKDTree(np.vstack(cloud)).query(pts[left[ok]], k=1, distance_upper_bound=gap)[0]
            closer = dist < best
            best[closer], owner[closer] = dist[closer], k
        near = np.isfinite(best)
        if not near.any():
            break
        left, best, owner = left[near], best[near], owner[near]
        order = np.lexsort((best, ids[left]))  # per piece, its point nearest to an object first
        first = order[np.r_[0, np.flatnonzero(np.diff(ids[left][order])) + 1]]
        newly = {int(cid): int(k) for cid, k in zip(ids[left][first], owner[first], strict=True)}
        for cid, k in newly.items():
            joined[cid] = objects[k]
            clouds[k].append(pts[ids == cid])
        to_label = np.zeros(int(comp.max()) + 1, np.int64)
        for cid, k in newly.items():
            to_label[cid] = objects[k].label
        hit = np.isin(comp, list(newly))  # a later piece may meet the object through these
        current[hit] = to_label[comp[hit]]
    return joined


def _meeting_pairs(
    comp: np.ndarray, piece_mask: np.ndarray, labels: np.ndarray, depth: np.ndarray, reach: int = OCCLUDER_REACH,
) -> dict[tuple[int, int], float]:
    """``{(piece id, object label): behind share}`` for every piece (``comp`` at ``piece_mask``) that meets an
    object (``labels``) in the image — an object pixel within ``reach`` pixels of a piece pixel, in 4 directions —
    with the share of those meetings where the object is nearer to the camera by more than :data:`OCCLUDER_GAP`
    (``depth (H, W)``, metres): above one half, the piece lies behind the object."""
    n_labels = int(labels.max(initial=0)) + 1
    piece = np.where(piece_mask, comp, -1)
    key_parts, nearer_parts = [], []
    for dv, du in DIRECTIONS:
        for step in range(1, reach + 1):
            here, there = _shifted(comp.shape, dv, du, step)
            p, q = piece[here], labels[there]
            meet = (p >= 0) & (q > 0)
            if not meet.any():
                continue
            key_parts.append(p[meet].astype(np.int64) * n_labels + q[meet])
            nearer_parts.append(depth[there][meet] < depth[here][meet] - OCCLUDER_GAP)
    if not key_parts:
        return {}
    keys, nearer = np.concatenate(key_parts), np.concatenate(nearer_parts)
    uniq, inverse = np.unique(keys, return_inverse=True)
    share = np.bincount(inverse, weights=nearer) / np.bincount(inverse)
    return {(int(k // n_labels), int(k % n_labels)): float(v) for k, v in zip(uniq, share, strict=True)}


MIN_PIECE = 10  #: skipped pieces of fewer pixels never rejoin an object (specks: flying pixels at depth edges)

#: a cluster within this many metres of a vertical structure's plane (a wall found in the frame) and parallel to it
#: is a part of the wall that stands out of its plane (a skirting board, a socket, a poster), not an object
ON_WALL_DEPTH = 0.03
#: ... of a wall seen rising higher than this many metres above the support: a room's wall, not the side of a tote or
#: bin, against which a book may stand flat
ROOM_WALL_HEIGHT = 0.35


def _is_sheet(points: np.ndarray, normal: np.ndarray) -> bool:
    """Whether ``points (N, 3)`` are a sheet parallel to the plane of unit ``normal (3,)``: 90 % of them within 1 cm
    of their least-squares plane, whose normal is within 18 degrees of ``normal``."""
    return _planar_share(points) > 0.9 and abs(float(_plane_normal(points) @ normal)) > 0.95


#: a raised cluster stands on the support if this share of the support below it is hidden behind itself (an object
#: seen from straight above: ~1.0; a tote's rim seen from above: 0.8-0.9, measured on the simulated totes)
HIDDEN_SUPPORT_SHARE = 0.95
#: a raised cluster seen from above whose height is within this many metres of the top of a vertical structure of the
#: frame is that structure's rim (a tote's walls are all as high), not an object standing on the support
WALL_TOP_TOLERANCE = 0.015


def hidden_below_share(
    points: np.ndarray, pixels: np.ndarray, plane: Plane, points_map: np.ndarray, valid: np.ndarray, focal: float
) -> float:
    """The share of the support directly below a cluster (``points (N, 3)`` at ``pixels (N, 2)`` (row, column);
    their feet on ``plane``) that the cluster itself hides from the sensor: a foot whose pixel is one of the
    cluster's (within 2 pixels). Feet outside the image or on pixels without a measurement are not counted (1.0
    when none is left). The principal point is read off the organized cloud ``points_map (H, W, 3)`` (``valid (H,
    W)``) seen with ``focal`` pixels.

    A cluster seen only from above (the top of a tall box under a camera looking down) hides the support below
    itself: it may stand on it. A shelf, a chair's back or anything on a wall seen from the side does not (the
    support below it is seen, or hidden by something else)."""
    from scipy.ndimage import binary_dilation

    h, w = valid.shape
    rows, cols = np.nonzero(valid)
    if len(rows) == 0 or len(points) == 0:
        return 1.0
    sel = np.linspace(0, len(rows) - 1, min(len(rows), 2000)).astype(np.int64)
    seen = points_map[rows[sel], cols[sel]]
    cx = float(np.median(cols[sel] - focal * seen[:, 0] / seen[:, 2]))
    cy = float(np.median(rows[sel] - focal * seen[:, 1] / seen[:, 2]))
    feet = points - plane.height(points)[:, None] * plane.normal
    feet = feet[feet[:, 2] > 1e-6]
    u = np.round(focal * feet[:, 0] / feet[:, 2] + cx).astype(np.int64)
    v = np.round(focal * feet[:, 1] / feet[:, 2] + cy).astype(np.int64)
    inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    u, v = u[inside], v[inside]
    lo, hi = pixels.min(axis=0) - 3, pixels.max(axis=0) + 4  # the cluster's own pixels, in its bounding window
    lo, hi = np.maximum(lo, 0), np.minimum(hi, (h, w))
    own = np.zeros(tuple(hi - lo), dtype=bool)
    own[pixels[:, 0] - lo[0], pixels[:, 1] - lo[1]] = True
    own = binary_dilation(own, iterations=2)
    in_window = (v >= lo[0]) & (v < hi[0]) & (u >= lo[1]) & (u < hi[1])
    hidden = np.zeros(len(u), dtype=bool)
    hidden[in_window] = own[v[in_window] - lo[0], u[in_window] - lo[1]]
    counted = hidden | valid[v, u]
    if not counted.any():
        return 1.0
    return float(hidden[counted].mean())
