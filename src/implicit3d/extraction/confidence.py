"""How decided an occupancy field is: per object, the *undecided ratio*; per surface point, the *softness*.

A completion from one partial view is sure where it saw the object and where nothing can be, and undecided where it
guesses (the unseen back, a thin wall it cannot resolve). The undecided ratio measures that guess in units of the
completed object:

    undecided ratio = volume where the occupancy probability lies in ``UNDECIDED_BAND`` (0.1-0.9)
                      / volume where it is above the surface threshold (the completed solid)

computed on the extraction grid's coarse level (the samples MISE evaluates everywhere: 33^3 over the model cube at the
default settings, so the figure does not depend on the final resolution, and costs no extra evaluation). 0 is a
sharp field; a thin, small or hardly seen object has a wide band for its volume. It needs no ground truth, and on
simulated views of real household objects it ranks completions by their IoU (Spearman about -0.8: the bundled model
with 8 turned copies, ``bench_real_objects.py``; ``scene`` with 2 copies, ``bench_tabletop.py``) where the spread
of the copies does not (docs/complete.md, docs/scene.md). Its scale depends on the copies averaged (more copies,
a wider band): compare ratios made with the same settings.

Per surface point, the **softness** says where on the completed surface the field guesses:

    softness = 1 - (p(x - h n) - p(x + h n)),   clipped to [0, 1]

with ``n`` the outward normal and ``h`` = :data:`SOFTNESS_STEP` (one cell of a 64^3 grid over the model cube): 0 where
the occupancy jumps from empty to full across the surface (a decided, usually observed, surface), 1 where it hardly
changes (a guess). :class:`~implicit3d.extraction.MeshGenerator` reads it from its extraction grid
(:func:`grid_softness`, no field evaluation) and stores it as each occupancy mesh's vertex attribute
``uncertainty``. On simulated tabletop frames of real household objects, vertices with a softness above the median
lie 2.7-3.4 mm from the true surface against 1.3 mm below it (Spearman +0.41 to +0.50 with the distance; the spread
of two turned copies: -0.04 to 0.00; the distance to the nearest observed point, which needs the input: +0.54 to
+0.55 overall, but the softness's top tenth lies further off, 3.9-5.6 mm against 3.3-4.2 mm).

Where the input cloud is known (``scene``), the two combine: :func:`unseen_softness` scales the softness down near
the measured points (the surface there is right, whatever the field says) and keeps it in full where the surface is a
guess. It ranks vertices as well as the distance alone overall and finds the worst ones like the softness
(docs/scene.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from implicit3d.extraction.mise import mise_levels

UNDECIDED_BAND = (0.1, 0.9)  #: occupancy probabilities that count as undecided
SOFTNESS_STEP = 1.1 / 64  #: model-frame offset of :func:`surface_softness` (one cell of 64^3 over the model cube)


def coarse_samples(values: np.ndarray, resolution: int, initial_resolution: int = 32) -> np.ndarray:
    """The samples of an extraction grid ``values (R+1, R+1, R+1)`` at ``resolution`` R that MISE evaluates
    everywhere (its first level, ``R0 + 1`` per axis; see :func:`implicit3d.extraction.mise.mise_levels`)."""
    _, k = mise_levels(resolution, initial_resolution)
    step = 2**k
    return values[::step, ::step, ::step]


def undecided_ratio(probabilities: np.ndarray, threshold: float = 0.5,
                    band: tuple[float, float] = UNDECIDED_BAND) -> float | None:
    """The volume share of ``probabilities`` (any shape, samples of a regular grid) strictly inside ``band`` over the
    share above ``threshold``; ``None`` when nothing is above it (no completed volume)."""
    p = np.asarray(probabilities)
    solid = int(np.count_nonzero(p > threshold))
    if solid == 0:
        return None
    return float(np.count_nonzero((p > band[0]) & (p < band[1])) / solid)


def surface_softness(field: Callable[[np.ndarray], np.ndarray], points: np.ndarray, normals: np.ndarray,
                     step: float = SOFTNESS_STEP) -> np.ndarray:
    """``(N,) float32`` softness in ``[0, 1]`` of an occupancy ``field`` (probabilities, ``(M, 3) -> (M,)``) at
    surface ``points (N, 3)`` with outward unit ``normals (N, 3)``, in the field's frame: one minus the drop of the
    probability from ``step`` inside to ``step`` outside (module docstring). Two field calls of N points each."""
    p = np.asarray(points, dtype=np.float64)
    n = np.asarray(normals, dtype=np.float64)
    if len(p) == 0:
        return np.zeros(0, dtype=np.float32)
    inner = np.asarray(field(p - step * n), dtype=np.float64)
    outer = np.asarray(field(p + step * n), dtype=np.float64)
    return (1.0 - np.clip(inner - outer, 0.0, 1.0)).astype(np.float32)


def grid_softness(values: np.ndarray, bounds: np.ndarray, points: np.ndarray, normals: np.ndarray,
                  step: float = SOFTNESS_STEP, logits: bool = False) -> np.ndarray:
    """:func:`surface_softness` read from an extraction grid instead of the field: ``values (R+1, R+1, R+1)`` over
    ``bounds (2, 3)`` (occupancy probabilities, or ``logits``), interpolated trilinearly at ``points (N, 3)`` +-
    ``step`` along ``normals (N, 3)``, all in the grid's frame. No field evaluation: MISE evaluated the field
    exactly within a cell of the surface, and ``step`` is one cell at 64^3."""
    from scipy import ndimage
    from scipy.special import expit

    b = np.asarray(bounds, dtype=np.float64)
    grid = np.asarray(values)
    spacing = (b[1] - b[0]) / (np.array(grid.shape) - 1)

    def field(x: np.ndarray) -> np.ndarray:
        v = ndimage.map_coordinates(grid, ((x - b[0]) / spacing).T, order=1, mode="nearest")
        return expit(v) if logits else v

    return surface_softness(field, points, normals, step)


def unseen_softness(softness: np.ndarray, vertices: np.ndarray, observed: np.ndarray, ramp: float) -> np.ndarray:
    """``(N,) float32`` the ``softness (N,)`` of surface ``vertices (N, 3)`` scaled by ``min(1, d / ramp)``, with
    ``d`` each vertex's distance to the nearest ``observed (M, 3)`` point (same frame and units as ``ramp``): 0 on the
    measured surface, the full softness from ``ramp`` away. No observed points: the softness unchanged."""
    from scipy.spatial import cKDTree

    s = np.asarray(softness, dtype=np.float32)
    if ramp <= 0:
        raise ValueError(f"ramp must be positive, got {ramp}")
    if len(s) == 0 or len(observed) == 0:
        return s.copy()
    d = cKDTree(np.asarray(observed, dtype=np.float64)).query(np.asarray(vertices, dtype=np.float64), k=1)[0]
    return (s * np.minimum(1.0, d / ramp)).astype(np.float32)


def mark_unseen(mesh: Any, observed: np.ndarray, ramp: float) -> None:
    """In place: a mesh whose ``vertex_attributes["uncertainty"]`` is the softness (as :class:`MeshGenerator` leaves
    it) keeps that as ``"softness"`` and gets :func:`unseen_softness` (``observed (M, 3)`` points, ``ramp`` in their
    units) as ``"uncertainty"``. A mesh without the attribute or without vertices is left alone."""
    if "uncertainty" not in mesh.vertex_attributes or len(mesh.vertices) == 0:
        return
    soft = mesh.vertex_attributes.pop("uncertainty")
    mesh.vertex_attributes["softness"] = soft
    mesh.vertex_attributes["uncertainty"] = unseen_softness(soft, mesh.vertices, observed, ramp)
