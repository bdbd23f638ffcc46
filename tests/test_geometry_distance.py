"""Distance to triangle meshes: BVH kernel vs. brute force, signs vs. analytic solids and winding numbers."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import trimesh
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from implicit3d.geometry import _bvh
from implicit3d.geometry.distance import (
    MeshDistance,
    closest_points,
    closest_points_brute_force,
    signed_distance,
    unsigned_distance,
)


# ---------------------------------------------------------------------- references
def winding_number_brute_force(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Generalized winding number (solid angle sum, Van Oosterom & Strackee), O(N*F) numpy."""
    out = np.zeros(len(points))
    for s in range(0, len(points), 256):
        p = points[s : s + 256, None, :]
        a, b, c = (vertices[faces[:, k]][None] - p for k in range(3))
        la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
        det = np.einsum("nfj,nfj->nf", a, np.cross(b, c))
        den = (
            la * lb * lc
            + np.einsum("nfj,nfj->nf", a, b) * lc
            + np.einsum("nfj,nfj->nf", b, c) * la
            + np.einsum("nfj,nfj->nf", c, a) * lb
        )
        out[s : s + 256] = np.arctan2(det, den).sum(axis=1) / (2 * np.pi)
    return out


def box_sdf(points: np.ndarray, half: np.ndarray) -> np.ndarray:
    q = np.abs(points) - half
    return np.linalg.norm(np.maximum(q, 0.0), axis=1) + np.minimum(q.max(axis=1), 0.0)


def random_soup(rng: np.random.Generator, n_faces: int) -> tuple[np.ndarray, np.ndarray]:
    vertices = rng.normal(size=(n_faces * 3, 3))
    # shrink every triangle around a random centre so the soup has varied sizes and gaps
    centres = rng.uniform(-2, 2, size=(n_faces, 1, 3))
    scale = rng.uniform(0.05, 1.0, size=(n_faces, 1, 1))
    tri = centres + scale * vertices.reshape(n_faces, 3, 3)
    return tri.reshape(-1, 3), np.arange(n_faces * 3).reshape(n_faces, 3)


def special_points(vertices: np.ndarray, faces: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Vertices, edge midpoints, face points, points just off faces, near and far random points."""
    tri = vertices[faces]
    mids = (tri + np.roll(tri, -1, axis=1)) / 2
    cent = tri.mean(axis=1)
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    return np.concatenate(
        [
            vertices,
            mids.reshape(-1, 3),
            cent,
            cent + 0.01 * normal,
            rng.uniform(-3, 3, size=(200, 3)),
            rng.normal(size=(50, 3)) * 1e3,
        ]
    )


def assert_matches_brute_force(mesh, points: np.ndarray, atol: float = 1e-12) -> None:
    vertices, faces = mesh if isinstance(mesh, tuple) else (mesh.vertices, mesh.faces)
    dist, closest, face = closest_points(mesh, points)
    ref, _ = closest_points_brute_force(mesh, points)
    scale = max(1.0, float(np.abs(points).max()))
    assert dist.shape == (len(points),) and closest.shape == (len(points), 3) and face.shape == (len(points),)
    assert dist.dtype == np.float64 and closest.dtype == np.float64 and face.dtype == np.int64
    assert np.all(np.isfinite(dist)) and np.all(np.isfinite(closest))
    np.testing.assert_allclose(dist, ref, rtol=0, atol=atol * scale)
    # the closest point is at the reported distance and lies on the reported face
    np.testing.assert_allclose(np.linalg.norm(points - closest, axis=1), dist, rtol=0, atol=atol * scale)
    for i in range(0, len(points), max(1, len(points) // 20)):
        d, _ = closest_points_brute_force((vertices, faces[face[i] : face[i] + 1]), closest[i : i + 1])
        assert d[0] < 1e-9 * scale


# ---------------------------------------------------------------------- unsigned distance / closest points
def test_random_soup_matches_brute_force():
    rng = np.random.default_rng(0)
    vertices, faces = random_soup(rng, 300)
    assert_matches_brute_force((vertices, faces), special_points(vertices, faces, rng))


def test_points_on_vertices_and_edges_have_zero_distance():
    mesh = trimesh.creation.icosphere(subdivisions=2)
    tri = mesh.triangles
    pts = np.concatenate([mesh.vertices, ((tri + np.roll(tri, -1, axis=1)) / 2).reshape(-1, 3), tri.mean(axis=1)])
    dist, closest, _ = closest_points(mesh, pts)
    assert dist.max() < 1e-15
    np.testing.assert_allclose(closest, pts, atol=1e-15)
    # on vertices the answer is exact: the kernel returns the stored vertex itself
    assert np.all(unsigned_distance(mesh, mesh.vertices) == 0.0)


def test_bunny_matches_brute_force(bunny):
    rng = np.random.default_rng(1)
    lo, hi = bunny.bounds
    pts = np.concatenate(
        [rng.uniform(lo - 0.5, hi + 0.5, (300, 3)), bunny.sample(200, seed=2) + rng.normal(0, 0.01, (200, 3))]
    )
    assert_matches_brute_force(bunny, pts)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n_faces=st.integers(1, 40),
    leaf=st.integers(1, 15),
    scale=st.sampled_from([1e-3, 1.0, 1e3]),
)
def test_property_matches_brute_force(seed, n_faces, leaf, scale):
    rng = np.random.default_rng(seed)
    vertices, faces = random_soup(rng, n_faces)
    vertices = vertices * scale
    pts = special_points(vertices, faces, rng)[:300]
    pts = np.concatenate([pts, rng.uniform(-3, 3, (50, 3)) * scale])
    md = MeshDistance((vertices, faces), leaf_size=leaf)
    dist, closest, face = md.closest_points(pts)
    ref, _ = closest_points_brute_force((vertices, faces), pts)
    np.testing.assert_allclose(dist, ref, rtol=1e-12, atol=1e-12 * scale)
    assert np.all((face >= 0) & (face < n_faces))


def test_degenerate_triangles_are_tolerated():
    rng = np.random.default_rng(3)
    vertices, faces = random_soup(rng, 50)
    a = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.5, 0.5, 0.5]])
    extra_v = np.concatenate([vertices, a])
    n = len(vertices)
    extra_f = np.concatenate(
        [faces, [[n, n + 1, n + 2], [n, n + 2, n + 1], [n + 3, n + 3, n + 3], [n, n, n + 1], [n + 1, n + 1, n]]]
    )
    pts = np.concatenate([special_points(extra_v, extra_f, rng), a, [[1.0, 0.3, -0.2], [-1.0, 0.0, 0.0]]])
    assert_matches_brute_force((extra_v, extra_f), pts)
    # a mesh made only of degenerate triangles: the distance to a segment / a point
    d = unsigned_distance((a, np.array([[0, 1, 2], [3, 3, 3]])), np.array([[1.5, -2.0, 0.0], [0.5, 0.5, 1.5]]))
    np.testing.assert_allclose(d, [2.0, 1.0], atol=1e-15)


def test_max_distance_truncates():
    mesh = trimesh.creation.icosphere(subdivisions=2)
    md = MeshDistance(mesh)
    pts = np.array([[0.0, 0.0, 1.05], [0.0, 0.0, 3.0]])
    dist, closest, face, _ = md.query(pts, max_distance=0.5)
    assert dist[0] < 0.06 and face[0] >= 0
    assert dist[1] == 0.5 and face[1] == -1 and np.isnan(closest[1]).all()


# ---------------------------------------------------------------------- signed distance
def test_icosphere_matches_analytic_sphere():
    mesh = trimesh.creation.icosphere(subdivisions=4, radius=1.0)
    # faceting: the mesh lies between the sphere and the smallest distance from the centre to a face plane
    n = mesh.face_normals
    facet = 1.0 - np.abs(np.einsum("ij,ij->i", n, mesh.triangles[:, 0])).min()
    rng = np.random.default_rng(4)
    dirs = rng.normal(size=(3000, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    pts = dirs * rng.uniform(0.0, 2.0, (3000, 1))
    md = MeshDistance(mesh)
    assert md.is_closed
    sd = md.signed_distance(pts)
    exact = np.linalg.norm(pts, axis=1) - 1.0
    assert np.abs(sd - exact).max() <= facet + 1e-12
    clear = np.abs(exact) > facet
    assert np.all(np.sign(sd[clear]) == np.sign(exact[clear]))
    np.testing.assert_allclose(md.signed_distance(np.zeros((1, 3))), [-1.0], atol=facet)


@pytest.mark.parametrize("flip", [False, True])
def test_box_is_exact(flip):
    half = np.array([0.5, 0.3, 0.2])
    mesh = trimesh.creation.box(extents=2 * half)
    faces = mesh.faces[:, ::-1] if flip else mesh.faces  # inward-facing box: the sign must not flip
    rng = np.random.default_rng(5)
    corners = np.array(np.meshgrid(*[[-h, 0.0, h] for h in half], indexing="ij")).reshape(3, -1).T
    pts = np.concatenate(
        [
            rng.uniform(-1.5, 1.5, (2000, 3)),
            rng.uniform(-1, 1, (500, 3)) * half,  # inside, often nearest to a face near a corner or an edge
            corners,  # on corners, edge midpoints, face centres (and the centre)
            corners * 1.5,
            corners * 0.9,
        ]
    )
    sd = signed_distance((mesh.vertices, faces), pts)
    np.testing.assert_allclose(sd, box_sdf(pts, half), atol=1e-14)


def test_rotated_box_sign_from_pseudonormals():
    half = np.array([0.4, 0.25, 0.1])
    mesh = trimesh.creation.box(extents=2 * half)
    rot = trimesh.transformations.random_rotation_matrix(np.random.default_rng(6).uniform(size=3))
    mesh.apply_transform(rot)
    rng = np.random.default_rng(7)
    local = rng.uniform(-0.6, 0.6, (3000, 3))
    pts = local @ rot[:3, :3].T
    sd = MeshDistance(mesh).signed_distance(pts, sign="pseudonormal")
    np.testing.assert_allclose(sd, box_sdf(local, half), atol=1e-12)


def test_closed_mesh_with_zero_area_triangle():
    """A box whose edge (a, b) is split by its midpoint m, closed with the zero-area triangle (a, b, m)."""
    half = np.array([0.5, 0.5, 0.5])
    mesh = trimesh.creation.box(extents=2 * half)
    v, f = mesh.vertices.copy(), mesh.faces.copy()
    a, b = f[0, 0], f[0, 1]
    m = len(v)
    v = np.concatenate([v, (v[a] + v[b])[None] / 2])
    c = f[0, 2]
    f = np.concatenate([f[1:], [[a, m, c], [m, b, c], [a, b, m]]])
    md = MeshDistance((v, f))
    assert md.is_closed
    rng = np.random.default_rng(8)
    edge_dir = v[b] - v[a]
    t = rng.uniform(-0.2, 1.2, (500, 1))
    pts = np.concatenate([v[a] + t * edge_dir + rng.normal(0, 0.05, (500, 3)), rng.uniform(-1, 1, (500, 3))])
    np.testing.assert_allclose(md.signed_distance(pts), box_sdf(pts, half), atol=1e-12)


def test_bunny_sign_agrees_with_winding_number(bunny):
    rng = np.random.default_rng(9)
    lo, hi = bunny.bounds
    pts = np.concatenate(
        [rng.uniform(lo - 0.2, hi + 0.2, (1500, 3)), bunny.sample(500, seed=3) + rng.normal(0, 0.02, (500, 3))]
    )
    md = MeshDistance(bunny)
    assert md.is_closed
    sd = md.signed_distance(pts)
    w = winding_number_brute_force(bunny.vertices, bunny.faces, pts)
    assert np.abs(np.abs(w - 0.5) - 0.5).max() < 1e-6  # watertight: winding numbers are 0 or 1
    np.testing.assert_array_equal(sd < 0, w > 0.5)
    np.testing.assert_allclose(np.abs(sd), md.unsigned_distance(pts))


def test_bunny_sign_agrees_with_inside_module(bunny):
    inside_mod = pytest.importorskip("implicit3d.geometry.inside")
    rng = np.random.default_rng(10)
    lo, hi = bunny.bounds
    pts = rng.uniform(lo - 0.2, hi + 0.2, (2000, 3))
    sd = MeshDistance(bunny).signed_distance(pts)
    np.testing.assert_array_equal(sd < 0, inside_mod.inside(bunny, pts, method="auto"))


def test_open_mesh_uses_inside_module(monkeypatch):
    """Non-watertight meshes take their sign from implicit3d.geometry.inside.inside(method="auto")."""
    mesh = trimesh.creation.icosphere(subdivisions=2)
    open_mesh = trimesh.Trimesh(mesh.vertices, mesh.faces[1:], process=False)
    calls = []

    def fake_inside(m, points, method="auto"):
        calls.append(method)
        return np.linalg.norm(points, axis=1) < 1.0

    fake = types.ModuleType("implicit3d.geometry.inside")
    fake.inside = fake_inside
    monkeypatch.setitem(sys.modules, "implicit3d.geometry.inside", fake)
    md = MeshDistance(open_mesh)
    assert not md.is_closed
    pts = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
    sd = md.signed_distance(pts)
    assert calls == ["auto"]
    assert sd[0] < 0 < sd[1]
    np.testing.assert_allclose(np.abs(sd), md.unsigned_distance(pts))
    with pytest.raises(ValueError, match="watertight"):
        md.signed_distance(pts, sign="pseudonormal")


# ---------------------------------------------------------------------- API and bad input
def test_wrappers_and_empty_query():
    mesh = trimesh.creation.box()
    pts = np.array([[2.0, 0.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(unsigned_distance(mesh, pts), [1.5])
    np.testing.assert_allclose(signed_distance(mesh, pts), [1.5])
    d, c, f = closest_points(mesh, np.zeros((0, 3)))
    assert d.shape == (0,) and c.shape == (0, 3) and f.shape == (0,)
    assert signed_distance(mesh, np.zeros((0, 3))).shape == (0,)


def test_bad_input():
    mesh = trimesh.creation.box()
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        unsigned_distance(mesh, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="NaN"):
        unsigned_distance(mesh, np.array([[0.0, np.nan, 0.0]]))
    with pytest.raises(TypeError):
        unsigned_distance(mesh, [["a", "b", "c"]])
    with pytest.raises(ValueError, match="no faces"):
        unsigned_distance((mesh.vertices, np.zeros((0, 3), np.int64)), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="empty"):
        MeshDistance((np.zeros((0, 3)), np.zeros((0, 3), np.int64)))
    with pytest.raises(ValueError, match="NaN"):
        MeshDistance((np.full((3, 3), np.nan), np.array([[0, 1, 2]])))
    with pytest.raises(TypeError, match="Trimesh"):
        MeshDistance("mesh.obj")
    with pytest.raises(ValueError, match="sign"):
        signed_distance(mesh, np.zeros((1, 3)), sign="parity")
    with pytest.raises(ValueError, match="max_distance"):
        MeshDistance(mesh).query(np.zeros((1, 3)), max_distance=-1.0)
    with pytest.raises(ValueError, match="leaf_size"):
        MeshDistance(mesh, leaf_size=0)


# ---------------------------------------------------------------------- BVH internals: splits and bounding cylinders
def blob(subdivisions: int) -> trimesh.Trimesh:
    """Smooth closed non-convex mesh (radially displaced icosphere): coherent patches, so most nodes get cylinders."""
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions)
    v = sphere.vertices
    r = 1.0 + 0.15 * np.sin(3 * v[:, 0]) * np.cos(2 * v[:, 1]) + 0.1 * np.sin(4 * v[:, 2])
    return trimesh.Trimesh(v * r[:, None], sphere.faces, process=False)


def node_ranges(bvh) -> dict[int, tuple[int, int]]:
    """Child code -> (first, last + 1) reordered triangle of its subtree."""
    out: dict[int, tuple[int, int]] = {}

    def walk(code: int) -> tuple[int, int]:
        if code < 0:
            s, n = divmod(-1 - code, 16)
            out[code] = (s, s + n)
        else:
            a, b = walk(int(bvh.kids[code, 0])), walk(int(bvh.kids[code, 1]))
            assert a[1] == b[0]  # children cover consecutive triangle ranges
            out[code] = (a[0], b[1])
        return out[code]

    walk(bvh.root)
    return out


def test_child_bounds_are_conservative_and_cylinders_used():
    """Every child's lower bound (box and cylinder) is <= the true distance to the triangles below it."""
    mesh = blob(3)
    md = MeshDistance(mesh, leaf_size=2)
    bvh = md.bvh
    assert bvh.boxes.shape == (bvh.n_nodes, 2 * _bvh._ROW) and bvh.boxes.dtype == np.float32
    axes = bvh.boxes[:, [9, 10, 11, 25, 26, 27]].reshape(-1, 3)
    coherent = np.linalg.norm(axes, axis=1) > 0.5
    assert coherent.mean() > 0.5  # a smooth surface: most children get a cylinder, not a sphere
    np.testing.assert_allclose(np.linalg.norm(axes[coherent], axis=1), 1.0, atol=1e-6)
    ranges = node_ranges(bvh)
    rng = np.random.default_rng(11)
    near = mesh.sample(50, seed=1) + rng.normal(0, 0.01, (50, 3))
    pts = np.concatenate([rng.uniform(-1.5, 1.5, (50, 3)), rng.normal(0, 5, (20, 3)), near])
    tri = bvh.tri.reshape(-1, 3, 3)
    nodes = rng.choice(bvh.n_nodes, min(150, bvh.n_nodes), replace=False)
    checked = tight = 0
    for node in nodes:
        for side in range(2):
            s, e = ranges[int(bvh.kids[node, side])]
            ref, _ = closest_points_brute_force((tri[s:e].reshape(-1, 3), np.arange(3 * (e - s)).reshape(-1, 3)), pts)
            for p, d in zip(pts, ref, strict=True):
                bound = _bvh._child_d2(p[0], p[1], p[2], bvh.boxes, int(node), side * _bvh._ROW, np.inf)
                assert bound <= d * d * (1 + 1e-12) + 1e-300
                box = _bvh._child_d2(p[0], p[1], p[2], bvh.boxes, int(node), side * _bvh._ROW, 0.0)
                tight += bound > box
                checked += 1
    assert tight > 0.2 * checked  # the cylinder improves on the box for many (node, point) pairs


def test_smooth_closed_mesh_matches_brute_force_inside_and_out():
    mesh = blob(4)
    rng = np.random.default_rng(12)
    lo, hi = mesh.bounds
    pts = np.concatenate(
        [rng.uniform(lo - 0.2, hi + 0.2, (400, 3)), mesh.sample(200, seed=4) + rng.normal(0, 0.01, (200, 3))]
    )
    assert_matches_brute_force(mesh, pts)
    md = MeshDistance(mesh)
    assert md.is_closed
    w = winding_number_brute_force(mesh.vertices, mesh.faces, pts)
    np.testing.assert_array_equal(md.signed_distance(pts) < 0, w > 0.5)


def test_coplanar_grid_and_points_on_it():
    """A flat grid: every cylinder has zero height, points on the plane are at distance 0 (ties everywhere)."""
    g = np.linspace(-1.0, 1.0, 21)
    xx, yy = np.meshgrid(g, g, indexing="ij")
    v = np.stack([xx.ravel(), yy.ravel(), np.zeros(xx.size)], axis=1)
    idx = np.arange(xx.size).reshape(21, 21)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()
    f = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    rng = np.random.default_rng(13)
    on = np.concatenate([rng.uniform(-1, 1, (200, 2)), np.zeros((200, 1))], axis=1)
    pts = np.concatenate([on, v, on + [0, 0, 1e-9], on * [1, 1, 0] + [0, 0, -0.3], rng.uniform(-3, 3, (200, 3))])
    assert_matches_brute_force((v, f), pts)
    assert unsigned_distance((v, f), on).max() < 1e-15  # rounding of the barycentric reconstruction only


def test_deep_and_degenerate_splits():
    """Triangles at geometrically shrinking positions (midpoint splits would nest ~300 deep) and 40 copies of one
    triangle (identical centroids: the split falls back to the median)."""
    k = np.arange(300)
    base = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    tri = 2.0 ** -k[:, None, None] * (base[None] + [1.0, 0.0, 0.0])
    tri = np.concatenate([tri, np.repeat(base[None] + [0.0, 0.0, 2.0], 40, axis=0)])
    v, f = tri.reshape(-1, 3), np.arange(3 * len(tri)).reshape(-1, 3)
    md = MeshDistance((v, f), leaf_size=1)
    rng = np.random.default_rng(14)
    pts = np.concatenate([rng.uniform(-0.5, 2.5, (300, 3)), v[::7] + rng.normal(0, 1e-3, (len(v[::7]), 3))])
    dist, _, face = md.closest_points(pts)
    ref, _ = closest_points_brute_force((v, f), pts)
    np.testing.assert_allclose(dist, ref, rtol=0, atol=1e-12)
    assert np.all((face >= 0) & (face < len(f)))


@pytest.mark.parametrize("offset, scale", [(1e6, 1.0), (0.0, 1e-6), (-3e4, 1e3)])
def test_far_offset_and_extreme_scales(offset, scale):
    """Float32 boxes and cylinders stay conservative far from the origin and at tiny/huge scales."""
    mesh = blob(2)
    v = mesh.vertices * scale + offset
    rng = np.random.default_rng(15)
    pts = np.concatenate([rng.uniform(-1.5, 1.5, (300, 3)), mesh.sample(100, seed=5)]) * scale + offset
    dist, closest, _ = closest_points((v, mesh.faces), pts)
    ref, _ = closest_points_brute_force((v, mesh.faces), pts)
    atol = 1e-12 * (abs(offset) + scale)  # a few float64 ulps of the coordinates
    np.testing.assert_allclose(dist, ref, rtol=1e-12, atol=atol)
    sd = MeshDistance((v, mesh.faces)).signed_distance(pts[:300])
    w = winding_number_brute_force(v - offset, mesh.faces, pts[:300] - offset)
    clear = np.abs(ref[:300]) > 1e-9 * scale
    np.testing.assert_array_equal((sd < 0)[clear], (w > 0.5)[clear])


def test_serial_and_parallel_paths_agree(monkeypatch):
    """Small inputs run on one thread (serial_below); results are identical either way, thread count restored."""
    import numba

    mesh = blob(3)
    rng = np.random.default_rng(16)
    pts = rng.uniform(-1.5, 1.5, (3000, 3))
    threads = numba.get_num_threads()
    out = []
    for threshold in (0, 1 << 40):  # 0: always parallel; huge: always serial
        monkeypatch.setattr(_bvh, "_PARALLEL_MIN_FACES", threshold)
        monkeypatch.setattr(_bvh, "_PARALLEL_MIN_POINTS", threshold)
        md = MeshDistance(mesh)
        out.append((md.bvh.boxes, md.bvh.tri_index, md.signed_distance(pts), md.closest_points(pts)[1]))
        assert numba.get_num_threads() == threads
    for a, b in zip(*out, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(RuntimeError), _bvh.serial_below(1, 2):
        assert numba.get_num_threads() == 1
        raise RuntimeError
    assert numba.get_num_threads() == threads


def test_vertex_pseudonormals_on_demand_match_numpy():
    """Vertex pseudonormals are computed only for the vertices queries land on; they equal the angle-weighted sum."""
    mesh = blob(2)
    v, f = mesh.vertices, mesh.faces
    md = MeshDistance(mesh)
    assert md.is_closed and not md._vert_done.any()
    rng = np.random.default_rng(17)
    _, _, _, feat = md.query(v[:50] + 0.01 * mesh.vertex_normals[:50])
    assert (feat < 3).any()  # some points off vertices (along the vertex normal) have a vertex as closest feature
    md.signed_distance(v[:50] + 0.01 * mesh.vertex_normals[:50])
    assert 0 < md._vert_done.sum() < len(v)
    tri = v[f]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    ref = np.zeros_like(v)
    for k in range(3):
        u, w = tri[:, (k + 1) % 3] - tri[:, k], tri[:, (k + 2) % 3] - tri[:, k]
        ang = np.arctan2(np.linalg.norm(np.cross(u, w), axis=1), np.einsum("ij,ij->i", u, w))
        np.add.at(ref, f[:, k], ang[:, None] * n)
    idx = rng.permutation(len(v))
    np.testing.assert_allclose(md._vertex_normals(idx), ref[idx], rtol=0, atol=1e-12)
    assert md._vert_done.all()
    np.testing.assert_allclose(md._vertex_normals(idx[:7]), ref[idx[:7]], rtol=0, atol=1e-12)  # cached


# ---------------------------------------------------------------------- parallel build, ordering and rounding kernels
def build_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Meshes for the build kernels: a smooth closed mesh, a random soup with 60 copies of one triangle and zero-area
    triangles, geometrically shrinking triangles (deep splits), one face and two faces."""
    rng = np.random.default_rng(20)
    mesh = blob(3)
    v, f = random_soup(rng, 400)
    tri = v[f]
    tri = np.concatenate([tri, np.repeat(tri[:1], 60, axis=0), tri[:20, [0, 0, 1]], tri[20:40, [0, 1, 1]] * 0.0])
    k = np.arange(200)
    base = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    deep = 2.0 ** -k[:, None, None] * (base[None] + [1.0, 0.0, 0.0])
    cases = [
        ("blob", mesh.vertices, mesh.faces),
        ("soup", tri.reshape(-1, 3), np.arange(3 * len(tri)).reshape(-1, 3)),
        ("deep", deep.reshape(-1, 3), np.arange(3 * len(deep)).reshape(-1, 3)),
        ("one", base, np.array([[0, 1, 2]])),
        ("two", np.vstack([base, base + [0.0, 0.0, 0.5]]), np.array([[0, 1, 2], [3, 4, 5]])),
    ]
    return [(name, np.ascontiguousarray(v, np.float64), np.ascontiguousarray(f, np.int64)) for name, v, f in cases]


@pytest.mark.parametrize("leaf", [1, 8, 15])
def test_parallel_build_is_the_serial_tree(leaf):
    """Subtrees split in parallel and placed in depth-first order give the one-thread tree bit for bit, whatever the
    number of subtrees (none, a few, more than there are triangles) and threads; the tree answers like brute force."""
    import numba

    threads = numba.get_num_threads()
    rng = np.random.default_rng(21)
    for name, v, f in build_cases():
        ref = _bvh._build(v, f, leaf, _bvh._COHERENCE, 1)
        for n_tasks in (2, 3, 16, len(f) + 5):
            for t in {1, threads}:
                numba.set_num_threads(t)
                out = _bvh._build(v, f, leaf, _bvh._COHERENCE, n_tasks)
                for a, b in zip(ref, out, strict=True):
                    np.testing.assert_array_equal(a, b, err_msg=f"{name} leaf={leaf} tasks={n_tasks} threads={t}")
        numba.set_num_threads(threads)
        _, start, end = ref[3], ref[4], ref[5]
        assert start[0] == 0 and end[0] == len(f) and np.array_equal(np.sort(ref[6]), np.arange(len(f)))
        pts = np.concatenate([rng.uniform(-3, 3, (100, 3)), v[:: max(1, len(v) // 50)]])
        dist, _, face = closest_points((v, f), pts)
        np.testing.assert_allclose(dist, closest_points_brute_force((v, f), pts)[0], rtol=0, atol=1e-12)
        on_face, _ = closest_points_brute_force((v, f[face[:1]]), closest_points((v, f), pts[:1])[1])
        assert on_face[0] < 1e-9  # the closest point lies on the reported face
    numba.set_num_threads(threads)


def test_morton_order_matches_numpy():
    """The Morton codes (bit spreading) match a bit-by-bit reference; the radix argsort is numpy's stable argsort."""
    from implicit3d.geometry._common_kernels import morton_codes, morton_order, radix_argsort

    rng = np.random.default_rng(22)
    for trial in range(20):
        n = int(rng.integers(1, 3000))
        p = rng.normal(size=(n, 3)) * 10.0 ** float(rng.integers(-4, 4))
        if trial % 2:
            p = np.round(p, 1)  # many equal codes: the tie order matters
        bits = [10, 21, 4][trial % 3]
        lo = p.min(axis=0)
        extent = float((p.max(axis=0) - lo).max())
        scale = ((1 << bits) - 1) / extent if extent > 0 else 0.0
        codes = morton_codes(p, lo, scale, bits)
        q = np.clip(((p - lo) * scale).astype(np.int64), 0, (1 << bits) - 1)
        ref = np.zeros(n, np.int64)
        for b in range(bits):
            for a in range(3):
                ref |= ((q[:, a] >> b) & 1) << (3 * b + a)
        np.testing.assert_array_equal(codes, ref)
        np.testing.assert_array_equal(radix_argsort(codes, 3 * bits), np.argsort(codes, kind="stable"))
        np.testing.assert_array_equal(morton_order(p, bits), np.argsort(ref, kind="stable"))


def test_float32_outward_rounding_matches_nextafter():
    """The bit-arithmetic outward rounding of the node bounds equals np.nextafter, also at zeros, subnormals, powers
    of two and beyond the float32 range."""
    rng = np.random.default_rng(23)
    xs = rng.normal(size=4000) * 10.0 ** rng.integers(-50, 50, 4000)
    special = [0.0, -0.0, 1e-46, -1e-46, 1e-45, -1e-45, 2.0**-149, -(2.0**-149), 2.0**-126, -(2.0**-126), 1.0, -1.0,
               0.5, 3.4e38, -3.4e38, 1e39, -1e39]
    with np.errstate(over="ignore"):
        xs = np.concatenate([xs, special, np.float32(xs[:1000]).astype(np.float64)])  # some exactly representable
        for x in xs:
            y = np.float32(x)
            down = np.nextafter(y, np.float32(-np.inf)) if y > x else y
            up = np.nextafter(y, np.float32(np.inf)) if y < x else y
            assert np.float32(_bvh._down32(x)).tobytes() == down.tobytes(), x
            assert np.float32(_bvh._up32(x)).tobytes() == up.tobytes(), x


def test_half_edges_match_a_stable_sort_for_any_chunking():
    """The half-edges grouped by source vertex (parallel counting sort in chunks of faces) are numpy's stable sort
    of the corners by vertex, whatever the number of chunks; the closedness flag and the volume do not depend on it."""
    from implicit3d.geometry.distance import _half_edges

    rng = np.random.default_rng(24)
    mesh = blob(2)
    v, f = np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64)
    for faces in (f, f[rng.permutation(len(f))], np.vstack([f, f[:3]]), f[5:], f[:1]):
        faces = np.ascontiguousarray(faces)
        src = faces.reshape(-1)
        order = np.argsort(src, kind="stable")
        ref = _half_edges(v, faces, 1)
        np.testing.assert_array_equal(ref[0], np.concatenate([[0], np.cumsum(np.bincount(src, minlength=len(v)))]))
        np.testing.assert_array_equal(ref[1], faces[:, [1, 2, 0]].reshape(-1)[order])
        np.testing.assert_array_equal(ref[2], order // 3)
        np.testing.assert_array_equal(ref[3], order % 3)
        for n_chunks in (2, 3, 8, len(faces) + 3):
            out = _half_edges(v, faces, n_chunks)
            for a, b in zip(ref, out, strict=True):
                np.testing.assert_array_equal(a, b)
    assert _half_edges(v, f, 4)[4] and not _half_edges(v, f[5:], 4)[4]


def test_auto_sign_of_overlapping_closed_parts_is_their_union():
    """Two closed spheres that overlap (as V-HACD pieces do): every edge is shared by two faces, yet the pseudonormal
    of the nearest part calls the overlap's points outside when the other part's surface is nearer; ``auto`` takes
    the union there, the pseudonormal stays for a single part."""
    a = trimesh.creation.icosphere(subdivisions=3, radius=1.0)
    b = trimesh.creation.icosphere(subdivisions=3, radius=0.8).apply_translation((0.9, 0.2, 0.1))
    both = trimesh.util.concatenate([a, b])
    pts = np.random.default_rng(3).uniform(-1.2, 2.0, (4000, 3))
    union = (np.linalg.norm(pts, axis=1) < 1.0) | (np.linalg.norm(pts - (0.9, 0.2, 0.1), axis=1) < 0.8)
    md = MeshDistance(both)
    assert md.is_closed and md.parts == 2
    polyhedral = np.abs(md.unsigned_distance(pts)) < 0.01  # the icospheres' facets differ from the true spheres
    sd = md.signed_distance(pts)
    np.testing.assert_array_equal((sd < 0)[~polyhedral], union[~polyhedral])
    wrong = (md.signed_distance(pts, sign="pseudonormal") < 0) != union
    assert wrong[~polyhedral].sum() > 20  # the reason for the rule
    one = MeshDistance(a)
    assert one.parts == 1
    np.testing.assert_array_equal(one.signed_distance(pts), one.signed_distance(pts, sign="pseudonormal"))
