"""Back-projection and projection; also the depth PNG / intrinsics JSON files of ``implicit3d.sensing.io``."""

import json
import os

import numpy as np
import pytest
import trimesh
from PIL import Image

from implicit3d.sensing import (
    Intrinsics,
    SensingFileError,
    depth_to_points,
    invert_pose,
    look_at,
    points_to_depth,
    project,
    read_depth_png,
    read_intrinsics_json,
    render_depth,
    write_depth_png,
    write_intrinsics_json,
)

K = Intrinsics(fx=150.0, fy=140.0, cx=49.5, cy=37.5, width=100, height=75)


def _reference_back_projection(depth: np.ndarray, k: Intrinsics) -> np.ndarray:
    """Obvious per-pixel loop (small images only)."""
    out = []
    for v in range(depth.shape[0]):
        for u in range(depth.shape[1]):
            z = float(depth[v, u])
            if z > 0:
                out.append([(u - k.cx) * z / k.fx, (v - k.cy) * z / k.fy, z])
    return np.array(out).reshape(-1, 3)


def test_depth_to_points_matches_reference_loop():
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.3, 2.0, (K.height, K.width))
    depth[rng.random(depth.shape) < 0.3] = 0.0
    pts = depth_to_points(depth, K)
    assert pts.dtype == np.float64
    np.testing.assert_allclose(pts, _reference_back_projection(depth, K), rtol=1e-12)
    pts32 = depth_to_points(depth.astype(np.float32), K)
    assert pts32.dtype == np.float32 and pts32.shape == pts.shape
    mask = np.zeros(depth.shape, bool)
    mask[10:20] = True
    assert len(depth_to_points(depth, K, mask=mask)) == ((depth > 0) & mask).sum()


def test_world_frame_and_projection_round_trip():
    rng = np.random.default_rng(1)
    depth = rng.uniform(0.5, 1.5, (K.height, K.width))
    pose = look_at([0.4, -0.3, 0.5], [0, 0, 0.1])
    cam, pix = depth_to_points(depth, K, return_pixels=True)
    world = depth_to_points(depth, K, pose)
    np.testing.assert_allclose(world, cam @ pose[:3, :3].T + pose[:3, 3], atol=1e-12)
    uv, z = project(world, K, invert_pose(pose))
    np.testing.assert_allclose(uv, pix[:, ::-1].astype(float), atol=1e-8)  # pixel centres at integers
    np.testing.assert_allclose(z, depth.ravel(), rtol=1e-12)
    np.testing.assert_allclose(points_to_depth(cam, K), depth, rtol=1e-6)


def test_points_to_depth_keeps_nearest_and_drops_outside():
    pts = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 0.5], [0.0, 0.0, 2.0], [10.0, 0.0, 1.0], [0.0, 0.0, -1.0]])
    k = Intrinsics(fx=10.0, fy=10.0, cx=2.0, cy=2.0, width=5, height=5)
    d = points_to_depth(pts, k)
    assert d.dtype == np.float32 and d[2, 2] == 0.5 and (d > 0).sum() == 1
    uv, _ = project(pts, k)
    assert np.isnan(uv[4]).all()


def test_bad_inputs():
    with pytest.raises(ValueError, match="match"):
        depth_to_points(np.ones((10, 10)), K)
    with pytest.raises(ValueError, match="H, W"):
        depth_to_points(np.ones(10), K)
    with pytest.raises(ValueError, match="4, 4"):
        depth_to_points(np.ones((K.height, K.width)), K, np.eye(3))
    with pytest.raises(ValueError, match="mask"):
        depth_to_points(np.ones((K.height, K.width)), K, mask=np.ones((3, 3), bool))


def test_noise_free_back_projection_lands_on_surface(bunny):
    m = bunny.copy()
    m.apply_translation(-m.bounds.mean(axis=0))
    m.apply_scale(0.1)
    k = Intrinsics.from_fov(45.0, 160, 120)
    for eye in ([0.35, 0.2, 0.15], [-0.2, -0.4, -0.1]):
        pose = look_at(eye, [0, 0, 0])
        pts = depth_to_points(render_depth(m, k, pose), k, pose)
        assert len(pts) > 500
        dist = trimesh.proximity.closest_point(m, pts.astype(np.float64))[1]
        assert dist.max() < 1e-4


# ---------------------------------------------------------------- files


def test_depth_png_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    depth = rng.uniform(0.2, 6.0, (48, 64)).astype(np.float32)
    depth[rng.random(depth.shape) < 0.2] = 0.0
    depth[0, 0] = np.nan
    path = tmp_path / "sub" / "d.png"
    write_depth_png(path, depth)
    back = read_depth_png(path)
    assert back.dtype == np.float32 and back.shape == depth.shape
    expected = np.nan_to_num(depth)
    assert np.abs(back - expected).max() <= 0.0005 + 1e-6  # exact to the millimetre
    assert ((back == 0) == (expected == 0)).all()
    with Image.open(path) as img:
        assert img.mode.startswith("I;16")
        assert np.array(img)[3, 5] == round(float(expected[3, 5]) * 1000)
    assert sorted(os.listdir(path.parent)) == ["d.png"]  # no temp files left behind
    write_depth_png(path, np.full((4, 4), 1.2346))  # overwrite in place
    assert read_depth_png(path).shape == (4, 4) and read_depth_png(path)[0, 0] == np.float32(1.235)


def test_depth_png_errors(tmp_path):
    with pytest.raises(ValueError, match="overflows"):
        write_depth_png(tmp_path / "x.png", np.full((2, 2), 70.0))
    with pytest.raises(ValueError, match="negative"):
        write_depth_png(tmp_path / "x.png", -np.ones((2, 2)))
    missing = tmp_path / "missing.png"
    with pytest.raises(FileNotFoundError, match="missing.png"):
        read_depth_png(missing)
    with pytest.raises(ValueError, match="missing.png"):
        read_depth_png(missing)
    rgb = tmp_path / "rgb.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(rgb)
    with pytest.raises(ValueError, match=r"rgb\.png.*16-bit"):
        read_depth_png(rgb)
    eight = tmp_path / "eight.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(eight)
    with pytest.raises(SensingFileError, match="eight.png"):
        read_depth_png(eight)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a png")
    with pytest.raises(ValueError, match="junk.png"):
        read_depth_png(junk)


def test_intrinsics_json_round_trip_and_errors(tmp_path):
    k = Intrinsics(fx=615.25, fy=614.5, cx=320.125, cy=239.875, width=640, height=480)
    path = tmp_path / "intr.json"
    write_intrinsics_json(path, k)
    assert json.loads(path.read_text()) == k.to_dict()
    assert read_intrinsics_json(path) == k
    kjson = tmp_path / "k.json"
    kjson.write_text(json.dumps({"K": k.matrix.tolist(), "width": 640, "height": 480}))
    assert read_intrinsics_json(kjson) == k
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"fx": 1.0, "fy": 1.0, "cx": 0.0, "width": 3}))
    with pytest.raises(ValueError, match=r"bad\.json.*cy.*height|bad\.json.*height"):
        read_intrinsics_json(bad)
    broken = tmp_path / "broken.json"
    broken.write_text("{fx: ")
    with pytest.raises(ValueError, match="broken.json.*JSON"):
        read_intrinsics_json(broken)
    neg = tmp_path / "neg.json"
    neg.write_text(json.dumps({**k.to_dict(), "fx": -3}))
    with pytest.raises(ValueError, match="neg.json"):
        read_intrinsics_json(neg)
    with pytest.raises(FileNotFoundError, match="nothere.json"):
        read_intrinsics_json(tmp_path / "nothere.json")
