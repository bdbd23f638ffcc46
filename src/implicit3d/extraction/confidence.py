"""How decided an occupancy field is: the *undecided ratio* of a completion.

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
"""

from __future__ import annotations

import numpy as np

from implicit3d.extraction.mise import mise_levels

UNDECIDED_BAND = (0.1, 0.9)  #: occupancy probabilities that count as undecided


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
