"""Normalization to the unit cube, rotations and 4x4 rigid poses.

Normalization convention (project-wide): a shape is stored in the cube ``[-0.5, 0.5]^3`` with

    normalized = (world - loc) / scale        world = normalized * scale + loc

where ``loc`` (3,) is the centre of the axis-aligned bounding box and ``scale = longest_edge / (1 - padding)``.
The longest bounding-box edge therefore measures exactly ``1 - padding`` after normalization, the shape is
centred at the origin and it keeps a margin of at least ``padding / 2`` to every face of the cube.

Poses are ``(4, 4)`` homogeneous matrices acting on column vectors: ``x' = R @ x + t``. Camera poses are
camera-to-world (OpenCV camera frame); object poses are object-to-world. +z is up.
"""

from __future__ import annotations

import numpy as np
import trimesh

from implicit3d.geometry.validation import as_mesh_arrays, as_points

ROTATION_MODES = ("none", "yaw", "so3")
DEFAULT_PADDING = 0.1  #: datasets store shapes with their longest edge 1 - padding (models cover the cube grown by it)


def normalization_params(vertices: np.ndarray, padding: float = DEFAULT_PADDING) -> tuple[np.ndarray, float]:
    """``(loc (3,) float64, scale float)`` that map ``vertices`` into the unit cube (see module docstring)."""
    if not 0.0 <= padding < 1.0:
        raise ValueError(f"padding must be in [0, 1), got {padding}")
    v = as_points(vertices, "vertices")
    if len(v) == 0:
        raise ValueError("cannot normalize an empty set of vertices")
    lo, hi = v.min(axis=0), v.max(axis=0)
    extent = float((hi - lo).max())
    if not extent > 0.0:
        raise ValueError("cannot normalize a degenerate shape: its bounding box has zero size")
    return (lo + hi) / 2.0, extent / (1.0 - padding)


VISIBLE_EXTENT = 0.7  #: longest edge of an observed cloud's box after visible-box normalization
VISIBLE_QUANTILE = 0.005  #: per-axis quantile that trims the observed box (flying pixels, outliers)
VISIBLE_DEPTHS = ("observed", "footprint")  #: how deep behind its front the observed box is taken (``depth``)


def visible_box_params(
    points: np.ndarray, extent: float = VISIBLE_EXTENT, quantile: float = VISIBLE_QUANTILE, depth: str = "observed"
) -> tuple[np.ndarray, float]:
    """``(loc (3,) float64, scale float)`` that normalize an *observed* cloud ``points (N, 3)`` by its own box.

    Same convention as :func:`normalization_params` (``normalized = (x - loc) / scale``), but from what a sensor
    saw rather than the whole object: ``loc`` is the centre of the cloud's per-axis ``[quantile, 1 - quantile]``
    box (robust to a few flying pixels) and ``scale`` makes its longest edge measure ``extent``. ``extent`` < 1
    leaves room for the unseen back of the object inside the model's cube. Used identically by training
    (``data.normalize: visible``) and completion, so the two see inputs in the same frame.

    ``depth="footprint"`` (for clouds seen along +z, the sensor in front at smaller z) takes the box as deep behind
    its front as the larger of its observed depth and its smaller side across the line of sight, and centres
    ``loc`` there along z (``scale`` unchanged): a shallow view (a can seen end-on, a box face-on) gets room for the
    unseen back, and the front of any view lies at most ``extent / 2`` in front of the centre.
    """
    if depth not in VISIBLE_DEPTHS:
        raise ValueError(f"depth must be one of {VISIBLE_DEPTHS}, got {depth!r}")
    if not 0.0 < extent <= 1.0:
        raise ValueError(f"extent must be in (0, 1], got {extent}")
    if not 0.0 <= quantile < 0.5:
        raise ValueError(f"quantile must be in [0, 0.5), got {quantile}")
    p = as_points(points, "points")
    if len(p) == 0:
        raise ValueError("cannot normalize an empty point cloud")
    if quantile > 0.0:
        lo, hi = np.quantile(p, [quantile, 1.0 - quantile], axis=0)
    else:
        lo, hi = p.min(axis=0), p.max(axis=0)
    longest = float((hi - lo).max())
    if not longest > 0.0:
        raise ValueError("cannot normalize a degenerate point cloud: its bounding box has zero size")
    loc = (lo + hi) / 2.0
    if depth == "footprint":
        loc[2] = lo[2] + max(float(hi[2] - lo[2]), float(min(hi[0] - lo[0], hi[1] - lo[1]))) / 2.0
    return loc, longest / extent


def rotation_to_direction(direction: np.ndarray, target: np.ndarray | None = None) -> np.ndarray:
    """The smallest rotation ``R (3, 3)`` with ``R @ unit(direction) = target`` (default ``+z``); a half turn about
    an axis perpendicular to ``target`` when ``direction`` points opposite to it."""
    d = np.asarray(direction, dtype=np.float64).reshape(3)
    t = np.array([0.0, 0.0, 1.0]) if target is None else np.asarray(target, dtype=np.float64).reshape(3)
    if not (np.linalg.norm(d) > 0 and np.linalg.norm(t) > 0):
        raise ValueError("rotation_to_direction needs non-zero vectors")
    d, t = d / np.linalg.norm(d), t / np.linalg.norm(t)
    c = float(d @ t)
    if c > 1.0 - 1e-12:
        return np.eye(3)
    if c < -1.0 + 1e-12:  # half turn about the coordinate axis most perpendicular to target (x for +z)
        axis = np.eye(3)[int(np.argmin(np.abs(t)))]
        axis = axis - (axis @ t) * t
        axis /= np.linalg.norm(axis)
        return 2.0 * np.outer(axis, axis) - np.eye(3)
    k = np.cross(d, t)
    s = np.linalg.norm(k)
    k = k / s
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + s * kx + (1.0 - c) * (kx @ kx)


def view_rotation(points: np.ndarray, viewpoint: np.ndarray) -> np.ndarray:
    """Rotation ``R (3, 3)`` of the *view-aligned* frame of a single view: ``R @ unit(centroid - viewpoint) = +z``.

    ``points (N, 3)`` is what a sensor at ``viewpoint (3,)`` saw (same frame). In the rotated frame the sensor looks
    at the observed cloud along +z, so a model knows which side of the surface it saw — the unseen side is behind,
    at larger z. Used identically by training (``data.pose: camera``) and completion.
    """
    p = as_points(points, "points")
    if len(p) == 0:
        raise ValueError("cannot align an empty point cloud to its viewpoint")
    return rotation_to_direction(p.mean(axis=0) - np.asarray(viewpoint, dtype=np.float64).reshape(3))


def normalize_to_unit_cube(
    mesh: trimesh.Trimesh, padding: float = DEFAULT_PADDING
) -> tuple[trimesh.Trimesh, np.ndarray, float]:
    """Centre ``mesh`` on its bounding box and scale it into ``[-0.5, 0.5]^3``.

    Returns ``(normalized mesh (new object, float64 vertices), loc (3,) float64, scale float)`` with
    ``normalized = (world - loc) / scale``; the longest bbox edge of the result is ``1 - padding``.
    Undo with :func:`denormalize_points` or ``mesh.apply_scale(scale); mesh.apply_translation(loc)``.
    """
    vertices, faces = as_mesh_arrays(mesh)
    loc, scale = normalization_params(vertices, padding)
    out = trimesh.Trimesh((vertices - loc) / scale, faces, process=False)
    return out, loc, scale


def normalize_points(points: np.ndarray, loc: np.ndarray, scale: float) -> np.ndarray:
    """World ``(N, 3)`` -> normalized ``(N, 3) float64``: ``(points - loc) / scale``."""
    return (as_points(points) - np.asarray(loc, dtype=np.float64)) / float(scale)


def denormalize_points(points: np.ndarray, loc: np.ndarray, scale: float) -> np.ndarray:
    """Normalized ``(N, 3)`` -> world ``(N, 3) float64``: ``points * scale + loc``."""
    return as_points(points) * float(scale) + np.asarray(loc, dtype=np.float64)


def _rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def rotation_about_z(angle: float) -> np.ndarray:
    """``(3, 3) float64`` rotation by ``angle`` radians about +z (counter-clockwise seen from above)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def random_rotation(rng: np.random.Generator | int | None = None, mode: str = "so3") -> np.ndarray:
    """A random ``(3, 3) float64`` rotation matrix.

    ``mode``: ``"so3"`` uniform (Haar) over all rotations (normalized Gaussian quaternion); ``"yaw"`` uniform angle
    about the up axis +z only (the object stays upright); ``"none"`` the identity (consumes no randomness).
    """
    if mode not in ROTATION_MODES:
        raise ValueError(f"rotation mode must be one of {ROTATION_MODES}, got {mode!r}")
    if mode == "none":
        return np.eye(3)
    rng = _rng(rng)
    if mode == "yaw":
        return rotation_about_z(rng.uniform(0.0, 2.0 * np.pi))
    q = rng.standard_normal(4)
    while np.linalg.norm(q) < 1e-8:  # pragma: no cover - probability ~0
        q = rng.standard_normal(4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def stable_rotations(mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray]:
    """The resting poses of ``mesh`` on a horizontal table: ``(rotations (K, 3, 3) float64, probabilities (K,))``.

    From :func:`trimesh.poses.compute_stable_poses` of the convex hull (a rigid body rests on its hull's faces);
    each rotation turns the mesh so that it rests on ``z = const`` with +z up, sorted by probability.
    """
    transforms, probs = trimesh.poses.compute_stable_poses(mesh.convex_hull, n_samples=1)
    probs = np.asarray(probs, dtype=np.float64)
    if len(probs) == 0 or not probs.sum() > 0:
        return np.eye(3)[None], np.ones(1)
    return np.asarray(transforms, dtype=np.float64)[:, :3, :3], probs / probs.sum()


def resting_rotation(
    rng: np.random.Generator, stable: tuple[np.ndarray, np.ndarray], upright: float = 0.5
) -> np.ndarray:
    """A random pose of an object set down on a table: with probability ``upright`` as modelled (its own +z up,
    as catalogue objects stand), else one of its ``stable`` resting poses (:func:`stable_rotations`) drawn by
    probability; then turned by a random yaw about +z."""
    rotations, probs = stable
    base = np.eye(3) if rng.uniform() < upright else rotations[int(rng.choice(len(probs), p=probs))]
    return rotation_about_z(rng.uniform(0.0, 2.0 * np.pi)) @ base


def make_pose(rotation: np.ndarray | None = None, translation: np.ndarray | None = None) -> np.ndarray:
    """``(4, 4) float64`` pose from a ``(3, 3)`` rotation (default identity) and a ``(3,)`` translation (default 0)."""
    pose = np.eye(4)
    if rotation is not None:
        r = np.asarray(rotation, dtype=np.float64)
        if r.shape != (3, 3):
            raise ValueError(f"rotation must be shaped (3, 3), got {r.shape}")
        pose[:3, :3] = r
    if translation is not None:
        t = np.asarray(translation, dtype=np.float64)
        if t.shape != (3,):
            raise ValueError(f"translation must be shaped (3,), got {t.shape}")
        pose[:3, 3] = t
    return pose


def _as_pose(pose: np.ndarray, name: str = "pose") -> np.ndarray:
    p = np.asarray(pose, dtype=np.float64)
    if p.shape != (4, 4):
        raise ValueError(f"{name} must be a (4, 4) matrix, got shape {p.shape}")
    return p


def apply_pose(pose: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Transform ``(N, 3)`` points by a ``(4, 4)`` pose: ``R @ p + t``; returns ``(N, 3) float64``."""
    p = _as_pose(pose)
    return as_points(points) @ p[:3, :3].T + p[:3, 3]


def compose(*poses: np.ndarray) -> np.ndarray:
    """Matrix product ``poses[0] @ poses[1] @ ...`` (the last one is applied first); identity for no argument."""
    out = np.eye(4)
    for i, p in enumerate(poses):
        out = out @ _as_pose(p, f"poses[{i}]")
    return out


def invert_pose(pose: np.ndarray) -> np.ndarray:
    """Inverse of a rigid ``(4, 4)`` pose (rotation part assumed orthonormal)."""
    p = _as_pose(pose)
    r = p[:3, :3]
    return make_pose(r.T, -r.T @ p[:3, 3])
