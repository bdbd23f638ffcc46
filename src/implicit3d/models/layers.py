"""Building blocks shared by the decoders and encoders: fully connected ResNet blocks, conditional batch norm."""

from __future__ import annotations

import torch
from torch import nn


class ResnetBlockFC(nn.Module):
    """Pre-activation fully connected ResNet block: ``x -> shortcut(x) + fc_1(relu(fc_0(relu(x))))``.

    ``x: (..., size_in)`` -> ``(..., size_out)``. The hidden width defaults to ``min(size_in, size_out)``; a
    bias-free linear shortcut is used when the widths differ. ``fc_1`` starts at zero so a fresh block is the
    identity (as in the Occupancy Networks code).
    """

    def __init__(self, size_in: int, size_out: int | None = None, size_h: int | None = None) -> None:
        super().__init__()
        size_out = size_in if size_out is None else size_out
        size_h = min(size_in, size_out) if size_h is None else size_h
        self.fc_0 = nn.Linear(size_in, size_h)
        self.fc_1 = nn.Linear(size_h, size_out)
        self.shortcut = None if size_in == size_out else nn.Linear(size_in, size_out, bias=False)
        nn.init.zeros_(self.fc_1.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dx = self.fc_1(torch.relu(self.fc_0(torch.relu(x))))
        return (x if self.shortcut is None else self.shortcut(x)) + dx


class CBatchNorm1d(nn.Module):
    """Conditional batch norm: normalize ``x`` without affine, then ``gamma(c) * x_hat + beta(c)``.

    ``x: (B, F, T)``, ``c: (B, C)`` (one code per shape) or ``(B, C, T)`` (one per point) -> ``(B, F, T)``.
    ``gamma``/``beta`` are 1x1 convolutions of ``c`` initialised to the identity map (gamma 1, beta 0).
    """

    def __init__(self, c_dim: int, f_dim: int) -> None:
        super().__init__()
        self.conv_gamma = nn.Conv1d(c_dim, f_dim, 1)
        self.conv_beta = nn.Conv1d(c_dim, f_dim, 1)
        self.bn = nn.BatchNorm1d(f_dim, affine=False)
        nn.init.zeros_(self.conv_gamma.weight)
        nn.init.zeros_(self.conv_beta.weight)
        nn.init.ones_(self.conv_gamma.bias)
        nn.init.zeros_(self.conv_beta.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        if c.dim() == 2:
            c = c.unsqueeze(2)
        return self.conv_gamma(c) * self.bn(x) + self.conv_beta(c)


class CResnetBlockConv1d(nn.Module):
    """ResNet block over points with conditional batch norm before each ReLU + 1x1 conv.

    ``x: (B, F, T)``, ``c: (B, C)`` -> ``(B, F, T)``; ``fc_1`` starts at zero (identity block).
    """

    def __init__(self, c_dim: int, size: int) -> None:
        super().__init__()
        self.bn_0 = CBatchNorm1d(c_dim, size)
        self.bn_1 = CBatchNorm1d(c_dim, size)
        self.fc_0 = nn.Conv1d(size, size, 1)
        self.fc_1 = nn.Conv1d(size, size, 1)
        nn.init.zeros_(self.fc_1.weight)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        net = self.fc_0(torch.relu(self.bn_0(x, c)))
        return x + self.fc_1(torch.relu(self.bn_1(net, c)))
