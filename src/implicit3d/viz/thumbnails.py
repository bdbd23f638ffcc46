"""Static PNG thumbnails of the explanatory figures (for the README), with no plotting dependency.

Everything here is numpy: meshes are rasterized by the project's own z-buffer renderer
(:func:`implicit3d.sensing.render.render`, which also returns per-pixel camera-frame normals), shaded with
ambient + Lambert (+ optional Blinn-Phong highlight) from a light fixed to the camera ("headlight"), points are
z-buffered disc splats, scalar fields are colour-mapped with piecewise-linear tables and level lines, and PNG files
are encoded with :mod:`zlib` (8-bit RGB or RGBA, adaptive per-row filters, byte-for-byte deterministic).

Conventions: images are ``(H, W, C)`` arrays, row 0 at the top; float images hold linear values in ``[0, 1]``,
final images are ``uint8``. Cameras follow :mod:`implicit3d.sensing.camera` (OpenCV frame, ``(4, 4)``
camera-to-world poses, ``+z`` up in the world). Colours: inside red, outside blue (as in
:mod:`implicit3d.viz.figures`); observed points orange, completed meshes grey-blue, ground truth green.

The thumbnail builders mirror the interactive figures of :mod:`implicit3d.viz.figures`:
:func:`sphere_thumbnail` (``implicit_sphere_figure``), :func:`inside_outside_thumbnail`
(``inside_outside_figure``), :func:`sdf_slice_thumbnail` (``sdf_slice_figure``) and :func:`completion_thumbnail`
(``completion_figure``). They render at ``supersample`` times the panel size and box-filter down (anti-aliasing).
"""

from __future__ import annotations

import math
import os
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from implicit3d.geometry.validation import as_mesh_arrays, as_points
from implicit3d.sensing.camera import Intrinsics, look_at

WHITE = (1.0, 1.0, 1.0)
INSIDE_COLOR = "#d62728"
OUTSIDE_COLOR = "#1f77b4"
POINTS_COLOR = "#f28e2b"  # observed partial cloud
COMPLETION_COLOR = "#8da0bc"  # completed mesh (grey-blue)
GROUND_TRUTH_COLOR = "#7fb59a"  # ground-truth mesh (green)
MESH_COLOR = "#b8c4d6"
DEFAULT_SIZE = (360, 300)  # panel (width, height) in pixels
DEFAULT_LIGHT = (-0.35, -0.55, -1.0)  # camera frame, towards the light: up-left of the camera, facing the scene
DEFAULT_FOV_DEG = 30.0

# ----------------------------------------------------------------------------------------------------------------
# PNG


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def _check_image_u8(image: Any, name: str = "image") -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise TypeError(f"{name} must be uint8 (use to_uint8 for float images in [0, 1]), got dtype {image.dtype}")
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"{name} must be shaped (H, W, 3) or (H, W, 4), got {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {image.shape}")
    return np.ascontiguousarray(image)


def _filter_rows(image: np.ndarray) -> bytes:
    """PNG-filtered scanlines: each row gets the filter (None, Sub, Up, Average, Paeth) whose output has the smallest
    sum of absolute values as signed bytes (the heuristic of the PNG specification), ties to the lower type."""
    h, w, c = image.shape
    x = image.reshape(h, w * c).astype(np.int16)
    a = np.zeros_like(x)  # left neighbour (same channel)
    a[:, c:] = x[:, :-c]
    b = np.zeros_like(x)  # up
    b[1:] = x[:-1]
    cc = np.zeros_like(x)  # upper-left
    cc[1:, c:] = x[:-1, :-c]
    p = a + b - cc
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - cc)
    paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, cc))
    cand = np.stack([x, x - a, x - b, x - (a + b) // 2, x - paeth]) & 0xFF  # (5, H, W*C)
    cost = np.abs(cand.astype(np.uint8).view(np.int8).astype(np.int64)).sum(axis=2)  # (5, H)
    best = np.argmin(cost, axis=0)
    rows = cand[best, np.arange(h)].astype(np.uint8)  # (H, W*C)
    return np.concatenate([best.astype(np.uint8)[:, None], rows], axis=1).tobytes()


def encode_png(image: np.ndarray, level: int = 9) -> bytes:
    """PNG file bytes of ``image (H, W, 3|4) uint8`` (8-bit RGB or RGBA, non-interlaced, zlib ``level``).

    Deterministic: the same pixels give the same bytes (no timestamps or other metadata chunks).
    """
    img = _check_image_u8(image)
    h, w, c = img.shape
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2 if c == 3 else 6, 0, 0, 0)
    idat = zlib.compress(_filter_rows(img), level)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def write_png(path: str | os.PathLike, image: np.ndarray) -> int:
    """Write ``image (H, W, 3|4) uint8`` as an 8-bit RGB(A) PNG at ``path``, atomically; returns the byte count.

    Raises ``TypeError`` for non-uint8 data and ``ValueError`` for other shapes.
    """
    from implicit3d.fileio import atomic_write_bytes

    data = encode_png(image)
    atomic_write_bytes(path, data)
    return len(data)


def to_uint8(image: Any) -> np.ndarray:
    """Float image in ``[0, 1]`` (any shape) -> ``uint8`` (rounded, clipped)."""
    return np.clip(np.rint(np.asarray(image, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------------------------
# colours


def as_rgb(color: Any) -> np.ndarray:
    """``(3,) float64`` in ``[0, 1]`` from ``"#rrggbb"`` or an RGB triple of floats in ``[0, 1]``."""
    if isinstance(color, str):
        s = color.lstrip("#")
        if len(s) != 6:
            raise ValueError(f"colour string must look like '#rrggbb', got {color!r}")
        try:
            return np.array([int(s[i : i + 2], 16) for i in (0, 2, 4)], dtype=np.float64) / 255.0
        except ValueError:
            raise ValueError(f"colour string must look like '#rrggbb', got {color!r}") from None
    arr = np.asarray(color, dtype=np.float64)
    if arr.shape != (3,) or not np.isfinite(arr).all() or arr.min() < 0.0 or arr.max() > 1.0:
        raise ValueError(f"colour must be '#rrggbb' or 3 floats in [0, 1], got {color!r}")
    return arr


_CMAPS: dict[str, np.ndarray] = {
    # Moreland's diverging "cool to warm", sampled at 1/8 steps (sRGB 0..255)
    "coolwarm": np.array(
        [[59, 76, 192], [98, 130, 234], [141, 176, 254], [184, 208, 249], [221, 221, 221],
         [245, 196, 173], [244, 154, 123], [222, 96, 77], [180, 4, 38]], dtype=np.float64) / 255.0,
    # viridis sampled at 1/8 steps
    "viridis": np.array(
        [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
         [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]], dtype=np.float64) / 255.0,
}
COLORMAPS = tuple(_CMAPS)


def colormap(
    values: Any,
    vmin: float,
    vmax: float,
    name: str = "coolwarm",
    reverse: bool = False,
    vcenter: float | None = None,
) -> np.ndarray:
    """Map ``values`` (any shape ``S``) to colours ``S + (3,) float32`` in ``[0, 1]``.

    ``vmin``/``vmax`` map to the two ends of the table (values outside are clipped); ``name``: ``"coolwarm"``
    (blue - grey - red) or ``"viridis"``; ``reverse`` swaps the ends. ``vcenter`` (strictly between ``vmin`` and
    ``vmax``) maps to the middle of the table, each side scaled on its own (a two-slope scale: both signs of an
    SDF get the full colour range). NaN values become light grey.
    """
    if name not in _CMAPS:
        raise ValueError(f"unknown colormap {name!r}; choose from {', '.join(COLORMAPS)}")
    vmin, vmax = float(vmin), float(vmax)
    if not (math.isfinite(vmin) and math.isfinite(vmax)) or vmax <= vmin:
        raise ValueError(f"colormap needs finite vmin < vmax, got vmin={vmin}, vmax={vmax}")
    table = _CMAPS[name][::-1] if reverse else _CMAPS[name]
    v = np.asarray(values, dtype=np.float64)
    if vcenter is None:
        t = np.clip((v - vmin) / (vmax - vmin), 0.0, 1.0)
    else:
        vc = float(vcenter)
        if not vmin < vc < vmax:
            raise ValueError(f"vcenter must lie strictly between vmin={vmin} and vmax={vmax}, got {vcenter}")
        below = 0.5 * (v - vmin) / (vc - vmin)
        above = 0.5 + 0.5 * (v - vc) / (vmax - vc)
        t = np.clip(np.where(v < vc, below, above), 0.0, 1.0)
    nan = np.isnan(t)
    t = np.where(nan, 0.5, t) * (len(table) - 1)
    i = np.minimum(t.astype(np.int64), len(table) - 2)
    frac = (t - i)[..., None]
    out = table[i] * (1.0 - frac) + table[i + 1] * frac
    out[nan] = 0.85
    return out.astype(np.float32)


def level_lines(values: Any, level: float) -> np.ndarray:
    """``(H, W) bool``: pixels on the level line ``values == level`` of a field ``values (H, W)``.

    Where the sign of ``value - level`` changes between horizontal or vertical neighbours, the one of the two
    pixels closer to the level is marked (a one-pixel line). NaN pixels never carry a line.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"values must be an (H, W) field, got shape {v.shape}")
    d = v - float(level)
    pos = d >= 0.0
    ok = np.isfinite(d)
    ad = np.abs(np.where(ok, d, np.inf))
    line = np.zeros(v.shape, dtype=bool)
    for axis in (0, 1):  # two neighbour directions
        lo = [slice(None), slice(None)]
        hi = [slice(None), slice(None)]
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        lo_t, hi_t = tuple(lo), tuple(hi)
        cross = (pos[lo_t] != pos[hi_t]) & ok[lo_t] & ok[hi_t]
        first = ad[lo_t] <= ad[hi_t]
        line[lo_t] |= cross & first
        line[hi_t] |= cross & ~first
    return line


def _dilate(mask: np.ndarray, width: int) -> np.ndarray:
    """4-neighbour dilation of a ``(H, W) bool`` mask to a line ``width`` pixels thick (width 1: unchanged)."""
    out = mask.copy()
    for i in range(max(int(width) - 1, 0)):  # a couple of passes, not a loop over pixels
        grown = out.copy()
        if i % 2 == 0:  # grow down/right, then up/left, alternately
            grown[1:] |= out[:-1]
            grown[:, 1:] |= out[:, :-1]
        else:
            grown[:-1] |= out[1:]
            grown[:, :-1] |= out[:, 1:]
        out = grown
    return out


def heatmap_image(
    values: Any,
    contours: Sequence[float] | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    name: str = "coolwarm",
    reverse: bool = False,
    bold_levels: Sequence[float] = (),
    line_color: Any = (0.1, 0.1, 0.1),
    line_alpha: float = 0.45,
    line_width: int = 1,
    bold_width: int = 2,
    vcenter: float | None = None,
) -> np.ndarray:
    """Colour-mapped scalar field with level lines: ``values (H, W)`` -> ``(H, W, 3) float32`` in ``[0, 1]``.

    Row 0 of ``values`` is the top of the image. ``vmin``/``vmax`` default to the finite range of ``values``;
    ``name``, ``reverse`` and ``vcenter`` are passed to :func:`colormap` (``vcenter`` is ignored when it does not
    lie strictly inside the range).
    ``contours``: levels drawn as thin lines (``line_color`` at ``line_alpha``, ``line_width`` px); ``bold_levels``:
    levels drawn opaque black, ``bold_width`` px (e.g. the zero level of an SDF). See :func:`level_lines`.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2 or v.size == 0:
        raise ValueError(f"values must be a non-empty (H, W) field, got shape {v.shape}")
    finite = v[np.isfinite(v)]
    if finite.size == 0:
        raise ValueError("values hold no finite number")
    lo = float(finite.min()) if vmin is None else float(vmin)
    hi = float(finite.max()) if vmax is None else float(vmax)
    if hi <= lo:
        hi = lo + 1.0
    if vcenter is not None and not lo < float(vcenter) < hi:
        vcenter = None
    rgb = colormap(v, lo, hi, name=name, reverse=reverse, vcenter=vcenter).astype(np.float64)
    lc = as_rgb(line_color)
    if contours is not None and len(contours):
        thin = np.zeros(v.shape, dtype=bool)
        for c in contours:  # a handful of levels
            thin |= level_lines(v, c)
        thin = _dilate(thin, line_width)
        rgb[thin] = rgb[thin] * (1.0 - line_alpha) + lc * line_alpha
    for c in bold_levels:
        bold = _dilate(level_lines(v, c), bold_width)
        rgb[bold] = 0.0
    return rgb.astype(np.float32)


# ----------------------------------------------------------------------------------------------------------------
# cameras


def orbit_camera(center: Any, radius: float, azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """``(4, 4) float64`` camera-to-world pose on a sphere of ``radius`` around ``center (3,)``, looking at it.

    The eye sits at ``center + radius * (cos(el) cos(az), cos(el) sin(az), sin(el))`` (degrees; azimuth from
    ``+x`` towards ``+y``, elevation above the xy-plane); ``+z`` appears up in the image
    (:func:`implicit3d.sensing.camera.look_at`).
    """
    c = np.asarray(center, dtype=np.float64)
    if c.shape != (3,) or not np.isfinite(c).all():
        raise ValueError(f"center must be a finite 3-vector, got {center!r}")
    if not (math.isfinite(float(radius)) and float(radius) > 0.0):
        raise ValueError(f"radius must be positive, got {radius}")
    if not -90.0 <= float(elevation_deg) <= 90.0:
        raise ValueError(f"elevation_deg must be in [-90, 90], got {elevation_deg}")
    az, el = math.radians(float(azimuth_deg)), math.radians(float(elevation_deg))
    direction = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    return look_at(c + float(radius) * direction, c, up=(0.0, 0.0, 1.0))


def project_points(points: Any, intrinsics: Intrinsics, cam_to_world: Any) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates ``uv (N, 2) float64`` (column, row) and depths ``z (N,)`` of world ``points (N, 3)``."""
    pts = as_points(points)
    pose = np.asarray(cam_to_world, dtype=np.float64)
    if pose.shape != (4, 4):
        raise ValueError(f"cam_to_world must be a (4, 4) matrix, got shape {pose.shape}")
    cam = (pts - pose[:3, 3]) @ pose[:3, :3]  # R^T (p - t), row-vector form
    z = cam[:, 2]
    safe = np.where(z > 1e-12, z, 1.0)
    uv = np.stack([intrinsics.fx * cam[:, 0] / safe + intrinsics.cx, intrinsics.fy * cam[:, 1] / safe + intrinsics.cy],
                  axis=1)
    return uv, z


def fit_camera(
    points: Any,
    intrinsics: Intrinsics,
    azimuth_deg: float,
    elevation_deg: float,
    margin: float = 0.06,
    iterations: int = 8,
) -> np.ndarray:
    """Pose from :func:`orbit_camera` direction ``(azimuth_deg, elevation_deg)`` that frames ``points (N, 3)``.

    The target is moved so the projected bounding box is centred, and the distance chosen so the box fills the
    image up to ``margin`` (fraction of the half-width/height left free on the tighter side). Never clips: the
    distance only shrinks from a bounding-sphere fit while every point stays inside the frame.
    """
    pts = as_points(points)
    if len(pts) == 0:
        raise ValueError("fit_camera needs at least one point")
    if not 0.0 <= margin < 0.9:
        raise ValueError(f"margin must be in [0, 0.9), got {margin}")
    if len(pts) > 20000:  # framing needs the silhouette only roughly; keep it cheap (deterministic stride)
        pts = pts[:: int(math.ceil(len(pts) / 20000))]
    center = 0.5 * (pts.min(axis=0) + pts.max(axis=0))
    r = max(float(np.linalg.norm(pts - center, axis=1).max()), 1e-9)
    half_w, half_h = 0.5 * intrinsics.width, 0.5 * intrinsics.height
    half_fov = min(math.atan(half_w / intrinsics.fx), math.atan(half_h / intrinsics.fy))
    dist = r / math.sin(half_fov) * (1.0 + margin)
    best = orbit_camera(center, dist, azimuth_deg, elevation_deg)
    target = center.copy()
    for _ in range(int(iterations)):
        pose = orbit_camera(target, dist, azimuth_deg, elevation_deg)
        uv, z = project_points(pts, intrinsics, pose)
        if z.min() <= 1e-6 * dist:
            break
        ex = (uv[:, 0] - intrinsics.cx) / half_w
        ey = (uv[:, 1] - intrinsics.cy) / half_h
        if max(np.abs(ex).max(), np.abs(ey).max()) <= 1.0:
            best = pose
        # centre the projected box: shift the target along the camera's x/y axes by the offset at the mean depth
        off_x = 0.5 * (ex.max() + ex.min()) * half_w / intrinsics.fx * float(np.median(z))
        off_y = 0.5 * (ey.max() + ey.min()) * half_h / intrinsics.fy * float(np.median(z))
        target = target + pose[:3, 0] * off_x + pose[:3, 1] * off_y
        extent = max((ex.max() - ex.min()) / 2.0, (ey.max() - ey.min()) / 2.0)
        dist *= extent / (1.0 - margin)
    return best


# ----------------------------------------------------------------------------------------------------------------
# layers: shaded meshes, splats, compositing


@dataclass
class Layer:
    """One image layer: ``rgb (H, W, 3) float32`` in ``[0, 1]`` and coverage ``alpha (H, W) float32`` in
    ``[0, 1]``. :func:`compose` paints layers in order (later layers on top)."""

    rgb: np.ndarray
    alpha: np.ndarray

    def __post_init__(self) -> None:
        self.rgb = np.asarray(self.rgb, dtype=np.float32)
        self.alpha = np.asarray(self.alpha, dtype=np.float32)
        if self.rgb.ndim != 3 or self.rgb.shape[2] != 3:
            raise ValueError(f"Layer.rgb must be shaped (H, W, 3), got {self.rgb.shape}")
        if self.alpha.shape != self.rgb.shape[:2]:
            raise ValueError(f"Layer.alpha must be shaped {self.rgb.shape[:2]}, got {self.alpha.shape}")

    @classmethod
    def from_mask(cls, rgb: Any, mask: Any, opacity: float = 1.0) -> Layer:
        """Layer showing ``rgb (H, W, 3)`` where ``mask (H, W) bool`` is set, with uniform ``opacity``."""
        if not 0.0 <= float(opacity) <= 1.0:
            raise ValueError(f"opacity must be in [0, 1], got {opacity}")
        return cls(rgb, np.asarray(mask, dtype=np.float32) * float(opacity))


def _vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals ``(V, 3)`` (faces wound counter-clockwise seen from outside)."""
    tri = vertices[faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # length = 2 * area
    vn = np.zeros_like(vertices)
    for k in range(3):  # the three corners
        np.add.at(vn, faces[:, k], fn)
    return vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-300)


def _smooth_normals(
    vertices: np.ndarray, faces: np.ndarray, res: Any, intrinsics: Intrinsics, pose: np.ndarray
) -> np.ndarray:
    """Per-pixel camera-frame normals interpolated from vertex normals (barycentric at the visible point)."""
    normals = np.asarray(res.normals_cam, dtype=np.float64).copy()
    hit = res.face_index >= 0
    if not hit.any():
        return normals
    rot, t = pose[:3, :3], pose[:3, 3]
    vv, uu = np.nonzero(hit)
    f = res.face_index[hit]
    rays = np.stack([(uu - intrinsics.cx) / intrinsics.fx, (vv - intrinsics.cy) / intrinsics.fy,
                     np.ones(len(uu))], axis=1)
    p = rays * res.depth[hit][:, None].astype(np.float64)
    tri = (vertices[faces[f]] - t) @ rot  # (P, 3, 3) camera frame
    e0, e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], p - tri[:, 0]
    d00, d01, d11 = (e0 * e0).sum(1), (e0 * e1).sum(1), (e1 * e1).sum(1)
    d20, d21 = (e2 * e0).sum(1), (e2 * e1).sum(1)
    den = d00 * d11 - d01 * d01
    ok = np.abs(den) > 1e-30
    den = np.where(ok, den, 1.0)
    w1 = np.clip((d11 * d20 - d01 * d21) / den, 0.0, 1.0)
    w2 = np.clip((d00 * d21 - d01 * d20) / den, 0.0, 1.0)
    w0 = np.clip(1.0 - w1 - w2, 0.0, 1.0)
    wsum = np.maximum(w0 + w1 + w2, 1e-12)
    vn = _vertex_normals(vertices, faces) @ rot  # camera frame
    fv = faces[f]
    n = (vn[fv[:, 0]] * w0[:, None] + vn[fv[:, 1]] * w1[:, None] + vn[fv[:, 2]] * w2[:, None]) / wsum[:, None]
    length = np.linalg.norm(n, axis=1)
    ok &= length > 1e-6
    n = n / np.maximum(length, 1e-12)[:, None]
    n *= np.where(np.einsum("ij,ij->i", n, rays) > 0.0, -1.0, 1.0)[:, None]  # face the camera
    flat = normals[hit]
    normals[hit] = np.where(ok[:, None], n, flat)
    return normals


def shade_mesh(
    mesh: Any,
    intrinsics: Intrinsics,
    cam_to_world: Any,
    color: Any = MESH_COLOR,
    light: Any = DEFAULT_LIGHT,
    ambient: float = 0.35,
    diffuse: float = 0.65,
    specular: float = 0.0,
    shininess: float = 32.0,
    smooth: bool = True,
    return_faces: bool = False,
) -> tuple[np.ndarray, ...]:
    """Render ``mesh`` (``trimesh.Trimesh`` or ``(vertices (V, 3), faces (F, 3))``) with headlight shading.

    ``light``: direction towards the light in the camera frame (x right, y down, z forward), normalized here; the
    default sits up-left of the camera, so it moves with the camera. Intensity per pixel is
    ``ambient + diffuse * max(n . l, 0) + specular * max(n . h, 0) ** shininess`` (``h`` the half vector between
    the light and the view direction) times ``color`` (``"#rrggbb"`` or 3 floats in [0, 1]), clipped to [0, 1].
    ``smooth``: interpolate vertex normals across triangles (else flat face normals from the renderer).

    Returns ``rgb (H, W, 3) float32`` (background 0), ``depth (H, W) float32`` (metres along the camera axis, 0 = no
    hit) and ``mask (H, W) bool``; with ``return_faces`` also the visible ``face_index (H, W) int32`` (-1 = none).
    """
    from implicit3d.sensing.render import render

    vertices, faces = as_mesh_arrays(mesh)
    base = as_rgb(color)
    lvec = np.asarray(light, dtype=np.float64)
    if lvec.shape != (3,) or not np.isfinite(lvec).all() or np.linalg.norm(lvec) < 1e-12:
        raise ValueError(f"light must be a non-zero 3-vector (camera frame), got {light!r}")
    lvec = lvec / np.linalg.norm(lvec)
    pose = np.asarray(cam_to_world, dtype=np.float64)
    res = render((vertices, faces), intrinsics, pose, return_faces=True)
    mask = res.face_index >= 0
    normals = _smooth_normals(vertices, faces, res, intrinsics, pose) if smooth else res.normals_cam
    normals = np.asarray(normals, dtype=np.float64)
    lam = np.clip(normals @ lvec, 0.0, None)
    intensity = ambient + diffuse * lam
    if specular > 0.0:
        h, w = mask.shape
        vv, uu = np.mgrid[0:h, 0:w]
        view = -np.stack([(uu - intrinsics.cx) / intrinsics.fx, (vv - intrinsics.cy) / intrinsics.fy,
                          np.ones((h, w))], axis=-1)
        view /= np.linalg.norm(view, axis=-1, keepdims=True)
        half = view + lvec
        half /= np.maximum(np.linalg.norm(half, axis=-1, keepdims=True), 1e-12)
        intensity = intensity + specular * np.clip((normals * half).sum(-1), 0.0, None) ** float(shininess)
    rgb = np.clip(intensity[..., None] * base, 0.0, 1.0) * mask[..., None]
    out = (rgb.astype(np.float32), res.depth, mask)
    if return_faces:
        return (*out, res.face_index)
    return out


def _disc_offsets(radius_px: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r = float(radius_px)
    k = int(math.floor(r))
    dv, du = np.mgrid[-k : k + 1, -k : k + 1]
    d2 = du**2 + dv**2
    keep = d2 <= r * r + 1e-9
    return du[keep], dv[keep], np.sqrt(d2[keep]) / max(r, 1e-9)


def splat_points(
    points: Any,
    colors: Any,
    intrinsics: Intrinsics,
    cam_to_world: Any,
    radius_px: float = 1.5,
    depth: Any | None = None,
    depth_tolerance: float = 0.0,
    behind: bool = False,
    opacity: float = 1.0,
    edge_darkening: float = 0.35,
) -> Layer:
    """Z-buffered disc splats of world ``points (N, 3)`` as a :class:`Layer`.

    ``colors``: one colour (``"#rrggbb"`` or 3 floats in [0, 1]) or ``(N, 3)`` floats in [0, 1]. Each point covers
    the pixels within ``radius_px`` (pixels, >= 0) of its projection; where splats overlap the nearest point wins
    (its depth along the camera axis). ``depth``: an ``(H, W)`` depth image (e.g. of a mesh, 0 = empty) to occlude
    against: splats farther than ``depth + depth_tolerance`` are dropped, or with ``behind=True`` only those are
    kept (to draw them under a translucent surface). Disc rims are darkened by ``edge_darkening`` (0 = flat).
    """
    pts = as_points(points)
    n = len(pts)
    if isinstance(colors, str) or np.ndim(colors) == 1:
        cols = np.broadcast_to(as_rgb(colors), (n, 3))
    else:
        cols = np.asarray(colors, dtype=np.float64)
        if cols.shape != (n, 3):
            raise ValueError(f"colors must be one colour or shaped ({n}, 3), got {cols.shape}")
        if not np.isfinite(cols).all() or (n and (cols.min() < 0.0 or cols.max() > 1.0)):
            raise ValueError("colors must hold floats in [0, 1]")
    if not (math.isfinite(float(radius_px)) and float(radius_px) >= 0.0):
        raise ValueError(f"radius_px must be >= 0, got {radius_px}")
    if not 0.0 <= float(opacity) <= 1.0:
        raise ValueError(f"opacity must be in [0, 1], got {opacity}")
    h, w = intrinsics.height, intrinsics.width
    if depth is not None:
        depth = np.asarray(depth, dtype=np.float64)
        if depth.shape != (h, w):
            raise ValueError(f"depth must be shaped {(h, w)} like the image, got {depth.shape}")
    rgb = np.zeros((h, w, 3), dtype=np.float32)
    alpha = np.zeros((h, w), dtype=np.float32)
    if n == 0:
        return Layer(rgb, alpha)
    uv, z = project_points(pts, intrinsics, cam_to_world)
    front = z > 1e-6
    uv, z, idx = uv[front], z[front], np.nonzero(front)[0]
    du, dv, rel = _disc_offsets(radius_px)
    cu = np.rint(uv[:, 0]).astype(np.int64)[:, None] + du[None, :]  # (P, K)
    cv = np.rint(uv[:, 1]).astype(np.int64)[:, None] + dv[None, :]
    zz = np.broadcast_to(z[:, None], cu.shape)
    pid = np.broadcast_to(idx[:, None], cu.shape)
    kid = np.broadcast_to(np.arange(len(du))[None, :], cu.shape)
    ok = (cu >= 0) & (cu < w) & (cv >= 0) & (cv < h)
    cu, cv, zz, pid, kid = cu[ok], cv[ok], zz[ok], pid[ok], kid[ok]
    if depth is not None and len(cu):
        d = depth[cv, cu]
        hidden = (d > 0.0) & (zz > d + float(depth_tolerance))
        keep = hidden if behind else ~hidden
        cu, cv, zz, pid, kid = cu[keep], cv[keep], zz[keep], pid[keep], kid[keep]
    if len(cu) == 0:
        return Layer(rgb, alpha)
    pix = cv * w + cu
    order = np.lexsort((kid, zz, pix))  # per pixel: nearest first (ties: disc centre first)
    pix_s = pix[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = pix_s[1:] != pix_s[:-1]
    win = order[first]
    shade = 1.0 - float(edge_darkening) * rel[kid[win]] ** 2
    flat_rgb = rgb.reshape(-1, 3)
    flat_rgb[pix[win]] = cols[pid[win]] * shade[:, None]
    alpha.reshape(-1)[pix[win]] = float(opacity)
    return Layer(rgb, alpha)


def compose(layers: Sequence[Layer], background: Any = WHITE) -> np.ndarray:
    """Paint ``layers`` in order over a ``background`` colour: ``(H, W, 3) float32`` in ``[0, 1]``.

    Each layer blends as ``out = alpha * rgb + (1 - alpha) * out`` (later layers on top).
    """
    layers = list(layers)
    if not layers:
        raise ValueError("compose needs at least one layer")
    shape = layers[0].rgb.shape
    for i, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise TypeError(f"layers[{i}] must be a Layer, got {type(layer).__name__}")
        if layer.rgb.shape != shape:
            raise ValueError(f"layers[{i}] is shaped {layer.rgb.shape[:2]}, layers[0] {shape[:2]}")
    out = np.broadcast_to(as_rgb(background).astype(np.float32), shape).copy()
    for layer in layers:  # a few layers
        a = np.clip(layer.alpha, 0.0, 1.0)[..., None]
        out = a * layer.rgb + (1.0 - a) * out
    return out


def downsample(image: Any, factor: int) -> np.ndarray:
    """Box-filter ``image (H * factor, W * factor, C)`` down to ``(H, W, C)`` (supersampling anti-aliasing)."""
    img = np.asarray(image, dtype=np.float32)
    f = int(factor)
    if f < 1:
        raise ValueError(f"factor must be a positive integer, got {factor}")
    if f == 1:
        return img
    h, w = img.shape[0] // f, img.shape[1] // f
    if img.shape[0] != h * f or img.shape[1] != w * f:
        raise ValueError(f"image shape {img.shape[:2]} is not a multiple of {f}")
    return img.reshape(h, f, w, f, *img.shape[2:]).mean(axis=(1, 3))


def side_by_side(images: Sequence[np.ndarray], gap: int = 8, background: Any = WHITE) -> np.ndarray:
    """Place ``images`` (each ``(H_i, W_i, 3)``, all uint8 or all float) left to right, ``gap`` px apart.

    Shorter images are centred vertically; the gap and padding get the ``background`` colour. The result has the
    dtype of the inputs.
    """
    images = [np.asarray(im) for im in images]
    if not images:
        raise ValueError("side_by_side needs at least one image")
    if int(gap) < 0:
        raise ValueError(f"gap must be >= 0, got {gap}")
    dtypes = {im.dtype for im in images}
    if len(dtypes) != 1:
        raise TypeError(f"images must share one dtype, got {sorted(str(d) for d in dtypes)}")
    for i, im in enumerate(images):
        if im.ndim != 3 or im.shape[2] != 3:
            raise ValueError(f"images[{i}] must be shaped (H, W, 3), got {im.shape}")
    dtype = images[0].dtype
    bg = as_rgb(background)
    bg_val = to_uint8(bg) if dtype == np.uint8 else bg.astype(dtype)
    h = max(im.shape[0] for im in images)
    w = sum(im.shape[1] for im in images) + int(gap) * (len(images) - 1)
    out = np.empty((h, w, 3), dtype=dtype)
    out[:] = bg_val
    x = 0
    for im in images:  # a few panels
        y = (h - im.shape[0]) // 2
        out[y : y + im.shape[0], x : x + im.shape[1]] = im
        x += im.shape[1] + int(gap)
    return out


# ----------------------------------------------------------------------------------------------------------------
# thumbnails


def _check_size(size: Any, supersample: int) -> tuple[int, int, int]:
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (width, height) in pixels, got {size!r}") from None
    if w < 8 or h < 8:
        raise ValueError(f"size must be at least 8 x 8 pixels, got {size!r}")
    if int(supersample) < 1:
        raise ValueError(f"supersample must be a positive integer, got {supersample}")
    return w, h, int(supersample)


def _panel_intrinsics(w: int, h: int, s: int, fov_deg: float = DEFAULT_FOV_DEG) -> Intrinsics:
    return Intrinsics.from_fov(fov_deg, w * s, h * s)


def _edges_mask(face_index: np.ndarray, width: int) -> np.ndarray:
    """Pixels where the visible triangle changes (triangle edges of a rendered mesh)."""
    f = face_index
    e = np.zeros(f.shape, dtype=bool)
    both = (f[:, 1:] >= 0) & (f[:, :-1] >= 0)
    e[:, 1:] |= both & (f[:, 1:] != f[:, :-1])
    both = (f[1:] >= 0) & (f[:-1] >= 0)
    e[1:] |= both & (f[1:] != f[:-1])
    return _dilate(e, width)


def _outline(mask: np.ndarray, width: int) -> np.ndarray:
    """Silhouette pixels of a ``(H, W) bool`` mask: covered pixels with an uncovered 4-neighbour, ``width`` thick."""
    inner = mask.copy()
    inner[1:] &= mask[:-1]
    inner[:-1] &= mask[1:]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return _dilate(mask & ~inner, width) & mask


def sphere_thumbnail(
    radius: float = 0.4,
    size: tuple[int, int] = DEFAULT_SIZE,
    supersample: int = 2,
    n_levels: int = 10,
    gap: int = 8,
) -> np.ndarray:
    """Explicit vs implicit sphere: ``(H, 2W + gap, 3) uint8``, ``(W, H) = size``.

    Left: a shaded icosphere of ``radius`` with its triangle edges (the explicit mesh). Right: the implicit field
    ``f(x) = x² + y² + z² − r²`` of :func:`implicit3d.viz.figures.implicit_sphere_figure` on the plane ``z = 0``
    (coolwarm reversed: negative inside in red, positive outside in blue), ``n_levels`` level lines and the
    surface ``f = 0`` in black.
    """
    import trimesh

    w, h, s = _check_size(size, supersample)
    if not (math.isfinite(float(radius)) and float(radius) > 0.0):
        raise ValueError(f"radius must be positive, got {radius}")
    r = float(radius)
    mesh = trimesh.creation.icosphere(subdivisions=2, radius=r)
    intr = _panel_intrinsics(w, h, s)
    pose = fit_camera(np.asarray(mesh.vertices), intr, azimuth_deg=-60.0, elevation_deg=20.0, margin=0.12)
    rgb, _, mask, faces = shade_mesh(mesh, intr, pose, color="#8fbc8f", smooth=False, specular=0.15,
                                     return_faces=True)
    edges = _edges_mask(faces, max(s, 1))
    edge_rgb = np.broadcast_to(as_rgb("#2f4f4f").astype(np.float32), rgb.shape)
    left = compose([Layer.from_mask(rgb, mask), Layer.from_mask(edge_rgb, edges, opacity=0.6)])
    # field on z = 0, square pixels, the sphere filling ~70 % of the height
    hh = 1.45 * r
    hw = hh * w / h
    xs = (np.arange(w * s) + 0.5) / (w * s) * 2 * hw - hw
    ys = hh - (np.arange(h * s) + 0.5) / (h * s) * 2 * hh  # row 0 at the top
    xx, yy = np.meshgrid(xs, ys)
    f = xx**2 + yy**2 - r * r
    vmax = float(f.max())
    levels = np.linspace(-r * r, vmax, n_levels + 2)[1:-1]
    right = heatmap_image(f, contours=levels, vmin=-r * r, vmax=vmax, vcenter=0.0, reverse=True,
                          bold_levels=(0.0,), line_width=s, bold_width=2 * s)
    panels = [to_uint8(downsample(p, s)) for p in (left, right)]
    return side_by_side(panels, gap=gap)


def inside_outside_thumbnail(
    mesh: Any,
    rng: np.random.Generator | int | None = 0,
    n_points: int = 3000,
    size: tuple[int, int] = DEFAULT_SIZE,
    supersample: int = 2,
    azimuth_deg: float = -60.0,
    elevation_deg: float = 15.0,
    slab: float | None = 0.5,
    mesh_opacity: float = 0.3,
    radius_px: float = 1.6,
) -> np.ndarray:
    """Random points around ``mesh`` coloured by the inside test (red inside, blue outside): ``(H, W, 3) uint8``.

    ``n_points`` are uniform in the bounding box padded by 15 % of its longest edge (as in the demo page) and
    classified with :func:`implicit3d.geometry.inside.inside`. With ``slab`` (a fraction), the box is turned to
    face the camera's horizontal viewing direction and cut to a slab through the centre, ``slab`` times the
    object's horizontal size thick and widened to the panel's aspect ratio, so the points form a readable
    cross-section instead of a cloud that hides the object; ``None`` keeps the whole axis-aligned box. The
    surface is drawn translucent (``mesh_opacity``; 0 hides it) with its outline: points behind it show through,
    points in front are drawn over it. ``radius_px``: splat radius in output pixels.
    """
    from implicit3d.geometry.inside import inside

    w, h, s = _check_size(size, supersample)
    if int(n_points) < 1:
        raise ValueError(f"n_points must be positive, got {n_points}")
    if slab is not None and not float(slab) > 0.0:
        raise ValueError(f"slab must be positive or None, got {slab}")
    vertices, faces = as_mesh_arrays(mesh)
    rng = np.random.default_rng(rng)
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    pad = 0.15 * float((hi - lo).max())
    lo, hi = lo - pad, hi + pad
    n = int(n_points)
    if slab is None:
        pts = rng.uniform(lo, hi, (n, 3))
    else:
        az = math.radians(float(azimuth_deg))
        d = np.array([math.cos(az), math.sin(az), 0.0])  # horizontal direction towards the camera
        e = np.array([-d[1], d[0], 0.0])  # horizontal, across the image
        centre = 0.5 * (lo + hi)
        corners = np.stack(np.meshgrid(*zip(lo, hi, strict=True), indexing="ij"), -1).reshape(-1, 3) - centre
        half_e = float(np.abs(corners @ e).max())
        half_e = max(half_e, 0.9 * 0.5 * float(hi[2] - lo[2]) * w / h)  # widen to the panel's aspect ratio
        size_d = float(np.ptp((vertices - centre) @ d))
        half_d = 0.5 * float(slab) * size_d
        a = rng.uniform(-half_e, half_e, n)
        b = rng.uniform(-half_d, half_d, n)
        c = rng.uniform(lo[2], hi[2], n)
        pts = centre + a[:, None] * e + b[:, None] * d
        pts[:, 2] = c
    occ = inside((vertices, faces), pts)
    cols = np.where(occ[:, None], as_rgb(INSIDE_COLOR), as_rgb(OUTSIDE_COLOR))
    intr = _panel_intrinsics(w, h, s)
    pose = fit_camera(np.concatenate([pts, vertices]), intr, azimuth_deg, elevation_deg, margin=0.05)
    rgb, depth, mask = shade_mesh((vertices, faces), intr, pose, color=MESH_COLOR, specular=0.1)
    rad = radius_px * s
    back = splat_points(pts, cols, intr, pose, radius_px=rad, depth=depth, behind=True)
    front = splat_points(pts, cols, intr, pose, radius_px=rad, depth=depth)
    layers = [back]
    if mesh_opacity > 0.0:
        line = np.broadcast_to(as_rgb("#4a5568").astype(np.float32), rgb.shape)
        layers += [Layer.from_mask(rgb, mask, opacity=mesh_opacity),
                   Layer.from_mask(line, _outline(mask, s), opacity=min(1.0, 2.0 * mesh_opacity))]
    img = compose([*layers, front])
    return to_uint8(downsample(img, s))


def sdf_slice_thumbnail(
    mesh: Any,
    size: tuple[int, int] = DEFAULT_SIZE,
    axis: int = 1,
    n_levels: int = 14,
    supersample: int = 2,
) -> np.ndarray:
    """Signed distance to ``mesh`` on the plane through its bounding-box centre normal to ``axis`` (default ``y``,
    a vertical plane): ``(H, W, 3) uint8``.

    Square pixels; the world ``z`` axis (or the second remaining axis) points up. Colours: coolwarm reversed and
    symmetric about 0 (inside negative, red; outside blue), ``n_levels`` level lines, the surface (SDF = 0) bold
    black. Distances from :func:`implicit3d.geometry.distance.signed_distance` at ``(W * supersample) x
    (H * supersample)`` pixel centres.
    """
    from implicit3d.geometry.distance import signed_distance

    w, h, s = _check_size(size, supersample)
    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2, got {axis}")
    vertices, faces = as_mesh_arrays(mesh)
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    centre = 0.5 * (lo + hi)
    ku, kv = [a for a in range(3) if a != axis]
    ext_u, ext_v = float(hi[ku] - lo[ku]), float(hi[kv] - lo[kv])
    half_v = 0.5 * max(ext_v, ext_u * h / w) * 1.3
    half_u = half_v * w / h
    W, H = w * s, h * s
    us = centre[ku] + ((np.arange(W) + 0.5) / W * 2.0 - 1.0) * half_u
    vs = centre[kv] + (1.0 - (np.arange(H) + 0.5) / H * 2.0) * half_v  # row 0 at the top
    uu, vv = np.meshgrid(us, vs)
    pts = np.empty((uu.size, 3))
    pts[:, ku], pts[:, kv], pts[:, axis] = uu.ravel(), vv.ravel(), centre[axis]
    vals = signed_distance((vertices, faces), pts).reshape(H, W)
    vmax = float(np.abs(vals).max()) or 1.0
    levels = np.linspace(-vmax, vmax, n_levels + 1)[1:-1]  # evenly spaced: the SDF changes 1 per unit length
    levels = levels[np.abs(levels) > 1e-12 * vmax]  # the zero level is drawn bold instead
    vmin = min(float(vals.min()), -1e-12)  # two-slope colours: the thin inside gets the full red range too
    img = heatmap_image(vals, contours=levels, vmin=vmin, vmax=vmax, vcenter=0.0, reverse=True,
                        bold_levels=(0.0,), line_width=s, bold_width=2 * s)
    return to_uint8(downsample(img, s))


def completion_thumbnail(
    cloud: Any,
    mesh: Any,
    gt_mesh: Any | None = None,
    size: tuple[int, int] = DEFAULT_SIZE,
    supersample: int = 2,
    azimuth_deg: float = -60.0,
    elevation_deg: float = 25.0,
    radius_px: float = 1.2,
    gap: int = 8,
) -> np.ndarray:
    """Observed partial ``cloud (N, 3)`` (orange) over the shaded completed ``mesh`` (grey-blue).

    With ``gt_mesh`` a second panel shows the ground truth (green) from the same camera, so the two compare
    directly: ``(H, 2W + gap, 3) uint8``; else ``(H, W, 3) uint8``. The camera orbits at ``(azimuth_deg,
    elevation_deg)`` around the union of everything drawn; points behind the completed surface (by more than 1 %
    of the scene size) are hidden.
    """
    w, h, s = _check_size(size, supersample)
    pts = as_points(cloud)
    v, f = as_mesh_arrays(mesh)
    frame = [v, pts]
    if gt_mesh is not None:
        gv, gf = as_mesh_arrays(gt_mesh, name="gt_mesh")
        frame.append(gv)
    allp = np.concatenate(frame)
    scene = float(np.ptp(allp, axis=0).max()) or 1.0
    intr = _panel_intrinsics(w, h, s)
    pose = fit_camera(allp, intr, azimuth_deg, elevation_deg, margin=0.06)
    rgb, depth, mask = shade_mesh((v, f), intr, pose, color=COMPLETION_COLOR, specular=0.15)
    dots = splat_points(pts, POINTS_COLOR, intr, pose, radius_px=radius_px * s, depth=depth,
                        depth_tolerance=0.01 * scene)
    panels = [to_uint8(downsample(compose([Layer.from_mask(rgb, mask), dots]), s))]
    if gt_mesh is not None:
        grgb, _, gmask = shade_mesh((gv, gf), intr, pose, color=GROUND_TRUTH_COLOR, specular=0.15)
        panels.append(to_uint8(downsample(compose([Layer.from_mask(grgb, gmask)]), s)))
    return side_by_side(panels, gap=gap)
