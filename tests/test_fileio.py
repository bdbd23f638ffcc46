import os
import stat

import numpy as np
import pytest
import trimesh

from disk_full import full_disk_fdopen
from implicit3d.errors import UserError
from implicit3d.fileio import MeshFileError, atomic_write_bytes, atomic_write_text, atomic_writer, read_mesh


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


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("missing.obj", None, "mesh file not found"),
        ("notes.txt", "v 0 0 0\n", "unsupported mesh format '.txt'"),
        ("garbage.ply", b"ply\nformat nonsense\n\x00\x01", "cannot read mesh"),
        ("empty.obj", "# nothing here\n", "has no triangles"),
        ("points.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\n", "has no triangles"),
        ("nan.obj", "v 0 0 0\nv nan 0 0\nv 0 1 0\nv 1 1 1\nf 1 2 3\nf 1 3 4\n", "NaN or infinite"),
    ],
)
def test_read_mesh_names_the_file_and_the_problem(tmp_path, name, content, reason):
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content)
    elif content is not None:
        path.write_bytes(content)
    for process in (False, True):  # trimesh alone would drop the NaN face silently when processing
        with pytest.raises(MeshFileError) as exc:
            read_mesh(path, process=process)
        assert isinstance(exc.value, UserError)
        assert str(exc.value).startswith(f"{path}: ") and reason in str(exc.value)
        assert exc.value.reason in str(exc.value) and str(path) not in exc.value.reason
    with pytest.raises(MeshFileError, match="ground-truth mesh"):
        read_mesh(tmp_path / "missing.obj", "ground-truth mesh")


def test_read_mesh_scene_merged_and_processing_as_trimesh(tmp_path):
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.creation.box((1, 1, 1)), node_name="a")
    moved = trimesh.transformations.translation_matrix([3, 0, 0])
    scene.add_geometry(trimesh.creation.icosphere(), node_name="b", transform=moved)
    scene.export(tmp_path / "two.glb")
    trimesh.creation.box((1, 2, 3)).export(tmp_path / "box.stl")  # STL: three vertices per face until merged
    for name in ("two.glb", "box.stl"):
        raw = read_mesh(tmp_path / name)
        merged = read_mesh(tmp_path / name, process=True)
        ref = trimesh.load(tmp_path / name, force="mesh", skip_materials=True)
        assert type(raw) is trimesh.Trimesh
        np.testing.assert_array_equal(merged.vertices, ref.vertices)
        np.testing.assert_array_equal(merged.faces, ref.faces)
        np.testing.assert_allclose(raw.bounds, merged.bounds)
    assert len(read_mesh(tmp_path / "box.stl").vertices) == 36  # unprocessed: the file's own vertices
    assert len(read_mesh(tmp_path / "box.stl", process=True).vertices) == 8
    np.testing.assert_allclose(read_mesh(tmp_path / "two.glb").bounds, [[-0.5, -1.0, -1.0], [4.0, 1.0, 1.0]])


def test_atomic_write_errors_name_the_target(tmp_path, monkeypatch) -> None:
    import errno

    from implicit3d import fileio

    target = tmp_path / "out.bin"
    monkeypatch.setattr(fileio.os, "fdopen", full_disk_fdopen())
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


def _refuse_mkstemp(monkeypatch, folder) -> None:
    """Make creating files in ``folder`` fail as in a read-only or immutable folder (root ignores permission bits)."""
    import errno
    import tempfile

    real = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):  # noqa: A002 - tempfile's own name
        if dir is not None and os.path.samefile(dir, folder):
            name = os.path.join(dir, ".x.tmp")
            raise PermissionError(errno.EPERM, os.strerror(errno.EPERM), name)
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


def test_outputs_in_a_folder_that_refuses_writes_are_refused_before_work(tmp_path, monkeypatch) -> None:
    from implicit3d import fileio

    locked = tmp_path / "locked"
    locked.mkdir()
    _refuse_mkstemp(monkeypatch, locked)
    with pytest.raises(UserError, match=r"-o .*locked/a\.ply: cannot write in .*locked"):
        fileio.check_output_file(locked / "a.ply", "-o")
    with pytest.raises(UserError, match=r"cannot write in .*locked"):
        fileio.check_output_folder(locked / "new" / "deeper", "-o")  # the missing folders would go there
    with pytest.raises(UserError, match="is a file, a folder was expected"):
        (tmp_path / "f").write_text("x")
        fileio.check_output_folder(tmp_path / "f")
    assert fileio.check_output_folder(tmp_path / "fresh" / "out") == tmp_path / "fresh" / "out"
    assert not (tmp_path / "fresh").exists()  # checking creates nothing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f", "locked"]
    # a write that fails there names the target, not the hidden temp file
    with pytest.raises(PermissionError) as info:
        fileio.atomic_write_bytes(locked / "a.ply", b"x")
    assert info.value.filename == str(locked / "a.ply")


def test_read_mesh_takes_a_text_mesh_that_is_not_utf8(tmp_path):
    """An OBJ with a Latin-1 comment (trimesh needs charset-normalizer to decode it: a dependency)."""
    box = trimesh.creation.box()
    text = "# mod\xe8le caf\xe9\n" + box.export(file_type="obj")
    (tmp_path / "box.obj").write_bytes(text.encode("latin-1"))
    mesh = read_mesh(tmp_path / "box.obj")
    assert len(mesh.faces) == 12 and mesh.volume == pytest.approx(1.0)


def test_a_failed_command_leaves_no_empty_output_folder(tmp_path):
    from implicit3d.fileio import folder_kept_only_if_used

    out = tmp_path / "a" / "b"
    with pytest.raises(RuntimeError), folder_kept_only_if_used(out):
        out.mkdir(parents=True)
        raise RuntimeError("failed before writing anything")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError), folder_kept_only_if_used(out):
        out.mkdir(parents=True)
        (out / "done.txt").write_text("a whole file")
        raise RuntimeError("failed after one file")
    assert (out / "done.txt").exists()  # what was written stays
    kept = tmp_path / "kept"
    kept.mkdir()
    with pytest.raises(RuntimeError), folder_kept_only_if_used(kept):
        raise RuntimeError("an existing folder is the user's")
    assert kept.is_dir()
