"""``implicit3d shapes``: write meshes of the procedural catalogue (bottles, cans, mugs, ...) to a folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from implicit3d.errors import UserError

FORMATS = ("obj", "ply", "stl", "glb")

EPILOG = """\
examples:
  implicit3d shapes --list
  implicit3d shapes --category bottle -n 8 -o out/bottles
  implicit3d shapes --category all -n 2 -o out/all --format glb --seed 7

Files are named <category>_<shape seed>.<ext>; DIR/shapes.json lists name, category, seed, sampled parameters and
size (metres) of each. Shapes are watertight, in metres, z up, standing on z = 0, their body centred on the z axis
(a mug's, cup's or pan's handle sticks out to one side).
The same --seed gives the same shapes as `implicit3d prepare --source catalogue:... --seed`.
"""


HELP = "write watertight procedural household shapes (bottles, cans, mugs, ...) as mesh files"
DESCRIPTION = """\
Generate seeded procedural shapes from the built-in catalogue and write them as mesh files.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--category", default="all",
                   help="a category (see --list), several separated by commas, or 'all' (default all)")
    p.add_argument("-n", "--count", type=int, default=8, help="shapes per category (default 8)")
    p.add_argument("-o", "--output", default=None, help="output folder (created)")
    p.add_argument("--seed", type=int, default=0, help="catalogue seed (default 0)")
    p.add_argument("--format", choices=FORMATS, default="obj", help="mesh file format (default obj)")
    p.add_argument("--list", action="store_true", help="print the categories and exit")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from implicit3d import shapes
    from implicit3d.fileio import atomic_write_bytes, ensure_folder, write_mesh

    if args.list:
        for c in shapes.CATEGORIES:
            print(c)
        return 0
    if args.output is None:
        raise UserError("give an output folder with -o DIR (or --list to see the categories)")
    asked = [c.strip() for c in args.category.split(",") if c.strip()]
    unknown = [c for c in asked if c != "all" and c not in shapes.CATEGORIES]
    if unknown or not asked:
        raise UserError(f"unknown category {(unknown or [args.category])[0]!r}; known: all, "
                        f"{', '.join(shapes.CATEGORIES)}")
    if args.count < 1:
        raise UserError(f"-n/--count must be >= 1, got {args.count}")
    if args.seed < 0:
        raise UserError(f"--seed must be >= 0, got {args.seed}")
    out = Path(args.output)
    if out.suffix.lower()[1:] in FORMATS and not out.is_dir():
        raise UserError(f"-o {out}: the output is a folder (each shape is written into it as NAME.{args.format}); "
                        f"use e.g. -o {out.with_suffix('')}/ and --format {out.suffix.lower()[1:]}")
    ensure_folder(out)
    cats = list(shapes.CATEGORIES) if "all" in asked else list(dict.fromkeys(asked))
    jobs = [(c, shapes.shape_seed(c, i, args.seed)) for c in cats for i in range(args.count)]
    records = []
    for category, seed in tqdm(jobs, desc="shapes", unit="shape", disable=True if args.quiet else None):  # TTY only
        shape = shapes.generate(category, seed)
        path = out / f"{shape.name}.{args.format}"
        write_mesh(path, shape.mesh)
        records.append(
            {
                "name": shape.name,
                "file": path.name,
                "category": shape.category,
                "seed": shape.seed,
                "size": [round(float(x), 6) for x in shape.mesh.extents],
                "faces": len(shape.mesh.faces),
                "params": shape.params,
            }
        )
    index = {"seed": args.seed, "count": args.count, "units": "metres", "up": "z", "shapes": records}
    atomic_write_bytes(out / "shapes.json", (json.dumps(index, indent=1) + "\n").encode())
    print(f"{out}: wrote {len(records)} shape(s) as .{args.format} and shapes.json")
    return 0
