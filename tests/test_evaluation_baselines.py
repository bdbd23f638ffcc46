"""Classical baselines: convex hull and alpha shape of a point cloud."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from implicit3d.evaluation import metrics
from implicit3d.evaluation.baselines import _circumradius, alpha_shape, convex_hull, reconstruct
from implicit3d.extraction import extract_dense
from implicit3d.geometry.sampling import sample_surface


@pytest.fixture(autouse=True)
def _inside_fallback(monkeypatch):
    try:
        import implicit3d.geometry.inside  # noqa: F401
    except ImportError:  # TODO: remove once implicit3d.geometry.inside lands
        monkeypatch.setattr(metrics, "mesh_inside", lambda mesh, pts: mesh.contains(pts))


@pytest.fixture(scope="module")
def sphere_cloud() -> np.ndarray:
    return sample_surface(trimesh.creation.icosphere(subdivisions=5, radius=0.3), 3000, rng=0)[0]


@pytest.fixture(scope="module")
def torus() -> trimesh.Trimesh:
    def sdf(p):
        q = np.sqrt(p[:, 0] ** 2 + p[:, 1] ** 2) - 0.3
        return np.sqrt(q**2 + p[:, 2] ** 2) - 0.1

    return extract_dense(sdf, resolution=64).mesh


def sphere_iou(mesh: trimesh.Trimesh, r: float = 0.3, n: int = 100_000) -> float:
    pts = np.random.default_rng(1).uniform(-0.55, 0.55, (n, 3))
    return metrics.iou(metrics.mesh_inside(mesh, pts), np.linalg.norm(pts, axis=1) < r)


def test_convex_hull_of_sphere_samples(sphere_cloud):
    hull = convex_hull(sphere_cloud)
    assert hull.is_watertight
    assert hull.volume > 0
    assert sphere_iou(hull) > 0.95
    # every input point is inside or on the hull
    assert np.all(hull.vertices[:, None, :].shape[0] <= len(sphere_cloud))
    assert hull.volume <= 4 / 3 * np.pi * 0.3**3


def test_alpha_shape_of_sphere_samples(sphere_cloud):
    shape = alpha_shape(sphere_cloud, alpha=0.5)  # alpha above the radius: the full ball
    assert shape.volume > 0  # outward winding
    assert sphere_iou(shape) > 0.95
    assert shape.is_watertight
    # too small an alpha keeps (almost) nothing of a ball sampled on its surface: circumspheres are the sphere
    assert len(alpha_shape(sphere_cloud, alpha=0.05).faces) < len(shape.faces) / 4


def test_alpha_shape_follows_concavities_where_the_hull_cannot(torus):
    cloud = sample_surface(torus, 4000, rng=2)[0]
    gt = metrics.GroundTruth.from_mesh(torus, n_points=30_000, rng=3)
    hull = metrics.evaluate_mesh(convex_hull(cloud), gt, n_points=30_000, rng=4)
    alpha = metrics.evaluate_mesh(alpha_shape(cloud, alpha=0.15), gt, n_points=30_000, rng=4)
    assert alpha["iou"] > 0.8
    assert alpha["iou"] > hull["iou"] + 0.2
    assert alpha["chamfer_l1"] < hull["chamfer_l1"]


def test_alpha_shape_default_alpha_and_faces_reference(sphere_cloud):
    shape = alpha_shape(sphere_cloud)
    assert shape.metadata["alpha"] > 0
    # boundary faces of the kept tetrahedra: each edge of a closed boundary is shared by an even number of faces
    edges = np.sort(shape.edges, axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert np.all(counts % 2 == 0)
    assert reconstruct(sphere_cloud, "alpha_shape", alpha=0.5).volume == pytest.approx(
        alpha_shape(sphere_cloud, alpha=0.5).volume
    )


def test_circumradius_reference():
    rng = np.random.default_rng(5)
    tets = rng.normal(size=(200, 4, 3))
    r = _circumradius(tets)
    # reference: the centre solves |c - v_i| = R for all 4 vertices; check by least squares on the 4 equations
    for tet, radius in zip(tets, r, strict=True):
        a = 2 * (tet[1:] - tet[0])
        b = np.sum(tet[1:] ** 2, axis=1) - np.sum(tet[0] ** 2)
        c = np.linalg.solve(a, b)
        np.testing.assert_allclose(np.linalg.norm(tet - c, axis=1), radius, rtol=1e-6)
    flat = np.array([[[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]]], dtype=float)
    assert np.isinf(_circumradius(flat)[0])


def test_bad_inputs():
    with pytest.raises(ValueError, match="at least 4"):
        convex_hull(np.zeros((3, 3)))
    coplanar = np.random.default_rng(6).uniform(size=(50, 3)) * [1, 1, 0]
    with pytest.raises(ValueError, match="degenerate"):
        convex_hull(coplanar)
    with pytest.raises(ValueError, match="alpha"):
        alpha_shape(np.random.default_rng(7).uniform(size=(50, 3)), alpha=-1.0)
    with pytest.raises(ValueError, match="unknown baseline"):
        reconstruct(np.zeros((10, 3)), "poisson")
