"""Global ResNet-PointNet encoder (Occupancy Networks): a point cloud -> one latent code per shape."""

from __future__ import annotations

import torch
from torch import nn

from implicit3d.models.layers import ResnetBlockFC


class ResnetPointNet(nn.Module):
    """``points (B, N, 3)`` -> ``c (B, c_dim)``.

    A per-point linear layer to ``2 * hidden``, then ``n_blocks`` ResNet-FC blocks ``2 * hidden -> hidden``; between
    blocks each point's features are concatenated with their max over all points. The final features are max-pooled
    over points and mapped to ``c_dim`` after a ReLU. Invariant to the order of the input points.
    """

    def __init__(self, c_dim: int = 512, hidden: int = 512, n_blocks: int = 5, dim: int = 3) -> None:
        super().__init__()
        self.fc_pos = nn.Linear(dim, 2 * hidden)
        self.blocks = nn.ModuleList([ResnetBlockFC(2 * hidden, hidden) for _ in range(n_blocks)])
        self.fc_c = nn.Linear(hidden, c_dim)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        net = self.blocks[0](self.fc_pos(points))
        for block in self.blocks[1:]:
            pooled = net.max(dim=1, keepdim=True).values.expand_as(net)
            net = block(torch.cat([net, pooled], dim=2))
        return self.fc_c(torch.relu(net.max(dim=1).values))
