"""Simulated tabletop scenes (evaluation/tabletop.py): objects set down apart or pushed together."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from implicit3d import shapes
from implicit3d.evaluation.tabletop import _place, _plan_points, score_segmentation


def _plan_gaps(placed: list[trimesh.Trimesh]) -> list[float]:
    """For each mesh, the plan-view distance (metres) from its points to the nearest other mesh's."""
    pts = [_plan_points(m) for m in placed]
    gaps = []
    for i, p in enumerate(pts):
        others = np.vstack([q for j, q in enumerate(pts) if j != i])
        gaps.append(float(cKDTree(others).query(p)[0].min()))
    return gaps


def _meshes() -> list[trimesh.Trimesh]:
    return [shapes.generate(c, s).mesh for c, s in (("can", 1), ("box", 2), ("bottle", 3), ("can", 4))]


def test_touching_placement_sets_objects_against_each_other_without_overlap(monkeypatch) -> None:
    """Pushed together, every object comes within a few millimetres of another in plan view, and no object's
    footprint reaches into another's (their plan-view points stay apart); set down apart, they keep > 1 cm."""
    from implicit3d.geometry import transforms
    from implicit3d.geometry.inside import inside

    # upright or on their side as modelled (the resting poses take seconds per mesh and are not what is tested)
    monkeypatch.setattr(transforms, "stable_rotations", lambda mesh: (np.eye(3)[None], np.ones(1)))

    meshes = _meshes()
    for seed in range(2):
        touching = _place(meshes, np.random.default_rng(seed), 0.22, touching=True)
        assert touching is not None
        gaps = _plan_gaps(touching)
        assert max(gaps) < 0.008, gaps  # each touches (or nearly) another
        for i, a in enumerate(touching):  # and none pierces another: no surface sample of one inside another
            samples, _ = trimesh.sample.sample_surface(a, 3000, seed=1)
            for j, b in enumerate(touching):
                if i != j:
                    assert inside(b, samples).mean() < 0.002
        apart = _place(meshes, np.random.default_rng(seed), 0.22)
        assert min(_plan_gaps(apart)) > 0.01


def test_score_segmentation_counts_found_merged_split_and_extra() -> None:
    """Four true objects of 400 pixels: one segmented exactly (found), two as one object (merged, neither found),
    one in two halves (split, not found); plus a predicted object over the background (extra)."""
    truth = np.zeros((40, 100), dtype=np.int32)
    pred = np.zeros_like(truth)
    for k in range(4):
        truth[:20, 20 * k : 20 * k + 20] = k + 1
    pred[:20, 0:20] = 1  # object 1, exactly
    pred[:20, 20:60] = 2  # objects 2 and 3 as one
    pred[:10, 60:80], pred[10:20, 60:80] = 3, 4  # object 4 in two halves
    pred[25:35, 85:95] = 5  # nothing there
    got = score_segmentation(truth, pred)
    assert got == {"visible": 4, "found": 1, "merged": 2, "split": 1, "extra": 1}
    assert score_segmentation(truth, truth) == {"visible": 4, "found": 4, "merged": 0, "split": 0, "extra": 0}
    assert score_segmentation(truth, pred, min_visible=500)["visible"] == 0


def test_tote_scene_sets_each_object_against_a_wall(monkeypatch) -> None:
    """In a tote every object stands on the floor against one of the walls (its footprint within 2 mm of a wall's
    inner face), every object is seen, the support plane is the floor; an object larger than the tote is refused."""
    import pytest

    from implicit3d.evaluation.tabletop import make_tote_scene
    from implicit3d.geometry import transforms

    monkeypatch.setattr(transforms, "stable_rotations", lambda mesh: (np.eye(3)[None], np.ones(1)))
    objects = [(f"m{k}", m) for k, m in enumerate(_meshes()[:3])]
    scene = make_tote_scene(objects, np.random.default_rng(0))
    world = scene.cam_to_world  # camera -> world
    for k, mesh in enumerate(scene.meshes, start=1):
        v = np.asarray(mesh.vertices) @ world[:3, :3].T + world[:3, 3]
        gaps = [0.3 - v[:, 0].max(), v[:, 0].min() + 0.3, 0.2 - v[:, 1].max(), v[:, 1].min() + 0.2]
        assert min(gaps) > -1e-6 and min(gaps) < 0.002, gaps
        assert abs(v[:, 2].min()) < 1e-6  # on the floor
        assert (scene.labels == k).sum() > 100
    up = scene.cam_to_world[:3, :3] @ scene.plane_normal
    floor_point = np.linalg.inv(scene.cam_to_world) @ np.array([0.1, -0.05, 0.0, 1.0])  # on the floor, camera frame
    assert up[2] > 0.999 and abs(scene.plane_normal @ floor_point[:3] + scene.plane_d) < 1e-9
    with pytest.raises(ValueError, match="does not fit"):
        make_tote_scene([("big", trimesh.creation.box((0.7, 0.1, 0.1)))], np.random.default_rng(0))


def test_box_error_measures_centre_sizes_and_yaw() -> None:
    from implicit3d.evaluation.tabletop import box_error
    from implicit3d.geometry.boxes import upright_box

    up = np.array([0.0, -0.6, -0.8])  # a tilted table normal in a camera frame
    frame = trimesh.geometry.align_vectors([0.0, 0.0, 1.0], up)[:3, :3]  # world z -> up

    def box(extents, yaw_deg, shift=(0.0, 0.0)):
        m = trimesh.creation.box(extents)
        m.apply_translation([shift[0], shift[1], extents[2] / 2])
        m.apply_transform(trimesh.transformations.rotation_matrix(np.radians(yaw_deg), [0, 0, 1]))
        return upright_box(m.vertices @ frame.T, up)

    truth = box((0.20, 0.08, 0.12), 30.0)
    assert box_error(truth, truth) == pytest.approx({"center": 0.0, "length": 0.0, "width": 0.0, "height": 0.0,
                                                    "yaw": 0.0}, abs=1e-9)
    err = box_error(truth, box((0.22, 0.08, 0.10), 40.0, shift=(0.02, 0.0)))
    assert err["yaw"] == pytest.approx(10.0, abs=1e-6)
    assert (err["length"], err["width"], err["height"]) == pytest.approx((0.02, 0.0, -0.02), abs=1e-9)
    assert err["center"] == pytest.approx(np.hypot(0.02, 0.01), abs=1e-9)  # shifted 2 cm, 1 cm lower centre
    assert box_error(truth, box((0.20, 0.08, 0.12), 30.0 + 170.0))["yaw"] == pytest.approx(10.0, abs=1e-6)
    cube = box((0.1, 0.1, 0.1), 0.0)  # a true square footprint: its length axis is arbitrary, no yaw
    assert box_error(cube, box((0.1, 0.1, 0.1), 80.0))["yaw"] is None
    assert box_error(cube, box((0.15, 0.08, 0.1), 0.0))["yaw"] is None
    assert box_error(truth, box((0.10, 0.095, 0.12), 30.0 + 80.0))["yaw"] == pytest.approx(10.0, abs=1e-6)  # modulo 90
    assert box_error(truth, box((0.20, 0.08, 0.12), 30.0 + 80.0))["yaw"] == pytest.approx(80.0, abs=1e-6)
