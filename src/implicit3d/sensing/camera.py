"""Pinhole cameras: intrinsics, look-at poses and random views around an object.

Conventions (project-wide):

* Camera frame is OpenCV's: x right, y down, z forward (the viewing direction). Depth is the z coordinate.
* Poses are ``(4, 4) float64`` camera-to-world matrices ``T`` with ``p_world = T[:3, :3] @ p_cam + T[:3, 3]``.
* Pixel centres sit at integer pixel coordinates (OpenCV): pixel ``(row v, column u)`` is centred on the image
  point ``(u, v)`` and covers ``[u - 0.5, u + 0.5] x [v - 0.5, v + 0.5]``. A centred principal point is therefore
  ``cx = (width - 1) / 2``, ``cy = (height - 1) / 2``. The renderer samples depth at these centres and
  :func:`implicit3d.sensing.project.depth_to_points` back-projects through the same points.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

_INTRINSICS_KEYS = ("fx", "fy", "cx", "cy", "width", "height")


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels: focal lengths ``fx, fy``, principal point ``cx, cy``, image ``width x height``.

    A camera-frame point ``(x, y, z)`` with ``z > 0`` projects to ``u = fx * x / z + cx``, ``v = fy * y / z + cy``
    (no lens distortion). Raises ``ValueError`` for non-positive focal lengths or image sizes, or non-finite values.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        for key in ("fx", "fy", "cx", "cy"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise TypeError(f"Intrinsics.{key} must be a number, got {type(value).__name__}")
            if not math.isfinite(float(value)):
                raise ValueError(f"Intrinsics.{key} must be finite, got {value}")
            object.__setattr__(self, key, float(value))
        for key in ("width", "height"):
            value = getattr(self, key)
            if isinstance(value, (float, np.floating)) and float(value).is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"Intrinsics.{key} must be an integer, got {value!r}")
            if value <= 0:
                raise ValueError(f"Intrinsics.{key} must be positive, got {value}")
            object.__setattr__(self, key, int(value))
        if self.fx <= 0 or self.fy <= 0:
            raise ValueError(f"Intrinsics focal lengths must be positive, got fx={self.fx}, fy={self.fy}")

    @classmethod
    def from_fov(cls, fov_y_deg: float, width: int, height: int) -> Intrinsics:
        """Square-pixel intrinsics with vertical field of view ``fov_y_deg`` (degrees) and a centred principal point.

        ``fy = fx = (height / 2) / tan(fov_y / 2)``, ``cx = (width - 1) / 2``, ``cy = (height - 1) / 2``.
        """
        if not 0.0 < float(fov_y_deg) < 180.0:
            raise ValueError(f"fov_y_deg must be in (0, 180) degrees, got {fov_y_deg}")
        f = 0.5 * float(height) / math.tan(math.radians(float(fov_y_deg)) / 2.0)
        return cls(fx=f, fy=f, cx=(width - 1) / 2.0, cy=(height - 1) / 2.0, width=width, height=height)

    @property
    def matrix(self) -> np.ndarray:
        """``(3, 3) float64`` calibration matrix ``K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]``."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def shape(self) -> tuple[int, int]:
        """Image shape ``(height, width)`` as numpy orders it."""
        return (self.height, self.width)

    @property
    def fov_y_deg(self) -> float:
        """Vertical field of view in degrees (for a centred principal point)."""
        return math.degrees(2.0 * math.atan(0.5 * self.height / self.fy))

    def scaled(self, factor: float) -> Intrinsics:
        """Intrinsics of the same camera at ``factor`` times the resolution (pixel centres kept consistent)."""
        if factor <= 0:
            raise ValueError(f"scale factor must be positive, got {factor}")
        w, h = round(self.width * factor), round(self.height * factor)
        return Intrinsics(
            fx=self.fx * factor,
            fy=self.fy * factor,
            cx=(self.cx + 0.5) * factor - 0.5,
            cy=(self.cy + 0.5) * factor - 0.5,
            width=w,
            height=h,
        )

    def to_dict(self) -> dict[str, float | int]:
        """JSON-ready dict with keys ``fx, fy, cx, cy, width, height``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Intrinsics:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` naming missing keys (extra keys are ignored)."""
        if not isinstance(data, dict):
            raise ValueError(f"intrinsics must be a JSON object with keys {', '.join(_INTRINSICS_KEYS)}")
        missing = [k for k in _INTRINSICS_KEYS if k not in data]
        if missing:
            raise ValueError(f"intrinsics are missing key(s): {', '.join(missing)}")
        return cls(**{k: data[k] for k in _INTRINSICS_KEYS})


# Typical published / factory calibrations (approximate; real units differ by a few pixels).
INTRINSICS_PRESETS: dict[str, Intrinsics] = {
    # Kinect v1 depth registered to the RGB camera, 640x480: the widely used default calibration (fx = fy = 525).
    "kinect_v1": Intrinsics(fx=525.0, fy=525.0, cx=319.5, cy=239.5, width=640, height=480),
    # RealSense D435 depth aligned to its colour camera at 640x480 (typical factory fx ~ 615).
    "realsense_d435": Intrinsics(fx=615.0, fy=615.0, cx=319.5, cy=239.5, width=640, height=480),
    # RealSense D435 native depth stream at 848x480: HFOV 90 deg (Intel white paper) -> fx = 424 / tan(45 deg) = 424.
    "realsense_d435_848": Intrinsics(fx=424.0, fy=424.0, cx=423.5, cy=239.5, width=848, height=480),
}


def intrinsics_preset(name: str) -> Intrinsics:
    """Intrinsics of a named sensor (see ``INTRINSICS_PRESETS``); unknown name -> ``ValueError`` listing them."""
    try:
        return INTRINSICS_PRESETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown intrinsics preset {name!r}; choose from {', '.join(INTRINSICS_PRESETS)}") from None


def _as_vec3(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.shape != (3,):
        raise ValueError(f"{name} must be a 3-vector, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite, got {arr}")
    return arr


def look_at(eye: Any, target: Any = (0.0, 0.0, 0.0), up: Any = (0.0, 0.0, 1.0)) -> np.ndarray:
    """``(4, 4) float64`` camera-to-world pose of a camera at ``eye`` looking at ``target`` (OpenCV frame).

    The camera z axis points from ``eye`` to ``target``; its y axis points "down", i.e. ``-up`` projected onto the
    image plane, so ``up`` appears at the top of the image. When the viewing direction is (anti)parallel to
    ``up``, another world axis is used as ``up`` so the pose stays well defined. Raises ``ValueError`` when
    ``eye == target``.
    """
    eye = _as_vec3(eye, "eye")
    target = _as_vec3(target, "target")
    up = _as_vec3(up, "up")
    forward = target - eye
    norm = np.linalg.norm(forward)
    if norm < 1e-12:
        raise ValueError("look_at: eye and target coincide")
    z = forward / norm
    if np.linalg.norm(up) < 1e-12:
        raise ValueError("look_at: up must be non-zero")
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-9 * np.linalg.norm(up):
        # viewing along up: fall back to the world axis least aligned with the view direction
        alt = np.eye(3)[int(np.argmin(np.abs(z)))]
        x = np.cross(z, alt)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = x, y, z, eye
    return pose


def invert_pose(pose: Any) -> np.ndarray:
    """Inverse of a rigid ``(4, 4)`` pose (camera-to-world <-> world-to-camera), ``float64``."""
    pose = np.asarray(pose, dtype=np.float64)
    if pose.shape != (4, 4):
        raise ValueError(f"pose must be shaped (4, 4), got {pose.shape}")
    inv = np.eye(4)
    inv[:3, :3] = pose[:3, :3].T
    inv[:3, 3] = -pose[:3, :3].T @ pose[:3, 3]
    return inv


def sample_views(
    n: int,
    rng: np.random.Generator | int | None,
    distance: float | tuple[float, float] = (0.5, 0.8),
    hemisphere: str = "upper",
    target: Any = (0.0, 0.0, 0.0),
    elevation_deg: tuple[float, float] | None = None,
    up: Any = (0.0, 0.0, 1.0),
) -> np.ndarray:
    """``(n, 4, 4) float64`` camera-to-world poses looking at ``target`` from random directions.

    Directions are uniform over the sphere (``hemisphere="full"``) or the upper half (``"upper"``, elevation
    >= 0 w.r.t. ``+z``), restricted to the elevation band ``elevation_deg=(lo, hi)`` in degrees when given
    (uniform in area: uniform in ``sin(elevation)``). Distances are uniform in ``distance=(near, far)`` metres
    (or fixed when a single number). Elevation is measured from the world xy-plane about ``+z``.
    """
    if int(n) != n or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n}")
    n = int(n)
    rng = np.random.default_rng(rng)
    if hemisphere not in ("upper", "full"):
        raise ValueError(f"hemisphere must be 'upper' or 'full', got {hemisphere!r}")
    lo_default = 0.0 if hemisphere == "upper" else -90.0
    lo, hi = (lo_default, 90.0) if elevation_deg is None else (float(elevation_deg[0]), float(elevation_deg[1]))
    if not (lo_default <= lo <= hi <= 90.0):
        raise ValueError(
            f"elevation_deg must satisfy {lo_default} <= lo <= hi <= 90 for '{hemisphere}', got {(lo, hi)}"
        )
    if np.ndim(distance) == 0:
        d_lo = d_hi = float(distance)  # type: ignore[arg-type]
    else:
        d_lo, d_hi = (float(v) for v in distance)  # type: ignore[union-attr]
    if not 0.0 < d_lo <= d_hi:
        raise ValueError(f"distance must be positive with near <= far, got {distance}")
    target = _as_vec3(target, "target")
    dist = rng.uniform(d_lo, d_hi, n)
    azim = rng.uniform(0.0, 2.0 * np.pi, n)
    elev = np.arcsin(rng.uniform(np.sin(np.radians(lo)), np.sin(np.radians(hi)), n))
    dirs = np.stack([np.cos(elev) * np.cos(azim), np.cos(elev) * np.sin(azim), np.sin(elev)], axis=1)
    eyes = target + dirs * dist[:, None]
    poses = np.empty((n, 4, 4))
    for i in range(n):  # n is the number of views (small), not points
        poses[i] = look_at(eyes[i], target, up)
    return poses
