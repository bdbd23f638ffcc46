"""Validation metrics computed from raw network outputs (occupancy logits or SDF values)."""

from __future__ import annotations

import torch

from implicit3d.geometry.frames import probability_to_logit


def iou_from_masks(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-shape IoU ``(B,) float32`` of boolean occupancy masks ``pred (B, M)`` and ``target (B, M)``.

    A shape whose prediction and target are both empty has IoU 1.
    """
    if pred.shape != target.shape or pred.dim() != 2:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must both be (B, M)")
    pred, target = pred.bool(), target.bool()
    inter = (pred & target).sum(dim=1).float()
    union = (pred | target).sum(dim=1).float()
    return torch.where(union > 0, inter / union.clamp_min(1.0), torch.ones_like(union))


def iou_from_logits(logits: torch.Tensor, occ: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Per-shape IoU ``(B,)`` of ``logits (B, M)`` (inside where sigmoid > ``threshold``) vs ``occ (B, M) >= 0.5``."""
    return iou_from_masks(logits.float() > probability_to_logit(threshold), occ >= 0.5)


def iou_from_sdf(pred_sdf: torch.Tensor, occ: torch.Tensor, level: float = 0.0) -> torch.Tensor:
    """Per-shape IoU ``(B,)`` of a predicted SDF ``(B, M)`` (inside where ``sdf < level``) vs ``occ >= 0.5``."""
    return iou_from_masks(pred_sdf.float() < level, occ >= 0.5)
