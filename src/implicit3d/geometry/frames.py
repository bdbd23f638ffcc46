"""The model-input frame: the one place that rotates, normalizes and subsamples a cloud for a model, and maps back.

Training (:class:`implicit3d.data.dataset.ImplicitDataset`), completion of user scans
(:func:`implicit3d.completion.complete_points`), dataset inference (``generate`` / ``evaluate``) and the demo all build
the frame here, so a model sees its inputs the same way everywhere.

A frame is ``normalized = (R @ x - loc) / scale`` (:class:`ModelFrame`) with

- a rotation ``R (3, 3)`` from the input's frame to the model's, chosen by the pose convention the model was trained
  with (:data:`POSES`): ``camera`` models see a single view turned so the sensor looks at the cloud along +z
  (:func:`view_rotation`; training: :func:`camera_rotation` of a dataset view); ``gravity`` models see a single
  view with gravity's up as +z and the sensor's horizontal line of sight as +y (:func:`gravity_rotation`; training:
  :func:`dataset_gravity_rotation`); upright models (``canonical``, ``yaw``, ``so3``, ``view``) see the input
  turned so its ``up`` direction is +z (:func:`rotation_to_z`);
- a box (``loc (3,)``, ``scale``): ``normalize: visible`` models see the observed cloud's own robust box with its
  longest edge ``visible_extent`` (:func:`implicit3d.geometry.transforms.visible_box_params`); ``normalize: object``
  models see the whole object's box with its longest edge ``1 - padding`` — known for dataset shapes (the stored
  frame), estimated from the observed cloud otherwise (:func:`symmetric_footprint_box` for a single view).

Every model covers the cube ``[-h, h]^3`` with ``h = half_extent(padding)`` (:data:`MODEL_HALF_EXTENT` for the
default padding): its feature planes / grids, the extraction volume and the IoU volume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from implicit3d.geometry.transforms import (
    DEFAULT_PADDING,
    VISIBLE_DEPTHS,
    VISIBLE_EXTENT,
    normalization_params,
    rotation_about_z,
    rotation_to_direction,
    view_rotation,
    visible_box_params,
)

__all__ = [
    "DEFAULT_PADDING", "MODEL_HALF_EXTENT", "NORMALIZATIONS", "POSES", "VISIBLE_DEPTHS", "VISIBLE_EXTENT",
    "ModelFrame",
    "camera_rotation", "dataset_gravity_rotation", "gravity_rotation",
    "half_extent", "observation_frame", "parse_up", "probability_to_logit", "rotation_to_z", "subsample",
    "subsample_indices", "symmetric_footprint_box",
]

POSES = ("canonical", "yaw", "so3", "view", "camera", "gravity")  #: pose conventions of training inputs (data.pose)
NORMALIZATIONS = ("object", "visible")  #: which box frames a model's input (data.normalize)
_AXES = {"x": 0, "y": 1, "z": 2}


def half_extent(padding: float) -> float:
    """Half side of the cube a model covers: ``0.5 * (1 + padding)`` (0.55 for padding 0.1)."""
    return 0.5 * (1.0 + padding)


MODEL_HALF_EXTENT = half_extent(DEFAULT_PADDING)  #: the model cube's half side at the default padding (0.55)


def probability_to_logit(probability: float) -> float:
    """The logit of an occupancy probability threshold: ``log(p / (1 - p))`` (0 for 0.5)."""
    p = float(probability)
    if not 0.0 < p < 1.0:
        raise ValueError(f"an occupancy threshold is a probability in (0, 1), got {probability}")
    return math.log(p) - math.log1p(-p)


# ------------------------------------------------------------------------------------------------ subsampling


LARGE_CLOUD = 1_000_000  #: above this many points, subsampling draws indices instead of permuting them all


def subsample_indices(rng: np.random.Generator, n_avail: int, n: int | None, fill: bool = False) -> np.ndarray:
    """Indices ``(K,) int64`` of the points given to a model, the one subsampling rule of the project.

    More than ``n`` available: ``n`` distinct indices drawn with ``rng`` (in increasing order for inference; in
    drawn order with ``fill``; from more than :data:`LARGE_CLOUD` points without a full permutation). Otherwise
    all of them, in order — or, with ``fill`` (training batches need exactly ``n`` points, drawn afresh every
    epoch), ``n`` indices drawn with replacement, or a permutation when exactly ``n`` are available. ``n = None``
    keeps all.
    """
    if n_avail == 0:
        raise ValueError("cannot subsample an empty point cloud")
    if n is None or (n_avail == n and not fill):
        return np.arange(n_avail)
    if n_avail >= n:
        if n_avail > LARGE_CLOUD and n <= n_avail // 20:  # a few of very many: draw, drop repeats, top up
            idx = np.unique(rng.integers(0, n_avail, int(n * 1.1) + 64))
            while len(idx) < n:
                idx = np.union1d(idx, rng.integers(0, n_avail, int(n - len(idx)) + 64))
            idx = rng.permutation(idx)[: int(n)]
        else:
            idx = rng.choice(n_avail, int(n), replace=False)
        return idx if fill else np.sort(idx)
    return rng.integers(0, n_avail, int(n)) if fill else np.arange(n_avail)


def subsample(
    points: np.ndarray, n: int | None, rng: np.random.Generator | int = 0, fill: bool = False
) -> np.ndarray:
    """``points (N, 3)`` reduced to the model's input count by :func:`subsample_indices`."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return points[subsample_indices(rng, len(points), n, fill)]


# ------------------------------------------------------------------------------------------------ rotations


def parse_up(spec: str | Any) -> np.ndarray:
    """Up direction of the input frame as a unit ``(3,)`` vector.

    ``spec``: an axis ``"x" "y" "z"`` with optional sign (``"-y"``: up is -y, e.g. an upright OpenCV camera),
    three numbers ``"0,-0.8,-0.6"`` or a length-3 sequence. Raises ``ValueError`` for anything else.
    """
    if isinstance(spec, str):
        text = spec.strip().lower()
        sign = -1.0 if text.startswith("-") else 1.0
        axis = text.lstrip("+-")
        if axis in _AXES:
            v = np.zeros(3)
            v[_AXES[axis]] = sign
            return v
        parts = [p for p in text.replace(" ", ",").split(",") if p]
        try:
            vec = np.array([float(p) for p in parts])
        except ValueError:
            raise ValueError(f"up must be x, y, z, -x, -y, -z or three numbers like 0,-1,0; got {spec!r}") from None
    else:
        vec = np.asarray(spec, dtype=np.float64).reshape(-1)
    if vec.shape != (3,) or not np.isfinite(vec).all() or not np.linalg.norm(vec) > 0:
        raise ValueError(f"up must be a non-zero 3-vector or an axis name like -y; got {spec!r}")
    return vec / np.linalg.norm(vec)


def rotation_to_z(up: Any) -> np.ndarray:
    """The smallest rotation ``R (3, 3)`` with ``R @ up = (0, 0, 1)`` (a half turn about x when ``up = -z``)."""
    return rotation_to_direction(parse_up(up))


def camera_rotation(
    cloud: np.ndarray, cam_to_world: np.ndarray, object_pose: np.ndarray, object_scale: float
) -> np.ndarray:
    """Rotation ``(3, 3)`` from a shape's canonical normalized frame to the view-aligned camera frame of one view.

    ``cloud (P, 3)`` is the view's back-projected cloud in canonical normalized units (as stored in ``views.npz``),
    ``cam_to_world (4, 4)`` and ``object_pose (4, 4)`` the view's camera and object poses, ``object_scale`` metres
    per normalized unit. The camera frame (OpenCV, rotation ``R_c^T R_obj``) is then turned by :func:`view_rotation`
    so the sensor looks at the cloud's centroid along +z — the frame :func:`observation_frame` builds from a depth
    image at completion time.
    """
    r_cam = np.asarray(cam_to_world, dtype=np.float64)[:3, :3]
    r0 = r_cam.T @ np.asarray(object_pose, dtype=np.float64)[:3, :3]
    eye = r_cam.T @ np.asarray(cam_to_world, dtype=np.float64)[:3, 3] / float(object_scale)  # sensor, r0 frame
    return view_rotation(np.asarray(cloud, dtype=np.float64) @ r0.T, eye) @ r0


def gravity_rotation(points: np.ndarray, up: Any, viewpoint: Any) -> np.ndarray:
    """Rotation ``R (3, 3)`` of the gravity-aligned frame of a single view: ``R @ up = +z`` and the horizontal part of
    the line of sight from ``viewpoint (3,)`` to the centroid of ``points (N, 3)`` turned onto +y (the sensor lies
    towards -y, above or below). A sensor straight above (no horizontal line of sight) keeps the heading of
    :func:`rotation_to_z`. Used identically by training (``data.pose: gravity``) and the tabletop pipeline, where
    ``up`` is the support plane's normal."""
    r_up = rotation_to_z(up)
    sight = (np.asarray(points, dtype=np.float64).mean(axis=0) - np.asarray(viewpoint, dtype=np.float64)) @ r_up.T
    h = sight[:2]
    if not np.linalg.norm(h) > 1e-9 * max(float(np.linalg.norm(sight)), 1e-12):
        return r_up
    return rotation_about_z(math.atan2(float(h[0]), float(h[1]))) @ r_up


def dataset_gravity_rotation(
    cloud: np.ndarray, cam_to_world: np.ndarray, object_pose: np.ndarray, object_scale: float
) -> np.ndarray:
    """Rotation ``(3, 3)`` from a shape's canonical normalized frame to the gravity-aligned frame of one dataset view
    (:func:`gravity_rotation` with the view's world +z as up; arguments as :func:`camera_rotation`)."""
    r_obj = np.asarray(object_pose, dtype=np.float64)[:3, :3]
    eye = np.asarray(cam_to_world, dtype=np.float64)[:3, 3] / float(object_scale)  # world orientation, normalized
    return gravity_rotation(np.asarray(cloud, dtype=np.float64) @ r_obj.T, (0.0, 0.0, 1.0), eye) @ r_obj


# ------------------------------------------------------------------------------------------------ boxes


def symmetric_footprint_box(canon: np.ndarray, viewpoint: np.ndarray) -> np.ndarray:
    """Corners ``(2, 3)`` of the estimated whole-object box of a single view ``canon (N, 3)`` (z up) seen from
    ``viewpoint (3,)`` (same frame).

    Assumes the object's horizontal footprint is as deep (away from the sensor) as it is wide (across the line of
    sight) — true of round household objects (bottles, cans, mugs, bowls) — so the box is extended behind the
    visible front to that depth, and its horizontal box is that square, centred there (joined with the observed
    box). Heights are kept as observed. Falls back to the observed box when the sensor is straight above (within
    1 % of the object's size horizontally).
    """
    lo, hi = canon.min(axis=0), canon.max(axis=0)
    d = (lo[:2] + hi[:2]) / 2.0 - viewpoint[:2]
    if not np.linalg.norm(d) > 0.01 * float(np.ptp(canon, axis=0).max()):  # sensor (almost) straight above
        return np.stack([lo, hi])
    d = d / np.linalg.norm(d)
    across = np.array([-d[1], d[0]])
    a = canon[:, :2] @ d  # distance along the (horizontal) line of sight
    b = canon[:, :2] @ across
    width = float(np.ptp(b))
    front = float(a.min())
    depth = max(float(a.max()) - front, width)
    centre = d * (front + depth / 2.0) + across * (b.min() + b.max()) / 2.0
    half = np.full(2, depth / 2.0)  # the footprint's box in the object's own (unknown) heading: depth x depth
    new_lo = np.minimum(lo[:2], centre - half)
    new_hi = np.maximum(hi[:2], centre + half)
    return np.array([[new_lo[0], new_lo[1], lo[2]], [new_hi[0], new_hi[1], hi[2]]])


# ------------------------------------------------------------------------------------------------ the frame


@dataclass
class ModelFrame:
    """Map between an input frame and the model's normalized frame: ``normalized = (R @ x - loc) / scale``.

    ``rotation (3, 3)`` input -> model axes, ``loc (3,)`` box centre (rotated frame), ``scale`` input units per
    normalized unit, ``padding`` the normalization padding the frame was built for.
    """

    rotation: np.ndarray
    loc: np.ndarray
    scale: float
    padding: float = DEFAULT_PADDING

    @classmethod
    def fit(
        cls,
        points: np.ndarray,
        rotation: np.ndarray | None = None,
        *,
        normalize: str = "object",
        visible_extent: float = VISIBLE_EXTENT,
        visible_depth: str = "observed",
        padding: float = DEFAULT_PADDING,
        known_box: bool = False,
        viewpoint: np.ndarray | None = None,
        size: float | None = None,
    ) -> ModelFrame:
        """The frame of ``points (N, 3)`` turned by ``rotation`` (default: none).

        ``normalize="visible"``: the rotated cloud's own robust box, longest edge ``visible_extent``, as deep as
        ``visible_depth`` says (:func:`implicit3d.geometry.transforms.visible_box_params`). Otherwise the
        whole object's box: the identity when the points are already in it (``known_box``, a dataset shape), else
        estimated — the rotated cloud's box, extended behind the visible front when the sensor position
        ``viewpoint (3,)`` (input frame) is given (:func:`symmetric_footprint_box`), with its longest edge
        ``1 - padding`` or with ``scale = size / (1 - padding)`` when the object's true longest edge ``size`` is
        known. Raises ``ValueError`` for an empty or degenerate cloud.
        """
        rot = np.eye(3) if rotation is None else np.asarray(rotation, dtype=np.float64)
        if normalize == "object" and known_box:
            return cls(rot, np.zeros(3), 1.0, float(padding))
        canon = np.asarray(points, dtype=np.float64) @ rot.T
        if normalize == "visible":
            loc, scale = visible_box_params(canon, visible_extent, depth=visible_depth)
        elif normalize == "object":
            box = canon
            if viewpoint is not None:
                box = symmetric_footprint_box(canon, rot @ np.asarray(viewpoint, dtype=np.float64).reshape(3))
            loc, scale = normalization_params(box, padding)
            if size is not None:
                if not (np.isfinite(size) and size > 0):
                    raise ValueError(f"the object size must be a positive length in the input's units, got {size}")
                scale = float(size) / (1.0 - padding)
        else:
            raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")
        return cls(rot, np.asarray(loc, dtype=np.float64), float(scale), float(padding))

    def turned(self, angle: float) -> ModelFrame:
        """This frame turned by ``angle`` radians about its normalized z axis through the box centre (same box)."""
        rz = rotation_about_z(angle)
        return ModelFrame(rz @ self.rotation, rz @ self.loc, self.scale, self.padding)

    def to_model(self, points: np.ndarray) -> np.ndarray:
        """Input-frame ``(N, 3)`` -> normalized ``(N, 3) float64``."""
        return (np.asarray(points, dtype=np.float64) @ self.rotation.T - self.loc) / self.scale

    def to_input(self, points: np.ndarray) -> np.ndarray:
        """Normalized ``(N, 3)`` -> input frame ``(N, 3) float64``."""
        return (np.asarray(points, dtype=np.float64) * self.scale + self.loc) @ self.rotation

    @property
    def pose(self) -> np.ndarray:
        """``(4, 4)`` rotated -> input frame transform (for :func:`implicit3d.extraction.to_world`)."""
        pose = np.eye(4)
        pose[:3, :3] = self.rotation.T
        return pose


def observation_frame(
    points: np.ndarray,
    *,
    pose: str,
    normalize: str,
    visible_extent: float = VISIBLE_EXTENT,
    visible_depth: str = "observed",
    padding: float = DEFAULT_PADDING,
    up: Any = "z",
    viewpoint: Any | None = None,
    size: float | None = None,
    turn: float = 0.0,
) -> ModelFrame:
    """The frame of an observed cloud ``points (N, 3)`` in its own frame and units (a user's scan).

    The rotation follows the model's pose convention: ``camera`` models get the line of sight from ``viewpoint``
    (default: the origin, a camera-frame cloud) to the cloud's centroid turned onto +z, as training did;
    ``gravity`` models get ``up`` (gravity's, e.g. a support plane's normal) onto +z and the sensor at
    ``viewpoint`` (default the origin) towards -y; the others get ``up`` (see :func:`parse_up`) turned onto +z.
    ``turn`` (radians) then turns the cloud about that z axis before its box is measured: one member of a
    turned-copies ensemble. The box follows :meth:`ModelFrame.fit` (``viewpoint`` extends the estimated object box
    of upright ``object`` models; ``size`` is the object's known longest edge). Raises ``ValueError`` for an
    empty or degenerate cloud.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pose in ("camera", "gravity"):
        eye = np.zeros(3) if viewpoint is None else np.asarray(viewpoint, dtype=np.float64).reshape(3)
        rot = view_rotation(pts, eye) if pose == "camera" else gravity_rotation(pts, up, eye)
        viewpoint = None  # the footprint box is for upright models
    else:
        rot = rotation_to_z(up)
    if turn:
        rot = rotation_about_z(turn) @ rot
    return ModelFrame.fit(pts, rot, normalize=normalize, visible_extent=visible_extent, visible_depth=visible_depth,
                          padding=padding, viewpoint=viewpoint, size=size)
