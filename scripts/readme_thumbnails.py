"""Write the README's static PNG thumbnails (drawn by ``scripts/thumbnails.py``).

    python scripts/readme_thumbnails.py                          # docs/images/*.png (completion: bundled model)
    python scripts/readme_thumbnails.py --checkpoint runs/NAME   # completion.png from a trained model

Always writes ``implicit_sphere.png``, ``inside_outside.png`` and ``sdf_slice.png``; writes ``completion.png``
when ``--checkpoint`` is given or the package ships a bundled model. The completion rows follow the demo page
(``implicit3d demo``): catalogue objects with seeds >= 1000 (not the demo's training seeds), one noisy partial depth
view each (the training data's camera and noise model), completed by the model in the dataset frame, shown beside
the ground truth. Everything is seeded: the same arguments give the same files.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_OBJECTS = (("bottle", 1000), ("mug", 1001), ("vase", 1002))
COMPLETION_PANEL = (320, 280)  # (width, height) px per panel: two panels per object, one object per row
PNG_LIMIT = 200_000  # bytes; README images should stay small


def completion_image(model: Any, meta: dict[str, Any], objects: list[tuple[str, int]], seed: int, resolution: int,
                     log: Any = print) -> np.ndarray:
    """Rows of (completion | ground truth) thumbnails, one per catalogue ``(category, seed)``, stacked vertically.

    ``model, meta``: from :func:`implicit3d.completion.load_model`; ``resolution``: mesh extraction grid size.
    """
    from thumbnails import completion_thumbnail, tile

    from implicit3d import shapes
    from implicit3d.completion import model_contract
    from implicit3d.extraction.generator import MeshGenerator
    from implicit3d.viz.demo import complete_rendered_view, render_view

    generator = MeshGenerator(kind=model_contract(meta).task, resolution=resolution, initial_resolution=32)
    rng = np.random.default_rng([seed, 6])
    rows = []
    for category, shape_seed in objects:  # a handful of objects, each a full pipeline
        t = time.perf_counter()
        mesh = shapes.generate(category, shape_seed).mesh
        v = render_view(mesh, rng)
        done = complete_rendered_view(v, model, meta, generator, rng)
        if done is None:
            log(f"  {category} #{shape_seed}: the camera saw nothing, skipped")
            continue
        cloud, inputs, pred = done
        if len(pred.faces) == 0:
            log(f"  {category} #{shape_seed}: empty prediction, skipped")
            continue
        # look from 70 degrees around from the sensor, so the observed side and the filled-in side both show
        eye = v["views"]["cam_to_world"][0][:3, 3]
        azimuth = float(np.degrees(np.arctan2(eye[1], eye[0]))) + 70.0
        rows.append(completion_thumbnail(inputs, pred, gt_mesh=v["mesh_n"], size=COMPLETION_PANEL, azimuth_deg=azimuth,
                                         elevation_deg=25.0))
        log(f"  {category} #{shape_seed}: {len(cloud)} observed points, {len(pred.faces)} triangles "
            f"({time.perf_counter() - t:.1f} s)")
    if not rows:
        raise RuntimeError("no completion could be drawn (every view was empty or every prediction empty)")
    return tile(rows, gap=8, axis=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/images", help="output folder (default docs/images)")
    parser.add_argument("--checkpoint", default=None, help="trained model for completion.png (default: bundled)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--resolution", type=int, default=128, help="mesh extraction resolution (default 128)")
    parser.add_argument("--threads", type=int, default=None, help="torch/numba threads (default: library default)")
    args = parser.parse_args(argv)

    if args.threads is not None:
        import torch

        from implicit3d.sensing.render import set_render_threads

        torch.set_num_threads(args.threads)
        set_render_threads(args.threads)
    from thumbnails import inside_outside_thumbnail, sdf_slice_thumbnail, sphere_thumbnail, write_png

    from implicit3d import shapes
    from implicit3d.completion import bundled_weights, load_model

    out = Path(args.out)
    model = meta = None
    if args.checkpoint is not None or bundled_weights() is not None:
        model, meta = load_model(args.checkpoint)  # first, so a bad checkpoint fails before any file is written
    bottle = shapes.generate("bottle", args.seed).mesh
    jobs: list[tuple[str, Any]] = [
        ("implicit_sphere.png", lambda: sphere_thumbnail()),
        ("inside_outside.png", lambda: inside_outside_thumbnail(bottle, np.random.default_rng([args.seed, 2]))),
        ("sdf_slice.png", lambda: sdf_slice_thumbnail(bottle)),
    ]
    if model is not None:
        jobs.append(("completion.png",
                     lambda: completion_image(model, meta, list(DEFAULT_OBJECTS), args.seed, args.resolution)))
    else:
        print("completion.png: skipped (no bundled model; pass --checkpoint RUN_DIR)")
    too_big = []
    for name, build in jobs:
        t = time.perf_counter()
        image = build()
        n = write_png(out / name, image)
        print(f"wrote {out / name}: {image.shape[1]}x{image.shape[0]} px, {n / 1000:.1f} kB "
              f"({time.perf_counter() - t:.1f} s)")
        if n > PNG_LIMIT:
            too_big.append(name)
    if too_big:
        print(f"warning: over {PNG_LIMIT // 1000} kB: {', '.join(too_big)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    from implicit3d.errors import UserError

    try:
        sys.exit(main())
    except UserError as exc:  # e.g. a missing or unreadable checkpoint: one line, exit 2
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
