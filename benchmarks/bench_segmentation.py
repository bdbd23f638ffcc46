"""Benchmark: the tabletop segmentation alone (support plane + objects, no completion) on simulated frames with
ground truth, for several settings side by side; optionally the object counts on real frames.

Frames: :func:`implicit3d.evaluation.tabletop.make_tabletop_scene` with 2-5 meshes of ``--meshes`` (default: the
real household objects of ``../shared/realobjects``, never training data), 640x480, ``--noise`` (default
``realsense_d435``; ``kinect_v1`` quantizes depth as the Xtion of the YCB-Video frames does), ``--focal``; three
sets from the same draws: **apart** (bounding circles at least 1 cm apart, as ``bench_tabletop.py``),
**touching** (each object pushed against one set down before, as in clutter) and **tote** (up to 4 of them, each
against a wall of a 60 x 40 cm tote with 15 cm walls, seen from above:
:func:`implicit3d.evaluation.tabletop.make_tote_scene`; draws whose objects do not fit are left out).

Per setting and set, over the visible true objects (>= 150 pixels): **found** — one segmented object holds most of its
pixels and is mostly made of them; **merged** — its best object also holds 30 % of another
visible object's pixels; **split** — two or more objects each hold 20 % of its pixels; and **extra** segmented
objects (30 % of no true object), per visible object. ``--frames DIR``: per real frame (``depth.png``,
``intrinsics.json``, ``frame.json`` with ``depth_scale``, as ``../shared/realframes``) the number of objects each
setting finds. The first ``--crease-scale`` is the baseline. It measures; it never fails on a value.

    python benchmarks/bench_segmentation.py --scenes 20 --crease-scale 0 --crease-scale 0.005 \\
        --frames ../shared/realframes
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from _cli import machine, positive_float, positive_int
from PIL import Image

from implicit3d.errors import UserError
from implicit3d.evaluation.real_objects import load_meshes
from implicit3d.evaluation.tabletop import make_tabletop_scene, make_tote_scene, score_segmentation
from implicit3d.scene import SceneSettings, segment_scene
from implicit3d.sensing.camera import Intrinsics
from implicit3d.sensing.io import read_intrinsics
from implicit3d.sensing.noise import NOISE_PRESETS
from implicit3d.sensing.segment import SegmentSettings

DEFAULT_MESHES = Path(__file__).resolve().parents[1].parent / "shared" / "realobjects" / "meshes"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=positive_int, default=20, help="simulated frames per set (default 20)")
    ap.add_argument("--seed", type=int, default=0, help="scene seed (default 0)")
    ap.add_argument("--meshes", type=Path, default=DEFAULT_MESHES, help="folder of object meshes (.obj)")
    ap.add_argument("--crease-scale", type=float, action="append", default=None,
                    help="SegmentSettings.crease_scale to compare (metres; repeatable; the first is the baseline; "
                    "default: 0 and the default setting)")
    ap.add_argument("--noise", default="realsense_d435", choices=sorted(NOISE_PRESETS),
                    help="sensor noise preset (default realsense_d435)")
    ap.add_argument("--focal", type=positive_float, default=525.0,
                    help="focal length in pixels of the 640x480 frames (default 525; YCB-Video's Xtion: 1067)")
    ap.add_argument("--frames", type=Path, default=None, help="folder of real frames (as ../shared/realframes)")
    args = ap.parse_args(argv)
    if args.frames is not None and not args.frames.is_dir():
        ap.error(f"--frames {args.frames}: no such folder")
    if args.crease_scale and min(args.crease_scale) < 0:
        ap.error("--crease-scale must be >= 0 (0: the fixed 3-pixel step)")
    scales = args.crease_scale or sorted({0.0, SegmentSettings().crease_scale})
    meshes = load_meshes(args.meshes)
    sets: dict[str, list] = {"apart": [], "touching": [], "tote": []}
    rng = np.random.default_rng(args.seed)
    draws = []
    for _ in range(args.scenes):
        k = int(rng.integers(2, 6))
        draws.append((int(rng.integers(2**31)), [meshes[i] for i in rng.choice(len(meshes), k, replace=False)]))
    intr = Intrinsics(fx=args.focal, fy=args.focal, cx=319.5, cy=239.5, width=640, height=480)
    for name, touching in (("apart", False), ("touching", True)):
        for scene_seed, picks in draws:
            sets[name].append(make_tabletop_scene(picks, np.random.default_rng(scene_seed), intrinsics=intr,
                                                  noise=args.noise, touching=touching))
    for scene_seed, picks in draws:  # at most 4 objects in the 60 x 40 cm tote; one that does not fit: no frame
        try:
            sets["tote"].append(make_tote_scene(picks[:4], np.random.default_rng(scene_seed), intrinsics=intr,
                                                noise=args.noise))
        except ValueError:
            continue
    print(f"# bench_segmentation — {args.scenes} simulated 640x480 frames per set of {len(meshes)} meshes from "
          f"{args.meshes} (2-5 objects each, seed {args.seed}), {args.noise} noise, focal {args.focal:g} px; "
          f"crease scales {scales} (first: baseline)")
    print(machine())
    header = (f"{'set':<9} {'crease scale':>12} {'visible':>8} {'found':>7} {'merged':>7} {'split':>7} "
              f"{'extra':>7} {'s/frame':>8}")
    print(header)
    print("-" * len(header))
    for name, scenes in sets.items():
        for scale in scales:
            settings = SceneSettings(segment=replace(SegmentSettings(), crease_scale=scale))
            total = {"visible": 0, "found": 0, "merged": 0, "split": 0, "extra": 0}
            seconds = []
            for sc in scenes:
                t0 = time.perf_counter()
                try:
                    labels = segment_scene(sc.depth, sc.intrinsics, settings=settings).segmentation.labels
                except UserError:  # no object found: every visible one is missed
                    labels = np.zeros_like(sc.labels)
                seconds.append(time.perf_counter() - t0)
                for key, value in score_segmentation(sc.labels, labels).items():
                    total[key] += value
            vis = max(total["visible"], 1)
            label = f"{scale * 1000:.1f} mm" if scale > 0 else "3 px"
            print(f"{name:<9} {label:>12} {total['visible']:>8} {total['found'] / vis:>7.0%} "
                  f"{total['merged'] / vis:>7.0%} {total['split'] / vis:>7.0%} {total['extra'] / vis:>7.0%} "
                  f"{np.mean(seconds):>8.2f}")
    if args.frames is not None:
        print("\nreal frames: objects found per crease scale")
        for folder in sorted(p for p in args.frames.iterdir() if (p / "depth.png").exists()):
            scale_of = json.loads((folder / "frame.json").read_text())["depth_scale"]
            depth = np.asarray(Image.open(folder / "depth.png"), dtype=np.float64) / float(scale_of)
            intr = read_intrinsics(folder / "intrinsics.json")
            counts = []
            for scale in scales:
                settings = SceneSettings(segment=replace(SegmentSettings(), crease_scale=scale))
                counts.append(len(segment_scene(depth, intr, settings=settings).segmentation.objects))
            print(f"  {folder.name:<24} " + "  ".join(f"{c:>3}" for c in counts))
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except UserError as exc:  # a missing or unreadable mesh folder: one line, exit 2
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
