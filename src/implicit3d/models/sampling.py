"""Coordinates, cell indices, scatter (points -> cells) and feature sampling (cells -> query points).

Conventions, used by every model:

- Points are in normalized object coordinates, shapes inside ``[-0.5, 0.5]^3``. Feature planes/volumes cover the
  padded box ``[-h, h]^3`` with ``h = 0.5 (1 + padding)`` (padding 0.1 -> ``[-0.55, 0.55]``).
- A resolution-``R`` axis is split into ``R`` equal cells; cell ``i`` covers ``[-h + i s, -h + (i + 1) s]``
  with ``s = 2h / R``, and its feature sits at the cell centre. Points outside the box are clamped into the
  border cells.
- Memory layout: a plane over axes ``(a, b)`` (e.g. ``"xz"`` -> x, z) is a tensor ``(B, C, R_b, R_a)``, i.e.
  rows follow the second axis and columns the first; flat index ``i_a + R * i_b``. A volume is
  ``(B, C, R_z, R_y, R_x)`` with flat index ``i_x + R (i_y + R i_z)``. This is what ``torch.nn.functional
  .grid_sample`` expects: its last grid coordinate component indexes the first spatial dimension.
- Sampling uses ``grid_sample(..., align_corners=False, padding_mode="border")``: with ``align_corners=False`` the
  grid value ``-1`` is the outer edge of cell 0 and cell centres are at ``-1 + (2 i + 1) / R``, which matches the
  cell layout above exactly (the ConvONet reference scatters into cells but samples with ``align_corners=True``,
  a half-cell shift; see docs/models.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from implicit3d.geometry.frames import half_extent

AXES = {"x": 0, "y": 1, "z": 2}


def to_unit(points: torch.Tensor, padding: float) -> torch.Tensor:
    """``(..., D)`` normalized coordinates -> ``(..., D)`` in ``[0, 1]`` over the padded box (not clamped)."""
    return points / (1.0 + padding) + 0.5


def to_grid_coords(points: torch.Tensor, padding: float) -> torch.Tensor:
    """``(..., D)`` normalized coordinates -> ``(..., D)`` ``grid_sample`` coordinates in ``[-1, 1]``."""
    return points / half_extent(padding)


def plane_axes(plane: str) -> tuple[int, int]:
    """``"xz"`` -> ``(0, 2)``: the coordinate indices of a plane's first (column) and second (row) axis."""
    if len(plane) != 2 or plane[0] not in AXES or plane[1] not in AXES or plane[0] == plane[1]:
        raise ValueError(f"plane must be two distinct axes of 'xyz' such as 'xz', got {plane!r}")
    return AXES[plane[0]], AXES[plane[1]]


def cell_coords(points: torch.Tensor, resolution: int, padding: float) -> torch.Tensor:
    """Integer cell coordinates ``(..., D)`` int64 in ``[0, resolution - 1]`` (outside points are clamped)."""
    idx = torch.floor(to_unit(points, padding) * resolution).clamp_(0, resolution - 1)  # before the cast: 1e19 and
    return idx.long()  # inf would overflow int64 into cell 0


def plane_index(points: torch.Tensor, plane: str, resolution: int, padding: float) -> torch.Tensor:
    """Flat cell index ``(B, N)`` int64 into a ``resolution^2`` plane: ``i_a + R * i_b`` for plane ``"ab"``."""
    a, b = plane_axes(plane)
    cells = cell_coords(points[..., [a, b]], resolution, padding)
    return cells[..., 0] + resolution * cells[..., 1]


def grid_index(points: torch.Tensor, resolution: int, padding: float) -> torch.Tensor:
    """Flat cell index ``(B, N)`` int64 into a ``resolution^3`` volume: ``i_x + R (i_y + R i_z)``."""
    cells = cell_coords(points, resolution, padding)
    return cells[..., 0] + resolution * (cells[..., 1] + resolution * cells[..., 2])


def scatter_mean(src: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """Per-cell mean of point features: ``src (B, N, C)``, ``index (B, N)`` int64 -> ``(B, size, C)``.

    Cells that receive no point are zero. Differentiable w.r.t. ``src``.
    """
    b, _, c = src.shape
    acc = torch.float64 if src.dtype == torch.float64 else torch.float32  # bf16 sums and counts stall at 256 on CUDA
    sums = torch.zeros(b, size, c, dtype=acc, device=src.device).scatter_add(
        1, index.unsqueeze(-1).expand(-1, -1, c), src.to(acc))
    counts = torch.zeros(b, size, dtype=acc, device=src.device)
    counts.scatter_add_(1, index, torch.ones(index.shape, dtype=acc, device=src.device))
    return (sums / counts.clamp(min=1.0).unsqueeze(-1)).to(src.dtype)


def scatter_max(src: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """Per-cell max of point features: ``src (B, N, C)``, ``index (B, N)`` -> ``(B, size, C)``; empty cells 0."""
    b, _, c = src.shape
    out = src.new_zeros(b, size, c)
    return out.scatter_reduce(1, index.unsqueeze(-1).expand(-1, -1, c), src, reduce="amax", include_self=False)


def gather_cells(cells: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Read cell features back at points: ``cells (B, S, C)``, ``index (B, N)`` -> ``(B, N, C)``."""
    return cells.gather(1, index.unsqueeze(-1).expand(-1, -1, cells.shape[-1]))


def _grid_dtype(grid: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """The ``grid_sample`` coordinates in the features' dtype, except under autocast, which samples in float32: there
    they stay float32 (cast to bf16 with the features, a query at 128 cells per side would move in quarter-cell
    steps)."""
    dev = features.device.type
    try:
        autocast = torch.is_autocast_enabled(dev)
    except TypeError:  # torch < 2.4: no device argument
        autocast = torch.is_autocast_cpu_enabled() if dev == "cpu" else torch.is_autocast_enabled()
    return grid.float() if autocast else grid.to(features.dtype)


def sample_plane(
    features: torch.Tensor, points: torch.Tensor, plane: str, padding: float, mode: str = "bilinear"
) -> torch.Tensor:
    """Bilinearly interpolate a feature plane at query points.

    ``features: (B, C, R, R)`` laid out as in the module docstring, ``points: (B, M, 3)`` -> ``(B, M, C)``.
    """
    a, b = plane_axes(plane)
    grid = _grid_dtype(to_grid_coords(points[..., [a, b]], padding).unsqueeze(2), features)  # (B, M, 1, 2)
    out = F.grid_sample(features, grid, mode=mode, padding_mode="border", align_corners=False)  # (B, C, M, 1)
    return out.squeeze(-1).transpose(1, 2)


def sample_grid(features: torch.Tensor, points: torch.Tensor, padding: float, mode: str = "bilinear") -> torch.Tensor:
    """Trilinearly interpolate a volume ``(B, C, R, R, R)`` (z, y, x) at ``points (B, M, 3)`` -> ``(B, M, C)``."""
    grid = _grid_dtype(to_grid_coords(points, padding)[:, :, None, None, :], features)  # (B, M, 1, 1, 3)
    out = F.grid_sample(features, grid, mode=mode, padding_mode="border", align_corners=False)  # (B, C, M, 1, 1)
    return out.flatten(2).transpose(1, 2)


def voxelize(points: torch.Tensor, resolution: int, padding: float) -> torch.Tensor:
    """Binary occupancy volume of a point cloud: ``(B, N, 3)`` -> ``(B, 1, R, R, R)`` float (z, y, x layout).

    A cell is 1 when at least one point falls in it (points outside the padded box land in the border cells).
    Not differentiable (not needed: it is the first layer of IF-Net).
    """
    b = points.shape[0]
    flat = grid_index(points, resolution, padding)
    vox = points.new_zeros(b, resolution**3)
    vox.scatter_(1, flat, 1.0)
    return vox.view(b, 1, resolution, resolution, resolution)
