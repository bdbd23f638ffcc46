"""Depth PNG and intrinsics JSON files.

* Depth PNG: single-channel 16-bit PNG of depth in millimetres (``round(depth_m * 1000)``), 0 = no return — the
  format of Kinect/RealSense recordings (TUM RGB-D uses a factor 5000; pass ``depth_scale``). 65535, the "no data"
  value of some drivers, is read as no return too (with a warning).
* Depth TIFF: single-channel 32-bit float TIFF of depth in metres (0, NaN, inf = no return).
* Intrinsics JSON: an object with keys ``fx, fy, cx, cy, width, height`` (pixels; extra keys are ignored).

Writes are atomic (temp file in the same folder, then ``os.replace``). Bad files raise :class:`SensingFileError`
(a ``ValueError`` and an :class:`implicit3d.errors.UserError`) whose message names the file and the problem; a
missing file raises :class:`SensingFileNotFoundError` (also a ``FileNotFoundError``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from implicit3d.errors import UserError, warn_user
from implicit3d.fileio import atomic_writer, read_json_file
from implicit3d.sensing.camera import Intrinsics


class SensingFileError(UserError, ValueError):
    """A depth or intrinsics file that cannot be used; the message names the file."""


class SensingFileNotFoundError(SensingFileError, FileNotFoundError):
    """A depth or intrinsics file that does not exist."""


def _atomic_write(path: Path, write: Any, suffix: str) -> None:
    with atomic_writer(path, "wb") as fh:
        write(fh)


def _existing(path: str | os.PathLike, what: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise SensingFileNotFoundError(f"{what} file not found: {p}")
    return p


def write_depth_png(path: str | os.PathLike, depth: Any, depth_scale: float = 1000.0) -> None:
    """Write ``depth (H, W)`` metres as a uint16 PNG of ``round(depth * depth_scale)`` (0/NaN/inf -> 0).

    Raises ``ValueError`` for a non-2-D image, negative depths, or depths that overflow 16 bits
    (> 65.535 m at the default millimetre scale).
    """
    d = np.asarray(depth)
    if d.ndim != 2:
        raise ValueError(f"depth must be an (H, W) image, got shape {d.shape} (writing {path})")
    if not (np.issubdtype(d.dtype, np.floating) or np.issubdtype(d.dtype, np.integer)):
        raise TypeError(f"depth must hold numbers, got dtype {d.dtype} (writing {path})")
    d = np.where(np.isfinite(d), d.astype(np.float64), 0.0)
    if (d < 0).any():
        raise ValueError(f"depth holds negative values (writing {path})")
    units = np.rint(d * float(depth_scale))
    if units.max(initial=0) > 65535:
        raise ValueError(f"depth {d.max():.3f} m overflows a 16-bit PNG at depth_scale {depth_scale} (writing {path})")
    img = Image.fromarray(units.astype(np.uint16))
    _atomic_write(Path(path), lambda fh: img.save(fh, format="PNG"), ".png")


def read_depth_png(path: str | os.PathLike, depth_scale: float = 1000.0) -> np.ndarray:
    """Read a 16-bit single-channel depth PNG -> ``(H, W) float32`` metres (0 where no return).

    Raises :class:`SensingFileNotFoundError` when missing and :class:`SensingFileError` when the file is not a
    readable PNG or not a 16-bit single-channel image (e.g. an 8-bit or colour picture).
    """
    p = _existing(path, "depth image")
    try:
        with Image.open(p) as img:
            img.load()
            mode = img.mode
            arr = np.array(img)
    except Exception as exc:
        raise SensingFileError(f"{p}: not a readable image ({exc})") from None
    if mode not in ("I;16", "I;16B", "I;16L", "I") or arr.ndim != 2:
        raise SensingFileError(f"{p}: expected a 16-bit single-channel depth PNG, got image mode {mode!r}")
    if arr.dtype != np.uint16:
        if arr.min(initial=0) < 0 or arr.max(initial=0) > 65535:
            raise SensingFileError(f"{p}: depth values outside the 16-bit range")
        arr = arr.astype(np.uint16)
    no_data = arr == NO_DATA_UINT16
    if no_data.any():
        warn_user(f"{p}: {int(no_data.sum())} pixels hold 65535, the 'no data' value of some depth drivers: read as "
                  "no return")
        arr = np.where(no_data, 0, arr)
    return (arr.astype(np.float64) / float(depth_scale)).astype(np.float32)


NO_DATA_UINT16 = 65535  #: the "no data" value of some depth drivers in 16-bit depth images


def read_depth_tiff(path: str | os.PathLike) -> np.ndarray:
    """Read a single-channel 32-bit float TIFF of depth in metres -> ``(H, W) float32`` (0 where no return).

    Raises :class:`SensingFileError` naming the file for an unreadable file or another pixel type (16-bit integer
    TIFFs are read as millimetres, like PNGs: use :func:`read_depth_png`).
    """
    p = _existing(path, "depth image")
    try:
        with Image.open(p) as img:
            img.load()
            mode = img.mode
            arr = np.array(img)
    except Exception as exc:
        raise SensingFileError(f"{p}: not a readable image ({exc})") from None
    if mode != "F" or arr.ndim != 2:
        raise SensingFileError(f"{p}: expected a 32-bit float single-channel depth TIFF in metres, got image mode "
                               f"{mode!r}")
    arr = arr.astype(np.float32)
    return np.where(np.isfinite(arr) & (arr > 0), arr, 0.0).astype(np.float32)


def write_intrinsics_json(path: str | os.PathLike, intrinsics: Intrinsics) -> None:
    """Write ``intrinsics`` as JSON ``{"fx", "fy", "cx", "cy", "width", "height"}`` (atomic)."""
    if not isinstance(intrinsics, Intrinsics):
        raise TypeError(f"intrinsics must be an Intrinsics, got {type(intrinsics).__name__}")
    data = (json.dumps(intrinsics.to_dict(), indent=2) + "\n").encode()
    _atomic_write(Path(path), lambda fh: fh.write(data), ".json")


def read_intrinsics_json(path: str | os.PathLike) -> Intrinsics:
    """Read intrinsics JSON; raises :class:`SensingFileError` naming the file for invalid JSON, missing keys or bad
    values, :class:`SensingFileNotFoundError` when missing. A 3x3 ``"K"`` matrix plus ``width``/``height`` is also
    accepted."""
    p = _existing(path, "intrinsics")
    data = read_json_file(p, SensingFileError)
    if isinstance(data, dict) and "K" in data and "fx" not in data:
        try:
            k = np.asarray(data["K"], dtype=np.float64).reshape(3, 3)
        except (TypeError, ValueError, OverflowError):
            raise SensingFileError(f"{p}: 'K' must be a 3x3 matrix") from None
        data = {**data, "fx": k[0, 0], "fy": k[1, 1], "cx": k[0, 2], "cy": k[1, 2]}
    try:
        return Intrinsics.from_dict(data)
    except (TypeError, ValueError, OverflowError) as exc:
        raise SensingFileError(f"{p}: {exc}") from None

