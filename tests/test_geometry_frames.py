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
    vis = InputContract(pose="camera", normalize="visible").dataset_frame(pts, rot)
    loc, scale = visible_box_params(pts @ rot.T, 0.7)
    np.testing.assert_allclose(vis.to_model(pts), (pts @ rot.T - loc) / scale)
    with pytest.raises(ValueError, match="degenerate|empty"):
        frames.ModelFrame.fit(np.zeros((5, 3)), normalize="visible")
