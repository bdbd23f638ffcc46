"""geometry/matching.py: one-to-one matching of point sets, against a brute-force reference."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from implicit3d.geometry.matching import match_points


def _reference(a: np.ndarray, b: np.ndarray, max_distance: float) -> float:
    """The least total distance of a largest set of one-to-one pairs closer than ``max_distance`` (every injection
    tried; a pair too far counts as unmatched)."""
    best = (0, 0.0)  # (pairs, -total): more pairs first, then the smaller total
    small, large, swap = (a, b, False) if len(a) <= len(b) else (b, a, True)
    for chosen in itertools.permutations(range(len(large)), len(small)):
        d = [np.linalg.norm(small[i] - large[j]) for i, j in enumerate(chosen)]
        kept = [x for x in d if x < max_distance]
        key = (len(kept), -sum(kept))
        if key > best:
            best = key
    return best


@pytest.mark.parametrize("seed", range(8))
def test_match_points_equals_the_brute_force_assignment(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 1, (int(rng.integers(1, 6)), 3))
    b = rng.uniform(0, 1, (int(rng.integers(1, 6)), 3))
    pairs = match_points(a, b, 0.6)
    assert len({i for i, _ in pairs}) == len(pairs) == len({j for _, j in pairs})  # one to one
    assert all(np.linalg.norm(a[i] - b[j]) < 0.6 for i, j in pairs)
    got = (len(pairs), -sum(float(np.linalg.norm(a[i] - b[j])) for i, j in pairs))
    want = _reference(a, b, 0.6)
    assert got[0] == want[0] and got[1] == pytest.approx(want[1])


def test_match_points_keeps_identities_and_drops_what_moved_too_far() -> None:
    a = np.array([[0.0, 0, 0], [0.1, 0, 0], [0.5, 0, 0]])
    b = np.array([[0.11, 0.01, 0], [0.01, 0, 0], [0.9, 0, 0]])  # the first two swapped, the third moved 40 cm
    assert match_points(a, b, 0.05) == [(0, 1), (1, 0)]
    assert match_points(a, np.zeros((0, 3)), 0.05) == [] and match_points([], b, 0.05) == []
    with pytest.raises(ValueError, match="max_distance"):
        match_points(a, b, 0.0)
    with pytest.raises(ValueError, match="dimensions"):
        match_points(a, b[:, :2], 0.05)
