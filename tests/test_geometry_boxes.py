"""Gravity-aligned boxes (geometry/boxes.py) against a slow reference: every footprint angle in 0.05 degree steps."""

from __future__ import annotations

import numpy as np
import pytest

from implicit3d.geometry.boxes import upright_box


def _reference_area(points: np.ndarray, up: np.ndarray) -> float:
    """The smallest footprint area over 1800 rotations of an axis in the plane perpendicular to ``up``."""
    u = up / np.linalg.norm(up)
    e1 = np.cross(u, np.eye(3)[int(np.argmin(np.abs(u)))])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(u, e1)
    uv = points @ np.stack([e1, e2], axis=1)
    best = np.inf
    for angle in np.radians(np.arange(0.0, 90.0, 0.05)):
        c, s = np.cos(angle), np.sin(angle)
        a, b = uv @ [c, s], uv @ [-s, c]
        best = min(best, float(np.ptp(a) * np.ptp(b)))
    return best


@pytest.mark.parametrize("seed", range(4))
def test_the_footprint_is_the_smallest_rectangle_and_the_box_holds_every_point(seed) -> None:
    rng = np.random.default_rng(seed)
    up = rng.normal(size=3)
    pts = rng.normal(size=(300, 3)) * [0.3, 0.1, 0.05] @ np.linalg.qr(rng.normal(size=(3, 3)))[0] + rng.normal(size=3)
    box = upright_box(pts, up)
    ref = _reference_area(pts, up)
    assert box.size[0] * box.size[1] <= ref * (1 + 1e-9) and box.size[0] * box.size[1] >= ref * (1 - 2e-3)
    assert box.size[0] >= box.size[1] >= 0 and box.size[2] > 0
    r = box.rotation
    np.testing.assert_allclose(r.T @ r, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0) and r[:, 2] @ (up / np.linalg.norm(up)) == pytest.approx(1.0)
    local = (pts - box.center) @ r
    assert (np.abs(local) <= box.size / 2 + 1e-9).all()
    np.testing.assert_allclose(np.ptp(local, axis=0), box.size, atol=1e-9)  # tight on every axis


def test_a_turned_box_is_found_exactly() -> None:
    """A 20 x 8 x 12 cm box turned 30 degrees about the table normal (y up in a camera-like frame): its own size,
    centre and axes."""
    import trimesh

    box = trimesh.creation.box((0.20, 0.08, 0.12))
    turn = trimesh.transformations.rotation_matrix(np.radians(30.0), [0, 0, 1])
    to_camera = np.array([[1, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0.9], [0, 0, 0, 1]], dtype=float)  # z up -> -y
    box.apply_transform(to_camera @ turn)
    found = upright_box(box.vertices, [0.0, -1.0, 0.0])
    np.testing.assert_allclose(found.size, [0.20, 0.08, 0.12], atol=1e-9)
    np.testing.assert_allclose(found.center, box.bounds.mean(axis=0), atol=1e-9)
    long_axis = (to_camera @ turn)[:3, 0]
    assert abs(found.rotation[:, 0] @ long_axis) == pytest.approx(1.0)
    np.testing.assert_allclose(np.sort(np.round(found.corners(), 9), axis=0),
                               np.sort(np.round(box.vertices, 9), axis=0), atol=1e-8)


def test_degenerate_inputs() -> None:
    one = upright_box([[0.1, 0.2, 0.3]], [0, 0, 1])
    np.testing.assert_allclose(one.size, 0.0) and np.testing.assert_allclose(one.center, [0.1, 0.2, 0.3])
    line = upright_box([[0, 0, 0], [1, 0, 0], [2, 0, 0]], [0, 0, 1])
    np.testing.assert_allclose(line.size, [2.0, 0.0, 0.0], atol=1e-12)
    for points, up in (([], [0, 0, 1]), ([[0, 0, np.nan]], [0, 0, 1]), ([[0, 0, 0]], [0, 0, 0])):
        with pytest.raises(ValueError):
            upright_box(points, up)
