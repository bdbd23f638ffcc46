"""Static PNG thumbnails of the explanatory figures, for the README (used by ``readme_thumbnails.py``).

Meshes are rasterized by :func:`implicit3d.sensing.render.render` and shaded with ambient + Lambert (+ Blinn-Phong)
light from a lamp fixed to the camera; points are z-buffered disc splats placed by
:func:`implicit3d.sensing.project.project`; scalar fields take plotly's ``RdBu`` colorscale (as the interactive
:mod:`implicit3d.viz.figures` do), with level lines from :func:`skimage.measure.find_contours` drawn by Pillow;
outlines and edges are grown with :mod:`scipy.ndimage`. Panels render at ``supersample`` times their size and are
box-filtered down by Pillow, which also writes the PNG files.

Conventions: images are ``(H, W, 3)`` arrays, row 0 at the top; float images hold values in ``[0, 1]``, finished
panels are ``uint8``. Cameras follow :mod:`implicit3d.sensing.camera` (OpenCV frame, ``(4, 4)`` camera-to-world poses,
``+z`` up in the world). Colours: inside red, outside blue; observed points orange, completed meshes grey-blue,
ground truth green.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import trimesh
from PIL import Image, ImageColor, ImageDraw
from plotly.colors import get_colorscale, validate_colors
from scipy import ndimage
from skimage.measure import find_contours

from implicit3d.fileio import atomic_write_bytes
from implicit3d.geometry.validation import as_mesh_arrays, as_points
from implicit3d.sensing.camera import Intrinsics, invert_pose, look_at
from implicit3d.sensing.project import depth_to_points, project
from implicit3d.sensing.render import render

INSIDE_COLOR = "#d62728"
OUTSIDE_COLOR = "#1f77b4"
POINTS_COLOR = "#f28e2b"  # observed partial cloud
COMPLETION_COLOR = "#8da0bc"  # completed mesh (grey-blue)
GROUND_TRUTH_COLOR = "#7fb59a"  # ground-truth mesh (green)
MESH_COLOR = "#b8c4d6"
FIELD_COLORSCALE = "RdBu"  # plotly's, low (negative, inside) red, high (positive, outside) blue
DEFAULT_SIZE = (360, 300)  # panel (width, height) in pixels
LIGHT = (-0.35, -0.55, -1.0)  # camera frame, towards the light: up-left of the camera, facing the scene
FOV_DEG = 30.0


def rgb(color: str) -> np.ndarray:
    """``(3,) float64`` in ``[0, 1]`` of a colour name or ``"#rrggbb"``."""
    return np.asarray(ImageColor.getrgb(color)[:3], dtype=np.float64) / 255.0


def write_png(path: str | os.PathLike, image: np.ndarray) -> int:
    """Write ``image (H, W, 3) uint8`` as a PNG at ``path`` (atomically, through Pillow); returns the byte count."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", optimize=True)
    atomic_write_bytes(path, buf.getvalue())
    return buf.tell()


def finish(image: np.ndarray, supersample: int) -> np.ndarray:
    """Float image ``(H * s, W * s, 3)`` in ``[0, 1]`` -> ``(H, W, 3) uint8``, box-filtered (anti-aliasing)."""
    u8 = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    return np.asarray(Image.fromarray(u8).reduce(int(supersample)))


def tile(images: Sequence[np.ndarray], gap: int = 8, axis: int = 1) -> np.ndarray:
    """``uint8`` images side by side (``axis=1``) or stacked (``axis=0``), ``gap`` px apart on white, top-left aligned
    across the other axis (shorter or narrower ones padded with white)."""
    other = 1 - axis
    extent = max(im.shape[other] for im in images)
    padded = []
    for i, im in enumerate(images):  # a few panels
        pad = [(0, 0), (0, 0), (0, 0)]
        pad[other] = (0, extent - im.shape[other])
        pad[axis] = (0, gap if i < len(images) - 1 else 0)
        padded.append(np.pad(im, pad, constant_values=255))
    return np.concatenate(padded, axis=axis)


# ----------------------------------------------------------------------------------------------------------------
# fields


def colormap(values: Any, vmin: float, vmax: float, vcenter: float | None = None) -> np.ndarray:
    """``values`` (shape ``S``) -> ``S + (3,) float64`` colours of :data:`FIELD_COLORSCALE`, clipped to the ends.

    ``vmin``/``vmax`` map to the ends of the scale; ``vcenter`` (strictly between) to its middle, each side scaled
    on its own (a two-slope scale: the thin inside of an SDF gets the full red range too).
    """
    v = np.asarray(values, dtype=np.float64)
    if vcenter is None:
        t = (v - vmin) / (vmax - vmin)
    else:
        t = np.where(v < vcenter, 0.5 * (v - vmin) / (vcenter - vmin), 0.5 + 0.5 * (v - vcenter) / (vmax - vcenter))
    stops = get_colorscale(FIELD_COLORSCALE)
    pos = [p for p, _ in stops]
    cols = np.array(validate_colors([c for _, c in stops], colortype="tuple"))
    return np.stack([np.interp(np.clip(t, 0.0, 1.0), pos, cols[:, k]) for k in range(3)], axis=-1)


def contour_mask(values: np.ndarray, levels: Sequence[float], width: int) -> np.ndarray:
    """``(H, W) bool``: lines ``width`` px thick along the level sets ``values (H, W) == level`` (sub-pixel
    contours from :func:`skimage.measure.find_contours`, drawn by Pillow)."""
    canvas = Image.new("L", values.shape[::-1])
    draw = ImageDraw.Draw(canvas)
    for level in levels:  # a handful of levels, a few contours each
        for c in find_contours(values, level):  # (K, 2) rows, columns
            draw.line(c[:, ::-1].ravel().tolist(), fill=255, width=int(width), joint="curve")
    return np.asarray(canvas) > 0


def field_image(values: np.ndarray, levels: Sequence[float], vmin: float, vmax: float, width: int) -> np.ndarray:
    """A signed field ``values (H, W)`` (row 0 at the top) -> ``(H, W, 3) float64``: two-slope colours about 0,
    translucent dark lines at ``levels`` (``width`` px) and the zero level in opaque black (``2 * width`` px)."""
    img = colormap(values, vmin, vmax, vcenter=0.0)
    thin = contour_mask(values, levels, width)
    img[thin] = 0.55 * img[thin] + 0.45 * 0.1
    img[contour_mask(values, [0.0], 2 * width)] = 0.0
    return img


# ----------------------------------------------------------------------------------------------------------------
# cameras


def orbit_camera(center: Any, radius: float, azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """``(4, 4)`` pose at ``center + radius * (cos el cos az, cos el sin az, sin el)`` (degrees) looking at
    ``center (3,)``, ``+z`` up in the image."""
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    direction = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    return look_at(np.asarray(center, dtype=np.float64) + radius * direction, center, up=(0.0, 0.0, 1.0))


def fit_camera(points: Any, intrinsics: Intrinsics, azimuth_deg: float, elevation_deg: float,
               margin: float = 0.06, iterations: int = 8) -> np.ndarray:
    """Pose from :func:`orbit_camera` direction ``(azimuth_deg, elevation_deg)`` that frames ``points (N, 3)``:
    the projected bounding box centred, filling the image up to ``margin`` (fraction of the half-size left free on
    the tighter side). Never clips: a pose is kept only when every point projects inside the image."""
    pts = as_points(points)
    pts = pts[:: math.ceil(len(pts) / 20000)]  # framing needs the silhouette only roughly
    center = 0.5 * (pts.min(axis=0) + pts.max(axis=0))
    half = np.array([intrinsics.width, intrinsics.height]) / 2.0
    focal = np.array([intrinsics.fx, intrinsics.fy])
    dist = np.linalg.norm(pts - center, axis=1).max() / math.sin(min(np.arctan(half / focal))) * (1.0 + margin)
    best = orbit_camera(center, dist, azimuth_deg, elevation_deg)
    target = center
    for _ in range(iterations):
        pose = orbit_camera(target, dist, azimuth_deg, elevation_deg)
        uv, z = project(pts, intrinsics, invert_pose(pose))
        if z.min() <= 1e-6 * dist:
            break
        e = (uv - (intrinsics.cx, intrinsics.cy)) / half  # (N, 2) in [-1, 1] when inside the image
        if np.abs(e).max() <= 1.0:
            best = pose
        off = 0.5 * (e.max(axis=0) + e.min(axis=0)) * half / focal * float(np.median(z))  # centre the box
        target = target + pose[:3, 0] * off[0] + pose[:3, 1] * off[1]
        dist *= (e.max(axis=0) - e.min(axis=0)).max() / 2.0 / (1.0 - margin)
    return best


# ----------------------------------------------------------------------------------------------------------------
# meshes and points


def shade_mesh(mesh: Any, intrinsics: Intrinsics, pose: np.ndarray, color: str, smooth: bool = True,
               specular: float = 0.0, ambient: float = 0.35, diffuse: float = 0.65,
               shininess: float = 32.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render ``mesh`` with a headlight (:data:`LIGHT`): ``ambient + diffuse * max(n.l, 0) + specular *
    max(n.h, 0) ** shininess`` times ``color``; ``smooth`` interpolates vertex normals across the visible triangle.

    Returns ``rgb (H, W, 3) float64`` (0 off the mesh), ``depth (H, W) float32`` (metres along the camera axis,
    0 = no hit) and ``face_index (H, W) int32`` (-1 = no hit).
    """
    v, f = as_mesh_arrays(mesh)
    res = render((v, f), intrinsics, pose)
    hit = res.face_index >= 0
    fi = res.face_index[hit]
    rot = pose[:3, :3]
    n = res.normals_cam[hit].astype(np.float64) @ rot.T  # flat, world frame
    p = depth_to_points(res.depth, intrinsics, pose, mask=hit).astype(np.float64)  # visible points, world frame
    if smooth and len(fi):
        tm = trimesh.Trimesh(v, f, process=False)
        bary = np.clip(trimesh.triangles.points_to_barycentric(tm.triangles[fi], p), 0.0, 1.0)
        sn = np.einsum("pk,pkj->pj", bary, tm.vertex_normals[f[fi]])
        length = np.linalg.norm(sn, axis=1, keepdims=True)
        n = np.where(length > 1e-6, sn / np.maximum(length, 1e-12), n)
    view = pose[:3, 3] - p
    view /= np.maximum(np.linalg.norm(view, axis=1, keepdims=True), 1e-12)
    n *= np.where((n * view).sum(axis=1) < 0.0, -1.0, 1.0)[:, None]  # face the camera
    light = rot @ (np.array(LIGHT) / np.linalg.norm(LIGHT))
    halfway = (view + light) / np.maximum(np.linalg.norm(view + light, axis=1, keepdims=True), 1e-12)
    intensity = ambient + diffuse * np.clip(n @ light, 0.0, None)
    intensity += specular * np.clip((n * halfway).sum(axis=1), 0.0, None) ** shininess
    out = np.zeros((*hit.shape, 3))
    out[hit] = np.clip(intensity[:, None] * rgb(color), 0.0, 1.0)
    return out, res.depth, res.face_index


def splat_points(points: Any, colors: Any, intrinsics: Intrinsics, pose: np.ndarray, radius_px: float,
                 depth: np.ndarray | None = None, tolerance: float = 0.0, behind: bool = False,
                 edge_darkening: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """Z-buffered disc splats of world ``points (N, 3)``: ``rgb (H, W, 3) float64`` and coverage ``(H, W) bool``.

    ``colors``: one colour string or ``(N, 3)`` floats in [0, 1]. Each point covers the pixels within ``radius_px``
    of its projection; where discs overlap the nearest point wins. ``depth``: an ``(H, W)`` depth image (0 = empty)
    to occlude against: splats farther than ``depth + tolerance`` are dropped, or with ``behind`` only those are
    kept (to draw under a translucent surface). Disc rims are darkened by ``edge_darkening``.
    """
    pts = as_points(points)
    cols = np.broadcast_to(rgb(colors), pts.shape) if isinstance(colors, str) else np.asarray(colors, np.float64)
    h, w = intrinsics.height, intrinsics.width
    uv, z = project(pts, intrinsics, invert_pose(pose))
    idx = np.nonzero(z > 1e-6)[0]
    k = int(radius_px)
    dv, du = np.mgrid[-k : k + 1, -k : k + 1].reshape(2, -1)
    rel = np.hypot(du, dv) / max(radius_px, 1e-9)
    du, dv, rel = du[rel <= 1.0 + 1e-9], dv[rel <= 1.0 + 1e-9], rel[rel <= 1.0 + 1e-9]
    cu = (np.rint(uv[idx, 0]).astype(np.int64)[:, None] + du).ravel()  # (P * K,) one entry per disc pixel
    cv = (np.rint(uv[idx, 1]).astype(np.int64)[:, None] + dv).ravel()
    zz, pid, kid = np.repeat(z[idx], len(du)), np.repeat(idx, len(du)), np.tile(np.arange(len(du)), len(idx))
    ok = (cu >= 0) & (cu < w) & (cv >= 0) & (cv < h)
    if depth is not None:
        d = np.where(ok, depth[np.clip(cv, 0, h - 1), np.clip(cu, 0, w - 1)], 0.0)
        hidden = (d > 0.0) & (zz > d + tolerance)
        ok &= hidden if behind else ~hidden
    pix, zz, pid, kid = (cv * w + cu)[ok], zz[ok], pid[ok], kid[ok]
    order = np.lexsort((kid, zz, pix))  # per pixel: nearest first (ties: the disc centre first)
    first = order[np.r_[True, pix[order][1:] != pix[order][:-1]]] if len(order) else order
    out, cover = np.zeros((h * w, 3)), np.zeros(h * w, dtype=bool)
    out[pix[first]] = cols[pid[first]] * (1.0 - edge_darkening * rel[kid[first]] ** 2)[:, None]
    cover[pix[first]] = True
    return out.reshape(h, w, 3), cover.reshape(h, w)


def over(image: np.ndarray, layer: np.ndarray, alpha: Any) -> np.ndarray:
    """``layer (H, W, 3)`` painted over ``image`` with coverage ``alpha`` (``(H, W)`` bool/float, or a number)."""
    a = np.asarray(alpha, dtype=np.float64)
    a = a[..., None] if a.ndim == 2 else a
    return a * layer + (1.0 - a) * image


# ----------------------------------------------------------------------------------------------------------------
# thumbnails


def _canvas(size: tuple[int, int], s: int) -> tuple[Intrinsics, np.ndarray]:
    w, h = size
    return Intrinsics.from_fov(FOV_DEG, w * s, h * s), np.ones((h * s, w * s, 3))


def sphere_thumbnail(radius: float = 0.4, size: tuple[int, int] = DEFAULT_SIZE, supersample: int = 2,
                     n_levels: int = 10, gap: int = 8) -> np.ndarray:
    """Explicit vs implicit sphere: ``(H, 2W + gap, 3) uint8`` for ``(W, H) = size``.

    Left: a flat-shaded icosphere with its triangle edges (the explicit mesh). Right: the implicit field
    ``f = x² + y² + z² − r²`` (of :func:`implicit3d.viz.figures.implicit_sphere_figure`) on the plane ``z = 0``,
    negative inside in red, ``n_levels`` level lines and the surface ``f = 0`` in black.
    """
    s, (w, h) = supersample, size
    mesh = trimesh.creation.icosphere(subdivisions=2, radius=radius)
    intr, white = _canvas(size, s)
    pose = fit_camera(mesh.vertices, intr, azimuth_deg=-60.0, elevation_deg=20.0, margin=0.12)
    shaded, _, faces = shade_mesh(mesh, intr, pose, color="#8fbc8f", smooth=False, specular=0.15)
    window = np.ones((s + 1, s + 1), dtype=bool)
    edges = (ndimage.maximum_filter(faces, footprint=window) != ndimage.minimum_filter(faces, footprint=window))
    edges &= ndimage.binary_erosion(faces >= 0, window)  # where the visible triangle changes, off the silhouette
    left = over(over(white, shaded, faces >= 0), rgb("#2f4f4f"), 0.6 * edges)
    half_h = 1.45 * radius  # square pixels, the sphere filling ~70 % of the height
    half_w = half_h * w / h
    xx, yy = np.meshgrid(np.linspace(-half_w, half_w, w * s), np.linspace(half_h, -half_h, h * s))
    f = xx**2 + yy**2 - radius**2
    levels = np.linspace(-(radius**2), f.max(), n_levels + 2)[1:-1]
    right = field_image(f, levels, -(radius**2), float(f.max()), width=s)
    return tile([finish(left, s), finish(right, s)], gap=gap)


def inside_outside_thumbnail(mesh: Any, rng: np.random.Generator | int | None = 0, n_points: int = 3000,
                             size: tuple[int, int] = DEFAULT_SIZE, supersample: int = 2, azimuth_deg: float = -60.0,
                             elevation_deg: float = 15.0, slab: float = 0.5, mesh_opacity: float = 0.3,
                             radius_px: float = 1.6) -> np.ndarray:
    """Random points around ``mesh`` coloured by :func:`implicit3d.geometry.inside.inside` (red inside, blue
    outside): ``(H, W, 3) uint8``.

    The points fill a slab through the centre of the bounding box (padded by 15 % of its longest edge), facing the
    camera's horizontal direction, ``slab`` times the object's depth thick and widened to the panel's aspect ratio,
    so they form a readable cross-section. The surface is drawn translucent (``mesh_opacity``) with its outline:
    points behind it show through, points in front are drawn over it.
    """
    from implicit3d.geometry.inside import inside

    s, (w, h) = supersample, size
    v, f = as_mesh_arrays(mesh)
    rng = np.random.default_rng(rng)
    lo, hi = v.min(axis=0), v.max(axis=0)
    lo, hi = lo - 0.15 * (hi - lo).max(), hi + 0.15 * (hi - lo).max()
    az = math.radians(azimuth_deg)
    d = np.array([math.cos(az), math.sin(az), 0.0])  # horizontal, towards the camera
    e = np.array([-d[1], d[0], 0.0])  # horizontal, across the image
    centre = 0.5 * (lo + hi)
    corners = np.stack(np.meshgrid(*zip(lo, hi, strict=True), indexing="ij"), -1).reshape(-1, 3) - centre
    half_e = max(np.abs(corners @ e).max(), 0.45 * (hi[2] - lo[2]) * w / h)
    half_d = 0.5 * slab * np.ptp((v - centre) @ d)
    pts = centre + rng.uniform(-half_e, half_e, (n_points, 1)) * e + rng.uniform(-half_d, half_d, (n_points, 1)) * d
    pts[:, 2] = rng.uniform(lo[2], hi[2], n_points)
    cols = np.where(inside((v, f), pts)[:, None], rgb(INSIDE_COLOR), rgb(OUTSIDE_COLOR))
    intr, img = _canvas(size, s)
    pose = fit_camera(np.concatenate([pts, v]), intr, azimuth_deg, elevation_deg, margin=0.05)
    shaded, depth, faces = shade_mesh((v, f), intr, pose, color=MESH_COLOR, specular=0.1)
    mask = faces >= 0
    img = over(img, *splat_points(pts, cols, intr, pose, radius_px * s, depth=depth, behind=True))
    img = over(img, shaded, mesh_opacity * mask)
    outline = mask & ~ndimage.binary_erosion(mask, iterations=s)
    img = over(img, rgb("#4a5568"), min(1.0, 2.0 * mesh_opacity) * outline)
    img = over(img, *splat_points(pts, cols, intr, pose, radius_px * s, depth=depth))
    return finish(img, s)


def sdf_slice_thumbnail(mesh: Any, size: tuple[int, int] = DEFAULT_SIZE, axis: int = 1, n_levels: int = 14,
                        supersample: int = 2) -> np.ndarray:
    """Signed distance to ``mesh`` (:func:`implicit3d.geometry.distance.signed_distance`) on the plane through its
    bounding-box centre normal to ``axis`` (default ``y``): ``(H, W, 3) uint8``, square pixels, the second
    remaining axis up. Inside red, outside blue, ``n_levels`` evenly spaced level lines, the surface bold black."""
    from implicit3d.geometry.distance import signed_distance

    s, (w, h) = supersample, size
    v, f = as_mesh_arrays(mesh)
    lo, hi = v.min(axis=0), v.max(axis=0)
    centre = 0.5 * (lo + hi)
    ku, kv = [a for a in range(3) if a != axis]
    half_v = 0.65 * max(hi[kv] - lo[kv], (hi[ku] - lo[ku]) * h / w)
    half_u = half_v * w / h
    uu, vv = np.meshgrid(centre[ku] + ((np.arange(w * s) + 0.5) / (w * s) * 2.0 - 1.0) * half_u,
                         centre[kv] + (1.0 - (np.arange(h * s) + 0.5) / (h * s) * 2.0) * half_v)  # row 0 on top
    pts = np.empty((uu.size, 3))
    pts[:, ku], pts[:, kv], pts[:, axis] = uu.ravel(), vv.ravel(), centre[axis]
    vals = signed_distance((v, f), pts).reshape(uu.shape)
    vmax = float(np.abs(vals).max()) or 1.0
    levels = np.linspace(-vmax, vmax, n_levels + 1)[1:-1]  # the SDF changes 1 per unit length
    levels = levels[np.abs(levels) > 1e-12 * vmax]  # the zero level is drawn bold instead
    return finish(field_image(vals, levels, min(float(vals.min()), -1e-12), vmax, width=s), s)


def completion_thumbnail(cloud: Any, mesh: Any, gt_mesh: Any | None = None, size: tuple[int, int] = DEFAULT_SIZE,
                         supersample: int = 2, azimuth_deg: float = -60.0, elevation_deg: float = 25.0,
                         radius_px: float = 1.2, gap: int = 8) -> np.ndarray:
    """Observed partial ``cloud (N, 3)`` (orange) over the shaded completed ``mesh`` (grey-blue); with ``gt_mesh``
    a second panel shows the ground truth (green) from the same camera: ``(H, 2W + gap, 3) uint8``, else
    ``(H, W, 3)``. Points behind the completed surface (by more than 1 % of the scene size) are hidden."""
    s = supersample
    pts = as_points(cloud)
    meshes = [as_mesh_arrays(mesh)] + ([as_mesh_arrays(gt_mesh, name="gt_mesh")] if gt_mesh is not None else [])
    allp = np.concatenate([pts] + [m[0] for m in meshes])
    intr, white = _canvas(size, s)
    pose = fit_camera(allp, intr, azimuth_deg, elevation_deg, margin=0.06)
    panels = []
    for m, color in zip(meshes, (COMPLETION_COLOR, GROUND_TRUTH_COLOR), strict=False):  # one or two panels
        shaded, depth, faces = shade_mesh(m, intr, pose, color=color, specular=0.15)
        img = over(white, shaded, faces >= 0)
        if not panels:
            tolerance = 0.01 * (float(np.ptp(allp, axis=0).max()) or 1.0)
            img = over(img, *splat_points(pts, POINTS_COLOR, intr, pose, radius_px * s, depth, tolerance))
        panels.append(finish(img, s))
    return tile(panels, gap=gap)
