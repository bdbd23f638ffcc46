"""Mesh sources for dataset builds: a folder of mesh files, a ShapeNet tree, or the procedural catalogue.

A source string is resolved into a list of :class:`MeshItem` (cheap, picklable descriptions); meshes are loaded
one at a time with :func:`load_mesh`, which returns a single triangle mesh with +z up or raises
:class:`BrokenMeshError` naming the problem (the build reports and skips those).

Source strings (see ``implicit3d prepare --help``):

- ``catalogue:bottle`` / ``catalogue:bottle,mug`` / ``catalogue:all`` — procedural shapes from
  :mod:`implicit3d.shapes` (metres, z up); ``count`` shapes *per category*, named ``<category>_<index:05d>``.
- a folder holding a ShapeNet v1 (``<synset>/<model>/model.obj``) or v2
  (``<synset>/<model>/models/model_normalized.obj``) tree, ``<synset>`` an 8-digit ShapeNet id: category = synset
  folder name, name = model folder name; ShapeNet models are y-up and are rotated to z-up (+90 degrees about +x:
  ``(x, y, z) -> (x, -z, y)``). A folder that also holds other mesh files is refused (it is neither: prepare the
  two parts from separate folders).
- any other folder: every ``.obj .ply .off .stl .glb .gltf`` file below it (recursively; multi-part scenes are
  merged into one mesh with their node transforms applied). Category = first sub-folder under the root, or the
  root folder's own name for files directly in it; name = file stem (plus the extension if two files share a
  stem), made file-system safe by :func:`safe_name` and kept unique by :func:`unique_names`. Meshes are taken as
  z-up (pass ``up="y"`` to rotate y-up meshes). A built dataset inside the folder (a sub-folder holding an
  implicit3d ``manifest.json``, e.g. ``prepare``'s output written there) is left out.

Items are sorted (category, name) so a build does not depend on directory listing order.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from implicit3d.errors import UserError, warn_user
from implicit3d.fileio import MESH_EXTENSIONS, MeshFileError, read_mesh

CATALOGUE_PREFIX = "catalogue:"
# ShapeNetCore synset ids of the common categories, for readable reports (the folder name stays the category id).
SHAPENET_SYNSETS = {
    "02691156": "airplane",
    "02747177": "trash_bin",
    "02773838": "bag",
    "02808440": "bathtub",
    "02818832": "bed",
    "02828884": "bench",
    "02843684": "birdhouse",
    "02871439": "bookshelf",
    "02876657": "bottle",
    "02880940": "bowl",
    "02924116": "bus",
    "02933112": "cabinet",
    "02942699": "camera",
    "02946921": "can",
    "02954340": "cap",
    "02958343": "car",
    "03001627": "chair",
    "03046257": "clock",
    "03211117": "display",
    "03325088": "faucet",
    "03593526": "jar",
    "03624134": "knife",
    "03636649": "lamp",
    "03642806": "laptop",
    "03691459": "loudspeaker",
    "03797390": "mug",
    "03948459": "pistol",
    "04004475": "printer",
    "04074963": "remote",
    "04090263": "rifle",
    "04256520": "sofa",
    "04379243": "table",
    "04401088": "telephone",
    "04460130": "tower",
    "04530566": "watercraft",
    "04554684": "washer",
}


class BrokenMeshError(Exception):
    """A mesh file that cannot be used (unreadable, empty, no triangles, NaN coordinates, zero size)."""


@dataclass(frozen=True)
class MeshItem:
    """One shape of a source. ``kind`` is ``"file"`` (``origin`` = path) or ``"catalogue"`` (``origin`` =
    category, ``seed`` = generator seed). ``up`` is the up axis of the file (``"z"`` or ``"y"``); ``metric`` says
    the mesh is in metres (true for the catalogue; files have unknown units)."""

    name: str
    category: str
    kind: str
    origin: str
    up: str = "z"
    seed: int | None = None
    metric: bool = False

    @property
    def key(self) -> str:
        """``"<category>/<name>"``: the shape's folder relative to the dataset root and its id in split files."""
        return f"{self.category}/{self.name}"


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    """A file-system-safe version of ``text``: accents dropped (``tasse à café`` -> ``tasse_a_cafe``), runs of other
    characters ``_``; never empty or hidden. Different texts can give the same name (``my cup``, ``my_cup``; two
    names in a script without a Latin form): :func:`unique_names` keeps them apart."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    out = _SAFE.sub("_", folded).strip("._")
    return out or "unnamed"


def unique_names(texts: list[str], names: list[str] | None = None) -> list[str]:
    """A name per text (``names``, default their :func:`safe_name`), made unique: a name that two different texts
    share gets ``_`` and six hex digits of a hash of each text (the suffix depends on the text alone, but whether
    there is one on the others: a file added later can rename an earlier one; ``prepare`` then keeps that shape's
    split by its source file and says so)."""
    names = [safe_name(t) for t in texts] if names is None else list(names)
    owners: dict[str, set[str]] = {}
    for text, name in zip(texts, names, strict=True):
        owners.setdefault(name, set()).add(text)
    return [f"{name}_{hashlib.sha1(text.encode('utf-8', 'surrogateescape')).hexdigest()[:6]}"
            if len(owners[name]) > 1 else name for text, name in zip(texts, names, strict=True)]


def catalogue_seed(category: str, index: int, seed: int) -> int:
    """Generator seed of catalogue shape ``index`` of ``category`` in a build with ``seed`` (stable across runs):
    :func:`implicit3d.shapes.shape_seed`, so ``prepare`` builds exactly the shapes ``shapes.catalogue`` lists."""
    if int(seed) < 0:
        raise UserError(f"--seed must be >= 0, got {seed}")
    from implicit3d.shapes import shape_seed

    return shape_seed(category, index, seed)


def catalogue_categories() -> tuple[str, ...]:
    from implicit3d import shapes

    return tuple(shapes.CATEGORIES)


def _catalogue_items(spec: str, count: int | None, seed: int) -> list[MeshItem]:
    """Items of ``spec``: comma-separated categories (``all`` = every one) with ``count`` shapes each, or
    ``CATEGORY=N`` for N shapes of that category (e.g. ``all,vase=40``: --count of each, but 40 vases)."""
    known = catalogue_categories()
    counts: dict[str, int | None] = {}
    for entry in (e.strip() for e in spec.split(",")):
        if not entry:
            continue
        name, sep, number = entry.partition("=")
        name = name.strip()
        names = list(known) if name == "all" and not sep else [name]
        for c in names:
            if c not in known:
                raise UserError(f"unknown catalogue category {c!r}; known: {', '.join(known)}")
        if sep:
            try:
                n = int(number)
            except ValueError:
                raise UserError(f"catalogue entry {entry!r}: the count after '=' must be an integer") from None
            if n < 1:
                raise UserError(f"catalogue entry {entry!r}: the count must be >= 1")
            counts[name] = n
        else:
            for c in names:
                counts.setdefault(c, None)
    if not counts:
        raise UserError(f"catalogue source needs a category, e.g. catalogue:bottle (known: {', '.join(known)})")
    if any(n is None for n in counts.values()):
        if count is None:
            raise UserError("a catalogue source needs --count (number of shapes per category)")
        if count < 1:
            raise UserError(f"--count must be >= 1, got {count}")
    return [
        MeshItem(f"{c}_{i:05d}", c, "catalogue", c, "z", catalogue_seed(c, i, seed), True)
        for c, n in counts.items()
        for i in range(n if n is not None else int(count))  # type: ignore[arg-type]
    ]


SHAPENET_PATTERNS = ("*/*/model.obj", "*/*/models/model_normalized.obj")  #: v1, v2 model files under a root
_SYNSET_ID = re.compile(r"\d{8}")


def is_shapenet_file(path: str | Path) -> bool:
    """Whether ``path`` ends as a ShapeNet model file: ``<8-digit synset>/<model>/model.obj`` (v1) or
    ``.../models/model_normalized.obj`` (v2)."""
    parts = Path(str(path)).parts
    if parts[-2:] == ("models", "model_normalized.obj") and len(parts) >= 4:
        return bool(_SYNSET_ID.fullmatch(parts[-4]))
    return len(parts) >= 3 and parts[-1] == "model.obj" and bool(_SYNSET_ID.fullmatch(parts[-3]))


def _shapenet_files(root: Path) -> list[Path]:
    """The ShapeNet v1 / v2 model files under ``root`` (``<synset>/<model>/...``, the synset an 8-digit id)."""
    return [path for pattern in SHAPENET_PATTERNS for path in root.glob(pattern)
            if is_shapenet_file(path.relative_to(root)) and not path.relative_to(root).parts[1].startswith(".")]


def _shapenet_items(root: Path) -> list[MeshItem]:
    items = {}
    for path in _shapenet_files(root):
        rel = path.relative_to(root).parts
        item = MeshItem(safe_name(rel[1]), safe_name(rel[0]), "file", str(path), "y")
        items.setdefault(item.key, item)  # if both layouts exist, v1's model.obj wins (first pattern)
    return list(items.values())


def _built_datasets(root: Path) -> list[Path]:
    """The folders below ``root`` that hold a dataset built by ``prepare`` (an implicit3d ``manifest.json``)."""
    import json

    found = []
    for manifest in root.rglob("manifest.json"):
        if manifest.parent == root or any(part.startswith(".") for part in manifest.relative_to(root).parts):
            continue
        try:
            doc = json.loads(manifest.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and "format_version" in doc and "settings" in doc and "source" in doc:
            found.append(manifest.parent)
    return found


def _mesh_files(root: Path) -> list[Path]:
    """Every mesh file below ``root`` (recursively), sorted; hidden files and folders left out, and so are datasets
    built there (their ``mesh.ply`` files are this tool's output, not sources), with a warning."""
    built = _built_datasets(root)
    for folder in built:
        warn_user(f"{folder}: a dataset built by prepare, inside the source folder {root}: its meshes are left out")
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix.lower() in MESH_EXTENSIONS
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
        and not any(folder in p.parents for folder in built)
    )


def _folder_items(root: Path, up: str) -> list[MeshItem]:
    files = _mesh_files(root)
    folders = [p.relative_to(root).parts[0] if len(p.relative_to(root).parts) > 1 else root.resolve().name
               for p in files]
    by_folder = dict(zip(folders, unique_names(folders), strict=True))  # two folders never share a category
    stems: dict[tuple[str, str], int] = {}
    for folder, p in zip(folders, files, strict=True):
        key = (by_folder[folder], safe_name(p.stem))
        stems[key] = stems.get(key, 0) + 1
    per_category: dict[str, list[tuple[str, str, Path]]] = {}
    for folder, p in zip(folders, files, strict=True):
        category = by_folder[folder]
        name = safe_name(p.stem)
        if stems[(category, name)] > 1:  # same stem twice in one category: disambiguate by relative path
            name = safe_name("_".join(p.relative_to(root).with_suffix("").parts[1:]) + "_" + p.suffix[1:].lower())
        per_category.setdefault(category, []).append((p.relative_to(root).as_posix(), name, p))
    items = []
    for category, entries in per_category.items():  # two files never share a name (``my cup`` and ``my_cup``)
        names = unique_names([rel for rel, _, _ in entries], [name for _, name, _ in entries])
        items += [MeshItem(name, category, "file", str(p), up) for name, (_, _, p) in zip(names, entries, strict=True)]
    return items


def is_shapenet(root: Path) -> bool:
    """True when ``root`` is a ShapeNet tree: ShapeNet-layout models (v1 or v2, 8-digit synset folders) and no other
    mesh file. :class:`UserError` for a folder that mixes the two (read as either, it would lose meshes or frames)."""
    models = _shapenet_files(root)
    if not models:
        return False
    model_dirs = {p.relative_to(root).parts[:2] for p in models}
    others = [p for p in _mesh_files(root) if p.relative_to(root).parts[:2] not in model_dirs]
    if others:
        raise UserError(f"{root} mixes a ShapeNet tree ({len(model_dirs)} models such as "
                        f"{models[0].relative_to(root)}, read y-up) with {len(others)} other mesh files (such as "
                        f"{others[0].relative_to(root)}): prepare them from separate folders")
    return True


def resolve_source(source: str, count: int | None = None, seed: int = 0, up: str | None = None) -> list[MeshItem]:
    """Resolve a source string (module docstring) into sorted :class:`MeshItem` s (each with the ``up`` it is read
    with).

    ``count``: shapes per category for the catalogue (required there); for folders, keep only the first ``count``
    items of each category (sub-folder, ShapeNet synset), sorted by name. ``up``: up axis of generic folder meshes
    (default ``"z"``; ShapeNet is always y-up: an ``up="z"`` given for a ShapeNet tree gets a warning that it is not
    used).
    Raises :class:`UserError` for an unknown category, a missing folder or a folder with no mesh files.
    """
    if up is not None and up not in ("z", "y"):
        raise UserError(f"up axis must be 'z' or 'y', got {up!r}")
    if source.startswith(CATALOGUE_PREFIX):
        items = _catalogue_items(source[len(CATALOGUE_PREFIX) :], count, seed)
    else:
        root = Path(source).expanduser()
        if not root.exists():
            raise UserError(f"mesh source {source!r} does not exist (give a folder of meshes or catalogue:CATEGORY)")
        if not root.is_dir():
            raise UserError(f"mesh source {source!r} is not a folder")
        if is_shapenet(root):
            if up == "z":
                warn_user(f"{source}: a ShapeNet tree, whose models are y-up: --up z is not used (they are rotated "
                          "to z-up)")
            items = _shapenet_items(root)
        else:
            if up is None and any(True for _ in root.glob("*/*/models/model_normalized.obj")):
                warn_user(f"{source}: holds ShapeNet v2 files (<folder>/<model>/models/model_normalized.obj) but its "
                          "folders are not 8-digit synset ids: read as a plain folder, z-up; pass --up y if these are "
                          "ShapeNet's y-up models")
            items = _folder_items(root, up or "z")
        if not items:
            raise UserError(f"no mesh files ({' '.join(MESH_EXTENSIONS)}) found under {source!r}")
        items.sort(key=lambda it: (it.category, it.name))
        if count is not None:
            if count < 1:
                raise UserError(f"--count must be >= 1, got {count}")
            taken: dict[str, int] = {}
            kept = []
            for it in items:  # the first ``count`` of each category (a ShapeNet subset spans every synset)
                taken[it.category] = taken.get(it.category, 0) + 1
                if taken[it.category] <= count:
                    kept.append(it)
            items = kept
    items.sort(key=lambda it: (it.category, it.name))
    return items


Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def load_mesh(item: MeshItem) -> trimesh.Trimesh:
    """Load ``item`` as one ``trimesh.Trimesh`` (float64 vertices, int64 faces) with +z up.

    Raises :class:`BrokenMeshError` with the reason when the file cannot be read or holds no usable triangles.
    """
    if item.kind == "catalogue":
        from implicit3d.shapes import generate

        mesh = generate(item.origin, item.seed).mesh
    elif item.kind == "file":
        try:
            mesh = read_mesh(item.origin)
        except MeshFileError as exc:  # the build reports the file beside the reason
            raise BrokenMeshError(exc.reason) from exc
    else:
        raise ValueError(f"unknown MeshItem kind {item.kind!r}")
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    if len(faces) == 0 or len(vertices) == 0:
        raise BrokenMeshError("holds no triangles")
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.min() < 0 or faces.max() >= len(vertices):
        raise BrokenMeshError("has invalid face indices")
    if not np.isfinite(vertices).all():
        raise BrokenMeshError("has NaN or inf vertex coordinates")
    used = vertices[np.unique(faces)]
    if not (used.max(0) - used.min(0)).max() > 0:
        raise BrokenMeshError("has zero size")
    if item.up == "y":
        vertices = vertices @ Y_UP_TO_Z_UP.T
    out = trimesh.Trimesh(vertices, faces, process=False)
    out.remove_unreferenced_vertices()
    return out
