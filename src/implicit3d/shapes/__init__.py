"""Seeded procedural catalogue of watertight household objects (metres, z up, standing on z = 0, centred on z).

``generate(category, seed) -> Shape`` and ``catalogue(category="all", count=8, seed=0) -> list[Shape]``;
``CATEGORIES`` lists the categories. Shapes are analytic SDFs (:mod:`implicit3d.geometry.sdf`) meshed with marching
cubes; see docs/shapes.md for the parameter ranges and sizes.
"""

from implicit3d.shapes.base import Shape
from implicit3d.shapes.catalogue import CATEGORIES, catalogue, generate, shape_seed

__all__ = ["CATEGORIES", "Shape", "catalogue", "generate", "shape_seed"]
