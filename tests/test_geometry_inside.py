"""Tests of implicit3d.geometry.inside (signed crossings, ray parity, vote, auto) and implicit3d.geometry.winding."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import load_pybullet_mesh
from implicit3d.geometry.inside import RayGrid, closure, inside, is_closed, is_oriented, ray_brute_force
from implicit3d.geometry.winding import WindingTree, winding_number


def parity_numpy(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Independent O(N F) reference: +z ray parity with plain barycentric coordinates (points in general position)."""
    tri = vertices[faces]  # (F, 3, 3)
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    p = points[:, None, :]  # (N, 1, 3)

    def cross2(o, d, q):
        return (d[..., 0] - o[..., 0]) * (q[..., 1] - o[..., 1]) - (d[..., 1] - o[..., 1]) * (q[..., 0] - o[..., 0])

    wa, wb, wc = cross2(b, c, p), cross2(c, a, p), cross2(a, b, p)  # (N, F)
    area = wa + wb + wc
    hit = ((wa > 0) & (wb > 0) & (wc > 0)) | ((wa < 0) & (wb < 0) & (wc < 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (wa * a[:, 2] + wb * b[:, 2] + wc * c[:, 2]) / area
    return ((hit & (z > p[..., 2])).sum(axis=1) % 2) == 1


def random_hull(seed: int, n: int = 30) -> trimesh.Trimesh:
    rng = np.random.default_rng(seed)
    return trimesh.convex.convex_hull(rng.normal(size=(n, 3)) * rng.uniform(0.5, 2.0, 3))


def padded_uniform(mesh: trimesh.Trimesh, n: int, seed: int) -> np.ndarray:
    lo, hi = mesh.bounds
    pad = 0.1 * (hi - lo)
    return np.random.default_rng(seed).uniform(lo - pad, hi + pad, (n, 3))


def box_grid(lo: np.ndarray, hi: np.ndarray, steps: int = 4) -> np.ndarray:
    """Grid that hits the box's vertices, edges, face diagonals and centre exactly (dyadic steps)."""
    axes = [np.linspace(lo[i] - (hi[i] - lo[i]) / 2, hi[i] + (hi[i] - lo[i]) / 2, 2 * steps + 1) for i in range(3)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)


# ---------------------------------------------------------------------------------------------- correctness


@pytest.mark.parametrize("seed", range(4))
def test_parity_matches_numpy_reference_and_winding_on_random_hulls(seed):
    mesh = random_hull(seed)
    pts = padded_uniform(mesh, 3000, seed)
    ours = inside(mesh, pts, "parity")
    ref = parity_numpy(mesh.vertices, mesh.faces, pts)
    np.testing.assert_array_equal(ours, ref)
    np.testing.assert_array_equal(ours, np.abs(winding_number(mesh, pts, exact=True)) > 0.5)
    np.testing.assert_array_equal(ours, mesh.contains(pts))
    assert 0.05 < ours.mean() < 0.95  # the test has both classes


def test_parity_icosphere_against_radius():
    mesh = trimesh.creation.icosphere(subdivisions=3, radius=1.0)
    pts = padded_uniform(mesh, 20000, 1)
    r = np.linalg.norm(pts, axis=1)
    ours = inside(mesh, pts)
    clear = (r < 0.98) | (r > 1.0001)  # the icosphere's faces lie between radius cos(half angle) and 1
    np.testing.assert_array_equal(ours[clear], r[clear] < 1.0)
    np.testing.assert_array_equal(ours, parity_numpy(mesh.vertices, mesh.faces, pts))


def test_bunny_all_methods_agree_with_exact_winding(bunny):
    pts = padded_uniform(bunny, 4000, 2)
    exact = np.abs(winding_number(bunny, pts, exact=True)) > 0.5
    assert is_closed(bunny)
    for method in ("auto", "parity", "vote", "winding"):
        np.testing.assert_array_equal(inside(bunny, pts, method), exact, err_msg=method)
    np.testing.assert_array_equal(ray_brute_force(bunny, pts), exact)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_grid_matches_brute_force_for_every_axis_and_cell_size(bunny, axis):
    pts = padded_uniform(bunny, 3000, 3)
    ref = ray_brute_force(bunny, pts, axis=axis)
    for factor in (0.05, 0.33, 3.0, 100.0):
        np.testing.assert_array_equal(RayGrid.build(bunny, axis=axis, cell_factor=factor)(pts), ref)


# ---------------------------------------------------------------------------------------------- degenerate rays


@pytest.mark.parametrize("method", ["parity", "vote"])
@pytest.mark.parametrize(
    "extents,centre", [((2.0, 2.0, 2.0), (0.0, 0.0, 0.0)), ((1.0, 0.5, 2.0), (0.25, -3.0, 8.0)), ((4, 1, 1), (1, 1, 1))]
)
def test_axis_aligned_box_on_aligned_grid(method, extents, centre):
    """Rays run exactly through the box's vertices, edges and faces; the documented rule is lo <= p < hi."""
    extents, centre = np.asarray(extents, float), np.asarray(centre, float)
    box = trimesh.creation.box(extents=extents)
    box.apply_translation(centre)
    lo, hi = box.bounds
    pts = box_grid(lo, hi)
    expected = np.all((pts >= lo) & (pts < hi), axis=1)
    np.testing.assert_array_equal(inside(box, pts, method), expected)
    strict = np.all((pts > lo) & (pts < hi), axis=1)
    off_surface = strict | np.any((pts < lo) | (pts > hi), axis=1)
    w = winding_number(box, pts[off_surface], exact=True)
    np.testing.assert_array_equal(np.abs(w) > 0.5, strict[off_surface])


def test_box_grid_brute_force_agrees_with_grid_kernel():
    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    pts = box_grid(*box.bounds, steps=8)
    for axis in range(3):
        np.testing.assert_array_equal(RayGrid.build(box, axis=axis)(pts), ray_brute_force(box, pts, axis=axis))


def test_points_on_box_faces_are_consistent():
    box = trimesh.creation.box(extents=(2.0, 2.0, 2.0))
    rng = np.random.default_rng(0)
    uv = rng.uniform(-0.9, 0.9, (200, 2))
    for axis in range(3):
        for side, expected in ((-1.0, True), (1.0, False)):
            pts = np.insert(uv, axis, side, axis=1)
            res = inside(box, pts, "parity")
            assert res.all() if expected else not res.any(), (axis, side)


@settings(max_examples=25, deadline=None)
@given(
    ext=st.tuples(*[st.integers(1, 8)] * 3),
    shift=st.tuples(*[st.integers(-16, 16)] * 3),
    scale=st.sampled_from([0.125, 0.5, 1.0, 4.0]),
)
def test_box_rule_property(ext, shift, scale):
    extents = np.asarray(ext, float) * scale
    box = trimesh.creation.box(extents=extents)
    box.apply_translation(np.asarray(shift, float) * scale)
    lo, hi = box.bounds
    pts = box_grid(lo, hi, steps=2)
    np.testing.assert_array_equal(inside(box, pts), np.all((pts >= lo) & (pts < hi), axis=1))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), shift=st.tuples(*[st.floats(-50, 50)] * 3))
def test_translating_mesh_and_points_together_keeps_the_answer(seed, shift):
    mesh = random_hull(seed, n=12)
    pts = padded_uniform(mesh, 300, seed)
    t = np.asarray(shift)
    moved = trimesh.Trimesh(mesh.vertices + t, mesh.faces, process=False)
    np.testing.assert_array_equal(inside(moved, pts + t), inside(mesh, pts))


# ---------------------------------------------------------------------------------------------- several parts


def union(*meshes: trimesh.Trimesh, flip: tuple[bool, ...] = ()) -> trimesh.Trimesh:
    """The parts as one mesh (vertices not merged); ``flip[i]`` reverses part i's faces."""
    vs, fs, n = [], [], 0
    for i, m in enumerate(meshes):
        f = np.asarray(m.faces)
        fs.append((f[:, ::-1] if i < len(flip) and flip[i] else f) + n)
        vs.append(np.asarray(m.vertices))
        n += len(m.vertices)
    return trimesh.Trimesh(np.vstack(vs), np.vstack(fs), process=False)


def sphere(radius: float = 1.0, centre=(0.0, 0.0, 0.0), subdivisions: int = 2) -> trimesh.Trimesh:
    return trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius).apply_translation(centre)


def exact_inside(mesh: trimesh.Trimesh, pts: np.ndarray) -> np.ndarray:
    """Non-zero exact winding number (points off the surface: w is an integer to ~1e-9)."""
    w = winding_number(mesh, pts, exact=True)
    assert np.abs(w - np.round(w)).max() < 1e-6
    return np.round(w) != 0


@pytest.mark.parametrize("flip", [(False, False), (True, True), (False, True), (True, False)])
def test_overlapping_shells_give_the_union(flip):
    mesh = union(sphere(1.0), sphere(0.8, (0.9, 0.2, 0.1)), flip=flip)
    pts = padded_uniform(mesh, 6000, 11)
    expected = exact_inside(mesh, pts)
    w = winding_number(mesh, pts, exact=True)
    if flip[0] == flip[1]:
        assert (np.abs(w) > 1.5).sum() > 100  # the overlap (|w| = 2) is sampled
    assert is_oriented(mesh)
    np.testing.assert_array_equal(inside(mesh, pts), expected)
    np.testing.assert_array_equal(inside(mesh, pts, "signed"), expected)
    np.testing.assert_array_equal(ray_brute_force(mesh, pts, signed=True), expected)
    if flip[0] == flip[1]:  # the parity rule calls the overlap outside: the reason for the signed count
        assert (inside(mesh, pts, "parity") != expected).sum() > 100


@pytest.mark.parametrize("inner_flipped", [False, True])
@pytest.mark.parametrize("outer_flipped", [False, True])
def test_nested_shells(outer_flipped, inner_flipped):
    """Same orientation: winding 2 in the inner part, inside (union). Opposite: winding 0, a cavity."""
    mesh = union(sphere(2.0), sphere(1.0, (0.3, 0.0, -0.2)), flip=(outer_flipped, inner_flipped))
    pts = padded_uniform(mesh, 6000, 12)
    expected = exact_inside(mesh, pts)
    in_inner = np.linalg.norm(pts - [0.3, 0.0, -0.2], axis=1) < 0.95
    assert in_inner.sum() > 100
    assert expected[in_inner].all() == (outer_flipped == inner_flipped)
    np.testing.assert_array_equal(inside(mesh, pts), expected)


@pytest.mark.parametrize("method", ["auto", "signed", "parity"])
def test_touching_boxes_on_aligned_grid(method):
    """Boxes sharing a face, and boxes sharing only an edge: rays run exactly through the shared parts."""
    a = trimesh.creation.box(bounds=[[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    face = trimesh.creation.box(bounds=[[1.0, 0.0, 0.0], [2.0, 1.0, 1.0]])
    edge = trimesh.creation.box(bounds=[[1.0, 1.0, 0.0], [2.0, 2.0, 1.0]])
    for other in (face, edge):
        for flip in ((False, False), (True, True)):
            mesh = union(a, other, flip=flip)
            assert is_oriented(mesh)
            pts = box_grid(np.zeros(3), np.full(3, 2.0), steps=8)
            expected = np.zeros(len(pts), bool)
            for part in (a, other):
                lo, hi = part.bounds
                expected |= np.all((pts >= lo) & (pts < hi), axis=1)  # half-open boxes: the documented rule
            np.testing.assert_array_equal(inside(mesh, pts, method), expected)


def test_duplicated_faces():
    """Duplicated faces count as often as they occur (winding 2); a double-sided sheet cancels out."""
    base = sphere(1.0)
    pts = padded_uniform(base, 4000, 13)
    ref = inside(base, pts)
    np.testing.assert_array_equal(ref, exact_inside(base, pts))
    doubled = trimesh.Trimesh(base.vertices, np.vstack([base.faces, base.faces]), process=False)
    sheet_v = np.array([[-0.5, -0.5, 0.1], [0.5, -0.5, 0.1], [0.5, 0.5, 0.1], [-0.5, 0.5, 0.1]]) * 3
    sheet_f = np.array([[0, 1, 2], [0, 2, 3]])
    sheet = trimesh.Trimesh(sheet_v, np.vstack([sheet_f, sheet_f[:, ::-1]]), process=False)
    for mesh in (doubled, union(base, sheet), union(base, base, flip=(False, True))):
        assert is_oriented(mesh)
        expected = exact_inside(mesh, pts)
        np.testing.assert_array_equal(inside(mesh, pts), expected)
    np.testing.assert_array_equal(inside(doubled, pts), ref)
    np.testing.assert_array_equal(inside(union(base, sheet), pts), ref)
    assert not inside(union(base, base, flip=(False, True)), pts).any()  # w = 1 - 1 everywhere


def test_inconsistent_orientation_falls_back_to_parity(bunny):
    faces = np.asarray(bunny.faces).copy()
    faces[::7] = faces[::7, ::-1]
    mixed = trimesh.Trimesh(bunny.vertices, faces, process=False)
    assert closure(mixed) == (True, False) and closure(bunny) == (True, True)
    pts = padded_uniform(bunny, 3000, 14)
    np.testing.assert_array_equal(inside(mixed, pts), inside(bunny, pts, "signed"))
    np.testing.assert_array_equal(inside(mixed, pts), inside(mixed, pts, "parity"))
    assert (inside(mixed, pts, "signed") != inside(bunny, pts)).any()  # the signed count needs the orientation


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_signed_grid_matches_brute_force(axis):
    mesh = union(sphere(1.0), sphere(0.7, (0.5, 0.5, 0.0)), sphere(0.4, (0.0, 0.0, 0.2)), flip=(False, False, True))
    pts = padded_uniform(mesh, 3000, 15)
    ref = ray_brute_force(mesh, pts, axis=axis, signed=True)
    np.testing.assert_array_equal(ref, exact_inside(mesh, pts))
    for factor in (0.05, 0.33, 3.0):
        np.testing.assert_array_equal(RayGrid.build(mesh, axis=axis, cell_factor=factor)(pts, signed=True), ref)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n_parts=st.integers(2, 4), flips=st.lists(st.booleans(), min_size=4, max_size=4))
def test_random_hull_unions_match_exact_winding(seed, n_parts, flips):
    rng = np.random.default_rng(seed)
    parts = [random_hull(seed + i, n=12).apply_translation(rng.normal(size=3)) for i in range(n_parts)]
    mesh = union(*parts, flip=tuple(flips))
    pts = padded_uniform(mesh, 800, seed)
    np.testing.assert_array_equal(inside(mesh, pts), exact_inside(mesh, pts))


MULTI_PART = ["random_urdfs/990/990.obj", "objects/mug_col.obj", "duck_vhacd.obj"]


@pytest.mark.parametrize("name", MULTI_PART)
def test_real_multi_part_meshes_match_exact_winding(name):
    """pybullet meshes made of several closed parts (990 and mug_col overlap: winding 2 there)."""
    mesh = load_pybullet_mesh(name)
    pts = padded_uniform(mesh, 20000, 16)
    w = winding_number(mesh, pts, exact=True)
    expected = np.round(w) != 0
    assert is_oriented(mesh)
    np.testing.assert_array_equal(inside(mesh, pts), expected)
    if name != "duck_vhacd.obj":
        assert (np.abs(w) > 1.5).any()


# ---------------------------------------------------------------------------------------------- open meshes


def open_box() -> trimesh.Trimesh:
    box = trimesh.creation.box(extents=(2.0, 2.0, 2.0))
    top = box.face_normals[:, 2] > 0.5
    return trimesh.Trimesh(box.vertices, box.faces[~top], process=False)


def test_open_box_robust_methods():
    mesh = open_box()
    assert not is_closed(mesh)
    rng = np.random.default_rng(5)
    deep = rng.uniform(-0.9, 0.3, (500, 3))  # inside, away from the missing top face
    outside = rng.uniform(-3, 3, (2000, 3))
    outside = outside[np.abs(outside).max(axis=1) > 1.05]
    for method in ("auto", "vote", "winding"):
        assert inside(mesh, deep, method).all(), method
        assert not inside(mesh, outside, method).any(), method
    w = winding_number(mesh, deep, exact=True)
    assert (w > 0.5).all() and (w < 1.0).all()


def test_vote_agrees_with_winding_on_holed_bunny(bunny):
    keep = np.ones(len(bunny.faces), bool)
    centres = bunny.triangles_center
    keep[np.argsort(np.linalg.norm(centres - centres[0], axis=1))[:10]] = False
    holed = trimesh.Trimesh(bunny.vertices, bunny.faces[keep], process=False)
    assert not is_closed(holed)
    pts = padded_uniform(bunny, 5000, 4)
    w_exact = np.abs(winding_number(holed, pts, exact=True))
    w = w_exact > 0.5
    assert (inside(holed, pts) == w).mean() > 0.99
    clear = np.abs(w_exact - 0.5) > 0.07  # beyond the hierarchical approximation's error
    np.testing.assert_array_equal(inside(holed, pts, "winding")[clear], w[clear])


def test_flipped_closed_mesh(bunny):
    flipped = trimesh.Trimesh(bunny.vertices, bunny.faces[:, ::-1], process=False)
    pts = padded_uniform(bunny, 2000, 6)
    ref = inside(bunny, pts)
    np.testing.assert_array_equal(inside(flipped, pts, "parity"), ref)
    np.testing.assert_array_equal(inside(flipped, pts, "winding"), ref)


def test_is_closed_matches_vertices_by_position():
    box = trimesh.creation.box()
    soup = trimesh.Trimesh(box.vertices[box.faces].reshape(-1, 3), np.arange(36).reshape(-1, 3), process=False)
    assert is_closed(box) and is_closed(soup)
    assert not is_closed(open_box())


def test_winding_tree_close_to_exact(bunny):
    pts = padded_uniform(bunny, 3000, 7)
    exact = winding_number(bunny, pts, exact=True)
    tree = WindingTree.build(bunny)
    assert np.abs(tree(pts, beta=2.0) - exact).max() < 0.05
    assert np.abs(tree(pts, beta=50.0) - exact).max() < 1e-6
    assert np.abs(exact[np.abs(exact) > 0.5] - 1.0).max() < 1e-9  # closed: 0 or 1


# ---------------------------------------------------------------------------------------------- degenerate input


def test_degenerate_triangles_are_tolerated(bunny):
    v = np.asarray(bunny.vertices)
    f = np.asarray(bunny.faces)
    extra_v = np.array([[0.0, 0.0, 0.0], [0.1, 0.1, 0.1], [0.2, 0.2, 0.2]])  # collinear
    vv = np.vstack([v, extra_v])
    n = len(v)
    extra_f = np.array([[n, n + 1, n + 2], [n, n + 1, n + 2], [0, 0, 1], [0, 1, 0], [5, 5, 5], [2, 2, 2]])
    ff = np.vstack([f, extra_f])
    pts = padded_uniform(bunny, 3000, 8)
    ref = inside(bunny, pts)
    assert is_closed((vv, ff))
    for method in ("auto", "parity", "vote", "winding"):
        np.testing.assert_array_equal(inside((vv, ff), pts, method), ref, err_msg=method)
    only_degenerate = (extra_v, np.array([[0, 1, 2], [0, 0, 1]]))
    assert not inside(only_degenerate, pts, "parity").any()
    assert not inside(only_degenerate, pts, "winding").any()


def test_empty_query_and_dtypes(bunny):
    assert inside(bunny, np.zeros((0, 3))).shape == (0,)
    res = inside(bunny, np.zeros((4, 3), np.float32))
    assert res.dtype == bool and res.shape == (4,)


@pytest.mark.parametrize(
    "mesh,points,error,match",
    [
        ((np.zeros((0, 3)), np.zeros((0, 3), int)), np.zeros((1, 3)), ValueError, "no vertices"),
        ((np.zeros((3, 3)), np.zeros((0, 3), int)), np.zeros((1, 3)), ValueError, "no faces"),
        (None, np.array([[0.0, np.nan, 0.0]]), ValueError, "NaN"),
        (None, np.array([[0.0, np.inf, 0.0]]), ValueError, "NaN or inf"),
        (None, np.zeros((5, 2)), ValueError, r"\(N, 3\)"),
        (None, np.zeros(3), ValueError, r"\(N, 3\)"),
        (None, [["a", "b", "c"]], TypeError, "numbers"),
        ("not a mesh", np.zeros((1, 3)), TypeError, "Trimesh"),
    ],
)
def test_bad_input(mesh, points, error, match):
    mesh = trimesh.creation.box() if mesh is None else mesh
    with pytest.raises(error, match=match):
        inside(mesh, points)


def test_bad_method():
    with pytest.raises(ValueError, match="method"):
        inside(trimesh.creation.box(), np.zeros((1, 3)), method="raycast")


def test_closure_merges_vertices_like_numpy_unique():
    """The closedness check matches vertices by exact coordinates like ``np.unique(axis=0)`` (slow reference): faces
    over duplicated vertices, -0.0 beside 0.0, tiny and huge values; the same answer as counting the edges of the
    merged faces exactly."""

    rng = np.random.default_rng(30)
    hull = random_hull(5)
    hv, hf = np.asarray(hull.vertices), np.asarray(hull.faces, np.int64)
    for trial in range(40):
        scale = [1.0, 0.1, 1e-300, 1e300][trial % 4]
        # every face gets its own copies of its corners (an unmerged soup), some with -0.0 for 0.0
        v = (np.round(hv * 4) / 4 * scale)[hf.reshape(-1)]
        zero = v == 0.0
        v[zero & (rng.random(v.shape) < 0.5)] = -0.0
        f = np.arange(len(v)).reshape(-1, 3)
        f = [f, f[1:], np.vstack([f, f[:1, ::-1]]), f[:, ::-1]][trial % 4]
        _, label = np.unique(v + 0.0, axis=0, return_inverse=True)
        merged = label.reshape(-1)[f]
        ref = closure_reference(merged)
        for chunks in (1, 3):
            assert hashed_closure(v, np.ascontiguousarray(f), chunks) == ref, (trial, chunks)
    assert hashed_closure(np.zeros((3, 3)), np.array([[0, 1, 2]]), 1) == (False, False)


@pytest.mark.parametrize("factor,cells", [(0.01, 8.0), (4.0, 0.1), (0.125, 2.0)])
def test_sweep_cell_size_does_not_change_answers(monkeypatch, bunny, factor, cells):
    """The sweep's cell size is a speed setting only: very fine, very coarse and the default cells give the ray
    grid's answers (with and without the voxel shortcut)."""
    import implicit3d.geometry.inside as inside_module

    monkeypatch.setattr(inside_module, "SWEEP_FACTOR", factor)
    monkeypatch.setattr(inside_module, "SWEEP_CELLS", cells)
    overlap = union(sphere(1.0), sphere(0.8, (0.9, 0.2, 0.1)), flip=(False, True))
    for mesh in (bunny, overlap):
        pts = np.vstack([padded_uniform(mesh, 5000, 19), mesh.vertices, mesh.triangles_center])
        grid = RayGrid.build(mesh)
        for min_points in (0.0, 1e9):  # voxels always / never
            monkeypatch.setattr(inside_module, "VOXEL_MIN_POINTS", min_points)
            for method in ("signed", "parity"):
                np.testing.assert_array_equal(inside(mesh, pts, method), grid(pts, signed=method == "signed"))


# ---------------------------------------------------------------------------------------------- voxel shortcut


@pytest.mark.parametrize("voxel_factor,voxel_points", [(1.0, 1.0), (0.05, 1e-3), (8.0, 1.0)])
def test_sweep_and_voxel_shortcut_match_the_ray_grid(monkeypatch, bunny, voxel_factor, voxel_points):
    """The point-grid sweep behind the voxel shortcut gives the ray grid's answers, also for points on the surface,
    on voxel faces and on the mesh's bounding box (coarse, fine and very fine voxels)."""
    import implicit3d.geometry.inside as inside_module

    monkeypatch.setattr(inside_module, "VOXEL_FACTOR", voxel_factor)
    monkeypatch.setattr(inside_module, "VOXEL_POINTS", voxel_points)
    monkeypatch.setattr(inside_module, "VOXEL_MIN_POINTS", 0.0)
    overlap = union(sphere(1.0), sphere(0.8, (0.9, 0.2, 0.1)), sphere(0.3, (0.0, 0.0, 0.1)), flip=(False, False, True))
    box = union(trimesh.creation.box(bounds=[[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]),
                trimesh.creation.box(bounds=[[1.0, 0.0, 0.0], [2.0, 1.0, 1.0]]))
    for mesh in (bunny, overlap, box):
        lo, hi = mesh.bounds
        pts = np.vstack([padded_uniform(mesh, 20000, 17), box_grid(lo, hi, steps=16), mesh.vertices,
                         mesh.triangles_center])
        grid = RayGrid.build(mesh)
        for method in ("signed", "parity"):
            np.testing.assert_array_equal(inside(mesh, pts, method), grid(pts, signed=method == "signed"))
    expected = np.all((pts >= 0.0) & (pts < [2.0, 1.0, 1.0]), axis=1)
    np.testing.assert_array_equal(inside(box, pts), expected)


@pytest.mark.parametrize("min_work", [0, 10**12])
def test_serial_and_parallel_kernels_and_sweep_blocks_agree(monkeypatch, bunny, min_work):
    """The serial twins (small calls) and the parallel kernels give the ray grid's answers, with the voxel shortcut's
    queries (run centres, then points in touched voxels) split over several sweep blocks."""
    import implicit3d.geometry.inside as inside_module

    monkeypatch.setattr(inside_module, "_PARALLEL_MIN_WORK", min_work)  # 0: always parallel; 10**12: always serial
    monkeypatch.setattr(inside_module, "_SWEEP_COUNTERS", 1)  # blocks of 65536 queries
    monkeypatch.setattr(inside_module, "VOXEL_MIN_POINTS", 0.0)
    monkeypatch.setattr(inside_module, "VOXEL_FACTOR", 3.0)  # coarse voxels: most points need a ray
    pts = np.vstack([padded_uniform(bunny, 150_000, 21), bunny.vertices])
    grid = RayGrid.build(bunny)
    for method in ("signed", "parity"):
        np.testing.assert_array_equal(inside(bunny, pts, method), grid(pts, signed=method == "signed"))
    assert closure(bunny) == (True, True)


def test_sweep_on_open_mesh_matches_the_ray_grid(monkeypatch):
    """No voxel shortcut where the ray answer is not constant off the surface (open mesh, forced parity); the sweep
    in several blocks of points."""
    import implicit3d.geometry.inside as inside_module

    monkeypatch.setattr(inside_module, "_SWEEP_COUNTERS", 1)  # blocks of 65536 points
    mesh = open_box()
    pts = np.vstack([padded_uniform(mesh, 150_000, 18), box_grid(*mesh.bounds, steps=8)])
    np.testing.assert_array_equal(inside(mesh, pts, "parity"), RayGrid.build(mesh)(pts))
    np.testing.assert_array_equal(inside(mesh, pts, "signed"), RayGrid.build(mesh)(pts, signed=True))
    votes = sum(RayGrid.build(mesh, axis=a)(pts).astype(int) for a in range(3))
    np.testing.assert_array_equal(inside(mesh, pts, "vote"), votes >= 2)


def hashed_closure(v: np.ndarray, faces: np.ndarray, chunks: int, kernels=None) -> tuple[bool, bool]:  # noqa: ANN001
    """``(closed, oriented)`` by the kernels' hashed edge check (``vertex_hashes``, then ``edge_closure``)."""
    from implicit3d.geometry import _inside_kernels as K

    k = kernels or K.PARALLEL
    v = np.ascontiguousarray(v, np.float64)
    hv, _, _ = k.vertex_hashes(v, v.view(np.int64), chunks)
    return k.edge_closure(hv, faces, chunks)


def closure_reference(faces: np.ndarray) -> tuple[bool, bool]:
    """Slow exact reference of the hashed edge check (vertices already merged): count every directed edge."""
    from collections import Counter

    directed = Counter((int(a), int(b)) for t in faces for a, b in zip(t, np.roll(t, -1), strict=True) if a != b)
    if not directed:
        return False, False
    pairs = {tuple(sorted(e)) for e in directed}
    closed = all((directed[(a, b)] + directed[(b, a)]) % 2 == 0 for a, b in pairs)
    oriented = all(directed[(a, b)] == directed[(b, a)] for a, b in pairs)
    return closed, closed and oriented


def test_hashed_closure_matches_exact_edge_count_for_any_chunking():
    """The hashed edge check matches an exact dict count, for any number of chunks, on closed, flipped, open,
    duplicated-face, self-loop and random meshes (vertices at distinct positions)."""
    from implicit3d.geometry import _inside_kernels as K

    rng = np.random.default_rng(31)
    hull = random_hull(3)
    f = np.asarray(hull.faces, np.int64)
    flipped = f.copy()
    flipped[:3] = flipped[:3, ::-1]
    cases = [f, flipped, f[1:], np.vstack([f, f]), np.vstack([f, f[:1]]), np.vstack([f, [[0, 0, 1]]]),
             np.vstack([f, f[:2, ::-1], f[:2]]), np.array([[0, 1, 2]]), np.array([[0, 0, 0]]),
             rng.integers(0, 6, (40, 3))]
    cases += [rng.integers(0, 8, (int(rng.integers(1, 30)), 3)) for _ in range(200)]
    cases += [np.vstack([f, f[rng.integers(0, len(f), 2)][:, ::-1]]) for _ in range(20)]
    n_closed = 0
    for faces in cases:
        faces = np.ascontiguousarray(faces, np.int64)
        v = rng.normal(size=(int(faces.max()) + 1, 3))
        ref = closure_reference(faces)
        n_closed += ref[0]
        for chunks in (1, 2, 3, 7, 1000):
            assert hashed_closure(v, faces, chunks) == ref, (faces.shape, chunks)
            assert hashed_closure(v, faces, chunks, K.SERIAL) == ref, (faces.shape, chunks)
    assert 5 <= n_closed < len(cases)  # both answers were exercised




def bbox_marked_voxels(vertices: np.ndarray, faces: np.ndarray, lo: np.ndarray, inv: float, shape: np.ndarray):
    """Reference: the voxels that each face's bounding box covers (the previous, looser marking), as a bool grid."""
    out = np.zeros(shape, bool)
    tri = vertices[faces]
    i0 = np.clip(np.floor((tri.min(axis=1) - lo) * inv).astype(int), 0, shape - 1)
    i1 = np.clip(np.floor((tri.max(axis=1) - lo) * inv).astype(int), 0, shape - 1)
    for a, b in zip(i0, i1, strict=True):
        out[a[0] : b[0] + 1, a[1] : b[1] + 1, a[2] : b[2] + 1] = True
    return out


@pytest.mark.parametrize("kernels", ["SERIAL", "PARALLEL"])
def test_voxel_mark_keeps_every_voxel_the_surface_touches(bunny, kernels):
    """The separating-axis marking never drops a voxel that the surface meets (dense surface samples, vertices, edge
    points, faces lying exactly on voxel planes, corners on voxel corners), marks only voxels inside the faces'
    bounding boxes, and on the bunny far fewer of them than the bounding boxes (so fewer points need a ray)."""
    from implicit3d.geometry import _inside_kernels as K

    k = getattr(K, kernels)
    z = np.array([0, 1, 2], np.int64)
    box = trimesh.creation.box(bounds=[[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])  # faces on voxel planes for inv = 4
    tilted = trimesh.creation.box(extents=(1.0, 0.6, 0.3), transform=trimesh.transformations.random_rotation_matrix(
        np.random.default_rng(5).random(3)))
    cases = [(bunny, 30.0), (random_hull(3), 4.0), (random_hull(4, 200), 11.0), (box, 4.0), (tilted, 9.0)]
    counts = {}
    for mesh, scale in cases:
        v = np.ascontiguousarray(mesh.vertices, np.float64)
        f = np.ascontiguousarray(mesh.faces, np.int64)
        lo, hi = v.min(axis=0), v.max(axis=0)
        inv = scale / float((hi - lo).max())
        shape = np.maximum(1, np.ceil((hi - lo) * inv)).astype(np.int64)
        state = k.voxel_mark(v, f, z, lo, inv, shape) == K.VOXEL_SURFACE
        samples, _ = trimesh.sample.sample_surface(mesh, 200_000, seed=1)
        edges = v[mesh.edges_unique]
        t = np.random.default_rng(2).random((len(edges), 8, 1))
        edge_points = (edges[:, :1] * t + edges[:, 1:] * (1.0 - t)).reshape(-1, 3)
        for p in (samples, v, edge_points, mesh.triangles_center):
            idx = np.clip(np.floor((p - lo) * inv).astype(int), 0, shape - 1)
            assert state[idx[:, 0], idx[:, 1], idx[:, 2]].all()
        loose = bbox_marked_voxels(v, f, lo, inv, shape)
        assert not (state & ~loose).any()
        counts[len(counts)] = (state.sum(), loose.sum())
    marked, loose = counts[0]  # the bunny
    assert marked < 0.8 * loose


def test_serial_twins_are_cached_on_disk_like_their_kernels() -> None:
    """Every serial twin of a disk-cached kernel is disk-cached too (before, the twins were compiled anew in every
    process: ~12 s for the first small ``inside`` call)."""
    from numba.core.caching import NullCache

    from implicit3d.geometry import _inside_kernels as K

    for name, kernel in vars(K.PARALLEL).items():
        twin = getattr(K.SERIAL, name)
        assert isinstance(twin._cache, NullCache) == isinstance(kernel._cache, NullCache), name
        assert not isinstance(twin._cache, NullCache), name
