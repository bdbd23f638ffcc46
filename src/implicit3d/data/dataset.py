"""Torch dataset over a prepared dataset folder (see :mod:`implicit3d.data.formats` and ``docs/data.md``).

Each item is a dict::

    inputs   (N, 3) float32  input point cloud (normalized units), or (R, R, R) float32 voxels for input="voxels"
    points   (M, 3) float32  query points
    occ      (M,)   float32  occupancy of the query points (1 inside, 0 outside)
    sdf      (M,)   float32  signed distance of the query points (negative inside), in the item's units
    transform (4, 4) float32 similarity applied to the stored canonical data: x_item = transform @ x_canonical
    name, category: str; index: int

Augmentations are applied identically to inputs and query points: a rotation ``R`` (``pose``), a uniform scale
``s`` (``scale_range``), so ``x -> s R x``. Occupancy is invariant under this similarity; the SDF is multiplied
by ``s``. Gaussian ``noise`` (std in the item's units) is then added to the inputs only. With a rotation, points
of the cube may leave ``[-0.5, 0.5]^3`` (up to ``sqrt(3) / 2``).

``normalize="visible"`` then re-frames the item by what was observed, as completion must do with a real scan
(the whole object's box is unknown there): inputs and queries are mapped by ``x -> (x - c) / k`` where ``c, k``
come from :func:`implicit3d.geometry.transforms.visible_box_params` of the (noisy) inputs, so the observed box
is centred with its longest edge ``visible_extent``. The SDF is divided by ``k``. Part of the model cube
``[-0.55, 0.55]^3`` may then lie outside the region the stored samples cover; some of the uniform queries are
replaced by points drawn there, which are known to be empty (occupancy 0; their SDF is a lower bound: the
distance to the stored cube). ``transform`` then holds the whole similarity including the translation.

Randomness: item ``i`` draws from ``numpy.random.default_rng([seed, epoch, i])``, so items are reproducible,
independent of DataLoader worker count, and differ between epochs after :meth:`ImplicitDataset.set_epoch`.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from implicit3d.data import formats
from implicit3d.errors import UserError
from implicit3d.geometry.transforms import VISIBLE_EXTENT, random_rotation, view_rotation, visible_box_params

INPUTS = ("surface", "partial", "voxels")
POINT_SOURCES = ("uniform", "near", "mixed")
POSES = ("canonical", "yaw", "so3", "view", "camera")
NORMALIZATIONS = ("object", "visible")
MODEL_CUBE = 0.55  #: half-edge of the cube the models cover (padding 0.1 around [-0.5, 0.5]^3)


def voxelize(points: np.ndarray, resolution: int, bounds: float = 0.5) -> np.ndarray:
    """``(R, R, R) float32`` grid over ``[-bounds, bounds]^3``: 1 where a cell holds at least one point.

    Cell ``[i, j, k]`` covers x in ``[-b + i h, -b + (i + 1) h)`` with ``h = 2 b / R`` (x slowest); points outside
    the box are ignored.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    idx = np.floor((pts + bounds) / (2.0 * bounds) * resolution).astype(np.int64)
    keep = np.all((idx >= 0) & (idx < resolution), axis=1)
    grid = np.zeros((resolution,) * 3, dtype=np.float32)
    i = idx[keep]
    grid[i[:, 0], i[:, 1], i[:, 2]] = 1.0
    return grid


def _choose(rng: np.random.Generator, n_avail: int, n: int) -> np.ndarray:
    """``n`` indices into ``n_avail`` items: without replacement when possible, else with."""
    if n_avail == 0:
        raise ValueError("cannot sample from an empty set")
    if n <= n_avail:
        return rng.choice(n_avail, n, replace=False)
    return rng.integers(0, n_avail, n)


def camera_rotation(
    cloud: np.ndarray, cam_to_world: np.ndarray, object_pose: np.ndarray, object_scale: float
) -> np.ndarray:
    """Rotation ``(3, 3)`` from a shape's canonical normalized frame to the view-aligned camera frame of one view.

    ``cloud (P, 3)`` is the view's back-projected cloud in canonical normalized units (as stored in ``views.npz``),
    ``cam_to_world (4, 4)`` and ``object_pose (4, 4)`` the view's camera and object poses, ``object_scale`` metres
    per normalized unit. The camera frame (OpenCV, rotation ``R_c^T R_obj``) is then turned by
    :func:`implicit3d.geometry.transforms.view_rotation` so the sensor looks at the cloud's centroid along +z —
    the same frame :func:`implicit3d.completion.complete_points` builds from a depth image.
    """
    r_cam = np.asarray(cam_to_world, dtype=np.float64)[:3, :3]
    r0 = r_cam.T @ np.asarray(object_pose, dtype=np.float64)[:3, :3]
    eye = r_cam.T @ np.asarray(cam_to_world, dtype=np.float64)[:3, 3] / float(object_scale)  # sensor, r0 frame
    return view_rotation(np.asarray(cloud, dtype=np.float64) @ r0.T, eye) @ r0


class ImplicitDataset(Dataset):
    """Samples of a prepared dataset for training and evaluating implicit models.

    Parameters: ``root`` dataset folder; ``split`` train/val/test (the ``<root>/<split>.lst`` file);
    ``input`` ``"surface"`` (surface samples), ``"partial"`` (one of the K depth views, picked at random) or
    ``"voxels"`` (the surface samples voxelized to ``voxel_resolution^3``); ``n_inputs`` input points (partial
    views with fewer points are resampled with replacement); ``n_points`` query points from ``points_source``
    ``"uniform"`` (cube), ``"near"`` (near-surface) or ``"mixed"`` (half each); ``noise`` std of Gaussian input
    noise; ``pose`` ``"canonical"`` (no rotation), ``"yaw"`` (random about +z), ``"so3"`` (uniform random) or
    ``"view"`` (partial input only: the object rotation the chosen view was rendered with), ``"camera"`` (partial
    input only: the view's camera frame, turned so the sensor looks at the cloud along +z — see
    :func:`camera_rotation`; what a depth image gives at completion time); ``scale_range``
    ``(lo, hi)`` uniform random scale or ``None``; ``normalize`` ``"object"`` (the stored frame: the whole object's
    box) or ``"visible"`` (the observed input's box, see the module docstring) with ``visible_extent`` the longest
    edge of that box; ``seed`` base seed; ``cache`` keep loaded files in memory.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        input: str = "surface",
        n_inputs: int = 2048,
        n_points: int = 2048,
        points_source: str = "uniform",
        noise: float = 0.0,
        pose: str = "canonical",
        scale_range: tuple[float, float] | None = None,
        normalize: str = "object",
        visible_extent: float = VISIBLE_EXTENT,
        seed: int = 0,
        voxel_resolution: int = 32,
        cache: bool = False,
    ) -> None:
        self.root = Path(root)
        manifest_path = self.root / formats.MANIFEST
        if not manifest_path.is_file():
            raise UserError(
                f"{self.root} is not an implicit3d dataset: {formats.MANIFEST} not found "
                "(build one with `implicit3d prepare`)"
            )
        self.manifest = formats.read_json(manifest_path)
        if split not in formats.SPLITS:
            raise ValueError(f"split must be one of {formats.SPLITS}, got {split!r}")
        split_path = formats.split_file(self.root, split)
        if not split_path.is_file():
            raise UserError(f"split file {split_path} not found; was the prepare run finished?")
        if input not in INPUTS:
            raise ValueError(f"input must be one of {INPUTS}, got {input!r}")
        if points_source not in POINT_SOURCES:
            raise ValueError(f"points_source must be one of {POINT_SOURCES}, got {points_source!r}")
        if pose not in POSES:
            raise ValueError(f"pose must be one of {POSES}, got {pose!r}")
        if pose in ("view", "camera") and input != "partial":
            raise ValueError(f'pose="{pose}" uses the recorded poses of a depth view: it needs input="partial"')
        if normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")
        if not 0.0 < visible_extent <= 1.0:
            raise ValueError(f"visible_extent must be in (0, 1], got {visible_extent}")
        if n_inputs < 1 or n_points < 1:
            raise ValueError(f"n_inputs and n_points must be >= 1, got {n_inputs} and {n_points}")
        if noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        if scale_range is not None:
            lo, hi = scale_range
            if not 0 < lo <= hi:
                raise ValueError(f"scale_range must satisfy 0 < lo <= hi, got {scale_range}")
        if input == "partial" and int(self.manifest.get("settings", {}).get("n_views", 0)) == 0:
            raise UserError(f"{self.root} was prepared without depth views (n_views = 0): input='partial' needs them")
        self.keys = formats.read_split(self.root, split)
        formats.check_shape_files(self.root, self.keys, (
            formats.POINTS, *((formats.POINTS_NEAR,) if points_source != "uniform" else ()),
            formats.VIEWS if input == "partial" else formats.POINTCLOUD))
        self.skipped: list[str] = []  #: split keys left out: partial input, but no view saw the object
        if input == "partial":
            seen = [sum(self._shape_info(k).get("view_points") or [1]) > 0 for k in self.keys]
            self.skipped = [k for k, ok in zip(self.keys, seen, strict=True) if not ok]
            if self.skipped:
                warnings.warn(f"{self.root}: {len(self.skipped)} {split} shape(s) left out, none of their depth "
                              f"views saw the object: {', '.join(self.skipped[:5])}", stacklevel=2)
                self.keys = [k for k, ok in zip(self.keys, seen, strict=True) if ok]
        self.split = split
        self.input = input
        self.n_inputs = int(n_inputs)
        self.n_points = int(n_points)
        self.points_source = points_source
        self.noise = float(noise)
        self.pose = pose
        self.scale_range = None if scale_range is None else (float(scale_range[0]), float(scale_range[1]))
        self.normalize = normalize
        self.visible_extent = float(visible_extent)
        self.seed = int(seed)
        self.voxel_resolution = int(voxel_resolution)
        self.epoch = 0
        self._cache: dict[str, dict[str, np.ndarray]] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.keys)

    def set_epoch(self, epoch: int) -> None:
        """Change the augmentation stream (call once per epoch for fresh subsamples and transforms)."""
        self.epoch = int(epoch)

    def _load(self, key: str, filename: str) -> dict[str, np.ndarray]:
        cache_key = f"{key}/{filename}"
        if self._cache is not None and cache_key in self._cache:
            return self._cache[cache_key]
        path = self.root / key / filename
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: the dataset at {self.root} is incomplete")
        if filename == formats.POINTCLOUD:
            data = formats.read_pointcloud_npz(path)
        elif filename in (formats.POINTS, formats.POINTS_NEAR):
            data = formats.read_points_npz(path)
        else:
            data = formats.load_npz(path)
        if self._cache is not None:
            self._cache[cache_key] = data
        return data

    def _query(self, key: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.points_source == "mixed":
            sources = [(formats.POINTS, self.n_points - self.n_points // 2), (formats.POINTS_NEAR, self.n_points // 2)]
        else:
            name = formats.POINTS if self.points_source == "uniform" else formats.POINTS_NEAR
            sources = [(name, self.n_points)]
        pts, occ, sdf = [], [], []
        for filename, n in sources:
            d = self._load(key, filename)
            idx = _choose(rng, len(d["points"]), n)
            pts.append(d["points"][idx])
            occ.append(d["occupancies"][idx])
            sdf.append(d["sdf"][idx] if "sdf" in d else np.full(n, np.nan, np.float32))
        return (
            np.concatenate(pts).astype(np.float64),
            np.concatenate(occ).astype(np.float32),
            np.concatenate(sdf).astype(np.float64),
        )

    def _shape_info(self, key: str) -> dict:
        """``shape.json`` of ``key`` (empty when unreadable: the item itself then reports the problem)."""
        try:
            return json.loads((self.root / key / formats.SHAPE_INFO).read_text())
        except (OSError, ValueError):
            return {}

    def _inputs(self, key: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        """Canonical input cloud ``(N, 3)`` and, for partial views, the rotation of ``pose`` ``"view"`` or
        ``"camera"`` ``(3, 3)`` (else ``None``)."""
        if self.input == "partial":
            v = self._load(key, formats.VIEWS)
            counts = np.diff(v["offsets"])
            usable = np.flatnonzero(counts > 0)
            if len(usable) == 0:
                raise ValueError(f"{key}: none of its depth views saw the object")
            k = int(usable[rng.integers(len(usable))])
            cloud = v["points"][v["offsets"][k] : v["offsets"][k + 1]]
            if self.pose == "camera":
                rotation = camera_rotation(cloud, v["cam_to_world"][k], v["object_pose"][k],
                                           float(v["object_scale"][k]))
            else:
                rotation = v["object_pose"][k][:3, :3]
        else:
            cloud = self._load(key, formats.POINTCLOUD)["points"]
            rotation = None
        idx = _choose(rng, len(cloud), self.n_inputs)
        return cloud[idx].astype(np.float64), rotation

    def _fill_empty(
        self, points: np.ndarray, occ: np.ndarray, sdf: np.ndarray, transform: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Replace uniform queries by points of the model cube that lie outside the stored cube ``[-0.5, 0.5]^3``
        (mapped by ``transform``): the object is inside that cube, so they are empty. Keeps the point count."""
        n_uniform = {"uniform": len(points), "mixed": len(points) - len(points) // 2}.get(self.points_source, 0)
        if n_uniform == 0:
            return points, occ, sdf
        cand = rng.uniform(-MODEL_CUBE, MODEL_CUBE, (n_uniform, 3))
        lin, t = transform[:3, :3], transform[:3, 3]
        canon = (cand - t) @ np.linalg.inv(lin).T
        gap = np.abs(canon).max(axis=1) - 0.5  # > 0: outside the stored cube (canonical units)
        outside = np.flatnonzero(gap > 0)
        if len(outside) == 0:
            return points, occ, sdf
        k = len(outside)
        points, occ, sdf = points.copy(), occ.copy(), sdf.copy()
        points[:k] = cand[outside]
        occ[:k] = 0.0
        sdf[:k] = gap[outside] * float(np.cbrt(abs(np.linalg.det(lin))))  # a lower bound, in the item's units
        return points, occ, sdf

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self.keys):
            raise IndexError(f"index {index} out of range for {len(self.keys)} shapes")
        key = self.keys[index]
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, self.epoch, index])
        inputs, view_rot = self._inputs(key, rng)
        points, occ, sdf = self._query(key, rng)

        if self.pose == "canonical":
            rotation = np.eye(3)
        elif self.pose in ("view", "camera"):
            rotation = np.asarray(view_rot, dtype=np.float64)
        else:
            rotation = random_rotation(rng, self.pose)
        scale = 1.0 if self.scale_range is None else float(rng.uniform(*self.scale_range))
        linear = scale * rotation
        inputs = inputs @ linear.T
        points = points @ linear.T
        sdf = sdf * scale
        if self.noise > 0:
            inputs = inputs + rng.normal(0.0, self.noise, inputs.shape)
        transform = np.eye(4)
        transform[:3, :3] = linear
        if self.normalize == "visible":
            loc, k = visible_box_params(inputs, self.visible_extent)
            inputs = (inputs - loc) / k
            points = (points - loc) / k
            sdf = sdf / k
            transform[:3, :3] /= k
            transform[:3, 3] = -loc / k
            points, occ, sdf = self._fill_empty(points, occ, sdf, transform, rng)

        category, name = key.split("/", 1)
        item_inputs = voxelize(inputs, self.voxel_resolution) if self.input == "voxels" else inputs.astype(np.float32)
        return {
            "inputs": torch.from_numpy(np.ascontiguousarray(item_inputs)),
            "points": torch.from_numpy(points.astype(np.float32)),
            "occ": torch.from_numpy(occ.astype(np.float32)),
            "sdf": torch.from_numpy(sdf.astype(np.float32)),
            "transform": torch.from_numpy(transform.astype(np.float32)),
            "name": name,
            "category": category,
            "index": index,
        }
