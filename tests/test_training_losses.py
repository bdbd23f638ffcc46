"""Losses and validation metrics against slow, obviously-correct reference formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from implicit3d.training.losses import occupancy_loss, sdf_loss
from implicit3d.training.metrics import iou_from_logits, iou_from_masks, iou_from_sdf


def _bce_reference(x: np.ndarray, y: np.ndarray) -> float:
    total = 0.0
    for xi, yi in zip(x.ravel(), y.ravel(), strict=True):
        p = 1.0 / (1.0 + math.exp(-xi))
        total += -(yi * math.log(p) + (1.0 - yi) * math.log(1.0 - p))
    return total / x.size


def test_occupancy_loss_matches_reference() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 3, (3, 17))
    y = (rng.random((3, 17)) < 0.4).astype(np.float64)
    got = occupancy_loss(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32))
    assert got.dtype == torch.float32 and got.dim() == 0
    assert float(got) == pytest.approx(_bce_reference(x, y), rel=1e-5)


def test_occupancy_loss_stable_for_extreme_logits_and_soft_targets() -> None:
    x = torch.tensor([[200.0, -200.0, 0.0]])
    y = torch.tensor([[1.0, 0.0, 0.5]])
    got = float(occupancy_loss(x, y))
    assert math.isfinite(got)
    assert got == pytest.approx(math.log(2.0) / 3, rel=1e-5)  # only the 0-logit term contributes
    wrong = float(occupancy_loss(x, 1 - y))
    assert wrong == pytest.approx((200 + 200 + math.log(2.0)) / 3, rel=1e-4)


def test_occupancy_loss_half_precision_input_is_computed_in_float32() -> None:
    x = torch.tensor([[3.0, -1.0]], dtype=torch.bfloat16)
    y = torch.tensor([[1.0, 0.0]])
    assert occupancy_loss(x, y).dtype == torch.float32


def test_sdf_loss_matches_clamped_l1_reference() -> None:
    rng = np.random.default_rng(1)
    pred = rng.normal(0, 0.2, (4, 33))
    target = rng.normal(0, 0.2, (4, 33))
    delta = 0.1
    ref = np.mean(
        [
            abs(min(max(p, -delta), delta) - min(max(t, -delta), delta))
            for p, t in zip(pred.ravel(), target.ravel(), strict=True)
        ]
    )
    got = sdf_loss(torch.tensor(pred), torch.tensor(target), clamp=delta)
    assert float(got) == pytest.approx(ref, rel=1e-5)
    # clamp 0 = plain L1
    got0 = sdf_loss(torch.tensor(pred), torch.tensor(target), clamp=0.0)
    assert float(got0) == pytest.approx(np.abs(pred - target).mean(), rel=1e-5)
    # beyond the clamp band nothing is penalised
    assert float(sdf_loss(torch.tensor([[0.5]]), torch.tensor([[0.9]]), clamp=0.1)) == 0.0


def test_loss_errors() -> None:
    with pytest.raises(ValueError, match="same shape"):
        occupancy_loss(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="same shape"):
        sdf_loss(torch.zeros(2, 3), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="NaN"):
        sdf_loss(torch.zeros(1, 2), torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(ValueError, match="clamp"):
        sdf_loss(torch.zeros(1, 2), torch.zeros(1, 2), clamp=-1)


def _iou_reference(pred: np.ndarray, target: np.ndarray) -> list[float]:
    out = []
    for p, t in zip(pred, target, strict=True):
        a = {i for i, v in enumerate(p) if v}
        b = {i for i, v in enumerate(t) if v}
        out.append(1.0 if not (a | b) else len(a & b) / len(a | b))
    return out


def test_iou_from_logits_matches_set_reference() -> None:
    rng = np.random.default_rng(2)
    logits = rng.normal(0, 2, (5, 50))
    occ = (rng.random((5, 50)) < 0.3).astype(np.float32)
    occ[4] = 0
    logits[4] = -5  # both empty -> 1
    got = iou_from_logits(torch.tensor(logits), torch.tensor(occ))
    np.testing.assert_allclose(got.numpy(), _iou_reference(logits > 0, occ > 0.5), rtol=1e-6)
    assert float(got[4]) == 1.0
    # a higher probability threshold shrinks the prediction
    got_hi = iou_from_logits(torch.tensor(logits), torch.tensor(occ), threshold=0.9)
    np.testing.assert_allclose(got_hi.numpy(), _iou_reference(logits > math.log(9.0), occ > 0.5), rtol=1e-6)


def test_iou_from_sdf_and_masks() -> None:
    sdf = torch.tensor([[-0.1, 0.2, -0.3, 0.4]])
    occ = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    assert float(iou_from_sdf(sdf, occ)[0]) == pytest.approx(1 / 3)
    assert float(iou_from_masks(occ > 0.5, occ > 0.5)[0]) == 1.0
    with pytest.raises(ValueError):
        iou_from_masks(torch.zeros(3, dtype=torch.bool), torch.zeros(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="threshold"):
        iou_from_logits(sdf, occ, threshold=1.5)
