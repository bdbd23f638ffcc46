"""Shared helpers for the completion / evaluation tests: a tiny trained checkpoint and a rendered depth view.

The checkpoint is a 20k-parameter ConvONet-grid trained for 80 steps on random spheres (a few seconds on CPU): it
predicts a blob around its input cloud, enough to check the pipeline end to end. It is trained once per process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import trimesh

TINY_MODEL = {
    "name": "conv_onet_grid",
    "c_dim": 8,
    "encoder_hidden": 16,
    "encoder_blocks": 2,
    "decoder_hidden": 16,
    "decoder_blocks": 2,
    "grid_resolution": 8,
    "unet_levels": 2,
    "unet_filters": 8,
    "unet_groups": 4,
}
TINY_DATA = {"input": "partial", "n_inputs": 512, "noise": 0.0, "pose": "yaw"}

_CACHE: dict[str, Path] = {}


@contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Run with ``n`` torch threads: on a busy shared machine, multi-threaded small ops are many times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def tiny_checkpoint(tmp_path_factory) -> Path:
    """Run folder of a tiny trained model (``<run>/checkpoints/last``), trained once per test process."""
    if "run" in _CACHE:
        return _CACHE["run"]
    from implicit3d.models import create_model_from_config
    from implicit3d.training.config import TrainConfig
    from implicit3d.training.synthetic import SphereDataset
    from implicit3d.training.trainer import Trainer

    torch.manual_seed(0)
    model = create_model_from_config(dict(TINY_MODEL))
    cfg = TrainConfig(batch_size=8, lr=1e-2, max_steps=80, warmup_steps=0, schedule="constant", val_every=0,
                      ckpt_every=0, log_every=20, seed=0)
    run = tmp_path_factory.mktemp("tiny_run")
    trainer = Trainer(model, cfg, SphereDataset(64, 256, 512, seed=0), None, run, model_config=model.config,
                      data_config=dict(TINY_DATA), progress=False)
    with torch_threads(1):
        trainer.fit()
    assert (run / "checkpoints" / "last" / "checkpoint.json").is_file()
    _CACHE["run"] = run
    return run


def object_mesh() -> trimesh.Trimesh:
    """A bottle from the procedural catalogue when available, else a bottle-sized cylinder (metres, z up)."""
    try:
        from implicit3d.shapes import generate

        shape = generate("bottle", 0)
        mesh = getattr(shape, "mesh", shape)
        if isinstance(mesh, trimesh.Trimesh) and len(mesh.faces):
            return mesh
    except (ImportError, AttributeError, TypeError, ValueError, KeyError):
        pass
    return trimesh.creation.cylinder(radius=0.035, height=0.2, sections=32)


def render_view(mesh: trimesh.Trimesh) -> tuple[np.ndarray, object, np.ndarray]:
    """``(depth (120, 160) float32 metres, Intrinsics, cam_to_world (4, 4))`` of ``mesh`` seen from 0.5 m."""
    from implicit3d.sensing import Intrinsics, look_at, render_depth

    intr = Intrinsics(fx=120.0, fy=120.0, cx=79.5, cy=59.5, width=160, height=120)
    centre = mesh.bounds.mean(axis=0)
    cam = look_at(centre + np.array([0.4, -0.25, 0.2]), centre, up=(0.0, 0.0, 1.0))
    depth = render_depth(mesh, intr, cam)
    assert (depth > 0).sum() > 200
    return depth, intr, cam


def primitive_meshes(src: Path) -> Path:
    """Six primitive meshes in two category folders under ``src`` (round: sphere, cylinder, capsule; boxy: three
    boxes), as a mesh source for ``prepare``; returns ``src``."""
    (src / "round").mkdir(parents=True, exist_ok=True)
    (src / "boxy").mkdir(exist_ok=True)
    trimesh.creation.icosphere(2, 0.1).export(src / "round" / "sphere.ply")
    trimesh.creation.cylinder(0.05, 0.2, sections=24).export(src / "round" / "cyl.ply")
    trimesh.creation.capsule(0.15, 0.05).export(src / "round" / "capsule.ply")
    for i, extents in enumerate([(0.1, 0.2, 0.3), (0.2, 0.2, 0.1), (0.3, 0.1, 0.1)]):
        trimesh.creation.box(extents).export(src / "boxy" / f"box{i}.ply")
    return src
