"""Metrics on cases with known answers: identical shapes, shifted spheres (analytic Chamfer and lens IoU), F-score."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from implicit3d.evaluation import metrics
from implicit3d.evaluation.metrics import (
    GroundTruth,
    evaluate_mesh,
    fscore_key,
    iou,
    point_metrics,
    to_paper_units,
    volume_overlap,
)


@pytest.fixture(autouse=True)
def _inside_fallback(monkeypatch):
    try:
        import implicit3d.geometry.inside  # noqa: F401
    except ImportError:  # TODO: remove once implicit3d.geometry.inside lands
        monkeypatch.setattr(metrics, "mesh_inside", lambda mesh, pts: mesh.contains(pts))


def sphere(radius: float = 0.3, center=(0.0, 0.0, 0.0)) -> trimesh.Trimesh:
    mesh = trimesh.creation.icosphere(subdivisions=6, radius=radius)
    mesh.apply_translation(center)
    return mesh


def lens_iou(r: float, d: float) -> float:
    """IoU of two balls of radius r whose centres are d apart (lens volume pi (4r + d)(2r - d)^2 / 12)."""
    lens = np.pi * (4 * r + d) * (2 * r - d) ** 2 / 12
    return lens / (2 * 4 / 3 * np.pi * r**3 - lens)


def shifted_sphere_distances(r: float, d: float, n: int = 2_000_001) -> tuple[float, float]:
    """Mean and mean-square distance from points uniform on a sphere (radius r, centre shifted by d) to the
    unshifted sphere: |sqrt(r^2 + d^2 + 2 r d c) - r| with c = cos(theta) uniform in [-1, 1] (Archimedes)."""
    c = np.linspace(-1, 1, n)
    dist = np.abs(np.sqrt(r * r + d * d + 2 * r * d * c) - r)
    return float(np.trapezoid(dist, c) / 2), float(np.trapezoid(dist**2, c) / 2)


# ------------------------------------------------------------------ identical shapes
def test_identical_point_sets_are_perfect():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(5000, 3))
    nrm = pts / np.linalg.norm(pts, axis=1, keepdims=True)
    m = point_metrics(pts, pts, nrm, -nrm)  # normal orientation does not matter
    for k in ("accuracy", "completeness", "chamfer_l1", "chamfer_l2"):
        assert m[k] == 0.0
    assert m["normal_consistency"] == pytest.approx(1.0)
    for t in metrics.FSCORE_THRESHOLDS:
        assert m[fscore_key(t)] == 1.0
    assert m["empty_prediction"] == 0.0


def test_identical_meshes():
    mesh = sphere()
    m = evaluate_mesh(mesh, mesh, n_points=100_000, rng=1)
    assert m["iou"] == 1.0
    # independent samples of the same surface: the sample-to-sample distance is about half the sample spacing
    spacing = np.sqrt(mesh.area / 100_000)
    assert m["chamfer_l1"] < 0.7 * spacing
    assert m["normal_consistency"] > 0.999
    assert m["fscore@1%"] == 1.0
    assert m["fscore@0.5%"] > 0.99


# ------------------------------------------------------------------ shifted spheres: analytic values
@pytest.mark.parametrize("shift", [0.02, 0.06])
def test_shifted_sphere_chamfer_matches_analytic(shift):
    r = 0.3
    gt, pred = sphere(r), sphere(r, (shift, 0.0, 0.0))
    m = evaluate_mesh(pred, gt, n_points=100_000, rng=2)
    mean, mean_sq = shifted_sphere_distances(r, shift)
    # the metric measures distances to 100k samples, not the surface: a bias of a fraction of the spacing
    tol = 0.5 * np.sqrt(gt.area / 100_000)
    assert m["accuracy"] == pytest.approx(mean, abs=tol)
    assert m["completeness"] == pytest.approx(mean, abs=tol)
    assert m["chamfer_l1"] == pytest.approx(mean, abs=tol)
    assert m["chamfer_l2"] == pytest.approx(mean_sq, rel=0.1, abs=tol**2)
    assert m["iou"] == pytest.approx(lens_iou(r, shift), abs=0.02)
    # F-score at t from the same distance law: fraction of points with |.| < t
    c = np.linspace(-1, 1, 2_000_001)
    dist = np.abs(np.sqrt(r * r + shift * shift + 2 * r * shift * c) - r)
    for t in metrics.FSCORE_THRESHOLDS:
        assert m[fscore_key(t)] == pytest.approx(np.mean(dist < t), abs=0.02)


def test_iou_of_analytic_occupancies_matches_lens_volume():
    rng = np.random.default_rng(3)
    pts = rng.uniform(-0.55, 0.55, (400_000, 3))
    r, d = 0.3, 0.15
    a = np.linalg.norm(pts, axis=1) < r
    b = np.linalg.norm(pts - [0.0, d, 0.0], axis=1) < r
    assert iou(a, b) == pytest.approx(lens_iou(r, d), abs=0.01)
    assert iou(a, a) == 1.0
    assert iou(np.zeros(5, bool), np.zeros(5, bool)) == 1.0
    assert iou(np.zeros(5, bool), np.ones(5, bool)) == 0.0
    assert iou(np.array([0.9, 0.1]), np.array([True, False])) == 1.0
    with pytest.raises(ValueError, match="same length"):
        iou(np.zeros(3), np.zeros(4))


def test_volume_overlap_precision_recall_and_empty_cases():
    gt = np.array([True, True, True, True, False, False, False, False])
    pred = np.array([0.9, 0.8, 0.2, 0.1, 0.7, 0.0, 0.0, 0.0])  # 2 of 4 recalled, 1 of 3 predicted is wrong
    got = volume_overlap(pred, gt)
    assert got == pytest.approx({"iou": 2 / 5, "precision": 2 / 3, "recall": 2 / 4})
    assert got["iou"] == iou(pred, gt)
    none, full = np.zeros(8, bool), np.ones(8, bool)
    assert volume_overlap(none, gt) == {"iou": 0.0, "precision": 0.0, "recall": 0.0}
    assert volume_overlap(gt, none) == {"iou": 0.0, "precision": 0.0, "recall": 0.0}
    assert volume_overlap(none, none) == {"iou": 1.0, "precision": 1.0, "recall": 1.0}
    assert volume_overlap(full, gt) == {"iou": 0.5, "precision": 0.5, "recall": 1.0}
    with pytest.raises(ValueError, match="same length"):
        volume_overlap(np.zeros((2, 4)), np.zeros((2, 4)))


# ------------------------------------------------------------------ F-score and normals on constructed cases
def test_fscore_at_threshold():
    gt = np.stack(np.meshgrid(*[np.arange(10.0)] * 3, indexing="ij"), -1).reshape(-1, 3)  # 1000 points 1 apart
    pred = gt.copy()
    pred[:500, 0] += 0.015  # half the points off by 1.5%, half by 0.3%
    pred[500:, 0] += 0.003
    m = point_metrics(pred, gt, thresholds=(0.005, 0.01, 0.02))
    assert m["precision@1%"] == 0.5 and m["recall@1%"] == 0.5 and m["fscore@1%"] == 0.5
    assert m["fscore@0.5%"] == 0.5
    assert m["fscore@2%"] == 1.0
    assert m["accuracy"] == pytest.approx(0.5 * 0.015 + 0.5 * 0.003)
    # extra predicted points far away lower precision only
    far = np.vstack([pred, gt[:1000] + 100.0])
    m2 = point_metrics(far, gt, thresholds=(0.02,))
    assert m2["precision@2%"] == 0.5 and m2["recall@2%"] == 1.0
    assert m2["fscore@2%"] == pytest.approx(2 * 0.5 / 1.5)
    assert point_metrics(far, gt, thresholds=0.02)["fscore@2%"] == m2["fscore@2%"]  # one threshold as a number


def test_normal_consistency():
    rng = np.random.default_rng(4)
    pts = rng.uniform(size=(2000, 3))
    n = np.tile([0.0, 0.0, 1.0], (2000, 1))
    assert point_metrics(pts, pts, n, n)["normal_consistency"] == pytest.approx(1.0)
    assert point_metrics(pts, pts, n, -n)["normal_consistency"] == pytest.approx(1.0)
    perp = np.tile([1.0, 0.0, 0.0], (2000, 1))
    assert point_metrics(pts, pts, perp, n)["normal_consistency"] == pytest.approx(0.0)
    tilted = np.tile([0.0, 2.0, 2.0], (2000, 1))  # unnormalized on purpose: 45 degrees
    assert point_metrics(pts, pts, tilted, n)["normal_consistency"] == pytest.approx(np.sqrt(0.5))
    assert "normal_consistency" not in point_metrics(pts, pts)


def test_empty_prediction_gets_penalty():
    gt = sphere()
    empty = trimesh.Trimesh(vertices=np.zeros((0, 3)), faces=np.zeros((0, 3), dtype=np.int64))
    m = evaluate_mesh(empty, gt, n_points=2000, rng=5)
    assert m["empty_prediction"] == 1.0
    assert m["chamfer_l1"] == pytest.approx(np.sqrt(3))
    assert m["chamfer_l2"] == pytest.approx(3.0)
    assert m["fscore@1%"] == 0.0 and m["normal_consistency"] == 0.0
    assert m["iou"] == 0.0


def test_ground_truth_samples_and_pred_occ():
    gt_mesh = sphere()
    gt = GroundTruth.from_mesh(gt_mesh, n_points=20_000, rng=6)
    assert gt.surface_points.shape == (20_000, 3) and gt.volume_occ.dtype == bool
    frac = gt.volume_occ.mean()
    assert frac == pytest.approx(gt_mesh.volume / 1.1**3, abs=0.01)
    # IoU from given occupancies, no inside test on the prediction
    m = evaluate_mesh(gt_mesh, gt, n_points=20_000, rng=7, pred_occ=np.zeros(20_000, bool))
    assert m["iou"] == 0.0
    no_volume = GroundTruth(gt.surface_points)
    assert "iou" not in evaluate_mesh(gt_mesh, no_volume, n_points=5000, rng=8)
    with pytest.raises(TypeError, match="gt"):
        evaluate_mesh(gt_mesh, gt.surface_points)


def test_to_paper_units_and_validation():
    m = {"chamfer_l1": 0.01, "accuracy": 0.02, "chamfer_l2": 1e-4, "iou": 0.8, "fscore@1%": 0.9}
    p = to_paper_units(m)
    assert p["chamfer_l1"] == pytest.approx(0.1) and p["accuracy"] == pytest.approx(0.2)
    assert p["chamfer_l2"] == pytest.approx(1e-2)
    assert p["iou"] == 0.8 and p["fscore@1%"] == 0.9
    assert to_paper_units(m, bbox_edge=0.9)["chamfer_l1"] == pytest.approx(0.1 / 0.9)
    with pytest.raises(ValueError, match="empty"):
        point_metrics(np.zeros((3, 3)), np.zeros((0, 3)))
    with pytest.raises(ValueError, match="thresholds"):
        point_metrics(np.zeros((3, 3)), np.zeros((3, 3)), thresholds=(0.0,))
    with pytest.raises(ValueError, match="one normal per point"):
        point_metrics(np.zeros((3, 3)), np.zeros((3, 3)), np.ones((2, 3)), np.ones((3, 3)))


def test_ground_truth_outside_or_tiny_in_the_iou_volume_is_warned_about() -> None:
    from implicit3d.errors import InputWarning

    big = trimesh.creation.box((2.0, 0.5, 0.5))  # reaches beyond [-0.55, 0.55]^3
    with pytest.warns(InputWarning, match="beyond the IoU volume"):
        GroundTruth.from_mesh(big, 2000, rng=0)
    mug = trimesh.creation.cylinder(radius=0.04, height=0.1)  # metres, in the normalized cube
    with pytest.warns(InputWarning, match="few uniform points"):
        GroundTruth.from_mesh(mug, 2000, rng=0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GroundTruth.from_mesh(trimesh.creation.icosphere(radius=0.4), 2000, rng=0)
        GroundTruth.from_mesh(mug, 2000, rng=0, bounds=((-0.06,) * 3, (0.06,) * 3))
        GroundTruth.from_mesh(mug, 2000, rng=0, bounds=0.06)  # a half-width, as sample_uniform takes it
        GroundTruth.from_mesh(trimesh.creation.cylinder(radius=0.015, height=0.9), 2000, rng=0)  # a thin pen
