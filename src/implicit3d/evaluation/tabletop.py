"""Simulated tabletop scenes with ground truth, and how well :func:`implicit3d.scene.complete_scene` does on them.

:func:`make_tabletop_scene` sets 2–5 meshes down on a table (each upright or in one of its resting poses, random
yaw, not overlapping), renders one depth frame from a robot's viewpoint with the project's rasterizer and a sensor
noise preset, and returns the frame with the objects' ground truth in the camera frame. :func:`score_scene` matches
the completed objects to the true ones by their pixels and measures: objects found, extra objects, volumetric IoU per
object, and the share of completed vertices more than 5 mm below the table; :func:`box_error` compares an object's
box standing on the table with the true one's. :func:`score_segmentation` scores an
instance label image alone (found whole, merged, split, extra). ``touching=True`` pushes the objects together, as in
clutter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import trimesh

from implicit3d.sensing.camera import Intrinsics

TABLE_SIZE = (1.4, 1.0, 0.04)  #: the simulated table top (metres): x, y extent and thickness; its top is z = 0
BELOW_TOLERANCE = 0.005  #: completed vertices further below the table than this count as piercing it (metres)


@dataclass
class TabletopScene:
    """One simulated frame: ``depth (H, W)`` metres after noise, ``intrinsics``, ``cam_to_world (4, 4)``, the true
    ``labels (H, W)`` (0: table/background, k: object k), the objects' ``meshes`` in the camera frame and ``names``,
    and the table plane in the camera frame (``normal (3,)``, ``d``)."""

    depth: np.ndarray
    intrinsics: Intrinsics
    cam_to_world: np.ndarray
    labels: np.ndarray
    meshes: list[trimesh.Trimesh]
    names: list[str]
    plane_normal: np.ndarray
    plane_d: float


def _place(meshes: list[trimesh.Trimesh], rng: np.random.Generator, spread: float,
           touching: bool = False) -> list[trimesh.Trimesh] | None:
    """The meshes set down on z = 0 at random non-overlapping places within ``spread`` of the origin (or None).
    ``touching``: each mesh after the first is pushed against one placed before (:func:`_push_against`)."""
    from implicit3d.geometry.transforms import resting_rotation, stable_rotations

    placed, circles = [], []
    for mesh in meshes:
        rot = resting_rotation(rng, stable_rotations(mesh))
        v = np.asarray(mesh.vertices) @ rot.T
        v -= np.array([*(v[:, :2].min(axis=0) + v[:, :2].max(axis=0)) / 2.0, v[:, 2].min()])
        radius = float(np.linalg.norm(v[:, :2], axis=1).max())
        if touching and placed:
            pushed = _push_against(trimesh.Trimesh(v, mesh.faces, process=False), placed, circles, rng)
            if pushed is None:
                return None
            xy = pushed
        else:
            for _ in range(200):
                xy = rng.uniform(-spread, spread, 2)
                if all(np.linalg.norm(xy - c) > radius + r + 0.01 for c, r in circles):
                    break
            else:
                return None
        circles.append((xy, radius))
        placed.append(trimesh.Trimesh(v + np.array([xy[0], xy[1], 0.0]), mesh.faces, process=False))
    return placed


def _plan_points(mesh: trimesh.Trimesh, n: int = 4000) -> np.ndarray:
    """``(n + V, 2)`` plan-view (x, y) points of ``mesh``: its vertices and ``n`` surface samples (seeded: the same
    mesh gives the same points)."""
    samples, _ = trimesh.sample.sample_surface(mesh, n, seed=0)
    return np.vstack([np.asarray(mesh.vertices)[:, :2], np.asarray(samples)[:, :2]])


def _plan_outline(points: np.ndarray, spacing: float) -> np.ndarray:
    """Points ``(M, 2)`` every ``spacing`` metres along the convex hull of ``points (N, 2)``: what of a mesh's plan
    view can first meet another's as it slides in (a concave side stays a little apart)."""
    from scipy.spatial import ConvexHull

    corners = points[ConvexHull(points).vertices]
    edges = np.roll(corners, -1, axis=0) - corners
    out = [corners]
    for start, edge in zip(corners, edges, strict=True):
        n = int(np.ceil(np.linalg.norm(edge) / spacing))
        out.append(start + np.outer(np.arange(1, n) / n, edge))
    return np.vstack(out)


def _push_against(mesh: trimesh.Trimesh, placed: list[trimesh.Trimesh], circles: list[tuple[np.ndarray, float]],
                  rng: np.random.Generator, contact: float = 0.003, step: float = 0.002) -> np.ndarray | None:
    """The (x, y) offset that sets ``mesh`` (centred on the origin, resting on z = 0) against one of the ``placed``
    meshes: from a random side of a random one it slides in by ``step`` metres, from where the bounding circles are
    1 cm apart, until the convex outline of its plan view (:func:`_plan_outline`) comes within ``contact`` metres of
    any placed mesh's plan view (for upright convex objects: touching, or nearly, where they are widest). A start
    that already meets another mesh is drawn again (None after 50 such draws)."""
    from scipy.spatial import cKDTree

    tree = cKDTree(np.vstack([_plan_points(p) for p in placed]))
    mine = _plan_outline(_plan_points(mesh), step)
    radius = float(np.linalg.norm(np.asarray(mesh.vertices)[:, :2], axis=1).max())
    for _ in range(50):
        centre, other = circles[int(rng.integers(len(placed)))]
        angle = rng.uniform(0.0, 2.0 * np.pi)
        direction = np.array([np.cos(angle), np.sin(angle)])
        xy = centre + direction * (radius + other + 0.01)
        if tree.query(mine + xy, k=1)[0].min() < contact:
            continue  # its start meets a third mesh
        for dist in np.arange(radius + other + 0.01 - step, 0.0, -step):
            candidate = centre + direction * dist
            if tree.query(mine + candidate, k=1)[0].min() < contact:
                break
            xy = candidate
        return xy
    return None


def table_mesh(size: tuple[float, float, float] = TABLE_SIZE) -> trimesh.Trimesh:
    """The table as a box of ``size`` (x, y extent and thickness, metres) centred on the z axis, its top at z = 0,
    cut into triangles of at most 5 cm (needed before the rasterizer clipped triangles at the near plane; kept so
    that the benchmark's frames stay what they were)."""
    table = trimesh.creation.box(size)
    table.apply_translation([0.0, 0.0, -size[2] / 2.0])
    return trimesh.Trimesh(*trimesh.remesh.subdivide_to_size(table.vertices, table.faces, 0.05), process=False)


def make_tabletop_scene(
    objects: list[tuple[str, trimesh.Trimesh]],
    rng: np.random.Generator,
    intrinsics: Intrinsics | None = None,
    distance: tuple[float, float] = (0.5, 1.0),
    elevation_deg: tuple[float, float] = (30.0, 70.0),
    noise: str = "realsense_d435",
    spread: float = 0.22,
    touching: bool = False,
) -> TabletopScene:
    """A depth frame of ``objects`` (``(name, mesh in metres)``) resting on a table, seen from a random robot
    viewpoint (``distance`` from the table centre, ``elevation_deg`` above it, any azimuth). ``touching``: each
    object after the first is pushed against one set down before, as in clutter (else they stand at least 1 cm
    apart, by their bounding circles)."""
    intr = intrinsics or Intrinsics(fx=525.0, fy=525.0, cx=319.5, cy=239.5, width=640, height=480)
    for _ in range(20):
        placed = _place([m for _, m in objects], rng, spread, touching)
        if placed is not None:
            break
    else:
        raise ValueError(f"cannot place {len(objects)} objects within {spread} m without overlap")
    return _render_scene([table_mesh()], placed, [n for n, _ in objects], rng, intr, distance, elevation_deg, noise,
                         0.05)


def _render_scene(support: list[trimesh.Trimesh], placed: list[trimesh.Trimesh], names: list[str],
                  rng: np.random.Generator, intr: Intrinsics, distance: tuple[float, float],
                  elevation_deg: tuple[float, float], noise: str, target_z: float) -> TabletopScene:
    """One frame of the ``placed`` meshes (world frame, the support's top at z = 0) on the ``support`` meshes
    (label 0), seen from a random viewpoint ``distance`` from ``(0, 0, target_z)`` at ``elevation_deg``, any
    azimuth, with ``noise``."""
    from implicit3d.sensing.camera import look_at
    from implicit3d.sensing.noise import noise_preset
    from implicit3d.sensing.render import render

    parts = [*support, *placed]
    offsets = np.cumsum([0] + [len(p.vertices) for p in parts])
    vertices = np.vstack([p.vertices for p in parts])
    faces = np.vstack([p.faces + o for p, o in zip(parts, offsets[:-1], strict=True)])
    face_owner = np.concatenate([np.full(len(p.faces), max(0, k - len(support) + 1)) for k, p in enumerate(parts)])
    d = rng.uniform(*distance)
    el, az = np.radians(rng.uniform(*elevation_deg)), rng.uniform(0.0, 2.0 * np.pi)
    eye = d * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    cam = look_at(eye, (0.0, 0.0, target_z))
    res = render((vertices, faces), intr, cam, return_faces=True)
    depth = noise_preset(noise).apply(res.depth, rng, normals=res.normals_cam, intrinsics=intr)
    labels = np.where(res.face_index >= 0, face_owner[np.maximum(res.face_index, 0)], 0).astype(np.int32)
    labels[depth <= 0] = 0
    world_to_cam = np.linalg.inv(cam)
    meshes = [trimesh.Trimesh(np.asarray(p.vertices) @ world_to_cam[:3, :3].T + world_to_cam[:3, 3], p.faces,
                              process=False) for p in placed]
    normal = world_to_cam[:3, :3] @ np.array([0.0, 0.0, 1.0])
    plane_d = -float(normal @ world_to_cam[:3, 3])
    return TabletopScene(depth.astype(np.float64), intr, cam, labels, meshes, names, normal, plane_d)


def make_tote_scene(
    objects: list[tuple[str, trimesh.Trimesh]],
    rng: np.random.Generator,
    intrinsics: Intrinsics | None = None,
    size: tuple[float, float, float] = (0.6, 0.4, 0.15),
    distance: tuple[float, float] = (0.6, 0.9),
    elevation_deg: tuple[float, float] = (50.0, 80.0),
    noise: str = "realsense_d435",
) -> TabletopScene:
    """A depth frame of ``objects`` (``(name, mesh in metres)``) in a tote — a floor of ``size[:2]`` metres with
    walls ``size[2]`` high and 1 cm thick — each set down (upright or in a resting pose, random yaw) against one of
    its walls at a random place along it, as in a bin a robot picks from; seen from above (``elevation_deg``) from
    any side. The support plane is the tote's floor. Raises ``ValueError`` when the objects do not fit."""
    from implicit3d.geometry.transforms import resting_rotation, stable_rotations

    intr = intrinsics or Intrinsics(fx=525.0, fy=525.0, cx=319.5, cy=239.5, width=640, height=480)
    lx, ly, lz = (float(v) for v in size)
    walls = []
    for box, pos in (((lx, 0.01, lz), (0.0, ly / 2 + 0.005, lz / 2)), ((lx, 0.01, lz), (0.0, -ly / 2 - 0.005, lz / 2)),
                     ((0.01, ly, lz), (lx / 2 + 0.005, 0.0, lz / 2)), ((0.01, ly, lz), (-lx / 2 - 0.005, 0.0, lz / 2))):
        wall = trimesh.creation.box(box)
        wall.apply_translation(pos)
        walls.append(wall)
    for _attempt in range(20):
        placed, circles = [], []
        for _name, mesh in objects:
            v = np.asarray(mesh.vertices) @ resting_rotation(rng, stable_rotations(mesh)).T
            v -= np.array([*(v[:, :2].min(axis=0) + v[:, :2].max(axis=0)) / 2.0, v[:, 2].min()])
            half = np.ptp(v[:, :2], axis=0) / 2.0
            radius = float(np.linalg.norm(v[:, :2], axis=1).max())
            if np.any(half >= np.array([lx, ly]) / 2.0):
                raise ValueError(f"an object of {2 * half[0]:.2f} x {2 * half[1]:.2f} m does not fit a {lx} x {ly} m "
                                 "tote")
            for _try in range(50):
                side = int(rng.integers(4))
                axis, sign = (1, 1.0 if side == 0 else -1.0) if side < 2 else (0, 1.0 if side == 2 else -1.0)
                xy = np.zeros(2)
                xy[axis] = sign * ([lx, ly][axis] / 2.0 - half[axis] - 0.001)
                other = 1 - axis
                xy[other] = rng.uniform(-1.0, 1.0) * ([lx, ly][other] / 2.0 - half[other])
                if all(np.linalg.norm(xy - c) > radius + r + 0.005 for c, r in circles):
                    break
            else:
                break
            circles.append((xy, radius))
            placed.append(trimesh.Trimesh(v + np.array([xy[0], xy[1], 0.0]), mesh.faces, process=False))
        if len(placed) == len(objects):
            break
    else:
        raise ValueError(f"cannot set {len(objects)} objects against the walls of a {lx} x {ly} m tote")
    floor = table_mesh((lx, ly, 0.02))
    return _render_scene([floor, *walls], placed, [n for n, _ in objects], rng, intr, distance, elevation_deg, noise,
                         0.03)


def score_scene(scene: TabletopScene, result: Any, rng: np.random.Generator, n_samples: int = 30_000,
                min_visible: int = 150) -> dict[str, Any]:
    """Match ``result`` (:class:`implicit3d.scene.SceneResult`) to ``scene``'s objects and score it.

    A true object counts as visible with at least ``min_visible`` labelled pixels; it is found when a completed
    object holds at least 30 % of those pixels (the best such one is its match; ``merged`` counts the true objects
    whose match is also another's). Returns ``{"visible", "found", "extra", "merged", "ious": [...], "names":
    [...], "matched": [...], "surface_distance": [...], "boxes": [...], "below_share", "seconds"}`` (per visible
    object its IoU, name, matched :class:`implicit3d.scene.CompletedObject` or ``None``, the distance ``(V,)`` in
    metres of each of that completion's vertices to the true surface, or ``None``, and the :func:`box_error` of the
    completion's box standing on the fitted plane against the true object's on the true table, or ``None``) with
    ``below_share`` the share of all completed vertices more than :data:`BELOW_TOLERANCE` below the true table.
    """
    from implicit3d.evaluation.scans import iou_samples, scan_iou
    from implicit3d.geometry.boxes import upright_box
    from implicit3d.geometry.distance import unsigned_distance

    visible = [k for k in range(1, len(scene.meshes) + 1) if (scene.labels == k).sum() >= min_visible]
    pred = result.labels
    matched: dict[int, int] = {}
    for k in visible:
        gt = scene.labels == k
        ids, counts = np.unique(pred[gt & (pred > 0)], return_counts=True)
        if len(ids) and counts.max() >= 0.3 * gt.sum():
            matched[k] = int(ids[np.argmax(counts)])
    used = set(matched.values())
    extra = sum(1 for o in result.objects if o.label not in used)
    shared = [label for label in used if sum(v == label for v in matched.values()) > 1]
    merged = sum(1 for v in matched.values() if v in shared)
    ious, names, objects, distances, boxes = [], [], [], [], []
    by_label = {o.label: o for o in result.objects}
    for k in visible:
        names.append(scene.names[k - 1])
        obj = by_label[matched[k]] if k in matched else None
        objects.append(obj)
        distances.append(None if obj is None else unsigned_distance(scene.meshes[k - 1], obj.mesh.vertices))
        found_box = obj is not None and result.plane is not None and len(obj.mesh.vertices) > 0
        boxes.append(box_error(upright_box(scene.meshes[k - 1].vertices, scene.plane_normal),
                               upright_box(obj.mesh.vertices, result.plane.normal)) if found_box else None)
        if obj is None:
            ious.append(0.0)
            continue
        samples = iou_samples(scene.meshes[k - 1], rng, n_samples)
        ious.append(float(scan_iou(obj.mesh, samples)))
    verts = [np.asarray(o.mesh.vertices) for o in result.objects if len(o.mesh.vertices)]
    allv = np.vstack(verts) if verts else np.zeros((0, 3))
    below = allv @ scene.plane_normal + scene.plane_d < -BELOW_TOLERANCE
    return {"visible": len(visible), "found": len(matched), "extra": extra, "merged": merged, "ious": ious,
            "names": names, "matched": objects, "surface_distance": distances, "boxes": boxes,
            "below_share": float(below.mean()) if len(allv) else 0.0, "seconds": result.seconds.get("total")}


SQUARE_FOOTPRINT = 0.9  #: a footprint whose width is this share of its length or more has no defined length axis


def box_error(truth: Any, pred: Any) -> dict[str, float | None]:
    """How far the upright box ``pred`` (:class:`implicit3d.geometry.boxes.UprightBox`) is from the true object's
    ``truth``, both standing on the same plane: ``center`` (metres, the centres' distance), ``length``, ``width``,
    ``height`` (metres, signed: predicted minus true) and ``yaw`` (degrees, the angle between the length axes within
    the table plane, 0-90; ``None`` when the true footprint is near-square (:data:`SQUARE_FOOTPRINT`: a can, a
    cube), whose length axis is arbitrary; modulo 90, so at most 45, when only the predicted one is)."""
    diff = np.asarray(pred.size, dtype=np.float64) - np.asarray(truth.size, dtype=np.float64)
    up = np.asarray(truth.rotation, dtype=np.float64)[:, 2]
    a = np.asarray(truth.rotation, dtype=np.float64)[:, 0]
    b = np.asarray(pred.rotation, dtype=np.float64)[:, 0]
    b = b - (b @ up) * up  # onto the true plane
    angle: float | None = float(np.degrees(np.arctan2(abs(np.cross(a, b) @ up), a @ b))) % 180.0
    angle = min(angle, 180.0 - angle)
    if truth.size[1] >= SQUARE_FOOTPRINT * truth.size[0]:
        angle = None
    elif pred.size[1] >= SQUARE_FOOTPRINT * pred.size[0]:
        angle = min(angle, 90.0 - angle)
    return {"center": float(np.linalg.norm(np.asarray(pred.center) - np.asarray(truth.center))),
            "length": float(diff[0]), "width": float(diff[1]), "height": float(diff[2]), "yaw": angle}


def score_segmentation(truth: np.ndarray, pred: np.ndarray, min_visible: int = 150) -> dict[str, int]:
    """Counts of a predicted instance image ``pred (H, W) int`` against the true one ``truth (H, W) int`` (0: no
    object): true objects ``visible`` (at least ``min_visible`` pixels), ``found`` (one predicted object holds most
    of its pixels and is mostly made of them), ``merged`` (its best predicted object also holds 30 % of another
    visible object's pixels), ``split`` (two or more predicted objects hold 20 % of its pixels each), and ``extra``
    predicted objects (30 % of no visible true object)."""
    ids = [k for k in np.unique(truth) if k > 0 and (truth == k).sum() >= min_visible]
    n_pred = int(pred.max())
    overlap = np.zeros((int(truth.max()) + 1, n_pred + 1), dtype=np.int64)
    np.add.at(overlap, (truth.ravel(), pred.ravel()), 1)
    pred_sizes = overlap.sum(axis=0)
    found = merged = split = 0
    for k in ids:
        row = overlap[k, 1:]
        size = int((truth == k).sum())
        if row.sum() == 0:
            continue
        best = int(np.argmax(row)) + 1
        if row[best - 1] > 0.5 * size and row[best - 1] > 0.5 * pred_sizes[best]:
            found += 1
        if any(overlap[j, best] >= 0.3 * (truth == j).sum() for j in ids if j != k):
            merged += 1
        if (row >= 0.2 * size).sum() >= 2:
            split += 1
    extra = sum(1 for p in range(1, n_pred + 1)
                if not any(overlap[k, p] >= 0.3 * (truth == k).sum() for k in ids))
    return {"visible": len(ids), "found": found, "merged": merged, "split": split, "extra": extra}
