import hashlib
import time

import numpy as np
import pytest

from implicit3d.data import formats


def test_npz_readable_by_numpy_and_ordered(tmp_path):
    arrays = {"b": np.arange(5, dtype=np.int16), "a": np.eye(3, dtype=np.float32), "s": np.asarray(2.5)}
    formats.save_npz(tmp_path / "x.npz", arrays)
    with np.load(tmp_path / "x.npz") as z:
        assert z.files == ["b", "a", "s"]
        for k, v in arrays.items():
            np.testing.assert_array_equal(z[k], v)
            assert z[k].dtype == v.dtype
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write leaves no temp file


def test_npz_bytes_deterministic_across_time():
    arrays = {"p": np.random.default_rng(0).normal(size=(100, 3)).astype(np.float16)}
    a = formats.npz_bytes(arrays)
    time.sleep(2.1)  # zip timestamps have 2 s resolution: numpy.savez would differ here
    b = formats.npz_bytes(arrays)
    assert hashlib.sha256(a).digest() == hashlib.sha256(b).digest()
    assert formats.npz_bytes(arrays, compress=True) == formats.npz_bytes(arrays, compress=True)


def test_points_npz_occnet_layout(tmp_path):
    rng = np.random.default_rng(1)
    pts = rng.uniform(-0.5, 0.5, (1001, 3))
    occ = rng.random(1001) < 0.3
    sdf = rng.normal(size=1001)
    formats.write_points_npz(tmp_path / "points.npz", pts, occ, [1, 2, 3], 0.25, sdf=sdf)
    with np.load(tmp_path / "points.npz") as z:  # what OccNet's loader sees
        assert z["points"].dtype == np.float16 and z["points"].shape == (1001, 3)
        assert z["occupancies"].dtype == np.uint8 and z["occupancies"].shape == (126,)
        np.testing.assert_array_equal(np.unpackbits(z["occupancies"])[:1001].astype(bool), occ)
        assert z["scale"].shape == () and float(z["scale"]) == 0.25
    d = formats.read_points_npz(tmp_path / "points.npz")
    np.testing.assert_array_equal(d["occupancies"], occ)
    np.testing.assert_allclose(d["points"], pts, atol=2.5e-4)
    np.testing.assert_allclose(d["sdf"], sdf, rtol=1e-3, atol=1e-4)
    np.testing.assert_array_equal(d["loc"], [1, 2, 3])


def test_points_npz_reads_unpacked_occupancies(tmp_path):
    np.savez(tmp_path / "p.npz", points=np.zeros((10, 3), np.float16), occupancies=np.ones(10, np.uint8))
    d = formats.read_points_npz(tmp_path / "p.npz")
    assert d["occupancies"].dtype == bool and d["occupancies"].all()
    np.savez(tmp_path / "q.npz", foo=np.zeros(3))
    with pytest.raises(ValueError, match="not a points file"):
        formats.read_points_npz(tmp_path / "q.npz")


def test_pointcloud_roundtrip(tmp_path):
    pts = np.random.default_rng(2).normal(size=(50, 3)) * 0.3
    nrm = pts / np.linalg.norm(pts, axis=1, keepdims=True)
    formats.write_pointcloud_npz(tmp_path / "pc.npz", pts, nrm, np.zeros(3), 1.0)
    d = formats.read_pointcloud_npz(tmp_path / "pc.npz")
    assert d["points"].dtype == np.float32
    np.testing.assert_allclose(d["normals"], nrm, atol=1e-3)
    with pytest.raises(ValueError, match="both be"):
        formats.write_pointcloud_npz(tmp_path / "bad.npz", pts, nrm[:3], np.zeros(3), 1.0)


def test_depth_png_roundtrip(tmp_path):
    depth = np.zeros((4, 5), np.float32)
    depth[1, 2], depth[3, 4] = 0.5004, 0.7996
    formats.write_depth_png(tmp_path / "d.png", depth)
    formats.write_depth_png(tmp_path / "e.png", depth)
    data = (tmp_path / "d.png").read_bytes()
    assert data == (tmp_path / "e.png").read_bytes() and b"tIME" not in data
    back = formats.read_depth_png(tmp_path / "d.png")
    assert back.shape == (4, 5) and back.dtype == np.float32
    assert back[1, 2] == pytest.approx(0.500) and back[3, 4] == pytest.approx(0.800) and back[0, 0] == 0


def test_ply_readable_by_trimesh(tmp_path):
    import trimesh

    box = trimesh.creation.box()
    (tmp_path / "m.ply").write_bytes(formats.ply_bytes(box.vertices, box.faces))
    m = trimesh.load(tmp_path / "m.ply", process=False)
    np.testing.assert_allclose(m.vertices, box.vertices, atol=1e-7)
    np.testing.assert_array_equal(m.faces, box.faces)


def test_json_deterministic(tmp_path):
    a = formats.json_bytes({"b": np.float64(1.5), "a": np.arange(3)})
    assert a == b'{\n  "a": [\n    0,\n    1,\n    2\n  ],\n  "b": 1.5\n}\n'
    with pytest.raises(FileNotFoundError, match="split file"):
        formats.read_split(tmp_path, "train")
