import numpy as np
import pytest
import trimesh

from implicit3d.geometry.transforms import (
    apply_pose,
    compose,
    denormalize_points,
    invert_pose,
    make_pose,
    normalize_points,
    normalize_to_unit_cube,
    random_rotation,
    rotation_about_z,
)


@pytest.mark.parametrize("padding", [0.0, 0.1, 0.3])
def test_normalize_round_trip(bunny, padding):
    norm, loc, scale = normalize_to_unit_cube(bunny, padding=padding)
    v = norm.vertices
    extent = v.max(0) - v.min(0)
    assert extent.max() == pytest.approx(1.0 - padding, abs=1e-12)
    np.testing.assert_allclose((v.max(0) + v.min(0)) / 2, 0.0, atol=1e-12)
    assert np.all(np.abs(v) <= 0.5 - padding / 2 + 1e-12)
    np.testing.assert_allclose(denormalize_points(v, loc, scale), bunny.vertices, atol=1e-12)
    np.testing.assert_allclose(normalize_points(bunny.vertices, loc, scale), v, atol=1e-12)
    # documented formula: normalized = (world - loc) / scale, scale = longest edge / (1 - padding)
    world_extent = bunny.vertices.max(0) - bunny.vertices.min(0)
    assert scale == pytest.approx(world_extent.max() / (1 - padding))
    np.testing.assert_array_equal(norm.faces, bunny.faces)
    # the input mesh is untouched
    assert not np.allclose(bunny.vertices, v)


def test_normalize_rejects_bad_input():
    with pytest.raises(ValueError, match="padding"):
        normalize_to_unit_cube(trimesh.creation.box(), padding=1.0)
    flat = trimesh.Trimesh(np.zeros((3, 3)), [[0, 1, 2]], process=False)
    with pytest.raises(ValueError, match="degenerate"):
        normalize_to_unit_cube(flat)


@pytest.mark.parametrize("mode", ["so3", "yaw"])
def test_random_rotation_is_rotation(mode):
    rng = np.random.default_rng(0)
    for _ in range(50):
        r = random_rotation(rng, mode)
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(r) == pytest.approx(1.0)
        if mode == "yaw":
            np.testing.assert_allclose(r @ [0, 0, 1.0], [0, 0, 1.0], atol=1e-12)


def test_so3_is_haar_uniform():
    # Haar measure: E[trace R] = 0, E[R] = 0 and the rotation angle has density (1 - cos t) / pi.
    rng = np.random.default_rng(1)
    rs = np.stack([random_rotation(rng, "so3") for _ in range(20000)])
    tr = np.trace(rs, axis1=1, axis2=2)
    assert abs(tr.mean()) < 0.04  # se ~ 0.007
    np.testing.assert_allclose(rs.mean(0), 0.0, atol=0.03)
    angle = np.arccos(np.clip((tr - 1) / 2, -1, 1))
    # P(angle < pi/2) = (pi/2 - 1) / pi ~ 0.1817
    assert np.mean(angle < np.pi / 2) == pytest.approx((np.pi / 2 - 1) / np.pi, abs=0.015)


def test_yaw_angle_uniform_and_seeded():
    rng = np.random.default_rng(2)
    angles = np.array([np.arctan2(r[1, 0], r[0, 0]) for r in (random_rotation(rng, "yaw") for _ in range(4000))])
    hist, _ = np.histogram(angles, bins=8, range=(-np.pi, np.pi))
    assert hist.min() > 400 and hist.max() < 600
    np.testing.assert_array_equal(random_rotation(5, "so3"), random_rotation(5, "so3"))
    np.testing.assert_array_equal(random_rotation(None, "none"), np.eye(3))
    with pytest.raises(ValueError, match="mode"):
        random_rotation(0, "pitch")


def test_rotation_about_z_direction():
    np.testing.assert_allclose(rotation_about_z(np.pi / 2) @ [1.0, 0, 0], [0, 1.0, 0], atol=1e-15)


def test_pose_algebra():
    rng = np.random.default_rng(3)
    a = make_pose(random_rotation(rng), rng.normal(size=3))
    b = make_pose(random_rotation(rng), rng.normal(size=3))
    x = rng.normal(size=(10, 3))
    np.testing.assert_allclose(apply_pose(compose(a, b), x), apply_pose(a, apply_pose(b, x)), atol=1e-12)
    np.testing.assert_allclose(compose(a, invert_pose(a)), np.eye(4), atol=1e-12)
    np.testing.assert_allclose(apply_pose(invert_pose(a), apply_pose(a, x)), x, atol=1e-12)
    # slow reference: homogeneous coordinates
    ref = (a @ np.c_[x, np.ones(10)].T).T[:, :3]
    np.testing.assert_allclose(apply_pose(a, x), ref, atol=1e-12)
    np.testing.assert_array_equal(compose(), np.eye(4))
    with pytest.raises(ValueError, match="4, 4"):
        apply_pose(np.eye(3), x)
    with pytest.raises(ValueError, match="rotation"):
        make_pose(np.eye(4))


def test_visible_box_params_frames_the_observed_box_robustly() -> None:
    from implicit3d.geometry.transforms import visible_box_params

    rng = np.random.default_rng(0)
    pts = rng.uniform([-1.0, 0.0, 2.0], [1.0, 0.5, 2.25], (20_000, 3))
    loc, scale = visible_box_params(pts, extent=0.5, quantile=0.0)
    np.testing.assert_allclose(loc, [0.0, 0.25, 2.125], atol=1e-3)
    np.testing.assert_allclose(scale, 2.0 / 0.5, rtol=1e-3)  # longest edge 2 -> 0.5
    # a few flying pixels far away move the plain box but not the trimmed one
    noisy = np.concatenate([pts, [[30.0, 0.0, 2.0], [0.0, -9.0, 2.0]]])
    loc_q, scale_q = visible_box_params(noisy, extent=0.5)
    np.testing.assert_allclose(loc_q, loc, atol=0.02)
    np.testing.assert_allclose(scale_q, scale, rtol=0.02)
    assert visible_box_params(noisy, extent=0.5, quantile=0.0)[1] > 50
    with pytest.raises(ValueError, match="extent"):
        visible_box_params(pts, extent=1.5)
    with pytest.raises(ValueError, match="degenerate"):
        visible_box_params(np.ones((10, 3)))


def test_visible_box_footprint_depth_leaves_room_behind_a_shallow_view() -> None:
    from implicit3d.geometry.transforms import visible_box_params

    rng = np.random.default_rng(1)
    # a can seen end-on: a disc 6 cm wide, 2 mm deep, 0.6 m in front of the sensor (which looks along +z)
    r = 0.03 * np.sqrt(rng.uniform(0, 1, 5000))
    a = rng.uniform(0, 2 * np.pi, 5000)
    disc = np.stack([r * np.cos(a), r * np.sin(a), 0.6 + rng.uniform(0, 0.002, 5000)], axis=1)
    loc_o, scale_o = visible_box_params(disc, 0.7, quantile=0.0)
    loc_f, scale_f = visible_box_params(disc, 0.7, quantile=0.0, depth="footprint")
    assert scale_f == scale_o and np.allclose(loc_f[:2], loc_o[:2])
    front = (disc[:, 2].min() - loc_f[2]) / scale_f
    assert abs(front - (-0.35)) < 0.01  # as deep as wide: the front lies half the box ahead of the centre
    assert abs((disc[:, 2].min() - loc_o[2]) / scale_o) < 0.02  # the observed box: the front at the centre
    # a view already as deep as it is wide keeps its box
    blob = rng.uniform([-0.02, -0.03, 0.5], [0.02, 0.03, 0.56], (5000, 3))
    np.testing.assert_allclose(visible_box_params(blob, depth="footprint")[0], visible_box_params(blob)[0])
    with pytest.raises(ValueError, match="depth"):
        visible_box_params(blob, depth="deep")


def test_rotation_to_direction_and_view_rotation() -> None:
    from implicit3d.geometry.transforms import rotation_to_direction, view_rotation

    rng = np.random.default_rng(3)
    for d in [*rng.normal(size=(5, 3)), [0, 0, -2.0], [0, 0, 1.0], [1e-9, 0, -1.0]]:
        r = rotation_to_direction(d)
        np.testing.assert_allclose(r @ (np.asarray(d) / np.linalg.norm(d)), [0, 0, 1], atol=1e-7)
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(r) == pytest.approx(1.0)
    np.testing.assert_allclose(rotation_to_direction([0, 0, -1]), np.diag([1.0, -1.0, -1.0]))  # half turn about x
    pts = rng.normal(size=(100, 3)) * 0.1 + [0.3, -0.2, 1.0]
    r = view_rotation(pts, np.zeros(3))
    d = r @ pts.mean(axis=0)
    np.testing.assert_allclose(d / np.linalg.norm(d), [0, 0, 1], atol=1e-12)
    with pytest.raises(ValueError, match="non-zero"):
        rotation_to_direction([0, 0, 0])


def test_stable_rotations_rest_a_box_on_its_faces() -> None:
    from implicit3d.geometry.transforms import resting_rotation, stable_rotations

    box = trimesh.creation.box((0.1, 0.2, 0.4))
    rotations, probs = stable_rotations(box)
    assert len(rotations) == 6 and probs.sum() == pytest.approx(1.0) and np.all(np.diff(probs) <= 1e-12)
    for r in rotations:
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-9)
        v = box.vertices @ r.T
        assert np.sum(np.isclose(v[:, 2], v[:, 2].min(), atol=1e-9)) == 4  # one whole face on the table
    # the likeliest rest is on a large face: the smallest dimension ends up vertical
    assert np.ptp(box.vertices @ rotations[0].T, axis=0)[2] == pytest.approx(0.1)
    rng = np.random.default_rng(0)
    heights = [np.ptp(box.vertices @ resting_rotation(rng, (rotations, probs)).T, axis=0)[2] for _ in range(200)]
    assert 0.3 < np.mean(np.isclose(heights, 0.4)) < 0.75  # upright (as modelled) about half of the time
