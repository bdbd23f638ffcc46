"""Local-pool PointNet (Convolutional Occupancy Networks): point features pooled in plane/grid cells.

Each point's features are concatenated with the pooled features of its cells (summed over the feature planes or
read from its grid cell) between ResNet-FC blocks; the final per-point features are averaged into the cells of
each plane (``(B, C, R, R)``) or of the grid (``(B, C, R, R, R)``) and refined by a U-Net. Scatter is done with
torch index ops (:mod:`implicit3d.models.sampling`), no ``torch_scatter``.
"""

from __future__ import annotations

import torch
from torch import nn

from implicit3d.models.encoders.unet import UNet2d, UNet3d
from implicit3d.models.layers import ResnetBlockFC
from implicit3d.models.sampling import gather_cells, grid_index, plane_index, scatter_max, scatter_mean


class LocalPoolPointNet(nn.Module):
    """``points (B, N, 3)`` -> per-point features ``(B, N, c_dim)`` with local pooling over ``cells``.

    ``cells`` maps a key (``"xz"``/``"xy"``/``"yz"`` plane or ``"grid"``) to its resolution. Between blocks every
    point gets the ``pool`` (max or mean) of the features in its cell, summed over the keys.
    """

    def __init__(
        self,
        cells: dict[str, int],
        padding: float,
        c_dim: int = 32,
        hidden: int = 32,
        n_blocks: int = 5,
        pool: str = "max",
        dim: int = 3,
    ) -> None:
        super().__init__()
        self.cells = dict(cells)
        self.padding = padding
        self.pool = pool
        self.fc_pos = nn.Linear(dim, 2 * hidden)
        self.blocks = nn.ModuleList([ResnetBlockFC(2 * hidden, hidden) for _ in range(n_blocks)])
        self.fc_c = nn.Linear(hidden, c_dim)

    def cell_indices(self, points: torch.Tensor) -> dict[str, torch.Tensor]:
        """Flat cell index ``(B, N)`` int64 of every point for every key of ``cells``."""
        out = {}
        for key, res in self.cells.items():
            if key == "grid":
                out[key] = grid_index(points, res, self.padding)
            else:
                out[key] = plane_index(points, key, res, self.padding)
        return out

    def _pool_local(self, net: torch.Tensor, index: dict[str, torch.Tensor]) -> torch.Tensor:
        scatter = scatter_max if self.pool == "max" else scatter_mean
        pooled = torch.zeros_like(net)
        for key, idx in index.items():
            size = self.cells[key] ** (3 if key == "grid" else 2)
            pooled = pooled + gather_cells(scatter(net, idx, size), idx)
        return pooled

    def forward(
        self, points: torch.Tensor, index: dict[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Returns per-point features ``(B, N, c_dim)`` and the cell indices used."""
        if index is None:
            index = self.cell_indices(points)
        net = self.blocks[0](self.fc_pos(points))
        for block in self.blocks[1:]:
            net = block(torch.cat([net, self._pool_local(net, index)], dim=2))
        return self.fc_c(net), index


class LocalFeatureEncoder(nn.Module):
    """Point cloud -> dict of feature maps: planes ``{"xz": (B, C, R, R), ...}`` or ``{"grid": (B, C, R, R, R)}``.

    ``planes`` non-empty -> plane features refined by one :class:`UNet2d` shared by the planes (as in ConvONet);
    otherwise a ``grid_resolution^3`` volume refined by a :class:`UNet3d`. ``unet_depth = 0`` disables the U-Net.
    Layouts are those of :mod:`implicit3d.models.sampling`.
    """

    def __init__(
        self,
        *,
        padding: float,
        c_dim: int,
        hidden: int,
        n_blocks: int,
        pool: str,
        planes: tuple[str, ...] = (),
        plane_resolution: int = 64,
        grid_resolution: int = 32,
        unet_depth: int = 4,
        unet_filters: int = 32,
        unet_groups: int = 8,
    ) -> None:
        super().__init__()
        self.c_dim = c_dim
        cells = {p: plane_resolution for p in planes} if planes else {"grid": grid_resolution}
        self.pointnet = LocalPoolPointNet(cells, padding, c_dim=c_dim, hidden=hidden, n_blocks=n_blocks, pool=pool)
        self.unet: nn.Module | None = None
        if unet_depth > 0:
            self.unet = (
                UNet2d(c_dim, c_dim, unet_depth, unet_filters)
                if planes
                else UNet3d(c_dim, c_dim, unet_depth, unet_filters, unet_groups)
            )

    def forward(self, points: torch.Tensor) -> dict[str, torch.Tensor]:
        feats, index = self.pointnet(points)
        b = points.shape[0]
        maps = []
        for key, res in self.pointnet.cells.items():
            ndim = 3 if key == "grid" else 2
            cells = scatter_mean(feats, index[key], res**ndim)  # (B, R^ndim, C)
            maps.append(cells.transpose(1, 2).reshape(b, self.c_dim, *([res] * ndim)))
        stacked = torch.cat(maps, dim=0)  # the planes share the U-Net: one (P * B, C, R, R) batch
        if self.unet is not None:
            stacked = self.unet(stacked)
        return dict(zip(self.pointnet.cells, stacked.split(b, dim=0), strict=True))
