"""Shared test fixtures: real meshes from the pybullet_data package (tests and benchmarks only)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trimesh


def pybullet_data_dir() -> Path:
    import pybullet_data

    return Path(pybullet_data.getDataPath())


def load_pybullet_mesh(name: str) -> trimesh.Trimesh:
    """Load ``pybullet_data/<name>`` merged into one Trimesh (no materials)."""
    mesh = trimesh.load(pybullet_data_dir() / name, force="mesh", skip_materials=True)
    assert isinstance(mesh, trimesh.Trimesh)
    return mesh


@pytest.fixture(scope="session")
def bunny() -> trimesh.Trimesh:
    return load_pybullet_mesh("bunny.obj")


@pytest.fixture(scope="session")
def duck() -> trimesh.Trimesh:
    return load_pybullet_mesh("duck.obj")


@pytest.fixture
def one_torch_thread():
    """Run a test with one torch thread (on a busy 2-core machine small multi-threaded ops are many times slower)."""
    from completion_fixtures import torch_threads

    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """Run folder of the tiny trained checkpoint (``completion_fixtures.tiny_checkpoint``), trained once per process."""
    from completion_fixtures import tiny_checkpoint

    return tiny_checkpoint(tmp_path_factory)
