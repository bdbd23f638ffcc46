"""The README's tabletop figure: a real depth frame's objects (left, over its colour image) and their completions seen
from a viewpoint turned about the table's normal (right), rendered with the project's rasterizer.

Usage: ``python scripts/readme_scene.py FRAME_DIR OUT.png [--checkpoint RUN]`` where ``FRAME_DIR`` holds
``depth.png``, ``color.png``, ``intrinsics.json`` and ``frame.json`` (its ``depth_scale``), as
``../shared/realframes/*`` do.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from implicit3d.data.pointcloud_io import read_depth
from implicit3d.fileio import atomic_write_bytes
from implicit3d.scene import complete_scene, load_scene_model, table_mesh
from implicit3d.sensing.camera import look_at
from implicit3d.sensing.io import read_intrinsics
from implicit3d.sensing.render import render
from implicit3d.viz.figures import OBJECT_COLORS


def _rgb(hex_color: str) -> np.ndarray:
    return np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.float64)


def turned_view(result, intrinsics, angle_deg: float = 35.0) -> np.ndarray:
    """``(H, W, 3) uint8``: the completions and the table patch seen from the camera turned by ``angle_deg`` about
    the plane's normal through the objects' centre, shaded by a head light."""
    n = result.plane.normal
    centre = np.mean([o.mesh.vertices.mean(axis=0) for o in result.objects], axis=0)
    a = np.radians(angle_deg)
    k = np.array([[0, -n[2], n[1]], [n[2], 0, -n[0]], [-n[1], n[0], 0]])
    rot = np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * (k @ k)
    eye = centre + rot @ (np.zeros(3) - centre)
    cam = look_at(eye, centre, up=n)
    parts = [table_mesh(result.table_outline)] + [o.mesh for o in result.objects]
    colors = [np.array([200.0, 185.0, 160.0])] + [_rgb(OBJECT_COLORS[i % len(OBJECT_COLORS)])
                                                for i in range(len(result.objects))]
    offsets = np.cumsum([0] + [len(p.vertices) for p in parts])
    verts = np.vstack([p.vertices for p in parts])
    faces = np.vstack([p.faces + o for p, o in zip(parts, offsets[:-1], strict=True)])
    owner = np.concatenate([np.full(len(p.faces), i) for i, p in enumerate(parts)])
    res = render((verts, faces), intrinsics, cam, return_faces=True)
    hit = res.face_index >= 0
    shade = np.clip(np.abs(res.normals_cam[..., 2]), 0.25, 1.0)
    img = np.full(res.depth.shape + (3,), 255.0)
    base = np.stack(colors)[owner[np.maximum(res.face_index, 0)]]
    img[hit] = (base * shade[..., None])[hit]
    return img.astype(np.uint8)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("frame", type=Path)
    ap.add_argument("output", type=Path)
    ap.add_argument("--checkpoint", default=None)
    args = ap.parse_args()
    scale = json.loads((args.frame / "frame.json").read_text())["depth_scale"]
    depth = read_depth(args.frame / "depth.png", scale)
    intr = read_intrinsics(args.frame / "intrinsics.json", size=depth.shape)
    model, meta, name = load_scene_model(args.checkpoint)
    result = complete_scene(depth, intr, model=model, meta=meta, model_name=name)
    color = np.asarray(Image.open(args.frame / "color.png").convert("RGB"), dtype=np.float64)
    left = color * 0.45
    for i, obj in enumerate(result.objects):
        rgb = _rgb(OBJECT_COLORS[i % len(OBJECT_COLORS)])
        px = obj.pixels
        left[px[:, 0], px[:, 1]] = 0.35 * color[px[:, 0], px[:, 1]] + 0.65 * rgb
    right = turned_view(result, intr)
    both = np.concatenate([left.astype(np.uint8), np.full((left.shape[0], 8, 3), 255, np.uint8), right], axis=1)
    img = Image.fromarray(both).resize((both.shape[1] // 2, both.shape[0] // 2), Image.LANCZOS)
    import io

    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    atomic_write_bytes(args.output, buf.getvalue())
    print(f"{args.output}: {len(result.objects)} objects with {name} in {result.seconds['total']:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
