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
    if p.is_dir():
        raise SensingFileNotFoundError(f"{p}: is a folder; the {what} file was expected")
    if not p.is_file():
        raise SensingFileNotFoundError(f"{what} file not found: {p}")
    return p


def write_depth_png(path: str | os.PathLike, depth: Any, depth_scale: float = 1000.0) -> None:
    """Write ``depth (H, W)`` metres as a uint16 PNG of ``round(depth * depth_scale)`` (0/NaN/inf -> 0).

    Raises ``ValueError`` for a non-2-D image, negative depths, a ``depth_scale`` that is not a positive number, or
    depths that overflow 16 bits (65535, the "no data" value of depth drivers, included: >= 65.535 m at the default
    millimetre scale).
    """
    depth_scale = _depth_scale(depth_scale)
    d = np.asarray(depth)
    if d.ndim != 2:
        raise ValueError(f"depth must be an (H, W) image, got shape {d.shape} (writing {path})")
    if not (np.issubdtype(d.dtype, np.floating) or np.issubdtype(d.dtype, np.integer)):
        raise TypeError(f"depth must hold numbers, got dtype {d.dtype} (writing {path})")
    d = np.where(np.isfinite(d), d.astype(np.float64), 0.0)
    if (d < 0).any():
        raise ValueError(f"depth holds negative values (writing {path})")
    units = np.rint(d * float(depth_scale))
    if units.max(initial=0) >= NO_DATA_UINT16:  # 65535 would read back as "no data"
        raise ValueError(f"depth {d.max():.3f} m overflows a 16-bit PNG at depth_scale {depth_scale} (writing {path})")
    img = Image.fromarray(units.astype(np.uint16))
    _atomic_write(Path(path), lambda fh: img.save(fh, format="PNG"), ".png")


def _depth_scale(value: Any) -> float:
    """``value`` as a depth scale (PNG units per metre): ``ValueError`` unless a positive finite number."""
    try:
        scale = float(value)
    except (TypeError, ValueError):
        scale = float("nan")
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"depth_scale is the PNG's units per metre, a positive number (1000: millimetres), got "
                         f"{value!r}")
    return scale


def _open_image(path: str | os.PathLike, what: str, convert: str | None = None) -> tuple[Path, str, np.ndarray]:
    """``(path, Pillow mode, pixels)`` of an image file (converted to ``convert`` mode if given);
    :class:`SensingFileError` naming the file when it is missing or unreadable."""
    p = _existing(path, what)
    try:
        with Image.open(p) as img:
            img.load()
            mode = img.mode
            arr = np.array(img.convert(convert) if convert else img)
    except Exception as exc:
        raise SensingFileError(f"{p}: not a readable image ({exc})") from None
    return p, mode, arr


def read_depth_png(path: str | os.PathLike, depth_scale: float = 1000.0) -> np.ndarray:
    """Read a 16-bit single-channel depth PNG -> ``(H, W) float32`` metres (0 where no return).

    Raises :class:`SensingFileNotFoundError` when missing and :class:`SensingFileError` when the file is not a
    readable PNG or not a 16-bit single-channel image (e.g. an 8-bit or colour picture); ``ValueError`` for a
    ``depth_scale`` that is not a positive number.
    """
    depth_scale = _depth_scale(depth_scale)
    p, mode, arr = _open_image(path, "depth image")
    if mode not in ("I;16", "I;16B", "I;16L", "I") or arr.ndim != 2:
        raise SensingFileError(f"{p}: expected a 16-bit single-channel depth PNG, got image mode {mode!r}")
    if arr.dtype != np.uint16:
        if arr.min(initial=0) < 0 or arr.max(initial=0) > 65535:
            raise SensingFileError(f"{p}: depth values outside the 16-bit range")
        arr = arr.astype(np.uint16)
    return depth_from_units(arr, depth_scale, p).astype(np.float32)


def depth_from_units(units: np.ndarray, depth_scale: float, source: str | os.PathLike) -> np.ndarray:
    """``(H, W) float64`` metres of a raw integer depth image ``units`` (``depth_scale`` units per metre); 65535, the
    "no data" value of some depth drivers, is no return (0), with a one-line warning naming ``source``."""
    no_data = units == NO_DATA_UINT16
    if no_data.any():
        warn_user(f"{source}: {int(no_data.sum())} pixels hold 65535, the 'no data' value of some depth drivers: "
                  "read as no return")
    return np.where(no_data, 0.0, units.astype(np.float64) / float(depth_scale))


NO_DATA_UINT16 = 65535  #: the "no data" value of some depth drivers in 16-bit depth images


def read_depth_tiff(path: str | os.PathLike, depth_scale: float = 1000.0) -> np.ndarray:
    """Read a single-channel depth TIFF -> ``(H, W) float32`` metres (0 where no return): 32-bit float in metres, or
    16-bit integers in ``depth_scale`` units per metre as a PNG's (65535 = no data).

    Raises :class:`SensingFileError` naming the file for an unreadable file or another pixel type.
    """
    p, mode, arr = _open_image(path, "depth image")
    if mode in ("I;16", "I;16B", "I;16L") and arr.ndim == 2:
        return depth_from_units(arr.astype(np.uint16), _depth_scale(depth_scale), p).astype(np.float32)
    if mode != "F" or arr.ndim != 2:
        raise SensingFileError(f"{p}: expected a single-channel depth TIFF, 32-bit float metres or 16-bit integer "
                               f"units, got image mode {mode!r}")
    if depth_scale != 1000.0:
        warn_user(f"{p}: a float TIFF depth image is metres: depth scale {depth_scale:g} not used")
    arr = arr.astype(np.float32)
    return np.where(np.isfinite(arr) & (arr > 0), arr, 0.0).astype(np.float32)


def write_intrinsics_json(path: str | os.PathLike, intrinsics: Intrinsics) -> None:
    """Write ``intrinsics`` as JSON ``{"fx", "fy", "cx", "cy", "width", "height"}`` (atomic)."""
    if not isinstance(intrinsics, Intrinsics):
        raise TypeError(f"intrinsics must be an Intrinsics, got {type(intrinsics).__name__}")
    data = (json.dumps(intrinsics.to_dict(), indent=2) + "\n").encode()
    _atomic_write(Path(path), lambda fh: fh.write(data), ".json")


def _matrix_k(values: Any, p: Path, what: str, column_major: bool = False) -> np.ndarray:
    """A 3x3 camera matrix from a 9-list or 3x3 nesting; its last row must be ``(0, 0, 1)``."""
    try:
        k = np.asarray(values, dtype=np.float64).reshape(3, 3)
    except (TypeError, ValueError, OverflowError):
        try:
            twelve = np.asarray(values, dtype=np.float64).size == 12
        except (TypeError, ValueError, OverflowError):
            twelve = False
        hint = (": 12 numbers are a 3x4 projection matrix P = K [R | t], whose left 3x3 block is K (a ROS "
                "CameraInfo's P)") if twelve else ""
        raise SensingFileError(f"{p}: {what} must be a 3x3 matrix (9 numbers){hint}") from None
    if column_major:
        k = k.T
    if not np.allclose(k[2], [0.0, 0.0, 1.0], atol=1e-6):
        hint = " (a column-major matrix read row by row?)" if np.allclose(k[:, 2], [0.0, 0.0, 1.0]) else ""
        raise SensingFileError(f"{p}: {what} is not a pinhole camera matrix: its last row is {k[2].tolist()}, not "
                               f"[0, 0, 1]{hint}")
    if not np.isfinite(k).all():
        raise SensingFileError(f"{p}: {what} holds non-finite numbers")
    return k


def _from_k(k: np.ndarray, width: Any, height: Any, p: Path, size: tuple[int, int] | None) -> Intrinsics:
    if width is None or height is None:
        if size is None:
            raise SensingFileError(f"{p}: the file gives no image size (width, height)")
        height, width = size
        if not (0.25 * width <= k[0, 2] <= 0.75 * width and 0.25 * height <= k[1, 2] <= 0.75 * height):
            warn_user(f"{p}: the principal point ({k[0, 2]:g}, {k[1, 2]:g}) lies far from the centre of the "
                      f"{width}x{height} depth image and the file gives no image size: are these intrinsics for "
                      "another resolution? (scale fx, fy, cx, cy with the image; a crop shifts cx, cy)")
    try:
        return Intrinsics.from_dict({"fx": k[0, 0], "fy": k[1, 1], "cx": k[0, 2], "cy": k[1, 2], "width": width,
                                     "height": height})
    except (TypeError, ValueError, OverflowError) as exc:
        raise SensingFileError(f"{p}: {exc}") from None


def read_intrinsics(
    path: str | os.PathLike, size: tuple[int, int] | None = None, image: str | os.PathLike | None = None
) -> Intrinsics:
    """Camera intrinsics as people have them, by content:

    - JSON ``{fx, fy, cx, cy, width, height}`` (this project's), or with a 3x3 ``"K"`` (row-major);
    - Open3D ``PinholeCameraIntrinsic`` JSON (``intrinsic_matrix``: 9 numbers, column-major, with ``width``/``height``);
    - BOP ``scene_camera.json`` (``{"<frame id>": {"cam_K": [9 numbers, row-major], ...}}``: the entry of ``image``,
      the depth image the intrinsics are for, by its file number as BOP names them (``depth/000042.png`` -> ``"42"``),
      else the first);
    - ROS ``CameraInfo`` YAML (``K``/``k`` or ``camera_matrix: {data}``, ``width``/``height`` or
      ``image_width``/``image_height``);
    - a 3x3 matrix as text (``.txt``, whitespace or commas) or ``.npy``;
    - a YCB-Video ``*-meta.mat`` (MATLAB v5: ``intrinsic_matrix``, 3x3; its ``factor_depth`` is the PNG's units per
      metre, :func:`read_depth_scale`);
    - a camera rig JSON as PoseCNN's ``camera.json`` (``{"rig": {"camera": [{"camera_model": {"param_names": ["fu",
      "fv", "u0", "v0", ...], "params": [...], "width", "height"}}, ...]}}``): the first camera, which in a
      registered RGB-D pair is the one the depth image is aligned to (a note names it when the rig has others);
      distortion parameters are not applied.

    ``size``: ``(height, width)`` of the depth image, used when the file gives no image size. A matrix whose last row
    is not ``(0, 0, 1)`` is refused. Raises :class:`SensingFileError` naming the file and the problem.
    """
    p = _existing(path, "intrinsics")
    ext = p.suffix.lower()
    if ext == ".npy":
        try:
            arr = np.load(p, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise SensingFileError(f"{p}: not a readable .npy matrix ({exc})") from None
        return _from_k(_matrix_k(arr, p, "the matrix"), None, None, p, size)
    if ext == ".mat":
        meta = _read_mat(p)
        if "intrinsic_matrix" not in meta:
            raise SensingFileError(f"{p}: no intrinsic_matrix in this .mat file (a YCB-Video *-meta.mat has one)")
        return _from_k(_matrix_k(meta["intrinsic_matrix"], p, "intrinsic_matrix"), None, None, p, size)
    if ext == ".txt":
        try:
            arr = np.loadtxt(p, delimiter=None if "," not in p.read_text(errors="replace") else ",", ndmin=2)
        except (OSError, ValueError) as exc:
            raise SensingFileError(f"{p}: not a readable 3x3 matrix ({exc})") from None
        return _from_k(_matrix_k(arr, p, "the matrix"), None, None, p, size)
    if ext in (".yaml", ".yml"):
        import yaml

        try:  # `rostopic echo -n1 .../camera_info > f.yaml` ends the message with a `---` line: the first document
            data = next((d for d in yaml.safe_load_all(p.read_text(encoding="utf-8")) if d is not None), None)
        except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError) as exc:
            raise SensingFileError(f"{p}: not readable YAML ({type(exc).__name__}: {exc})".splitlines()[0]) from None
    else:
        data = read_json_file(p, SensingFileError)
    return _intrinsics_from_mapping(data, p, size, image)


def _intrinsics_from_mapping(
    data: Any, p: Path, size: tuple[int, int] | None, image: str | os.PathLike | None
) -> Intrinsics:
    """:func:`read_intrinsics` of the parsed JSON / YAML ``data`` of ``p`` (a name for messages)."""
    if not isinstance(data, dict):
        raise SensingFileError(f"{p}: expected a mapping of camera intrinsics, got {type(data).__name__}")
    if "fx" in data and "ppx" in data and "ppy" in data and "cx" not in data and "cy" not in data:
        # pyrealsense2's rs.intrinsics (ppx, ppy: the principal point), as a dict
        data = {**data, "cx": data["ppx"], "cy": data["ppy"]}
        data = {key: data[key] for key in ("fx", "fy", "cx", "cy", "width", "height") if key in data}
    if "fx" in data:
        try:
            return Intrinsics.from_dict(data)
        except (TypeError, ValueError, OverflowError) as exc:
            raise SensingFileError(f"{p}: {exc}") from None
    if "intrinsic_matrix" in data:  # Open3D: column-major
        return _from_k(_matrix_k(data["intrinsic_matrix"], p, "intrinsic_matrix", column_major=True),
                       data.get("width"), data.get("height"), p, size)
    frame = _bop_frame(data, image, p)
    if frame is not None:  # BOP scene_camera.json
        return _from_k(_matrix_k(frame["cam_K"], p, "cam_K"), None, None, p, size)
    for key in ("K", "k"):
        if key in data:
            return _from_k(_matrix_k(data[key], p, key), data.get("width", data.get("image_width")),
                           data.get("height", data.get("image_height")), p, size)
    if isinstance(data.get("camera_matrix"), dict) and "data" in data["camera_matrix"]:  # ROS calibration YAML
        return _from_k(_matrix_k(data["camera_matrix"]["data"], p, "camera_matrix"),
                       data.get("image_width"), data.get("image_height"), p, size)
    if isinstance(data.get("rig"), dict):
        return _rig_camera(data["rig"], p, size)
    raise SensingFileError(f"{p}: no camera intrinsics found (expected fx/fy/cx/cy, K, intrinsic_matrix, cam_K, "
                           "camera_matrix or a rig of cameras)")


#: the names a rig's ``param_names`` may give the pinhole parameters (fx, fy, cx, cy)
_RIG_NAMES = (("fu", "fx"), ("fv", "fy"), ("u0", "cx"), ("v0", "cy"))


def _rig_camera(rig: dict[str, Any], p: Path, size: tuple[int, int] | None) -> Intrinsics:
    """The intrinsics of the first camera of a rig file (PoseCNN's ``camera.json``); a note when there are more."""
    cameras = rig.get("camera")
    if isinstance(cameras, dict):
        cameras = [cameras]
    if not isinstance(cameras, list) or not cameras or not isinstance(cameras[0], dict):
        raise SensingFileError(f"{p}: its rig lists no camera (expected rig.camera: a list of cameras)")
    model = cameras[0].get("camera_model", cameras[0])
    if not isinstance(model, dict):
        raise SensingFileError(f"{p}: the rig's first camera_model must be a mapping")
    names, params = model.get("param_names"), model.get("params")
    if not isinstance(names, list) or not isinstance(params, list) or len(names) != len(params):
        raise SensingFileError(f"{p}: the rig's first camera needs param_names and params of the same length")
    values = dict(zip(names, params, strict=True))
    k = np.eye(3)
    for (i, j), aliases in zip(((0, 0), (1, 1), (0, 2), (1, 2)), _RIG_NAMES, strict=True):
        found = [values[a] for a in aliases if a in values]
        if not found:
            raise SensingFileError(f"{p}: the rig's first camera has no {' or '.join(aliases)} among its param_names "
                                   f"{names}")
        try:
            k[i, j] = float(found[0])
        except (TypeError, ValueError):
            raise SensingFileError(f"{p}: the rig's {aliases[0]} is not a number: {found[0]!r}") from None
    models = [c.get("camera_model", c) if isinstance(c, dict) else None for c in cameras]
    if len(cameras) > 1 and any(m is None or m.get("params") != params for m in models[1:]):
        warn_user(f"{p}: a rig of {len(cameras)} cameras; the first is used (fx {k[0, 0]:g}, fy {k[1, 1]:g}), as for a "
                  "depth image registered to it; pass a file with one camera's intrinsics to use another")
    return _from_k(_matrix_k(k, p, "the rig's first camera"), model.get("width"), model.get("height"), p, size)


def as_intrinsics(value: Any, size: tuple[int, int], image: str | os.PathLike | None = None) -> Intrinsics:
    """Camera intrinsics given as an :class:`Intrinsics`, a file :func:`read_intrinsics` reads (``image``: the depth
    image's path, which picks a BOP frame), a mapping in any of its JSON / YAML layouts (``{fx, fy, cx, cy, width,
    height}``, a ROS ``CameraInfo`` as a dict...), or a 3x3 camera matrix ``K`` (numpy, nested lists, a tensor;
    last row ``(0, 0, 1)``) of an image of ``size`` ``(height, width)``. Raises :class:`SensingFileError` for a bad
    matrix, mapping or file and ``TypeError`` for anything else."""
    if isinstance(value, Intrinsics):
        return value
    if isinstance(value, (str, os.PathLike)):
        return read_intrinsics(value, size=size, image=image)
    if isinstance(value, dict):
        return _intrinsics_from_mapping(value, Path("the intrinsics mapping"), size, image)
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is not None and arr.shape == (3, 4):
        raise SensingFileError("a 3x4 matrix is a projection matrix P = K [R | t], not the camera matrix K: pass its "
                               "left 3x3 block (a ROS CameraInfo's P) or the camera's K")
    if arr is None or arr.size != 9:
        raise TypeError("intrinsics must be an Intrinsics, a file path, a mapping or a 3x3 camera matrix K, got "
                        + (f"an array of shape {arr.shape}" if arr is not None and arr.ndim else type(value).__name__))
    return _from_k(_matrix_k(arr, Path("the camera matrix K"), "K"), None, None, Path("the camera matrix K"), size)


def _read_mat(p: Path) -> dict[str, Any]:
    """The variables of a MATLAB v5 ``.mat`` file (no code is run reading one); :class:`SensingFileError` if it
    cannot be read (v7.3 files are HDF5: save with ``-v7`` or convert)."""
    from scipy.io import loadmat

    try:
        return loadmat(p)
    except NotImplementedError:
        raise SensingFileError(f"{p}: a MATLAB v7.3 (HDF5) .mat file, which is not read: save it with -v7") from None
    except Exception as exc:  # scipy raises several unrelated types for files that are not .mat
        raise SensingFileError(f"{p}: not a readable .mat file ({type(exc).__name__}: {exc})") from None


def _bop_frame(data: dict[str, Any], image: str | os.PathLike | None, p: Path | None = None) -> dict[str, Any] | None:
    """The entry of a BOP ``scene_camera.json`` mapping for the depth image ``image`` (by its file number), else the
    first entry (with a warning naming ``p`` when the entries' ``cam_K`` differ); ``None`` when ``data`` is not such a
    mapping."""
    frames = {k: v for k, v in data.items() if isinstance(v, dict) and "cam_K" in v}
    if not frames:
        return None
    stem = Path(image).stem if image is not None else ""
    if stem.isdigit() and str(int(stem)) in frames:
        return frames[str(int(stem))]
    first, entry = next(iter(frames.items()))
    if p is not None and any(v["cam_K"] != entry["cam_K"] for v in frames.values()):
        why = f"no entry for {Path(image).name}" if image is not None else "no depth image named"
        warn_user(f"{p}: its {len(frames)} frames have different cam_K; {why}, so the cam_K of frame {first!r} is "
                  "used (pass the depth image's path, BOP-numbered: depth/000042.png -> frame '42')")
    return entry


def depth_has_units(path: str | os.PathLike) -> bool:
    """Whether the depth image at ``path`` holds integer units (a 16-bit PNG or TIFF, an integer ``.npy``), which a
    depth scale converts to metres, rather than float metres; ``False`` for a file that cannot be read (its reader
    names the problem)."""
    p = Path(path)
    ext = p.suffix.lower()
    try:
        if ext == ".png":
            return True
        if ext in (".tif", ".tiff"):
            from PIL import Image

            with Image.open(p) as im:
                return im.mode in ("I;16", "I;16B", "I;16L")
        if ext == ".npy":
            return bool(np.issubdtype(np.load(p, mmap_mode="r", allow_pickle=False).dtype, np.integer))
    except Exception:
        return False
    return False


def read_depth_scale(path: str | os.PathLike, image: str | os.PathLike | None = None) -> float | None:
    """PNG depth units per metre stated by an intrinsics file, or ``None`` when it states none.

    A BOP ``scene_camera.json`` states one: its ``depth_scale`` is millimetres per depth unit (0.1 for YCB-Video
    and T-LESS: 10000 units per metre), read from the entry of ``image`` as :func:`read_intrinsics` picks it; so does
    a YCB-Video ``*-meta.mat``: its ``factor_depth`` is units per metre (10000). Raises :class:`SensingFileError`
    for a scale that is not a positive number.
    """
    p = _existing(path, "intrinsics")
    if p.suffix.lower() == ".mat":
        meta = _read_mat(p)
        if "factor_depth" not in meta:
            return None
        factor = np.asarray(meta["factor_depth"], dtype=np.float64).reshape(-1)
        if factor.size != 1 or not (np.isfinite(factor[0]) and factor[0] > 0):
            raise SensingFileError(f"{p}: factor_depth must be one positive number (depth units per metre), got "
                                   f"{factor.tolist()}")
        return float(factor[0])
    if p.suffix.lower() != ".json":
        return None
    data = read_json_file(p, SensingFileError)
    frame = _bop_frame(data, image) if isinstance(data, dict) else None
    if frame is None or "depth_scale" not in frame:
        return None
    value = frame["depth_scale"]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (np.isfinite(value) and value > 0):
        raise SensingFileError(f"{p}: depth_scale must be a positive number (millimetres per depth unit), "
                               f"got {value!r}")
    return 1000.0 / float(value)


def read_intrinsics_json(path: str | os.PathLike) -> Intrinsics:
    """Read intrinsics JSON (see :func:`read_intrinsics`, which also reads the other common formats)."""
    return read_intrinsics(path)


def read_label_image(path: str | os.PathLike, color: bool = False) -> np.ndarray:
    """An image file as an array: ``(H, W) int64`` instance labels (0 = background; ``.png`` of any integer depth or
    ``.npy``), or with ``color`` an ``(H, W, 3) uint8`` RGB picture. Raises :class:`SensingFileError` naming the
    file."""
    what = "colour image" if color else "label image"
    if Path(path).suffix.lower() == ".npy" and not color:
        p = _existing(path, what)
        try:
            arr = np.load(p, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise SensingFileError(f"{p}: not a readable .npy array ({exc})") from None
    else:
        p, _, arr = _open_image(path, what, "RGB" if color else None)
    if color:
        return arr.astype(np.uint8)
    if arr.ndim == 3:
        raise SensingFileError(f"{p}: a label image has one channel of integer instance ids, got {arr.shape[2]} "
                               "channels")
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer) and not np.issubdtype(arr.dtype, np.bool_):
        raise SensingFileError(f"{p}: expected an (H, W) integer label image, got shape {arr.shape}, dtype {arr.dtype}")
    return arr.astype(np.int64)
