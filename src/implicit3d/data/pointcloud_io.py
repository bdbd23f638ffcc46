"""Reading user observations for completion: point clouds and depth images.

Point clouds (``(N, 3)``, the file's own units and frame):

- ``.ply`` — ASCII or binary PLY; the vertices are used (a mesh PLY works too, its faces are ignored).
- ``.obj`` — Wavefront OBJ, its ``v`` lines (a vertex-only OBJ as MeshLab and CloudCompare write clouds; a mesh OBJ
  works too, its faces are ignored).
- ``.pcd`` — Point Cloud Library files, ``DATA ascii`` or ``DATA binary`` (``binary_compressed`` is refused with a
  hint); the ``x y z`` fields are used, other fields (rgb, normals, ...) are skipped. A ``VIEWPOINT`` other than
  the identity gives the sensor position (:attr:`Observation.viewpoint`). An organized PCD (``HEIGHT`` > 1) is read
  as an organized ``.npy``: its NaN / zero "no return" points are dropped with a warning.
- ``.xyz`` / ``.txt`` — text, one point per line, the first three columns (whitespace or comma separated;
  ``#`` comments allowed).
- ``.npy`` — a ``(N, 3)`` array (more columns: the first three are used), or an organized ``(H, W, 3)`` cloud
  (RealSense, ROS): flattened, its invalid points (NaN/inf or all-zero) dropped with a warning.
- ``.npz`` — an archive with a ``points`` array ``(N, 3)``.

Depth images (camera frame, OpenCV: x right, y down, z forward; metres):

- ``.png`` — 16-bit single-channel depth in millimetres (``depth_scale`` 1000 units per metre), 0 = no return.
- ``.npy`` — ``(H, W)`` float depth in metres; 0, NaN or inf = no return.
- ``.tif`` / ``.tiff`` — 32-bit float single-channel depth in metres.

Odd but usable inputs are accepted with a one-line warning (:func:`implicit3d.errors.warn_user`): a depth image whose
median valid depth is outside 0.1-10 m (0.15-3 m for the close-range frames of ``scene`` and ``complete``; a depth
in metres saved as a millimetre PNG, a wrong ``depth_scale``: the warning names the common scale that fits), 65535
"no data" pixels, a cloud whose sensor would sit inside it (a world-frame cloud without ``--viewpoint``).

A depth image needs the intrinsics JSON (``fx, fy, cx, cy, width, height``) and may take a mask PNG of the same
size selecting the object (non-zero = object). Every problem raises :class:`PointCloudFileError` (a
:class:`~implicit3d.errors.UserError` and ``ValueError``) with a one-line message naming the file.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from implicit3d.errors import UserError, warn_user

CLOUD_EXTENSIONS = (".ply", ".obj", ".pcd", ".xyz", ".txt", ".npy", ".npz")
DEPTH_EXTENSIONS = (".png", ".npy", ".tif", ".tiff")
MIN_POINTS = 4  #: fewest points a completion accepts
MAX_COORDINATE = 1e12  #: larger coordinates cannot be normalized in float64 without overflow or loss
USUAL_DEPTH_M = (0.1, 10.0)  #: median depths outside this range get a warning
#: median depths of a close-range frame (``implicit3d scene`` and ``complete``: objects on a table, in a bin, in a
#: hand): a robot's camera sees them from 0.2-2 m; beyond this range a frame is far more likely read at the wrong
#: depth scale (e.g. 1/10000 m units read as millimetres)
CLOSE_RANGE_DEPTH_M = (0.15, 3.0)
#: PNG depth units per metre in common use, and who uses them (suggested when a PNG's median depth is unusual)
COMMON_DEPTH_SCALES = ((1000.0, "millimetres: most RealSense, Kinect and Xtion drivers"),
                       (5000.0, "TUM RGB-D"),
                       (10000.0, "YCB-Video, PoseCNN, ARC SR300"))

_PCD_TYPES = {("F", 4): "<f4", ("F", 8): "<f8", ("I", 1): "<i1", ("I", 2): "<i2", ("I", 4): "<i4", ("I", 8): "<i8",
              ("U", 1): "<u1", ("U", 2): "<u2", ("U", 4): "<u4", ("U", 8): "<u8"}


class PointCloudFileError(UserError, ValueError):
    """A point cloud, depth or mask file that cannot be used; the message names the file and the problem."""


@dataclass
class Observation:
    """An observed point cloud ready for completion.

    ``points: (N, 3) float64`` in the input's frame and units; ``kind`` ``"cloud"`` or ``"depth"`` (then the frame
    is the OpenCV camera frame, metres); ``source`` the file it came from; ``dropped`` points removed as invalid.
    """

    points: np.ndarray
    kind: str
    source: str
    dropped: int = 0
    viewpoint: np.ndarray | None = None  #: ``(3,)`` sensor position read from the file (PCD ``VIEWPOINT``), if any


def _existing(path: str | os.PathLike, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise PointCloudFileError(f"{what} file not found: {p}")
    if not p.is_file():
        raise PointCloudFileError(f"{what} path is not a file: {p}")
    return p


def check_cloud(points: Any, source: str = "points", drop_invalid: bool = False) -> tuple[np.ndarray, int]:
    """Validate a point cloud: returns ``(points (N, 3) float64, number of rows dropped)``.

    Raises :class:`PointCloudFileError` for a non-numeric (or complex) array, a shape other than ``(N, 3)``
    (``(N, K>3)`` keeps the first three columns; an organized ``(H, W, 3)`` cloud is flattened and its invalid
    points — NaN/inf or exactly zero, the "no return" of RealSense/ROS clouds — dropped with a warning; in a flat
    cloud, points exactly at the origin too when there are two or more), NaN/inf rows
    (unless ``drop_invalid``, which removes them), coordinates beyond :data:`MAX_COORDINATE` and an empty cloud.
    """
    try:
        arr = np.asarray(points)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise PointCloudFileError(f"{source}: not an array ({exc})") from None
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_:
        raise PointCloudFileError(f"{source}: expected numbers, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise PointCloudFileError(f"{source}: expected real coordinates, got complex numbers (dtype {arr.dtype})")
    if arr.size == 0 and arr.ndim <= 2:
        raise PointCloudFileError(f"{source}: the point cloud is empty")
    organized = 0
    if arr.ndim == 3 and arr.shape[2] >= 3:
        arr = arr.reshape(-1, arr.shape[2])[:, :3]
        with np.errstate(invalid="ignore"):
            keep = np.isfinite(arr).all(axis=1) & (arr != 0).any(axis=1)
        organized = int(len(arr) - keep.sum())
        arr = arr[keep]
        if organized and len(arr):
            warn_user(f"{source}: an organized (H, W, 3) cloud: flattened, {organized} invalid (NaN/inf or zero) "
                      "points dropped")
    if arr.ndim != 2 or arr.shape[1] < 3:
        raise PointCloudFileError(f"{source}: expected an (N, 3) point array, got shape {arr.shape}")
    if _points_as_columns(arr):
        raise PointCloudFileError(f"{source}: an array of shape {arr.shape} holds points as columns: points are rows "
                                  "(N, 3); pass its transpose (points[:3].T)")
    arr = np.ascontiguousarray(arr[:, :3], dtype=np.float64)
    zero = (arr == 0).all(axis=1)
    n_zero = int(zero.sum())
    if 2 <= n_zero < len(arr):  # the "no return" of RealSense / ROS clouds (one point may well sit at the origin)
        warn_user(f"{source}: {n_zero} of {len(arr)} points are exactly (0, 0, 0), a sensor's 'no return': dropped")
        arr = arr[~zero]
        organized += n_zero
    finite = np.isfinite(arr).all(axis=1)
    dropped = int(len(arr) - finite.sum())
    if dropped:
        if not drop_invalid:
            raise PointCloudFileError(
                f"{source}: {dropped} of {len(arr)} points have NaN or inf coordinates (pass --drop-invalid to "
                "ignore them; in Python, keep points[np.isfinite(points).all(axis=1)])"
            )
        arr = arr[finite]
    if len(arr) == 0:
        after = " after dropping NaN/inf" if dropped else " after dropping invalid points" if organized else ""
        raise PointCloudFileError(f"{source}: the point cloud is empty{after}")
    biggest = float(np.abs(arr).max())
    if biggest > MAX_COORDINATE:
        raise PointCloudFileError(f"{source}: coordinates up to {biggest:.3g} are too large (at most "
                                  f"{MAX_COORDINATE:.0e}): check the file's units")
    return arr, dropped + organized


def _points_as_columns(arr: np.ndarray) -> bool:
    """Whether a 2-D array holds points as columns: ``(3, N)`` or homogeneous ``(4, N)``, as robotics code has."""
    return arr.ndim == 2 and arr.shape[0] in (3, 4) and arr.shape[1] >= 16


def check_sensor_frame(points: np.ndarray, source: str) -> bool:
    """Warn (and return ``False``) when a cloud ``points (N, 3)`` does not look like a view in its sensor's frame.

    A single view seen by a sensor at the origin lies at some distance from it; a cloud whose centre is closer to
    the origin than its own size would have the sensor inside the object: most likely a cloud in a world or object
    frame, which needs ``--viewpoint`` (the sensor position in that frame).
    """
    pts = np.asarray(points, dtype=np.float64)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    size = float((hi - lo).max())
    distance = float(np.linalg.norm((lo + hi) / 2.0))
    if size > 0 and distance < size:
        warn_user(f"{source}: the cloud's centre is {distance:.3g} from the origin, less than its size {size:.3g}: "
                  "it does not look like a view in the sensor's frame (sensor at the origin); pass --viewpoint X,Y,Z, "
                  "the sensor position in the cloud's frame")
        return False
    return True


# ------------------------------------------------------------------------------------------------ point clouds


def _read_vertices(path: Path, file_type: str) -> np.ndarray:
    """The vertices of a PLY or OBJ file (a point cloud, or a mesh whose faces are ignored)."""
    import trimesh

    name = file_type.upper()
    try:
        obj = trimesh.load(path, file_type=file_type, process=False, skip_materials=True)
    except Exception as exc:
        raise PointCloudFileError(f"{path}: not a readable {name} file ({type(exc).__name__}: {exc})") from None
    vertices = getattr(obj, "vertices", None)
    if vertices is None:
        if hasattr(obj, "dump"):  # a Scene
            parts = [np.asarray(g.vertices) for g in obj.geometry.values() if hasattr(g, "vertices")]
            vertices = np.concatenate(parts) if parts else np.zeros((0, 3))
        else:
            raise PointCloudFileError(f"{path}: the {name} file holds no vertices")
    return np.asarray(vertices)


def _parse_pcd_header(path: Path, raw: bytes) -> tuple[dict[str, list[str]], int]:
    """Header fields (upper-case keys) and the byte offset where the data starts."""
    header: dict[str, list[str]] = {}
    pos = 0
    while True:
        end = raw.find(b"\n", pos)
        if end < 0:
            raise PointCloudFileError(f"{path}: PCD header has no DATA line")
        line = raw[pos:end].decode("ascii", errors="replace").strip()
        pos = end + 1
        if not line or line.startswith("#"):
            continue
        key, *values = line.split()
        header[key.upper()] = values
        if key.upper() == "DATA":
            return header, pos
        if len(header) > 64:
            raise PointCloudFileError(f"{path}: not a PCD file (no DATA line in the header)")


def pcd_viewpoint(path: Path, header: dict[str, list[str]]) -> np.ndarray | None:
    """The sensor position ``(3,)`` of a PCD ``VIEWPOINT tx ty tz qw qx qy qz`` line; ``None`` when absent or the
    identity (the default most writers put there, which says nothing)."""
    values = header.get("VIEWPOINT")
    if values is None:
        return None
    try:
        v = np.array([float(x) for x in values], dtype=np.float64)
    except ValueError:
        v = np.zeros(0)
    if v.shape != (7,) or not np.isfinite(v).all():
        raise PointCloudFileError(f"{path}: malformed PCD header (VIEWPOINT {' '.join(values)}: expected 7 numbers)")
    if np.allclose(v, [0, 0, 0, 1, 0, 0, 0]):
        return None
    return v[:3]


def _read_pcd(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    raw = path.read_bytes()
    header, start = _parse_pcd_header(path, raw)
    points = _read_pcd_points(path, raw, header, start)
    try:
        height, width = int(header.get("HEIGHT", ["1"])[0]), int(header.get("WIDTH", ["0"])[0])
    except ValueError:
        height = width = 0
    if height > 1 and height * width == len(points):  # an organized cloud (PCL, ROS): as an organized .npy,
        points = np.asarray(points).reshape(height, width, -1)  # its NaN / zero "no return" points are dropped
    return points, pcd_viewpoint(path, header)


def _read_pcd_points(path: Path, raw: bytes, header: dict[str, list[str]], start: int) -> np.ndarray:
    try:
        fields = header["FIELDS"]
        n_fields = len(fields)
        sizes = [int(s) for s in header.get("SIZE", ["4"] * n_fields)]
        types = [t.upper() for t in header.get("TYPE", ["F"] * n_fields)]
        counts = [int(c) for c in header.get("COUNT", ["1"] * n_fields)]
        if "POINTS" in header:
            n_points = int(header["POINTS"][0])
        else:
            n_points = int(header["WIDTH"][0]) * int(header.get("HEIGHT", ["1"])[0])
        mode = header["DATA"][0].lower()
    except (KeyError, IndexError, ValueError) as exc:
        raise PointCloudFileError(f"{path}: malformed PCD header ({type(exc).__name__}: {exc})") from None
    for key, values in (("POINTS", [n_points]), ("SIZE", sizes), ("COUNT", counts)):
        if any(v < (0 if key == "POINTS" else 1) for v in values):
            raise PointCloudFileError(f"{path}: malformed PCD header ({key} {' '.join(map(str, values))})")
    for key in ("WIDTH", "HEIGHT"):
        try:
            if int(header.get(key, ["1"])[0]) < 0:
                raise ValueError
        except (IndexError, ValueError):
            raise PointCloudFileError(f"{path}: malformed PCD header ({key} {' '.join(header[key])})") from None
    if not (len(sizes) == len(types) == len(counts) == n_fields):
        raise PointCloudFileError(f"{path}: PCD header FIELDS/SIZE/TYPE/COUNT lengths differ")
    missing = [a for a in "xyz" if a not in fields]
    if missing:
        raise PointCloudFileError(f"{path}: PCD file has no {'/'.join(missing)} field (FIELDS {' '.join(fields)})")
    # column index of each field's first value
    first_col = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int)
    cols = [int(first_col[fields.index(a)]) for a in "xyz"]
    if mode == "ascii":
        text = raw[start:].decode("ascii", errors="replace")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # numpy's "input contained no data": an empty cloud is refused below
                data = np.loadtxt(text.splitlines(), dtype=np.float64, ndmin=2)
        except ValueError as exc:
            raise PointCloudFileError(f"{path}: bad ASCII PCD data ({exc})") from None
        if data.size == 0:
            return np.zeros((0, 3))
        if data.shape[1] < sum(counts):
            raise PointCloudFileError(f"{path}: PCD rows have {data.shape[1]} values, header says {sum(counts)}")
        return data[:n_points, cols]
    if mode == "binary":
        dtype_fields = []
        for name, size, typ, count in zip(fields, sizes, types, counts, strict=True):
            code = _PCD_TYPES.get((typ, size))
            if code is None:
                raise PointCloudFileError(f"{path}: unsupported PCD field type {typ}{size} for {name}")
            dtype_fields.append((f"f{len(dtype_fields)}_{name}", code, (count,)) if count > 1 else
                                (f"f{len(dtype_fields)}_{name}", code))
        dt = np.dtype(dtype_fields)
        need = n_points * dt.itemsize
        if len(raw) - start < need:
            raise PointCloudFileError(
                f"{path}: binary PCD data is truncated ({len(raw) - start} bytes, {need} expected for "
                f"{n_points} points)"
            )
        rec = np.frombuffer(raw, dtype=dt, count=n_points, offset=start)
        names = {f: dt.names[i] for i, f in enumerate(fields)}
        return np.stack([rec[names[a]].astype(np.float64).reshape(n_points, -1)[:, 0] for a in "xyz"], axis=1)
    if mode == "binary_compressed":
        raise PointCloudFileError(
            f"{path}: PCD 'binary_compressed' data is not supported; re-save it as ascii or binary "
            "(e.g. pcl_convert_pcd_ascii_binary in.pcd out.pcd 1)"
        )
    raise PointCloudFileError(f"{path}: unknown PCD DATA mode {mode!r} (expected ascii or binary)")


def _read_text(path: Path) -> np.ndarray:
    try:
        lines = path.read_text(errors="replace").replace(",", " ").splitlines()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy's "input contained no data": an empty cloud is refused later
            data = np.loadtxt(lines, dtype=np.float64, comments="#", ndmin=2)
    except ValueError as exc:
        raise PointCloudFileError(f"{path}: not a text point list ({exc}); rows of 3 or more numbers, header and "
                                  "comment lines starting with #") from None
    return data


def _load_array(path: Path, key: str | None = None) -> np.ndarray:
    try:
        if key is None:
            return np.load(path, allow_pickle=False)
        with np.load(path, allow_pickle=False) as z:
            if key not in z.files:
                raise PointCloudFileError(f"{path}: no '{key}' array (found: {', '.join(z.files) or 'none'})")
            return z[key]
    except PointCloudFileError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc):
            raise PointCloudFileError(f"{path}: holds pickled Python objects, which are never loaded (unsafe): save "
                                      "a plain numeric array") from None
        raise PointCloudFileError(f"{path}: not a readable NumPy file ({exc})") from None
    except Exception as exc:
        raise PointCloudFileError(f"{path}: not a readable NumPy file ({type(exc).__name__}: {exc})") from None


def read_point_cloud(
    path: str | os.PathLike, drop_invalid: bool = False, other: str = "a depth image (.png, .npy) with --intrinsics"
) -> tuple[np.ndarray, int]:
    """Read a point cloud file (see the module docstring): ``(points (N, 3) float64, rows dropped)``; ``other``:
    what else the caller takes, named when the extension is unknown."""
    p = _existing(path, "point cloud")
    ext = p.suffix.lower()
    if ext in (".ply", ".obj"):
        arr = _read_vertices(p, ext[1:])
    elif ext == ".pcd":
        arr, _ = _read_pcd(p)
    elif ext in (".xyz", ".txt"):
        arr = _read_text(p)
    elif ext == ".npy":
        arr = _load_array(p)
    elif ext == ".npz":
        arr = _load_array(p, "points")
    else:
        raise PointCloudFileError(
            f"{p}: unknown point cloud extension {ext or '(none)'!r}; use one of {', '.join(CLOUD_EXTENSIONS)}"
            + (f" or {other}" if other else "")
        )
    return check_cloud(arr, str(p), drop_invalid)


# ------------------------------------------------------------------------------------------------ depth images


def read_depth(
    path: str | os.PathLike, depth_scale: float = 1000.0, usual: tuple[float, float] | None = USUAL_DEPTH_M
) -> np.ndarray:
    """Depth image -> ``(H, W) float64`` metres (non-finite and negative values become 0 = no return).

    ``.png``: 16-bit millimetres (``depth_scale`` units per metre; 65535 = no data); ``.npy``: float metres, or
    integers in ``depth_scale`` units per metre (a raw sensor image saved with numpy); ``.tif``/``.tiff``: 32-bit
    float metres, or 16-bit integers in ``depth_scale`` units per metre. A median valid depth outside ``usual``
    (metres; default :data:`USUAL_DEPTH_M`; ``scene`` and ``complete`` use :data:`CLOSE_RANGE_DEPTH_M`) gets a
    one-line warning; for a PNG it names the common depth scale (:data:`COMMON_DEPTH_SCALES`) that would bring the
    median into that range, if one does (:func:`warn_unusual_depth`; ``usual=None``: no check, the caller checks later).
    """
    p = _existing(path, "depth image")
    ext = p.suffix.lower()
    if ext == ".png":
        from implicit3d.sensing.io import read_depth_png

        depth = np.asarray(read_depth_png(p, depth_scale), dtype=np.float64)
    elif ext in (".tif", ".tiff"):
        from implicit3d.sensing.io import read_depth_tiff

        depth = np.asarray(read_depth_tiff(p, depth_scale), dtype=np.float64)
    elif ext == ".npy":
        depth = _load_array(p)
        if depth.dtype == object or not np.issubdtype(depth.dtype, np.number) or np.iscomplexobj(depth):
            raise PointCloudFileError(f"{p}: expected a real numeric depth image, got dtype {depth.dtype}")
        if depth.ndim == 3 and depth.shape[2] == 1:  # (H, W, 1), as image libraries give one channel
            depth = depth[..., 0]
        if depth.ndim != 2:
            raise PointCloudFileError(f"{p}: expected an (H, W) depth image in metres, got shape {depth.shape}")
        if np.issubdtype(depth.dtype, np.integer):  # a raw sensor image: in depth_scale units, as a PNG's
            from implicit3d.sensing.io import depth_from_units

            depth = depth_from_units(depth, depth_scale, p)
        else:
            if depth_scale != 1000.0:
                warn_user(f"{p}: a float depth image is metres: depth scale {depth_scale:g} not used")
            depth = depth.astype(np.float64)
    else:
        raise PointCloudFileError(
            f"{p}: unknown depth image extension {ext or '(none)'!r}; use .png, .npy or .tif"
        )
    with np.errstate(invalid="ignore"):
        depth = np.where(np.isfinite(depth) & (depth > 0), depth, 0.0)
    if usual is not None:
        warn_unusual_depth(depth, p, depth_scale, usual)
    return depth


def warn_unusual_depth(
    depth: np.ndarray, path: str | os.PathLike, depth_scale: float = 1000.0, usual: tuple[float, float] = USUAL_DEPTH_M
) -> None:
    """The one-line warning of :func:`read_depth` for a depth image ``depth (H, W)`` (metres, 0 = no data) read from
    ``path`` whose median valid depth lies outside ``usual`` (metres)."""
    p = Path(path)
    ext = p.suffix.lower()
    valid = depth[depth > 0]
    if len(valid):
        median = float(np.median(valid))
        lo, hi = usual
        if not lo <= median <= hi:
            if ext == ".png":
                hint = f"; PNG depth is read as 1/{depth_scale:g} m units: pass --depth-scale for other units"
                fits = [(scale, who) for scale, who in COMMON_DEPTH_SCALES
                        if scale != depth_scale and lo <= median * depth_scale / scale <= hi]
                if fits:
                    scale, who = min(fits, key=lambda f: abs(np.log(median * depth_scale / f[0] / np.sqrt(lo * hi))))
                    hint += (f" (with --depth-scale {scale:g}, the units of {who}, it would be "
                             f"{median * depth_scale / scale:.3g} m)")
            elif ext in (".npy", ".tif", ".tiff"):
                hint = f"; a float {ext} depth is read as metres, an integer one in --depth-scale units"
            else:
                hint = f"; {ext} depth is read as metres" if ext else "; it is taken as metres"
            if ext != ".png" and lo <= median / 1000.0 <= hi:
                hint += " (it looks like millimetres: save the depth divided by 1000, or as integer millimetres)"
            shown = float(f"{median:.2g}")  # two digits: the same text on every frame of a served loop
            warn_user(f"{p}: the median depth is {shown:g} m, outside the usual {lo:g}-{hi:g} m of "
                      f"{'depth sensors' if usual == USUAL_DEPTH_M else 'close-range frames (objects, tables)'}{hint}")


def read_mask(path: str | os.PathLike, shape: tuple[int, int], of: str = "the depth image") -> np.ndarray:
    """Object mask image -> ``(H, W) bool`` (non-zero = object); must match the ``shape`` of what it masks (``of``:
    its name in messages).

    A picture with an alpha channel (RGBA, grey + alpha) is read from its colour channels when they vary, else from
    its alpha (a mask drawn as transparency); a JPEG (lossy: its compression leaves faint non-zero pixels around the
    object) is cut at half its brightest value, with a note."""
    p = _existing(path, "mask")
    if p.suffix.lower() == ".npy":
        m = _load_array(p)
        if m.dtype == object or not (np.issubdtype(m.dtype, np.number) or m.dtype == np.bool_) or np.iscomplexobj(m):
            raise PointCloudFileError(f"{p}: expected a numeric mask image, got dtype {m.dtype}")
    else:
        from PIL import Image

        try:
            with Image.open(p) as img:
                img.load()
                m = np.array(img)
        except Exception as exc:
            raise PointCloudFileError(f"{p}: not a readable mask image ({exc})") from None
    if m.ndim == 3 and m.shape[2] in (2, 4):  # grey / colour + alpha: an opaque alpha is no mask
        colour, alpha = m[..., :-1], m[..., -1]
        m = colour if np.ptp(colour) > 0 or np.ptp(alpha) == 0 else alpha[..., None]
    if m.ndim == 3:  # colour picture: any non-zero channel counts
        m = m.max(axis=2)
    if p.suffix.lower() in (".jpg", ".jpeg") and m.ndim == 2 and m.size and m.max() > 1:
        cut = 0.5 * float(m.max())
        faint = int(np.count_nonzero((m != 0) & (m <= cut)))
        if faint:
            warn_user(f"{p}: a JPEG mask (lossy): {faint} faint non-zero pixels from its compression are left out "
                      f"(object = brighter than {cut:g}); save masks as PNG")
        m = m > cut
    if m.ndim != 2:
        raise PointCloudFileError(f"{p}: expected an (H, W) mask image, got an array of shape {m.shape}")
    if m.shape != tuple(shape):
        raise PointCloudFileError(f"{p}: mask is {m.shape[1]}x{m.shape[0]} pixels but {of} is "
                                  f"{shape[1]}x{shape[0]}")
    return np.asarray(m) != 0


def depth_observation(
    depth_path: str | os.PathLike,
    intrinsics_path: str | os.PathLike | None,
    mask_path: str | os.PathLike | None = None,
    depth_scale: float = 1000.0,
    usual_depth: tuple[float, float] = USUAL_DEPTH_M,
) -> np.ndarray:
    """Back-project a depth image (optionally masked) to ``(N, 3) float64`` camera-frame points in metres;
    ``usual_depth``: see :func:`read_depth`'s ``usual``."""
    from implicit3d.sensing.io import read_intrinsics
    from implicit3d.sensing.project import depth_to_points

    if intrinsics_path is None:
        raise PointCloudFileError(
            f"{depth_path}: a depth image needs the camera intrinsics: pass --intrinsics K.json "
            "(keys fx, fy, cx, cy, width, height)"
        )
    depth = read_depth(depth_path, depth_scale, usual=None)
    intr = read_intrinsics(intrinsics_path, size=depth.shape, image=depth_path)
    if depth.shape != intr.shape:
        raise PointCloudFileError(
            f"{depth_path}: the depth image is {depth.shape[1]}x{depth.shape[0]} pixels but {intrinsics_path} says "
            f"{intr.width}x{intr.height}"
        )
    warn_unusual_depth(depth, depth_path, depth_scale, usual_depth)  # once the image is known to be one
    valid = depth > 0
    if not valid.any():
        raise PointCloudFileError(f"{depth_path}: the depth image has no valid pixels (all zero or NaN)")
    mask = None
    if mask_path is not None:
        mask = read_mask(mask_path, depth.shape)
        if not (mask & valid).any():
            raise PointCloudFileError(f"{mask_path}: the mask selects no pixel with valid depth")
    return np.asarray(depth_to_points(depth, intr, mask=mask), dtype=np.float64)


def read_observation(
    path: str | os.PathLike,
    intrinsics: str | os.PathLike | None = None,
    mask: str | os.PathLike | None = None,
    drop_invalid: bool = False,
    depth_scale: float = 1000.0,
    usual_depth: tuple[float, float] = USUAL_DEPTH_M,
) -> Observation:
    """Read what the user observed: a point cloud file, or a depth image + intrinsics (+ mask).

    ``.png`` and ``.tif`` are always depth images; ``.npy`` is a depth image when ``intrinsics`` is given or the
    array is not ``(N, 3)``-like, else a point cloud. Raises :class:`PointCloudFileError` naming the file on any
    problem, e.g. fewer than :data:`MIN_POINTS` points. ``usual_depth``: the median depth range (metres) below and
    above which a depth image gets a warning (:func:`read_depth`).
    """
    p = _existing(path, "input")
    ext = p.suffix.lower()
    is_depth = ext in (".png", ".tif", ".tiff") or (ext == ".npy" and intrinsics is not None)
    if ext == ".npy" and intrinsics is None:
        arr = _load_array(p)
        if (arr.ndim == 2 and arr.shape[1] != 3 and arr.shape[0] > 3 and arr.shape[1] > 3
                and not _points_as_columns(arr)):  # that one check_cloud names
            raise PointCloudFileError(
                f"{p}: an array of shape {arr.shape} looks like a depth image: pass --intrinsics K.json "
                "(or save the points as an (N, 3) array)"
            )
    if not is_depth and mask is not None and ext not in (".npy", ".npz", ".pcd"):
        raise PointCloudFileError(f"{mask}: --mask applies to depth images and organized clouds (an (H, W, 3) "
                                  f".npy/.npz, a PCD with HEIGHT > 1) only, but {p} is a flat point cloud")
    if is_depth:
        pts = depth_observation(p, intrinsics, mask, depth_scale, usual_depth)
        pts, dropped = check_cloud(pts, str(p))
        obs = Observation(pts, "depth", str(p), dropped)
    elif intrinsics is not None:
        raise PointCloudFileError(f"{p}: --intrinsics is for depth images (.png, .npy, .tif), not {ext} point clouds")
    else:
        viewpoint = None
        if ext == ".pcd":
            arr, viewpoint = _read_pcd(p)
        elif mask is not None:
            arr = _load_array(p, "points" if ext == ".npz" else None)
        if mask is not None:
            arr = _masked_organized(p, np.asarray(arr), mask)
        if ext == ".pcd" or mask is not None:
            pts, dropped = check_cloud(arr, str(p), drop_invalid)
        else:
            pts, dropped = read_point_cloud(p, drop_invalid)
        obs = Observation(pts, "cloud", str(p), dropped, viewpoint)
    if len(obs.points) < MIN_POINTS:
        what = "valid pixels" if obs.kind == "depth" else "points"
        raise PointCloudFileError(f"{p}: {len(obs.points)} {what}{' left' if obs.dropped else ''}: at least "
                                  f"{MIN_POINTS} are needed")
    return obs


def _masked_organized(path: Path, arr: np.ndarray, mask: str | os.PathLike) -> np.ndarray:
    """The valid points ``(K, C)`` of the organized cloud ``arr (H, W, C)`` that the mask image selects (NaN/inf
    and (0, 0, 0) no-return points left out); a flat cloud, or a mask that selects no valid point, is refused."""
    if arr.ndim != 3 or arr.shape[2] < 3:
        raise PointCloudFileError(f"{mask}: --mask needs an organized cloud (H, W, 3), one value per pixel, but {path} "
                                  f"holds an array of shape {arr.shape}")
    selected = arr[read_mask(mask, arr.shape[:2], f"the organized cloud {path.name}")]
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(selected[:, :3]).all(axis=1) & (selected[:, :3] != 0).any(axis=1)
    if not valid.any():
        raise PointCloudFileError(f"{mask}: the mask selects no valid point of {path}")
    return selected[valid]


# ------------------------------------------------------------------------------------------------ writing


def pcd_bytes(points: Any, binary: bool = True) -> bytes:
    """A PCD v0.7 file of ``points (N, 3)`` (float32 x y z), binary or ASCII — for tests and exports."""
    pts = np.ascontiguousarray(np.asarray(points, dtype="<f4").reshape(-1, 3))
    header = (
        "# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\n"
        f"COUNT 1 1 1\nWIDTH {len(pts)}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {len(pts)}\n"
        f"DATA {'binary' if binary else 'ascii'}\n"
    ).encode()
    if binary:
        return header + pts.tobytes()
    body = "\n".join(" ".join(f"{v:.9g}" for v in row) for row in pts.tolist())
    return header + body.encode() + b"\n"
