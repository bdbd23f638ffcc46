import numba
import numpy as np
import pytest
import trimesh

from implicit3d.sensing import Intrinsics, look_at, render, render_depth, render_partial_view, sample_views

K_SMALL = Intrinsics(fx=120.0, fy=110.0, cx=39.5, cy=29.5, width=80, height=60)


def _pixel_rays(k: Intrinsics) -> np.ndarray:
    """(H, W, 3) camera-frame rays through pixel centres, z component 1."""
    vv, uu = np.mgrid[0 : k.height, 0 : k.width]
    return np.stack([(uu - k.cx) / k.fx, (vv - k.cy) / k.fy, np.ones(uu.shape)], -1)


def _reference_depth(vertices_cam: np.ndarray, faces: np.ndarray, k: Intrinsics) -> np.ndarray:
    """Slow, obviously-correct reference: Moller-Trumbore for every (pixel ray, triangle) pair, nearest hit."""
    rays = _pixel_rays(k).reshape(-1, 3)
    tri = vertices_cam[faces]
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    best = np.full(len(rays), np.inf)
    for i in range(0, len(rays), 256):
        r = rays[i : i + 256, None, :]
        p = np.cross(r, e2[None])
        det = np.einsum("rfc,fc->rf", p, e1)
        ok = np.abs(det) > 1e-15
        inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
        s = -tri[None, :, 0]
        u = np.einsum("rfc,fc->rf", p, s[0]) * inv
        q = np.cross(s[0], e1)
        v = np.einsum("rc,fc->rf", r[:, 0], q) * inv
        t = np.einsum("fc,fc->f", e2, q)[None] * inv  # ray parameter; ray z = 1 so t is the depth
        hit = ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
        best[i : i + 256] = np.where(hit, t, np.inf).min(axis=1)
    return np.where(np.isfinite(best), best, 0.0).reshape(k.height, k.width)


def _small_bunny(bunny: trimesh.Trimesh) -> trimesh.Trimesh:
    m = bunny.copy()
    m.apply_translation(-m.bounds.mean(axis=0))
    m.apply_scale(0.1)  # ~20 cm tall
    return m


def test_fronto_parallel_plane_depth_is_constant():
    d = 0.873
    quad_v = np.array([[-5, -5, d], [5, -5, d], [5, 5, d], [-5, 5, d]], float)
    quad_f = np.array([[0, 1, 2], [0, 2, 3]])
    k = Intrinsics.from_fov(60.0, 64, 48)
    depth = render_depth((quad_v, quad_f), k, np.eye(4))
    assert depth.dtype == np.float32 and depth.shape == (48, 64)
    np.testing.assert_allclose(depth, d, rtol=1e-6)


def test_tilted_plane_is_perspective_correct():
    # plane n . p = c, tilted 50 degrees about the camera x axis, seen from a camera translated in the world
    ang = np.radians(50.0)
    n = np.array([0.0, np.sin(ang), -np.cos(ang)])
    c = -0.7 * np.cos(ang)  # passes through (0, 0, 0.7)
    e1 = np.array([1.0, 0.0, 0.0])
    e2 = np.cross(n, e1)
    p0 = np.array([0.0, 0.0, 0.7])
    verts = np.array([p0 + 0.5 * (a * e1 + b * e2) for a, b in [(-1, -1), (1, -1), (1, 1), (-1, 1)]])
    pose = np.eye(4)
    pose[:3, 3] = [0.2, -0.1, 0.3]
    depth = render_depth((verts + pose[:3, 3], np.array([[0, 1, 2], [0, 2, 3]])), K_SMALL, pose)
    rays = _pixel_rays(K_SMALL)
    expected = c / (rays @ n)
    assert (depth > 0).all()
    np.testing.assert_allclose(depth, expected, rtol=1e-6)


def test_sphere_matches_analytic_ray_intersection():
    r, centre = 0.1, np.array([0.02, -0.01, 0.6])
    sphere = trimesh.creation.icosphere(subdivisions=5, radius=r)
    sphere.apply_translation(centre)
    k = Intrinsics.from_fov(30.0, 96, 72)
    depth = render_depth(sphere, k, np.eye(4)).astype(np.float64)
    d = _pixel_rays(k)
    # |t d - c|^2 = r^2 -> a t^2 - 2 b t + (|c|^2 - r^2) = 0, nearest root
    a = (d * d).sum(-1)
    b = d @ centre
    disc = b * b - a * (centre @ centre - r * r)
    t = (b - np.sqrt(np.maximum(disc, 0))) / a
    expected = np.where(disc > 0, t, 0.0)  # ray z component is 1: t is the depth
    # interior pixels: ray passes well inside the silhouette
    dist_axis = np.linalg.norm(np.cross(d / np.sqrt(a)[..., None], centre), axis=-1)
    interior = dist_axis < 0.9 * r
    assert interior.sum() > 500
    assert np.abs(depth - expected)[interior].max() < 1e-4
    outside = dist_axis > 1.02 * r
    assert (depth[outside] == 0).all()


def test_matches_reference_ray_caster_small(bunny):
    m = _small_bunny(bunny)
    pose = look_at([0.35, -0.25, 0.2], [0, 0, 0])
    res = render(m, K_SMALL, pose)
    vcam = (m.vertices - pose[:3, 3]) @ pose[:3, :3]
    ref = _reference_depth(vcam, m.faces, K_SMALL)
    assert (ref > 0).sum() > 300
    mismatch = (ref > 0) != (res.depth > 0)
    assert mismatch.sum() <= 2  # pixel centres exactly on the silhouette may go either way
    both = (ref > 0) & (res.depth > 0)
    assert np.abs(res.depth[both] - ref[both]).max() < 1e-5


def test_matches_embree_on_bunny(bunny):
    ray_pyembree = pytest.importorskip("trimesh.ray.ray_pyembree")
    m = _small_bunny(bunny)
    k = Intrinsics.from_fov(45.0, 160, 120)
    caster = ray_pyembree.RayMeshIntersector(m)
    rays = _pixel_rays(k).reshape(-1, 3)
    for pose in sample_views(3, 1, distance=(0.4, 0.6), hemisphere="full"):
        depth = render_depth(m, k, pose)
        dirs = rays @ pose[:3, :3].T
        locs, idx, _ = caster.intersects_location(np.broadcast_to(pose[:3, 3], dirs.shape), dirs, multiple_hits=False)
        ref = np.zeros(len(rays))
        ref[idx] = (locs - pose[:3, 3]) @ pose[:3, 2]
        ref = ref.reshape(depth.shape)
        assert (ref > 0).sum() > 500
        assert ((ref > 0) != (depth > 0)).mean() < 1e-3
        both = (ref > 0) & (depth > 0)
        diff = np.abs(depth[both] - ref[both])
        assert np.median(diff) < 1e-6 and np.quantile(diff, 0.999) < 1e-4


def test_watertight_on_edges_through_pixel_centres():
    # a fan of triangles whose shared edges pass exactly through pixel centres: no pixel may be missed
    k = Intrinsics(fx=100.0, fy=100.0, cx=0.0, cy=0.0, width=40, height=40)
    z = 1.0
    centre = np.array([20.0, 20.0])
    ring = [np.array([2.0, 2.0]), np.array([38.0, 2.0]), np.array([38.0, 38.0]), np.array([2.0, 38.0])]
    pts = [centre]
    for i in range(4):  # subdivide each side at pixel centres: edges to the centre hit centres along the way
        a, b = ring[i], ring[(i + 1) % 4]
        for t in np.linspace(0, 1, 7)[:-1]:
            pts.append(a + t * (b - a))
    pts2 = np.array(pts)
    verts = np.column_stack([pts2 / 100.0 * z, np.full(len(pts2), z)])
    n = len(pts2) - 1
    faces = np.array([[0, 1 + i, 1 + (i + 1) % n] for i in range(n)])
    depth = render_depth((verts, faces), k, np.eye(4))
    covered = depth > 0
    assert covered[2:39, 2:39].all()  # closed square [2, 38]^2 of pixel centres, inclusive
    assert covered.sum() == 37 * 37
    np.testing.assert_allclose(depth[covered], z, rtol=1e-6)


def test_faces_and_normals():
    box = trimesh.creation.box(extents=[0.2, 0.2, 0.2])
    pose = look_at([0.5, 0.4, 0.3], [0, 0, 0])
    res = render(box, K_SMALL, pose)
    hit = res.depth > 0
    assert res.face_index.dtype == np.int32
    assert ((res.face_index >= 0) == hit).all()
    n_world = box.face_normals[res.face_index[hit]]
    np.testing.assert_allclose(res.normals_cam[hit], n_world @ pose[:3, :3], atol=1e-5)
    rays = _pixel_rays(K_SMALL)[hit]
    assert (np.einsum("pc,pc->p", res.normals_cam[hit], rays) < 0).all()
    assert (res.normals_cam[~hit] == 0).all()
    # three faces of the box are visible from a generic corner view
    assert len(np.unique(np.round(res.normals_cam[hit], 3), axis=0)) == 3


def test_behind_camera_and_bad_inputs():
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.1)
    sphere.apply_translation([0, 0, -1.0])
    assert (render_depth(sphere, K_SMALL, np.eye(4)) == 0).all()
    with pytest.raises(ValueError, match="4, 4"):
        render_depth(sphere, K_SMALL, np.eye(3))
    bad = np.eye(4)
    bad[0, 0] = 2.0
    with pytest.raises(ValueError, match="rotation"):
        render_depth(sphere, K_SMALL, bad)
    with pytest.raises(TypeError, match="Intrinsics"):
        render_depth(sphere, (100, 100, 50, 50), np.eye(4))
    with pytest.raises(ValueError):
        render_depth((np.zeros((0, 3)), np.zeros((0, 3), int)), K_SMALL, np.eye(4))


def test_same_depth_single_thread(bunny):
    m = _small_bunny(bunny)
    pose = look_at([0.3, 0.3, 0.3], [0, 0, 0])
    k = Intrinsics.from_fov(45.0, 160, 120)
    multi = render_depth(m, k, pose)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = render_depth(m, k, pose)
    finally:
        numba.set_num_threads(old)
    np.testing.assert_array_equal(multi, single)


def test_triangles_crossing_the_near_plane_are_clipped():
    """A triangle with corners behind the near plane is drawn by its part beyond it: a floor of two large triangles
    seen from 5 cm above renders as the same floor cut into 1 cm triangles (none of which crosses the plane in
    view), pixel for pixel up to rounding, with the faces it was cut from; a fan of triangles around a vertex
    behind the camera leaves no crack along the cut (every pixel of a closed box seen from inside is drawn)."""
    import warnings

    floor = trimesh.Trimesh([[-2, -2, 0], [2, -2, 0], [2, 2, 0], [-2, 2, 0]], [[0, 1, 2], [0, 2, 3]], process=False)
    k = Intrinsics.from_fov(60.0, 64, 48)
    pose = look_at([0.0, 0.0, 0.05], [1.0, 0.0, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = render(floor, k, pose)
    fine = trimesh.Trimesh(*trimesh.remesh.subdivide_to_size(floor.vertices, floor.faces, 0.01), process=False)
    ref = render_depth(fine, k, pose)
    drawn = res.depth > 0
    assert drawn.sum() > 0.3 * 64 * 48
    np.testing.assert_array_equal(drawn, ref > 0)
    np.testing.assert_allclose(res.depth[drawn], ref[drawn], rtol=1e-5)
    assert set(np.unique(res.face_index[drawn])) <= {0, 1} and (res.face_index[~drawn] == -1).all()
    np.testing.assert_allclose(res.normals_cam[drawn] @ (pose[:3, :3].T @ [0, 0, 1.0]), 1.0, atol=1e-6)
    # inside a closed box (its triangles meet at corners behind the camera): every pixel is hit, none twice-missed
    box = trimesh.creation.box(extents=[1.0, 1.0, 1.0])
    for eye, target in (([0.1, 0.05, 0.0], [1.0, 0.3, 0.2]), ([0.0, 0.0, 0.0], [-0.2, 1.0, -0.4])):
        inside = render(box, Intrinsics.from_fov(90.0, 96, 72), look_at(eye, target))
        assert (inside.depth > 0).all() and (inside.face_index >= 0).all()


def test_a_corner_just_beyond_the_near_plane_is_cut_within_its_triangle():
    """A front corner within 1e-6 of ``near`` (the cut's plane) puts the cut at that corner, not beyond the edge: the
    clipped piece covers no pixel that the whole triangle (subdivided, nothing crossing) does not; ``near`` must be a
    positive distance."""
    k = Intrinsics.from_fov(60.0, 64, 48)
    tri = trimesh.Trimesh([[0.0, 0.0, 0.1 + 1e-9], [0.3, -0.2, 1.0], [-0.3, -0.1, -0.5]], [[0, 1, 2]], process=False)
    got = render_depth(tri, k, np.eye(4), near=0.1) > 0
    fine = trimesh.Trimesh(*trimesh.remesh.subdivide_to_size(tri.vertices, tri.faces, 0.005), process=False)
    ref = render_depth(fine, k, np.eye(4), near=0.1) > 0
    assert ref.sum() > 10 and not (got & ~ref).any()
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="near must be a positive distance"):
            render_depth(tri, k, np.eye(4), near=bad)


def test_render_partial_view(bunny):
    m = _small_bunny(bunny)
    pose = look_at([0.3, -0.3, 0.25], [0, 0, 0])
    k = Intrinsics.from_fov(45.0, 160, 120)
    depth, pts = render_partial_view(m, k, pose, "none", 0)
    assert pts.dtype == np.float32 and len(pts) == (depth > 0).sum() > 1000
    dist = trimesh.proximity.closest_point(m, pts.astype(np.float64))[1]
    assert dist.max() < 1e-4
    # reflective faces become holes exactly where they are visible
    res = render(m, k, pose)
    refl = np.zeros(len(m.faces), bool)
    refl[: len(m.faces) // 2] = True
    depth_r, _ = render_partial_view(m, k, pose, "none", 0, reflective_faces=refl)
    visible_refl = (res.face_index >= 0) & refl[np.maximum(res.face_index, 0)]
    assert visible_refl.sum() > 100
    assert (depth_r[visible_refl] == 0).all()
    np.testing.assert_array_equal(depth_r[~visible_refl], res.depth[~visible_refl])
    # a 0/1 integer mask (uint8 from an image library) is a mask, not the face indices 0 and 1
    depth_u8, _ = render_partial_view(m, k, pose, "none", 0, reflective_faces=refl.astype(np.uint8))
    np.testing.assert_array_equal(depth_u8, depth_r)
    depth_idx, _ = render_partial_view(m, k, pose, "none", 0, reflective_faces=np.flatnonzero(refl))
    np.testing.assert_array_equal(depth_idx, depth_r)
    for bad, message in (([-1], "indices must be in"), ([len(m.faces)], "indices must be in"),
                         ([0.7], "bool mask .* or face indices")):
        with pytest.raises(ValueError, match=message):
            render_partial_view(m, k, pose, "none", 0, reflective_faces=np.array(bad))
    noisy, _ = render_partial_view(m, k, pose, "realsense_d435", 0)
    assert 0.5 * (depth > 0).sum() < (noisy > 0).sum() <= (depth > 0).sum() * 1.2
