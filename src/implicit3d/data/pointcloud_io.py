"""Reading user observations for completion: point clouds and depth images.

Point clouds (``(N, 3)``, the file's own units and frame):

- ``.ply`` — ASCII or binary PLY; the vertices are used (a mesh PLY works too, its faces are ignored).
- ``.pcd`` — Point Cloud Library files, ``DATA ascii`` or ``DATA binary`` (``binary_compressed`` is refused with a
  hint); the ``x y z`` fields are used, other fields (rgb, normals, ...) are skipped.
- ``.xyz`` / ``.txt`` — text, one point per line, the first three columns (whitespace or comma separated;
  ``#`` comments allowed).
- ``.npy`` — a ``(N, 3)`` array (more columns: the first three are used).
- ``.npz`` — an archive with a ``points`` array ``(N, 3)``.

Depth images (camera frame, OpenCV: x right, y down, z forward; metres):

- ``.png`` — 16-bit single-channel depth in millimetres (``depth_scale`` 1000 units per metre), 0 = no return.
- ``.npy`` — ``(H, W)`` float depth in metres; 0, NaN or inf = no return.

A depth image needs the intrinsics JSON (``fx, fy, cx, cy, width, height``) and may take a mask PNG of the same
size selecting the object (non-zero = object). Every problem raises :class:`PointCloudFileError` (a
:class:`~implicit3d.errors.UserError` and ``ValueError``) with a one-line message naming the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from implicit3d.errors import UserError
from implicit3d.geometry.validation import numeric_array

CLOUD_EXTENSIONS = (".ply", ".pcd", ".xyz", ".txt", ".npy", ".npz")
DEPTH_EXTENSIONS = (".png", ".npy")

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


def _existing(path: str | os.PathLike, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise PointCloudFileError(f"{what} file not found: {p}")
    if not p.is_file():
        raise PointCloudFileError(f"{what} path is not a file: {p}")
    return p


def check_cloud(points: Any, source: str = "points", drop_invalid: bool = False) -> tuple[np.ndarray, int]:
    """Validate a point cloud: returns ``(points (N, 3) float64, number of rows dropped)``.

    Raises :class:`PointCloudFileError` for a non-numeric array, a shape other than ``(N, 3)`` (``(N, K>3)`` keeps
    the first three columns), NaN/inf rows (unless ``drop_invalid``, which removes them) and an empty cloud.
    """
    try:
        arr = numeric_array(points, "the cloud", allow_bool=False)
    except TypeError as exc:
        raise PointCloudFileError(f"{source}: {exc}") from None
    if arr.ndim != 2 or arr.shape[1] < 3:
        raise PointCloudFileError(f"{source}: expected an (N, 3) point array, got shape {arr.shape}")
    arr = np.ascontiguousarray(arr[:, :3], dtype=np.float64)
    finite = np.isfinite(arr).all(axis=1)
    dropped = int(len(arr) - finite.sum())
    if dropped:
        if not drop_invalid:
            raise PointCloudFileError(
                f"{source}: {dropped} of {len(arr)} points have NaN or inf coordinates (pass --drop-invalid to "
                "ignore them)"
            )
        arr = arr[finite]
    if len(arr) == 0:
        after = " after dropping NaN/inf" if dropped else ""
        raise PointCloudFileError(f"{source}: the point cloud is empty{after}")
    return arr, dropped


# ------------------------------------------------------------------------------------------------ point clouds


def _read_ply(path: Path) -> np.ndarray:
    import trimesh

    try:
        obj = trimesh.load(path, file_type="ply", process=False)
    except Exception as exc:
        raise PointCloudFileError(f"{path}: not a readable PLY file ({type(exc).__name__}: {exc})") from None
    vertices = getattr(obj, "vertices", None)
    if vertices is None:
        if hasattr(obj, "dump"):  # a Scene
            parts = [np.asarray(g.vertices) for g in obj.geometry.values() if hasattr(g, "vertices")]
            vertices = np.concatenate(parts) if parts else np.zeros((0, 3))
        else:
            raise PointCloudFileError(f"{path}: the PLY file holds no vertices")
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


def _read_pcd(path: Path) -> np.ndarray:
    raw = path.read_bytes()
    header, start = _parse_pcd_header(path, raw)
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
        raise PointCloudFileError(f"{path}: malformed PCD header ({exc})") from None
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
        data = np.loadtxt(lines, dtype=np.float64, comments="#", ndmin=2)
    except ValueError as exc:
        raise PointCloudFileError(f"{path}: not a text point list ({exc})") from None
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
    except Exception as exc:
        raise PointCloudFileError(f"{path}: not a readable NumPy file ({type(exc).__name__}: {exc})") from None


def read_point_cloud(path: str | os.PathLike, drop_invalid: bool = False) -> tuple[np.ndarray, int]:
    """Read a point cloud file (see the module docstring): ``(points (N, 3) float64, rows dropped)``."""
    p = _existing(path, "point cloud")
    ext = p.suffix.lower()
    if ext == ".ply":
        arr = _read_ply(p)
    elif ext == ".pcd":
        arr = _read_pcd(p)
    elif ext in (".xyz", ".txt"):
        arr = _read_text(p)
    elif ext == ".npy":
        arr = _load_array(p)
    elif ext == ".npz":
        arr = _load_array(p, "points")
    else:
        raise PointCloudFileError(
            f"{p}: unknown point cloud extension {ext or '(none)'!r}; use one of {', '.join(CLOUD_EXTENSIONS)} or a "
            "depth image (.png, .npy) with --intrinsics"
        )
    return check_cloud(arr, str(p), drop_invalid)


# ------------------------------------------------------------------------------------------------ depth images


def read_depth(path: str | os.PathLike, depth_scale: float = 1000.0) -> np.ndarray:
    """Depth image -> ``(H, W) float64`` metres (non-finite and negative values become 0 = no return).

    ``.png``: 16-bit millimetres (``depth_scale`` units per metre); ``.npy``: float metres.
    """
    p = _existing(path, "depth image")
    ext = p.suffix.lower()
    if ext == ".png":
        from implicit3d.sensing.io import read_depth_png

        depth = np.asarray(read_depth_png(p, depth_scale), dtype=np.float64)
    elif ext == ".npy":
        depth = _load_array(p)
        if depth.dtype == object or not np.issubdtype(depth.dtype, np.number):
            raise PointCloudFileError(f"{p}: expected a numeric depth image, got dtype {depth.dtype}")
        if depth.ndim != 2:
            raise PointCloudFileError(f"{p}: expected an (H, W) depth image in metres, got shape {depth.shape}")
        depth = depth.astype(np.float64)
    else:
        raise PointCloudFileError(f"{p}: unknown depth image extension {ext or '(none)'!r}; use .png or .npy")
    return np.where(np.isfinite(depth) & (depth > 0), depth, 0.0)


def read_mask(path: str | os.PathLike, shape: tuple[int, int]) -> np.ndarray:
    """Object mask image -> ``(H, W) bool`` (non-zero = object); must match the depth image's ``shape``."""
    p = _existing(path, "mask")
    if p.suffix.lower() == ".npy":
        m = _load_array(p)
    else:
        from PIL import Image

        try:
            with Image.open(p) as img:
                img.load()
                m = np.array(img)
        except Exception as exc:
            raise PointCloudFileError(f"{p}: not a readable mask image ({exc})") from None
    if m.ndim == 3:  # colour / RGBA picture: any non-zero channel counts
        m = m.any(axis=2)
    if m.shape != tuple(shape):
        raise PointCloudFileError(f"{p}: mask is {m.shape[1]}x{m.shape[0]} pixels but the depth image is "
                                  f"{shape[1]}x{shape[0]}")
    return np.asarray(m) != 0


def depth_observation(
    depth_path: str | os.PathLike,
    intrinsics_path: str | os.PathLike | None,
    mask_path: str | os.PathLike | None = None,
    depth_scale: float = 1000.0,
) -> np.ndarray:
    """Back-project a depth image (optionally masked) to ``(N, 3) float64`` camera-frame points in metres."""
    from implicit3d.sensing.io import read_intrinsics_json
    from implicit3d.sensing.project import depth_to_points

    if intrinsics_path is None:
        raise PointCloudFileError(
            f"{depth_path}: a depth image needs the camera intrinsics: pass --intrinsics K.json "
            "(keys fx, fy, cx, cy, width, height)"
        )
    depth = read_depth(depth_path, depth_scale)
    intr = read_intrinsics_json(intrinsics_path)
    if depth.shape != intr.shape:
        raise PointCloudFileError(
            f"{depth_path}: the depth image is {depth.shape[1]}x{depth.shape[0]} pixels but {intrinsics_path} says "
            f"{intr.width}x{intr.height}"
        )
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
) -> Observation:
    """Read what the user observed: a point cloud file, or a depth image + intrinsics (+ mask).

    ``.png`` is always a depth image; ``.npy`` is a depth image when ``intrinsics`` is given or the array is not
    ``(N, 3)``-like, else a point cloud. Raises :class:`PointCloudFileError` naming the file on any problem.
    """
    p = _existing(path, "input")
    ext = p.suffix.lower()
    is_depth = ext == ".png" or (ext == ".npy" and intrinsics is not None)
    if ext == ".npy" and intrinsics is None:
        arr = _load_array(p)
        if arr.ndim == 2 and arr.shape[1] != 3 and arr.shape[0] > 3 and arr.shape[1] > 3:
            raise PointCloudFileError(
                f"{p}: an array of shape {arr.shape} looks like a depth image: pass --intrinsics K.json "
                "(or save the points as an (N, 3) array)"
            )
    if not is_depth and mask is not None:
        raise PointCloudFileError(f"{mask}: --mask applies to depth images only, but {p} is a point cloud")
    if is_depth:
        pts = depth_observation(p, intrinsics, mask, depth_scale)
        pts, dropped = check_cloud(pts, str(p))
        return Observation(pts, "depth", str(p), dropped)
    if intrinsics is not None:
        raise PointCloudFileError(f"{p}: --intrinsics is for depth images (.png, .npy), not {ext} point clouds")
    pts, dropped = read_point_cloud(p, drop_invalid)
    return Observation(pts, "cloud", str(p), dropped)


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
