"""Tests of the held-out real-object suite (implicit3d.evaluation.scans): meshes, simulated scans, IoU, evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from completion_fixtures import tiny_checkpoint, torch_threads
from implicit3d.completion import load_model
from implicit3d.evaluation import scans as S
from implicit3d.evaluation.baselines import convex_hull
from implicit3d.geometry.distance import MeshDistance
from implicit3d.geometry.inside import inside


@pytest.fixture(scope="module")
def meshes() -> list[tuple[str, trimesh.Trimesh]]:
    return S.real_object_meshes(6, seed=0)


@pytest.fixture(scope="module")
def duck_scan(meshes) -> S.Scan:
    name, mesh = meshes[0]
    return S.scan_object(mesh, np.random.default_rng(3), name=name)


def _box_mesh() -> trimesh.Trimesh:
    return trimesh.creation.box(extents=(1.0, 0.7, 0.5))


# ------------------------------------------------------------------------------------------------ meshes


def test_real_object_meshes_count_names_and_quality(meshes):
    names = [n for n, _ in meshes]
    assert len(meshes) == 6
    assert len(set(names)) == 6
    assert names[:3] == ["duck", "bunny", "teddy"]  # (6 + 1) // 2 named objects first
    assert all(n.startswith("random_urdf_") for n in names[3:])
    for name, mesh in meshes:
        assert isinstance(mesh, trimesh.Trimesh)
        assert S.mesh_problem(mesh) is None, name
        assert len(mesh.faces) >= S.MIN_FACES
        ext = np.sort(mesh.extents)
        assert ext[0] >= S.MIN_FLATNESS * ext[2] > 0


def test_real_object_meshes_deterministic_and_seeded(meshes):
    again = S.real_object_meshes(6, seed=0)
    assert [n for n, _ in again] == [n for n, _ in meshes]
    for (_, a), (_, b) in zip(again, meshes, strict=True):
        np.testing.assert_array_equal(a.vertices, b.vertices)
        np.testing.assert_array_equal(a.faces, b.faces)
    other = S.real_object_meshes(6, seed=1)
    assert [n for n, _ in other][:3] == ["duck", "bunny", "teddy"]
    assert [n for n, _ in other][3:] != [n for n, _ in meshes][3:]


def test_real_object_meshes_bad_arguments():
    with pytest.raises(ValueError, match="count"):
        S.real_object_meshes(0, seed=0)
    with pytest.raises(ValueError, match="seed"):
        S.real_object_meshes(2, seed=-1)


def test_mesh_problem_reasons():
    assert S.mesh_problem(_box_mesh()) is None
    flat = trimesh.creation.box(extents=(1.0, 1.0, 0.01))
    assert "flat" in S.mesh_problem(flat)
    tet = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], [[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]])
    assert "faces" in S.mesh_problem(tet)
    assert "no vertices" in S.mesh_problem(trimesh.Trimesh())
    assert "not a triangle mesh" in S.mesh_problem(trimesh.Scene())


# ------------------------------------------------------------------------------------------------ scans


def test_scan_cloud_lies_on_the_mesh_seen_from_the_origin(duck_scan):
    s = duck_scan
    assert s.name == "duck"
    assert s.cloud.dtype == np.float32 and s.cloud.ndim == 2 and s.cloud.shape[1] == 3
    assert len(s.cloud) >= S.MIN_SCAN_POINTS
    np.testing.assert_array_equal(s.camera_position, np.zeros(3))
    assert (s.cloud[:, 2] > 0).all()
    assert 0.10 <= s.size_m <= 0.30 and 0.5 <= s.distance_m <= 0.8
    # the ground truth is in the camera frame: its centre on the optical axis at distance_m
    centre = s.mesh.bounds.mean(axis=0)
    assert np.linalg.norm(centre - [0, 0, s.distance_m]) < s.size_m
    d = MeshDistance(s.mesh).unsigned_distance(s.cloud.astype(np.float64))
    assert np.median(d) < 0.003  # D435 at 0.5-0.8 m: ~1 mm axial noise, some lateral jitter
    assert np.mean(d < 0.005) > 0.9  # the rest: flying pixels at silhouettes, up to 5 cm behind
    # only the front is seen: the cloud is nearer the camera than the far side of the object
    assert np.median(s.cloud[:, 2]) < s.mesh.bounds[1, 2]


def test_scan_is_deterministic_and_follows_the_rng(meshes, duck_scan):
    mesh = meshes[0][1]
    again = S.scan_object(mesh, np.random.default_rng(3), name="duck")
    np.testing.assert_array_equal(again.cloud, duck_scan.cloud)
    np.testing.assert_array_equal(again.mesh.vertices, duck_scan.mesh.vertices)
    other = S.scan_object(mesh, np.random.default_rng(4), name="duck")
    assert other.cloud.shape != duck_scan.cloud.shape or not np.array_equal(other.cloud, duck_scan.cloud)


def test_scan_size_and_distance_ranges_are_applied():
    box = _box_mesh()
    s = S.scan_object(box, np.random.default_rng(0), noise="none", size_range=(0.2, 0.2), distance_range=(0.6, 0.6))
    assert s.size_m == pytest.approx(0.2) and s.distance_m == pytest.approx(0.6)
    # a rigid copy: edge lengths are the box's scaled by 0.2 / 1.0
    np.testing.assert_allclose(s.mesh.edges_unique_length.max(), 0.2 * np.linalg.norm([1.0, 0.7]), rtol=1e-9)
    np.testing.assert_allclose(s.mesh.volume, 0.2**3 * 0.35, rtol=1e-9)
    d = MeshDistance(s.mesh).unsigned_distance(s.cloud.astype(np.float64))
    assert d.max() < 1e-6  # noiseless: exactly on the surface


def test_scan_redraws_then_fails_with_a_reason():
    with pytest.raises(S.ScanError, match="3 views saw fewer than"):
        S.scan_object(_box_mesh(), np.random.default_rng(0), min_points=10**7, max_attempts=3, name="box")
    skipped: list[tuple[str, str]] = []
    assert S.make_scans([("box", _box_mesh())], 0, skipped, min_points=10**7, max_attempts=2) == []
    assert skipped and skipped[0][0] == "box"


def test_scan_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="size_range"):
        S.scan_object(_box_mesh(), rng, size_range=(0.3, 0.1))
    with pytest.raises(ValueError, match="distance_range"):
        S.scan_object(_box_mesh(), rng, distance_range=(0.0, 0.8))
    with pytest.raises(TypeError, match="Generator"):
        S.scan_object(_box_mesh(), 0)
    with pytest.raises(ValueError, match="noise preset"):
        S.scan_object(_box_mesh(), rng, noise="kinect_v9")


def test_make_scans_streams_depend_on_name_not_position(meshes):
    a = S.make_scans(meshes[:2], seed=5)
    b = S.make_scans(meshes[1:2], seed=5)
    assert a[1].name == b[0].name == "bunny"
    np.testing.assert_array_equal(a[1].cloud, b[0].cloud)


# ------------------------------------------------------------------------------------------------ IoU


def test_scan_iou_self_shrunk_empty_and_function(duck_scan):
    gt = duck_scan.mesh
    samples = S.iou_samples(gt, np.random.default_rng(0), 50_000)
    assert samples.side == pytest.approx(gt.extents.max() * 1.1 / 0.9)
    assert S.scan_iou(gt, samples) == 1.0
    shrunk = gt.copy()
    centre = gt.bounds.mean(axis=0)
    shrunk.vertices = centre + 0.8 * (shrunk.vertices - centre)
    iou = S.scan_iou(shrunk, samples)
    assert 0.2 < iou < 0.75  # ~0.8^3 = 0.51 for a star-shaped object
    assert S.scan_iou(trimesh.Trimesh(), samples) == 0.0
    assert S.scan_iou(None, samples) == 0.0
    assert S.scan_iou(lambda p: inside(gt, p).astype(np.float32), samples) == 1.0
    assert S.scan_iou(lambda p: np.zeros(len(p), bool), samples) == 0.0
    # a mesh ground truth draws its own samples
    assert S.scan_iou(shrunk, gt, np.random.default_rng(1), 20_000) == pytest.approx(iou, abs=0.03)


def test_scan_iou_bad_arguments(duck_scan):
    with pytest.raises(ValueError, match="n_points"):
        S.scan_iou(duck_scan.mesh, duck_scan.mesh, 0, n_points=0)
    with pytest.raises(ValueError, match="shape"):
        S.scan_iou(lambda p: np.zeros(3), duck_scan.mesh, 0, n_points=100)
    with pytest.raises(TypeError, match="pred"):
        S.scan_iou("mesh.ply", duck_scan.mesh, 0, n_points=100)


def test_scan_overlap_precision_and_recall():
    box = _box_mesh()
    samples = S.iou_samples(box, np.random.default_rng(0), 20_000)
    exact = S.scan_overlap(box, samples)
    assert exact == {"iou": 1.0, "precision": 1.0, "recall": 1.0}
    # within the IoU cube (side 1.22 x the longest edge): a box 1.5x as wide in y recalls everything and a third
    # of what it fills is wrong; one half as long in x is all right and recalls half
    lo, hi = box.bounds
    for scale, precision, recall in (((1.0, 1.5, 1.0), 2 / 3, 1.0), ((0.5, 1.0, 1.0), 1.0, 0.5)):
        other = trimesh.creation.box(extents=(hi - lo) * scale)
        other.apply_translation((lo + hi) / 2)
        got = S.scan_overlap(other, samples)
        assert got["precision"] == pytest.approx(precision, abs=0.02)
        assert got["recall"] == pytest.approx(recall, abs=0.02)
        assert got["iou"] == pytest.approx(min(precision, recall), abs=0.02)
        assert S.scan_iou(other, samples) == got["iou"]
    empty = S.scan_overlap(None, samples)
    assert empty == {"iou": 0.0, "precision": 0.0, "recall": 0.0}


def test_convex_hull_of_a_scanned_box_is_partial():
    s = S.scan_object(_box_mesh(), np.random.default_rng(2))
    iou = S.scan_iou(convex_hull(s.cloud), s.mesh, np.random.default_rng(0), 50_000)
    assert 0.0 < iou < 1.0
    assert iou < 0.95  # one view of a box sees at most three faces: the hull misses the back


# ------------------------------------------------------------------------------------------------ evaluation


def test_evaluate_scans_rows(tmp_path_factory, meshes):
    model, meta = load_model(tiny_checkpoint(tmp_path_factory))
    scans = S.make_scans(meshes[:2], seed=0)
    with torch_threads(1):
        rows = S.evaluate_scans(model, meta, scans, resolution=32, n_points=20_000, chamfer_points=5_000)
    assert [r["name"] for r in rows] == ["duck", "bunny"]
    for r, s in zip(rows, scans, strict=True):
        assert r["n_points"] == len(s.cloud)
        assert 0.0 <= r["model_iou"] <= 1.0
        assert 0.0 < r["hull_iou"] < 1.0
        for k in ("model", "hull"):  # IoU = |P and G| / |P or G| is at most the smaller of precision and recall
            assert 0.0 <= r[f"{k}_precision"] <= 1.0 and 0.0 <= r[f"{k}_recall"] <= 1.0
            assert r[f"{k}_iou"] <= min(r[f"{k}_precision"], r[f"{k}_recall"]) + 1e-12
        assert r["hull_chamfer_mm"] > 0 and r["model_chamfer_mm"] > 0
        assert r["seconds"] > 0 and "hull_error" not in r
    with pytest.raises(ValueError, match="resolution"):
        S.evaluate_scans(model, meta, scans, resolution=1)
    with pytest.raises(TypeError, match="Scan"):
        S.evaluate_scans(model, meta, [object()], resolution=32)
