"""The seeded procedural catalogue: ``generate(category, seed)`` and ``catalogue(category, count, seed)``."""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np
import trimesh

from implicit3d.geometry.sdf import Translate
from implicit3d.shapes.base import Built, Shape, rounded_params
from implicit3d.shapes.bottles import build_bottle, build_can, build_jar
from implicit3d.shapes.containers import build_bin, build_bowl, build_cup, build_mug, build_plate, build_vase
from implicit3d.shapes.fruit import build_fruit
from implicit3d.shapes.solids import build_box, build_cluster, build_csg, build_rock, build_slab
from implicit3d.shapes.tools import build_tool

BUILDERS: dict[str, Callable[[np.random.Generator], Built]] = {
    "bottle": build_bottle,
    "can": build_can,
    "jar": build_jar,
    "mug": build_mug,
    "cup": build_cup,
    "bowl": build_bowl,
    "vase": build_vase,
    "box": build_box,
    "csg": build_csg,
    "rock": build_rock,
    "bin": build_bin,
    "cluster": build_cluster,
    "slab": build_slab,
    "plate": build_plate,
    "tool": build_tool,
    "fruit": build_fruit,
}

CATEGORIES: tuple[str, ...] = tuple(BUILDERS)

_CSG_ATTEMPTS = 40
_SCREENED = ("csg", "rock", "cluster")  #: categories whose draws must give one watertight body (else drawn again)


def _check_category(category: str) -> None:
    if category not in BUILDERS:
        raise ValueError(f"unknown shape category {category!r}; known: {', '.join(CATEGORIES)}")


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _single_body(mesh: trimesh.Trimesh) -> trimesh.Trimesh | None:
    """``mesh`` if it is one watertight positive-volume body; its main body if the rest are specks (sub-voxel
    slivers that CSG differences can leave, < 1% of the faces); ``None`` otherwise."""
    if mesh.body_count > 1:
        parts = sorted(mesh.split(only_watertight=False), key=lambda m: len(m.faces), reverse=True)
        if sum(len(m.faces) for m in parts[1:]) > 0.01 * len(mesh.faces):
            return None
        mesh = parts[0]
    tri = mesh.triangles
    volume = float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum()) / 6.0
    if mesh.is_watertight and mesh.is_winding_consistent and volume > 0:
        return mesh
    return None


def generate(category: str, seed: int) -> Shape:
    """Build catalogue shape ``seed`` of ``category``: a watertight mesh (metres, z up, on z = 0, centred on z).

    The same ``(category, seed)`` always gives the same mesh, vertex for vertex. Raises ``ValueError`` for an
    unknown category (the message lists the known ones) or a negative seed.
    """
    _check_category(category)
    seed = _check_seed(seed)
    rng = np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(category.encode())]))
    builder = BUILDERS[category]
    attempts = _CSG_ATTEMPTS if category in _SCREENED else 1
    for attempt in range(attempts):
        built = builder(rng)
        try:
            mesh = built.sdf.to_mesh(voxel_size=built.voxel, bounds=built.bounds)
        except ValueError:
            if attempt + 1 < attempts:
                continue  # an empty CSG result: draw again from the same stream
            raise
        if category not in _SCREENED:
            break
        single = _single_body(mesh)
        if single is not None:
            mesh = single
            break
    else:  # pragma: no cover - 40 rejections in a row are not expected
        raise RuntimeError(f"could not build a single-component csg solid for seed {seed}")
    sdf = built.sdf
    params = dict(built.params)
    if built.recentre:
        lo, hi = mesh.bounds
        shift = np.array([-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2]])
        mesh.apply_translation(shift)
        sdf = Translate(sdf, shift)
        params["attempts"] = attempt + 1
    params["voxel"] = built.voxel
    return Shape(
        mesh=mesh,
        category=category,
        seed=seed,
        name=f"{category}_{seed:010d}",
        sdf=sdf,
        params=rounded_params(params),
    )


def shape_seed(category: str, index: int, seed: int = 0) -> int:
    """Seed of the ``index``-th shape of ``category`` in a catalogue built with ``seed``.

    ``implicit3d prepare --source catalogue:...`` uses it too, so :func:`catalogue` lists exactly the shapes it
    builds.
    """
    ss = np.random.SeedSequence([int(seed), zlib.crc32(category.encode()), int(index)])
    return int(ss.generate_state(1, dtype=np.uint32)[0])


def catalogue(category: str = "all", count: int = 8, seed: int = 0) -> list[Shape]:
    """``count`` shapes of ``category`` (or of every category for ``"all"``), in category order.

    Raises ``ValueError`` for an unknown category or ``count < 1``.
    """
    names = list(CATEGORIES) if category == "all" else [category]
    for c in names:
        _check_category(c)
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    seed = _check_seed(seed)
    return [generate(c, shape_seed(c, i, seed)) for c in names for i in range(int(count))]
