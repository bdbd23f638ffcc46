"""Atomic file writes (a reader sees the old file or the whole new one, never a half-written file) and mesh files.

Data goes to a hidden temp file in the target's folder, which is renamed over the target (``os.replace``,
atomic on POSIX and Windows). A crash or Ctrl-C removes the temp file and leaves the target untouched. Files get
the usual permissions (``0o666`` minus the umask), not the ``0o600`` of ``tempfile.mkstemp``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from implicit3d.errors import UserError

if TYPE_CHECKING:
    import trimesh


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (renames, new files) to disk where the OS allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows: folders cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, mode: str = "wb", fsync: bool = False) -> Iterator[IO]:
    """Open a temp file next to ``path`` for writing; on a clean exit it replaces ``path``.

    ``mode`` is ``"wb"`` or ``"w"`` (text, UTF-8). ``fsync=True`` also flushes the data and the folder entry to
    disk (checkpoints); the default leaves that to the OS. Missing parent folders are created.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except FileExistsError as exc:  # a parent is a file
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), exc.filename or str(path)) from None
    except OSError as exc:  # name the target, not the temp file
        if exc.errno is None:
            raise
        raise type(exc)(exc.errno, exc.strerror, str(path)) from None
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as fh:
            yield fh
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None and exc.errno is not None:  # name the target
            raise type(exc)(exc.errno, exc.strerror, str(path)) from None
        raise
    if fsync:
        fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, fsync: bool = False) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_writer`)."""
    with atomic_writer(path, "wb", fsync=fsync) as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike, text: str, fsync: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_writer`)."""
    atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


MESH_FORMATS = {".ply": "ply", ".obj": "obj", ".glb": "glb", ".off": "off", ".stl": "stl"}
#: Mesh files :func:`read_mesh` reads.
MESH_EXTENSIONS = (".obj", ".ply", ".off", ".stl", ".glb", ".gltf")


class MeshFileError(UserError):
    """A mesh file that cannot be used. The message is ``"<path>: <reason>"``; ``path`` and ``reason`` (the
    problem alone, for reports that name the file themselves) are kept as attributes."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


class NoTrianglesError(MeshFileError):
    """A mesh file that holds no triangles (a point cloud saved as PLY or OBJ, an empty file)."""


def read_mesh(path: str | os.PathLike, what: str = "mesh", process: bool = False) -> trimesh.Trimesh:
    """Read the mesh file ``path`` (one of :data:`MESH_EXTENSIONS`) into one ``trimesh.Trimesh``, in the file's
    own units and frame; multi-part scenes are merged with their node transforms applied, materials are skipped.

    ``process=True`` returns the mesh as ``trimesh.load`` does by default, duplicate vertices merged where the
    file's vertex normals and UVs agree (this parses the file twice); ``False`` keeps its vertices and faces as
    they are. ``what`` names the file in messages ("mesh", "ground-truth mesh"...). Raises :class:`MeshFileError`
    (a :class:`UserError`) naming the file when it is missing, has an unsupported extension, cannot be parsed,
    holds no triangles or has NaN or infinite vertex coordinates.
    """
    import trimesh

    path = Path(path)
    if not path.is_file():
        raise MeshFileError(path, f"{what} file not found")
    if path.suffix.lower() not in MESH_EXTENSIONS:
        raise MeshFileError(
            path, f"unsupported {what} format {path.suffix or '(none)'!r}; use {', '.join(MESH_EXTENSIONS)}"
        )
    try:
        mesh = trimesh.load(path, force="mesh", skip_materials=True, process=False)
    except Exception as exc:  # trimesh raises many unrelated types for malformed files
        raise MeshFileError(path, f"cannot read {what}: {type(exc).__name__}: {exc}".strip()) from None
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0 or len(mesh.vertices) == 0:
        raise NoTrianglesError(path, f"the {what} has no triangles")
    if not np.isfinite(mesh.vertices).all():
        raise MeshFileError(path, f"the {what} has NaN or infinite vertex coordinates")
    if process:  # trimesh merges at load time, where the file's vertex normals are still known: parse again
        mesh = trimesh.load(path, force="mesh", skip_materials=True, process=True)
    return mesh


def mesh_format(path: str | os.PathLike) -> str:
    """trimesh export type of an output path; raises :class:`UserError` for an unknown extension."""
    ext = Path(path).suffix.lower()
    if ext not in MESH_FORMATS:
        raise UserError(f"{path}: unknown mesh extension {ext or '(none)'!r}; use one of {', '.join(MESH_FORMATS)}")
    return MESH_FORMATS[ext]


def write_mesh(path: str | os.PathLike, mesh: Any) -> Path:
    """Export a ``trimesh.Trimesh`` by extension (.ply binary, .obj, .glb, .off, .stl), atomically."""
    path = Path(path)
    data = mesh.export(file_type=mesh_format(path))
    atomic_write_bytes(path, data.encode() if isinstance(data, str) else data)
    return path


def ensure_folder(path: str | os.PathLike, what: str = "output") -> Path:
    """Create folder ``path`` (and parents) if needed; :class:`UserError` when it exists as a file."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{what} {str(path)!r} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {what} folder {str(path)!r}: {exc.strerror or exc}") from None
    return path


@contextlib.contextmanager
def folder_kept_only_if_used(path: str | os.PathLike) -> Iterator[Path]:
    """Around work that writes into folder ``path``: if the work fails, the folders it created for ``path`` (``path``
    and its missing parents) are removed again while they are empty, so a failed command leaves no empty output
    folder behind. Files the work wrote are kept (they are whole: writes are atomic)."""
    path = Path(path)
    missing = [p for p in (path, *path.parents) if not p.exists()]
    try:
        yield path
    except BaseException:
        for folder in missing:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty
        raise


def _check_can_create_in(path: Path, what: str) -> None:
    """:class:`UserError` unless a file can be created where ``path`` will be made: in its nearest existing ancestor
    (missing folders below it are created by the writers). Probed with a temp file that is removed at once (the
    permission bits do not tell: root, read-only mounts, immutable folders)."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"{what} {path}: {parent} is a file, not a folder")
            try:
                fd, probe = tempfile.mkstemp(prefix=".implicit3d-write-check.", dir=parent)
            except OSError as exc:
                raise UserError(f"{what} {path}: cannot write in {parent} ({exc.strerror or exc})") from None
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(probe)
            return


def check_output_file(path: str | os.PathLike, what: str = "output") -> Path:
    """Refuse, before any work, an output file path that cannot be written: an existing folder, a path under a
    file, or one in a folder this process cannot write to (:class:`UserError` naming it). Missing parent folders are
    fine: writers create them."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{what} {path}: is a folder, a file name was expected")
    _check_can_create_in(path, what)
    return path


def check_output_folder(path: str | os.PathLike, what: str = "output folder") -> Path:
    """Refuse, before any work, an output folder that cannot be written: an existing file, a path under a file, or a
    folder this process cannot write to (:class:`UserError` naming it). A missing folder is fine (created when the
    results are written)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{what} {path}: is a file, a folder was expected")
    _check_can_create_in(path / "probe", what)
    return path


def read_json_file(path: str | os.PathLike, error: type[Exception] = UserError, max_bytes: int = 64 << 20) -> Any:
    """Parse a JSON file; ``error(message naming the file)`` for unreadable, invalid, hostile (deeply nested,
    huge numbers) or oversized (> ``max_bytes``) content."""
    path = Path(path)
    try:
        if path.stat().st_size > max_bytes:
            raise error(f"{path}: {path.stat().st_size} bytes is too large for a JSON settings file")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not valid JSON (not UTF-8 text: {exc.reason})") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, a JSON file was expected") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise error(f"{path}: not valid JSON (nested too deeply)") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise error(f"{path}: not valid JSON ({exc})") from None
