"""A synthetic dataset of random spheres and a tiny point-cloud occupancy network.

For smoke tests, examples and benchmarks of the training machinery without a prepared dataset. Items follow the
dataset contract of :mod:`implicit3d.data.dataset` (``inputs``, ``points``, ``occ``, ``sdf``, ``index``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset


class SphereDataset(Dataset):
    """``n_shapes`` random spheres inside the unit cube ``[-0.5, 0.5]^3``.

    Shape ``i`` has radius ``U(0.15, 0.35)`` and centre ``U(-0.1, 0.1)^3`` drawn from ``default_rng([seed, i])``.
    Item ``i`` in epoch ``e`` (see :meth:`set_epoch`) draws its samples from ``default_rng([seed, e, i])``:
    ``inputs (n_inputs, 3) float32`` surface points plus Gaussian ``noise`` (std, normalized units);
    ``points (n_points, 3) float32`` uniform in the cube; ``occ (n_points,) float32`` 1 inside;
    ``sdf (n_points,) float32`` exact signed distance (negative inside).
    """

    def __init__(
        self, n_shapes: int = 32, n_inputs: int = 128, n_points: int = 256, noise: float = 0.0, seed: int = 0
    ) -> None:
        if n_shapes < 1 or n_inputs < 1 or n_points < 1:
            raise ValueError(f"n_shapes, n_inputs, n_points must be >= 1, got {n_shapes}, {n_inputs}, {n_points}")
        if noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        self.n_shapes, self.n_inputs, self.n_points = int(n_shapes), int(n_inputs), int(n_points)
        self.noise, self.seed, self.epoch = float(noise), int(seed), 0

    def __len__(self) -> int:
        return self.n_shapes

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def sphere(self, index: int) -> tuple[np.ndarray, float]:
        """Centre ``(3,) float64`` and radius of shape ``index``."""
        rng = np.random.default_rng([self.seed, index])
        return rng.uniform(-0.1, 0.1, 3), float(rng.uniform(0.15, 0.35))

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < self.n_shapes:
            raise IndexError(f"index {index} out of range for {self.n_shapes} shapes")
        centre, radius = self.sphere(index)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        d = rng.normal(size=(self.n_inputs, 3))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        inputs = centre + radius * d
        if self.noise > 0:
            inputs = inputs + rng.normal(0.0, self.noise, d.shape)
        points = rng.uniform(-0.5, 0.5, (self.n_points, 3))
        sdf = np.linalg.norm(points - centre, axis=1) - radius
        return {
            "inputs": torch.from_numpy(inputs.astype(np.float32)),
            "points": torch.from_numpy(points.astype(np.float32)),
            "occ": torch.from_numpy((sdf < 0).astype(np.float32)),
            "sdf": torch.from_numpy(sdf.astype(np.float32)),
            "index": index,
        }


class TinyPointNetOccupancy(nn.Module):
    """PointNet encoder (shared MLP + max pool) -> latent ``c``; decoder MLP on ``[point, c]`` -> one value.

    ``forward(inputs (B, N, 3), points (B, M, 3)) -> (B, M)`` occupancy logits (``output="occupancy"``) or SDF.
    """

    def __init__(self, hidden: int = 32, latent: int = 32, output: str = "occupancy") -> None:
        super().__init__()
        if output not in ("occupancy", "sdf"):
            raise ValueError(f"output must be 'occupancy' or 'sdf', got {output!r}")
        self.config = {"name": "tiny_pointnet", "hidden": hidden, "latent": latent, "output": output}
        self.point_mlp = nn.Sequential(nn.Linear(3, hidden), nn.ReLU(), nn.Linear(hidden, latent))
        self.decoder = nn.Sequential(
            nn.Linear(3 + latent, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1)
        )

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(B, N, 3) -> (B, latent)``."""
        return self.point_mlp(inputs).amax(dim=1)

    def decode(self, points: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """``(B, M, 3), (B, latent) -> (B, M)``."""
        c = c[:, None, :].expand(-1, points.shape[1], -1)
        return self.decoder(torch.cat([points, c], dim=-1)).squeeze(-1)

    def forward(self, inputs: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        return self.decode(points, self.encode(inputs))
