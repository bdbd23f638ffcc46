"""Tests of implicit3d.evaluation.summary: volume ratio, shell / over-fill verdicts, metric F-scores, grouped means."""

from __future__ import annotations

import math

import numpy as np
import pytest
import trimesh

from implicit3d.evaluation import summary as Y
from implicit3d.evaluation.baselines import convex_hull
from implicit3d.evaluation.scans import iou_samples, prediction_occupancy, scan_overlap


def _hollow_sphere(radius: float, wall: float) -> trimesh.Trimesh:
    """A closed sphere of ``radius`` with a concentric inward-facing sphere ``wall`` inside: a thin shell."""
    outer = trimesh.creation.icosphere(3, radius)
    inner = trimesh.creation.icosphere(3, radius - wall)
    inner.invert()
    return trimesh.util.concatenate([outer, inner])


def test_volume_ratio_counts_and_edge_cases():
    gt = np.array([1, 1, 1, 1, 0, 0, 0, 0], bool)
    assert Y.volume_ratio(np.array([1, 1, 0, 0, 0, 0, 0, 0], bool), gt) == pytest.approx(0.5)
    assert Y.volume_ratio(np.ones(8, bool), gt) == pytest.approx(2.0)
    assert Y.volume_ratio(np.array([0.9, 0.2, 0.7, 0.1, 0.0, 0.0, 0.0, 0.6]), gt) == pytest.approx(0.75)  # > 0.5
    assert Y.volume_ratio(np.zeros(8, bool), gt) == 0.0
    assert math.isnan(Y.volume_ratio(np.ones(8, bool), np.zeros(8, bool)))
    with pytest.raises(ValueError, match="same length"):
        Y.volume_ratio(np.ones(7, bool), gt)
    with pytest.raises(ValueError, match="1-D"):
        Y.volume_ratio(np.ones((2, 4), bool), gt)


def test_fill_verdict_thresholds():
    assert Y.fill_verdict(0.49) == "shell"
    assert Y.fill_verdict(0.0) == "shell"
    assert Y.fill_verdict(0.5) == "ok" and Y.fill_verdict(1.0) == "ok" and Y.fill_verdict(1.5) == "ok"
    assert Y.fill_verdict(1.51) == "overfill"
    assert Y.fill_verdict(float("nan")) == "ok"
    assert Y.fill_verdict(0.7, shell=0.8) == "shell"
    with pytest.raises(ValueError):
        Y.fill_verdict(1.0, shell=1.2)


def test_a_sphere_completed_as_a_thin_shell_of_itself_is_a_shell_failure():
    sphere = trimesh.creation.icosphere(3, 0.1)
    samples = iou_samples(sphere, 0, 20_000)
    shell = prediction_occupancy(_hollow_sphere(0.1, 0.01), samples.points)
    ratio = Y.volume_ratio(shell, samples.occupancy)
    assert ratio == pytest.approx(1 - 0.9**3, abs=0.03)  # the wall's share of the ball's volume
    assert Y.fill_verdict(ratio) == "shell"
    # the solid sphere itself is not, and a sphere twice the radius over-fills
    assert Y.fill_verdict(Y.volume_ratio(samples.occupancy, samples.occupancy)) == "ok"
    big = prediction_occupancy(trimesh.creation.icosphere(3, 0.2), samples.points)
    assert Y.fill_verdict(Y.volume_ratio(big, samples.occupancy)) == "overfill"


def test_convex_hull_of_points_all_over_a_cube_scores_iou_about_one():
    cube = trimesh.creation.box((0.1, 0.1, 0.1))
    pts, _ = trimesh.sample.sample_surface(cube, 5000, seed=0)
    samples = iou_samples(cube, 1, 20_000)
    hull = convex_hull(pts)
    overlap = scan_overlap(hull, samples)
    assert overlap["iou"] > 0.97
    ratio = Y.volume_ratio(prediction_occupancy(hull, samples.points), samples.occupancy)
    assert 0.95 < ratio <= 1.0 and Y.fill_verdict(ratio) == "ok"
    # half the cube's points: the hull covers about half of it and is a shell failure by volume only at < 50 %
    half = pts[pts[:, 2] > 0.02]
    h = convex_hull(half)
    assert Y.volume_ratio(prediction_occupancy(h, samples.points), samples.occupancy) < 0.35


def test_surface_scores_mm_identical_shifted_and_empty():
    grid = np.stack(np.meshgrid(*[np.arange(5) * 0.05] * 3, indexing="ij"), -1).reshape(-1, 3)  # 5 cm apart
    same = Y.surface_scores_mm(grid, grid)
    assert same["chamfer_mm"] == pytest.approx(0.0, abs=1e-9)
    assert same["fscore_5mm"] == 1.0 and same["fscore_10mm"] == 1.0
    shifted = Y.surface_scores_mm(grid + np.array([0.007, 0.0, 0.0]), grid)  # every point 7 mm off
    assert shifted["chamfer_mm"] == pytest.approx(7.0)
    assert shifted["fscore_5mm"] == 0.0 and shifted["fscore_10mm"] == 1.0
    half = Y.surface_scores_mm(grid[: len(grid) // 2 + 1], grid)  # precision 1, recall ~1/2 -> F ~2/3
    assert half["fscore_5mm"] == pytest.approx(2 * 0.504 / 1.504, abs=0.01)
    empty = Y.surface_scores_mm(np.zeros((0, 3)), grid)
    assert empty["fscore_5mm"] == 0.0 and empty["chamfer_mm"] > 1000.0
    assert Y.threshold_key(0.005) == "fscore_5mm" and Y.threshold_key(0.0025, "precision") == "precision_2.5mm"


def test_aggregate_means_shares_and_counts():
    rows = [
        {"name": "a", "category": "can", "iou": 0.8, "shell": 0.0},
        {"name": "a", "category": "can", "iou": 0.6, "shell": 1.0},
        {"name": "b", "category": "can", "iou": float("nan"), "shell": 1.0},
        {"name": "c", "category": "box", "iou": 0.2, "shell": False},
        {"name": "d", "iou": 0.4},  # no class, no shell flag
    ]
    by = Y.aggregate(rows, ["iou", "shell"], by="category")
    assert list(by) == ["box", "can", "other"]
    assert by["can"]["iou"] == pytest.approx(0.7)  # the NaN is skipped
    assert by["can"]["shell"] == pytest.approx(2 / 3)
    assert by["can"]["views"] == 3 and by["can"]["objects"] == 2
    assert by["box"]["shell"] == 0.0
    assert math.isnan(by["other"]["shell"])
    overall = Y.aggregate(rows, ["iou"])
    assert list(overall) == ["all"] and overall["all"]["iou"] == pytest.approx(0.5)
    assert overall["all"]["objects"] == 4


def test_uncertainty_ranking_of_a_perfect_and_an_uninformative_measure() -> None:
    from implicit3d.evaluation.summary import uncertainty_ranking

    quality = 1.0 - 0.1 * np.arange(9)
    perfect = uncertainty_ranking(np.arange(9.0), quality)  # the least sure are the worst
    assert perfect["n"] == 9 and perfect["rho"] == pytest.approx(-1.0)
    assert perfect["terciles"] == pytest.approx([0.9, 0.6, 0.3])
    assert perfect["cuts"] == pytest.approx([8 / 3, 16 / 3])
    backwards = uncertainty_ranking(-np.arange(9.0), quality)
    assert backwards["rho"] == pytest.approx(1.0) and backwards["terciles"][0] < backwards["terciles"][2]
    # unknown values are left out; too few known ones give no verdict
    assert uncertainty_ranking([None, *range(6)], [0.5, *np.linspace(1, 0, 6)])["n"] == 6
    assert uncertainty_ranking([None, 1, 2, 3, 4, 5], np.ones(6)) is None
    # a measure that is the same for every result (no object cut by the border) says nothing, without a warning
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flat = uncertainty_ranking(np.zeros(9), quality)
    assert np.isnan(flat["rho"])
