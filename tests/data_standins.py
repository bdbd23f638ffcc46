"""TEMPORARY trimesh stand-ins for modules other helpers are still writing (tests only; removed once they land).

`install()` fills in only what is missing, so the real implementations win as soon as they exist.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass

import numpy as np
import trimesh


def _inside(mesh, points, method="auto"):
    return mesh.contains(np.asarray(points, dtype=np.float64))


def _unsigned_distance(mesh, points):
    _, d, _ = trimesh.proximity.closest_point(mesh, np.asarray(points, dtype=np.float64))
    return d


@dataclass
class _Shape:
    mesh: trimesh.Trimesh
    category: str
    seed: int
    name: str


def _generate(category, seed):
    rng = np.random.default_rng(seed)
    r, h = rng.uniform(0.03, 0.05), rng.uniform(0.15, 0.3)
    if category == "bottle":
        m = trimesh.creation.cylinder(radius=r, height=h, sections=32)
    else:
        m = trimesh.creation.box((2 * r, 3 * r, h))
    m.apply_translation([0, 0, h / 2])
    return _Shape(m, category, seed, f"{category}_{seed}")


def install() -> list[str]:
    """Install missing pieces; returns the names of the stand-ins used."""
    used = []
    for modname, attrs in (
        ("implicit3d.geometry.inside", {"inside": _inside}),
        ("implicit3d.geometry.distance", {"unsigned_distance": _unsigned_distance}),
    ):
        try:
            __import__(modname)
        except ImportError:
            mod = types.ModuleType(modname)
            mod.__dict__.update(attrs)
            mod.__standin__ = True
            sys.modules[modname] = mod
        if getattr(sys.modules[modname], "__standin__", False):
            used.append(modname)
    import implicit3d.shapes as shapes

    for mod, attrs in ((shapes, {"CATEGORIES": ("bottle", "box"), "generate": _generate}),):
        for k, v in attrs.items():
            if not hasattr(mod, k):
                setattr(mod, k, v)
            if getattr(mod, k) is v:
                used.append(f"{mod.__name__}.{k}")
    return used
