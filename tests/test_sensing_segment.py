"""Support plane, table region and object segmentation of depth frames (sensing/segment.py), on simulated tabletop
frames rendered with the project's own rasterizer."""

from __future__ import annotations

import numpy as np
import pytest

from implicit3d import shapes
from implicit3d.evaluation.tabletop import make_tabletop_scene
from implicit3d.scene import points_map_of
from implicit3d.sensing.camera import Intrinsics
from implicit3d.sensing.segment import (
    NoPlaneError,
    Plane,
    SegmentSettings,
    _attach_fragments,
    _merge_inside_hull,
    crease_pixels,
    find_planes,
    find_support_plane,
    fit_plane,
    segment_objects,
    structure_mask,
    table_region,
)

SMALL = Intrinsics(fx=262.5, fy=262.5, cx=159.5, cy=119.5, width=320, height=240)


@pytest.fixture(scope="module")
def frame():
    objects = [(c, shapes.generate(c, s).mesh) for c, s in (("bottle", 5), ("box", 7), ("can", 3))]
    # placement seed 4: the catalogue's cans changed (tube style) and with them the old seed-3 layout, where the can now
    # touches the box and the two merge (touching objects merge: a known limit, 2 of 8 placements here)
    return make_tabletop_scene(objects, np.random.default_rng(4), intrinsics=SMALL, distance=(0.6, 0.8))


def test_fit_plane_recovers_a_noisy_plane_among_outliers() -> None:
    rng = np.random.default_rng(0)
    n_true = np.array([0.2, -0.9, -0.3])
    n_true /= np.linalg.norm(n_true)
    uv = rng.uniform(-0.5, 0.5, (4000, 2))
    basis = np.linalg.svd(n_true[None])[2][1:]
    on = uv @ basis + 0.8 * n_true * -1 + rng.normal(0, 0.002, (4000, 1)) * n_true
    outliers = rng.uniform(-1, 1, (2000, 3))
    plane = fit_plane(np.vstack([on, outliers]), rng)
    assert abs(plane.normal @ n_true) > 0.999 and plane.d > 0  # oriented towards the camera at the origin
    assert plane.d == pytest.approx(0.8, abs=0.003) and plane.inliers >= 3900


def test_a_table_seen_in_pieces_is_one_region() -> None:
    """Objects whose shadows reach the image border cut the visible table into patches: every patch of at least a
    fifth of the largest one's area is the table (the region spans the gap between them, where an object stands);
    a small coplanar patch far away is not."""
    rng = np.random.default_rng(0)
    plane = Plane(np.array([0.0, -1.0, 0.0]), 0.5, 0, 0.0)  # y = 0.5: a table 0.5 m below an upright camera
    basis = plane.basis()

    def patch(lo, hi, n):  # points on the plane, uniform over a rectangle of plane coordinates (metres)
        uv = rng.uniform(lo, hi, (n, 2))
        return uv @ basis - plane.d * plane.normal

    left, right = patch([-0.4, 0.0], [-0.1, 0.5], 6000), patch([0.1, 0.0], [0.3, 0.5], 4000)
    far_bit = patch([1.5, 1.5], [1.6, 1.6], 300)
    region = table_region(plane, np.vstack([left, right, far_bit]))
    gap = patch([-0.05, 0.1], [0.05, 0.4], 200)  # where an object stands, between the patches
    assert region.contains(left).all() and region.contains(right).all() and region.contains(gap).all()
    assert not region.contains(far_bit).any()
    alone = table_region(plane, np.vstack([left, far_bit]))  # the largest patch alone: the gap is beyond it
    assert not alone.contains(gap).mean() > 0.5 and not alone.contains(right).any()
    desk = patch([1.5, 0.0], [1.7, 0.5], 3000)  # two thirds as large, as high, 1.6 m away: another desk
    region = table_region(plane, np.vstack([left, right, desk]))
    assert region.contains(right).all() and not region.contains(desk).any()
    assert not region.contains(patch([0.6, 0.1], [1.2, 0.4], 200)).any()  # the floor between them is no table
    centres = np.stack(np.meshgrid(np.arange(-0.4, 0.4, 0.1), np.arange(0.0, 0.4, 0.1)), -1).reshape(-1, 2) + 0.011
    dots = np.repeat(centres, 3, axis=0) + rng.uniform(-0.004, 0.004, (3 * len(centres), 2))
    sparse = table_region(plane, dots @ basis - plane.d * plane.normal)  # a sparse scan: one cell per patch
    assert sparse.mask.any()


def test_support_plane_and_objects_of_a_simulated_frame(frame) -> None:
    pm, valid = points_map_of(frame.depth, frame.intrinsics)
    pts = pm[valid]
    rng = np.random.default_rng(0)
    planes = find_planes(pts, rng)
    plane = find_support_plane(pts, rng, planes=planes)
    assert plane.normal @ frame.plane_normal > 0.999 and plane.d == pytest.approx(frame.plane_d, abs=0.005)
    region = table_region(plane, pts[np.abs(plane.height(pts)) < 0.01])
    small = SegmentSettings(min_points=40)
    seg = segment_objects(pm, valid, region, structures=[p for p in planes if p is not plane], focal=SMALL.fx,
                          settings=small)
    visible = [k for k in (1, 2, 3) if (frame.labels == k).sum() >= 40]
    # at most one extra piece (here: a can seen on both sides of an object in front of it, 3 cm apart)
    assert len(visible) <= len(seg.objects) <= len(visible) + 1
    owners_of = []
    for obj in seg.objects:  # every object is mostly one true object, and above the table
        owners = frame.labels[obj.pixels[:, 0], obj.pixels[:, 1]]
        assert np.bincount(owners).max() >= 0.9 * len(owners)
        assert (plane.height(obj.points) > 0).all()
        owners_of.append(int(np.bincount(owners).argmax()))
    assert set(owners_of) == set(visible)  # every visible object is found
    # with labels: exactly the labelled objects
    labelled = segment_objects(pm, valid, region, labels=frame.labels, settings=small)
    assert len(labelled.objects) == len(visible)


def test_no_plane_is_an_error_and_up_picks_the_plane() -> None:
    rng = np.random.default_rng(0)
    blob = rng.normal(0, 0.2, (3000, 3)) + [0, 0, 1.0]  # no plane holds 5 % of these
    with pytest.raises(NoPlaneError):
        find_support_plane(blob, rng)
    floor = np.c_[rng.uniform(-1, 1, 3000), np.full(3000, 0.5), rng.uniform(0.5, 2.5, 3000)]  # y = 0.5: below
    wall = np.c_[rng.uniform(-1, 1, 4000), rng.uniform(-0.5, 0.5, 4000), np.full(4000, 2.5)]  # facing the camera
    both = np.vstack([floor, wall])
    assert find_support_plane(both, rng).normal[1] < -0.99  # the floor, though the wall holds more points
    assert find_support_plane(both, rng, up=[0, 0, -1]).normal[2] < -0.99


def _pieces_map(pieces: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """An organized cloud ``(1, N, 3)`` of the points of ``pieces`` side by side and their piece ids ``(1, N)``."""
    pts = np.vstack(pieces)
    ids = np.concatenate([np.full(len(p), k) for k, p in enumerate(pieces)])
    return pts[None], ids[None].astype(np.int64)


def test_merge_inside_hull_joins_a_piece_within_the_footprint_only():
    """A piece inside the table-closed hull of its component's largest piece joins it (a bowl's outer wall, a
    screwdriver's shaft); a neighbour beside it stays apart, and so does a piece beside anything wider than an
    object (a wall)."""
    rng = np.random.default_rng(0)
    plane = Plane(np.array([0.0, 0.0, 1.0]), 0.0)  # table z = 0, up +z
    # a 10 cm bowl-like cup: its inside (rim ring + inner bottom) and, within its footprint, the outer wall below
    t = rng.uniform(0, 2 * np.pi, 600)
    rim = np.c_[0.05 * np.cos(t), 0.05 * np.sin(t), np.full(600, 0.06)]
    bottom = np.c_[rng.uniform(-0.03, 0.03, (400, 2)), np.full(400, 0.01)]
    inside = np.vstack([rim, bottom])
    outer = np.c_[0.045 * np.cos(t[:300]), 0.045 * np.sin(t[:300]), rng.uniform(0.0, 0.05, 300)]
    beside = np.c_[rng.uniform(0.08, 0.14, (300, 2)), rng.uniform(0.0, 0.05, 300)]  # another object next to it
    points_map, fine = _pieces_map([inside, outer, beside])
    coarse = np.zeros_like(fine)  # one proximity component (they touch)
    merged = _merge_inside_hull(fine, coarse, points_map, plane)
    assert (merged[fine == 1] == 0).all()  # the outer wall joins the inside
    assert (merged[fine == 2] == 2).all()  # the neighbour stays
    wall = np.c_[rng.uniform(-0.5, 0.5, 800), np.full(800, 0.2), rng.uniform(0.0, 0.6, 800)]  # 1 m wide
    small = np.c_[rng.uniform(-0.02, 0.02, (200, 2)) + [0.0, 0.19], rng.uniform(0.0, 0.05, 200)]
    points_map, fine = _pieces_map([wall, small])
    merged = _merge_inside_hull(fine, np.zeros_like(fine), points_map, plane)
    assert (merged == fine).all()  # nothing joins a wall


def _segment_frame(pm: np.ndarray, valid: np.ndarray, settings: SegmentSettings):
    """The objects of an organized cloud of the small camera: plane, table region, other planes as structures."""
    pts = pm[valid]
    rng = np.random.default_rng(0)
    planes = find_planes(pts, rng)
    plane = find_support_plane(pts, rng, planes=planes)
    region = table_region(plane, pts[np.abs(plane.height(pts)) < 0.01])
    return segment_objects(pm, valid, region, structures=[p for p in planes if p is not plane], focal=SMALL.fx,
                           settings=settings)


def _plank_frame(noise: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A rendered frame (points map, valid, true labels) of a table with a cube in the middle, a can by its far edge,
    and a plank that rests on the table at its far edge and rises beyond it (like a chair's seat at a desk, a
    tote's sloping wall): label 1 the cube, 2 the can, 3 the plank, 0 the table."""
    import trimesh

    from implicit3d.evaluation.tabletop import table_mesh
    from implicit3d.sensing.camera import look_at
    from implicit3d.sensing.noise import noise_preset
    from implicit3d.sensing.render import render

    cube = trimesh.creation.box((0.08, 0.08, 0.08))
    cube.apply_translation([0.3, 0.15, 0.04])
    can = trimesh.creation.cylinder(radius=0.035, height=0.12, sections=48)
    can.apply_translation([0.62, -0.3, 0.06])  # its back 4.5 cm from the table's edge (x = 0.7)
    plank = trimesh.creation.box((0.32, 0.3, 0.012))
    plank.apply_transform(trimesh.transformations.rotation_matrix(np.radians(-25.0), [0, 1, 0]))
    plank.apply_translation([0.6 - plank.bounds[0, 0], 0.1, -plank.bounds[0, 2]])  # low end on the table at x = 0.6
    parts = [table_mesh(), cube, can, plank]
    offsets = np.cumsum([0] + [len(p.vertices) for p in parts])
    vertices = np.vstack([p.vertices for p in parts])
    faces = np.vstack([p.faces + o for p, o in zip(parts, offsets[:-1], strict=True)])
    owner = np.concatenate([np.full(len(p.faces), k) for k, p in enumerate(parts)])
    res = render((vertices, faces), SMALL, look_at(np.array([-0.35, 0.0, 0.75]), (0.45, 0.0, 0.0)))
    depth = noise_preset(noise).apply(res.depth, np.random.default_rng(0), normals=res.normals_cam, intrinsics=SMALL)
    labels = np.where((res.face_index >= 0) & (depth > 0), owner[np.maximum(res.face_index, 0)], 0)
    pm, valid = points_map_of(depth.astype(np.float64), SMALL)
    return pm, valid, labels


@pytest.mark.parametrize("noise", ["none", "realsense_d435"])
def test_a_surface_running_on_off_the_table_is_no_object(noise: str) -> None:
    """A plank resting on the table's far edge and rising beyond it is skipped as part of something larger (its
    outline runs on, with no depth edge and no crease, into what stands beyond the table); the cube and the can by
    the same edge are found. With the rule off, the plank would be an object."""
    pm, valid, labels = _plank_frame(noise)

    def owners(settings: SegmentSettings) -> tuple[list[int], list[str]]:
        seg = _segment_frame(pm, valid, settings)
        found = [int(np.bincount(labels[o.pixels[:, 0], o.pixels[:, 1]]).argmax()) for o in seg.objects]
        return sorted(found), [s["reason"] for s in seg.skipped]

    found, reasons = owners(SegmentSettings(min_points=40))
    assert found == [1, 2]
    assert any(r.startswith("part of something larger") for r in reasons)
    found_without, _ = owners(SegmentSettings(min_points=40, run_on_share=1.0))
    assert found_without == [1, 2, 3]


def test_attach_fragments_matches_a_loop_over_pieces() -> None:
    """Small pieces join the piece owning their nearest point when it lies within the gap (vectorized), exactly as a
    loop over the pieces does it."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(3)
    h, w = 60, 80
    comp = rng.integers(-1, 25, (h, w))  # the left half: 25 large pieces, mixed
    cols = np.broadcast_to(np.arange(w), (h, w))
    sparse = rng.random((h, w)) < 0.3
    comp[:, 40:] = np.where(sparse, 25 + (cols - 40) // 3, -1)[:, 40:]  # the right: 3-column bands of ~54 pixels
    points_map = np.dstack([*np.meshgrid(np.arange(w) * 0.01, np.arange(h) * 0.01), rng.normal(1.0, 0.005, (h, w))])
    max_fragment, gap = 60, 0.015
    ids, counts = np.unique(comp[comp >= 0], return_counts=True)
    small, large = ids[counts < max_fragment], ids[counts >= max_fragment]
    assert len(small) >= 10 and len(large) >= 10
    big = np.isin(comp, large)
    tree, owner = cKDTree(points_map[big]), comp[big]
    expected = comp.copy()
    for cid in small:  # the slow reference
        here = comp == cid
        dist, idx = tree.query(points_map[here], k=1)
        if dist.min() < gap:
            expected[here] = owner[idx[np.argmin(dist)]]
    got = _attach_fragments(comp, points_map, max_fragment, gap)
    assert (got == expected).all()
    assert (got != comp).any() and (got[np.isin(comp, small)] == comp[np.isin(comp, small)]).any()


def test_crease_pixels_keep_a_length_on_the_surface() -> None:
    """The normals' pixel step is the crease scale at the objects' median depth: 4 mm at 1 m is 4 px at f = 1000
    and 2 px (at least 3) at f = 500; near and far it is clamped to 3-10 px; a scale of 0 gives 3 px."""
    depths = np.array([0.9, 1.0, 1.1])
    assert crease_pixels(0.004, 1000.0, depths) == 4
    assert crease_pixels(0.004, 500.0, depths) == 3
    assert crease_pixels(0.004, 1067.0, depths * 0.5) == 9
    assert crease_pixels(0.004, 1067.0, depths * 0.2) == 10
    assert crease_pixels(0.0, 1067.0, depths) == 3
    assert crease_pixels(0.004, 1000.0, np.zeros(0)) == 3


def _tote_frame(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A rendered frame (points map, valid, true labels) of a tote — a 60 x 40 cm floor with 15 cm walls — holding a
    can, a box and a bottle (labels 1-3) each pushed against a wall, seen from above at 50-80 degrees."""
    import trimesh

    from implicit3d.evaluation.tabletop import table_mesh
    from implicit3d.sensing.camera import look_at
    from implicit3d.sensing.noise import noise_preset
    from implicit3d.sensing.render import render

    rng = np.random.default_rng(seed)
    parts = [table_mesh((0.6, 0.4, 0.02))]
    for size, pos in (((0.6, 0.01, 0.15), (0, 0.205, 0.075)), ((0.6, 0.01, 0.15), (0, -0.205, 0.075)),
                      ((0.01, 0.4, 0.15), (0.305, 0, 0.075)), ((0.01, 0.4, 0.15), (-0.305, 0, 0.075))):
        parts.append(trimesh.creation.box(size))
        parts[-1].apply_translation(pos)
    for cat, x, y in (("can", 0.25, 0.15), ("box", -0.2, 0.14), ("bottle", 0.0, -0.13)):
        m = shapes.generate(cat, seed).mesh.copy()
        m.apply_scale(0.12 / np.ptp(m.vertices, axis=0).max())
        m.apply_translation(-m.bounds.mean(0) * [1, 1, 0] - [0, 0, m.bounds[0, 2]])
        half = np.ptp(m.vertices, axis=0) / 2
        m.apply_translation([np.sign(x) * (0.3 - half[0]) if abs(x) > 0.2 else x, np.sign(y) * (0.199 - half[1]), 0])
        parts.append(m)
    offsets = np.cumsum([0] + [len(p.vertices) for p in parts])
    vertices = np.vstack([p.vertices for p in parts])
    faces = np.vstack([p.faces + o for p, o in zip(parts, offsets[:-1], strict=True)])
    owner = np.concatenate([np.full(len(p.faces), max(0, k - 4)) for k, p in enumerate(parts)])
    az, el, d = rng.uniform(0, 2 * np.pi), np.radians(rng.uniform(50, 80)), rng.uniform(0.6, 0.9)
    eye = d * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    res = render((vertices, faces), SMALL, look_at(eye, (0.0, 0.0, 0.03)))
    depth = noise_preset("realsense_d435").apply(res.depth, rng, normals=res.normals_cam, intrinsics=SMALL)
    labels = np.where((res.face_index >= 0) & (depth > 0), owner[np.maximum(res.face_index, 0)], 0)
    pm, valid = points_map_of(depth.astype(np.float64), SMALL)
    return pm, valid, labels


@pytest.mark.parametrize("seed", [0, 1, 6])
def test_objects_against_a_tote_wall_are_not_part_of_something_larger(seed: int) -> None:
    """Objects pushed against a tote's walls meet the wall's plane without a depth edge: the run-on rule looks only
    beyond the table region's edge, so it skips none of them (when it also looked into the walls' planes, it dropped
    one object in each of these three frames)."""
    pm, valid, _ = _tote_frame(seed)
    on = _segment_frame(pm, valid, SegmentSettings(min_points=40))
    off = _segment_frame(pm, valid, SegmentSettings(min_points=40, run_on_share=1.0))
    assert not any(s["reason"].startswith("part of something larger") for s in on.skipped)
    assert len(on.objects) == len(off.objects) >= 1


def test_a_tote_wall_in_full_view_is_a_structure(monkeypatch) -> None:
    """A tote's walls (vertical, longer than 30 cm, standing at the floor region's edge) are removed as structures
    before the objects are grouped although they run out of no image side, where without the region (the older
    rule) they stay; the objects against them lose at most a sliver (640x480, a can, a box and a bottle)."""
    from implicit3d.evaluation.tabletop import make_tote_scene
    from implicit3d.geometry import transforms

    monkeypatch.setattr(transforms, "stable_rotations", lambda mesh: (np.eye(3)[None], np.ones(1)))
    objects = []
    for cat, seed in (("can", 1), ("box", 2), ("bottle", 3)):
        mesh = shapes.generate(cat, seed).mesh.copy()
        mesh.apply_scale(0.12 / np.ptp(mesh.vertices, axis=0).max())
        objects.append((cat, mesh))
    scene = make_tote_scene(objects, np.random.default_rng(0))
    pm, valid = points_map_of(scene.depth, scene.intrinsics)
    pts = pm[valid]
    rng = np.random.default_rng(0)
    planes = find_planes(pts, rng)
    plane = find_support_plane(pts, rng, planes=planes)
    region = table_region(plane, pts[np.abs(plane.height(pts)) < 0.01])
    above = valid & (plane.height(pm.reshape(-1, 3)).reshape(valid.shape) > 0.008)
    walls = [p for p in planes if p is not plane and abs(p.normal @ plane.normal) < 0.3]
    assert len(walls) == 2
    for wall in walls:
        on_wall = above & (np.abs(wall.height(pm.reshape(-1, 3)).reshape(valid.shape)) < 0.01) & (scene.labels == 0)
        with_region = structure_mask(pm, above, wall, region=region)
        assert with_region[on_wall].mean() > 0.95
        assert structure_mask(pm, above, wall)[on_wall].mean() < 0.05
        for k in (1, 2, 3):
            assert with_region[scene.labels == k].mean() < 0.1  # 3 % at most here


def test_links_of_a_larger_mask_cut_to_a_smaller_one_equal_its_own_links() -> None:
    """segment_objects computes the pixel links once, for the candidates and what lies beyond the table, and cuts
    them down to the candidates: the same links as computed for the candidates alone."""
    from implicit3d.sensing.segment import _links_within, _pixel_links, pixel_normals

    rng = np.random.default_rng(0)
    h, w = 40, 50
    vv, uu = np.mgrid[:h, :w]
    depth = 0.8 + 0.05 * np.sin(uu / 6.0) * np.cos(vv / 5.0) + rng.normal(0, 0.002, (h, w))
    pm = np.stack([(uu - 25) / 500 * depth, (vv - 20) / 500 * depth, depth], axis=2)
    valid = np.ones((h, w), bool)
    normals = pixel_normals(pm, valid, step=3)
    tol = np.full((h, w), 0.006)
    big = rng.uniform(size=(h, w)) < 0.9
    small = big & (rng.uniform(size=(h, w)) < 0.8)
    cut = _links_within(_pixel_links(pm, big, tol, normals, offset=4), small)
    own = _pixel_links(pm, small, tol, normals, offset=4)
    assert any(j.any() for j in own) and any((j_b & ~j_s).any() for j_b, j_s in zip(
        _pixel_links(pm, big, tol, normals, offset=4), own, strict=True))  # the cut removes something
    for a, b in zip(cut, own, strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("room", [True, False])
def test_a_skirting_board_on_a_wall_is_no_object(room: bool) -> None:
    """A floor meeting a wall, seen from the front and above: a skirting board (1.5 cm out of the wall's plane,
    parallel to it) is skipped as on the wall; a can and a 6 cm deep box standing against the same wall are found.
    Against a tote's low side (``room=False``) a book standing flat (2 cm) is an object."""
    import trimesh

    from implicit3d.evaluation.tabletop import table_mesh
    from implicit3d.sensing.camera import look_at
    from implicit3d.sensing.noise import noise_preset
    from implicit3d.sensing.render import render

    floor = table_mesh((1.4, 1.2, 0.02))
    height = 0.6 if room else 0.2
    wall = trimesh.creation.box((0.02, 1.2, height))
    wall.apply_translation([0.71, 0.0, height / 2])
    if room:
        board = trimesh.creation.box((0.015, 0.25, 0.06))  # a piece: the longer "a wall" rule does not see it
        board.apply_translation([0.7 - 0.0075, 0.3, 0.03])
    else:
        board = trimesh.creation.box((0.02, 0.15, 0.12))  # a book
        board.apply_translation([0.7 - 0.01, 0.3, 0.06])
    can = trimesh.creation.cylinder(radius=0.035, height=0.12, sections=48)
    can.apply_translation([0.665, -0.15, 0.06])
    box = trimesh.creation.box((0.06, 0.15, 0.1))
    box.apply_translation([0.67, -0.4, 0.05])
    parts = [floor, wall, board, can, box]
    offsets = np.cumsum([0] + [len(p.vertices) for p in parts])
    vertices = np.vstack([p.vertices for p in parts])
    faces = np.vstack([p.faces + o for p, o in zip(parts, offsets[:-1], strict=True)])
    owner = np.concatenate([np.full(len(p.faces), k) for k, p in enumerate(parts)])
    res = render((vertices, faces), SMALL, look_at(np.array([-0.2, 0.0, 0.6]), (0.6, -0.05, 0.05)))
    depth = noise_preset("realsense_d435").apply(res.depth, np.random.default_rng(0), normals=res.normals_cam,
                                                 intrinsics=SMALL)
    labels = np.where((res.face_index >= 0) & (depth > 0), owner[np.maximum(res.face_index, 0)], 0)
    pm, valid = points_map_of(depth.astype(np.float64), SMALL)
    assert (labels == 2).sum() > 100  # the board is in view
    seg = _segment_frame(pm, valid, SegmentSettings(min_points=40))
    found = sorted(int(np.bincount(labels[o.pixels[:, 0], o.pixels[:, 1]]).argmax()) for o in seg.objects)
    assert found == ([3, 4] if room else [2, 3, 4])
    assert any(s["reason"].startswith("on a wall") for s in seg.skipped) == room


def _outline_view_reference(labels, depth, occluder, reach, gap, groups=None):
    """outline_view by a loop over pixels and directions (the slow reference)."""
    h, w = labels.shape
    counts: dict[int, list[int]] = {}
    for r in range(h):
        for c in range(w):
            k = int(labels[r, c])
            if k <= 0:
                continue
            for dr, dc in ((0, 1), (0, -1), (1, 0), (-1, 0)):
                r1, c1 = r + dr, c + dc
                inside = 0 <= r1 < h and 0 <= c1 < w
                if inside and labels[r1, c1] == k:
                    continue
                entry = counts.setdefault(k, [0, 0, 0])
                entry[0] += 1
                if not inside:
                    entry[1] += 1
                    continue
                for step in range(1, reach + 1):
                    rs, cs = r + step * dr, c + step * dc
                    if not (0 <= rs < h and 0 <= cs < w):
                        break
                    same = groups is not None and groups[r, c] >= 0 and groups[rs, cs] == groups[r, c]
                    if occluder[rs, cs] and labels[rs, cs] != k and not same and depth[rs, cs] < depth[r, c] - gap:
                        entry[2] += 1
                        break
    return {k: (b / n, o / n) for k, (n, b, o) in counts.items()}


def test_outline_view_matches_a_loop_over_pixels() -> None:
    from implicit3d.sensing.segment import outline_view

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, (17, 23))
    depth = rng.uniform(0.5, 0.6, (17, 23))
    occluder = rng.random((17, 23)) < 0.7
    groups = rng.integers(-1, 3, (17, 23))
    for g in (None, groups):
        got = outline_view(labels, depth, occluder, reach=3, gap=0.03, groups=g)
        want = _outline_view_reference(labels, depth, occluder, 3, 0.03, groups=g)
        assert got.keys() == want.keys()
        for k in want:
            assert got[k] == pytest.approx(want[k], abs=1e-12)


def test_outline_view_names_the_border_and_what_stands_in_front() -> None:
    from implicit3d.sensing.segment import outline_view

    labels = np.zeros((40, 60), np.int64)
    depth = np.full((40, 60), 1.0)
    labels[10:20, 0:10] = 1  # runs out of the image on the left
    labels[10:30, 30:40] = 2  # its right side is hidden behind a nearer object 2 px away (a sensor shadow between)
    labels[10:30, 42:50], depth[10:30, 42:50] = 3, 0.8
    depth[10:30, 40:42] = 0.0
    valid = depth > 0
    view = outline_view(labels, depth, valid)
    assert view[1] == pytest.approx((10 / 40, 0.0))  # 10 of its 40 pixel sides on the border
    assert view[2] == pytest.approx((0.0, 20 / 60))  # its right side: 20 of 60
    assert view[3] == pytest.approx((0.0, 0.0))  # the nearer one is not behind anything


@pytest.mark.parametrize("seed", [1, 2, 5])
def test_a_head_split_off_at_a_crease_rejoins_its_body(duck, seed: int) -> None:
    """A duck seen from a robot's height: its head, split off at the neck's crease, does not reach the table; it
    was skipped as not resting on the support and the duck completed at half its height. It rejoins the body."""
    import trimesh

    from implicit3d.evaluation.tabletop import _render_scene, table_mesh
    from implicit3d.scene import segment_scene

    mesh = duck.copy()
    mesh.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))  # y-up -> z-up
    mesh.apply_scale(0.12 / mesh.extents.max())
    mesh.apply_translation(-mesh.bounds.mean(axis=0) * [1, 1, 0] - [0, 0, mesh.bounds[0, 2]])
    intr = Intrinsics(fx=525.0, fy=525.0, cx=319.5, cy=239.5, width=640, height=480)
    sc = _render_scene([table_mesh()], [mesh], ["duck"], np.random.default_rng(seed), intr, (0.6, 0.8),
                       (25.0, 40.0), "none", 0.05)
    seg = segment_scene(sc.depth, sc.intrinsics)
    assert len(seg.segmentation.objects) == 1
    assert not any(s["reason"].startswith("not resting") for s in seg.segmentation.skipped)
    seen_height = float(np.ptp(seg.segmentation.objects[0].points @ seg.plane.normal))
    true_height = float(np.ptp(sc.meshes[0].vertices @ sc.plane_normal))
    assert seen_height > 0.85 * true_height
    found = seg.segmentation.labels == seg.segmentation.objects[0].label
    assert (found & (sc.labels == 1)).sum() > 0.9 * (sc.labels == 1).sum()
    _check_objects_and_labels(seg.segmentation)


def _check_objects_and_labels(seg) -> None:
    """Each object's label image pixels are exactly its pixels, its points those pixels' points; labels are 1..n
    by the size of the objects' components."""
    sizes = [int((seg.components == o.component).sum()) for o in seg.objects]
    assert [o.label for o in seg.objects] == list(range(1, len(seg.objects) + 1))
    assert sizes == sorted(sizes, reverse=True)
    for o in seg.objects:
        mine = np.argwhere(seg.labels == o.label)
        assert {tuple(p) for p in mine} == {tuple(p) for p in o.pixels} and len(o.pixels) == len(o.points)


def test_rejoin_pieces_by_distance_and_through_a_joined_piece() -> None:
    from implicit3d.sensing.segment import SceneObject, _rejoin_pieces

    pm = np.zeros((1, 14, 3))
    pm[0, :, 0] = 0.01 * np.arange(14)  # 1 cm per pixel along x
    pm[0, 7, 0] = 0.055
    pm[0, :, 2] = 0.7  # all at one depth: nothing lies behind anything
    comp = np.array([[0, 0, 1, 1, -1, -1, -1, 2, -1, -1, 3, 3, -1, 4]])
    labels = np.array([[1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 0, 0]])
    body = SceneObject(pm[0, :2], np.array([[0, 0], [0, 1]]), label=1, component=0)
    other = SceneObject(pm[0, 10:12], np.array([[0, 10], [0, 11]]), label=2, component=3)
    # piece 2 is 6 pixels and 4.5 cm from the body: it meets and nears piece 1 (2.5 cm), which joins first
    assert _rejoin_pieces(comp, pm, [1, 2, 4], [body, other], 0.03, labels) == {1: body, 2: body, 4: other}
    assert _rejoin_pieces(comp, pm, [1, 2, 4], [body, other], 0.03, labels, rounds=1) == {1: body, 4: other}
    assert _rejoin_pieces(comp, pm, [2], [body], 0.03, labels) == {}  # alone it meets nothing
    behind = pm.copy()
    behind[0, 2:4, 2] = 0.8  # the piece 10 cm farther than the body: another object seen past it
    assert _rejoin_pieces(comp, behind, [1], [body], 0.03, labels) == {}
    big = pm.copy()
    big[0, 3, 0] = 0.5  # the piece spans farther than the body: not a part of it
    assert _rejoin_pieces(comp, big, [1], [body], 1.0, labels) == {}


def test_an_objects_own_left_out_pixels_hide_nothing_of_it() -> None:
    """Pixels of the object's own component left out of its label (outliers, a piece) are no occluder."""
    from implicit3d.sensing.segment import outline_view

    labels = np.zeros((20, 20), np.int64)
    depth = np.full((20, 20), 1.0)
    labels[5:15, 5:15] = 1
    labels[8:10, 8:10] = 0  # left out: nearer than the rest (flying pixels, a removed piece)
    depth[8:10, 8:10] = 0.9
    groups = np.where(labels > 0, 7, -1)
    groups[8:10, 8:10] = 7
    valid = depth > 0
    assert outline_view(labels, depth, valid)[1][1] > 0  # without groups: taken for something in front
    assert outline_view(labels, depth, valid, groups=groups)[1] == (0.0, 0.0)
    # the reference loop agrees where groups are not given
    ref = _outline_view_reference(labels, depth, valid, 4, 0.02)
    assert outline_view(labels, depth, valid)[1] == pytest.approx(ref[1])


@pytest.mark.parametrize("seed", [1, 2])
def test_a_lid_held_above_a_box_and_a_small_object_beside_it_stay_apart(seed: int) -> None:
    """Only a piece of the object rejoins it: a lid held 1.5 cm above a smaller box (not resting: skipped) and a
    1 cm cube standing 2 cm from it (too small: skipped) do not join the box."""
    import trimesh

    from implicit3d.evaluation.tabletop import _render_scene, table_mesh
    from implicit3d.scene import segment_scene

    intr = Intrinsics(fx=525.0, fy=525.0, cx=319.5, cy=239.5, width=640, height=480)
    box = trimesh.creation.box((0.08, 0.08, 0.10))
    box.apply_translation([0, 0, 0.05])
    lid = trimesh.creation.box((0.12, 0.09, 0.03))
    lid.apply_translation([0, 0, 0.13])
    cube = trimesh.creation.box((0.01, 0.01, 0.01))
    cube.apply_translation([0.065, 0, 0.005])
    for other in (lid, cube):
        sc = _render_scene([table_mesh()], [box, other], ["box", "other"], np.random.default_rng(seed), intr,
                           (0.6, 0.8), (25.0, 40.0), "none", 0.05)
        seg = segment_scene(sc.depth, sc.intrinsics)
        assert len(seg.segmentation.objects) == 1
        obj = seg.segmentation.objects[0]
        assert float(np.ptp(obj.points @ seg.plane.normal)) < 0.105  # the box's 10 cm, not the lid's top
        assert not (seg.segmentation.labels[sc.labels == 2] > 0).any()  # no pixel of the other in the box
        _check_objects_and_labels(seg.segmentation)
