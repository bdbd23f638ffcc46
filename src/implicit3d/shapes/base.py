"""Shared pieces of the procedural catalogue: the :class:`Shape` record, builder results and sampling helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import trimesh

from implicit3d.geometry.sdf import SDF


@dataclass(frozen=True, eq=False)
class Shape:
    """One catalogue object.

    ``mesh``: watertight, consistently wound ``trimesh.Trimesh`` in metres, z up, standing on ``z = 0``, centred
    on the z axis. ``sdf``: the analytic signed distance function the mesh was extracted from (same frame), or
    ``None``. ``params``: the sampled parameters (JSON-serializable). ``name``: ``f"{category}_{seed:010d}"``.
    """

    mesh: trimesh.Trimesh
    category: str
    seed: int
    name: str
    sdf: SDF | None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Built:
    """What a category builder returns: the SDF (standing on z = 0, centred), parameters and meshing voxel (m)."""

    sdf: SDF
    params: dict[str, Any]
    voxel: float
    recentre: bool = False  # True: place the mesh on z = 0 / the z axis from its bounds (loose analytic bounds)
    bounds: np.ndarray | None = None  # meshing box (2, 3) when tighter than ``sdf.bounds``


def uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """A float drawn uniformly from ``[lo, hi)`` (plain Python float, JSON-friendly)."""
    return float(rng.uniform(lo, hi))


def choice(rng: np.random.Generator, options: tuple[str, ...], p: tuple[float, ...] | None = None) -> str:
    """One of ``options`` (optionally weighted by ``p``), as a plain ``str``."""
    return str(options[int(rng.choice(len(options), p=p))])


def voxel_for(longest: float, finest_feature: float, lo: float = 1.5e-3, hi: float = 3.5e-3) -> float:
    """Meshing voxel (m): ~1/80 of the longest extent, at most half the finest feature, clipped to ``[lo, hi]``."""
    return float(np.clip(min(longest / 80.0, finest_feature / 2.0), lo, hi))


def rounded_params(params: dict[str, Any], digits: int = 6) -> dict[str, Any]:
    """Round float parameters to ``digits`` decimals (micrometres) for compact, stable JSON."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        if isinstance(v, float):
            out[k] = round(v, digits)
        elif isinstance(v, dict):
            out[k] = rounded_params(v, digits)
        elif isinstance(v, (list, tuple)):
            out[k] = [round(x, digits) if isinstance(x, float) else x for x in v]
        else:
            out[k] = v
    return out
