"""On-disk dataset layout: file names, deterministic writers and readers.

Layout of a dataset root (the full table with dtypes, shapes and units is in ``docs/data.md``)::

    <root>/manifest.json                   settings, seed, source, shape list, broken meshes
    <root>/{train,val,test}.lst            one "<category>/<name>" per line
    <root>/<category>/{train,val,test}.lst one "<name>" per line (OccNet layout)
    <root>/<category>/<name>/
        shape.json        name, category, origin, loc, scale, counts, mesh statistics
        points.npz        uniform points in [-0.5, 0.5]^3 (OccNet-compatible: points, occupancies, loc, scale) + sdf
        points_near.npz   near-surface points (same keys) + sigma_index, sigmas
        pointcloud.npz    surface points + normals (OccNet-compatible: points, normals, loc, scale)
        views.npz         K partial views: cameras, object poses, back-projected clouds (normalized canonical frame)
        depth/000.png ... uint16 depth images in millimetres (0 = no return)
        mesh.ply          the normalized mesh (binary little-endian PLY), if saved

Determinism: ``numpy.savez`` stamps zip members with the current time, so :func:`save_npz` writes the zip itself
with a fixed timestamp and member order; PNGs carry no time chunk; JSON is written with sorted keys. Building
the same dataset twice with the same seed therefore gives byte-identical files.

Occupancies are stored bit-packed (``numpy.packbits``, big bit order, padded to a multiple of 8): read them with
:func:`unpack_occupancies` or ``np.unpackbits(occ)[:len(points)]``.
"""

from __future__ import annotations

import errno
import io
import json
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from implicit3d.errors import UserError
from implicit3d.fileio import atomic_write_bytes, read_json_file

MANIFEST = "manifest.json"
SHAPE_INFO = "shape.json"
POINTS = "points.npz"
POINTS_NEAR = "points_near.npz"
POINTCLOUD = "pointcloud.npz"
VIEWS = "views.npz"
DEPTH_DIR = "depth"
MESH = "mesh.ply"
SPLITS = ("train", "val", "test")
FORMAT_VERSION = 1
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def json_bytes(obj: Any) -> bytes:
    """Deterministic JSON (sorted keys, 2-space indent, trailing newline); numpy scalars/arrays become lists."""

    def default(o: Any) -> Any:
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, Path):
            return str(o)
        raise TypeError(f"cannot write {type(o).__name__} to JSON")

    return (json.dumps(obj, sort_keys=True, indent=2, default=default) + "\n").encode()


class DatasetFileError(UserError, ValueError):
    """A dataset file that is missing, truncated, corrupted or unsafe (pickled); the message names the file."""


def write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, json_bytes(obj))


def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file; :class:`DatasetFileError` naming it when invalid (``FileNotFoundError`` when missing)."""
    if not Path(path).exists():
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
    return read_json_file(path, DatasetFileError)


def npz_bytes(arrays: dict[str, np.ndarray], compress: bool = False) -> bytes:
    """An ``.npz`` archive (readable by ``numpy.load``) with members in the given order and a fixed timestamp."""
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_DATE)
            info.compress_type = method
            info.external_attr = 0o644 << 16
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)
            zf.writestr(info, member.getvalue())
    return buf.getvalue()


def save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray], compress: bool = False) -> None:
    """Write ``arrays`` to ``path`` atomically and deterministically (see :func:`npz_bytes`)."""
    atomic_write_bytes(path, npz_bytes(arrays, compress))


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` file as a dict (loaded eagerly, file closed).

    Never unpickles. Raises :class:`DatasetFileError` naming the file when it is missing, not a zip archive,
    truncated or corrupted, or holds pickled objects.
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            if not hasattr(z, "files"):
                raise DatasetFileError(f"{path}: a single .npy array, not an .npz archive")
            return {k: z[k] for k in z.files}
    except DatasetFileError:
        raise
    except FileNotFoundError:
        raise DatasetFileError(f"{path}: missing (the dataset is incomplete: rebuild it with implicit3d prepare)") \
            from None
    except ValueError as exc:
        if "pickle" in str(exc):
            raise DatasetFileError(f"{path}: holds pickled Python objects, which are never loaded (unsafe)") from None
        raise DatasetFileError(f"{path}: not a readable .npz file ({exc})") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, zlib.error) as exc:
        raise DatasetFileError(f"{path}: not a readable .npz file, truncated or corrupted "
                               f"({type(exc).__name__}: {exc})") from None


def check_npz(path: str | os.PathLike) -> None:
    """Cheap integrity check of an ``.npz`` file without loading its arrays: it exists, is a zip archive whose
    directory is intact (a truncated file is not), and every member is a ``.npy`` array of plain numbers (no
    pickled objects). Raises :class:`DatasetFileError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise DatasetFileError(f"{path}: missing (the dataset is incomplete: rebuild it with implicit3d prepare)")
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                with zf.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    shape, _, dtype = (np.lib.format.read_array_header_1_0(fh) if version == (1, 0)
                                       else np.lib.format.read_array_header_2_0(fh))
                if dtype.hasobject:
                    raise DatasetFileError(f"{path}: {info.filename} holds pickled Python objects, which are never "
                                           "loaded (unsafe)")
    except DatasetFileError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error) as exc:
        raise DatasetFileError(f"{path}: not a readable .npz file, truncated or corrupted "
                               f"({type(exc).__name__}: {exc})") from None


def check_shape_files(root: str | os.PathLike, keys: list[str], names: tuple[str, ...]) -> None:
    """Check, before training or evaluation starts, that every shape ``key`` of a dataset has its ``shape.json``
    and intact ``names`` files (:func:`check_npz`); :class:`DatasetFileError` naming the first bad file."""
    root = Path(root)
    for key in keys:
        folder = root / key
        if not (folder / SHAPE_INFO).is_file():
            raise DatasetFileError(f"{folder}: shape {key!r} is listed in the splits but not built (no {SHAPE_INFO}); "
                                   "rerun implicit3d prepare to finish the dataset")
        for name in names:
            check_npz(folder / name)


def pack_occupancies(occ: np.ndarray) -> np.ndarray:
    """``(N,) bool`` -> ``(ceil(N / 8),) uint8`` (``numpy.packbits``)."""
    return np.packbits(np.asarray(occ, dtype=bool).reshape(-1))


def unpack_occupancies(packed: np.ndarray, n: int) -> np.ndarray:
    """Inverse of :func:`pack_occupancies`: ``(n,) bool``."""
    return np.unpackbits(np.asarray(packed, dtype=np.uint8), count=n).astype(bool)


def write_points_npz(
    path: str | os.PathLike,
    points: np.ndarray,
    occupancies: np.ndarray,
    loc: np.ndarray,
    scale: float,
    sdf: np.ndarray | None = None,
    extra: dict[str, np.ndarray] | None = None,
) -> None:
    """OccNet-compatible query points file.

    ``points (N, 3)`` stored float16 (normalized units), ``occupancies (N,) bool`` stored bit-packed uint8,
    ``loc (3,) float64``, ``scale () float64``; optional ``sdf (N,)`` stored float16 (normalized units, negative
    inside) and ``extra`` arrays stored as given.
    """
    pts = np.asarray(points, dtype=np.float16)
    occ = np.asarray(occupancies, dtype=bool)
    if pts.ndim != 2 or pts.shape[1] != 3 or occ.shape != (len(pts),):
        raise ValueError(f"points must be (N, 3) and occupancies (N,), got {pts.shape} and {occ.shape}")
    arrays = {
        "points": pts,
        "occupancies": pack_occupancies(occ),
        "loc": np.asarray(loc, dtype=np.float64).reshape(3),
        "scale": np.asarray(scale, dtype=np.float64).reshape(()),
    }
    if sdf is not None:
        arrays["sdf"] = np.asarray(sdf, dtype=np.float16).reshape(len(pts))
    arrays.update(extra or {})
    save_npz(path, arrays)


def read_points_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a points file (ours or OccNet's): ``points (N, 3) float32``, ``occupancies (N,) bool``, ``loc``,
    ``scale``, and ``sdf (N,) float32`` plus any other members when present. OccNet files with unpacked
    occupancies are accepted too."""
    data = load_npz(path)
    if "points" not in data or "occupancies" not in data:
        raise DatasetFileError(f"{path}: not a points file (needs 'points' and 'occupancies' arrays)")
    pts = data["points"].astype(np.float32)
    occ = data["occupancies"]
    data["occupancies"] = unpack_occupancies(occ, len(pts)) if len(occ) != len(pts) else occ.astype(bool)
    data["points"] = pts
    if "sdf" in data:
        data["sdf"] = data["sdf"].astype(np.float32)
    return data


def write_pointcloud_npz(
    path: str | os.PathLike, points: np.ndarray, normals: np.ndarray, loc: np.ndarray, scale: float
) -> None:
    """OccNet-compatible surface samples: ``points (N, 3)`` and unit ``normals (N, 3)`` stored float16 (normalized
    units), ``loc (3,) float64``, ``scale () float64``."""
    pts = np.asarray(points, dtype=np.float16)
    nrm = np.asarray(normals, dtype=np.float16)
    if pts.ndim != 2 or pts.shape[1] != 3 or nrm.shape != pts.shape:
        raise ValueError(f"points and normals must both be (N, 3), got {pts.shape} and {nrm.shape}")
    save_npz(
        path,
        {
            "points": pts,
            "normals": nrm,
            "loc": np.asarray(loc, dtype=np.float64).reshape(3),
            "scale": np.asarray(scale, dtype=np.float64).reshape(()),
        },
    )


def read_pointcloud_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a surface point cloud file: ``points``/``normals`` ``(N, 3) float32``, ``loc``, ``scale``."""
    data = load_npz(path)
    if "points" not in data:
        raise DatasetFileError(f"{path}: not a point cloud file (needs a 'points' array)")
    data["points"] = data["points"].astype(np.float32)
    if "normals" in data:
        data["normals"] = data["normals"].astype(np.float32)
    return data


def write_depth_png(path: str | os.PathLike, depth_m: np.ndarray, depth_scale: float = 1000.0) -> None:
    """``(H, W)`` depth in metres -> 16-bit PNG of ``round(depth * depth_scale)`` (0 = no return), written
    atomically by :func:`implicit3d.sensing.io.write_depth_png` (no time chunk: deterministic bytes)."""
    from implicit3d.sensing.io import write_depth_png as _write

    _write(path, depth_m, depth_scale)


def read_depth_png(path: str | os.PathLike, depth_scale: float = 1000.0) -> np.ndarray:
    """16-bit depth PNG -> ``(H, W) float32`` metres (0 where no return); see :mod:`implicit3d.sensing.io`."""
    from implicit3d.sensing.io import read_depth_png as _read

    return _read(path, depth_scale)


def ply_bytes(vertices: np.ndarray, faces: np.ndarray) -> bytes:
    """Binary little-endian PLY of a triangle mesh: float32 vertices, int32 faces (deterministic)."""
    v = np.ascontiguousarray(vertices, dtype="<f4")
    f = np.asarray(faces, dtype=np.int64)
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {len(v)}\nproperty float x\nproperty float y\nproperty float z\n"
        f"element face {len(f)}\nproperty list uchar int vertex_indices\nend_header\n"
    ).encode()
    rec = np.empty(len(f), dtype=[("n", "u1"), ("idx", "<i4", (3,))])
    rec["n"] = 3
    rec["idx"] = f
    return header + v.tobytes() + rec.tobytes()


def split_file(root: str | os.PathLike, split: str) -> Path:
    """Path of the root-level split file ``<root>/<split>.lst``."""
    return Path(root) / f"{split}.lst"


def read_split(root: str | os.PathLike, split: str) -> list[str]:
    """``"<category>/<name>"`` keys of a split (order as in the file)."""
    path = split_file(root, split)
    if not path.exists():
        raise FileNotFoundError(f"split file {path} not found (splits: {', '.join(SPLITS)})")
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
