"""``implicit3d scene``: every object on a table in one raw depth frame, completed (see :mod:`implicit3d.scene`)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from implicit3d.commands.options import add_depth_scale_option, add_model_options, depth_scale, model_bf16

HELP = "find the support plane and every object on it in one depth frame, and complete each object"
DESCRIPTION = """\
From one raw depth image and its intrinsics: fit the supporting plane (RANSAC), segment the objects standing
on it (or take an instance label image), complete each one with a trained model, never below the table and
closed on it, with a per-vertex uncertainty; write one mesh per object, scene.json, scene.glb and optionally an
interactive figure. Everything is in the camera frame (OpenCV), metres. Frames of more than 2 x 640x480 pixels
(1280x720 and up) are segmented from every k-th row and column, so they take about as long as a 640x480 one.
"""
EPILOG = """\
examples:
  implicit3d scene depth.png --intrinsics K.json -o scene/ --html scene/scene.html
  implicit3d scene depth.png --intrinsics camera_info.yaml --depth-scale 10000 --color rgb.png -o out/
  implicit3d scene depth.png --intrinsics K.txt --labels instances.png -o out/   # your own segmentation

intrinsics: this project's JSON {fx, fy, cx, cy, width, height}; a JSON with a 3x3 "K"; Open3D
PinholeCameraIntrinsic JSON; ROS CameraInfo YAML; BOP scene_camera.json; a YCB-Video *-meta.mat; PoseCNN's rig
camera.json (its first camera); a 3x3 matrix in .txt or .npy. A PNG whose median depth is outside 0.15-3 m gets a
one-line warning naming the --depth-scale that fits (YCB-Video, PoseCNN and ARC SR300 frames store 1/10000 m).

Output (object files of an earlier scene in OUT beyond this one's count, and its OUT/scene.html unless this run
writes one there, are removed): OUT/object_NN.ply (watertight;
vertex attributes 'softness' (how little the occupancy changes across the surface there) and 'uncertainty' (the
softness, 0 on the measured surface and in full from 12 mm off it); vertex colours blue = decided, red = a guess),
OUT/scene.json (the plane: normal pointing up, d with normal . x + d = 0; per object: file, observed points,
centroid, bounding box, the box standing on the table (centre, length x width x height, rotation), volume,
uncertainty summary with the share of its outline that the image border or something nearer cuts off, seconds;
skipped clusters by reason), OUT/scene.glb (all objects and the table patch). How far to trust each object: its
'undecided_ratio' in scene.json (the undecided volume of its occupancy over its completed volume; below about 1 the
completion is usually good, above about 1.5 it is doubtful: docs/scene.md). Exit code 2 with one line for: no
plane (try --no-plane), no object, labels or intrinsics of another size.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("depth", help="depth image: 16-bit .png or .tif, or an integer .npy (--depth-scale units per "
                   "metre), float .tif or .npy metres")
    p.add_argument("--intrinsics", required=True, metavar="FILE", help="camera intrinsics (formats below)")
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="output folder")
    add_depth_scale_option(p)
    p.add_argument("--labels", default=None, metavar="LABELS.png",
                   help="instance label image of the same size (0 = background) instead of the built-in segmentation")
    p.add_argument("--color", default=None, metavar="RGB.png", help="registered colour image: colours the figure")
    p.add_argument("--html", default=None, metavar="FILE", help="also write an interactive figure of the scene")
    p.add_argument("--up", default=None, metavar="X,Y,Z",
                   help="gravity's up in the camera frame, if known (e.g. from an IMU): picks the support plane")
    p.add_argument("--no-plane", action="store_true",
                   help="no support plane: complete every cluster of the frame (no table evidence)")
    p.add_argument("--resolution", type=int, default=64, help="extraction grid cells per axis (default 64)")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="occupancy probability of the surface (default 0.5; lower completes more of each object)")
    p.add_argument("--seed", type=int, default=0, help="seed of plane fitting and input subsampling (default 0)")
    add_model_options(p, "trained model (default: the bundled tabletop model, else the bundled model)")
    p.add_argument("--quiet", action="store_true", help="print only the output folder")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from implicit3d.data.pointcloud_io import CLOSE_RANGE_DEPTH_M, read_depth, warn_unusual_depth
    from implicit3d.errors import UserError
    from implicit3d.fileio import check_output_file, check_output_folder
    from implicit3d.geometry.frames import parse_up
    from implicit3d.limits import MIN_EXTRACTION_RESOLUTION, check_probability, check_resolution, check_seed
    from implicit3d.scene import (
        NoObjectError,
        SceneSettings,
        check_intrinsics_size,
        check_labels,
        complete_scene,
        load_scene_model,
        write_empty_scene,
        write_scene,
    )
    from implicit3d.sensing.io import read_intrinsics, read_label_image
    from implicit3d.training.run import resolve_device

    t0 = time.perf_counter()
    check_resolution(args.resolution, least=MIN_EXTRACTION_RESOLUTION)
    check_probability(args.threshold)
    check_seed(args.seed)
    if args.html is not None and Path(args.html).suffix.lower() not in (".html", ".htm"):
        raise UserError(f"--html {args.html}: the figure is an HTML file (use a .html name)")
    check_output_folder(args.output, "-o")  # refuse outputs that cannot be written before any work
    if args.html is not None:
        check_output_file(args.html, "--html")
    try:
        up = None if args.up is None else parse_up(args.up)
    except ValueError as exc:
        raise UserError(f"--up: {exc}") from None
    scale = depth_scale(args, args.depth, args.intrinsics)
    depth = read_depth(args.depth, scale, usual=None)
    intrinsics = read_intrinsics(args.intrinsics, size=depth.shape, image=args.depth)
    check_intrinsics_size(depth.shape, intrinsics, str(args.depth))
    warn_unusual_depth(depth, args.depth, scale, CLOSE_RANGE_DEPTH_M)  # once the image is known to be one
    labels = None if args.labels is None else read_label_image(args.labels)
    name = None
    try:  # an empty table (labels of zeros, or nothing found): said in the folder too (no stale objects), exit 2
        if labels is not None:
            check_labels(depth.shape, labels, str(args.depth), str(args.labels))
        color = None if args.color is None else read_label_image(args.color, color=True)
        if color is not None and color.shape[:2] != depth.shape:
            raise UserError(f"{args.color} is {color.shape[1]}x{color.shape[0]} pixels but {args.depth} is "
                            f"{depth.shape[1]}x{depth.shape[0]}")
        device = resolve_device(args.device)
        bf16 = model_bf16(args, device)
        model, meta, name = load_scene_model(args.checkpoint, device)
        settings = SceneSettings(resolution=args.resolution, seed=args.seed, threshold=args.threshold, bf16=bf16)
        log = (lambda _m: None) if args.quiet else print
        result = complete_scene(depth, intrinsics, model=model, meta=meta, model_name=name, labels=labels, up=up,
                                no_plane=args.no_plane, settings=settings, device=device, log=log,
                                source=str(args.depth))
    except NoObjectError as exc:
        write_empty_scene(exc, args.output, html=args.html, model=name)
        raise
    write_scene(result, args.output, html=args.html, color=color)
    if args.quiet:
        print(args.output)
        return 0
    p = result.plane
    plane = "no plane" if p is None else (f"plane normal ({', '.join(f'{v:.3f}' for v in p.normal)}), d {p.d:.3f} m, "
                                          f"{p.inliers} points")
    skipped = len(result.skipped)
    n = len(result.objects)
    print(f"{args.output}: {n} object{'s' if n != 1 else ''} ({plane}; {skipped} cluster{'s' if skipped != 1 else ''} "
          f"skipped) with {name}{' (bf16)' if bf16 else ''} in {time.perf_counter() - t0:.1f} s, reading and writing "
          f"included, the program's start-up not (the scene {result.seconds['total']:.2f} s as in scene.json: "
          f"segmentation {result.seconds['segmentation']:.2f} s, completion {result.seconds['completion']:.2f} s)"
          + (f"; figure {args.html}" if args.html else ""))
    for i, obj in enumerate(result.objects, start=1):
        s = obj.summary(result.settings.seen_distance, up=None if p is None else p.normal)
        size = s["box"]["size"] if s["box"] else np.subtract(s["bbox_max"], s["bbox_min"])
        print(f"  object_{i:02d}.ply: {s['observed_points']} points, {' x '.join(f'{v * 100:.1f}' for v in size)} cm"
              f"{' (length x width x height on the table)' if s['box'] and i == 1 else ''}, "
              f"undecided ratio {_ratio(s['uncertainty']['undecided_ratio'])}, "
              + ("empty completion (try a higher --resolution)" if len(obj.mesh.faces) == 0 else
                 f"{_share(s['uncertainty']['observed_surface_share'])} of the surface observed"
                 + ("" if s.get("watertight", True) else ", not watertight"))
              + (", rests on the table" if obj.rests_on_table else "")
              + _cut_off(obj.border_share, obj.occluded_share))
    return 0


def _cut_off(border: float, occluded: float) -> str:
    """What the view cuts off an object, for its line: the image border, a nearer thing in front (5 % of the
    outline or more)."""
    parts = ([f"runs out of the image ({border:.0%} of its outline)"] if border >= CUT_OFF_SHARE else []) + (
        [f"goes on behind something nearer ({occluded:.0%} of its outline)"] if occluded >= CUT_OFF_SHARE else [])
    return "".join(f"; {p}" for p in parts)


CUT_OFF_SHARE = 0.05  #: an object's line names the image border or an occluder cutting this share of its outline


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"
