"""The model families: Occupancy Network, Convolutional Occupancy Network (planes/grid), IF-Net.

Every model maps a point cloud ``inputs (B, N, 3) float32`` (normalized coordinates) and query points
``points (B, M, 3)`` to ``(B, M)`` values: occupancy logits (``config.output == "occupancy"``; probability =
sigmoid) or signed distances (``"sdf"``, negative inside). ``encode(inputs) -> c`` and ``decode(points, c)``
split the work so one encoding serves many query batches (mesh extraction).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from implicit3d.models.config import (
    PLANES,
    ConvONetGridConfig,
    ConvONetPlanesConfig,
    IFNetConfig,
    ModelConfig,
    OccNetConfig,
)
from implicit3d.models.decoders import CBatchNormDecoder, LocalDecoder, PointwiseDecoder
from implicit3d.models.encoders.ifnet import IFNetEncoder
from implicit3d.models.encoders.local_pointnet import LocalFeatureEncoder
from implicit3d.models.encoders.pointnet import ResnetPointNet


def check_points(x: Any, name: str, batch: int | None = None, finite: bool = False) -> torch.Tensor:
    """Validate a ``(B, K, 3)`` floating tensor (``finite``: no NaN or inf either, one pass over it and, on a GPU, a
    sync: the encoders check their inputs so); raises ``TypeError``/``ValueError`` naming ``name``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor shaped (B, K, 3), got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")
    if x.dim() != 3 or x.shape[-1] != 3:
        raise ValueError(f"{name} must be shaped (B, K, 3), got {tuple(x.shape)}")
    if x.shape[1] == 0:
        raise ValueError(f"{name} holds no points (shape {tuple(x.shape)})")
    if batch is not None and x.shape[0] != batch:
        raise ValueError(f"{name} has batch size {x.shape[0]} but the inputs have {batch}")
    if finite and not bool(torch.isfinite(x).all()):  # one NaN point makes every output NaN (IF-Net: a wrong voxel)
        raise ValueError(f"{name} holds NaN or infinite coordinates: drop those points first")
    return x


def _batch_of(c: dict[str, torch.Tensor]) -> int:
    """The batch size of a feature dict from ``encode``; ``ValueError`` for an empty one."""
    if not c:
        raise ValueError("the features c are empty: pass what encode(inputs) returned")
    return int(next(iter(c.values())).shape[0])


class ImplicitModel(nn.Module):
    """Base class: ``forward(inputs, points) = decode(points, encode(inputs))``; ``.config`` is a JSON-able dict."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg

    @property
    def config(self) -> dict[str, Any]:
        """The model's settings as a JSON-able dict (``create_model_from_config(model.config)`` rebuilds it)."""
        return self.cfg.to_dict()

    @property
    def output(self) -> str:
        """``"occupancy"`` (logits) or ``"sdf"``."""
        return self.cfg.output

    def _points(self, x: Any, name: str, batch: int | None = None) -> torch.Tensor:
        """:func:`check_points` (input clouds also finite), then cast to the model's floating dtype (float64 from
        ``torch.from_numpy`` is the common case)."""
        x = check_points(x, name, batch, finite=name == "inputs")
        param = next(self.parameters(), None)
        if param is not None and param.is_floating_point() and x.dtype != param.dtype:
            x = x.to(param.dtype)
        return x

    def encode(self, inputs: torch.Tensor) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode(self, points: torch.Tensor, c: Any) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, inputs: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """``inputs (B, N, 3)``, ``points (B, M, 3)`` (any floating dtype: cast to the model's) -> ``(B, M)`` logits
        or SDF values."""
        check_points(inputs, "inputs")
        check_points(points, "points", batch=inputs.shape[0])
        return self.decode(points, self.encode(inputs))

    def extra_repr(self) -> str:
        return f"name={self.cfg.name!r}, output={self.cfg.output!r}"


class OccupancyNetwork(ImplicitModel):
    """ResNet-PointNet -> global code ``c (B, c_dim)`` -> conditional-batch-norm decoder."""

    def __init__(self, cfg: OccNetConfig) -> None:
        super().__init__(cfg)
        self.encoder = ResnetPointNet(cfg.c_dim, cfg.encoder_hidden, cfg.encoder_blocks)
        self.decoder = CBatchNormDecoder(cfg.c_dim, cfg.decoder_hidden, cfg.decoder_blocks)

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(B, N, 3)`` -> ``(B, c_dim)``."""
        return self.encoder(self._points(inputs, "inputs"))

    def decode(self, points: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.decoder(self._points(points, "points", batch=c.shape[0]), c)


class ConvolutionalOccupancyNetwork(ImplicitModel):
    """Local-pool PointNet -> feature planes or grid + U-Net -> sampled features -> ResNet-FC decoder."""

    def __init__(self, cfg: ConvONetPlanesConfig | ConvONetGridConfig) -> None:
        super().__init__(cfg)
        if isinstance(cfg, ConvONetPlanesConfig):
            layout = dict(planes=cfg.planes, plane_resolution=cfg.plane_resolution, unet_depth=cfg.unet_depth)
        else:
            layout = dict(grid_resolution=cfg.grid_resolution, unet_depth=cfg.unet_levels, unet_groups=cfg.unet_groups)
        self.encoder = LocalFeatureEncoder(
            padding=cfg.padding,
            c_dim=cfg.c_dim,
            hidden=cfg.encoder_hidden,
            n_blocks=cfg.encoder_blocks,
            pool=cfg.local_pool,
            unet_filters=cfg.unet_filters,
            **layout,
        )
        self.decoder = LocalDecoder(cfg.c_dim, cfg.decoder_hidden, cfg.decoder_blocks, cfg.padding, cfg.sample_mode)
        self.detail: LocalFeatureEncoder | None = None
        self.detail_out: nn.Conv2d | None = None
        if isinstance(cfg, ConvONetGridConfig) and cfg.detail_resolution:
            self.detail = LocalFeatureEncoder(
                padding=cfg.padding, c_dim=cfg.c_dim, hidden=cfg.encoder_hidden, n_blocks=cfg.detail_blocks,
                pool=cfg.local_pool, planes=PLANES, plane_resolution=cfg.detail_resolution,
                unet_depth=cfg.detail_levels, unet_filters=cfg.detail_filters,
            )
            self.detail_out = nn.Conv2d(cfg.c_dim, cfg.c_dim, 1)  # zero at first: a grown model computes what it did
            nn.init.zeros_(self.detail_out.weight)
            nn.init.zeros_(self.detail_out.bias)

    def encode(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """``(B, N, 3)`` -> ``{"xz": (B, C, R, R), ...}`` (planes) or ``{"grid": (B, C, R, R, R)}`` (with detail planes
        also ``"xz"``, ``"xy"``, ``"yz"``: ``(B, C, R_d, R_d)``)."""
        inputs = self._points(inputs, "inputs")
        maps = self.encoder(inputs)
        if self.detail is not None and self.detail_out is not None:
            maps.update({key: self.detail_out(fmap) for key, fmap in self.detail(inputs).items()})
        return maps

    def decode(self, points: torch.Tensor, c: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.decoder(self._points(points, "points", batch=_batch_of(c)), c)


class IFNet(ImplicitModel):
    """Voxelized input -> 3D conv pyramid -> features at the point and 6 displacements per scale -> MLP."""

    def __init__(self, cfg: IFNetConfig) -> None:
        super().__init__(cfg)
        self.encoder = IFNetEncoder(cfg.resolution, cfg.padding, cfg.channels)
        self.decoder = PointwiseDecoder(
            self.encoder.feature_channels, cfg.padding, cfg.displacement, cfg.decoder_hidden, cfg.decoder_layers
        )

    def encode(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """``(B, N, 3)`` -> ``{"s0": (B, 1, R, R, R) input voxels, "s1": (B, C_1, R, R, R), ...}`` finest first."""
        pyramid = self.encoder(self._points(inputs, "inputs"))
        return {f"s{i}": vol for i, vol in enumerate(pyramid)}

    def decode(self, points: torch.Tensor, c: dict[str, torch.Tensor]) -> torch.Tensor:
        try:  # by key, finest first: a dict rebuilt in another order still reads each scale as its own
            levels = [c[f"s{i}"] for i in range(len(c))]
        except KeyError:
            raise ValueError(f"IF-Net features are keyed s0, s1, ... as encode returns them, got {sorted(c)}") from None
        return self.decoder(self._points(points, "points", batch=_batch_of(c)), levels)
