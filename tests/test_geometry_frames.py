"""The model-input frame (geometry/frames.py): one subsampling rule, one model cube, one logit threshold, frames
that round-trip and agree between training, dataset inference and completion."""

from __future__ import annotations

import math

import numpy as np
import pytest

from implicit3d.geometry import frames
from implicit3d.geometry.transforms import visible_box_params


def test_subsample_rule() -> None:
    rng = np.random.default_rng(0)
    idx = frames.subsample_indices(rng, 100, 10)
    assert len(idx) == 10 and len(set(idx.tolist())) == 10 and np.all(np.diff(idx) > 0)  # distinct, in order
    np.testing.assert_array_equal(frames.subsample_indices(rng, 7, 10), np.arange(7))  # fewer: all of them
    np.testing.assert_array_equal(frames.subsample_indices(rng, 7, None), np.arange(7))
    filled = frames.subsample_indices(rng, 7, 10, fill=True)  # training batches need exactly n
    assert len(filled) == 10 and filled.min() >= 0 and filled.max() < 7
    perm = frames.subsample_indices(rng, 10, 10, fill=True)
    assert sorted(perm.tolist()) == list(range(10))
    # the same seed draws the same points, whatever the points are
    a = frames.subsample(np.arange(300.0).reshape(100, 3), 5, 3)
    b = frames.subsample(np.arange(300.0).reshape(100, 3) * 2, 5, 3)
    np.testing.assert_array_equal(2 * a, b)
    with pytest.raises(ValueError, match="empty"):
        frames.subsample_indices(rng, 0, 5)


def test_one_model_cube_and_threshold() -> None:
    from implicit3d.evaluation.metrics import IOU_BOUNDS
    from implicit3d.extraction.dense import DEFAULT_BOUNDS
    from implicit3d.models.sampling import half_extent

    assert frames.MODEL_HALF_EXTENT == pytest.approx(0.55) == half_extent(frames.DEFAULT_PADDING)
    assert np.allclose(DEFAULT_BOUNDS, [[-0.55] * 3, [0.55] * 3]) and np.allclose(IOU_BOUNDS, DEFAULT_BOUNDS)
    assert frames.probability_to_logit(0.5) == 0.0
    assert frames.probability_to_logit(0.9) == pytest.approx(math.log(9.0))
    with pytest.raises(ValueError, match="probability"):
        frames.probability_to_logit(1.0)


def _view(n: int = 2000, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = rng.uniform(np.pi, 2 * np.pi, n)
    return np.stack([0.05 * np.cos(t), rng.uniform(-0.1, 0.1, n), 0.7 + 0.05 * np.sin(t)], axis=1)


@pytest.mark.parametrize("pose, normalize", [("camera", "visible"), ("yaw", "object"), ("canonical", "visible")])
def test_frames_round_trip(pose: str, normalize: str) -> None:
    pts = _view()
    f = frames.observation_frame(pts, pose=pose, normalize=normalize, up="-y", viewpoint=np.zeros(3))
    np.testing.assert_allclose(f.rotation @ f.rotation.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(f.to_input(f.to_model(pts)), pts, atol=1e-12)
    norm = f.to_model(pts)
    if normalize == "visible":  # the training frame: the observed box, centred, longest edge 0.7
        loc, scale = visible_box_params(pts @ f.rotation.T, 0.7)
        np.testing.assert_allclose(f.loc, loc)
        assert f.scale == pytest.approx(scale)
    else:  # the estimated whole-object box fits inside the unit cube with the padding's margin
        assert np.abs(norm).max() <= 0.45 + 1e-9
    # a turned copy of the same box: the cloud turns about the frame's z axis
    t = f.turned(np.pi / 2)
    rz = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(t.to_model(pts), norm @ rz.T, atol=1e-12)


def test_camera_frame_looks_along_z_and_ignores_up() -> None:
    pts = _view()
    a = frames.observation_frame(pts, pose="camera", normalize="visible", up="z")
    b = frames.observation_frame(pts, pose="camera", normalize="visible", up="-y")
    np.testing.assert_allclose(a.rotation, b.rotation)
    eye = a.to_model(np.zeros((1, 3)))[0]
    d = a.to_model(pts).mean(axis=0) - eye
    np.testing.assert_allclose(d / np.linalg.norm(d), [0, 0, 1], atol=1e-9)


def test_dataset_frame_is_the_stored_frame_for_object_models() -> None:
    from implicit3d.data.contract import InputContract

    pts = np.random.default_rng(0).uniform(-0.4, 0.4, (500, 3))
    obj = InputContract(pose="yaw", normalize="object").dataset_frame(pts)
    np.testing.assert_array_equal(obj.to_model(pts), pts)
    rot = frames.rotation_to_z([0.0, -1.0, 0.0])
    vis = InputContract(pose="camera", normalize="visible").dataset_frame(pts, {"camera": rot})
    loc, scale = visible_box_params(pts @ rot.T, 0.7)
    np.testing.assert_allclose(vis.to_model(pts), (pts @ rot.T - loc) / scale)
    with pytest.raises(ValueError, match="degenerate|empty"):
        frames.ModelFrame.fit(np.zeros((5, 3)), normalize="visible")


def test_gravity_frame_puts_up_on_z_and_the_sensor_towards_minus_y() -> None:
    pts = _view()
    up = np.array([0.0, -0.8, -0.6])  # a camera looking down at a table
    r = frames.gravity_rotation(pts, up, np.zeros(3))
    np.testing.assert_allclose(r @ (up / np.linalg.norm(up)), [0, 0, 1], atol=1e-12)
    sight = r @ (pts.mean(axis=0) - 0.0)
    assert abs(sight[0]) < 1e-12 and sight[1] > 0  # horizontal line of sight along +y
    f = frames.observation_frame(pts, pose="gravity", normalize="visible", up=up)
    np.testing.assert_allclose(f.rotation, r)


def test_gravity_frame_of_a_dataset_view_is_the_one_built_from_its_depth_image() -> None:
    from implicit3d import shapes
    from implicit3d.data.prepare import PrepareConfig, render_views
    from implicit3d.geometry.transforms import normalize_to_unit_cube

    cfg = PrepareConfig(n_views=3, view_pose="stable", image_size=(160, 120), focal=(100.0, 100.0),
                        camera_distance=(0.4, 1.2), elevation_deg=(20, 80))
    mesh_n, _, _ = normalize_to_unit_cube(shapes.generate("bottle", 3).mesh)
    views = render_views(mesh_n, 0.2, cfg, np.random.default_rng(0))
    for k in range(3):
        cloud = views["clouds"][k].astype(np.float64)
        cam, obj, s = views["cam_to_world"][k], views["object_pose"][k], float(views["object_scale"][k])
        train = frames.ModelFrame.fit(cloud, frames.dataset_gravity_rotation(cloud, cam, obj, s), normalize="visible")
        cam_points = ((s * cloud) @ obj[:3, :3].T - cam[:3, 3]) @ cam[:3, :3]  # the depth image's camera frame
        up_in_camera = cam[:3, :3].T @ np.array([0.0, 0.0, 1.0])  # what a support plane's normal gives
        seen = frames.observation_frame(cam_points, pose="gravity", normalize="visible", up=up_in_camera)
        np.testing.assert_allclose(seen.to_model(cam_points), train.to_model(cloud), atol=1e-9)


def test_subsampling_a_very_large_cloud_draws_distinct_points() -> None:
    idx = frames.subsample_indices(np.random.default_rng(0), 20_000_000, 200_000)  # without permuting all 20M
    assert len(idx) == 200_000 == len(np.unique(idx)) and np.all(np.diff(idx) > 0) and idx.max() < 20_000_000
