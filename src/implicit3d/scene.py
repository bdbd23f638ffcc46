"""Tabletop scenes: from one raw depth frame to every object on the support, completed, in the camera frame.

:func:`complete_scene` runs the whole pipeline on a depth image ``(H, W)`` in metres and its intrinsics:

1. **Support plane** (:mod:`implicit3d.sensing.segment`): RANSAC + least squares; points on and below it are dropped,
   and only what stands over the table region is kept. No plane: :class:`~implicit3d.sensing.segment.NoPlaneError`
   (``no_plane=True`` completes every cluster of the frame instead, without table evidence).
2. **Objects**: depth-edge and crease aware connected components (or an instance ``labels`` image); clusters too
   small, too large, flat, floating or wall-like are reported with the reason and skipped.
3. **Completion** of each object by a model (default: a bundled tabletop model, trained on objects resting on a
   table in the gravity-aligned frame whose up is the plane's normal, where one ships — none does yet; else the
   any-orientation bundled model), in its input contract's frame (:mod:`implicit3d.geometry.frames`).
4. **The table as evidence**: nothing is completed below the plane, and an object that rests on it (its lowest
   observed point within ``rest_gap`` of it, or seen from straight above with the support below it hidden behind
   itself) is extended straight down to it, so its mesh closes on the plane.
5. **Uncertainty**: the object is completed from ``copies`` copies of its input (turned copies for models trained
   on turned inputs, otherwise the input and its mirror image) and the mesh is the surface of their mean occupancy.
   Each vertex carries its **softness** (:func:`implicit3d.extraction.confidence.surface_softness`): one minus the
   drop of that occupancy across the surface there, 0 where the field is sharp (a decided surface), 1 where it
   hardly changes (a guess); and its **uncertainty**: the softness scaled down within ``guess_distance`` of the
   measured points (:func:`~implicit3d.extraction.confidence.unseen_softness`), 0 on the surface the sensor saw;
   uncertain vertices lie further from the true surface. The share of the surface that was
   observed (within ``seen_distance`` of a measured point) is reported. Per object, the **undecided ratio** of the
   mean occupancy (its volume between 0.1 and 0.9 over its completed volume) says how far to trust the completion:
   it ranks objects by their IoU (``benchmarks/bench_tabletop.py``, docs/scene.md).

:func:`write_scene` writes ``object_NN.ply`` (vertex attribute ``uncertainty``, colours from it), ``scene.json``,
``scene.glb`` (objects and the table patch) and, optionally, an interactive figure.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import trimesh

from implicit3d.errors import UserError
from implicit3d.geometry.frames import ModelFrame, subsample_indices
from implicit3d.sensing.camera import Intrinsics
from implicit3d.sensing.segment import Plane, Segmentation, SegmentSettings

TABLETOP_WEIGHTS = "tabletop"  #: the bundled model for objects on a support plane (weights/tabletop.*)
MIRROR = np.diag([-1.0, 1.0, 1.0])  #: mirror image across the model frame's y-z plane (keeps up and the sensor)


@dataclass
class SceneSettings:
    """Knobs of :func:`complete_scene` (defaults for a 640x480 frame of objects 3–60 cm tall at 0.3–2 m)."""

    segment: SegmentSettings = field(default_factory=SegmentSettings)  #: plane and segmentation (min_points scaled
    #: with the image area relative to 640x480)
    rest_gap: float = 0.03  #: an object whose lowest point is this close to the plane rests on it (metres)
    resolution: int = 64  #: extraction grid cells per axis (MISE)
    threshold: float = 0.5  #: occupancy probability of the surface (of the copies' mean)
    copies: int = 2  #: copies of each input completed (turned, or mirrored) and averaged
    seen_distance: float = 0.006  #: a completed surface point this close to a measured point counts as observed
    guess_distance: float = 0.012  #: a vertex's uncertainty is its full softness this far (metres) from every
    #: measured point, linearly less nearer, 0 on them (:func:`implicit3d.extraction.confidence.unseen_softness`)
    bf16: bool = False  #: complete under bf16 autocast (faster on a CPU with native bf16; README, Performance)
    max_pixels: int = 2 * 640 * 480  #: larger frames are segmented at a pixel stride (every k-th row and column,
    #: the smallest k that brings them under this; labels and pixels are given back at full size); 0: never
    seed: int = 0


def processing_stride(shape: tuple[int, int], max_pixels: int) -> int:
    """The smallest pixel stride ``k`` with ``ceil(H / k) * ceil(W / k) <= max_pixels`` for an image of ``shape (H,
    W)`` (1 when it fits, or ``max_pixels`` is 0)."""
    h, w = int(shape[0]), int(shape[1])
    k = 1
    while max_pixels > 0 and -(-h // k) * -(-w // k) > max_pixels:
        k += 1
    return k


@dataclass
class CompletedObject:
    """One object of a scene: ``mesh`` (camera frame, metres; ``vertex_attributes["uncertainty"]`` and
    ``["softness"]``), its observed ``points (N, 3)`` and their ``pixels (N, 2) (row, column)``, its ``label`` (the
    caller's instance id with a labels image, else 1, 2, ... by size), and what was measured of it: the share of its
    outline that the image border cuts (``border_share``) or that lies behind something nearer (``occluded_share``;
    :func:`implicit3d.sensing.segment.outline_view`) — where the object goes on out of view."""

    label: int
    points: np.ndarray
    pixels: np.ndarray
    mesh: trimesh.Trimesh
    rests_on_table: bool
    seconds: float
    border_share: float = 0.0
    occluded_share: float = 0.0

    @property
    def uncertainty(self) -> np.ndarray:
        """``(V,) float32`` each vertex's uncertainty in ``[0, 1]``: its softness, scaled down within
        ``guess_distance`` of the measured points (the mesh's vertex attribute ``uncertainty``)."""
        return self.mesh.vertex_attributes.get("uncertainty", np.zeros(len(self.mesh.vertices), dtype=np.float32))

    @property
    def undecided_ratio(self) -> float | None:
        """The undecided ratio of the copies' mean field (:mod:`implicit3d.extraction.confidence`), from the mesh's
        extraction metadata."""
        return self.mesh.metadata.get("extraction", {}).get("undecided_ratio")

    @property
    def centroid(self) -> np.ndarray:
        """``(3,)`` the centre of mass of the completed solid (uniform density; camera frame, metres), the mean of
        its vertices when the mesh is not watertight, the observed points' mean when it is empty."""
        if len(self.mesh.faces) and self.mesh.is_watertight and abs(float(self.mesh.volume)) > 0:
            return np.asarray(self.mesh.center_mass, dtype=np.float64)
        v = np.asarray(self.mesh.vertices)
        return v.mean(axis=0) if len(v) else np.asarray(self.points, dtype=np.float64).mean(axis=0)

    def summary(self, seen_distance: float | None = None, up: Any = None) -> dict[str, Any]:
        """What ``scene.json`` says of the object. ``up (3,)``: the support plane's normal, for ``"box"``: the
        smallest box around the completed mesh standing on the table (:func:`implicit3d.geometry.boxes.upright_box`:
        ``center``, ``size`` = length, width, height in metres, ``rotation`` whose columns are those axes in the
        camera frame); ``None`` without a plane."""
        from scipy.spatial import cKDTree

        from implicit3d.geometry.boxes import upright_box

        if seen_distance is None:
            seen_distance = SceneSettings().seen_distance

        v = np.asarray(self.mesh.vertices)
        seen = cKDTree(self.points).query(v, k=1)[0] < seen_distance if len(v) else np.zeros(0, bool)
        u = self.uncertainty
        lo, hi = (v.min(axis=0), v.max(axis=0)) if len(v) else (np.zeros(3), np.zeros(3))
        return {
            "observed_points": int(len(self.points)),
            "centroid": [float(c) for c in self.centroid],
            "bbox_min": [float(c) for c in lo],
            "bbox_max": [float(c) for c in hi],
            "box": upright_box(v, up).to_dict() if up is not None and len(v) else None,
            "volume_m3": float(self.mesh.volume) if self.mesh.is_watertight else None,
            "watertight": bool(self.mesh.is_watertight),
            "rests_on_table": self.rests_on_table,
            "uncertainty": {
                "mean": float(u.mean()) if len(u) else None,
                "p90": float(np.quantile(u, 0.9)) if len(u) else None,
                "uncertain_share": float(np.mean(u > 0.5)) if len(u) else None,
                "observed_surface_share": float(seen.mean()) if len(seen) else None,
                "undecided_ratio": self.undecided_ratio,
                "outline_at_image_border": self.border_share,
                "outline_behind_nearer": self.occluded_share,
            },
            "seconds": self.seconds,
        }


@dataclass
class SceneResult:
    """:func:`complete_scene`'s result: the support ``plane`` (``None`` with ``no_plane``), its
    ``table_outline (K, 3)``, the completed ``objects``, the ``skipped`` clusters, the ``labels (H, W) int32``
    image, the organized camera-frame cloud ``points_map (H, W, 3) float32`` (metres; float32 halves what a robot
    keeping results holds: 3.7 MB at 640×480) with its ``valid (H, W) bool`` pixels, and timings."""

    plane: Plane | None
    table_outline: np.ndarray | None
    objects: list[CompletedObject]
    skipped: list[dict[str, Any]]
    labels: np.ndarray
    points_map: np.ndarray
    valid: np.ndarray
    model: str
    seconds: dict[str, float] = field(default_factory=dict)
    settings: SceneSettings = field(default_factory=SceneSettings)


def load_scene_model(
    checkpoint: str | None = None, device: str = "cpu"
) -> tuple[torch.nn.Module, dict[str, Any], str]:
    """``(model, meta, name)``: ``checkpoint`` if given, else the bundled tabletop model, else the bundled one."""
    from implicit3d.training.weights import bundled_weights, load_model, load_weights_pair

    if checkpoint is not None:
        model, meta = load_model(checkpoint, device)
        return model, meta, str(checkpoint)
    found = bundled_weights(TABLETOP_WEIGHTS)
    if found is not None:
        model, meta = load_weights_pair(*found, device)
        return model, meta, "bundled tabletop model"
    model, meta = load_model(None, device)
    return model, meta, "bundled model"


def points_map_of(depth: np.ndarray, intrinsics: Intrinsics) -> tuple[np.ndarray, np.ndarray]:
    """``(points (H, W, 3) float64, valid (H, W) bool)``: the organized camera-frame cloud of a depth image."""
    d = np.asarray(depth, dtype=np.float64)
    valid = np.isfinite(d) & (d > 0)
    d = np.where(valid, d, 0.0)
    vv, uu = np.mgrid[: d.shape[0], : d.shape[1]]
    pts = np.stack([(uu - intrinsics.cx) / intrinsics.fx * d, (vv - intrinsics.cy) / intrinsics.fy * d, d], axis=2)
    return pts, valid


class _TableField:
    """A field in a reference model frame cut at the support plane: empty below it, and for an object resting on it
    the occupancy between the plane and ``floor`` metres above it is that at ``floor`` (extended straight down)."""

    def __init__(self, field: Any, frame: ModelFrame, plane: Plane | None, floor: float | None) -> None:
        self.field, self.frame, self.plane, self.floor = field, frame, plane, floor

    def lift(self, points_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(above (N,) bool, camera points lifted to the floor height)``."""
        if self.plane is None:
            return np.ones(len(points_cam), dtype=bool), points_cam
        h = self.plane.height(points_cam)
        x = points_cam.copy()
        if self.floor is not None:
            low = h < self.floor
            x[low] += (self.floor - h[low])[:, None] * self.plane.normal
        return h > 0, x

    def __call__(self, q: np.ndarray) -> np.ndarray:
        above, x = self.lift(self.frame.to_input(q))
        out = np.zeros(len(q), dtype=np.float64)
        if above.any():
            out[above] = self.field(self.frame.to_model(x[above]))
        return out


def _member_frames(points: np.ndarray, contract: Any, copies: int, up: Any) -> list[ModelFrame]:
    """The frames of the copies of one object's input: turned copies for models trained on turned inputs, else the
    input and its mirror image (a mirrored object is as plausible; up and the sensor's side are kept)."""
    from implicit3d.completion import turned_frames

    if contract.default_turns > 1:
        return turned_frames(points, contract, copies, up=up, viewpoint=np.zeros(3))
    f = turned_frames(points, contract, 1, up=up, viewpoint=np.zeros(3))[0]
    return [f, ModelFrame(MIRROR @ f.rotation, MIRROR @ f.loc, f.scale, f.padding)][:copies]


def complete_object(
    points: np.ndarray,
    model: torch.nn.Module,
    contract: Any,
    plane: Plane | None,
    settings: SceneSettings,
    device: str | None = None,
    rests: bool | None = None,
) -> tuple[trimesh.Trimesh, bool]:
    """``(mesh, rests on the table)`` of one object's camera-frame ``points (N, 3)`` (``rests``: whether it stands on
    the support, default: its lowest point within ``settings.rest_gap`` of it); the mesh's vertices carry their
    ``softness`` and their ``uncertainty`` (the softness scaled down near ``points``:
    :func:`~implicit3d.extraction.confidence.mark_unseen`) as vertex attributes, and colours from the uncertainty."""
    from implicit3d.extraction import MeanField, MeshGenerator, ModelField
    from implicit3d.extraction.confidence import mark_unseen

    if contract.pose == "gravity" and plane is None:
        raise UserError("this model completes objects in the support plane's gravity frame: it needs a plane "
                        "(use --checkpoint with an any-orientation model for --no-plane)")
    up = plane.normal if plane is not None else "-y"
    frames_k = _member_frames(points, contract, settings.copies, up)
    chosen = points[subsample_indices(np.random.default_rng(settings.seed), len(points), contract.n_inputs)]
    members = [ModelField(model, f.to_model(chosen).astype(np.float32), output="occupancy", device=device,
                          bf16=settings.bf16) for f in frames_k]
    ref = frames_k[0]
    maps = [None if f is ref else (lambda q, f=f: f.to_model(ref.to_input(q))) for f in frames_k]
    mean = MeanField(members, maps)
    floor = None
    if plane is not None:
        lowest = float(np.quantile(plane.height(points), 0.01))
        rests = lowest < settings.rest_gap if rests is None else bool(rests)
        floor = max(lowest, settings.segment.min_height) if rests else None  # seen down to `lowest`: extruded below
    else:
        rests = False
    table = _TableField(mean, ref, plane, floor)
    bounds, resolution = _resting_bounds(points, plane, ref, settings.resolution) if rests else (None, None)
    gen = MeshGenerator(kind="occupancy", threshold=settings.threshold, resolution=resolution or settings.resolution,
                        device=device, **({"bounds": bounds} if bounds is not None else {}))
    mesh = gen.extract(table, loc=ref.loc, scale=ref.scale, pose=ref.pose)
    if len(mesh.faces):
        mark_unseen(mesh, points, settings.guess_distance)  # MeshGenerator's uncertainty is the softness alone
        mesh.visual.vertex_colors = uncertainty_colors(mesh.vertex_attributes["uncertainty"])
    return mesh, rests


def _resting_bounds(
    points: np.ndarray, plane: Plane, ref: ModelFrame, resolution: int
) -> tuple[np.ndarray | None, int | None]:
    """``(bounds (2, 3), resolution)`` of the extraction grid (``ref``'s normalized frame) of an object resting on
    ``plane``, when the model cube does not reach down to the plane below its ``points (N, 3)`` (camera frame: an
    object seen from above, its sides hidden, whose extrusion to the table would be cut by the cube); the
    resolution grows with the grid so its cells keep their size. ``(None, None)`` when the cube reaches."""
    from implicit3d.extraction.dense import DEFAULT_BOUNDS

    cube = np.asarray(DEFAULT_BOUNDS, dtype=np.float64)
    feet = ref.to_model(points - plane.height(points)[:, None] * plane.normal)
    lo, hi = feet.min(axis=0), feet.max(axis=0)
    if np.all(lo >= cube[0]) and np.all(hi <= cube[1]):
        return None, None
    cell = (cube[1, 0] - cube[0, 0]) / resolution
    bounds = np.stack([np.minimum(cube[0], lo - 2 * cell), np.maximum(cube[1], hi + 2 * cell)])
    grown = int(np.ceil(float(np.ptp(bounds, axis=0).max()) / cell / 8.0)) * 8  # MISE-friendly: a multiple of 8
    return bounds, min(grown, 4 * resolution)


class NoSupportPlaneError(UserError):
    """A frame without a supporting plane (``no_plane=True`` completes every cluster instead)."""


class NoDepthError(UserError):
    """A frame with (almost) no valid depth: for a robot's loop, a sensor dropout (skip the frame), not a setup
    error."""


class NoObjectError(UserError):
    """A frame with nothing standing on its support plane: for a robot's loop, an empty table, not a failure.
    ``plane``: the support plane found (``None`` without one: ``no_plane``, or labels that hold no object);
    ``skipped``: the clusters skipped, as :attr:`SceneResult.skipped`."""

    def __init__(self, message: str, plane: Plane | None = None,
                 skipped: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.plane = plane
        self.skipped = list(skipped or [])


def uncertainty_colors(u: np.ndarray) -> np.ndarray:
    """``(N, 4) uint8`` colours of uncertainties in ``[0, 1]``: blue (a decided surface) to red (a guess)."""
    t = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)[:, None]
    blue, red = np.array([60, 110, 220]), np.array([220, 50, 40])
    rgb = (1 - t) * blue + t * red
    return np.concatenate([rgb, np.full((len(rgb), 1), 255)], axis=1).astype(np.uint8)


@dataclass
class SceneSegmentation:
    """What :func:`segment_scene` found in a frame: the support ``plane`` (``None`` with ``no_plane``), the table
    ``outline`` (``(K, 3)`` camera-frame polygon or ``None``), the :class:`Segmentation` (objects, skipped clusters,
    ``labels (H, W) int32``), the organized cloud ``points_map (H, W, 3)`` with its ``valid (H, W)`` pixels, and
    ``seconds`` per step."""

    plane: Plane | None
    outline: np.ndarray | None
    segmentation: Segmentation
    points_map: np.ndarray
    valid: np.ndarray
    seconds: dict[str, float]


#: metres the support plane's inliers must span (in the plane) at least: a smaller plane is an object's own face in
#: a frame without a table (a single object seen up close)
MIN_SUPPORT_EXTENT = 0.2


def check_intrinsics_size(shape: tuple[int, ...], intrinsics: Intrinsics, source: str = "the depth image") -> None:
    """:class:`UserError` unless ``intrinsics`` are for a depth image of ``shape`` ``(H, W)`` named ``source``."""
    h, w = shape[:2]
    if (h, w) != intrinsics.shape:
        raise UserError(f"{source} is {w}x{h} pixels but the intrinsics say {intrinsics.width}x{intrinsics.height}")


def check_labels(shape: tuple[int, ...], labels: Any, source: str = "the depth image",
                 labels_source: str = "the labels image") -> None:
    """:class:`UserError` unless the instance ``labels`` are an image of ``shape`` ``(H, W)`` (that of the depth
    image ``source``); :class:`NoObjectError` when they hold no object (no non-zero pixel: the segmenter found
    nothing, an empty table)."""
    h, w = shape[:2]
    lab = np.asarray(labels)
    if lab.shape != (h, w):
        size = f"{lab.shape[1]}x{lab.shape[0]} pixels" if lab.ndim == 2 else f"an array of shape {lab.shape}"
        raise UserError(f"{labels_source} is {size} but {source} is {w}x{h} pixels: labels are one (H, W) image "
                        "of instance ids")
    if lab.dtype != bool and not np.issubdtype(lab.dtype, np.integer):
        if not np.issubdtype(lab.dtype, np.floating):
            raise UserError(f"{labels_source} must hold whole-number instance ids (0 = background), got {lab.dtype}")
        bad = lab[~np.isfinite(lab) | (lab != np.round(lab))]
        if bad.size:
            raise UserError(f"{labels_source} must hold whole-number instance ids (0 = background), got {lab.dtype} "
                            f"values such as {float(bad.flat[0]):g}")
    if lab.size and lab.max() >= 2**31:
        raise UserError(f"{labels_source} holds ids up to {lab.max()}: instance ids must be below 2^31")
    if lab.size and lab.min() < 0:
        raise UserError(f"{labels_source} holds negative ids (down to {lab.min()}): instance ids are 0 (background) "
                        "and positive whole numbers")
    if not lab.any():
        raise NoObjectError(f"{labels_source}: the label image holds no object (every pixel is 0, the background)")


def segment_scene(
    depth: np.ndarray,
    intrinsics: Intrinsics,
    *,
    labels: np.ndarray | None = None,
    up: Any | None = None,
    no_plane: bool = False,
    settings: SceneSettings | None = None,
    source: str = "the depth image",
) -> SceneSegmentation:
    """The support plane and the objects on it of one depth frame ``depth (H, W)`` (metres, 0 = no data), without
    completing them (the first half of :func:`complete_scene`; arguments as there). Raises :class:`UserError` (one
    line) for a frame with no plane (unless ``no_plane``), no object, or labels / intrinsics of another size.
    A frame of more than ``settings.max_pixels`` pixels is segmented at a pixel stride k (:func:`processing_stride`:
    its plane and objects from every k-th row and column, the objects' points those pixels' points); the labels
    image, the objects' pixels and the organized cloud are given at the frame's own size."""
    from implicit3d.errors import warn_user
    from implicit3d.sensing.segment import (
        DOWN_IN_IMAGE,
        NoPlaneError,
        find_planes,
        find_support_plane,
        outline_view,
        segment_objects,
        table_region,
    )

    settings = settings or SceneSettings()
    depth = np.asarray(depth, dtype=np.float64)
    if depth.ndim == 3 and depth.shape[2] == 1:  # (H, W, 1), as image libraries give one channel
        depth = depth[..., 0]
    if depth.ndim != 2:
        raise UserError(f"{source} must be an (H, W) depth image in metres, got an array of shape {depth.shape}")
    check_intrinsics_size(depth.shape, intrinsics, source)
    if labels is not None:
        check_labels(depth.shape, labels, source)
    full_pm, full_valid = points_map_of(depth, intrinsics)
    if full_valid.sum() < 100:
        raise NoDepthError(f"{source} has {int(full_valid.sum())} valid depth pixels: too few for a scene")
    k = processing_stride(depth.shape, settings.max_pixels)
    pm, valid = full_pm[::k, ::k], full_valid[::k, ::k]
    full_labels = None if labels is None else np.asarray(labels)
    if full_labels is not None:
        labels = full_labels[::k, ::k]
    rng = np.random.default_rng(settings.seed)
    pts = pm[valid]
    t0 = time.perf_counter()
    plane, planes = None, []
    if not no_plane:
        threshold = settings.segment.plane_threshold
        planes = find_planes(pts, rng, threshold)
        # the largest plane facing down in the image (a back wall tilts by less) is ruled out as the support: a
        # camera upside down or rolled past 90 degrees, unless gravity's up is given
        upside_down = up is None and bool(planes) and planes[0].normal @ DOWN_IN_IMAGE > 0.5
        flip_hint = ("the largest plane faces down in the image and is not taken as the support: if the camera is "
                     "mounted upside down or rolled past 90 degrees, pass --up (up= in Python: gravity's up in the "
                     "camera frame, e.g. 0,1,0 upside down)")
        try:
            plane = find_support_plane(pts, rng, threshold, up=up, planes=planes)
        except NoPlaneError as exc:
            hint = f"; {flip_hint}" if upside_down else ""
            raise NoSupportPlaneError(f"{source}: {exc}{hint}; else pass --no-plane (no_plane=True) to complete every "
                                      "cluster of the frame") from None
        if upside_down and planes[0] is not plane and planes[0].inliers > 1.5 * plane.inliers:
            warn_user(f"{source}: {flip_hint}")  # no counts: one warning in a loop
    seconds = {"plane": time.perf_counter() - t0}
    t0 = time.perf_counter()
    min_points = max(20, int(settings.segment.min_points * valid.size / (640 * 480)))
    seg_settings = replace(settings.segment, min_points=min_points)
    focal = 0.5 * (intrinsics.fx + intrinsics.fy) / k

    def on_plane(support: Plane | None) -> tuple[Any, Segmentation]:
        """The support's outline and the objects on it (``None``: every cluster of the frame)."""
        if support is None:
            return None, segment_objects(pm, valid, None, labels=labels, structures=[], focal=focal,
                                         settings=seg_settings)
        inliers = pts[np.abs(support.height(pts)) < settings.segment.plane_threshold]
        across = float(np.ptp(inliers @ support.basis().T, axis=0).max()) if len(inliers) else 0.0
        if across < MIN_SUPPORT_EXTENT:  # an object's own face, not a table: there is none in view
            raise NoSupportPlaneError(f"{source}: no supporting plane found: the best plane is {across * 100:.0f} "
                                      f"cm across (a table or floor in view spans at least "
                                      f"{MIN_SUPPORT_EXTENT * 100:.0f} cm); pass --no-plane (no_plane=True) to "
                                      "complete every cluster of the frame")
        region = table_region(support, inliers)
        return region.outline(inliers), segment_objects(
            pm, valid, region, labels=labels, structures=[p for p in planes if p is not support], focal=focal,
            settings=seg_settings,
        )

    outline, seg = on_plane(plane)
    if plane is not None and not seg.objects:
        # nothing on the largest plane: a floor seen beyond a small table is larger than the table; try the planes
        # parallel to it and above it (an empty table stays empty: nothing below it is tried)
        for other in sorted(planes, key=lambda p: -p.inliers):
            if other is plane or other.normal @ plane.normal < np.cos(np.radians(15.0)) or other.d > plane.d - 0.05:
                continue
            try:
                other_outline, other_seg = on_plane(other)
            except (NoSupportPlaneError, NoPlaneError):
                continue
            if other_seg.objects:
                warn_user(f"{source}: nothing stands on the largest plane; took the plane {plane.d - other.d:.1f} m "
                          "above it as the support (a table above a floor)")  # no counts: one warning in a loop
                plane, outline, seg = other, other_outline, other_seg
                break
    if seg.objects:  # how much of each object the view cuts off: the image border, something in front of it
        occluder = valid if plane is None else valid & (
            plane.height(pm.reshape(-1, 3)).reshape(valid.shape) > settings.segment.min_height)
        view = outline_view(seg.labels, pm[..., 2], occluder, groups=seg.components)
        for obj in seg.objects:
            obj.border_share, obj.occluded_share = view.get(obj.label, (0.0, 0.0))
    if full_labels is not None and k > 1:  # instances between the processed pixels: reported, not lost
        accounted = {o.label for o in seg.objects} | {s["label"] for s in seg.skipped if "label" in s}
        for lid in np.setdiff1d(np.unique(full_labels[full_labels > 0]), list(accounted)):
            seg.skipped.append({"points": 0, "label": int(lid), "reason": f"too small for the pixel stride {k} of "
                                "this large frame (no processed pixel of it; SceneSettings.max_pixels=0: full size)"})
    if k > 1:  # back to the frame's own size: each pixel takes the label of the processed pixel of its k x k block
        h, w = depth.shape
        blocks = np.repeat(np.repeat(seg.labels, k, axis=0), k, axis=1)[:h, :w]
        seg.labels = np.where(full_valid, blocks, 0).astype(np.int32)
        if seg.components is not None:
            blocks = np.repeat(np.repeat(seg.components, k, axis=0), k, axis=1)[:h, :w]
            seg.components = np.where(full_valid, blocks, -1)
        for obj in seg.objects:
            obj.pixels = obj.pixels * k
    seconds["segmentation"] = time.perf_counter() - t0
    if not seg.objects:
        reasons = ", ".join(sorted({s["reason"].split(" (")[0] for s in seg.skipped})) or "nothing above the plane"
        raise NoObjectError(f"{source}: no object found on the support plane ({len(seg.skipped)} clusters skipped: "
                            f"{reasons})", plane=plane, skipped=seg.skipped)
    return SceneSegmentation(plane, outline, seg, full_pm, full_valid, seconds)


def complete_scene(
    depth: np.ndarray,
    intrinsics: Intrinsics,
    *,
    model: torch.nn.Module | None = None,
    meta: dict[str, Any] | None = None,
    model_name: str | None = None,
    labels: np.ndarray | None = None,
    up: Any | None = None,
    no_plane: bool = False,
    settings: SceneSettings | None = None,
    device: str | None = None,
    log: Any = None,
    source: str = "the depth image",
) -> SceneResult:
    """Every object on the support plane of one depth frame ``depth (H, W)`` (metres, 0 = no data), completed.

    ``model``/``meta``: default :func:`load_scene_model`; ``labels (H, W) int``: instance labels (0 = background)
    instead of the built-in segmentation; ``up``: gravity's up in the camera frame, if known (picks the plane);
    ``no_plane``: complete every cluster without a support plane. Raises :class:`UserError` (one line) for a frame
    with no plane (unless ``no_plane``), no object, or labels / intrinsics of another size.
    """
    from implicit3d.completion import model_contract

    settings = settings or SceneSettings()
    log = log or (lambda _msg: None)
    t_all = time.perf_counter()
    if model is None:
        model, meta, model_name = load_scene_model(None, device or "cpu")
    contract = model_contract(meta, model)
    found = segment_scene(depth, intrinsics, labels=labels, up=up, no_plane=no_plane, settings=settings,
                          source=source)
    plane, seg, seconds = found.plane, found.segmentation, dict(found.seconds)
    objects = []
    t0 = time.perf_counter()
    for obj in seg.objects:
        t = time.perf_counter()
        mesh, rests = complete_object(obj.points, model, contract, plane, settings, device,
                                      rests=True if obj.hidden_support else None)
        objects.append(CompletedObject(obj.label, obj.points, obj.pixels, mesh, rests, time.perf_counter() - t,
                                       obj.border_share, obj.occluded_share))
        log(f"  object {obj.label}: {len(obj.points)} points -> {len(mesh.vertices)} vertices "
            f"({time.perf_counter() - t:.2f} s)")
    seconds["completion"] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - t_all
    return SceneResult(plane, found.outline, objects, seg.skipped, seg.labels, found.points_map.astype(np.float32),
                       found.valid, model_name or "model", seconds, settings)


def match_objects(
    previous: SceneResult, current: SceneResult, motion: Any = None, max_distance: float = 0.05
) -> dict[int, int]:
    """Which object of ``current`` is which of ``previous`` (two frames of a robot's loop): ``{current label:
    previous label}``, matching the completed objects' centres one to one with the least total distance, never
    farther apart than ``max_distance`` metres (an object that moved more, or is new, has no entry).

    ``motion (4, 4)``: the rigid transform from the previous frame's camera coordinates to the current one's (the
    camera moved; default: it did not). Labels are given by size in each frame, so a robot that keeps its own ids
    carries them over with this map."""
    from implicit3d.geometry.matching import match_points

    before = np.array([o.centroid for o in previous.objects]).reshape(-1, 3)
    if motion is not None:
        m = np.asarray(motion, dtype=np.float64)
        if m.shape != (4, 4) or not np.isfinite(m).all():
            raise ValueError(f"motion must be a finite (4, 4) transform, got shape {m.shape}")
        before = before @ m[:3, :3].T + m[:3, 3]
    after = np.array([o.centroid for o in current.objects]).reshape(-1, 3)
    pairs = match_points(after, before, max_distance)
    return {current.objects[i].label: previous.objects[j].label for i, j in pairs}


def scene_json(result: SceneResult, files: list[str]) -> dict[str, Any]:
    """The ``scene.json`` document of a result whose meshes were written as ``files``."""
    up = None if result.plane is None else result.plane.normal  # the objects' boxes stand on the table
    return {
        "units": "metres, camera frame (OpenCV)",
        "model": result.model,
        "plane": _plane_json(result.plane),
        "objects": [{"file": f, "label": o.label, **o.summary(result.settings.seen_distance, up=up)}
                    for f, o in zip(files, result.objects, strict=True)],
        "skipped": skipped_summary(result.skipped),
        "uncertainty": "per vertex: softness of the completed occupancy there, one minus its drop from 1/58 of the "
        "model cube inside the surface to as far outside, 0 = a sharp, decided surface, 1 = a guess; scaled by the "
        "vertex's distance to the nearest measured point over "
        f"{result.settings.guess_distance * 1000:.0f} mm (at most 1): 0 on the surface the sensor saw (uncertain "
        "vertices lie further from the true surface); mean, p90 and uncertain_share (vertices above 0.5) summarize "
        "it; "
        "observed_surface_share: vertices within "
        f"{result.settings.seen_distance * 1000:.0f} mm of a measured point; undecided_ratio: the volume where the "
        "mean occupancy is between 0.1 and 0.9 over the completed volume (33^3 samples of the model cube around "
        "the object): the larger, the less the completion is to be trusted (simulated tabletop frames of real "
        "household objects: below about 1, mean IoU 0.84-0.88; above 1.3-1.8, 0.33-0.48; docs/scene.md)",
        "seconds": result.seconds,
    }


def skipped_summary(skipped: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The skipped clusters grouped by reason: ``[{"reason", "clusters", "points"}]``, most points first; with
    ``"labels"``, the instance ids of the caller's label image that were skipped for that reason."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for s in skipped:
        groups.setdefault(s["reason"].split(" (")[0], []).append(s)
    rows = []
    for reason, items in groups.items():
        row: dict[str, Any] = {"reason": reason, "clusters": len(items), "points": int(sum(s["points"] for s in items))}
        if any("label" in s for s in items):
            row["labels"] = sorted(int(s["label"]) for s in items if "label" in s)
        rows.append(row)
    return sorted(rows, key=lambda row: -row["points"])


def table_mesh(outline: np.ndarray) -> trimesh.Trimesh:
    """A flat fan-triangulated patch through the convex ``outline (K, 3)`` of the table."""
    k = len(outline)
    centre = outline.mean(axis=0)
    faces = np.array([[k, i, (i + 1) % k] for i in range(k)])
    return trimesh.Trimesh(np.vstack([outline, centre]), faces, process=False)


def _plane_json(plane: Plane | None) -> dict[str, Any] | None:
    if plane is None:
        return None
    return {**plane.to_dict(), "frame": "camera (OpenCV: x right, y down, z forward), metres",
            "equation": "normal . x + d = 0, normal pointing up (to the camera's side)"}


def _remove_stale(out: Path, keep: list[str], html: str | Path | None) -> None:
    """Remove an earlier scene's ``object_NN.ply`` not in ``keep`` and its ``scene.html`` unless ``html`` is it."""
    for old in out.glob("object_*.ply"):
        if re.fullmatch(r"object_\d{2,}\.ply", old.name) and old.name not in keep and old.is_file():
            old.unlink()
    stale = out / "scene.html"
    if stale.is_file() and (html is None or Path(html).resolve() != stale.resolve()):
        stale.unlink()


def write_empty_scene(error: NoObjectError, out_dir: str | Path, html: str | Path | None = None,
                      model: str | None = None) -> Path:
    """For a frame with no object (``error``, an empty table): ``scene.json`` with the plane found, no objects, the
    skipped clusters and the message as ``"error"`` (``model``: the model's name, as in a scene's), and an earlier
    scene's objects, ``scene.glb`` and figure (``out_dir/scene.html`` and ``html``, the figure this run would have
    written) removed — a robot reading the folder after each frame never sees the last frame's objects as this
    one's. Returns the ``scene.json`` path."""
    from implicit3d.fileio import atomic_write_text, ensure_folder

    out = ensure_folder(Path(out_dir))
    _remove_stale(out, [], None)
    for stale in (out / "scene.glb", None if html is None else Path(html)):
        if stale is not None and stale.is_file():
            stale.unlink()
    doc = {"units": "metres, camera frame (OpenCV)", "model": model, "plane": _plane_json(error.plane),
           "objects": [], "skipped": skipped_summary(error.skipped), "error": str(error), "seconds": None}
    atomic_write_text(out / "scene.json", json.dumps(doc, indent=1) + "\n")
    return out / "scene.json"


def write_scene(result: SceneResult, out_dir: str | Path, html: str | Path | None = None,
                color: np.ndarray | None = None) -> list[Path]:
    """Write ``object_NN.ply``, ``scene.json``, ``scene.glb`` (and ``html``) atomically; returns the paths. Object
    files of an earlier scene in ``out_dir`` beyond this one's count (``object_08.ply`` when 7 objects are found)
    are removed, so the folder's ``object_*.ply`` are this scene's objects; so is an earlier run's figure
    ``out_dir/scene.html`` (the name the docs give it) when this run writes none there."""
    from implicit3d.fileio import atomic_write_bytes, atomic_write_text, ensure_folder, write_mesh

    if html is not None and Path(html).suffix.lower() not in (".html", ".htm"):
        raise UserError(f"{html}: the figure is an HTML file: name it .html")
    if color is not None:
        c = np.asarray(color)
        if c.ndim != 3 or c.shape[2] not in (3, 4) or c.shape[:2] != result.valid.shape:
            h, w = result.valid.shape
            raise UserError(f"the colour image must be an (H, W, 3) RGB picture of the depth image's {w}x{h} pixels, "
                            f"got an array of shape {c.shape}")
    out = ensure_folder(Path(out_dir))
    written, files = [], []
    for i, obj in enumerate(result.objects, start=1):
        name = f"object_{i:02d}.ply"
        written.append(write_mesh(out / name, obj.mesh))
        files.append(name)
    _remove_stale(out, files, html)
    atomic_write_text(out / "scene.json", json.dumps(scene_json(result, files), indent=1) + "\n")
    written.append(out / "scene.json")
    scene = trimesh.Scene()
    for name, obj in zip(files, result.objects, strict=True):
        scene.add_geometry(obj.mesh, node_name=name[:-4], geom_name=name[:-4])
    if result.table_outline is not None:
        patch = table_mesh(result.table_outline)
        patch.visual.face_colors = [150, 120, 90, 160]
        scene.add_geometry(patch, node_name="table", geom_name="table")
    atomic_write_bytes(out / "scene.glb", scene.export(file_type="glb"))
    written.append(out / "scene.glb")
    if html is not None:
        from implicit3d.viz.figures import scene_figure
        from implicit3d.viz.report import write_full_window_figure

        written.append(write_full_window_figure(html, scene_figure(result, color)))
    return written
