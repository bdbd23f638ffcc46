"""Build a dataset from a mesh source: labelled query points, surface samples and simulated partial depth views.

Per shape (all in the normalized frame of :func:`implicit3d.geometry.transforms.normalize_to_unit_cube`):

1. load (``sources.load_mesh``), normalize into ``[-0.5, 0.5]^3`` keeping ``loc``/``scale``;
2. ``n_uniform`` points uniform in the cube, with occupancy and SDF;
3. ``n_near`` IF-Net style near-surface points (Gaussian offsets with ``near_sigmas``), with occupancy and SDF;
4. ``n_surface`` area-uniform surface points with outward normals;
5. ``n_views`` partial views: the object, at its metric size (catalogue: real size; files: longest bbox edge
   drawn from ``object_size`` metres) and rotated by a random object pose (``view_pose``: none/yaw/so3/stable), is
   rendered from a camera on the upper hemisphere at ``camera_distance`` metres looking at its centre; sensor
   noise (``noise`` preset) is applied; the depth is back-projected and the cloud mapped back into the canonical
   normalized frame.

Query points are rounded to float16 *before* labelling, so stored coordinates and labels agree exactly.
The SDF is the unsigned distance to the mesh with the sign of the occupancy (so ``sdf < 0`` iff ``occ``).

Build properties: every shape gets its own random streams derived from ``(seed, "<category>/<name>")`` (results do
not depend on worker count or order); each shape is written into a hidden temp folder and renamed into place
when complete (a killed run leaves no half-written shape; re-running skips finished shapes); broken meshes are
skipped and listed in the manifest; splits are drawn per category from the seed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import multiprocessing as mp
import os
import shutil
import socket
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from implicit3d.data import formats
from implicit3d.data.sources import CATALOGUE_PREFIX, BrokenMeshError, MeshItem, load_mesh, resolve_source
from implicit3d.errors import UserError, warn_user
from implicit3d.geometry.sampling import sample_near_surface, sample_surface, sample_uniform
from implicit3d.geometry.transforms import (
    DEFAULT_PADDING,
    make_pose,
    normalize_to_unit_cube,
    random_rotation,
    resting_rotation,
    stable_rotations,
)
from implicit3d.geometry.validation import weld

TMP_PREFIX = ".tmp-"


VIEW_POSES = ("none", "yaw", "so3", "stable")  #: object poses of the views (stable: resting on a table)


@dataclass(frozen=True)
class PrepareConfig:
    """Settings of a build (all recorded in the manifest). Lengths are in normalized units unless they say metres.

    ``image_size`` is ``(width, height)`` pixels; ``focal`` is ``(fx, fy)`` pixels for that size (default: like
    a RealSense D435 depth stream at 640x480, fx = fy = 385 px, about 80 x 64 degrees field of view; the
    ``realsense_d435`` intrinsics preset is that depth aligned to the colour camera, fx = 615 px); the principal
    point is the image centre. ``object_size`` is the range of the longest bbox edge, in metres, used to render
    meshes whose units are unknown (folders, ShapeNet); catalogue shapes render at their own size.
    ``camera_distance`` (metres) is the camera-to-object-centre distance range; ``elevation_deg`` the range of
    camera elevation above the horizontal plane through the object centre (upper hemisphere).
    """

    n_uniform: int = 100_000
    n_near: int = 100_000
    near_sigmas: tuple[float, ...] = (0.005, 0.015, 0.05)
    n_surface: int = 100_000
    n_views: int = 4
    image_size: tuple[int, int] = (640, 480)
    focal: tuple[float, float] = (385.0, 385.0)
    camera_distance: tuple[float, float] = (0.5, 0.8)
    elevation_deg: tuple[float, float] = (10.0, 80.0)
    object_size: tuple[float, float] = (0.10, 0.35)
    noise: str = "realsense_d435"
    view_pose: str = "yaw"
    padding: float = DEFAULT_PADDING
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    save_mesh: bool = True
    inside_method: str = "auto"

    def __post_init__(self) -> None:
        for name in ("n_uniform", "n_near", "n_surface", "n_views"):
            if int(getattr(self, name)) < 0:
                raise UserError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.near_sigmas or any(s <= 0 for s in self.near_sigmas):
            raise UserError(f"near_sigmas must be positive numbers, got {self.near_sigmas}")
        if self.view_pose not in VIEW_POSES:
            raise UserError(f"view_pose must be one of {', '.join(VIEW_POSES)}, got {self.view_pose!r}")
        if not 0.0 <= self.padding < 1.0:
            raise UserError(f"padding must be in [0, 1), got {self.padding}")
        if len(self.split) != 3 or any(f < 0 for f in self.split) or not abs(sum(self.split) - 1.0) < 1e-6:
            raise UserError(f"split fractions (train, val, test) must be >= 0 and sum to 1, got {self.split}")
        lo, hi = self.camera_distance
        if not 0 < lo <= hi:
            raise UserError(f"camera_distance must satisfy 0 < min <= max, got {self.camera_distance}")
        lo, hi = self.object_size
        if not 0 < lo <= hi:
            raise UserError(f"object_size must satisfy 0 < min <= max, got {self.object_size}")
        lo, hi = self.elevation_deg
        if not -90.0 <= lo <= hi <= 90.0:
            raise UserError(f"elevation_deg must satisfy -90 <= min <= max <= 90, got {self.elevation_deg}")
        w, h = self.image_size
        if w < 1 or h < 1:
            raise UserError(f"image_size must be positive, got {self.image_size}")
        from implicit3d.limits import MAX_IMAGE_SIDE, MAX_POINTS

        if max(w, h) > MAX_IMAGE_SIDE:
            raise UserError(f"image_size must be at most {MAX_IMAGE_SIDE} pixels a side, got {w}x{h}")
        for name in ("n_uniform", "n_near", "n_surface"):
            if int(getattr(self, name)) > MAX_POINTS:
                raise UserError(f"{name} must be at most {MAX_POINTS}, got {getattr(self, name)}")
        if self.n_views > 1000:
            raise UserError(f"n_views must be at most 1000, got {self.n_views}")

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PrepareConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names})


@dataclass
class PrepareResult:
    """Outcome of :func:`prepare`: keys (``"<category>/<name>"``) built now, found finished, and broken."""

    root: Path
    built: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    broken: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def shapes(self) -> list[str]:
        return sorted(self.built + self.skipped)


# --------------------------------------------------------------------------------------------------- per shape


def shape_seed_sequence(seed: int, key: str) -> np.random.SeedSequence:
    """Root of a shape's random streams: depends only on the build seed and the shape key."""
    return np.random.SeedSequence([int(seed) & 0xFFFFFFFF, zlib.crc32(key.encode()), 0x1D3])


def _labels(mesh: trimesh.Trimesh, points: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Occupancy ``(N,) bool`` (``geometry.inside`` with ``method``) and SDF ``(N,) float64``: the unsigned
    distance (``geometry.distance``) signed by that occupancy, so both labels always agree."""
    from implicit3d.geometry.distance import MeshDistance
    from implicit3d.geometry.inside import inside

    if len(points) == 0:
        return np.zeros(0, bool), np.zeros(0)
    occ = np.asarray(inside(mesh, points, method=method), dtype=bool)
    dist = np.asarray(MeshDistance(mesh).unsigned_distance(points), dtype=np.float64)
    return occ, np.where(occ, -dist, dist)


def intrinsics_of(config: PrepareConfig) -> Any:
    """The :class:`implicit3d.sensing.camera.Intrinsics` of a build (principal point at the image centre)."""
    from implicit3d.sensing.camera import Intrinsics

    w, h = config.image_size
    return Intrinsics(fx=config.focal[0], fy=config.focal[1], cx=(w - 1) / 2.0, cy=(h - 1) / 2.0, width=w, height=h)


def render_views(
    mesh_n: trimesh.Trimesh, object_scale: float, config: PrepareConfig, rng: np.random.Generator
) -> dict[str, Any]:
    """Render ``config.n_views`` partial views of the normalized mesh ``mesh_n``.

    The view's world frame has the object centre at the origin, metres, +z up: ``world = R @ (object_scale * x)``
    for a canonical normalized point ``x`` and the view's object rotation ``R``. Cameras come from
    :func:`implicit3d.sensing.camera.sample_views` (upper hemisphere, ``camera_distance``, ``elevation_deg``);
    each view is simulated by :func:`implicit3d.sensing.render.render_partial_view` (render, ``noise`` preset with
    the renderer's normals for grazing-angle holes, back-projection). Returns a dict with ``depth`` (list of
    ``(H, W) float32`` metres after noise), ``cam_to_world (K, 4, 4)``, ``object_pose (K, 4, 4)`` (rigid, rotation
    only), ``object_scale (K,)``, ``clouds`` (list of ``(P_k, 3) float32`` canonical normalized points) and
    ``intrinsics``.
    """
    from implicit3d.sensing.camera import sample_views
    from implicit3d.sensing.noise import noise_preset
    from implicit3d.sensing.render import render_partial_view

    k = config.n_views
    intr = intrinsics_of(config)
    noise = noise_preset(config.noise)
    cams = sample_views(
        k, rng, distance=tuple(config.camera_distance), hemisphere="upper", elevation_deg=tuple(config.elevation_deg)
    )
    if config.view_pose == "stable":  # set down on a table: upright or in a resting pose, random yaw
        stable = stable_rotations(mesh_n)
        rotations = [resting_rotation(rng, stable) for _ in range(k)]
    else:
        rotations = [random_rotation(rng, config.view_pose) for _ in range(k)]
    depths, clouds = [], []
    v0 = np.asarray(mesh_n.vertices) * object_scale
    faces = np.asarray(mesh_n.faces)
    for cam, rot in zip(cams, rotations, strict=True):
        depth, world = render_partial_view((v0 @ rot.T, faces), intr, cam, noise, rng)
        depths.append(depth)
        clouds.append(((world.astype(np.float64) @ rot) / object_scale).astype(np.float32))  # R^T p / s
    return {
        "depth": depths,
        "cam_to_world": np.asarray(cams, dtype=np.float64).reshape(k, 4, 4),
        "object_pose": np.stack([make_pose(r) for r in rotations]) if k else np.zeros((0, 4, 4)),
        "object_scale": np.full(k, object_scale),
        "clouds": clouds,
        "intrinsics": intr,
    }


FLATNESS = 1e-6  #: a mesh thinner than this fraction of its size in every direction encloses no volume


def check_volume(mesh: trimesh.Trimesh) -> None:
    """Raise :class:`BrokenMeshError` for a mesh that cannot enclose a volume: all its vertices on one plane or line
    (a single triangle, a flat quad), whatever the plane's orientation (the vertices' principal axes)."""
    v = np.asarray(mesh.vertices, dtype=np.float64)
    v = v - v.mean(axis=0)
    sv = np.linalg.svd(v, compute_uv=False) if len(v) >= 3 else np.zeros(3)
    if len(sv) < 3 or not sv[2] > FLATNESS * sv[0]:
        raise BrokenMeshError("encloses no volume: all its vertices lie on one plane (a flat or single-triangle "
                              "surface, not a solid)")


def build_shape(item: MeshItem, config: PrepareConfig, seed: int, dest: Path) -> dict[str, Any]:
    """Compute all files of one shape into the (existing, empty) folder ``dest``; returns its ``shape.json`` dict.

    Raises :class:`BrokenMeshError` when the mesh cannot be used.
    """
    world = load_mesh(item)
    check_volume(world)
    try:
        mesh_n, loc, scale = normalize_to_unit_cube(world, padding=config.padding)
    except ValueError as exc:
        raise BrokenMeshError(str(exc)) from exc
    ss = shape_seed_sequence(seed, item.key)
    rng_uniform, rng_near, rng_surface, rng_views, rng_size = (np.random.default_rng(s) for s in ss.spawn(5))

    # 2. + 3. uniform points in the cube and near-surface points, rounded to the stored float16 before labelling
    uni = sample_uniform(config.n_uniform, 0.5, rng_uniform).astype(np.float16)
    near, sigma_idx = sample_near_surface(mesh_n, config.n_near, config.near_sigmas, rng_near, return_sigma_index=True)
    near = near.astype(np.float16)
    occ_all, sdf_all = _labels(mesh_n, np.concatenate([uni, near]).astype(np.float64), config.inside_method)
    if len(occ_all) and not occ_all.any():
        raise BrokenMeshError(f"encloses no volume: all {len(occ_all)} sample points are outside (an open sheet or a "
                              "flat surface, not a solid)")
    nu = len(uni)
    occ = occ_all[:nu]
    formats.write_points_npz(dest / formats.POINTS, uni, occ, loc, scale, sdf=sdf_all[:nu])
    formats.write_points_npz(
        dest / formats.POINTS_NEAR,
        near,
        occ_all[nu:],
        loc,
        scale,
        sdf=sdf_all[nu:],
        extra={
            "sigma_index": sigma_idx.astype(np.uint8),
            "sigmas": np.asarray(config.near_sigmas, dtype=np.float64),
        },
    )

    # 4. surface samples
    surf, normals = sample_surface(mesh_n, config.n_surface, rng_surface)
    formats.write_pointcloud_npz(dest / formats.POINTCLOUD, surf, normals, loc, scale)

    # 5. partial views at metric size
    if item.metric:
        object_scale = float(scale)  # normalized * scale = world - loc: the object's own size in metres
    else:
        longest = rng_size.uniform(*config.object_size)
        object_scale = float(longest / (1.0 - config.padding))
    views = render_views(mesh_n, object_scale, config, rng_views)
    depth_scale = 1000.0
    n_pts = np.array([len(c) for c in views["clouds"]], dtype=np.int64)
    intr = views["intrinsics"]
    k = config.n_views
    formats.save_npz(
        dest / formats.VIEWS,
        {
            "points": (np.concatenate(views["clouds"]) if k else np.zeros((0, 3))).astype(np.float32),
            "offsets": np.concatenate([[0], np.cumsum(n_pts)]).astype(np.int64),
            "intrinsics": np.tile([intr.fx, intr.fy, intr.cx, intr.cy, intr.width, intr.height], (k, 1)).astype(
                np.float64
            ),
            "cam_to_world": views["cam_to_world"].astype(np.float64),
            "object_pose": views["object_pose"].astype(np.float64),
            "object_scale": views["object_scale"].astype(np.float64),
            "depth_scale": np.asarray(depth_scale),
        },
    )
    if k:
        (dest / formats.DEPTH_DIR).mkdir()
        for i, d in enumerate(views["depth"]):
            formats.write_depth_png(dest / formats.DEPTH_DIR / f"{i:03d}.png", d, depth_scale)

    if config.save_mesh:
        formats.atomic_write_bytes(dest / formats.MESH, formats.ply_bytes(mesh_n.vertices, mesh_n.faces))

    info = {
        "name": item.name,
        "category": item.category,
        "origin": item.origin if item.kind == "file" else f"catalogue:{item.origin}",
        "generator_seed": item.seed,
        "loc": np.asarray(loc, dtype=np.float64),
        "scale": float(scale),
        "up": item.up,  # "y": the file's y-up frame was turned z-up before loc/scale (sources.Y_UP_TO_Z_UP)
        "n_vertices": int(len(mesh_n.vertices)),
        "n_faces": int(len(mesh_n.faces)),
        "watertight": bool(weld(mesh_n).is_watertight),  # closed as a surface (an STL's corners are split)
        "occupancy_fraction": float(occ.mean()) if len(occ) else 0.0,
        "view_points": n_pts,
        "format_version": formats.FORMAT_VERSION,
    }
    formats.write_json(dest / formats.SHAPE_INFO, info)  # written last
    return info


def shape_dir(root: Path, key: str) -> Path:
    return root / key


def is_complete(root: Path, key: str, item: MeshItem | None = None) -> bool:
    """A shape is complete when its folder exists with ``shape.json`` (folders appear only by atomic rename) —
    and, given its ``item``, was built from that item's file (a folder left under a name that now belongs to
    another file, after a rename, is built again)."""
    info_path = shape_dir(root, key) / formats.SHAPE_INFO
    if not info_path.is_file():
        return False
    if item is None or item.kind != "file":
        return True
    try:
        info = formats.read_json(info_path)
    except (OSError, ValueError):
        return False
    return isinstance(info, dict) and info.get("origin") == item.origin


def process_item(item: MeshItem, config: PrepareConfig, seed: int, root: str) -> tuple[str, str, str]:
    """Build one shape into ``root`` atomically. Returns ``(status, key, message)`` with status ``"built"``,
    ``"skipped"`` (already complete) or ``"broken"``."""
    root_p = Path(root)
    key = item.key
    if is_complete(root_p, key, item):
        return "skipped", key, ""
    final = shape_dir(root_p, key)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f"{TMP_PREFIX}{item.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        build_shape(item, config, seed, tmp)
        if final.exists():  # an incomplete leftover (no shape.json), or another file's: replace it
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BrokenMeshError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        return "broken", key, str(exc)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return "built", key, ""


# --------------------------------------------------------------------------------------------------- the build


def _worker_init() -> None:
    # one numba/BLAS thread per worker process: the workers already use the cores
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    import numba

    numba.set_num_threads(1)


def _worker(args: tuple[MeshItem, PrepareConfig, int, str]) -> tuple[str, str, str]:
    return process_item(*args)


def make_splits(
    keys: Sequence[str], fractions: Sequence[float], seed: int, previous: dict[str, list[str]] | None = None
) -> dict[str, list[str]]:
    """Deterministic train/val/test split, stratified by category (the part of the key before ``/``).

    Each category's sorted names are shuffled by a generator seeded from ``(seed, category)``; val and test get
    ``round(n * fraction)`` shapes (at least one each when the fraction is > 0 and the category has >= 3 shapes),
    train the rest. ``previous``: the splits of an earlier build of the same dataset: a shape keeps its split there
    (a held-out shape never becomes a training shape when meshes are added), and only the new shapes are drawn, into
    val and test as far as those fall short of their counts, then train. Lists are returned sorted.
    """
    was = {key: split for split, members in (previous or {}).items() for key in members}
    by_cat: dict[str, list[str]] = {}
    for key in sorted(keys):
        by_cat.setdefault(key.split("/", 1)[0], []).append(key)
    out: dict[str, list[str]] = {s: [] for s in formats.SPLITS}
    for cat, members in by_cat.items():
        n = len(members)
        kept = [m for m in members if m in was]
        new = [m for m in members if m not in was]
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(cat.encode()), 0x5917])
        order = [new[i] for i in rng.permutation(len(new))]
        counts = []
        for frac in fractions[1:]:
            c = int(round(n * frac))
            if frac > 0 and n >= 3:
                c = max(c, 1)
            counts.append(c)
        n_val, n_test = counts
        n_val = min(n_val, n)
        n_test = min(n_test, n - n_val)
        for m in kept:
            out[was[m]].append(m)
        n_val = max(0, n_val - sum(was[m] == "val" for m in kept))
        n_test = max(0, n_test - sum(was[m] == "test" for m in kept))
        n_val = min(n_val, len(order))
        n_test = min(n_test, len(order) - n_val)
        out["val"] += order[:n_val]
        out["test"] += order[n_val : n_val + n_test]
        out["train"] += order[n_val + n_test :]
    return {s: sorted(v) for s, v in out.items()}


def _read_splits(root: Path) -> dict[str, list[str]] | None:
    """The split files of an earlier complete build at ``root``, or ``None``."""
    found = {}
    for split in formats.SPLITS:
        path = formats.split_file(root, split)
        if not path.is_file():
            return None
        try:
            found[split] = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        except (OSError, UnicodeDecodeError):
            return None
    return found


def _previous_splits(root: Path, items: list) -> tuple[dict[str, list[str]] | None, list[tuple[str, str]]]:
    """The splits of an earlier finished build at ``root`` in the keys of this build's ``items`` (a shape whose
    name changed is found by its source file, as its ``shape.json`` records it), and the ``(old, new)`` keys of the
    shapes renamed; ``(None, [])`` without split files."""
    found = _read_splits(root)
    if found is None:
        return None, []
    current = {it.key for it in items}
    by_origin = {str(it.origin): it.key for it in items if it.kind == "file"}
    placed = {key for keys in found.values() for key in keys if key in current}
    renamed: list[tuple[str, str]] = []
    out: dict[str, list[str]] = {}
    for split, keys in found.items():
        out[split] = [key for key in keys if key in current]
        for key in keys:
            if key in current:
                continue
            try:
                info = formats.read_json(root / key / formats.SHAPE_INFO)
            except (OSError, ValueError):
                continue
            origin = info.get("origin") if isinstance(info, dict) else None
            new = by_origin.get(origin) if isinstance(origin, str) else None
            if new is not None and new not in placed:
                out[split].append(new)
                placed.add(new)
                renamed.append((key, new))
    return out, sorted(renamed)


def _write_splits(root: Path, splits: dict[str, list[str]]) -> None:
    categories = sorted({k.split("/", 1)[0] for keys in splits.values() for k in keys})
    for split, keys in splits.items():
        formats.atomic_write_bytes(formats.split_file(root, split), "".join(k + "\n" for k in keys).encode())
        for cat in categories:
            names = [k.split("/", 1)[1] for k in keys if k.split("/", 1)[0] == cat]
            formats.atomic_write_bytes(root / cat / f"{split}.lst", "".join(n + "\n" for n in names).encode())


def _clean_temp(root: Path) -> None:
    for tmp in root.glob(f"*/{TMP_PREFIX}*"):
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)


def _manifest(source: str, count: int | None, seed: int, config: PrepareConfig, up: str) -> dict[str, Any]:
    from implicit3d import __version__

    return {
        "format_version": formats.FORMAT_VERSION,
        "implicit3d_version": __version__,
        "source": source,
        "count": count,
        "count_per": "category",  # --count on a folder: its first N files of each category (before: N overall)
        "seed": int(seed),
        "up": up,
        "settings": config.to_json(),
        "complete": False,
    }


def prepare(
    source: str,
    out: str | os.PathLike,
    count: int | None = None,
    config: PrepareConfig | None = None,
    seed: int = 0,
    workers: int = 1,
    progress: bool = True,
    up: str | None = None,
    start_method: str = "spawn",
    on_shape: Callable[[str, str, str], None] | None = None,
) -> PrepareResult:
    """Build (or resume building) a dataset at ``out`` from ``source`` (see :mod:`implicit3d.data.sources`).

    ``workers`` > 1 runs shapes in a process pool of fresh interpreters (``start_method`` ``"spawn"`` by default,
    or ``"forkserver"``; ``"fork"`` can hang once numba's parallel threading layer or torch ran in this
    process), one numba thread each. ``on_shape(status, key, message)`` is called in the parent after each shape.
    An existing ``out`` built with other settings, source or seed raises :class:`UserError`. Returns a
    :class:`PrepareResult`; the
    manifest (``complete: true``) and split files are written at the end.
    """
    config = config or PrepareConfig()
    if getattr(mp.current_process(), "_inheriting", False):  # a worker re-running an unguarded script
        raise RuntimeError(MAIN_GUARD_HINT)
    if workers < 1:
        raise UserError(f"--workers must be >= 1, got {workers}")
    root = Path(out)
    items = resolve_source(source, count, seed, up=up)
    ups_of_items = {it.up for it in items}  # what the meshes are read with: "y" for a ShapeNet tree
    manifest = _manifest(source, count, seed, config,
                         next(iter(ups_of_items)) if len(ups_of_items) == 1 else (up or "z"))
    manifest_path = root / formats.MANIFEST
    if root.exists() and not root.is_dir():
        raise UserError(f"output {str(root)!r} exists and is not a folder")
    if manifest_path.exists():
        old = formats.read_json(manifest_path)
        if old.get("up") == "z" and manifest["up"] == "y" and ups_of_items == {"y"} and up in (None, "z"):
            old["up"] = "y"  # a ShapeNet build from before the manifest said how it was read (it stored the default)
        keys = ["source", "count", "seed", "up", "settings"]
        if count is not None and not source.startswith(CATALOGUE_PREFIX):
            keys.append("count_per")  # a folder built before --count meant "per category" held the first N overall
        mismatched = [k for k in keys if old.get(k) != manifest[k]]
        if mismatched == ["count_per"]:
            raise UserError(f"{root} was built with --count {count} as the first {count} files of the whole folder; "
                            f"--count now keeps the first {count} of each category: use a new output folder (or "
                            "delete this one) to build with it")
        if mismatched:
            raise UserError(
                f"{root} holds a dataset built with different {', '.join(mismatched)}; "
                "use a new output folder (or delete this one) to build with these settings"
            )
    elif root.exists() and any(p.name != LOCK_FILE for p in root.iterdir()):
        raise UserError(f"output folder {root} exists, is not empty and has no {formats.MANIFEST}")
    if not items:
        raise UserError(f"{source}: no mesh to build")
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    try:
        with dataset_lock(root):
            return _prepare_locked(root, source, items, manifest, config, seed, workers, progress, start_method,
                                   on_shape)
    finally:
        if created and not any(root.iterdir()):  # nothing was built: leave no empty dataset folder behind
            root.rmdir()


LOCK_FILE = ".prepare.lock"
MAIN_GUARD_HINT = (
    "prepare() with workers > 1 starts fresh Python processes that import the calling script again: put the "
    "script's top-level code under `if __name__ == \"__main__\":` (or use workers=1)"
)


@contextlib.contextmanager
def dataset_lock(root: Path) -> Iterator[None]:
    """Hold ``<root>/.prepare.lock`` while a prepare run writes ``root``: a second run into the same folder stops
    with a :class:`UserError` instead of deleting the first run's temporary folders. A lock left by a process that
    no longer runs (on this host) is taken over."""
    lock = root / LOCK_FILE
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                owner = json.loads(lock.read_text() or "{}")
            except (OSError, ValueError):
                owner = {}
            pid = owner.get("pid") if isinstance(owner, dict) else None
            if owner.get("host") == me["host"] and isinstance(pid, int) and not _alive(pid):
                lock.unlink(missing_ok=True)  # stale: its process is gone
                continue
            raise UserError(
                f"{root}: another implicit3d prepare (pid {pid}, host {owner.get('host')}) is writing this dataset; "
                f"wait for it to finish (or delete {lock} if no such process runs)"
            ) from None
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(me))
        break
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _prepare_locked(
    root: Path,
    source: str,
    items: list,
    manifest: dict[str, Any],
    config: PrepareConfig,
    seed: int,
    workers: int,
    progress: bool,
    start_method: str,
    on_shape: Callable[[str, str, str], None] | None,
) -> PrepareResult:
    manifest_path = root / formats.MANIFEST
    formats.write_json(manifest_path, manifest)
    _clean_temp(root)

    result = PrepareResult(root=root)
    t0 = time.perf_counter()
    done = {it.key for it in items if is_complete(root, it.key, it)}
    todo = [it for it in items if it.key not in done]
    result.skipped = [it.key for it in items if it.key in done]
    origins = {it.key: it.origin for it in items}

    from tqdm import tqdm

    bar = tqdm(total=len(items), initial=len(result.skipped), desc="prepare", unit="shape", disable=not progress)

    def record(status: str, key: str, msg: str) -> None:
        if status == "built":
            result.built.append(key)
        elif status == "skipped":
            result.skipped.append(key)
        else:
            result.broken.append({"key": key, "origin": origins[key], "reason": msg})
            warn_user(f"{origins[key]}: skipping broken mesh: {msg}")
        if on_shape is not None:
            on_shape(status, key, msg)
        bar.update(1)

    try:
        args = [(it, config, seed, str(root)) for it in todo]
        if workers == 1 or len(todo) <= 1:
            for a in args:
                record(*_worker(a))
        else:
            from concurrent.futures import ProcessPoolExecutor, as_completed
            from concurrent.futures.process import BrokenProcessPool

            # a pool that fails when a worker dies (multiprocessing.Pool would start it again, forever: e.g. a
            # worker that cannot start because the calling script has no main guard)
            ctx = mp.get_context(start_method)
            try:
                with ProcessPoolExecutor(min(workers, len(todo)), mp_context=ctx, initializer=_worker_init) as pool:
                    for fut in as_completed([pool.submit(_worker, a) for a in args]):
                        record(*fut.result())
            except BrokenProcessPool:
                raise UserError(f"{root}: a worker process died (out of memory, killed, or it could not start; "
                                f"{MAIN_GUARD_HINT}); run again to resume") from None
    finally:
        bar.close()
    result.seconds = time.perf_counter() - t0

    shapes = result.shapes
    if not shapes:  # nothing usable: do not mark the dataset complete, leave no dataset behind
        manifest_path.unlink(missing_ok=True)
        for sub in root.iterdir():
            if sub.is_dir() and not any(sub.iterdir()):
                sub.rmdir()
        first = result.broken[0] if result.broken else {"origin": source, "reason": "no mesh"}
        raise UserError(
            f"{source}: no usable mesh, all {len(result.broken)} broken (e.g. {first['origin']}: {first['reason']})"
        )
    previous, renamed = _previous_splits(root, items)  # split files are written by finished builds only
    splits = make_splits(shapes, config.split, seed, previous)
    if previous is not None:
        held = {k for split in ("val", "test") for k in previous[split]}
        added = sorted(set(shapes) - {k for keys in previous.values() for k in keys})
        if added and held:
            warn_user(f"{root}: {len(added)} new shape{'s' if len(added) != 1 else ''} added to an earlier build: "
                      "the earlier shapes keep their splits (no held-out shape becomes a training shape); the new "
                      "ones fill val and test up to their fractions, the rest train")
        if renamed:
            warn_user(f"{root}: {len(renamed)} shape{'s are' if len(renamed) != 1 else ' is'} now named otherwise "
                      f"(e.g. {renamed[0][0]} -> {renamed[0][1]}: file names are cleaned up differently since, or a "
                      "new file's name collided): built again under the new name, keeping its split; the old "
                      "folders are no longer part of the dataset and can be deleted")
    empty = [name for name, frac in zip(("val", "test"), config.split[1:], strict=True)
             if frac > 0 and not splits[name]]
    if empty:
        n = len(shapes)
        warn_user(f"{root}: the {' and '.join(empty)} split{'s are' if len(empty) > 1 else ' is'} empty ({n} "
                  f"shape{'s' if n != 1 else ''}; a category gets val and test shapes from 3 shapes on): training "
                  "will run without validation, and `evaluate` needs another --split")
    _write_splits(root, splits)
    categories: dict[str, int] = {}
    for key in shapes:
        cat = key.split("/", 1)[0]
        categories[cat] = categories.get(cat, 0) + 1
    count = manifest.get("count")
    if count is not None:  # --count takes the first N files: broken ones leave a category short, said once
        broken_in: dict[str, int] = {}
        for b in result.broken:
            cat = b["key"].split("/", 1)[0]
            broken_in[cat] = broken_in.get(cat, 0) + 1
        short = sorted(c for c in broken_in if categories.get(c, 0) < count)
        if short:
            warn_user(f"{root}: --count {count} takes the first {count} files of each category, and broken ones "
                      "among them leave "
                      + ", ".join(f"{c} with {categories.get(c, 0)} shape{'s' if categories.get(c, 0) != 1 else ''}"
                                  for c in short)
                      + " (fix or remove the broken files, or raise --count)")
    manifest.update(
        {
            "complete": True,
            "shapes": shapes,
            "categories": categories,
            "splits": {s: len(v) for s, v in splits.items()},
            "broken": sorted(result.broken, key=lambda b: b["key"]),
        }
    )
    formats.write_json(manifest_path, manifest)
    result.broken.sort(key=lambda b: b["key"])
    return result


def load_manifest(root: str | os.PathLike) -> dict[str, Any]:
    """Read ``<root>/manifest.json`` or raise :class:`UserError` saying the folder is not a dataset."""
    path = Path(root) / formats.MANIFEST
    if not path.is_file():
        raise UserError(f"{root} is not an implicit3d dataset: {formats.MANIFEST} not found (build one with prepare)")
    return formats.read_json(path)
