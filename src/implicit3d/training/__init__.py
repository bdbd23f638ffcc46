"""Training: losses, metrics, checkpoints (safetensors + JSON), the trainer loop, DDP helpers.

Main entry points: :class:`Trainer`, :class:`TrainConfig`, :func:`load_checkpoint`, :func:`save_checkpoint`.
"""

from implicit3d.training.checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from implicit3d.training.config import RunConfig, TrainConfig, load_run_config
from implicit3d.training.losses import occupancy_loss, sdf_loss
from implicit3d.training.metrics import iou_from_logits, iou_from_sdf
from implicit3d.training.trainer import Trainer, lr_at_step

__all__ = [
    "CheckpointError",
    "RunConfig",
    "TrainConfig",
    "Trainer",
    "iou_from_logits",
    "iou_from_sdf",
    "load_checkpoint",
    "load_run_config",
    "lr_at_step",
    "occupancy_loss",
    "read_checkpoint",
    "save_checkpoint",
    "sdf_loss",
]
