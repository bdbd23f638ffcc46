"""Held-out "real object" suite: single noisy depth views of real meshes that are not in the catalogue.

The completion model is judged on objects it never saw: household items and toys (a rubber duck, the Stanford
bunny, a teddy bear, a mug, a Lego brick...) and irregular solids (pybullet's ``random_urdfs``), each scanned once by
the project's own depth-sensor simulator (:mod:`implicit3d.sensing`) at a random orientation (uniform over SO(3)),
10-30 cm in size, 0.5-0.8 m from the camera. The meshes come from the ``pybullet_data`` package, read directly with
trimesh (no physics). **They are test/evaluation data only: never train on them** — the suite exists to measure
generalization beyond the procedural catalogue.

Pieces:

- :func:`real_object_meshes` — a deterministic mix of named objects and seeded ``random_urdfs``; degenerate meshes
  (unreadable, empty, flat, too few faces) are skipped with a reason.
- :func:`scan_object` — one simulated view: a :class:`Scan` holding the cloud and the ground-truth mesh in the
  camera frame (OpenCV: x right, y down, z forward; metres; the camera at the origin).
- :func:`scan_iou` — volumetric IoU of a prediction (mesh or occupancy function) against the ground truth on
  uniform points in a cube around the ground truth, sized as in the ONet/ConvONet papers: the object's longest
  bounding-box edge is 0.9 of a cube of side 1.1 (``[-0.55, 0.55]^3`` in normalized units); :func:`scan_overlap`
  adds volumetric precision and recall (did the completion add too much, or too little?).
- :func:`evaluate_scans` — per-object rows: the model's completion beside the convex hull of the observed points
  (the classical baseline), on the same IoU samples.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from implicit3d.errors import UserError
from implicit3d.geometry.validation import as_mesh_arrays, as_points

#: Named real objects of ``pybullet_data``: ``(stable name, path inside pybullet_data, what it is)``, in the order
#: they are taken. Planes, robots, terrain and primitive solids (cubes, spheres, cylinders) are left out.
NAMED_OBJECTS: tuple[tuple[str, str, str], ...] = (
    ("duck", "duck.obj", "rubber duck toy"),
    ("bunny", "bunny.obj", "Stanford bunny, a scanned figurine"),
    ("teddy", "teddy2_VHACD_CHs.obj", "teddy bear (convex-part decomposition)"),
    ("mug", "objects/mug.obj", "coffee mug with handle"),
    ("lego_brick", "lego/lego.obj", "Lego brick"),
    ("soccerball", "soccerball.obj", "soccer ball"),
    ("torus_ring", "torus/torus_textured.obj", "ring toy"),
    ("shape_sorter", "toys/shape_sorter.obj", "toy shape-sorter box"),
    ("domino", "domino/domino.obj", "domino tile"),
    ("tray", "tray/tray_textured.obj", "serving tray"),
    ("concave_box", "toys/concave_box.obj", "toy box with a recessed top"),
)
RANDOM_DIR = "random_urdfs"
MIN_FACES = 12  #: fewer triangles than a box: not a real object
MIN_FLATNESS = 0.05  #: smallest / longest bounding-box edge below this: a sheet, not a solid
MIN_SCAN_POINTS = 50  #: fewer observed points than this and the view is redrawn
IOU_PADDING = 1.1 / 0.9  #: IoU cube side / ground-truth longest edge (object edge 0.9 in a [-0.55, 0.55] cube)
D435_INTRINSICS = (640, 480, 385.0, 385.0)  #: width, height, fx, fy (px) of a RealSense D435 depth stream


class ScanError(ValueError):
    """A mesh could not be scanned usefully (e.g. every view saw fewer than the minimum number of points)."""


# ------------------------------------------------------------------------------------------------ meshes


def pybullet_data_root() -> Path:
    """Folder of the installed ``pybullet_data`` package; :class:`UserError` when it is not installed."""
    try:
        import pybullet_data
    except ImportError:
        raise UserError("the real-object suite needs the pybullet_data package: pip install pybullet") from None
    return Path(pybullet_data.getDataPath())


def mesh_problem(mesh: Any) -> str | None:
    """Why ``mesh`` is unusable as a solid to scan (a one-line reason), or ``None`` when it is fine.

    Rejected: not a single triangle mesh, no faces, fewer than :data:`MIN_FACES` triangles, NaN/inf vertices, a
    zero-size bounding box, or a flat one (smallest edge < :data:`MIN_FLATNESS` x the longest).
    """
    if not isinstance(mesh, trimesh.Trimesh):
        return f"not a triangle mesh ({type(mesh).__name__})"
    try:
        vertices, faces = as_mesh_arrays(mesh)
    except (ValueError, TypeError) as exc:
        return str(exc)
    if len(faces) < MIN_FACES:
        return f"only {len(faces)} faces (< {MIN_FACES})"
    used = vertices[np.unique(faces)]
    extent = np.sort(used.max(axis=0) - used.min(axis=0))
    if not extent[2] > 0:
        return "zero-size bounding box"
    if extent[0] < MIN_FLATNESS * extent[2]:
        return f"flat: smallest bounding-box edge is {100 * extent[0] / extent[2]:.1f}% of the longest"
    return None


def _load(path: Path) -> tuple[trimesh.Trimesh | None, str | None]:
    """``(plain mesh, None)`` or ``(None, reason)`` for the mesh file ``path``."""
    from implicit3d.fileio import MeshFileError, read_mesh

    try:
        loaded = read_mesh(path, process=True)
    except MeshFileError as exc:  # missing, unreadable, no triangles, NaN: the reason is kept
        return None, exc.reason
    reason = mesh_problem(loaded)
    if reason is not None:
        return None, reason
    mesh = trimesh.Trimesh(np.asarray(loaded.vertices, np.float64), np.asarray(loaded.faces, np.int64), process=False)
    return mesh, None


def real_object_meshes(
    count: int, seed: int, skipped: list[tuple[str, str]] | None = None
) -> list[tuple[str, trimesh.Trimesh]]:
    """``count`` real-object meshes ``(stable name, mesh)`` from ``pybullet_data`` — TEST/EVAL DATA ONLY.

    Never train on these: they are the held-out objects of the real-object suite. The mix is deterministic for
    ``(count, seed)``: the first ``min(len(NAMED_OBJECTS), (count + 1) // 2)`` named household items/toys of
    :data:`NAMED_OBJECTS` (names like ``"duck"``), then irregular solids ``random_urdfs/NNN/NNN.obj`` in an order
    drawn from ``seed`` (names ``"random_urdf_NNN"``) until there are ``count``. Meshes are in their files' own units
    and frames (plain ``trimesh.Trimesh``, vertices ``(V, 3) float64``, faces ``(F, 3) int64``, no visuals).
    Degenerate files (see :func:`mesh_problem`) are skipped; when ``skipped`` is a list, ``(name, reason)`` is
    appended to it for each. Raises ``ValueError`` for a bad ``count`` and when too few usable meshes exist.
    """
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    count = int(count)
    root = pybullet_data_root()
    out: list[tuple[str, trimesh.Trimesh]] = []

    def note(name: str, reason: str) -> None:
        if skipped is not None:
            skipped.append((name, reason))

    for name, rel, _ in NAMED_OBJECTS[: min(len(NAMED_OBJECTS), (count + 1) // 2)]:
        mesh, reason = _load(root / rel)
        if mesh is None:
            note(name, reason or "unusable")
        else:
            out.append((name, mesh))
    folders = sorted(p for p in (root / RANDOM_DIR).iterdir() if p.is_dir() and p.name.isdigit())
    order = np.random.default_rng(int(seed)).permutation(len(folders))
    for i in order:
        if len(out) == count:
            break
        folder = folders[int(i)]
        name = f"random_urdf_{folder.name}"
        objs = sorted(folder.glob("*.obj"))
        if not objs:
            note(name, "no .obj file")
            continue
        mesh, reason = _load(objs[0])
        if mesh is None:
            note(name, reason or "unusable")
        else:
            out.append((name, mesh))
    if len(out) < count:
        raise ValueError(f"only {len(out)} usable real-object meshes in {root}, {count} requested")
    return out


# ------------------------------------------------------------------------------------------------ scanning


@dataclass
class Scan:
    """One simulated depth view of a real object, everything in the camera frame (OpenCV, metres).

    ``cloud (N, 3) float32``: back-projected noisy depth (all ``z > 0``); ``mesh``: the ground truth as placed in
    front of the camera; ``camera_position (3,) float64``: the sensor (the origin); ``size_m``: the object's
    longest bounding-box edge in its file's frame, metres; ``distance_m``: camera to object-centre distance;
    ``rotation (3, 3)``: the random object rotation applied; ``attempts``: views drawn until one saw enough points.
    """

    name: str
    cloud: np.ndarray
    mesh: trimesh.Trimesh
    camera_position: np.ndarray
    size_m: float
    distance_m: float
    rotation: np.ndarray
    attempts: int = 1


def _range(value: Any, name: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (min, max) pair of numbers, got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 < lo <= hi):
        raise ValueError(f"{name} must satisfy 0 < min <= max, got {value!r}")
    return lo, hi


def d435_intrinsics() -> Any:
    """:class:`~implicit3d.sensing.camera.Intrinsics` of a RealSense D435 depth stream at 640x480, fx = fy = 385 px,
    principal point at the image centre."""
    from implicit3d.sensing.camera import Intrinsics

    w, h, fx, fy = D435_INTRINSICS
    return Intrinsics(fx=fx, fy=fy, cx=(w - 1) / 2.0, cy=(h - 1) / 2.0, width=w, height=h)


def scan_object(
    mesh: trimesh.Trimesh,
    rng: np.random.Generator,
    noise: Any = "realsense_d435",
    size_range: Sequence[float] = (0.10, 0.30),
    distance_range: Sequence[float] = (0.5, 0.8),
    name: str = "object",
    intrinsics: Any | None = None,
    min_points: int = MIN_SCAN_POINTS,
    max_attempts: int = 5,
) -> Scan:
    """Scan ``mesh`` once with a simulated depth sensor at the origin of the camera frame.

    The mesh is centred on its bounding box and scaled so its longest bounding-box edge is uniform in
    ``size_range`` metres, rotated by a uniformly random rotation (SO(3)), and its centre is put on the optical
    axis at a distance uniform in ``distance_range`` metres. The view is simulated by
    :func:`implicit3d.sensing.render.render_partial_view` (``intrinsics``: default :func:`d435_intrinsics`; the
    ``noise`` preset of :func:`implicit3d.sensing.noise.noise_preset`, renderer normals for grazing-angle holes;
    back-projection into the camera frame). A view with fewer than ``min_points``
    points is redrawn (new size, pose and distance), at most ``max_attempts`` times in all, then
    :class:`ScanError` is raised. Deterministic for the state of ``rng``.
    """
    from implicit3d.geometry.transforms import random_rotation
    from implicit3d.sensing.noise import noise_preset
    from implicit3d.sensing.render import render_partial_view

    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    size_lo, size_hi = _range(size_range, "size_range")
    dist_lo, dist_hi = _range(distance_range, "distance_range")
    if int(min_points) != min_points or min_points < 1:
        raise ValueError(f"min_points must be a positive integer, got {min_points!r}")
    if int(max_attempts) != max_attempts or max_attempts < 1:
        raise ValueError(f"max_attempts must be a positive integer, got {max_attempts!r}")
    model = noise_preset(noise)
    intr = d435_intrinsics() if intrinsics is None else intrinsics
    vertices, faces = as_mesh_arrays(mesh)
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    longest = float((hi - lo).max())
    if not longest > 0:
        raise ValueError(f"{name}: the mesh has a zero-size bounding box")
    unit = (vertices - (lo + hi) / 2.0) / longest  # centred, longest edge 1
    cam_to_world = np.eye(4)
    n_seen = 0
    for attempt in range(1, int(max_attempts) + 1):
        size = float(rng.uniform(size_lo, size_hi))
        rot = random_rotation(rng, "so3")
        dist = float(rng.uniform(dist_lo, dist_hi))
        placed = (unit * size) @ rot.T + np.array([0.0, 0.0, dist])
        _, cloud = render_partial_view((placed, faces), intr, cam_to_world, model, rng)
        n_seen = len(cloud)
        if n_seen >= min_points:
            gt = trimesh.Trimesh(placed, faces, process=False)
            return Scan(name, cloud, gt, np.zeros(3), size, dist, rot, attempt)
    raise ScanError(f"{name}: every one of {max_attempts} views saw fewer than {min_points} points (last: {n_seen})")


def object_rng(seed: int, name: str, stream: int = 0) -> np.random.Generator:
    """The random stream ``stream`` of object ``name`` for a suite ``seed`` (0: its scan, 1: its metrics)."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(str(name).encode()), int(stream)])


def make_scans(
    meshes: Sequence[tuple[str, trimesh.Trimesh]],
    seed: int,
    skipped: list[tuple[str, str]] | None = None,
    **scan_kwargs: Any,
) -> list[Scan]:
    """One :func:`scan_object` per ``(name, mesh)``, each from its own stream :func:`object_rng` ``(seed, name)``
    (an object's scan depends only on the seed and its name, not on the other objects); ``scan_kwargs`` go to
    :func:`scan_object`. Meshes that cannot be scanned (:class:`ScanError`) are left out and, when ``skipped`` is
    a list, ``(name, reason)`` is appended to it."""
    scans = []
    for name, mesh in meshes:
        rng = object_rng(seed, name)
        try:
            scans.append(scan_object(mesh, rng, name=name, **scan_kwargs))
        except ScanError as exc:
            if skipped is not None:
                skipped.append((name, str(exc)))
    return scans


# ------------------------------------------------------------------------------------------------ metrics


@dataclass(frozen=True)
class IoUSamples:
    """Uniform points of the IoU cube with the ground truth's occupancy: ``points (M, 3) float64`` (the mesh's
    units), ``occupancy (M,) bool``; the cube's ``centre (3,)`` and ``side``."""

    points: np.ndarray
    occupancy: np.ndarray
    centre: np.ndarray
    side: float


def iou_samples(gt_mesh: trimesh.Trimesh, rng: np.random.Generator | int | None, n_points: int = 100_000) -> IoUSamples:
    """``n_points`` uniform points in the cube centred on ``gt_mesh``'s bounding-box centre with side
    :data:`IOU_PADDING` x its longest edge, labelled with :func:`implicit3d.geometry.inside.inside` (robust for
    meshes with holes). Raises ``ValueError`` for a degenerate mesh or when no sample falls inside it."""
    from implicit3d.geometry.inside import inside

    if isinstance(n_points, bool) or int(n_points) != n_points or n_points < 1:
        raise ValueError(f"n_points must be a positive integer, got {n_points!r}")
    vertices, faces = as_mesh_arrays(gt_mesh, "gt_mesh")
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    side = float((hi - lo).max()) * IOU_PADDING
    if not side > 0:
        raise ValueError("gt_mesh has a zero-size bounding box")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    centre = (lo + hi) / 2.0
    pts = centre + rng.uniform(-side / 2.0, side / 2.0, (int(n_points), 3))
    occ = np.asarray(inside((vertices, faces), pts), dtype=bool)
    if not occ.any():
        raise ValueError(f"gt_mesh encloses none of the {n_points} IoU samples: it bounds no volume")
    return IoUSamples(pts, occ, centre, side)


OccupancyFn = Callable[[np.ndarray], Any]


def prediction_occupancy(pred: trimesh.Trimesh | OccupancyFn | None, points: np.ndarray) -> np.ndarray:
    """``(M,) bool`` occupancy of a prediction at ``points (M, 3)`` (a mesh: its inside test; a function: its
    value, > 0.5 = inside); an empty or missing mesh is all outside."""
    from implicit3d.evaluation.metrics import mesh_inside

    if pred is None:
        return np.zeros(len(points), bool)
    if isinstance(pred, trimesh.Trimesh):
        if len(pred.faces) == 0 or len(pred.vertices) == 0:
            return np.zeros(len(points), bool)
        return mesh_inside(pred, points)
    if callable(pred):
        occ = np.asarray(pred(points))
        if occ.shape != (len(points),):
            raise ValueError(f"the occupancy function must return shape ({len(points)},), got {occ.shape}")
        return occ if occ.dtype == bool else occ > 0.5
    raise TypeError(f"pred must be a trimesh.Trimesh, an occupancy function or None, got {type(pred).__name__}")


def scan_iou(
    pred: trimesh.Trimesh | OccupancyFn | None,
    gt: trimesh.Trimesh | IoUSamples,
    rng: np.random.Generator | int | None = None,
    n_points: int = 100_000,
) -> float:
    """Volumetric IoU in [0, 1] of ``pred`` against the ground truth.

    ``pred``: a mesh (occupancy by :func:`implicit3d.geometry.inside.inside`), or a function mapping ``(M, 3)
    float64`` points (the ground truth's frame and units) to ``(M,)`` bools or probabilities (> 0.5 = inside);
    an empty mesh or ``None`` scores 0. ``gt``: the ground-truth mesh (``n_points`` samples are drawn with ``rng``,
    see :func:`iou_samples`) or samples from :func:`iou_samples`, to score several predictions on the same points.
    """
    samples = gt if isinstance(gt, IoUSamples) else iou_samples(gt, rng, n_points)
    return scan_overlap(pred, samples)["iou"]


def scan_overlap(pred: trimesh.Trimesh | OccupancyFn | None, samples: IoUSamples) -> dict[str, float]:
    """Volumetric ``iou``, ``precision`` (share of the predicted volume that is inside the ground truth: low =
    completed too much) and ``recall`` (share of the ground truth's volume predicted: low = completed too little),
    each in [0, 1], of ``pred`` (as in :func:`scan_iou`) on the points of ``samples``
    (:func:`implicit3d.evaluation.metrics.volume_overlap`). An empty prediction has precision 0."""
    from implicit3d.evaluation.metrics import volume_overlap

    return volume_overlap(prediction_occupancy(pred, samples.points), samples.occupancy)


def _chamfer_mm(pred: trimesh.Trimesh | None, gt_points: np.ndarray, rng: np.random.Generator, n: int) -> float:
    """Chamfer-L1 ((accuracy + completeness) / 2) in millimetres between ``pred`` and GT surface samples."""
    from implicit3d.evaluation.metrics import point_metrics
    from implicit3d.geometry.sampling import sample_surface

    if pred is None or len(pred.faces) == 0 or not float(pred.area) > 0:
        pts = np.zeros((0, 3))
    else:
        pts, _ = sample_surface(pred, n, rng)
    return 1000.0 * point_metrics(pts, gt_points)["chamfer_l1"]


def complete_with_hull(
    cloud: np.ndarray,
    row: dict[str, Any],
    model: Any,
    meta: dict[str, Any] | None,
    *,
    resolution: int,
    up: Any,
    seed: int,
    device: str | None,
    turns: int | None,
) -> tuple[trimesh.Trimesh | None, trimesh.Trimesh | None]:
    """The model's completion of a camera-frame ``cloud (N, 3)`` (viewpoint the origin) and the convex hull of the same
    points, each timed into ``row`` (``seconds``, ``hull_seconds``; the completion's ``undecided_ratio``,
    :mod:`implicit3d.extraction.confidence`, or ``None``); a failure leaves ``None`` and its message in
    ``row["error"]`` / ``row["hull_error"]``."""
    from implicit3d.completion import complete_points
    from implicit3d.evaluation.baselines import convex_hull

    pred: trimesh.Trimesh | None = None
    t0 = time.perf_counter()
    try:
        pred = complete_points(
            cloud, model, meta, resolution=int(resolution), up=up, seed=int(seed),
            viewpoint=np.zeros(3), device=device, turns=turns,
        ).mesh
    except (UserError, ValueError) as exc:
        row["error"] = str(exc)
    row["seconds"] = time.perf_counter() - t0
    row["undecided_ratio"] = None if pred is None else pred.metadata.get("extraction", {}).get("undecided_ratio")
    hull: trimesh.Trimesh | None = None
    t0 = time.perf_counter()
    try:
        hull = convex_hull(as_points(cloud))
    except ValueError as exc:
        row["hull_error"] = str(exc)
    row["hull_seconds"] = time.perf_counter() - t0
    return pred, hull


def evaluate_scans(
    model: Any,
    meta: dict[str, Any] | None,
    scans: Sequence[Scan],
    resolution: int = 128,
    up: Any = "-y",
    n_points: int = 100_000,
    seed: int = 0,
    chamfer_points: int = 30_000,
    device: str | None = None,
    turns: int | None = None,
) -> list[dict[str, Any]]:
    """Complete every scan with ``model`` and score it beside the convex hull of the observed cloud.

    Completion: :func:`implicit3d.completion.complete_points` of ``scan.cloud`` with ``viewpoint`` the origin,
    ``up`` (default ``-y``: a level OpenCV camera; the objects are randomly rotated, so no direction is truly up),
    ``resolution``, ``seed`` and ``turns`` (test-time turned copies; default: the model's); its mesh is in the
    camera frame. Both predictions are scored on the same ``n_points`` IoU samples (:func:`iou_samples`, stream
    ``object_rng(seed, name, 1)``). Returns one dict per scan: ``name``, ``n_points`` (observed), ``size_m``,
    ``distance_m``, ``model_iou``, ``hull_iou``, ``model_precision`` / ``model_recall`` / ``hull_precision`` /
    ``hull_recall`` (:func:`scan_overlap`), ``seconds`` (completion), ``hull_seconds``, and with
    ``chamfer_points > 0`` ``model_chamfer_mm`` / ``hull_chamfer_mm`` (Chamfer-L1, millimetres, that many surface
    samples each); ``error`` / ``hull_error`` hold the message when a prediction failed (it then scores IoU 0).
    """
    from implicit3d.geometry.sampling import sample_surface

    if isinstance(resolution, bool) or int(resolution) != resolution or resolution < 2:
        raise ValueError(f"resolution must be an integer >= 2, got {resolution!r}")
    if int(chamfer_points) != chamfer_points or chamfer_points < 0:
        raise ValueError(f"chamfer_points must be a non-negative integer, got {chamfer_points!r}")
    rows: list[dict[str, Any]] = []
    for i, scan in enumerate(scans):
        if not isinstance(scan, Scan):
            raise TypeError(f"scans[{i}] must be a Scan, got {type(scan).__name__}")
        rng = object_rng(seed, scan.name, 1)
        samples = iou_samples(scan.mesh, rng, n_points)
        row: dict[str, Any] = {
            "name": scan.name,
            "n_points": int(len(scan.cloud)),
            "size_m": float(scan.size_m),
            "distance_m": float(scan.distance_m),
        }
        pred, hull = complete_with_hull(
            scan.cloud, row, model, meta, resolution=resolution, up=up, seed=seed, device=device, turns=turns
        )
        for key, prediction in (("model", pred), ("hull", hull)):
            overlap = scan_overlap(prediction, samples)
            for measure in ("iou", "precision", "recall"):
                row[f"{key}_{measure}"] = overlap[measure]
        if chamfer_points:
            gt_pts, _ = sample_surface(scan.mesh, int(chamfer_points), rng)
            row["model_chamfer_mm"] = _chamfer_mm(pred, gt_pts, rng, int(chamfer_points))
            row["hull_chamfer_mm"] = _chamfer_mm(hull, gt_pts, rng, int(chamfer_points))
        rows.append(row)
    return rows
