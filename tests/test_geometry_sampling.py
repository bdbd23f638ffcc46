import numpy as np
import pytest
import trimesh

from implicit3d.geometry.sampling import sample_near_surface, sample_surface, sample_uniform, split_count


@pytest.fixture(scope="module")
def sphere():
    return trimesh.creation.icosphere(subdivisions=3, radius=1.0)


def test_surface_points_lie_on_mesh(bunny):
    pts, nrm = sample_surface(bunny, 2000, 0)
    assert pts.shape == (2000, 3) and nrm.shape == (2000, 3)
    # reference: trimesh's closest point query
    _, dist, _ = trimesh.proximity.closest_point(bunny, pts)
    assert dist.max() < 1e-9
    np.testing.assert_allclose(np.linalg.norm(nrm, axis=1), 1.0, atol=1e-12)


def test_normals_outward_on_sphere(sphere):
    pts, nrm, faces = sample_surface(sphere, 5000, 1, return_faces=True)
    radial = pts / np.linalg.norm(pts, axis=1, keepdims=True)
    assert np.all(np.sum(nrm * radial, axis=1) > 0.95)
    np.testing.assert_allclose(nrm, sphere.face_normals[faces], atol=1e-9)


def test_area_weighting():
    # two separate triangles with areas 1 : 3 (plus a degenerate one that must never be hit)
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 2, 0], [5, 0, 0], [8, 0, 0], [5, 2, 0], [9, 9, 9]], float)
    f = np.array([[0, 1, 2], [3, 4, 5], [6, 6, 6]])
    _, _, faces = sample_surface((v, f), 40000, 2, return_faces=True)
    assert not np.any(faces == 2)
    assert np.mean(faces == 0) == pytest.approx(0.25, abs=0.01)  # se ~ 0.002


def test_surface_uniform_within_triangle():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], float)
    pts, nrm = sample_surface((v, np.array([[0, 1, 2]])), 40000, 3)
    assert np.all(pts[:, 0] >= 0) and np.all(pts[:, 1] >= 0) and np.all(pts.sum(1) <= 1 + 1e-12)
    np.testing.assert_allclose(nrm, [[0, 0, 1]] * 40000)
    # centroid of a uniform distribution on the triangle is (1/3, 1/3)
    np.testing.assert_allclose(pts[:, :2].mean(0), 1 / 3, atol=0.005)
    # fraction in the sub-triangle x + y < 0.5 is its area ratio 1/4
    assert np.mean(pts.sum(1) < 0.5) == pytest.approx(0.25, abs=0.01)


def test_surface_seeded_and_errors(sphere):
    a = sample_surface(sphere, 100, 7)
    b = sample_surface(sphere, 100, np.random.default_rng(7))
    np.testing.assert_array_equal(a[0], b[0])
    assert sample_surface(sphere, 0, 0)[0].shape == (0, 3)
    with pytest.raises(ValueError, match="n must be"):
        sample_surface(sphere, -1, 0)
    with pytest.raises(ValueError, match="zero surface area"):
        sample_surface((np.zeros((3, 3)), np.array([[0, 1, 2]])), 10, 0)


def test_uniform_bounds():
    pts = sample_uniform(20000, [[0, -1, 2], [1, 1, 6]], 0)
    assert pts.shape == (20000, 3)
    assert np.all(pts >= [0, -1, 2]) and np.all(pts <= [1, 1, 6])
    np.testing.assert_allclose(pts.mean(0), [0.5, 0, 4], atol=0.05)
    cube = sample_uniform(1000, rng=1)
    assert np.all(np.abs(cube) <= 0.5)
    assert np.all(np.abs(sample_uniform(1000, 0.25, 1)) <= 0.25)
    with pytest.raises(ValueError, match="max > min"):
        sample_uniform(10, [[0, 0, 0], [1, 0, 1]], 0)


def test_split_count():
    np.testing.assert_array_equal(split_count(10, 3), [4, 3, 3])
    assert split_count(7, 4).sum() == 7


def test_near_surface_distance_matches_sigma():
    # a large flat square: the signed offset along z is exactly N(0, sigma^2)
    plane = trimesh.Trimesh([[-50, -50, 0], [50, -50, 0], [50, 50, 0], [-50, 50, 0]], [[0, 1, 2], [0, 2, 3]])
    sigmas = (0.005, 0.015, 0.05)
    pts, idx = sample_near_surface(plane, 30000, sigmas, 0, return_sigma_index=True)
    assert pts.shape == (30000, 3)
    np.testing.assert_array_equal(np.bincount(idx), [10000, 10000, 10000])
    assert np.all(np.diff(idx) >= 0)  # grouped by sigma
    for k, s in enumerate(sigmas):
        z = pts[idx == k, 2]
        assert z.std() == pytest.approx(s, rel=0.03)
        assert abs(z.mean()) < 4 * s / 100


def test_near_surface_on_sphere(sphere):
    pts = sample_near_surface(sphere, 20000, 0.01, 4)
    d = np.abs(np.linalg.norm(pts, axis=1) - 1.0)
    # |N(0, s^2)| has mean s * sqrt(2 / pi); the polygonal sphere adds < 0.004
    assert d.mean() == pytest.approx(0.01 * np.sqrt(2 / np.pi), abs=0.001)
    with pytest.raises(ValueError, match="sigma"):
        sample_near_surface(sphere, 10, [0.01, -1], 0)
