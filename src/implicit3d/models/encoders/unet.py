"""U-Nets for feature planes (2D) and feature volumes (3D); both keep the spatial size of their input.

- :class:`UNet2d` follows the U-Net used by ConvONet for planes: per level two 3x3 convs + ReLU, 2x2 max-pool
  between levels, 2x2 transposed-conv upsampling, skip connections by concatenation, a final 1x1 conv. Filters
  ``start * 2**level``.
- :class:`UNet3d` follows the 3D U-Net ConvONet uses for grids (pytorch-3dunet style): per level a double
  (GroupNorm -> 3x3x3 conv -> ReLU) block, 2x max-pool between levels, nearest-neighbour upsampling and
  concatenation on the way up, a final 1x1x1 conv. Filters ``start * 2**level``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def _encode(
    x: torch.Tensor, levels: nn.ModuleList, pool: Callable[[torch.Tensor, int], torch.Tensor]
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The way down of a U-Net: every level after the first halves the spatial size with ``pool(x, 2)`` first.
    Returns the deepest level's features and, for the skip connections, the outputs of the other levels (finest
    first)."""
    skips = []
    for i, level in enumerate(levels):
        if i > 0:
            skips.append(x)
            x = pool(x, 2)
        x = level(x)
    return x, skips


class _Down2d(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv2(torch.relu(self.conv1(x))))


class _Up2d(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cout, 2, stride=2)
        self.conv1 = nn.Conv2d(2 * cout, cout, 3, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.up(x), skip], dim=1)
        return torch.relu(self.conv2(torch.relu(self.conv1(x))))


class UNet2d(nn.Module):
    """``(B, in_channels, H, W)`` -> ``(B, out_channels, H, W)``; ``H, W`` divisible by ``2**(depth-1)``."""

    def __init__(self, in_channels: int, out_channels: int, depth: int = 4, start_filters: int = 32) -> None:
        super().__init__()
        widths = [start_filters * 2**i for i in range(depth)]
        self.down = nn.ModuleList([_Down2d(in_channels if i == 0 else widths[i - 1], widths[i]) for i in range(depth)])
        self.up = nn.ModuleList([_Up2d(widths[i], widths[i - 1]) for i in range(depth - 1, 0, -1)])
        self.out = nn.Conv2d(widths[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, skips = _encode(x, self.down, F.max_pool2d)
        for level, skip in zip(self.up, reversed(skips), strict=True):
            x = level(x, skip)
        return self.out(x)


def _groups(channels: int, groups: int) -> int:
    """The largest divisor of ``channels`` that is <= ``groups`` (GroupNorm needs channels % groups == 0)."""
    g = max(1, min(groups, channels))
    while channels % g:
        g -= 1
    return g


class _DoubleConv3d(nn.Module):
    """Two (GroupNorm -> conv3x3x3 -> ReLU) layers: ``cin -> cmid -> cout``."""

    def __init__(self, cin: int, cmid: int, cout: int, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(cin, groups), cin)
        self.conv1 = nn.Conv3d(cin, cmid, 3, padding=1, bias=False)
        self.norm2 = nn.GroupNorm(_groups(cmid, groups), cmid)
        self.conv2 = nn.Conv3d(cmid, cout, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(self.norm1(x)))
        return torch.relu(self.conv2(self.norm2(x)))


class UNet3d(nn.Module):
    """``(B, in_channels, D, H, W)`` -> ``(B, out_channels, D, H, W)``; sizes divisible by ``2**(levels-1)``.

    Encoder level ``i`` outputs ``start * 2**i`` channels (its first conv goes to half of that, at least the
    input width, as in pytorch-3dunet); decoder levels concatenate the upsampled features with the skip.
    """

    def __init__(
        self, in_channels: int, out_channels: int, levels: int = 3, start_filters: int = 32, groups: int = 8
    ) -> None:
        super().__init__()
        widths = [start_filters * 2**i for i in range(levels)]
        enc = []
        for i, w in enumerate(widths):
            cin = in_channels if i == 0 else widths[i - 1]
            enc.append(_DoubleConv3d(cin, max(w // 2, cin), w, groups))
        self.down = nn.ModuleList(enc)
        self.up = nn.ModuleList(
            [
                _DoubleConv3d(widths[i] + widths[i - 1], widths[i - 1], widths[i - 1], groups)
                for i in range(levels - 1, 0, -1)
            ]
        )
        self.out = nn.Conv3d(widths[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, skips = _encode(x, self.down, F.max_pool3d)
        for level, skip in zip(self.up, reversed(skips), strict=True):
            x = F.interpolate(x, size=skip.shape[2:], mode="nearest")
            x = level(torch.cat([skip, x], dim=1))
        return self.out(x)
