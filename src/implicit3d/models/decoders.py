"""Decoders: query points + shape code -> one value per point (occupancy logit or SDF).

- :class:`CBatchNormDecoder`: global code, conditional batch norm (Occupancy Networks "DecoderCBatchNorm").
- :class:`LocalDecoder`: per-point features sampled from planes/grid, added to the hidden state before each
  ResNet-FC block (Convolutional Occupancy Networks "LocalDecoder").
- :class:`PointwiseDecoder`: MLP over concatenated multi-scale features (IF-Net).
"""

from __future__ import annotations

import torch
from torch import nn

from implicit3d.geometry.transforms import DEFAULT_PADDING
from implicit3d.models.layers import CBatchNorm1d, CResnetBlockConv1d, ResnetBlockFC
from implicit3d.models.sampling import sample_grid, sample_plane


class CBatchNormDecoder(nn.Module):
    """``points (B, M, 3)``, ``c (B, c_dim)`` -> ``(B, M)``.

    1x1 conv ``3 -> hidden``, ``n_blocks`` :class:`~implicit3d.models.layers.CResnetBlockConv1d`, a final CBN,
    ReLU and 1x1 conv to one value. Batch statistics are taken over all points of the batch in training mode.
    """

    def __init__(self, c_dim: int = 512, hidden: int = 256, n_blocks: int = 5, dim: int = 3) -> None:
        super().__init__()
        self.fc_p = nn.Conv1d(dim, hidden, 1)
        self.blocks = nn.ModuleList([CResnetBlockConv1d(c_dim, hidden) for _ in range(n_blocks)])
        self.bn = CBatchNorm1d(c_dim, hidden)
        self.fc_out = nn.Conv1d(hidden, 1, 1)

    def forward(self, points: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        net = self.fc_p(points.transpose(1, 2))
        for block in self.blocks:
            net = block(net, c)
        return self.fc_out(torch.relu(self.bn(net, c))).squeeze(1)


class LocalDecoder(nn.Module):
    """``points (B, M, 3)``, feature maps ``{"xz": (B, C, R, R), ...}`` or ``{"grid": (B, C, R, R, R)}`` -> ``(B, M)``.

    Features are interpolated at each point (bilinear on planes, trilinear in the grid, summed over the maps),
    then ``net = fc_p(p)``; for each block ``net = block(net + fc_c[i](feature))``; output ``fc_out(relu(net))``.
    """

    def __init__(
        self,
        c_dim: int = 32,
        hidden: int = 32,
        n_blocks: int = 5,
        padding: float = DEFAULT_PADDING,
        sample_mode: str = "bilinear",
        dim: int = 3,
    ) -> None:
        super().__init__()
        self.padding = padding
        self.sample_mode = sample_mode
        self.fc_p = nn.Linear(dim, hidden)
        self.fc_c = nn.ModuleList([nn.Linear(c_dim, hidden) for _ in range(n_blocks)])
        self.blocks = nn.ModuleList([ResnetBlockFC(hidden) for _ in range(n_blocks)])
        self.fc_out = nn.Linear(hidden, 1)

    def sample_features(self, points: torch.Tensor, maps: dict[str, torch.Tensor]) -> torch.Tensor:
        """Features at the query points, summed over the maps: ``(B, M, C)``."""
        feat = None
        for key, fmap in maps.items():
            if key == "grid":
                f = sample_grid(fmap, points, self.padding, self.sample_mode)
            else:
                f = sample_plane(fmap, points, key, self.padding, self.sample_mode)
            feat = f if feat is None else feat + f
        if feat is None:
            raise ValueError("LocalDecoder needs at least one feature map")
        return feat

    def forward(self, points: torch.Tensor, maps: dict[str, torch.Tensor]) -> torch.Tensor:
        feat = self.sample_features(points, maps)
        net = self.fc_p(points)
        for fc_c, block in zip(self.fc_c, self.blocks, strict=True):
            net = block(net + fc_c(feat))
        return self.fc_out(torch.relu(net)).squeeze(-1)


def displacements(d: float, device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The 7 IF-Net sampling offsets ``(7, 3)``: zero, then ``-d, +d`` along x, y and z."""
    out = torch.zeros(7, 3, device=device, dtype=dtype)
    for axis in range(3):
        out[1 + 2 * axis, axis] = -d
        out[2 + 2 * axis, axis] = d
    return out


class PointwiseDecoder(nn.Module):
    """IF-Net decoder: ``points (B, M, 3)``, pyramid ``[(B, C_i, R_i, R_i, R_i)]`` -> ``(B, M)``.

    Each volume is sampled trilinearly at the point and its six displaced copies; the ``7 * sum(C_i)`` values form
    the point's feature, which ``layers`` ReLU-linear layers of width ``hidden`` and a final linear map to one value.
    """

    def __init__(self, feature_channels: int, padding: float, displacement: float, hidden: int = 256, layers: int = 3):
        super().__init__()
        self.padding = padding
        self.register_buffer("offsets", displacements(displacement), persistent=False)
        widths = [7 * feature_channels] + [hidden] * layers
        self.fcs = nn.ModuleList([nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True)])
        self.fc_out = nn.Linear(hidden, 1)

    def sample_features(self, points: torch.Tensor, pyramid: list[torch.Tensor]) -> torch.Tensor:
        """``(B, M, 7 * sum(C_i))`` multi-scale features at the point and its displaced copies."""
        b, m, _ = points.shape
        shifted = (points.unsqueeze(2) + self.offsets.to(points.dtype)).reshape(b, m * 7, 3)  # (B, 7M, 3)
        feats = torch.cat([sample_grid(vol, shifted, self.padding) for vol in pyramid], dim=2)  # (B, 7M, C)
        return feats.reshape(b, m, -1)

    def forward(self, points: torch.Tensor, pyramid: list[torch.Tensor]) -> torch.Tensor:
        net = self.sample_features(points, pyramid)
        for fc in self.fcs:
            net = torch.relu(fc(net))
        return self.fc_out(net).squeeze(-1)
