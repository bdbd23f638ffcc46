"""Training losses: binary cross-entropy on occupancy logits, clamped L1 on signed distances."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def occupancy_loss(logits: torch.Tensor, occ: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of occupancy ``logits (B, M)`` against targets ``occ (B, M)`` in [0, 1].

    Computed in float32 with the numerically stable log-sum-exp form (``F.binary_cross_entropy_with_logits``).
    """
    if logits.shape != occ.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and occ {tuple(occ.shape)} must have the same shape")
    return F.binary_cross_entropy_with_logits(logits.float(), occ.float())


def sdf_loss(pred: torch.Tensor, sdf: torch.Tensor, clamp: float = 0.1) -> torch.Tensor:
    """Mean clamped L1 ``|clamp(pred, -d, d) - clamp(sdf, -d, d)|`` (DeepSDF) of ``pred (B, M)`` vs ``sdf (B, M)``.

    ``clamp`` ``d`` is in the units of the SDF (normalized shape units); ``0`` disables clamping. Targets must be
    finite: a dataset prepared without SDF values yields NaN, which raises ``ValueError``.
    """
    if pred.shape != sdf.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and sdf {tuple(sdf.shape)} must have the same shape")
    if clamp < 0:
        raise ValueError(f"clamp must be >= 0, got {clamp}")
    if not bool(torch.isfinite(sdf).all()):
        raise ValueError("SDF targets contain NaN/inf: the dataset has no SDF values (train with task: occupancy)")
    p, t = pred.float(), sdf.float()
    if clamp > 0:
        p, t = p.clamp(-clamp, clamp), t.clamp(-clamp, clamp)
    return (p - t).abs().mean()
