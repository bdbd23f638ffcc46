"""Depth images of triangle meshes: a z-buffer rasterizer on the CPU (numba, multi-threaded).

Algorithm: vertices are moved into the camera frame (OpenCV: x right, y down, z forward) and projected with the
pinhole model. Each triangle gets a pixel bounding box; triangles are binned into horizontal bands of rows, and
the bands are rasterized in parallel (``numba.prange``), so every thread owns its rows and no two threads ever
write the same pixel. Coverage is tested with edge functions at pixel centres, which sit at integer pixel
coordinates (see :mod:`implicit3d.sensing.camera`). Depth is interpolated perspective-correctly: ``1/z`` is
linear in screen space, so it is interpolated with screen-space barycentrics and inverted. Shared edges are
evaluated with the same floating-point expression from both sides (edge endpoints in canonical vertex order),
so a pixel centre on a shared edge is never missed by both triangles (watertight rasterization).

Triangles that cross the near plane (``z = near``, default 1 mm) are clipped to their part beyond it (one or two
triangles each; the new corners are shared by the two faces of a crossed edge, so the seam stays watertight), and
the part before it is not drawn: a floor of two large triangles reaching behind the camera renders as it should.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from numba import njit, prange

from implicit3d.geometry.validation import as_mesh_arrays
from implicit3d.sensing.camera import Intrinsics

_BAND_ROWS = 8


@dataclass
class RenderResult:
    """Output of :func:`render`.

    * ``depth``: ``(H, W) float32`` z-depth in metres along the camera axis, 0 where no surface was hit.
    * ``face_index``: ``(H, W) int32`` index of the visible triangle, -1 where no hit (``None`` if not requested).
    * ``normals_cam``: ``(H, W, 3) float32`` unit normal of the visible triangle in the camera frame, oriented
      towards the camera (``n . ray <= 0``); zeros where no hit (``None`` if not requested).
    """

    depth: np.ndarray
    face_index: np.ndarray | None = None
    normals_cam: np.ndarray | None = None


@njit(cache=True, parallel=True)
def _project(
    vertices: np.ndarray, rot: np.ndarray, t: np.ndarray, fx: float, fy: float, cx: float, cy: float, near: float
) -> tuple:
    """Camera-frame vertices ``R^T (v - t)`` and their screen coordinates / inverse depths (-1: before ``near``)."""
    n = vertices.shape[0]
    vcam = np.empty((n, 3))
    sx = np.empty(n)
    sy = np.empty(n)
    iz = np.empty(n)
    for i in prange(n):
        dx = vertices[i, 0] - t[0]
        dy = vertices[i, 1] - t[1]
        dz = vertices[i, 2] - t[2]
        x = rot[0, 0] * dx + rot[1, 0] * dy + rot[2, 0] * dz
        y = rot[0, 1] * dx + rot[1, 1] * dy + rot[2, 1] * dz
        z = rot[0, 2] * dx + rot[1, 2] * dy + rot[2, 2] * dz
        vcam[i, 0], vcam[i, 1], vcam[i, 2] = x, y, z
        if z > near:
            inv = 1.0 / z
            sx[i] = fx * x * inv + cx
            sy[i] = fy * y * inv + cy
            iz[i] = inv
        else:
            sx[i] = 0.0
            sy[i] = 0.0
            iz[i] = -1.0  # marks a vertex in front of the near plane
    return vcam, sx, sy, iz


@njit(cache=True, parallel=True)
def _face_boxes(faces: np.ndarray, sx: np.ndarray, sy: np.ndarray, iz: np.ndarray, width: int, height: int):
    """Per face: inclusive pixel box (x0, x1, y0, y1) of the pixel centres it may cover; y0 = -1 when culled."""
    nf = faces.shape[0]
    box = np.empty((nf, 4), dtype=np.int32)
    for f in prange(nf):
        a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
        box[f, 2] = -1
        if iz[a] <= 0.0 or iz[b] <= 0.0 or iz[c] <= 0.0:
            continue
        xmin = min(sx[a], min(sx[b], sx[c]))
        xmax = max(sx[a], max(sx[b], sx[c]))
        ymin = min(sy[a], min(sy[b], sy[c]))
        ymax = max(sy[a], max(sy[b], sy[c]))
        if xmax < 0.0 or ymax < 0.0 or xmin > width - 1.0 or ymin > height - 1.0:
            continue
        x0 = max(int(np.ceil(xmin)), 0)
        x1 = min(int(np.floor(xmax)), width - 1)
        y0 = max(int(np.ceil(ymin)), 0)
        y1 = min(int(np.floor(ymax)), height - 1)
        if x0 > x1 or y0 > y1:
            continue
        box[f, 0], box[f, 1], box[f, 2], box[f, 3] = x0, x1, y0, y1
    return box


@njit(cache=True)
def _bin_faces(box: np.ndarray, n_bands: int, band_rows: int):
    """Bucket faces by row band: CSR (offsets (n_bands + 1,), face ids)."""
    nf = box.shape[0]
    counts = np.zeros(n_bands + 1, dtype=np.int64)
    for f in range(nf):
        if box[f, 2] < 0:
            continue
        for b in range(box[f, 2] // band_rows, box[f, 3] // band_rows + 1):
            counts[b + 1] += 1
    for b in range(n_bands):
        counts[b + 1] += counts[b]
    ids = np.empty(counts[n_bands], dtype=np.int32)
    fill = counts[:n_bands].copy()
    for f in range(nf):
        if box[f, 2] < 0:
            continue
        for b in range(box[f, 2] // band_rows, box[f, 3] // band_rows + 1):
            ids[fill[b]] = f
            fill[b] += 1
    return counts, ids


@njit(cache=True, inline="always")
def _edge_coeffs(ia: int, ib: int, xa: float, ya: float, xb: float, yb: float) -> tuple:
    """Coefficients of the edge function of the directed edge a -> b, ``(xb - xa)(py - ya) - (yb - ya)(px - xa)``,
    evaluated from the endpoint with the lower vertex id so that both triangles sharing the edge agree exactly."""
    if ia < ib:
        return -(yb - ya), xb - xa, (yb - ya) * xa - (xb - xa) * ya
    a = -(ya - yb)
    b = xa - xb
    c = (ya - yb) * xb - (xa - xb) * yb
    return -a, -b, -c


@njit(cache=True, parallel=True)
def _raster_bands(
    faces: np.ndarray,
    sx: np.ndarray,
    sy: np.ndarray,
    iz: np.ndarray,
    box: np.ndarray,
    offsets: np.ndarray,
    ids: np.ndarray,
    width: int,
    height: int,
    band_rows: int,
):
    n_bands = offsets.shape[0] - 1
    izbuf = np.zeros((height, width))
    fbuf = np.full((height, width), -1, dtype=np.int32)
    for b in prange(n_bands):
        r0 = b * band_rows
        r1 = min(r0 + band_rows, height) - 1
        for k in range(offsets[b], offsets[b + 1]):
            f = ids[k]
            i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
            x0, y0, x1, y1, x2, y2 = sx[i0], sy[i0], sx[i1], sy[i1], sx[i2], sy[i2]
            area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
            if area == 0.0:
                continue
            inv_area = 1.0 / area
            # edge functions E(p) = A px + B py + C, each built from its endpoints in canonical order (lower vertex
            # id first) and then signed -> bit-identical values on both sides of a shared edge (no cracks)
            a0, b0, c0 = _edge_coeffs(i1, i2, x1, y1, x2, y2)
            a1, b1, c1 = _edge_coeffs(i2, i0, x2, y2, x0, y0)
            a2, b2, c2 = _edge_coeffs(i0, i1, x0, y0, x1, y1)
            z0, z1, z2 = iz[i0], iz[i1], iz[i2]
            ya = max(box[f, 2], r0)
            yb = min(box[f, 3], r1)
            for py in range(ya, yb + 1):
                fy_ = float(py)
                for px in range(box[f, 0], box[f, 1] + 1):
                    fx_ = float(px)
                    e0 = a0 * fx_ + b0 * fy_ + c0
                    e1 = a1 * fx_ + b1 * fy_ + c1
                    e2 = a2 * fx_ + b2 * fy_ + c2
                    w0 = e0 * inv_area
                    w1 = e1 * inv_area
                    w2 = e2 * inv_area
                    if w0 < 0.0 or w1 < 0.0 or w2 < 0.0:
                        continue
                    inv_z = (w0 * z0 + w1 * z1 + w2 * z2) / (w0 + w1 + w2)
                    if inv_z > izbuf[py, px]:
                        izbuf[py, px] = inv_z
                        fbuf[py, px] = f
    return izbuf, fbuf


def _check_pose(cam_to_world: Any) -> np.ndarray:
    pose = np.asarray(cam_to_world, dtype=np.float64)
    if pose.shape != (4, 4):
        raise ValueError(f"cam_to_world must be a (4, 4) matrix, got shape {pose.shape}")
    if not np.isfinite(pose).all():
        raise ValueError("cam_to_world holds NaN or inf")
    rot = pose[:3, :3]
    if not np.allclose(rot.T @ rot, np.eye(3), atol=1e-6) or np.linalg.det(rot) < 0:
        raise ValueError("cam_to_world[:3, :3] must be a rotation (orthonormal, det +1)")
    return pose


def _check_intrinsics(intrinsics: Any) -> Intrinsics:
    if not isinstance(intrinsics, Intrinsics):
        raise TypeError(f"intrinsics must be an Intrinsics, got {type(intrinsics).__name__}")
    return intrinsics


def render(
    mesh: Any,
    intrinsics: Intrinsics,
    cam_to_world: Any,
    return_faces: bool = True,
    near: float = 1e-3,
) -> RenderResult:
    """Rasterize ``mesh`` (a ``trimesh.Trimesh`` or ``(vertices (V, 3), faces (F, 3))`` pair, metres) seen by a
    pinhole camera with pose ``cam_to_world (4, 4)``.

    Returns a :class:`RenderResult` with ``depth (H, W) float32`` (z in metres, 0 = no hit) and, when
    ``return_faces`` is true, the visible ``face_index (H, W) int32`` (-1 = no hit) and ``normals_cam
    (H, W, 3) float32`` (camera frame, facing the camera). Back faces are not culled (open meshes render).
    """
    vertices, faces = as_mesh_arrays(mesh)
    intrinsics = _check_intrinsics(intrinsics)
    pose = _check_pose(cam_to_world)
    if not (isinstance(near, (int, float, np.floating, np.integer)) and np.isfinite(near) and near > 0):
        raise ValueError(f"near must be a positive distance in metres, got {near!r}")
    rot, t = np.ascontiguousarray(pose[:3, :3]), np.ascontiguousarray(pose[:3, 3])
    w, h = intrinsics.width, intrinsics.height
    vcam, sx, sy, iz = _project(
        vertices, rot, t, intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy, float(near)
    )
    raster_faces, origin = faces, None
    front = iz > 0
    if not front.all() and front.any():  # the usual object view has no vertex before the plane: nothing to clip
        clipped = _clip_near(vcam, faces, front, float(near))
        if clipped is not None:
            new_cam, new_faces, origin = clipped
            _, nsx, nsy, niz = _project(new_cam, np.eye(3), np.zeros(3), intrinsics.fx, intrinsics.fy,
                                        intrinsics.cx, intrinsics.cy, float(near))
            sx, sy, iz = np.concatenate([sx, nsx]), np.concatenate([sy, nsy]), np.concatenate([iz, niz])
            raster_faces = np.concatenate([faces, new_faces])
            origin = np.concatenate([np.arange(len(faces)), origin])
    box = _face_boxes(raster_faces, sx, sy, iz, w, h)
    n_bands = (h + _BAND_ROWS - 1) // _BAND_ROWS
    offsets, ids = _bin_faces(box, n_bands, _BAND_ROWS)
    izbuf, fbuf = _raster_bands(raster_faces, sx, sy, iz, box, offsets, ids, w, h, _BAND_ROWS)
    if origin is not None:  # clipped pieces report the face they were cut from
        fbuf = np.where(fbuf >= 0, origin[np.maximum(fbuf, 0)], -1).astype(np.int32)
    hit = izbuf > 0.0
    depth = np.zeros((h, w), dtype=np.float32)
    depth[hit] = 1.0 / izbuf[hit]
    if not return_faces:
        return RenderResult(depth=depth)
    normals = np.zeros((h, w, 3), dtype=np.float32)
    fh = fbuf[hit]
    if fh.size:
        tri = vcam[faces[fh]]  # (P, 3, 3) camera-frame corners of the hit faces
        n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-300)
        vv, uu = np.nonzero(hit)
        rays = np.stack(
            [(uu - intrinsics.cx) / intrinsics.fx, (vv - intrinsics.cy) / intrinsics.fy, np.ones(len(uu))], 1
        )
        n *= np.where(np.einsum("ij,ij->i", n, rays) > 0.0, -1.0, 1.0)[:, None]
        normals[hit] = n
    return RenderResult(depth=depth, face_index=fbuf, normals_cam=normals)


def _clip_near(
    vcam: np.ndarray, faces: np.ndarray, front: np.ndarray, near: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The parts beyond the near plane of the triangles that cross it, or ``None`` when none does.

    ``vcam (V, 3)`` camera-frame vertices, ``faces (F, 3)``, ``front (V,)`` beyond ``near``. Returns the new
    corners ``(K, 3)`` (camera frame, on the plane pushed 1e-6 of ``near`` further, so that they count as in
    front), the new faces ``(M, 3)`` indexing ``V + k`` for new corner ``k``, and the face each was cut from
    ``(M,)``. A crossed edge gets one new corner, computed from its endpoints in index order, which the two faces
    beside it share (no crack along the cut). A triangle with one corner in front keeps one triangle, with two a
    quad (two triangles)."""
    f = front[faces]
    n_front = f.sum(axis=1)
    crossing = np.flatnonzero((n_front == 1) | (n_front == 2))
    if not len(crossing):
        return None
    tri, fc = faces[crossing], f[crossing]
    # roll each face (keeping its winding) so that corner 0 is the lone front corner (one in front) or the corner
    # after the lone back corner (two in front): then corners 0 (and 1) are in front, the cut edges are 0-1 or
    # 1-2, and 2-0
    one = n_front[crossing] == 1
    start = np.where(one, np.argmax(fc, axis=1), (np.argmax(~fc, axis=1) + 1) % 3)
    roll = (start[:, None] + np.arange(3)[None, :]) % 3
    tri = np.take_along_axis(tri, roll, axis=1)
    # the cut edges: (0, 1) and (2, 0) for one in front, (1, 2) and (2, 0) for two
    e1 = np.where(one[:, None], tri[:, [0, 1]], tri[:, [1, 2]])
    e2 = tri[:, [2, 0]]
    edges = np.sort(np.concatenate([e1, e2]), axis=1)  # (2C, 2), endpoints in index order
    uniq, inv = np.unique(edges, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    za, zb = vcam[uniq[:, 0], 2], vcam[uniq[:, 1], 2]
    plane = near * (1.0 + 1e-6)
    t = np.clip((plane - za) / (zb - za), 0.0, 1.0)  # a front corner within 1e-6 of near: the cut at that corner
    corners = vcam[uniq[:, 0]] + t[:, None] * (vcam[uniq[:, 1]] - vcam[uniq[:, 0]])
    corners[:, 2] = np.maximum(corners[:, 2], plane)
    base = len(vcam)
    p = base + inv[: len(crossing)]  # corner on the first cut edge of each face
    q = base + inv[len(crossing):]  # on the second (2-0)
    single = np.stack([tri[:, 0], p, q], axis=1)[one]  # front corner 0, cut 0-1 (p) and 2-0 (q)
    quad = ~one
    quad_a = np.stack([tri[:, 0], tri[:, 1], p], axis=1)[quad]  # corners 0, 1 in front, cut 1-2 (p) and 2-0 (q)
    quad_b = np.stack([tri[:, 0], p, q], axis=1)[quad]
    new_faces = np.concatenate([single, quad_a, quad_b]).astype(faces.dtype)
    origin = np.concatenate([crossing[one], crossing[quad], crossing[quad]])
    return corners, new_faces, origin


def render_depth(mesh: Any, intrinsics: Intrinsics, cam_to_world: Any, near: float = 1e-3) -> np.ndarray:
    """``(H, W) float32`` z-depth image (metres along the camera axis, 0 where no hit) of ``mesh``.

    See :func:`render` for the conventions; this is ``render(..., return_faces=False).depth``.
    """
    return render(mesh, intrinsics, cam_to_world, return_faces=False, near=near).depth


def set_render_threads(n: int) -> None:
    """Limit the rasterizer's numba threads (e.g. 1 inside a multi-process data pipeline)."""
    numba.set_num_threads(int(n))


def render_partial_view(
    mesh: Any,
    intrinsics: Intrinsics,
    cam_to_world: Any,
    noise: Any = "none",
    rng: np.random.Generator | int | None = None,
    reflective_faces: Any | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate one depth-sensor view of ``mesh``: render, corrupt with ``noise``, back-project.

    ``noise`` is a :class:`~implicit3d.sensing.noise.NoiseModel`, a preset name or ``None``;
    ``reflective_faces`` an optional ``(F,) bool`` mask (or index array) of faces that behave like mirrors
    (holes with the model's ``reflective_hole_prob``). Returns ``(depth (H, W) float32`` metres after noise,
    ``points_world (N, 3) float32)`` — one point per valid pixel, in the world frame.
    """
    from implicit3d.sensing.noise import noise_preset
    from implicit3d.sensing.project import depth_to_points

    model = noise_preset(noise)
    res = render(mesh, intrinsics, cam_to_world, return_faces=True)
    refl = None
    if reflective_faces is not None:
        n_faces = len(as_mesh_arrays(mesh)[1])
        rf = np.asarray(reflective_faces)
        if rf.dtype != bool and rf.shape == (n_faces,) and np.isin(rf, (0, 1)).all() and n_faces > 2:
            rf = rf.astype(bool)  # a 0/1 mask over the faces (uint8 from an image library), not indices 0 and 1
        if np.issubdtype(rf.dtype, np.floating) and rf.size and np.all(rf == np.round(rf)):
            rf = rf.astype(np.int64)  # whole-number face indices in a float array
        if rf.dtype == bool:
            if rf.shape != (n_faces,):
                raise ValueError(f"reflective_faces mask must be shaped ({n_faces},), got {rf.shape}")
            face_mask = rf
        else:
            if rf.ndim != 1 or not np.issubdtype(rf.dtype, np.integer):
                raise ValueError(f"reflective_faces must be a bool mask of the {n_faces} faces or face indices "
                                 f"(integers), got dtype {rf.dtype} and shape {rf.shape}")
            if len(rf) and (rf.min() < 0 or rf.max() >= n_faces):
                raise ValueError(f"reflective_faces indices must be in 0..{n_faces - 1}, got {rf.min()}..{rf.max()}")
            face_mask = np.zeros(n_faces, dtype=bool)
            face_mask[rf.astype(np.int64)] = True
        refl = (res.face_index >= 0) & face_mask[np.maximum(res.face_index, 0)]
    depth = model.apply(res.depth, rng, normals=res.normals_cam, reflective_mask=refl, intrinsics=intrinsics)
    points = depth_to_points(depth, intrinsics, cam_to_world)
    return depth, np.asarray(points, dtype=np.float32)
