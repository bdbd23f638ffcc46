"""``implicit3d complete``: complete a whole object from a partial point cloud or a depth image."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from implicit3d.commands.options import add_depth_scale_option, add_model_options, depth_scale, model_bf16
from implicit3d.errors import UserError

EPILOG = """\
inputs:
  point cloud   .ply  .obj (vertices)  .pcd (ascii/binary)  .xyz/.txt  .npy (N, 3)  .npz with a 'points' array
  depth image   .png (16-bit, millimetres) or .npy (H, W metres) + --intrinsics K.json {fx, fy, cx, cy, width,
                height} [+ --mask object.png, non-zero = object]

examples:
  implicit3d complete scan.ply -o mesh.ply                        # the bundled model
  implicit3d complete depth.png --intrinsics K.json --mask mask.png -o mesh.glb --html view.html
  implicit3d complete scan.ply -o mesh.ply --checkpoint runs/grid  # your own model
  implicit3d complete cloud.npy --up y --scale 0.25 -o mesh.obj --checkpoint runs/grid/checkpoints/best

The mesh is written in the input's frame and units (a depth image's camera frame, metres). The bundled model was
trained on single views of objects in any orientation, in the camera's frame and framed by the observed cloud's
own box: it needs no --up or --scale; --viewpoint is the sensor position (default: the origin, i.e. a cloud in the
camera frame — give it for clouds in another frame). Models trained on upright objects (+z up, `pose: yaw`) need
--up, the input's up direction (default z for clouds, -y for depth images, i.e. a level camera); for a single view
the object is then assumed as deep as it is wide behind what the sensor saw (--viewpoint: default the camera for
depth images, none for clouds). See docs/complete.md for the pose, scale and centre assumptions.

A .ply mesh carries a vertex property 'uncertainty' (0: decided, 1: a guess): for a point cloud the softness of the
surface there; for a depth image (metres) that softness scaled down within 12 mm of the measured points, with the
softness alone as a second property 'softness' (as `implicit3d scene` writes them).
"""


HELP = "complete a whole object mesh from a partial point cloud or depth image"
GUESS_DISTANCE = 0.012  #: metres: a depth image's mesh gets its uncertainty ramped in over this distance from the
#: measured points, as `scene` does (a cloud's units are unknown: it keeps the softness alone)
DESCRIPTION = """\
Complete the full shape of an object seen from one side: the observed points are normalized like the training
data, a trained implicit model predicts the occupancy of the whole object and the surface is extracted with
multiresolution iso-surface extraction (MISE), then mapped back to the input's frame.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="point cloud (.ply .obj .pcd .xyz .txt .npy .npz) or depth image (.png .npy .tif, "
                   "with --intrinsics)")
    p.add_argument("-o", "--output", required=True, help="output mesh (.ply, .obj, .glb, .off, .stl)")
    add_model_options(p)
    p.add_argument("--intrinsics", default=None, metavar="K.json", help="camera intrinsics of a depth image")
    p.add_argument("--mask", default=None, metavar="MASK.png",
                   help="object mask of a depth image or of an organized (H, W, 3) cloud (.npy/.npz/.pcd), same size "
                   "(non-zero = object)")
    add_depth_scale_option(p)
    p.add_argument(
        "--up", default=None, metavar="AXIS",
        help="the input's up direction: x, y, z, -x, -y, -z or three numbers; write negative values as --up=-y "
        "(default: z; -y for depth images)",
    )
    p.add_argument(
        "--scale", type=float, default=None, metavar="SIZE",
        help="the object's longest bounding-box edge in the input's units, if known (default: that of the observed "
        "points, which underestimates a partial view)",
    )
    p.add_argument(
        "--viewpoint", default=None, metavar="X,Y,Z|none",
        help="sensor position in the input frame (default: the origin, i.e. a cloud in the camera frame, as a "
        "depth image gives). The bundled model (pose camera) looks at the cloud from there; upright models (pose "
        "yaw) use it to assume the object as deep as wide behind what it shows, and take none by default for point "
        "clouds; write a negative first value as --viewpoint=-0.1,0,0",
    )
    p.add_argument("--resolution", type=int, default=128, help="extraction grid cells per axis (default 128)")
    p.add_argument("--threshold", type=float, default=0.5, help="occupancy probability of the surface (default 0.5)")
    p.add_argument("--n-inputs", type=int, default=None, help="points given to the model (default: as in training)")
    p.add_argument("--seed", type=int, default=0, help="seed of the input subsampling (default 0)")
    p.add_argument(
        "--turns",
        type=int,
        default=None,
        help="test-time augmentation: also complete the input turned about its line of sight (or up axis) in N "
        "steps and average the predictions; N times slower, better guesses of the unseen back (default: 8 for "
        "models trained on turned inputs, e.g. the bundled one; 1 = off)",
    )
    p.add_argument("--drop-invalid", action="store_true", help="drop NaN/inf points instead of refusing the file")
    p.add_argument("--html", default=None, metavar="FILE", help="also write an interactive figure (input + mesh)")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")


def parse_viewpoint(text: str | None, kind: str) -> np.ndarray | None:
    """``--viewpoint``: three numbers, ``none``, or the default (the camera origin for depth images)."""
    if text is None:
        return np.zeros(3) if kind == "depth" else None
    if text.strip().lower() == "none":
        return None
    try:
        v = np.array([float(t) for t in text.replace(" ", ",").split(",") if t], dtype=np.float64)
    except ValueError:
        v = np.zeros(0)
    if v.shape != (3,) or not np.isfinite(v).all():
        raise UserError(f"--viewpoint must be three numbers like 0,0,0 or none, got {text!r}")
    return v


#: the thirds of the undecided ratio on the real-object suite's free views (8 turned copies; docs/complete.md): the
#: surest completed at IoU 0.87, the middle at 0.73, the least sure at 0.39
TRUST_THIRDS = (1.26, 2.17)


def _trust(info: dict) -> str:
    """A word on the undecided ratio of a completion made as the suite's (8 turned copies), else its direction."""
    if info.get("turns") != 8:
        return "lower is surer"
    ratio = float(info["undecided_ratio"])
    if ratio < TRUST_THIRDS[0]:
        return "in the surest third of real views"
    if ratio < TRUST_THIRDS[1]:
        return "in the middle third of real views"
    return "in the least sure third of real views: look again or grasp with care"


#: metres across (2-98 % quantiles) beyond which an unmasked depth image is a frame of many things, not one object
WHOLE_FRAME_SPAN = 0.6


def _figure_points(points: np.ndarray, limit: int = 20_000) -> np.ndarray:
    if len(points) <= limit:
        return points
    return points[np.random.default_rng(0).choice(len(points), limit, replace=False)]


def run(args: argparse.Namespace) -> int:
    from implicit3d.completion import (
        complete_points,
        load_model,
        mesh_format,
        model_contract,
        unused_hints,
        warn_few_points,
        write_mesh,
    )
    from implicit3d.data.pointcloud_io import CLOSE_RANGE_DEPTH_M, check_sensor_frame, read_observation
    from implicit3d.errors import warn_user
    from implicit3d.fileio import check_output_file
    from implicit3d.geometry.frames import parse_up
    from implicit3d.limits import (
        MAX_POINTS,
        MAX_TURNS,
        MIN_EXTRACTION_RESOLUTION,
        check_int,
        check_probability,
        check_resolution,
        check_seed,
    )
    from implicit3d.training.run import resolve_device

    t0 = time.perf_counter()
    check_output_file(args.output, "-o")  # refuse an output that cannot be written before any work
    mesh_format(args.output)
    if args.html is not None and Path(args.html).suffix.lower() not in (".html", ".htm"):
        raise UserError(f"--html {args.html}: the figure is an HTML file (use a .html name)")
    if args.html is not None:
        check_output_file(args.html, "--html")
    check_resolution(args.resolution, least=MIN_EXTRACTION_RESOLUTION)
    check_seed(args.seed)
    check_probability(args.threshold)
    if args.n_inputs is not None:
        check_int(args.n_inputs, "--n-inputs", 1, MAX_POINTS)
    if args.turns is not None:
        check_int(args.turns, "--turns", 1, MAX_TURNS)
    if args.scale is not None and not (np.isfinite(args.scale) and args.scale > 0):
        raise UserError(f"--scale must be a positive size in the input's units, got {args.scale}")

    obs = read_observation(args.input, args.intrinsics, args.mask, args.drop_invalid,
                           depth_scale(args, args.input, args.intrinsics), usual_depth=CLOSE_RANGE_DEPTH_M)
    warn_few_points(len(obs.points), str(args.input))  # read_observation refused fewer than MIN_POINTS
    up_spec = args.up if args.up is not None else ("-y" if obs.kind == "depth" else "z")
    try:
        up = parse_up(up_spec)
    except ValueError as exc:
        raise UserError(f"--up: {exc}") from None
    viewpoint = parse_viewpoint(args.viewpoint, obs.kind)
    if args.viewpoint is None and obs.viewpoint is not None:  # the file says where its sensor was (PCD VIEWPOINT)
        viewpoint = obs.viewpoint
    elif args.viewpoint is None and viewpoint is None:
        check_sensor_frame(obs.points, obs.source)
    if obs.kind == "depth" and args.mask is None:
        span = float(np.ptp(np.quantile(obs.points, [0.02, 0.98], axis=0), axis=0).max())
        if span > WHOLE_FRAME_SPAN:
            warn_user(f"{args.input}: without --mask every valid pixel is completed as one object, here {span:.2f} m "
                      "across: give --mask OBJECT.png, or use `implicit3d scene` for a frame of objects on a table")
    device = resolve_device(args.device)
    bf16 = model_bf16(args, device)
    model, meta = load_model(args.checkpoint, device)
    contract = model_contract(meta)
    for note in unused_hints(contract, up=args.up is not None, size=args.scale is not None,
                             viewpoint=args.viewpoint is not None):
        warn_user(note)
    if contract.pose == "camera" and viewpoint is None and args.viewpoint is not None:
        warn_user(f"--viewpoint {args.viewpoint}: this model frames a view by its line of sight from the sensor; "
                  "the sensor is taken at the origin")
    result = complete_points(
        obs.points, model, meta, resolution=args.resolution, up=up, size=args.scale, threshold=args.threshold,
        n_inputs=args.n_inputs, seed=args.seed, device=device, viewpoint=viewpoint, turns=args.turns,
        source=str(args.input), guess_distance=GUESS_DISTANCE if obs.kind == "depth" else None, bf16=bf16,
    )
    mesh = result.mesh
    if len(mesh.faces) == 0:
        hints = ("--threshold, --viewpoint (where the sensor was)" if contract.pose == "camera"
                 else "--up, --scale and --threshold")
        raise UserError(
            f"the model predicted no surface for {args.input} (empty mesh); check {hints}, "
            "and that the checkpoint was trained on objects like this one"
        )
    write_mesh(args.output, mesh)
    if args.html is not None:
        from implicit3d.viz.figures import completion_figure
        from implicit3d.viz.report import write_figure

        title = f"{Path(args.input).name}: observed points and completed mesh"
        fig = completion_figure(_figure_points(obs.points), mesh, title=title, total=len(obs.points))
        if obs.kind == "depth":  # the camera frame (y down, z forward): open the view as the sensor saw it
            fig.update_layout(scene_camera=dict(up=dict(x=0, y=-1, z=0), eye=dict(x=0, y=0, z=-1.8)))
        write_figure(args.html, fig)
    if not args.quiet:
        pose = contract.pose
        info = result.info
        extent = np.ptp(mesh.vertices, axis=0)
        print(
            f"{args.output}: {len(mesh.vertices)} vertices, {len(mesh.faces)} faces, extent "
            f"{' x '.join(f'{e:.4g}' for e in extent)} ({'m' if obs.kind == 'depth' else 'input units'}) from "
            f"{info['n_observed']} observed points "
            f"({info['n_inputs']} to the model, "
            + ("aligned to the line of sight" if pose == "camera" else f"up {up_spec}")
            + f", trained with pose {pose}"
            + (f", mean of {info['turns']} turned copies" if info.get("turns", 1) > 1 else "")
            + (", bf16" if bf16 else "")
            + ") "
            f"in {time.perf_counter() - t0:.1f} s"
            + (f"; undecided ratio {info['undecided_ratio']:.2f} ({_trust(info)}; docs/complete.md)"
               if info.get("undecided_ratio") is not None else "")
            + (f"; figure {args.html}" if args.html else "")
        )
        if obs.dropped:
            print(f"dropped {obs.dropped} invalid points (NaN/inf, or the (0, 0, 0) no-return points of a sensor)")
    return 0
