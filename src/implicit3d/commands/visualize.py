"""``implicit3d visualize``: one interactive HTML figure from a mesh file, a dataset entry or a completion result."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from implicit3d.commands.options import LazyChoices, say_first_run_note
from implicit3d.errors import UserError

if TYPE_CHECKING:  # trimesh and the sensing kernels are imported when a figure is made, not for --help
    import trimesh

# figure name -> (which inputs it takes, what it shows)
FIGURES: dict[str, tuple[str, str]] = {
    "inside-outside": ("mesh, dataset", "points around the object coloured inside (red) / outside (blue); for a "
                       "mesh by a ray-parity test on random points, for a dataset entry its stored labels"),
    "sdf-slice": ("mesh, dataset", "signed distance on a plane through the object (--axis): filled levels, level lines "
                  "and the surface (SDF = 0) in bold"),
    "representations": ("mesh, dataset", "the object as depth image, point cloud, voxel grid and mesh side by side"),
    "points": ("mesh, dataset, --input", "surface point cloud coloured by height, normals and mesh in the legend (a "
               "scan given alone with --input: its points)"),
    "partial-view": ("mesh, dataset", "a noisy depth view and its back-projected cloud (a dataset's stored view "
                     "--view K, or one simulated from the mesh with --noise)"),
    "completion": ("--input + --mesh", "a partial scan with its completed mesh (and --gt), toggled from the legend"),
}
DEFAULT_FIGURE = {"mesh": "inside-outside", "dataset": "points", "completion": "completion", "cloud": "points"}

EPILOG = "figures:\n" + "\n".join(f"  {name:<16} [{src}] {text}" for name, (src, text) in FIGURES.items()) + """

examples:
  implicit3d visualize bunny.obj --figure sdf-slice -o sdf.html
  implicit3d visualize data/bottles --shape bottle/bottle_00003 --figure partial-view --view 2 -o view.html
  implicit3d visualize --input scan.ply --mesh completed.ply --gt true.obj -o completion.html
  implicit3d visualize --input scan.pcd -o scan.html          # the scan alone

Every figure is a self-contained HTML file (plotly.js embedded) that opens offline.
"""


HELP = "write an interactive HTML figure of a mesh, a dataset entry or a completion"
DESCRIPTION = """\
Make one interactive figure (plotly, self-contained HTML) from a mesh file, an entry of a dataset built by
`implicit3d prepare`, or a completion result (--input scan + --mesh).
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", nargs="?", help="a mesh file (.obj .ply .off .stl .glb .gltf), a dataset folder, or a "
                   "point cloud file (shown as with --input)")
    p.add_argument("--figure", choices=tuple(FIGURES), default=None,
                   help="which figure (default: inside-outside for a mesh, points for a dataset)")
    p.add_argument("--shape", default=None, help="dataset entry: CATEGORY/NAME or a unique NAME (default: the first)")
    p.add_argument("--view", type=int, default=0, help="dataset partial view index (default 0)")
    p.add_argument("--input", default=None, help="the partial scan (.ply .obj .pcd .xyz .txt .npy .npz): with "
                   "--mesh, the completion figure; alone, the cloud coloured by height")
    p.add_argument("--mesh", default=None, help="completion: the completed mesh")
    p.add_argument("--gt", default=None, help="completion: optional ground-truth mesh (hidden until clicked)")
    p.add_argument("-o", "--output", default=None, help="output HTML file (default: <source>_<figure>.html)")
    p.add_argument("--points", type=int, default=4000, help="points to sample or show, at most (default 4000)")
    p.add_argument("--axis", choices=("x", "y", "z"), default="y", help="sdf-slice: normal of the plane (default y)")
    p.add_argument("--resolution", type=int, default=None,
                   help="grid cells per axis: voxel grid of representations (default 32), sdf-slice (default 160)")
    p.add_argument("--noise", default="realsense_d435", metavar="PRESET",
                   choices=LazyChoices("implicit3d.sensing.noise", "NOISE_PRESETS"),
                   help="partial-view of a mesh: sensor noise preset, one of %(choices)s (default %(default)s)")
    p.add_argument("--object-size", type=float, default=None,
                   help="partial-view of a mesh: longest edge in metres to render it at (default: its own size "
                   "when between 2 cm and 1 m, else 0.25)")
    p.add_argument("--seed", type=int, default=0, help="seed of sampled points and cameras (default 0)")


# ----------------------------------------------------------------------------------------------------------------
# inputs


def load_mesh(path: str | Path, what: str = "mesh") -> trimesh.Trimesh:
    """Read a mesh file into one ``Trimesh`` (scenes merged); :class:`UserError` naming the file on any problem."""
    from implicit3d.fileio import read_mesh

    return read_mesh(path, what, process=True)


def _mesh_or_none(path: Path) -> trimesh.Trimesh | None:
    """The mesh of ``path``, or ``None`` for a point cloud file (a cloud-only extension, or a PLY/OBJ without
    triangles)."""
    from implicit3d.data.pointcloud_io import CLOUD_EXTENSIONS
    from implicit3d.fileio import MESH_EXTENSIONS, NoTrianglesError

    ext = path.suffix.lower()
    if ext in CLOUD_EXTENSIONS and ext not in MESH_EXTENSIONS:
        return None
    try:
        return load_mesh(path)
    except NoTrianglesError:
        if ext in CLOUD_EXTENSIONS:
            return None
        raise


def _is_dataset(path: Path) -> bool:
    from implicit3d.data import formats

    return path.is_dir() and (path / formats.MANIFEST).is_file()


def resolve_shape(root: Path, shape: str | None) -> str:
    """The ``category/name`` key of ``shape`` in the dataset at ``root`` (the first shape when ``None``)."""
    from implicit3d.data import formats

    manifest = formats.read_json(root / formats.MANIFEST)
    keys = [k for k in manifest.get("shapes", []) if (root / k / formats.SHAPE_INFO).is_file()]
    if not keys:
        raise UserError(f"dataset {root} holds no finished shapes")
    if shape is None:
        return keys[0]
    if shape in keys:
        return shape
    matches = [k for k in keys if k.split("/", 1)[-1] == shape]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise UserError(f"shape name {shape!r} is ambiguous in {root}: {', '.join(matches[:5])}; use CATEGORY/NAME")
    sample = ", ".join(keys[:5]) + (", ..." if len(keys) > 5 else "")
    raise UserError(f"no shape {shape!r} in dataset {root} ({len(keys)} shapes: {sample})")


def _dataset_mesh(entry: Path, required: str) -> trimesh.Trimesh:
    from implicit3d.data import formats

    path = entry / formats.MESH
    if not path.is_file():
        raise UserError(f"{path} not found: the {required} figure needs the normalized mesh (dataset built "
                        "with --no-mesh?)")
    return load_mesh(path)


def _subsample(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(n, k, replace=False)) if n > k else np.arange(n)


# ----------------------------------------------------------------------------------------------------------------
# figures


def mesh_figure(mesh: trimesh.Trimesh, figure: str, args: argparse.Namespace, label: str) -> Any:
    """A figure of a mesh file (units: the file's)."""
    import trimesh

    from implicit3d.viz import figures as F

    rng = np.random.default_rng(args.seed)
    if figure == "inside-outside":
        from implicit3d.geometry.distance import signed_distance
        from implicit3d.geometry.inside import inside

        lo, hi = np.asarray(mesh.bounds, dtype=np.float64)
        pad = 0.15 * float((hi - lo).max())
        pts = rng.uniform(lo - pad, hi + pad, (args.points, 3))
        occ = inside(mesh, pts)
        dist = np.abs(signed_distance(mesh, pts))
        return F.inside_outside_figure(mesh, pts, np.where(occ, -dist, dist),
                                       title=f"{label}: {int(occ.sum())} of {len(pts)} points inside")
    if figure == "sdf-slice":
        from implicit3d.geometry.distance import MeshDistance

        md = MeshDistance(mesh)
        lo, hi = np.asarray(mesh.bounds, dtype=np.float64)
        centre, half = (lo + hi) / 2.0, 0.5 * float((hi - lo).max()) * 1.25
        axis = "xyz".index(args.axis)
        res = args.resolution or 160
        return F.sdf_slice_figure(lambda p: md.signed_distance(p), np.stack([centre - half, centre + half]),
                                  axis=axis, offset=float(centre[axis]), resolution=res,
                                  title=f"{label}: signed distance on the plane {args.axis} = {centre[axis]:.4g}")
    if figure == "representations":
        from implicit3d.viz.representations import compute_representations

        rep = compute_representations(mesh, rng, n_points=args.points, voxel_resolution=args.resolution or 32)
        return F.representations_figure(rep.depth, rep.points, rep.voxels, rep.voxel_bounds, mesh,
                                        title=f"{label}: four representations")
    if figure == "points":
        from implicit3d.geometry.sampling import sample_surface

        pts, nrm = sample_surface(mesh, args.points, rng)
        return F.point_cloud_figure(pts, nrm, mesh, title=f"{label}: {len(pts)} surface points")
    if figure == "partial-view":
        from implicit3d.data.prepare import PrepareConfig, render_views
        from implicit3d.geometry.transforms import normalize_to_unit_cube

        try:
            config = PrepareConfig(n_views=1, view_pose="none", noise=args.noise)
            mesh_n, _, scale = normalize_to_unit_cube(mesh, padding=config.padding)
            scale = _render_scale(scale * (1.0 - config.padding), args.object_size) / (1.0 - config.padding)
            views = render_views(mesh_n, scale, config, rng)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        pts = np.asarray(views["clouds"][0], dtype=np.float64) * scale
        mesh_m = trimesh.Trimesh(np.asarray(mesh_n.vertices) * scale, mesh_n.faces, process=False)
        return F.partial_view_figure(views["depth"][0], pts, mesh_m, views["cam_to_world"][0],
                                     title=f"{label}: simulated {args.noise} depth view (object centred)")
    raise UserError(f"figure {figure!r} is not available for a mesh file; choose from "
                    f"{', '.join(k for k, v in FIGURES.items() if 'mesh' in v[0].split(', '))}")


def _render_scale(size: float, requested: float | None) -> float:
    """Longest edge (metres) to render a mesh of longest edge ``size`` (file units) at."""
    if requested is not None:
        if not requested > 0:
            raise UserError(f"--object-size must be a positive length in metres, got {requested}")
        return float(requested)
    return float(size) if 0.02 <= size <= 1.0 else 0.25


def dataset_figure(root: Path, key: str, figure: str, args: argparse.Namespace) -> Any:
    """A figure of one dataset entry ``key = category/name`` (normalized units unless stated)."""
    import trimesh

    from implicit3d.data import formats
    from implicit3d.viz import figures as F

    entry = root / key
    rng = np.random.default_rng(args.seed)
    try:
        if figure == "points":
            pc = formats.read_pointcloud_npz(entry / formats.POINTCLOUD)
            idx = _subsample(len(pc["points"]), args.points, rng)
            mesh = _dataset_mesh(entry, figure) if (entry / formats.MESH).is_file() else None
            nrm = pc["normals"][idx] if "normals" in pc else None
            return F.point_cloud_figure(pc["points"][idx], nrm, mesh,
                                        title=f"{key}: {len(idx)} of {len(pc['points'])} surface points")
        if figure == "inside-outside":
            data = formats.read_points_npz(entry / formats.POINTS)
            idx = _subsample(len(data["points"]), args.points, rng)
            occ = data["occupancies"][idx]
            sdf = np.abs(data["sdf"][idx]) if "sdf" in data else np.ones(len(idx))
            return F.inside_outside_figure(_dataset_mesh(entry, figure), data["points"][idx],
                                           np.where(occ, -sdf, sdf),
                                           title=f"{key}: stored occupancy labels ({int(occ.sum())} of {len(idx)} "
                                           "inside)")
        if figure == "partial-view":
            return _dataset_view_figure(entry, key, args.view)
        if figure == "sdf-slice":
            return mesh_figure(_dataset_mesh(entry, figure), figure, args, f"{key} (normalized units)")
        if figure == "representations":
            from implicit3d.viz.representations import compute_representations

            info = formats.read_json(entry / formats.SHAPE_INFO)
            mesh = _dataset_mesh(entry, figure)
            world = trimesh.Trimesh(np.asarray(mesh.vertices) * float(info["scale"]) + np.asarray(info["loc"]),
                                    mesh.faces, process=False)
            rep = compute_representations(world, rng, n_points=args.points, voxel_resolution=args.resolution or 32)
            return F.representations_figure(rep.depth, rep.points, rep.voxels, rep.voxel_bounds, world,
                                            title=f"{key}: four representations (original units)")
    except FileNotFoundError as exc:
        raise UserError(f"{key}: missing file {exc.filename or exc}") from None
    raise UserError(f"figure {figure!r} is not available for a dataset entry; choose from "
                    f"{', '.join(k for k, v in FIGURES.items() if 'dataset' in v[0])}")


def _dataset_view_figure(entry: Path, key: str, view: int) -> Any:
    import trimesh

    from implicit3d.data import formats
    from implicit3d.viz import figures as F

    path = entry / formats.VIEWS
    if not path.is_file():
        raise UserError(f"{path} not found: this dataset has no partial views (built with --views 0?)")
    v = formats.load_npz(path)
    k = len(v["offsets"]) - 1
    if not 0 <= view < k:
        raise UserError(f"{key} has {k} view(s); --view must be in 0..{k - 1}, got {view}")
    canon = np.asarray(v["points"][v["offsets"][view]: v["offsets"][view + 1]], dtype=np.float64)
    rot = np.asarray(v["object_pose"][view][:3, :3])
    s = float(v["object_scale"][view])
    pts = (canon * s) @ rot.T  # back to the view's world frame (metres): x = R (s x_canonical)
    depth_path = entry / formats.DEPTH_DIR / f"{view:03d}.png"
    if not depth_path.is_file():
        raise UserError(f"{depth_path} not found")
    depth = formats.read_depth_png(depth_path, float(v.get("depth_scale", 1000.0)))
    mesh = None
    if (entry / formats.MESH).is_file():
        mesh = load_mesh(entry / formats.MESH)
        mesh = trimesh.Trimesh((np.asarray(mesh.vertices) * s) @ rot.T, mesh.faces, process=False)
    return F.partial_view_figure(depth, pts, mesh, np.asarray(v["cam_to_world"][view]),
                                 title=f"{key}: stored partial view {view} ({len(pts)} points, metres)")


def _read_scan(path: str, args: argparse.Namespace) -> tuple[np.ndarray, int]:
    """``(shown points (≤ --points, 3), points in the file)`` of ``--input``."""
    from implicit3d.data.pointcloud_io import read_point_cloud

    if Path(path).suffix.lower() in (".png", ".tif", ".tiff"):
        raise UserError(f"--input {path}: a depth image; visualize takes the scan as a point cloud "
                        "(show a depth image with its completion: implicit3d complete DEPTH --intrinsics K.json "
                        "--html FIGURE.html)")
    pts, _ = read_point_cloud(path, drop_invalid=True, other="")
    return pts[_subsample(len(pts), args.points, np.random.default_rng(args.seed))], len(pts)


def completion_figure_from_files(args: argparse.Namespace) -> Any:
    from implicit3d.viz.figures import completion_figure

    if args.input is None or args.mesh is None:
        raise UserError("the completion figure needs both --input SCAN and --mesh COMPLETED")
    shown, total = _read_scan(args.input, args)
    mesh = load_mesh(args.mesh, "completed mesh")
    gt = load_mesh(args.gt, "ground-truth mesh") if args.gt else None
    return completion_figure(shown, mesh, gt, title=f"{Path(args.input).name} and {Path(args.mesh).name}",
                             total=total)


def cloud_figure_from_file(args: argparse.Namespace) -> Any:
    """The scan of ``--input`` alone, coloured by height (the file's units and frame)."""
    from implicit3d.viz.figures import point_cloud_figure

    shown, total = _read_scan(args.input, args)
    part = f"{len(shown)} of {total}" if len(shown) < total else f"{total}"
    return point_cloud_figure(shown, None, None, title=f"{Path(args.input).name}: {part} points")


# ----------------------------------------------------------------------------------------------------------------


def _default_output(source: str | None, figure: str, args: argparse.Namespace) -> Path:
    if figure == "completion":
        return Path(f"{Path(args.mesh).stem}_completion.html")
    if args.input is not None:  # a scan alone
        return Path(f"{Path(args.input).stem}_{figure}.html")
    stem = Path(source).stem if source else "figure"
    if args.shape:
        stem += "_" + args.shape.replace("/", "_")
    return Path(f"{stem}_{figure}.html")


def run(args: argparse.Namespace) -> int:
    from implicit3d.limits import MAX_POINTS, check_int, check_resolution, check_seed
    from implicit3d.viz.report import write_figure

    check_int(args.points, "--points", 1, MAX_POINTS)
    check_seed(args.seed)
    if args.resolution is not None:
        check_resolution(args.resolution)
    if args.output is not None and Path(args.output).suffix.lower() not in (".html", ".htm"):
        raise UserError(f"output {args.output} must end in .html")
    if args.input is not None or args.mesh is not None or args.figure == "completion":
        if args.source is not None:
            if args.input is None and args.mesh is None:  # --figure completion with a source
                raise UserError(f"--figure completion shows a scan and its completion: give --input SCAN --mesh "
                                f"COMPLETED instead of {args.source}")
            raise UserError("give either SOURCE (mesh or dataset) or --input/--mesh (completion), not both")
        if args.input is not None and args.mesh is None and args.figure in (None, "points"):
            if args.gt is not None:
                raise UserError("--gt goes with --mesh: the completion figure shows a scan, its completion and the "
                                "ground truth")
            figure = DEFAULT_FIGURE["cloud"]
            fig = cloud_figure_from_file(args)
        elif args.figure not in (None, "completion"):
            raise UserError(f"--input/--mesh make the completion figure (or --input alone the points figure), "
                            f"not {args.figure!r}")
        else:
            figure = "completion"
            fig = completion_figure_from_files(args)
    else:
        if args.source is None:
            raise UserError("nothing to show: give a mesh file, a dataset folder, --input SCAN, or --input SCAN "
                            "--mesh COMPLETED")
        src = Path(args.source)
        if not src.exists():
            raise UserError(f"{src} not found")
        if _is_dataset(src):
            figure = args.figure or DEFAULT_FIGURE["dataset"]
            key = resolve_shape(src, args.shape)
            print(f"dataset entry {key}")
            if figure in ("sdf-slice", "representations"):
                say_first_run_note()  # distances to the stored mesh, its voxels and depth: compiled kernels
            fig = dataset_figure(src, key, figure, args)
        elif src.is_dir():
            raise UserError(f"{src} is a folder but not a dataset (no manifest.json); give a mesh file or a dataset")
        else:
            if args.shape is not None:
                raise UserError("--shape selects a dataset entry; SOURCE is a mesh file")
            mesh = _mesh_or_none(src)
            if mesh is None:  # a point cloud file given as SOURCE: shown as with --input
                if args.figure not in (None, "points"):
                    raise UserError(f"{src} is a point cloud: it makes the points figure (or, with --mesh "
                                    f"COMPLETED, the completion figure: --input {src.name}), not {args.figure!r}")
                args.input = str(src)
                figure = DEFAULT_FIGURE["cloud"]
                fig = cloud_figure_from_file(args)
            else:
                figure = args.figure or DEFAULT_FIGURE["mesh"]
                if figure in ("inside-outside", "sdf-slice", "representations", "partial-view"):
                    say_first_run_note()  # inside tests, distances, rendering: compiled kernels
                fig = mesh_figure(mesh, figure, args, src.name)
    out = Path(args.output) if args.output else _default_output(args.source, figure, args)
    path = write_figure(out, fig)
    print(f"wrote {figure} figure to {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0

