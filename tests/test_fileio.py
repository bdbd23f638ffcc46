import os
import stat

import pytest

from implicit3d.fileio import atomic_write_bytes, atomic_write_text, atomic_writer


def test_writes_replace_and_use_normal_permissions(tmp_path):
    target = tmp_path / "sub" / "file.txt"
    atomic_write_text(target, "old")
    atomic_write_bytes(target, b"new", fsync=True)
    assert target.read_bytes() == b"new"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    assert [p.name for p in target.parent.iterdir()] == ["file.txt"]


def test_failure_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "file.bin"
    target.write_bytes(b"complete")
    with pytest.raises(RuntimeError), atomic_writer(target) as fh:
        fh.write(b"half")
        raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"complete"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]


def test_bad_mode():
    with pytest.raises(ValueError, match="mode"), atomic_writer("x", "a"):
        pass


def test_ensure_folder(tmp_path):
    from implicit3d.errors import UserError
    from implicit3d.fileio import ensure_folder

    assert ensure_folder(tmp_path / "a" / "b").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="exists and is not a folder"):
        ensure_folder(tmp_path / "file")


def test_atomic_write_errors_name_the_target(tmp_path, monkeypatch) -> None:
    import errno
    import os

    from implicit3d import fileio

    target = tmp_path / "out.bin"
    real = os.fdopen

    class Full:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio.os, "fdopen", lambda fd, *a, **k: Full(real(fd, *a, **k)))
    with pytest.raises(OSError) as info:
        fileio.atomic_write_bytes(target, b"x")
    monkeypatch.undo()
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []  # no partial file, no temp file
    (tmp_path / "dir.bin").mkdir()
    with pytest.raises(IsADirectoryError):
        fileio.atomic_write_bytes(tmp_path / "dir.bin", b"x")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        fileio.atomic_write_bytes(tmp_path / "file" / "out.bin", b"x")
