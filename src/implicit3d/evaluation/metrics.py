"""Shape-reconstruction metrics as defined by Occupancy Networks (Mescheder et al., CVPR 2019) and Convolutional
Occupancy Networks (Peng et al., ECCV 2020), with the F-score of Tatarchenko et al. (CVPR 2019).

Let ``P`` be ``n`` points sampled uniformly by area on the predicted surface (with unit normals) and ``G`` the same
for the ground truth; ``d(x, S)`` is the distance from ``x`` to the nearest point of the sample set ``S``
(a k-d tree query, as in the reference evaluation code; with 100k samples it approximates the distance to the
surface within a fraction of the sample spacing).

- accuracy      = mean_{p in P} d(p, G)          completeness    = mean_{g in G} d(g, P)
- chamfer_l1    = (accuracy + completeness) / 2   ("Chamfer-L1" of the papers)
- accuracy_l2   = mean_{p in P} d(p, G)^2         completeness_l2 = mean_{g in G} d(g, P)^2
- chamfer_l2    = (accuracy_l2 + completeness_l2) / 2
- normal consistency = (mean_p |n_p . n_nn(p, G)| + mean_g |n_g . n_nn(g, P)|) / 2 — absolute value, so the
  orientation of the normals does not matter; 1 is perfect.
- precision(t) = fraction of P within t of G, recall(t) = fraction of G within t of P,
  fscore(t) = 2 precision recall / (precision + recall) (0 when both are 0); thresholds 0.5%, 1% (headline), 2%
  of the unit cube's edge.
- IoU = |inside_pred & inside_gt| / |inside_pred | inside_gt| over ``n`` points uniform in the padded cube
  ``[-0.55, 0.55]^3`` (the volume the data pipeline samples).

Units: all distances are in the units of the meshes given, i.e. normalized shape units (the shape's longest
bounding-box edge is ``1 - padding`` = 0.9 with the default normalization). The ONet/ConvONet papers quote
Chamfer-L1 in units of 1/10 of the bounding-box edge, i.e. ten times the value their code prints:
:func:`to_paper_units` converts, and tables comparing with the papers should print both.

An empty predicted mesh gets the distance penalty of the reference code (Occupancy Networks): every distance is the
unit cube's diagonal ``sqrt(3)`` (squared: 3); normal consistency and F-scores are 0 (the reference code sets normal
consistency to -1 and has no F-score), and ``empty_prediction`` is 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from implicit3d.geometry.frames import MODEL_HALF_EXTENT
from implicit3d.geometry.sampling import sample_surface, sample_uniform
from implicit3d.geometry.validation import as_points

FSCORE_THRESHOLDS = (0.005, 0.01, 0.02)
IOU_BOUNDS = ((-MODEL_HALF_EXTENT,) * 3, (MODEL_HALF_EXTENT,) * 3)  #: the model cube
EMPTY_DISTANCE = float(np.sqrt(3.0))
DISTANCE_KEYS = ("accuracy", "completeness", "chamfer_l1")
SQUARED_DISTANCE_KEYS = ("accuracy_l2", "completeness_l2", "chamfer_l2")


def _rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def fscore_key(threshold: float, name: str = "fscore") -> str:
    """Dictionary key of a thresholded metric, e.g. ``fscore_key(0.01) == "fscore@1%"``."""
    return f"{name}@{threshold * 100:g}%"


def mesh_inside(mesh: trimesh.Trimesh, points: np.ndarray) -> np.ndarray:
    """``(N,) bool``: which ``points`` are inside ``mesh`` (``implicit3d.geometry.inside``, robust to open meshes)."""
    from implicit3d.geometry.inside import inside

    return np.asarray(inside(mesh, points), dtype=bool)


def _occupancy_vector(occ: Any) -> np.ndarray:
    o = np.asarray(occ)
    return o if o.dtype == bool else o > 0.5


def volume_overlap(pred_occ: Any, gt_occ: Any) -> dict[str, float]:
    """Volumetric ``iou``, ``precision`` and ``recall`` in [0, 1] of two occupancy vectors ``(N,)`` on the same
    points (bools, or numbers where > 0.5 counts as inside).

    ``precision`` is the share of the predicted volume inside the ground truth (low: too much predicted),
    ``recall`` the share of the ground truth's volume predicted (low: too little). Two empty occupancies agree
    (all three are 1.0); when exactly one is empty, all three are 0.0.
    """
    a = _occupancy_vector(pred_occ)
    b = _occupancy_vector(gt_occ)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"occupancies must be 1-d arrays of the same length, got {a.shape} and {b.shape}")
    both = np.count_nonzero(a & b)
    union = np.count_nonzero(a | b)
    if union == 0:
        return {"iou": 1.0, "precision": 1.0, "recall": 1.0}
    predicted, actual = np.count_nonzero(a), np.count_nonzero(b)
    return {
        "iou": float(both / union),
        "precision": float(both / predicted) if predicted else 0.0,
        "recall": float(both / actual) if actual else 0.0,
    }


def iou(occ_a: Any, occ_b: Any) -> float:
    """Volumetric IoU of two occupancy vectors ``(N,)`` (:func:`volume_overlap`): values > 0.5 count as inside
    for numbers; 1.0 when both are empty (the shapes agree) and 0.0 when exactly one is."""
    return volume_overlap(occ_a, occ_b)["iou"]


def _unit_normals(normals: Any, n: int, name: str) -> np.ndarray:
    nrm = as_points(normals, name)
    if len(nrm) != n:
        raise ValueError(f"{name} must have one normal per point ({n}), got {len(nrm)}")
    length = np.linalg.norm(nrm, axis=1, keepdims=True)
    return nrm / np.maximum(length, 1e-12)


def point_metrics(
    pred_points: Any,
    gt_points: Any,
    pred_normals: Any | None = None,
    gt_normals: Any | None = None,
    thresholds: Sequence[float] = FSCORE_THRESHOLDS,
) -> dict[str, float]:
    """Chamfer (L1/L2, accuracy, completeness), normal consistency and F-scores between two surface samples.

    ``pred_points: (N, 3)``, ``gt_points: (M, 3)``, optional unit normals of the same shapes (normal consistency
    is reported only when both are given). See the module docstring for the definitions. An empty prediction
    gets the penalty values.
    """
    pred = as_points(pred_points, "pred_points")
    gt = as_points(gt_points, "gt_points")
    if len(gt) == 0:
        raise ValueError("gt_points is empty: the ground-truth surface has no samples")
    thresholds = [float(t) for t in np.atleast_1d(np.asarray(thresholds, dtype=np.float64))]  # one number or several
    if any(not (np.isfinite(t) and t > 0) for t in thresholds):
        raise ValueError(f"thresholds must be positive, got {thresholds}")
    with_normals = pred_normals is not None and gt_normals is not None
    out: dict[str, float] = {}
    if len(pred) == 0:
        out.update({k: EMPTY_DISTANCE for k in DISTANCE_KEYS})
        out.update({k: EMPTY_DISTANCE**2 for k in SQUARED_DISTANCE_KEYS})
        if with_normals:
            out.update({"normal_accuracy": 0.0, "normal_completeness": 0.0, "normal_consistency": 0.0})
        for t in thresholds:
            out.update({fscore_key(t, "precision"): 0.0, fscore_key(t, "recall"): 0.0, fscore_key(t): 0.0})
        out["empty_prediction"] = 1.0
        return out
    d_pred, i_pred = cKDTree(gt).query(pred, workers=-1)  # pred -> nearest gt sample
    d_gt, i_gt = cKDTree(pred).query(gt, workers=-1)  # gt -> nearest pred sample
    out["accuracy"] = float(d_pred.mean())
    out["completeness"] = float(d_gt.mean())
    out["chamfer_l1"] = 0.5 * (out["accuracy"] + out["completeness"])
    out["accuracy_l2"] = float(np.mean(d_pred**2))
    out["completeness_l2"] = float(np.mean(d_gt**2))
    out["chamfer_l2"] = 0.5 * (out["accuracy_l2"] + out["completeness_l2"])
    if with_normals:
        n_pred = _unit_normals(pred_normals, len(pred), "pred_normals")
        n_gt = _unit_normals(gt_normals, len(gt), "gt_normals")
        out["normal_accuracy"] = float(np.mean(np.abs(np.sum(n_pred * n_gt[i_pred], axis=1))))
        out["normal_completeness"] = float(np.mean(np.abs(np.sum(n_gt * n_pred[i_gt], axis=1))))
        out["normal_consistency"] = 0.5 * (out["normal_accuracy"] + out["normal_completeness"])
    for t in thresholds:
        precision = float(np.mean(d_pred < t))
        recall = float(np.mean(d_gt < t))
        f = 2.0 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        out.update({fscore_key(t, "precision"): precision, fscore_key(t, "recall"): recall, fscore_key(t): f})
    out["empty_prediction"] = 0.0
    return out


@dataclass
class GroundTruth:
    """Ground-truth samples for :func:`evaluate_mesh`.

    ``surface_points: (N, 3)`` and ``surface_normals: (N, 3)`` (or ``None``) on the surface; ``volume_points:
    (M, 3)`` with ``volume_occ: (M,) bool`` for IoU (or ``None`` to skip IoU).
    """

    surface_points: np.ndarray
    surface_normals: np.ndarray | None = None
    volume_points: np.ndarray | None = None
    volume_occ: np.ndarray | None = None

    @classmethod
    def from_mesh(
        cls,
        mesh: trimesh.Trimesh,
        n_points: int = 100_000,
        rng: np.random.Generator | int | None = None,
        bounds: Any = IOU_BOUNDS,
    ) -> GroundTruth:
        """Sample ``n_points`` on the surface of ``mesh`` and ``n_points`` uniform in ``bounds`` with occupancy.

        The IoU is measured in ``bounds`` (default the model cube ``[-0.55, 0.55]^3``: normalized shapes): a mesh
        that reaches beyond them, or is less than a tenth as long as they are wide (a mesh in metres), gets a
        warning."""
        rng = _rng(rng)
        _warn_if_not_in_bounds(mesh, bounds)
        pts, nrm = sample_surface(mesh, n_points, rng)
        vol = sample_uniform(n_points, bounds, rng)
        return cls(pts, nrm, vol, mesh_inside(mesh, vol))


def _warn_if_not_in_bounds(mesh: trimesh.Trimesh, bounds: Any) -> None:
    """A warning when the volume IoU of ``mesh`` in ``bounds`` would mislead (see :meth:`GroundTruth.from_mesh`)."""
    from implicit3d.errors import warn_user

    b = np.asarray(bounds, dtype=np.float64)
    if b.ndim == 0:  # a half-width h: the cube [-h, h]^3, as sample_uniform takes it
        b = np.array([[-1.0] * 3, [1.0] * 3]) * b
    if b.shape != (2, 3) or len(mesh.vertices) == 0:
        return  # sample_uniform names a malformed box
    lo, hi = b
    mlo, mhi = np.asarray(mesh.bounds[0]), np.asarray(mesh.bounds[1])
    size = hi - lo
    if (mlo < lo - 1e-3 * size).any() or (mhi > hi + 1e-3 * size).any():
        warn_user(f"the ground-truth mesh spans {mlo.round(3).tolist()} to {mhi.round(3).tolist()}, beyond the IoU "
                  f"volume {lo.tolist()} to {hi.tolist()}: only its part inside is scored (normalize it, or pass "
                  "iou_bounds)")
    elif (mhi - mlo).max() < 0.1 * size.max():
        warn_user(f"the ground-truth mesh is {(mhi - mlo).max():.3g} long in an IoU volume {size.max():.3g} wide "
                  f"({lo.tolist()} to {hi.tolist()}): few uniform points fall inside it, so its IoU rests on few "
                  "points (normalize it, or pass iou_bounds)")


def evaluate_mesh(
    pred_mesh: trimesh.Trimesh,
    gt: trimesh.Trimesh | GroundTruth,
    n_points: int = 100_000,
    rng: np.random.Generator | int | None = None,
    thresholds: Sequence[float] = FSCORE_THRESHOLDS,
    iou_bounds: Any = IOU_BOUNDS,
    pred_occ: Any | None = None,
) -> dict[str, float]:
    """All metrics of a predicted mesh against a ground-truth mesh or :class:`GroundTruth` samples.

    ``n_points`` surface samples are drawn on the prediction (and, for a mesh ``gt``, on the ground truth, plus
    ``n_points`` uniform volume points in ``iou_bounds`` for IoU). ``pred_occ: (M,) bool`` optionally gives the
    prediction's occupancy at ``gt.volume_points`` directly (e.g. from the network), skipping inside tests on
    ``pred_mesh``. Returns a flat ``dict`` of floats: ``iou`` (when volume samples exist), the Chamfer family,
    normal consistency, ``precision@t``/``recall@t``/``fscore@t`` per threshold and ``empty_prediction``.
    """
    rng = _rng(rng)
    if isinstance(gt, trimesh.Trimesh):
        gt = GroundTruth.from_mesh(gt, n_points, rng, iou_bounds)
    elif not isinstance(gt, GroundTruth):
        raise TypeError(f"gt must be a trimesh.Trimesh or a GroundTruth, got {type(gt).__name__}")
    if not isinstance(pred_mesh, trimesh.Trimesh):
        raise TypeError(f"pred_mesh must be a trimesh.Trimesh, got {type(pred_mesh).__name__}")
    empty = len(pred_mesh.faces) == 0 or not float(pred_mesh.area) > 0.0
    if empty:
        pred_pts, pred_nrm = np.zeros((0, 3)), np.zeros((0, 3))
    else:
        pred_pts, pred_nrm = sample_surface(pred_mesh, n_points, rng)
    out = point_metrics(
        pred_pts, gt.surface_points,
        pred_nrm if gt.surface_normals is not None else None, gt.surface_normals,
        thresholds,
    )
    if gt.volume_points is not None and gt.volume_occ is not None:
        if pred_occ is None:
            pred_occ = np.zeros(len(gt.volume_points), bool) if empty else mesh_inside(pred_mesh, gt.volume_points)
        out["iou"] = iou(pred_occ, gt.volume_occ)
    return out


def to_paper_units(metrics: dict[str, float], bbox_edge: float = 1.0) -> dict[str, float]:
    """Distances re-expressed in units of ``bbox_edge / 10`` as in the ONet/ConvONet papers (a new dict).

    ``bbox_edge``: the length the papers call the object's bounding-box edge, in the metrics' units (1.0 for the
    unit cube the reference code normalizes to). Distances are multiplied by ``10 / bbox_edge``, squared
    distances by its square; other entries are copied.
    """
    factor = 10.0 / float(bbox_edge)
    out = dict(metrics)
    for k in DISTANCE_KEYS:
        if k in out:
            out[k] = out[k] * factor
    for k in SQUARED_DISTANCE_KEYS:
        if k in out:
            out[k] = out[k] * factor**2
    return out
