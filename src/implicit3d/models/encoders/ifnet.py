"""IF-Net encoder (Chibane et al., CVPR 2020): voxelized input -> multi-scale 3D feature pyramid."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from implicit3d.models.sampling import voxelize


class IFNetEncoder(nn.Module):
    """``points (B, N, 3)`` -> list of feature volumes, finest first, each ``(B, C_i, R_i, R_i, R_i)`` (z, y, x).

    Entry 0 is the binary ``resolution^3`` occupancy of the input cloud (1 channel). Stage ``i`` (``channels[i]``
    wide) is: for ``i > 0`` a 2x max-pool then two 3x3x3 conv + ReLU (stage 0: one conv), then BatchNorm3d, as in
    the IF-Net ShapeNet128 model. With ``k = len(channels)`` stages the coarsest grid is ``R / 2**(k-1)``.
    """

    def __init__(self, resolution: int, padding: float, channels: tuple[int, ...] = (16, 32, 64, 128, 128)) -> None:
        super().__init__()
        self.resolution = resolution
        self.padding = padding
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        cin = 1
        for i, c in enumerate(channels):
            layers = [nn.Conv3d(cin, c, 3, padding=1)]
            if i > 0:
                layers.append(nn.Conv3d(c, c, 3, padding=1))
            self.convs.append(nn.ModuleList(layers))
            self.norms.append(nn.BatchNorm3d(c))
            cin = c

    @property
    def feature_channels(self) -> int:
        """Channels summed over the pyramid (input grid included)."""
        return 1 + sum(n.num_features for n in self.norms)

    def forward(self, points: torch.Tensor) -> list[torch.Tensor]:
        net = voxelize(points, self.resolution, self.padding)
        out = [net]
        for i, (convs, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            if i > 0:
                net = F.max_pool3d(net, 2)
            for conv in convs:
                net = torch.relu(conv(net))
            net = norm(net)
            out.append(net)
        return out
