import numpy as np
import pytest
import torch
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st

from implicit3d.geometry import sdf as S
from implicit3d.geometry.distance import signed_distance

RNG = np.random.default_rng(0)


def _primitives():
    return {
        "sphere": S.Sphere(0.05, center=(0.01, -0.02, 0.03)),
        "rounded_box": S.RoundedBox((0.06, 0.04, 0.03), 0.01),
        "sharp_box": S.RoundedBox((0.06, 0.04, 0.03), 0.0),
        "cylinder": S.Cylinder(0.04, 0.1),
        "capsule": S.Capsule((-0.03, 0.0, -0.02), (0.04, 0.01, 0.03), 0.02),
        "cone": S.Cone(0.05, 0.02, 0.08),
        "torus": S.Torus(0.05, 0.015),
        "revolve": S.Revolve([(0, 0), (0.04, 0), (0.05, 0.05), (0.02, 0.08), (0.02, 0.1), (0, 0.1)]),
    }


# known (point, distance) pairs per primitive: surface points (0), inside (< 0) and outside (> 0)
KNOWN = {
    "sphere": [((0.06, -0.02, 0.03), 0.0), ((0.01, -0.02, 0.03), -0.05), ((0.01, -0.02, 0.13), 0.05)],
    "rounded_box": [((0.06, 0, 0), 0.0), ((0, 0, 0), -0.03), ((0, 0, 0.05), 0.02), ((0.06, 0.04, 0.0), None)],
    "sharp_box": [((0.06, 0, 0), 0.0), ((0.07, 0.05, 0), np.sqrt(2) * 0.01), ((0, 0, 0.02), -0.01)],
    "cylinder": [((0.04, 0, 0), 0.0), ((0, 0, 0.05), 0.0), ((0, 0, 0), -0.04), ((0.05, 0, 0.06), np.sqrt(2) * 0.01)],
    "capsule": [((-0.03, 0.0, -0.04), 0.0), ((0.005, 0.005, 0.005), -0.02), ((0.04, 0.01, 0.08), 0.03)],
    "cone": [
        ((0.05, 0, -0.04), 0.0),
        ((0.02, 0, 0.04), 0.0),
        ((0, 0, 0), -0.0028 / np.hypot(0.03, 0.08)),
        ((0, 0, 0.06), 0.02),
    ],
    "torus": [((0.065, 0, 0), 0.0), ((0.05, 0, 0), -0.015), ((0, 0, 0), 0.035), ((0, 0.05, 0.025), 0.01)],
    "revolve": [((0.04, 0, 0), 0.0), ((0, 0, 0.1), 0.0), ((0, 0.02, 0.09), 0.0), ((0.0, 0.0, -0.01), 0.01)],
}


@pytest.mark.parametrize("name", list(KNOWN))
def test_known_points(name):
    f = _primitives()[name]
    pts = np.array([p for p, _ in KNOWN[name]], dtype=np.float64)
    d = f(pts)
    assert d.shape == (len(pts),)
    for (p, want), got in zip(KNOWN[name], d, strict=True):
        if want is not None:
            assert got == pytest.approx(want, abs=1e-9), (name, p)


@pytest.mark.parametrize("name", list(KNOWN))
def test_gradient_norm_is_one(name):
    """Exact SDFs have |grad| = 1 away from the medial axis (central differences, h = 1e-6 m)."""
    f = _primitives()[name]
    box = f.bounds
    pts = RNG.uniform(box[0] - 0.03, box[1] + 0.03, size=(4000, 3))
    h = 1e-6
    grad = np.stack([(f(pts + h * e) - f(pts - h * e)) / (2 * h) for e in np.eye(3)], axis=1)
    g = np.linalg.norm(grad, axis=1)
    # points on/near the medial axis have a kink: allow a small fraction, but most must be exactly 1
    ok = np.abs(g - 1) < 1e-4
    assert ok.mean() > 0.97, (name, ok.mean())
    assert g.max() < 1 + 1e-4  # never steeper than a distance


def test_sphere_matches_icosphere_mesh_distance():
    r = 0.05
    mesh = trimesh.creation.icosphere(subdivisions=5, radius=r)
    pts = RNG.uniform(-0.1, 0.1, size=(3000, 3))
    d_mesh = signed_distance(mesh, pts)
    d = S.Sphere(r)(pts)
    # tessellation error of a level-5 icosphere: the chord sagitta, < 0.1% of r
    assert np.abs(d - d_mesh).max() < 2e-3 * r
    assert np.array_equal(d < -1e-4, d_mesh < -1e-4)


@pytest.mark.parametrize("name", list(KNOWN))
def test_numpy_torch_agree(name):
    f = _primitives()[name]
    pts = RNG.uniform(-0.12, 0.12, size=(2000, 3))
    d_np = f(pts)
    d_t = f(torch.from_numpy(pts))
    assert isinstance(d_t, torch.Tensor) and d_t.dtype == torch.float64
    np.testing.assert_allclose(d_t.numpy(), d_np, rtol=0, atol=1e-12)
    d32 = f(torch.from_numpy(pts).float())
    assert d32.dtype == torch.float32
    np.testing.assert_allclose(d32.numpy(), d_np, atol=1e-6)


def test_composite_numpy_torch_agree():
    f = S.SmoothUnion(
        S.Difference(S.RoundedBox((0.05, 0.05, 0.05), 0.01), S.Sphere(0.06)),
        S.Rotate(S.Translate(S.Torus(0.05, 0.01), (0, 0, 0.03)), axis=(1, 1, 0), angle=0.7),
        0.01,
    ).scale(1.5)
    pts = RNG.uniform(-0.12, 0.12, size=(3000, 3))
    np.testing.assert_allclose(f(torch.from_numpy(pts)).numpy(), f(pts), atol=1e-12)


def test_csg_identities():
    a = S.Sphere(0.05)
    b = S.Translate(S.RoundedBox((0.04, 0.04, 0.04), 0.005), (0.04, 0, 0))
    pts = RNG.uniform(-0.1, 0.1, size=(3000, 3))
    da, db = a(pts), b(pts)
    np.testing.assert_array_equal(S.union(a, b)(pts), np.minimum(da, db))
    np.testing.assert_array_equal((a | b)(pts), np.minimum(da, db))
    np.testing.assert_array_equal(S.intersection(a, b)(pts), np.maximum(da, db))
    np.testing.assert_array_equal((a - b)(pts), np.maximum(da, -db))
    # smooth union: never above the union, at most k/4 below it, equal where the shapes are >= k apart
    k = 0.02
    ds = S.smooth_union(a, b, k)(pts)
    u = np.minimum(da, db)
    assert np.all(ds <= u + 1e-15)
    assert np.all(ds >= u - k / 4 - 1e-15)
    far = np.abs(da - db) >= k
    np.testing.assert_allclose(ds[far], u[far], atol=1e-15)
    np.testing.assert_array_equal(S.SmoothUnion(a, b, 0.0)(pts), u)


def test_transforms_are_distance_preserving():
    box = S.RoundedBox((0.05, 0.03, 0.02), 0.005)
    pts = RNG.uniform(-0.1, 0.1, size=(2000, 3))
    t = np.array([0.01, -0.02, 0.03])
    np.testing.assert_allclose(box.translate(t)(pts + t), box(pts), atol=1e-15)
    rot = S.rotation_matrix((0.3, -1.0, 0.5), 1.1)
    np.testing.assert_allclose(box.rotate(rot)(pts @ rot.T), box(pts), atol=1e-14)
    np.testing.assert_allclose(S.Rotate(box, axis=(0.3, -1.0, 0.5), angle=1.1)(pts @ rot.T), box(pts), atol=1e-14)
    np.testing.assert_allclose(box.scale(2.5)(pts * 2.5), 2.5 * box(pts), atol=1e-14)
    # a scaled sphere is the bigger sphere
    np.testing.assert_allclose(S.Sphere(0.02).scale(3.0)(pts), S.Sphere(0.06)(pts), atol=1e-15)


def test_revolve_rectangle_equals_cylinder():
    cyl = S.Cylinder(0.04, 0.1)
    rect = S.revolve([(0.0, -0.05), (0.04, -0.05), (0.04, 0.05), (0.0, 0.05)])
    pts = RNG.uniform(-0.1, 0.1, size=(5000, 3))
    np.testing.assert_allclose(rect(pts), cyl(pts), atol=1e-15)
    # orientation of the polygon does not matter; an explicit closing vertex is accepted
    rev = S.revolve([(0.0, 0.05), (0.04, 0.05), (0.04, -0.05), (0.0, -0.05), (0.0, 0.05)])
    np.testing.assert_allclose(rev(pts), cyl(pts), atol=1e-15)


def test_revolve_ring_profile_is_torus_like():
    """A profile away from the axis (a square ring section) gives a hollow ring: inside is the ring only."""
    ring = S.revolve([(0.03, -0.01), (0.05, -0.01), (0.05, 0.01), (0.03, 0.01)])
    d = ring(np.array([[0.0, 0.0, 0.0], [0.04, 0.0, 0.0], [0.0, 0.04, 0.0], [0.06, 0, 0]]))
    np.testing.assert_allclose(d, [0.03, -0.01, -0.01, 0.01], atol=1e-15)


@settings(max_examples=40, deadline=None)
@given(
    r=st.floats(0.005, 0.2),
    h=st.floats(0.005, 0.2),
    p=st.lists(st.floats(-0.3, 0.3), min_size=3, max_size=3),
)
def test_property_revolve_rectangle_vs_cylinder(r, h, p):
    pt = np.array([p])
    cyl = S.Cylinder(r, h)
    rev = S.revolve([(0.0, -h / 2), (r, -h / 2), (r, h / 2), (0.0, h / 2)])
    assert abs(cyl(pt)[0] - rev(pt)[0]) < 1e-12


@settings(max_examples=40, deadline=None)
@given(
    r=st.floats(0.01, 0.2),
    s=st.floats(0.1, 10.0),
    p=st.lists(st.floats(-0.5, 0.5), min_size=3, max_size=3),
    q=st.lists(st.floats(-0.5, 0.5), min_size=3, max_size=3),
)
def test_property_lipschitz(r, s, p, q):
    """Every node is 1-Lipschitz: |f(p) - f(q)| <= |p - q|."""
    f = S.SmoothUnion(S.Sphere(r), S.Translate(S.Torus(r, r / 3), (r, 0, 0)), r / 2).scale(s)
    pts = np.array([p, q])
    d = f(pts)
    assert abs(d[0] - d[1]) <= np.linalg.norm(pts[0] - pts[1]) + 1e-12


def test_bounds_contain_shape():
    for name, f in _primitives().items():
        box = f.bounds
        pts = RNG.uniform(box[0] - 0.05, box[1] + 0.05, size=(20000, 3))
        inside = f(pts) < 0
        assert np.all(pts[inside] >= box[0] - 1e-12) and np.all(pts[inside] <= box[1] + 1e-12), name
    rot = S.Rotate(S.RoundedBox((0.05, 0.02, 0.01)), axis=(1, 2, 3), angle=0.8).translate((0.1, 0, 0))
    box = rot.bounds
    pts = RNG.uniform(-0.2, 0.3, size=(50000, 3))
    inside = pts[rot(pts) < 0]
    assert len(inside) > 0 and np.all(inside >= box[0] - 1e-12) and np.all(inside <= box[1] + 1e-12)


def test_bad_input_raises_value_error():
    f = S.Sphere(0.05)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        f(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        f(np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        f(np.array([[0.0, np.nan, 0.0]]))
    with pytest.raises(ValueError, match="NaN"):
        f(torch.tensor([[0.0, float("inf"), 0.0]]))
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        f(torch.zeros(5, 4))
    with pytest.raises(TypeError, match="numbers"):
        f(np.array([["a", "b", "c"]]))
    with pytest.raises(ValueError, match="radius"):
        S.Sphere(-1.0)
    with pytest.raises(ValueError, match="profile"):
        S.revolve([(0, 0), (0.1, 0)])
    with pytest.raises(ValueError, match="radii must be >= 0"):
        S.revolve([(-0.1, 0), (0.1, 0), (0.1, 0.1)])
    with pytest.raises(ValueError, match="orthonormal"):
        S.Rotate(f, matrix=np.diag([1.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="radius"):
        S.RoundedBox((0.01, 0.02, 0.03), 0.02)
    with pytest.raises(TypeError, match="SDF"):
        S.Union(f, "sphere")  # type: ignore[arg-type]
    assert f(np.zeros((0, 3))).shape == (0,)
    # integer input is accepted and converted to float
    assert f(np.array([[0, 0, 0]]))[0] == pytest.approx(-0.05)


def test_to_mesh_watertight_and_on_surface():
    f = S.SmoothUnion(
        S.revolve([(0, 0), (0.04, 0), (0.045, 0.06), (0.015, 0.09), (0.015, 0.12), (0, 0.12)]),
        S.Translate(S.Torus(0.03, 0.008), (0, 0, 0.06)),
        0.005,
    )
    voxel = 0.002
    mesh = f.to_mesh(voxel_size=voxel)
    assert isinstance(mesh, trimesh.Trimesh)
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0
    assert np.abs(f(mesh.vertices)).max() < 0.5 * voxel
    # bounds of the mesh match the analytic bounds to within a voxel
    np.testing.assert_allclose(mesh.bounds, f.bounds, atol=voxel)
    full = f.to_mesh(voxel_size=voxel, coarse=1)
    assert full.is_watertight
    assert full.volume == pytest.approx(mesh.volume, rel=0.01)


def test_narrow_band_matches_full_grid():
    """Coarse-to-fine evaluation: exact values near the surface, right sign everywhere."""
    from implicit3d.geometry.grid import evaluate_grid, grid_points

    f = S.Difference(S.RoundedBox((0.05, 0.04, 0.03), 0.01), S.Translate(S.Sphere(0.035), (0.02, 0, 0.03)))
    box, res = f.grid_spec(voxel_size=0.002, bounds=[[-0.1, -0.1, -0.1], [0.1, 0.1, 0.1]], multiple=4)
    assert np.all((res - 1) % 4 == 0)
    fn = f.__call__
    full = evaluate_grid(fn, box, res)
    band = S.SDF._narrow_band(fn, box, res, 4, 0.002, evaluate_grid, grid_points)
    assert np.array_equal(full < 0, band < 0)
    near = np.abs(full) < 0.004
    np.testing.assert_allclose(band[near], full[near], atol=1e-15)
    assert (band != full).mean() > 0.2  # most far samples were interpolated, not evaluated


def test_to_mesh_sphere_volume_and_errors():
    mesh = S.Sphere(0.05).to_mesh(resolution=64)
    assert mesh.is_watertight
    assert mesh.volume == pytest.approx(4 / 3 * np.pi * 0.05**3, rel=0.02)
    with pytest.raises(ValueError, match="boundary"):
        S.Sphere(0.05).to_mesh(voxel_size=0.005, bounds=[[-0.02, -0.02, -0.02], [0.02, 0.02, 0.02]])
    with pytest.raises(ValueError, match="not both"):
        S.Sphere(0.05).to_mesh(voxel_size=0.005, resolution=32)


def test_torch_gradients_flow():
    f = S.SmoothUnion(S.Sphere(0.05), S.Revolve([(0, 0), (0.03, 0), (0.03, 0.1), (0, 0.1)]), 0.01)
    pts = torch.tensor(RNG.uniform(-0.1, 0.1, size=(64, 3)), requires_grad=True)
    f(pts).sum().backward()
    assert pts.grad is not None and torch.isfinite(pts.grad).all()


def test_convex_polytope_against_hull_mesh_distance():
    rng = np.random.default_rng(3)
    cloud = rng.normal(size=(40, 3)) * np.array([0.05, 0.03, 0.02])
    poly = S.ConvexPolytope.from_points(cloud)
    hull = trimesh.convex.convex_hull(cloud)
    pts = rng.uniform(-0.15, 0.15, size=(4000, 3))
    d = poly(pts)
    ref = signed_distance(hull, pts)
    inside = ref < 0
    # the sign is exact everywhere; inside the value is the exact distance to the nearest face
    assert np.array_equal(d < 0, inside)
    assert np.abs(d[inside] - ref[inside]).max() < 1e-9
    # outside: a lower bound on the true distance, equal to it somewhere (in front of a face)
    assert np.all(d[~inside] <= ref[~inside] + 1e-9)
    assert np.isclose(d[~inside], ref[~inside], atol=1e-9).mean() > 0.2
    b = poly.bounds
    assert np.allclose(b, np.stack([cloud.min(0), cloud.max(0)]))
    t = poly(torch.as_tensor(pts))
    assert isinstance(t, torch.Tensor) and np.allclose(t.numpy(), d)


def test_convex_polytope_cube_and_errors():
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float) * 0.1
    cube = S.ConvexPolytope.from_points(corners)
    box = S.RoundedBox((0.1, 0.1, 0.1), 0.0)
    pts = RNG.uniform(-0.1, 0.1, size=(500, 3))  # inside: both exact
    assert np.allclose(cube(pts), box(pts))
    mesh = cube.to_mesh(resolution=40)
    assert mesh.is_watertight and mesh.volume == pytest.approx(0.008, rel=0.03)
    with pytest.raises(ValueError, match="no volume"):
        S.ConvexPolytope.from_points(np.c_[RNG.normal(size=(10, 2)), np.zeros(10)])
    with pytest.raises(ValueError, match="at least 4"):
        S.ConvexPolytope.from_points(corners[:3])
    with pytest.raises(ValueError, match="non-zero"):
        S.ConvexPolytope(np.zeros((4, 3)), np.ones(4), [[-1, -1, -1], [1, 1, 1]])
    with pytest.raises(ValueError, match="bounds"):
        S.ConvexPolytope(np.eye(3)[[0, 1, 2, 0]], np.ones(4), [[1, 1, 1], [-1, -1, -1]])
