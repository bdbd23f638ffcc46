"""Sane upper bounds on sizes that come from the command line, configs, sidecars and checkpoints.

Every size that sets an allocation (a grid resolution, a number of points, an image size) is checked against its
cap *before* anything is allocated, so a typo or a hostile file gives one clear line instead of an attempt to
allocate petabytes. The caps are far above any useful setting on today's machines.
"""

from __future__ import annotations

import math
from typing import Any

from implicit3d.errors import ArgumentError

MAX_RESOLUTION = 1024  #: extraction / figure grid cells per axis (1024^3 floats = 4 GiB)
MAX_MODEL_GRID = 256  #: a model's feature grid / plane resolution (``grid_resolution``, ``plane_resolution``)
MAX_POINTS = 50_000_000  #: points given to a model, sampled or shown
MAX_TURNS = 360  #: turned copies of an input averaged at test time
MAX_IMAGE_SIDE = 16_384  #: pixels per side of a rendered depth image
MAX_SEED = 2**63 - 1  #: numpy seeds are non-negative integers


def check_int(value: Any, name: str, lo: int = 1, hi: int | None = None, source: str | None = None) -> int:
    """``value`` as an ``int`` in ``[lo, hi]``; :class:`UserError` naming ``name`` (and ``source``) otherwise.

    Bools and non-integral floats are refused; ``hi=None`` means no upper bound.
    """
    where = f"{source}: " if source else ""
    ok = isinstance(value, int) and not isinstance(value, bool)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value, ok = int(value), True
    if not ok:
        raise ArgumentError(f"{where}{name} must be an integer, got {value!r}")
    if value < lo:
        raise ArgumentError(f"{where}{name} must be >= {lo}, got {value}")
    if hi is not None and value > hi:
        raise ArgumentError(f"{where}{name} must be at most {hi}, got {value}")
    return int(value)


#: the coarsest grid a command extracts a mesh on: a coarser one is all corners (an empty or boxy mesh)
MIN_EXTRACTION_RESOLUTION = 8


def check_resolution(value: Any, name: str = "--resolution", source: str | None = None,
                     least: int = 2) -> int:
    """A grid resolution in ``[least, MAX_RESOLUTION]`` (commands that extract meshes pass
    :data:`MIN_EXTRACTION_RESOLUTION`)."""
    return check_int(value, name, least, MAX_RESOLUTION, source)


def check_seed(value: Any, name: str = "--seed") -> int:
    """A seed in ``[0, 2**63 - 1]`` (what ``numpy.random.default_rng`` accepts)."""
    return check_int(value, name, 0, MAX_SEED)


def check_probability(value: Any, name: str = "--threshold") -> float:
    """A probability strictly between 0 and 1 (an occupancy threshold); :class:`UserError` naming ``name`` otherwise
    (NaN included)."""
    if not 0.0 < value < 1.0:
        raise ArgumentError(f"{name} is a probability in (0, 1), got {value}")
    return float(value)
