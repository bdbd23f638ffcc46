import math

import numpy as np
import pytest

from implicit3d.sensing import INTRINSICS_PRESETS, Intrinsics, intrinsics_preset, invert_pose, look_at, sample_views
from implicit3d.sensing.project import project


def _is_rotation(r: np.ndarray) -> bool:
    return np.allclose(r.T @ r, np.eye(3), atol=1e-10) and np.isclose(np.linalg.det(r), 1.0)


def test_from_fov_and_matrix():
    k = Intrinsics.from_fov(60.0, 640, 480)
    f = 240.0 / math.tan(math.radians(30.0))
    assert k.fx == pytest.approx(f) and k.fy == pytest.approx(f)
    assert (k.cx, k.cy) == (319.5, 239.5)
    assert k.fov_y_deg == pytest.approx(60.0)
    np.testing.assert_allclose(k.matrix, [[f, 0, 319.5], [0, f, 239.5], [0, 0, 1]])
    assert k.shape == (480, 640)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fx": -1.0},
        {"fy": 0.0},
        {"width": 0},
        {"height": -5},
        {"width": 10.5},
        {"cx": float("nan")},
    ],
)
def test_intrinsics_validation(kwargs):
    base = {"fx": 500.0, "fy": 500.0, "cx": 10.0, "cy": 10.0, "width": 20, "height": 20}
    with pytest.raises((ValueError, TypeError)):
        Intrinsics(**{**base, **kwargs})


def test_intrinsics_dict_round_trip_and_missing_keys():
    k = Intrinsics(fx=500.5, fy=501.0, cx=320.25, cy=240.75, width=640, height=480)
    d = k.to_dict()
    assert set(d) == {"fx", "fy", "cx", "cy", "width", "height"}
    assert Intrinsics.from_dict(d) == k
    with pytest.raises(ValueError, match="cy"):
        Intrinsics.from_dict({k_: v for k_, v in d.items() if k_ != "cy"})


def test_presets():
    assert {"kinect_v1", "realsense_d435", "realsense_d435_848"} <= set(INTRINSICS_PRESETS)
    kin = intrinsics_preset("kinect_v1")
    assert (kin.width, kin.height, kin.fx) == (640, 480, 525.0)
    assert intrinsics_preset("realsense_d435").fx == pytest.approx(615.0)
    assert intrinsics_preset("realsense_d435_848").width == 848
    with pytest.raises(ValueError, match="kinect_v1"):
        intrinsics_preset("nope")


def test_scaled_keeps_pixel_centres_consistent():
    k = Intrinsics(fx=100.0, fy=100.0, cx=31.5, cy=23.5, width=64, height=48)
    k2 = k.scaled(2.0)
    assert (k2.width, k2.height, k2.cx, k2.cy) == (128, 96, 63.5, 47.5)


def test_look_at_opencv_frame():
    eye, target = np.array([1.0, -0.5, 0.4]), np.array([0.1, 0.2, 0.05])
    pose = look_at(eye, target)
    assert pose.shape == (4, 4) and pose.dtype == np.float64
    assert _is_rotation(pose[:3, :3])
    np.testing.assert_allclose(pose[:3, 3], eye)
    fwd = (target - eye) / np.linalg.norm(target - eye)
    np.testing.assert_allclose(pose[:3, 2], fwd, atol=1e-12)
    # y (down) has a negative component along world up; x is horizontal
    assert pose[2, 1] < 0 and abs(pose[2, 0]) < 1e-12
    k = Intrinsics.from_fov(50.0, 64, 48)
    uv, z = project(np.stack([target, target + [0, 0, 0.1]]), k, invert_pose(pose))
    np.testing.assert_allclose(uv[0], [k.cx, k.cy], atol=1e-9)
    assert uv[1, 1] < k.cy  # a point above the target appears higher in the image
    assert z[0] == pytest.approx(np.linalg.norm(target - eye))


def test_look_at_along_up_and_degenerate():
    pose = look_at([0, 0, 1.0], [0, 0, 0])
    assert _is_rotation(pose[:3, :3])
    np.testing.assert_allclose(pose[:3, 2], [0, 0, -1], atol=1e-12)
    with pytest.raises(ValueError, match="coincide"):
        look_at([1, 2, 3], [1, 2, 3])
    with pytest.raises(ValueError):
        look_at([1, 2], [0, 0, 0])


def test_invert_pose():
    pose = look_at([0.3, 0.4, 0.5], [0, 0, 0])
    np.testing.assert_allclose(invert_pose(pose) @ pose, np.eye(4), atol=1e-12)


@pytest.mark.parametrize("hemisphere", ["upper", "full"])
def test_sample_views(hemisphere):
    target = np.array([0.1, -0.2, 0.3])
    poses = sample_views(400, 7, distance=(0.5, 0.8), hemisphere=hemisphere, target=target)
    assert poses.shape == (400, 4, 4)
    eyes = poses[:, :3, 3]
    dist = np.linalg.norm(eyes - target, axis=1)
    assert dist.min() >= 0.5 - 1e-12 and dist.max() <= 0.8 + 1e-12
    for p in poses:
        assert _is_rotation(p[:3, :3])
        # target lies on the optical axis
        t_cam = p[:3, :3].T @ (target - p[:3, 3])
        np.testing.assert_allclose(t_cam[:2], 0.0, atol=1e-12)
        assert t_cam[2] > 0
    below = (eyes[:, 2] < target[2]).mean()
    if hemisphere == "upper":
        assert below == 0
    else:
        assert 0.4 < below < 0.6  # uniform on the sphere: half below
    np.testing.assert_array_equal(poses, sample_views(400, 7, hemisphere=hemisphere, target=target))


def test_sample_views_elevation_band_uniform_area():
    poses = sample_views(4000, np.random.default_rng(0), distance=1.0, elevation_deg=(10.0, 40.0))
    s = poses[:, 2, 3]  # sin(elevation) at unit distance
    assert s.min() >= math.sin(math.radians(10)) - 1e-12 and s.max() <= math.sin(math.radians(40)) + 1e-12
    # uniform in area <=> sin(elevation) uniform: the mean sits in the middle
    mid = 0.5 * (math.sin(math.radians(10)) + math.sin(math.radians(40)))
    assert abs(s.mean() - mid) < 0.01
    with pytest.raises(ValueError):
        sample_views(3, 0, elevation_deg=(-10.0, 20.0), hemisphere="upper")
    with pytest.raises(ValueError):
        sample_views(3, 0, hemisphere="lower")
    with pytest.raises(ValueError):
        sample_views(3, 0, distance=(0.8, 0.5))
