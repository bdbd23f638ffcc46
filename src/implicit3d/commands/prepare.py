"""``implicit3d prepare``: build a training dataset from meshes or from the procedural catalogue."""

from __future__ import annotations

import argparse

from implicit3d.errors import UserError

EPILOG = """\
sources:
  catalogue:CATEGORY[,CATEGORY...]  procedural shapes (metres, z up); --count shapes per category
  catalogue:all,vase=40,can=250     CATEGORY=N: N shapes of that category instead of --count
  catalogue:all                     every catalogue category
  DIR                               a folder of .obj .ply .off .stl .glb .gltf files (category = sub-folder), or a
                                    ShapeNet v1/v2 tree (<synset>/<model>/model.obj or .../models/model_normalized.obj;
                                    y-up, rotated to z-up; category = synset folder)

examples:
  implicit3d prepare --source catalogue:bottle --count 1000 -o data/bottles --workers 2
  implicit3d prepare --source ~/meshes -o data/mine --views 8 --view-pose so3

Re-running the same command resumes: finished shapes are kept, missing ones are built. Broken mesh files are
reported, skipped and listed in manifest.json. The layout of the output folder is described in docs/data.md.
"""


def _pair(text: str, cast: type = float) -> tuple:
    parts = text.replace("x", ",").split(",")
    like = "WIDTHxHEIGHT like 640x480" if cast is int else "two numbers like 0.5,0.8"
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected {like}, got {text!r}")
    try:
        return tuple(cast(p) for p in parts)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected {like}, got {text!r}") from exc


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(p) for p in text.split(",") if p.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from exc


HELP = "build a dataset (labelled points, surface samples, simulated depth views) from meshes"
DESCRIPTION = """\
Build a dataset for training implicit models: per shape, uniform and near-surface query points with occupancy
and SDF, surface points with normals, and partial depth views from a simulated sensor. Parallel, resumable and
deterministic (same seed -> byte-identical files).
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", required=True, help="catalogue:CATEGORY or a folder of meshes (see below)")
    p.add_argument("-o", "--output", required=True, help="output dataset folder (created; resumed if it exists)")
    p.add_argument("--count", type=int, default=None,
                   help="shapes per category (catalogue); the first N files of each category (folders: each "
                   "sub-folder, each ShapeNet synset)")
    p.add_argument("--seed", type=int, default=0, help="build seed: shapes, samples, cameras, splits (default 0)")
    p.add_argument("--workers", type=int, default=1, help="parallel worker processes (default 1)")
    p.add_argument("--up", choices=("z", "y"), default=None,
                   help="up axis of folder meshes (default z; y-up meshes are turned z-up; ShapeNet: always y)")
    g = p.add_argument_group("samples")
    g.add_argument("--uniform", type=int, default=100_000, help="uniform points in the cube (default 100000)")
    g.add_argument("--near", type=int, default=100_000, help="near-surface points in all (default 100000)")
    g.add_argument(
        "--sigmas", type=_floats, default=(0.005, 0.015, 0.05), help="near-surface std devs (default 0.005,0.015,0.05)"
    )
    g.add_argument("--surface", type=int, default=100_000, help="surface points with normals (default 100000)")
    g.add_argument("--padding", type=float, default=0.1, help="normalization padding (longest edge = 1 - padding)")
    g.add_argument("--no-mesh", action="store_true", help="do not save the normalized mesh.ply")
    v = p.add_argument_group("depth views")
    v.add_argument("--views", type=int, default=4, help="partial depth views per shape (default 4; 0 = none)")
    v.add_argument("--image-size", type=lambda s: _pair(s, int), default=(640, 480), help="WIDTHxHEIGHT (640x480)")
    v.add_argument("--focal", type=_pair, default=(385.0, 385.0), help="fx,fy in pixels (default 385,385)")
    v.add_argument("--distance", type=_pair, default=(0.5, 0.8), help="camera distance range, metres (0.5,0.8)")
    v.add_argument("--elevation", type=_pair, default=(10.0, 80.0), help="camera elevation range, degrees (10,80)")
    v.add_argument(
        "--object-size", type=_pair, default=(0.10, 0.35), help="metric size range for files of unknown units (m)"
    )
    v.add_argument("--noise", default="realsense_d435", help="sensor noise preset (none, kinect_v1, realsense_d435)")
    v.add_argument(
        "--view-pose", choices=("none", "yaw", "so3", "stable"), default="yaw",
        help="random object rotation per view (default yaw); stable: set down on a table, upright or in one of its "
        "resting poses, random yaw"
    )
    s = p.add_argument_group("splits")
    s.add_argument("--split", type=_floats, default=(0.8, 0.1, 0.1), help="train,val,test fractions (0.8,0.1,0.1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from implicit3d.commands.options import first_run_note, show_progress
    from implicit3d.data.prepare import PrepareConfig, prepare

    if args.views > 0 and args.noise != "none":
        from implicit3d import sensing

        presets = getattr(sensing, "NOISE_PRESETS", None)
        if presets is not None and args.noise not in presets:
            raise UserError(f"unknown noise preset {args.noise!r}; choose from {', '.join(presets)}")
    if args.seed < 0:
        raise UserError(f"--seed must be >= 0, got {args.seed}")
    config = PrepareConfig(
        n_uniform=args.uniform,
        n_near=args.near,
        near_sigmas=tuple(args.sigmas),
        n_surface=args.surface,
        n_views=args.views,
        image_size=tuple(args.image_size),
        focal=tuple(args.focal),
        camera_distance=tuple(args.distance),
        elevation_deg=tuple(args.elevation),
        object_size=tuple(args.object_size),
        noise=args.noise,
        view_pose=args.view_pose,
        padding=args.padding,
        split=tuple(args.split),
        save_mesh=not args.no_mesh,
    )
    note = first_run_note() if show_progress(args.quiet) else None  # on a terminal (a log gets no bars either)
    if note is not None:
        import sys

        print(f"implicit3d prepare: note: {note}", file=sys.stderr, flush=True)
    result = prepare(
        args.source,
        args.output,
        count=args.count,
        config=config,
        seed=args.seed,
        workers=args.workers,
        progress=show_progress(args.quiet),
        up=args.up,
    )
    n = len(result.shapes)
    print(
        f"{args.output}: {n} shapes ({len(result.built)} built now, {len(result.skipped)} already done) "
        f"in {result.seconds:.1f} s"
    )
    if result.broken:  # each was warned about as it was found
        print(f"skipped {len(result.broken)} broken mesh(es), listed in {args.output}/manifest.json")
    return 0
