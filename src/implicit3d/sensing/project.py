"""Depth image <-> point cloud, and projection of points to pixels.

Pixel centres sit at integer coordinates (OpenCV, see :mod:`implicit3d.sensing.camera`): the depth value at row
``v``, column ``u`` back-projects to ``z * ((u - cx) / fx, (v - cy) / fy, 1)`` in the camera frame.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from implicit3d.geometry.validation import as_points
from implicit3d.sensing.camera import Intrinsics


def _check_depth(depth: Any, intrinsics: Intrinsics) -> np.ndarray:
    if not isinstance(intrinsics, Intrinsics):
        raise TypeError(f"intrinsics must be an Intrinsics, got {type(intrinsics).__name__}")
    d = np.asarray(depth)
    if d.ndim != 2:
        raise ValueError(f"depth must be an (H, W) image, got shape {d.shape}")
    if not (np.issubdtype(d.dtype, np.floating) or np.issubdtype(d.dtype, np.integer)):
        raise TypeError(f"depth must hold numbers, got dtype {d.dtype}")
    if d.shape != intrinsics.shape:
        raise ValueError(f"depth shape {d.shape} does not match intrinsics (height, width) {intrinsics.shape}")
    return d


def _check_pose(pose: Any, name: str) -> np.ndarray:
    pose = np.asarray(pose, dtype=np.float64)
    if pose.shape != (4, 4):
        raise ValueError(f"{name} must be a (4, 4) matrix, got shape {pose.shape}")
    if not np.isfinite(pose).all():
        raise ValueError(f"{name} holds NaN or inf")
    return pose


def depth_to_points(
    depth: Any,
    intrinsics: Intrinsics,
    cam_to_world: Any | None = None,
    mask: Any | None = None,
    return_pixels: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Back-project a depth image to a point cloud.

    ``depth``: ``(H, W)`` z-depth in metres (0, NaN or inf = invalid). Returns ``(N, 3)`` points (``float64``;
    ``float32`` when ``depth`` is ``float32``) in the camera frame, or in the world frame when ``cam_to_world
    (4, 4)`` is given, one per valid pixel in row-major order. ``mask (H, W) bool`` further restricts the pixels.
    With ``return_pixels`` also returns ``(N, 2) int64`` pixel coordinates ``(v, u)`` (row, column).
    """
    d = _check_depth(depth, intrinsics)
    out_dtype = np.float32 if d.dtype == np.float32 else np.float64
    d = d.astype(np.float64, copy=False)
    valid = np.isfinite(d) & (d > 0)
    if mask is not None:
        m = np.asarray(mask)
        if m.shape != d.shape:
            raise ValueError(f"mask shape {m.shape} does not match depth shape {d.shape}")
        valid &= m.astype(bool)
    vv, uu = np.nonzero(valid)
    z = d[vv, uu]
    pts = np.stack([(uu - intrinsics.cx) / intrinsics.fx * z, (vv - intrinsics.cy) / intrinsics.fy * z, z], axis=1)
    if cam_to_world is not None:
        pose = _check_pose(cam_to_world, "cam_to_world")
        pts = pts @ pose[:3, :3].T + pose[:3, 3]
    pts = pts.astype(out_dtype)
    if return_pixels:
        return pts, np.stack([vv, uu], axis=1).astype(np.int64)
    return pts


def project(points: Any, intrinsics: Intrinsics, world_to_cam: Any | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Project points to the image.

    ``points (N, 3)`` in the world frame (moved to the camera with ``world_to_cam (4, 4)``) or the camera frame
    (``world_to_cam=None``). Returns ``(uv (N, 2) float64`` continuous pixel coordinates ``(u, v)`` — pixel
    centres at integers — and ``z (N,) float64`` camera depth). Points with ``z <= 0`` get ``uv = NaN``.
    """
    if not isinstance(intrinsics, Intrinsics):
        raise TypeError(f"intrinsics must be an Intrinsics, got {type(intrinsics).__name__}")
    p = as_points(points)
    if world_to_cam is not None:
        pose = _check_pose(world_to_cam, "world_to_cam")
        p = p @ pose[:3, :3].T + pose[:3, 3]
    z = p[:, 2].copy()
    uv = np.full((len(p), 2), np.nan)
    front = z > 0
    uv[front, 0] = intrinsics.fx * p[front, 0] / z[front] + intrinsics.cx
    uv[front, 1] = intrinsics.fy * p[front, 1] / z[front] + intrinsics.cy
    return uv, z


@njit(cache=True)
def _splat(u: np.ndarray, v: np.ndarray, z: np.ndarray, height: int, width: int) -> np.ndarray:
    out = np.zeros((height, width), dtype=np.float64)
    for i in range(u.shape[0]):
        if out[v[i], u[i]] == 0.0 or z[i] < out[v[i], u[i]]:
            out[v[i], u[i]] = z[i]
    return out


def points_to_depth(points_cam: Any, intrinsics: Intrinsics) -> np.ndarray:
    """Z-buffer splat of camera-frame ``points_cam (N, 3)`` into an ``(H, W) float32`` depth image (metres).

    Each point lands on the pixel whose centre is nearest to its projection; the nearest point per pixel wins;
    pixels with no point (and points behind the camera or outside the image) give / are 0 / dropped.
    Inverse of :func:`depth_to_points` for a camera-frame cloud.
    """
    uv, z = project(points_cam, intrinsics)
    keep = z > 0
    u = np.rint(uv[keep, 0])
    v = np.rint(uv[keep, 1])
    zk = z[keep]
    inside = (u >= 0) & (u < intrinsics.width) & (v >= 0) & (v < intrinsics.height)
    out = _splat(
        u[inside].astype(np.int64), v[inside].astype(np.int64), zk[inside], intrinsics.height, intrinsics.width
    )
    return out.astype(np.float32)
