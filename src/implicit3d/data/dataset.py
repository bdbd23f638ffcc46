"""Torch dataset over a prepared dataset folder (see :mod:`implicit3d.data.formats` and ``docs/data.md``).

Each item is a dict::

    inputs   (N, 3) float32  input point cloud (normalized units)
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
come from :meth:`implicit3d.geometry.frames.ModelFrame.fit` of the (noisy) inputs, so the observed box is centred
with its longest edge ``visible_extent``. The SDF is divided by ``k``. Part of the model cube
(:data:`implicit3d.geometry.frames.MODEL_HALF_EXTENT`) may then lie outside the region the stored samples cover;
some of the uniform queries are replaced by points drawn there, which are known to be empty (occupancy 0; their
SDF is a lower bound: the distance to the stored cube). ``transform`` then holds the whole similarity including
the translation.

Randomness: item ``i`` draws from ``numpy.random.default_rng([seed, epoch, i])``, so items are reproducible,
independent of DataLoader worker count, and differ between epochs after :meth:`ImplicitDataset.set_epoch`.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from implicit3d.data import formats
from implicit3d.data.config import DataConfig
from implicit3d.errors import UserError
from implicit3d.geometry.frames import (
    MODEL_HALF_EXTENT,
    ModelFrame,
    camera_rotation,
    dataset_gravity_rotation,
    subsample_indices,
)
from implicit3d.geometry.transforms import random_rotation
from implicit3d.typed_config import from_dict, to_dict

__all__ = ["DataConfig", "ImplicitDataset", "camera_rotation"]


class ImplicitDataset(Dataset):
    """Samples of a prepared dataset for training and evaluating implicit models.

    ``root``: the dataset folder (default ``config.root``); ``split``: train/val/test (the ``<root>/<split>.lst``
    file); ``config``: a :class:`~implicit3d.data.config.DataConfig` (inputs, queries, augmentation, frame, seed),
    with any of its fields overridden by keyword (``ImplicitDataset(root, "val", input="partial")``).
    """

    def __init__(
        self, root: str | os.PathLike | None = None, split: str = "train", config: DataConfig | None = None,
        **overrides: Any,
    ) -> None:
        if overrides:
            base = to_dict(config) if config is not None else {}
            config = from_dict(DataConfig, {**base, **overrides}, "data")
        config = config or DataConfig()
        self.config = config
        self.root = Path(root if root is not None else config.root)
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
        if config.input == "partial" and int(self.manifest.get("settings", {}).get("n_views", 0)) == 0:
            raise UserError(f"{self.root} was prepared without depth views (n_views = 0): input='partial' needs them")
        self.keys = formats.read_split(self.root, split)
        formats.check_shape_files(self.root, self.keys, (
            formats.POINTS, *((formats.POINTS_NEAR,) if config.points_source != "uniform" else ()),
            formats.VIEWS if config.input == "partial" else formats.POINTCLOUD))
        self.skipped: list[str] = []  #: split keys left out: partial input, but no view saw the object
        if config.input == "partial":
            seen = [sum(self._shape_info(k).get("view_points") or [1]) > 0 for k in self.keys]
            self.skipped = [k for k, ok in zip(self.keys, seen, strict=True) if not ok]
            if self.skipped:
                warnings.warn(f"{self.root}: {len(self.skipped)} {split} shape(s) left out, none of their depth "
                              f"views saw the object: {', '.join(self.skipped[:5])}", stacklevel=2)
                self.keys = [k for k, ok in zip(self.keys, seen, strict=True) if ok]
        self.split = split
        self.seed = int(config.seed or 0)
        self.epoch = 0
        self._cache: dict[str, dict[str, np.ndarray]] | None = {} if config.cache else None

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
        n_points = self.config.n_points
        if self.config.points_source == "mixed":
            sources = [(formats.POINTS, n_points - n_points // 2), (formats.POINTS_NEAR, n_points // 2)]
        else:
            name = formats.POINTS if self.config.points_source == "uniform" else formats.POINTS_NEAR
            sources = [(name, n_points)]
        pts, occ, sdf = [], [], []
        for filename, n in sources:
            d = self._load(key, filename)
            idx = subsample_indices(rng, len(d["points"]), n, fill=True)
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
        if self.config.input == "partial":
            v = self._load(key, formats.VIEWS)
            counts = np.diff(v["offsets"])
            usable = np.flatnonzero(counts > 0)
            if len(usable) == 0:
                raise ValueError(f"{key}: none of its depth views saw the object")
            k = int(usable[rng.integers(len(usable))])
            cloud = v["points"][v["offsets"][k] : v["offsets"][k + 1]]
            if self.config.drop_outliers > 0 and rng.random() < self.config.drop_outliers:
                # as the tabletop segmentation does: the model must not read an object's depth from the trail of
                # flying pixels behind its silhouette, which real pipelines remove
                from implicit3d.sensing.segment import remove_outliers

                cloud = cloud[remove_outliers(cloud)]
            if self.config.pose in ("camera", "gravity"):
                view_frame = camera_rotation if self.config.pose == "camera" else dataset_gravity_rotation
                rotation = view_frame(cloud, v["cam_to_world"][k], v["object_pose"][k], float(v["object_scale"][k]))
            else:
                rotation = v["object_pose"][k][:3, :3]
        else:
            cloud = self._load(key, formats.POINTCLOUD)["points"]
            rotation = None
        n = self.config.n_inputs
        if self.config.sparse_inputs > 0 and rng.random() < self.config.sparse_inputs:
            lo = min(self.config.sparse_min, n)
            keep = int(round(math.exp(rng.uniform(math.log(lo), math.log(n)))))
            cloud = cloud[subsample_indices(rng, len(cloud), keep)]  # distinct points; the fill below repeats them
        idx = subsample_indices(rng, len(cloud), n, fill=True)
        return cloud[idx].astype(np.float64), rotation

    def _fill_empty(
        self, points: np.ndarray, occ: np.ndarray, sdf: np.ndarray, transform: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Replace uniform queries by points of the model cube that lie outside the stored cube ``[-0.5, 0.5]^3``
        (mapped by ``transform``): the object is inside that cube, so they are empty. Keeps the point count."""
        n_uniform = {"uniform": len(points), "mixed": len(points) - len(points) // 2}.get(self.config.points_source, 0)
        if n_uniform == 0:
            return points, occ, sdf
        cand = rng.uniform(-MODEL_HALF_EXTENT, MODEL_HALF_EXTENT, (n_uniform, 3))
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
        if not -len(self.keys) <= index < len(self.keys):
            raise IndexError(f"index {index} out of range for {len(self.keys)} shapes")
        index = index % len(self.keys)
        key = self.keys[index]
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, self.epoch, index])
        inputs, view_rot = self._inputs(key, rng)
        points, occ, sdf = self._query(key, rng)

        cfg = self.config
        if cfg.pose == "canonical":
            rotation = np.eye(3)
        elif cfg.pose in ("view", "camera", "gravity"):
            rotation = np.asarray(view_rot, dtype=np.float64)
        else:
            rotation = random_rotation(rng, cfg.pose)
        scale = 1.0 if cfg.scale_range is None else float(rng.uniform(*cfg.scale_range))
        linear = scale * rotation
        inputs = inputs @ linear.T
        points = points @ linear.T
        sdf = sdf * scale
        if cfg.noise > 0:
            inputs = inputs + rng.normal(0.0, cfg.noise, inputs.shape)
        transform = np.eye(4)
        transform[:3, :3] = linear
        if cfg.normalize == "visible":
            frame = ModelFrame.fit(inputs, normalize="visible", visible_extent=cfg.visible_extent,
                                   visible_depth=cfg.visible_depth)
            inputs, points = frame.to_model(inputs), frame.to_model(points)
            sdf = sdf / frame.scale
            transform[:3, :3] /= frame.scale
            transform[:3, 3] = -frame.loc / frame.scale
            points, occ, sdf = self._fill_empty(points, occ, sdf, transform, rng)

        category, name = key.split("/", 1)
        return {
            "inputs": torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32)),
            "points": torch.from_numpy(points.astype(np.float32)),
            "occ": torch.from_numpy(occ.astype(np.float32)),
            "sdf": torch.from_numpy(sdf.astype(np.float32)),
            "transform": torch.from_numpy(transform.astype(np.float32)),
            "name": name,
            "category": category,
            "index": index,
        }
