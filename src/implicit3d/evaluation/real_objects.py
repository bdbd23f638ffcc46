"""Real-object development suite: metric meshes of household objects, two scanning protocols, per-class scores.

**The meshes are for evaluation only: never train on them.**

Meshes (:func:`load_real_objects`): every mesh file of a folder (e.g. ``../shared/realobjects/meshes``: 40 YCB,
Google Scanned Objects, HOPE, OCRTOC and HOI4D objects), read as trimesh loads them and then welded
(``merge_vertices(merge_tex=True, merge_norm=True)``: textured OBJs keep their UV seams split, which leaves them
open), as plain meshes without visuals, scaled to **metres** by the ``units`` column of a ``SOURCES.md`` table in the
folder or its parent (:func:`units_from_sources`; HOPE files are in centimetres; files it does not list are taken as
metres). Each object gets a class (:func:`object_class`): from ``classes.csv`` (``name,class``) in the folder or its
parent when it lists the file, else from keywords of the file name (:data:`CLASS_KEYWORDS`), else ``"other"``.

Ground-truth occupancy: :func:`implicit3d.geometry.inside.inside` with ``method="auto"``, as
:func:`implicit3d.evaluation.scans.iou_samples` uses it — signed ray crossings (the exact winding number's
``w != 0``) on a closed, consistently oriented mesh, ray parity on a closed one with flipped faces, and a three-axis
parity vote on an open one. :func:`gt_rule` names the rule a mesh gets; :func:`ground_truth_check` compares it with
the generalized winding number and the convex hull, so a mesh whose occupancy looks wrong shows up.

Protocols (one simulated RealSense D435 view per draw: 640x480, fx = fy = 385 px, ``realsense_d435`` noise):

- ``free`` — free-floating, as :func:`implicit3d.evaluation.scans.scan_object`: the object is rescaled so its
  longest bounding-box edge is 10-30 cm, turned uniformly over SO(3) and put 0.5-0.8 m in front of the camera. The
  completion gets the camera-frame cloud with ``up = -y`` (no direction is truly up). Draw 0 is the exact view (and
  IoU samples) of :func:`implicit3d.evaluation.scans.make_scans` with the same seed, so single-draw numbers stay
  comparable.
- ``table`` — resting on a table (:func:`scan_on_table`): the object keeps its **real metric size** (the point of
  metric meshes: a robot sees a 26 cm plate and a 4 cm strawberry as they are; set ``table_size_range`` to rescale
  meshes of unknown units), is set down in one of its stable resting poses (:func:`implicit3d.geometry.transforms.
  stable_rotations`, drawn by probability; never the file's own +z, since the sources' frames differ) with a
  uniformly random yaw on a 1.4 x 1.0 m table, and is seen from a robot's viewpoint: elevation 20-80 degrees above
  the table, any azimuth, 0.4-1.2 m from the object's centre, looking at it. The table is rendered (it hides nothing
  of the object, but its edges with the object make the sensor's mixed pixels), then removed as the tabletop
  pipeline would: pixels of the table go, and so do object points less than
  :attr:`implicit3d.sensing.segment.SegmentSettings.min_height` (8 mm) above it (the true plane is used: no
  plane-fitting error), and the object's statistical outliers, as the segmentation drops them from every object
  (:func:`implicit3d.sensing.segment.remove_outliers`; mixed pixels between the object's edge and the table behind
  it would otherwise stray up to half a metre behind the object). The free protocol keeps today's cloud as it is
  (against an empty background its flying pixels stay within a short tail). The completion gets ``up`` = the table
  normal in the camera frame (models trained with ``pose: camera``, like the bundled one, ignore it) and the camera
  as viewpoint; it is *not* bounded by the table (that is the scene pipeline's job, see
  ``benchmarks/bench_tabletop.py``), and the baseline is the plain convex hull of the observed points, not the
  table-closed hull of that benchmark.

Scores (:func:`evaluate_real_objects`, one row per object, protocol and draw), for the model's completion and for the
convex hull of the observed points (the baseline) on the same samples: volumetric IoU, precision, recall and
completed / true volume on 100k uniform points of the IoU cube (:func:`implicit3d.evaluation.scans.iou_samples`),
shell failure (< 50 % of the true volume) and over-fill (> 150 %) flags (:mod:`implicit3d.evaluation.summary`),
Chamfer-L1 in millimetres and F-scores at 5 and 10 mm on 30k surface samples each. Millimetres are those of the
object as scanned: rescaled to 10-30 cm in ``free``, real size in ``table``. Thin objects fill little of their
IoU cube (a spoon ~0.2 %: ~200 of the 100k points), so their IoU is noisy from view to view.
"""

from __future__ import annotations

import csv
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from implicit3d.errors import UserError
from implicit3d.evaluation.scans import MIN_SCAN_POINTS, Scan, ScanError, object_rng
from implicit3d.geometry.validation import weld

#: File units of a ``SOURCES.md`` ``units`` column -> metres per unit.
UNIT_SCALES: dict[str, float] = {
    "metres": 1.0, "meters": 1.0, "metre": 1.0, "meter": 1.0, "m": 1.0,
    "centimetres": 0.01, "centimeters": 0.01, "centimetre": 0.01, "centimeter": 0.01, "cm": 0.01,
    "millimetres": 0.001, "millimeters": 0.001, "millimetre": 0.001, "millimeter": 0.001, "mm": 0.001,
    "inches": 0.0254, "inch": 0.0254, "in": 0.0254,
}
#: Object classes and the file-name words that put an object in them, first match wins (in this order). The
#: classes: ``bottle`` (bottles, jars, tubes), ``can``, ``box`` (boxes, cartons, blocks, bricks), ``dish`` (mugs,
#: cups, bowls, plates, pans, dishes), ``fruit``, ``tool`` (tools and utensils); anything else is ``other``.
CLASS_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("bottle", ("bottle", "glue", "fluid", "toothpaste", "suger", "jar", "tube", "shampoo", "detergent")),
    ("can", ("can", "soup", "chip", "tin")),
    ("box", ("box", "tea", "pie", "cheese", "block", "brick", "carton", "cracker")),
    ("dish", ("mug", "cup", "bowl", "plate", "pan", "frypan", "dish", "pot")),
    ("fruit", ("apple", "banana", "lemon", "orange", "peach", "pear", "plum", "strawberry", "lime", "grape",
               "mango", "kiwi")),
    ("tool", ("scissors", "spoon", "fork", "knife", "screwdriver", "hammer", "clamp", "marker", "pen", "stapler",
              "wrench", "spatula")),
)
OTHER_CLASS = "other"
PROTOCOLS = ("free", "table")
FREE_UP = "-y"  #: the completion's up in the free protocol: a level camera (the object is turned at random anyway)
TABLE_DISTANCE = (0.4, 1.2)  #: camera to object-centre distance of the table protocol (metres)
TABLE_ELEVATION_DEG = (20.0, 80.0)  #: camera elevation above the table plane of the table protocol (degrees)


# ------------------------------------------------------------------------------------------------ SOURCES.md


def _cells(line: str) -> list[str] | None:
    """The cells of a Markdown table row (``| a | b |``), stripped, or ``None`` for any other line."""
    s = line.strip()
    if not (s.startswith("|") and s.endswith("|") and len(s) > 1):
        return None
    return [c.strip() for c in s[1:-1].split("|")]


def read_sources_table(text: str) -> dict[str, dict[str, str]]:
    """Rows of the Markdown tables of a ``SOURCES.md`` text, keyed by their ``file`` cell.

    A table is a header row followed by a ``|---|`` separator row; every table whose header has a ``file`` column
    contributes its rows as ``{column name (lower case): cell}`` (backticks stripped), merged per file across
    tables. Other lines and tables are ignored.
    """
    out: dict[str, dict[str, str]] = {}
    lines = text.splitlines()
    header: list[str] | None = None
    for i, line in enumerate(lines):
        cells = _cells(line)
        if cells is None:
            header = None
            continue
        nxt = _cells(lines[i + 1]) if i + 1 < len(lines) else None
        if nxt is not None and nxt and all(re.fullmatch(r":?-{3,}:?", c) for c in nxt):
            header = [c.lower() for c in cells]
            continue
        if all(re.fullmatch(r":?-{3,}:?", c) for c in cells) or header is None or "file" not in header:
            continue
        row = {h: cells[k].strip("`").strip() for k, h in enumerate(header) if k < len(cells)}
        if row.get("file"):
            out.setdefault(row["file"], {}).update(row)
    return out


def units_from_sources(text: str) -> dict[str, float]:
    """Metres per file unit, per file name, from the ``units`` column of a ``SOURCES.md`` text
    (:func:`read_sources_table`, :data:`UNIT_SCALES`). Files without a units cell are left out; an unknown unit
    raises ``ValueError`` naming the file."""
    out: dict[str, float] = {}
    for name, row in read_sources_table(text).items():
        unit = row.get("units", "").strip().lower()
        if not unit:
            continue
        if unit not in UNIT_SCALES:
            raise ValueError(f"SOURCES.md: unknown units {unit!r} for {name} (known: {', '.join(UNIT_SCALES)})")
        out[name] = UNIT_SCALES[unit]
    return out


# ------------------------------------------------------------------------------------------------ classes


def _stem(name: str) -> str:
    """The file stem of ``name`` when it ends in a mesh extension, else ``name`` (folders dropped)."""
    from implicit3d.fileio import MESH_EXTENSIONS

    p = Path(name)
    return p.stem if p.suffix.lower() in MESH_EXTENSIONS else p.name


def object_class(name: str, overrides: Mapping[str, str] | None = None) -> str:
    """The class of the object in file ``name`` (a file name or stem).

    ``overrides`` (e.g. :func:`read_classes_csv`) wins when it lists the file (by name or stem: ``"duck"`` and
    ``"duck.obj"`` are the same file); otherwise the first
    class of :data:`CLASS_KEYWORDS` one of whose words is a word of the name (split at anything but letters;
    a plural ``s`` is allowed: ``"bowls"`` is a dish), else :data:`OTHER_CLASS`.
    """
    stem = _stem(name)
    if overrides:
        listed = {_stem(k): v.strip() for k, v in overrides.items() if v.strip()}
        if stem in listed:
            return listed[stem]
    words = {w for w in re.split(r"[^a-z]+", stem.lower()) if w}
    words |= {w[:-1] for w in words if w.endswith("s") and len(w) > 3}
    for cls, keywords in CLASS_KEYWORDS:
        if words.intersection(keywords):
            return cls
    return OTHER_CLASS


def read_classes_csv(path: str | Path) -> dict[str, str]:
    """``{file name or stem: class}`` from a CSV file with columns ``name`` and ``class`` (header row required)."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or not {"name", "class"} <= {f.strip() for f in reader.fieldnames}:
            raise ValueError(f"{path}: needs a header row with the columns 'name' and 'class'")
        return {row["name"].strip(): row["class"].strip() for row in reader if row.get("name") and row.get("class")}


# ------------------------------------------------------------------------------------------------ meshes


@dataclass(frozen=True)
class RealObject:
    """One mesh of the suite: ``name`` (file stem), ``mesh`` (plain ``trimesh.Trimesh``, vertices ``(V, 3)
    float64`` in **metres**, welded), ``category`` (:func:`object_class`), ``scale`` (metres per file unit) and
    ``units`` (where the scale came from: ``"metres"``, ``"centimetres"``..., or ``"metres (assumed)"``)."""

    name: str
    mesh: trimesh.Trimesh
    category: str
    scale: float
    units: str


def _beside(folder: Path, filename: str) -> Path | None:
    for candidate in (folder / filename, folder.parent / filename):
        if candidate.is_file():
            return candidate
    return None


def load_real_objects(
    folder: str | Path, skipped: list[tuple[str, str]] | None = None
) -> list[RealObject]:
    """Every mesh file of ``folder`` (:data:`implicit3d.fileio.MESH_EXTENSIONS`, sorted by name) as a
    :class:`RealObject` in metres — EVALUATION DATA ONLY.

    Units: ``SOURCES.md`` in the folder or its parent (:func:`units_from_sources`), files it does not list are
    taken as metres. Classes: ``classes.csv`` there (:func:`read_classes_csv`), else :func:`object_class`. Each
    mesh is read with trimesh's processing (:func:`implicit3d.fileio.read_mesh` ``process=True``) and welded
    (:func:`weld`). Unreadable or degenerate meshes (:func:`implicit3d.evaluation.scans.mesh_problem`) are left
    out and, when ``skipped`` is a list, ``(name, reason)`` is appended to it. Raises :class:`UserError` when the
    folder does not exist or holds no mesh file.
    """
    from implicit3d.evaluation.scans import mesh_problem
    from implicit3d.fileio import MESH_EXTENSIONS, MeshFileError, read_mesh

    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: mesh folder not found")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in MESH_EXTENSIONS)
    if not files:
        raise UserError(f"{folder}: no mesh files ({', '.join(MESH_EXTENSIONS)})")
    sources = _beside(folder, "SOURCES.md")
    text = sources.read_text(encoding="utf-8") if sources else ""
    units = units_from_sources(text)
    unit_names = {k: r.get("units", "").lower() for k, r in read_sources_table(text).items()}
    classes_csv = _beside(folder, "classes.csv")
    overrides = read_classes_csv(classes_csv) if classes_csv else None
    out: list[RealObject] = []
    for path in files:
        try:
            with np.errstate(invalid="ignore"):  # trimesh casts NaN vertex normals of some files while merging
                mesh = weld(read_mesh(path, process=True))
        except MeshFileError as exc:
            if skipped is not None:
                skipped.append((path.stem, exc.reason))
            continue
        reason = mesh_problem(mesh)
        if reason is not None:
            if skipped is not None:
                skipped.append((path.stem, reason))
            continue
        scale = units.get(path.name, 1.0)
        if scale != 1.0:
            mesh.apply_scale(scale)
        label = unit_names.get(path.name) if path.name in units else "metres (assumed)"
        out.append(RealObject(path.stem, mesh, object_class(path.name, overrides), float(scale), label or "metres"))
    return out


def load_meshes(folder: str | Path) -> list[tuple[str, trimesh.Trimesh]]:
    """``(name, mesh in metres)`` of :func:`load_real_objects` ``(folder)`` — EVALUATION DATA ONLY."""
    return [(o.name, o.mesh) for o in load_real_objects(folder)]


# ------------------------------------------------------------------------------------------------ ground truth


def gt_rule(mesh: trimesh.Trimesh) -> str:
    """The inside rule :func:`implicit3d.geometry.inside.inside` ``method="auto"`` applies to ``mesh``:
    ``"signed"`` (closed, consistently oriented), ``"parity"`` (closed, some faces flipped) or ``"vote"`` (open)."""
    from implicit3d.geometry.inside import closure

    closed, oriented = closure(mesh)
    return "signed" if oriented else ("parity" if closed else "vote")


def ground_truth_check(
    mesh: trimesh.Trimesh, rng: np.random.Generator | int | None = 0, n_points: int = 20_000
) -> dict[str, Any]:
    """How trustworthy the ground-truth occupancy of ``mesh`` (metres) is.

    On ``n_points`` uniform points of its IoU cube (:func:`implicit3d.evaluation.scans.iou_samples`): ``rule``
    (:func:`gt_rule`), ``watertight`` (trimesh's test), ``volume_cm3`` (the share of points inside x the cube's
    volume), ``hull_volume_cm3`` (its convex hull's exact volume), ``volume_vs_hull`` (their ratio: above 1 by more
    than sampling noise means the occupancy is wrong), ``volume_rel_std`` (the relative standard deviation of the
    sampled volume, ``sqrt((1 - p) / (n p))`` for a share ``p`` inside), ``winding_agreement`` (share of the points
    where the rule agrees with the generalized winding number, ``|w| > 0.5``: below ~0.99 means one of them is
    wrong) and ``suspect`` (``volume_vs_hull > 1 + 3 volume_rel_std`` or ``winding_agreement < 0.99``).
    """
    from implicit3d.evaluation.scans import iou_samples
    from implicit3d.geometry.inside import inside

    samples = iou_samples(mesh, rng, n_points)
    wind = inside(mesh, samples.points, method="winding")
    volume = float(samples.occupancy.mean()) * samples.side**3
    hull_volume = float(abs(mesh.convex_hull.volume))
    share = float(samples.occupancy.mean())
    rel_std = float(np.sqrt((1.0 - share) / (len(samples.occupancy) * share)))
    vs_hull = volume / hull_volume if hull_volume > 0 else float("nan")
    agreement = float(np.mean(wind == samples.occupancy))
    return {
        "rule": gt_rule(mesh),
        "watertight": bool(mesh.is_watertight),
        "volume_cm3": 1e6 * volume,
        "hull_volume_cm3": 1e6 * hull_volume,
        "volume_vs_hull": vs_hull,
        "volume_rel_std": rel_std,
        "winding_agreement": agreement,
        "suspect": bool(vs_hull > 1.0 + 3.0 * rel_std or agreement < 0.99),
    }


# ------------------------------------------------------------------------------------------------ table protocol


@dataclass
class TableScan(Scan):
    """A :class:`~implicit3d.evaluation.scans.Scan` of an object resting on a table (camera frame, metres), with
    ``up (3,)``: the table's unit normal in the camera frame, ``plane_d``: the table plane is ``up . x + plane_d =
    0``, ``elevation_deg``: the camera's elevation above the table, ``removed_low``: object points dropped for lying
    less than the segmentation's minimum height above the table."""

    up: np.ndarray | None = None
    plane_d: float = 0.0
    elevation_deg: float = float("nan")
    removed_low: int = 0


def _pair(value: Sequence[float], name: str) -> tuple[float, float]:
    lo, hi = (float(v) for v in value)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
        raise ValueError(f"{name} must be a (min, max) pair with min <= max, got {value!r}")
    return lo, hi


def scan_on_table(
    mesh: trimesh.Trimesh,
    rng: np.random.Generator,
    stable: tuple[np.ndarray, np.ndarray] | None = None,
    size_range: Sequence[float] | None = None,
    distance_range: Sequence[float] = TABLE_DISTANCE,
    elevation_range: Sequence[float] = TABLE_ELEVATION_DEG,
    noise: Any = "realsense_d435",
    name: str = "object",
    intrinsics: Any | None = None,
    min_height: float | None = None,
    outliers: bool = True,
    min_points: int = MIN_SCAN_POINTS,
    max_attempts: int = 5,
) -> TableScan:
    """One simulated view of ``mesh`` (metres) resting on a table, the table removed (module docstring).

    ``stable``: :func:`implicit3d.geometry.transforms.stable_rotations` of ``mesh`` (computed when ``None``; pass
    it to scan an object several times). ``size_range``: ``None`` keeps the mesh's size, else its longest
    bounding-box edge is drawn uniform in that range (metres). The pose is a stable resting pose drawn by
    probability with a uniformly random yaw; the camera is ``distance_range`` metres from the object's
    bounding-box centre at ``elevation_range`` degrees above the table, any azimuth, looking at that centre.
    Depth: :func:`implicit3d.sensing.render.render` of object and table (:func:`implicit3d.evaluation.tabletop.
    table_mesh`) with the ``noise`` preset; ``intrinsics`` default :func:`implicit3d.evaluation.scans.
    d435_intrinsics`. Table pixels are dropped, and object points less than ``min_height`` (default the
    segmentation's, 8 mm) above the table, then (``outliers``) the statistical outliers that
    :func:`implicit3d.sensing.segment.segment_objects` drops from every object (:func:`implicit3d.sensing.segment.
    remove_outliers`: flying pixels between the object's edge and the table behind it). A view with fewer than
    ``min_points`` points is redrawn, at most
    ``max_attempts`` times in all, then :class:`~implicit3d.evaluation.scans.ScanError` is raised.
    Deterministic for the state of ``rng``.
    """
    from implicit3d.evaluation.scans import d435_intrinsics
    from implicit3d.evaluation.tabletop import table_mesh
    from implicit3d.geometry.transforms import resting_rotation, stable_rotations
    from implicit3d.geometry.validation import as_mesh_arrays
    from implicit3d.sensing.camera import look_at
    from implicit3d.sensing.noise import noise_preset
    from implicit3d.sensing.project import depth_to_points
    from implicit3d.sensing.render import render
    from implicit3d.sensing.segment import SegmentSettings, remove_outliers

    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    dist_lo, dist_hi = _pair(distance_range, "distance_range")
    el_lo, el_hi = _pair(elevation_range, "elevation_range")
    if not (dist_lo > 0 and 0.0 < el_lo and el_hi <= 90.0):
        raise ValueError("distance_range must be positive and elevation_range within (0, 90] degrees")
    if int(max_attempts) != max_attempts or max_attempts < 1:
        raise ValueError(f"max_attempts must be a positive integer, got {max_attempts!r}")
    size_lohi = None if size_range is None else _pair(size_range, "size_range")
    min_height = SegmentSettings().min_height if min_height is None else float(min_height)
    model = noise_preset(noise)
    intr = d435_intrinsics() if intrinsics is None else intrinsics
    vertices, faces = as_mesh_arrays(mesh)
    longest = float((vertices.max(axis=0) - vertices.min(axis=0)).max())
    if not longest > 0:
        raise ValueError(f"{name}: the mesh has a zero-size bounding box")
    stable = stable_rotations(trimesh.Trimesh(vertices, faces, process=False)) if stable is None else stable
    table = table_mesh()
    n_table = len(table.faces)
    n_seen = 0
    for attempt in range(1, int(max_attempts) + 1):
        scale = 1.0 if size_lohi is None else float(rng.uniform(*size_lohi)) / longest
        rot = resting_rotation(rng, stable, upright=0.0)
        v = (vertices * scale) @ rot.T
        lo, hi = v.min(axis=0), v.max(axis=0)
        v = v - np.array([(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0, lo[2]])
        centre = np.array([0.0, 0.0, (hi[2] - lo[2]) / 2.0])
        dist = float(rng.uniform(dist_lo, dist_hi))
        el = float(rng.uniform(el_lo, el_hi))
        az = float(rng.uniform(0.0, 2.0 * np.pi))
        e, a = np.radians(el), az
        eye = centre + dist * np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])
        cam = look_at(eye, centre)
        both = (np.vstack([table.vertices, v]), np.vstack([table.faces, faces + len(table.vertices)]))
        res = render(both, intr, cam, return_faces=True)
        depth = model.apply(res.depth, rng, normals=res.normals_cam, intrinsics=intr)
        on_object = (res.face_index >= n_table) & (depth > 0)
        cloud = np.asarray(depth_to_points(depth, intr, None, mask=on_object), dtype=np.float64)
        world_to_cam = np.linalg.inv(cam)
        up = world_to_cam[:3, :3] @ np.array([0.0, 0.0, 1.0])
        plane_d = -float(up @ world_to_cam[:3, 3])
        low = cloud @ up + plane_d < min_height
        cloud = cloud[~low]
        if outliers and len(cloud) > 0:
            cloud = cloud[remove_outliers(cloud)]
        n_seen = len(cloud)
        if n_seen >= min_points:
            gt = trimesh.Trimesh(v @ world_to_cam[:3, :3].T + world_to_cam[:3, 3], faces, process=False)
            return TableScan(
                name, cloud.astype(np.float32), gt, np.zeros(3), float(scale * longest), dist, rot, attempt,
                up=up, plane_d=plane_d, elevation_deg=el, removed_low=int(low.sum()),
            )
    raise ScanError(f"{name}: every one of {max_attempts} views saw fewer than {min_points} points (last: {n_seen})")


# ------------------------------------------------------------------------------------------------ evaluation


def view_rng(seed: int, name: str, protocol: str, draw: int, stream: int = 0) -> np.random.Generator:
    """The random stream of one view: ``stream`` 0 draws its scan, 1 its metric samples.

    Draw 0 of the ``free`` protocol is :func:`implicit3d.evaluation.scans.object_rng` ``(seed, name, stream)``
    (the single-draw suite's view); every other (protocol, draw) has its own stream, which depends only on the
    seed, the object's name, the protocol and the draw.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if protocol == "free" and draw == 0:
        return object_rng(seed, name, stream)
    key = [int(seed) & 0xFFFFFFFF, zlib.crc32(str(name).encode()), int(stream), PROTOCOLS.index(protocol) + 1,
           int(draw)]
    return np.random.default_rng(key)


MEASURES = ("iou", "precision", "recall", "volume_ratio", "shell", "overfill", "chamfer_mm", "fscore_5mm",
            "fscore_10mm")
#: Row fields of :func:`evaluate_real_objects` (the CSV columns).
ROW_FIELDS = (
    "protocol", "name", "category", "draw", "units", "gt_rule", "n_points", "size_m", "distance_m", "elevation_deg",
    "true_volume_cm3",
    *(f"{k}_{m}" for k in ("model", "hull") for m in MEASURES),
    "undecided_ratio", "seconds", "hull_seconds", "error", "hull_error",
)


def score_prediction(
    pred: trimesh.Trimesh | None, samples: Any, gt_points: np.ndarray, rng: np.random.Generator, n_surface: int
) -> dict[str, float]:
    """IoU, precision, recall, volume ratio, shell / over-fill flags (0 or 1), Chamfer-L1 mm and F-scores at 5 and
    10 mm of ``pred`` (a mesh in metres, or ``None`` for a failed prediction: empty) against the ground truth's
    IoU ``samples`` (:func:`implicit3d.evaluation.scans.iou_samples`) and surface samples ``gt_points (M, 3)``
    (metres); ``n_surface`` points are sampled on ``pred`` with ``rng``."""
    from implicit3d.evaluation.metrics import volume_overlap
    from implicit3d.evaluation.scans import prediction_occupancy
    from implicit3d.evaluation.summary import fill_verdict, surface_scores_mm, volume_ratio
    from implicit3d.geometry.sampling import sample_surface

    occ = prediction_occupancy(pred, samples.points)
    out = dict(volume_overlap(occ, samples.occupancy))
    ratio = volume_ratio(occ, samples.occupancy)
    verdict = fill_verdict(ratio)
    out.update(volume_ratio=ratio, shell=float(verdict == "shell"), overfill=float(verdict == "overfill"))
    if pred is None or len(pred.faces) == 0 or not float(pred.area) > 0:
        pts = np.zeros((0, 3))
    else:
        pts, _ = sample_surface(pred, int(n_surface), rng)
    out.update(surface_scores_mm(pts, gt_points))
    return out


def evaluate_real_objects(
    model: Any,
    meta: dict[str, Any] | None,
    objects: Sequence[RealObject],
    protocols: Sequence[str] = PROTOCOLS,
    draws: int = 3,
    seed: int = 0,
    resolution: int = 128,
    turns: int | None = None,
    device: str | None = None,
    n_points: int = 100_000,
    chamfer_points: int = 30_000,
    table_size_range: Sequence[float] | None = None,
    table_outliers: bool = True,
    max_points: int | None = None,
    skipped: list[tuple[str, str]] | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Scan every object ``draws`` times per protocol, complete each view with ``model`` and score it beside the
    convex hull of the observed points (module docstring).

    Views: ``free`` — :func:`implicit3d.evaluation.scans.scan_object` (10-30 cm, SO(3), 0.5-0.8 m), completed with
    ``up = -y``; ``table`` — :func:`scan_on_table` (real size unless ``table_size_range``), completed with ``up`` =
    the table normal; ``table_outliers=False`` keeps the statistical outliers in its cloud (``outliers`` of
    :func:`scan_on_table`). ``max_points``: every view's cloud thinned to at most that many points (uniformly at
    random, stream 2; a far or small object gives a real sensor a few hundred), for the completion and the hull
    alike. Random streams: :func:`view_rng`. Completion: :func:`implicit3d.completion.complete_points`
    (viewpoint the origin, ``resolution``, ``turns`` (default: the model's), ``seed``, ``device``). Both
    predictions are scored by :func:`score_prediction` on the same ``n_points`` IoU samples and ``chamfer_points``
    ground-truth surface samples. Returns one dict per view with the keys of :data:`ROW_FIELDS` (``error`` /
    ``hull_error`` only when a prediction failed: it is then scored as empty); views that cannot be scanned are
    left out and noted in ``skipped`` as ``(name, reason)``. ``on_row`` is called with each row as it is made.
    """
    from implicit3d.evaluation.scans import complete_with_hull, iou_samples, scan_object
    from implicit3d.geometry.sampling import sample_surface
    from implicit3d.geometry.transforms import stable_rotations

    if isinstance(draws, bool) or int(draws) != draws or draws < 1:
        raise ValueError(f"draws must be a positive integer, got {draws!r}")
    if max_points is not None and (isinstance(max_points, bool) or int(max_points) != max_points or max_points < 1):
        raise ValueError(f"max_points must be a positive integer, got {max_points!r}")
    bad = [p for p in protocols if p not in PROTOCOLS]
    if bad or not protocols:
        raise ValueError(f"protocols must be a non-empty subset of {PROTOCOLS}, got {list(protocols)!r}")
    rows: list[dict[str, Any]] = []
    for obj in objects:
        rule = gt_rule(obj.mesh)
        stable = None
        for protocol in protocols:
            for draw in range(int(draws)):
                scan_rng = view_rng(seed, obj.name, protocol, draw, 0)
                try:
                    if protocol == "free":
                        scan: Scan = scan_object(obj.mesh, scan_rng, name=obj.name)
                        up: Any = FREE_UP
                    else:
                        if stable is None:
                            stable = stable_rotations(obj.mesh)
                        scan = scan_on_table(obj.mesh, scan_rng, stable, size_range=table_size_range,
                                             outliers=table_outliers, name=obj.name)
                        up = scan.up
                except ScanError as exc:
                    if skipped is not None:
                        skipped.append((f"{obj.name} ({protocol}, draw {draw})", str(exc)))
                    continue
                cloud = scan.cloud
                if max_points is not None and len(cloud) > max_points:
                    thin = view_rng(seed, obj.name, protocol, draw, 2)
                    cloud = cloud[np.sort(thin.choice(len(cloud), int(max_points), replace=False))]
                rng = view_rng(seed, obj.name, protocol, draw, 1)
                samples = iou_samples(scan.mesh, rng, n_points)
                gt_pts, _ = sample_surface(scan.mesh, int(chamfer_points), rng)
                row: dict[str, Any] = {
                    "protocol": protocol, "name": obj.name, "category": obj.category, "draw": draw,
                    "units": obj.units, "gt_rule": rule, "n_points": int(len(cloud)),
                    "size_m": float(scan.size_m), "distance_m": float(scan.distance_m),
                    "elevation_deg": float(getattr(scan, "elevation_deg", float("nan"))),
                    "true_volume_cm3": 1e6 * float(samples.occupancy.mean()) * samples.side**3,
                }
                pred, hull = complete_with_hull(
                    cloud, row, model, meta, resolution=resolution, up=up, seed=seed, device=device, turns=turns
                )
                for key, prediction in (("model", pred), ("hull", hull)):
                    scores = score_prediction(prediction, samples, gt_pts, rng, int(chamfer_points))
                    row.update({f"{key}_{m}": scores[m] for m in MEASURES})
                rows.append(row)
                if on_row is not None:
                    on_row(row)
    return rows
