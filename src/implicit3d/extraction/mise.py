"""Multiresolution iso-surface extraction (MISE, after Occupancy Networks, Mescheder et al. 2019).

Instead of evaluating the field at all ``(R+1)^3`` samples of the target grid, MISE

1. evaluates a coarse grid of ``R0`` cells per axis (``R0`` near ``initial_resolution``, default 32),
2. marks the *active* cells whose 8 corners straddle the level (some inside, some outside) and dilates that set
   by ``dilation`` cells in every direction (26-neighbourhood) so thin features next to the surface are not lost,
3. splits the marked cells in 8 and evaluates only the grid samples of the next level that were not evaluated
   before, and repeats 2-3 until cells are as small as the target grid's,
4. fills every sample of the target grid that was never evaluated by trilinear interpolation from the coarser
   level (level by level, coarse to fine); only the *sign* of those values matters, because no cell the surface
   crosses is left unrefined (up to features thinner than a coarse cell that no coarse corner sees),
5. runs marching cubes on the full-resolution value grid (cropped to the cells the surface crosses).

Points are tracked by their integer coordinates on the finest grid: the value array itself (NaN = not yet
evaluated) is the lookup table, and every step is a vectorized numpy operation on boolean grids.

The target ``resolution`` (cells per axis) must be ``R0 * 2^k``; ``R0`` is the coarsest cell count that divides
``resolution`` by a power of two while staying ``>= initial_resolution`` (e.g. 128 -> 32 * 4, 100 -> 50 * 2; an
odd resolution gives ``k = 0``, i.e. a dense grid).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from scipy import ndimage

from implicit3d.extraction.dense import (
    DEFAULT_BOUNDS,
    Extraction,
    check_bounds,
    check_inside,
    check_resolution,
    finite_values,
    inside_mask,
    mesh_from_grid,
)
from implicit3d.extraction.field import Field, evaluate_batched


def mise_levels(resolution: int, initial_resolution: int = 32) -> tuple[int, int]:
    """``(R0, k)`` with ``resolution == R0 * 2**k``, ``R0 >= min(initial_resolution, resolution)`` and ``k`` largest."""
    res = check_resolution(resolution)
    init = check_resolution(initial_resolution, "initial_resolution")
    k = 0
    while res % (2 ** (k + 1)) == 0 and res // 2 ** (k + 1) >= min(init, res):
        k += 1
    return res // 2**k, k


def _corner_any_all(ins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a ``(c+1)^3`` boolean sample grid, per-cell ``(c)^3`` OR and AND over the 8 corners."""
    c = np.asarray(ins.shape) - 1
    any_in = np.zeros(tuple(c), dtype=bool)
    all_in = np.ones(tuple(c), dtype=bool)
    for dx in (0, 1):
        for dy in (0, 1):
            for dz in (0, 1):
                corner = ins[dx : dx + c[0], dy : dy + c[1], dz : dz + c[2]]
                any_in |= corner
                all_in &= corner
    return any_in, all_in


def _corner_points(cells: np.ndarray) -> np.ndarray:
    """Boolean ``(c+1)^3`` mask of the grid samples that are corners of the marked cells of ``cells: (c)^3``."""
    c = cells.shape
    pts = np.zeros(tuple(n + 1 for n in c), dtype=bool)
    for dx in (0, 1):
        for dy in (0, 1):
            for dz in (0, 1):
                pts[dx : dx + c[0], dy : dy + c[1], dz : dz + c[2]] |= cells
    return pts


def _upsample(grid: np.ndarray) -> np.ndarray:
    """Trilinear 2x refinement of a sample grid: ``(n+1)^3`` -> ``(2n+1)^3`` (separable midpoint averaging)."""
    out = grid
    for axis in range(3):
        n = out.shape[axis] - 1
        shape = list(out.shape)
        shape[axis] = 2 * n + 1
        up = np.empty(shape, dtype=out.dtype)
        even = [slice(None)] * 3
        odd = [slice(None)] * 3
        even[axis] = slice(0, None, 2)
        odd[axis] = slice(1, None, 2)
        up[tuple(even)] = out
        first = [slice(None)] * 3
        last = [slice(None)] * 3
        first[axis] = slice(0, n)
        last[axis] = slice(1, n + 1)
        mid = up[tuple(odd)]  # a view
        np.add(out[tuple(first)], out[tuple(last)], out=mid)
        mid *= 0.5
        out = up
    return out


def extract_mise(
    field: Field,
    bounds: Any = DEFAULT_BOUNDS,
    resolution: int = 128,
    level: float = 0.0,
    inside: str = "below",
    initial_resolution: int = 32,
    dilation: int = 1,
    batch_size: int = 262_144,
    progress: bool = False,
) -> Extraction:
    """Extract the ``level`` surface of ``field`` over ``bounds`` at ``resolution`` cells per axis with MISE.

    ``field``: callable ``(N, 3) float64 -> (N,)``. ``inside``: ``"below"`` (SDF) or ``"above"`` (occupancy
    probabilities or logits). ``dilation``: cells of margin refined around the straddling ones (0 disables it).
    Returns an :class:`~implicit3d.extraction.dense.Extraction` whose ``n_evaluated`` counts the field evaluations.
    """
    b = check_bounds(bounds)
    res = check_resolution(resolution)
    check_inside(inside)
    if isinstance(dilation, bool) or not isinstance(dilation, (int, np.integer)) or dilation < 0:
        raise ValueError(f"dilation must be an int >= 0, got {dilation!r}")
    r0, k = mise_levels(res, initial_resolution)
    spacing = (b[1] - b[0]) / res
    t0 = time.perf_counter()

    values = np.full((res + 1,) * 3, np.nan, dtype=np.float32)
    n_evaluated = 0

    def evaluate(idx: np.ndarray) -> np.ndarray:
        """Evaluate the field at integer finest-grid coordinates ``idx: (M, 3)``."""
        nonlocal n_evaluated
        n_evaluated += len(idx)
        vals = evaluate_batched(field, b[0] + idx * spacing, batch_size)
        vals = finite_values(np.asarray(vals))
        return vals

    step = 2**k
    coarse = values[::step, ::step, ::step]  # a view: writing to it writes to `values`
    coarse[...] = evaluate(np.argwhere(np.ones(coarse.shape, dtype=bool)) * step).reshape(coarse.shape)
    active = np.ones((r0,) * 3, dtype=bool)
    structure = np.ones((3, 3, 3), dtype=bool)

    levels = range(k)
    if progress:
        from tqdm import tqdm

        levels = tqdm(levels, desc="MISE", unit="level")
    for _ in levels:
        view = values[::step, ::step, ::step]
        any_in, all_in = _corner_any_all(inside_mask(view, level, inside))
        refine = active & any_in & ~all_in
        if dilation and refine.any():
            refine = ndimage.binary_dilation(refine, structure=structure, iterations=dilation)
        active = refine.repeat(2, axis=0).repeat(2, axis=1).repeat(2, axis=2)
        step //= 2
        fine = values[::step, ::step, ::step]
        new = _corner_points(active) & np.isnan(fine)
        idx = np.argwhere(new)
        if len(idx):
            fine[new] = evaluate(idx * step)  # boolean assignment and argwhere share C order
    t1 = time.perf_counter()

    # fill never-evaluated samples level by level from the (already complete) coarser level
    step = 2**k
    while step > 1:
        coarse = values[::step, ::step, ::step]
        step //= 2
        fine = values[::step, ::step, ::step]
        missing = np.isnan(fine)
        if missing.any():
            np.copyto(fine, _upsample(coarse), where=missing)
    t2 = time.perf_counter()
    mesh = mesh_from_grid(values, b, level, inside)
    t3 = time.perf_counter()
    return Extraction(
        mesh, values, b, res, float(level), inside, n_evaluated,
        {"evaluate": t1 - t0, "fill": t2 - t1, "mesh": t3 - t2},
    )
