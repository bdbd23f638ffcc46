"""Per-view verdicts and grouped means for completion suites (metric units: metres in, millimetres out).

- :func:`volume_ratio` — completed volume / true volume, both counted on the same uniform IoU samples.
- :func:`fill_verdict` — a **shell failure** is a completion whose volume is below :data:`SHELL_RATIO` (50 %) of the
  true volume (the model drew a thin skin or a fragment of the object instead of a solid); an **over-fill** is one
  whose volume is above :data:`OVERFILL_RATIO` (150 %) of it (the model filled in much more than the object, e.g. a
  bowl completed as a solid puck). Anything between is ``"ok"`` for this check (IoU still judges the shape). Volumes
  are counted inside the IoU cube only (:func:`implicit3d.evaluation.scans.iou_samples`: 1.22x the object's longest
  edge), so a completion reaching far outside it is under-counted: the over-fill share is a lower bound.
- :func:`surface_scores_mm` — Chamfer-L1 and F-scores at metric thresholds (5 and 10 mm by default) between two
  surface samples in metres (:func:`implicit3d.evaluation.metrics.point_metrics`).
- :func:`aggregate` — means of row fields per group (e.g. per object class) and overall; a 0/1 field's mean is a
  share (e.g. ``model_shell``: the share of shell failures).
- :func:`uncertainty_ranking` — how well an uncertainty measure (known without ground truth) ranks results by their
  quality: Spearman's rank correlation and the mean quality per tercile of the measure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

SHELL_RATIO = 0.5  #: completed / true volume below this: a shell failure
OVERFILL_RATIO = 1.5  #: completed / true volume above this: an over-fill
VERDICTS = ("shell", "ok", "overfill")
METRIC_THRESHOLDS_M = (0.005, 0.010)  #: F-score distance thresholds (metres) of :func:`surface_scores_mm`


def _occupancy(occ: Any, name: str) -> np.ndarray:
    o = np.asarray(occ)
    if o.ndim != 1:
        raise ValueError(f"{name} must be a 1-D occupancy vector, got shape {o.shape}")
    return o if o.dtype == bool else o > 0.5


def volume_ratio(pred_occ: Any, gt_occ: Any) -> float:
    """Completed volume / true volume, estimated on the same samples: ``count(pred_occ) / count(gt_occ)``.

    ``pred_occ``, ``gt_occ``: ``(M,)`` occupancy at the same uniform points (bools, or numbers with > 0.5 =
    inside). 0.0 for an empty prediction; NaN when the ground truth holds no sample (no volume to compare with).
    """
    a = _occupancy(pred_occ, "pred_occ")
    b = _occupancy(gt_occ, "gt_occ")
    if a.shape != b.shape:
        raise ValueError(f"pred_occ and gt_occ must have the same length, got {a.shape} and {b.shape}")
    n_gt = int(np.count_nonzero(b))
    return float(np.count_nonzero(a)) / n_gt if n_gt else float("nan")


def fill_verdict(ratio: float, shell: float = SHELL_RATIO, overfill: float = OVERFILL_RATIO) -> str:
    """``"shell"`` when ``ratio < shell``, ``"overfill"`` when ``ratio > overfill``, else ``"ok"``.

    ``ratio``: :func:`volume_ratio`. A NaN ratio (no true volume) is ``"ok"``: nothing can be judged.
    """
    if not 0.0 <= shell <= 1.0 <= overfill:
        raise ValueError(f"need 0 <= shell <= 1 <= overfill, got shell={shell}, overfill={overfill}")
    if math.isnan(ratio):
        return "ok"
    if ratio < shell:
        return "shell"
    if ratio > overfill:
        return "overfill"
    return "ok"


def threshold_key(threshold_m: float, name: str = "fscore") -> str:
    """Row key of a metric at a metric distance threshold, e.g. ``threshold_key(0.005) == "fscore_5mm"``."""
    return f"{name}_{1000.0 * float(threshold_m):g}mm"


def surface_scores_mm(
    pred_points: Any, gt_points: Any, thresholds_m: Sequence[float] = METRIC_THRESHOLDS_M
) -> dict[str, float]:
    """Chamfer-L1 in millimetres and F-scores at metric thresholds between two surface samples in metres.

    ``pred_points (N, 3)``, ``gt_points (M, 3)``: metres (``N`` may be 0: an empty prediction, which scores the
    penalty Chamfer of :func:`implicit3d.evaluation.metrics.point_metrics` and F-score 0). Returns ``chamfer_mm``
    ((accuracy + completeness) / 2 x 1000) and, per threshold ``t``, ``fscore_<t>mm`` (harmonic mean of the share
    of predicted points within ``t`` of the truth and of true points within ``t`` of the prediction).
    """
    from implicit3d.evaluation.metrics import fscore_key, point_metrics

    m = point_metrics(pred_points, gt_points, thresholds=thresholds_m)
    out = {"chamfer_mm": 1000.0 * m["chamfer_l1"]}
    for t in thresholds_m:
        out[threshold_key(t)] = m[fscore_key(float(t))]
    return out


def _mean(values: Iterable[Any]) -> float:
    vals = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(vals) / len(vals) if vals else float("nan")


def aggregate(
    rows: Sequence[Mapping[str, Any]], fields: Sequence[str], by: str | None = None, unit: str = "name"
) -> dict[str, dict[str, float]]:
    """Means of ``fields`` over ``rows``, per value of the row key ``by`` (all rows under ``"all"`` when ``None``).

    Each group's dict holds every field's mean (NaN and missing values skipped; NaN when none is left; booleans
    count as 0/1, so a verdict flag's mean is a share), ``"views"`` (rows in the group) and ``"objects"``
    (distinct values of the row key ``unit``). Groups are returned sorted by name.
    """
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        key = "all" if by is None else str(row.get(by, "other"))
        groups.setdefault(key, []).append(row)
    out: dict[str, dict[str, float]] = {}
    for key in sorted(groups):
        group = groups[key]
        stats = {f: _mean(r.get(f) for r in group) for f in fields}
        stats["views"] = float(len(group))
        stats["objects"] = float(len({r.get(unit) for r in group}))
        out[key] = stats
    return out


def uncertainty_ranking(uncertainty: Sequence[float | None], quality: Sequence[float]) -> dict[str, Any] | None:
    """How well ``uncertainty`` (one value per result, larger = less sure; ``None`` = unknown, left out) ranks the
    results by ``quality`` (e.g. IoU). Returns ``{"n", "rho", "terciles", "cuts"}``: Spearman's rank correlation
    (-1: the less sure, the worse, always; 0: no information; NaN when either is constant), the mean quality of the
    surest third, the middle third and the least sure third (ties kept in input order), and the two measure values
    between the thirds; ``None`` with fewer than 6 known values."""
    from scipy.stats import spearmanr

    known = [(float(u), float(q)) for u, q in zip(uncertainty, quality, strict=True) if u is not None]
    if len(known) < 6:
        return None
    u, q = np.array(known).T
    order = np.argsort(u, kind="stable")
    return {
        "n": len(known),
        "rho": float(spearmanr(u, q).statistic) if np.ptp(u) > 0 and np.ptp(q) > 0 else float("nan"),
        "terciles": [float(q[part].mean()) for part in np.array_split(order, 3)],
        "cuts": [float(c) for c in np.quantile(u, [1 / 3, 2 / 3])],
    }
