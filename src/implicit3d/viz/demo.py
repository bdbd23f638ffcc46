"""The demo page: an offline HTML page that explains implicit functions with data generated on the spot
(``implicit3d demo`` calls :func:`build_demo`).

Sections: (1) a sphere as an explicit mesh vs an implicit field, (2) inside/outside classification of points
around a catalogue bottle, (3) a signed-distance cross-section with level lines, (4) one object in four
representations, (5) a noisy partial view, (6) completion of partial views by a trained model — only when a
model is available (a checkpoint or the bundled ``implicit3d/weights/default.safetensors``); otherwise the
page says that no model is available instead of showing anything made up.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

TITLE = "implicit3d demo: implicit functions on your own generated shapes"
SECTION_TITLES = (
    "1. A sphere, explicit and implicit",
    "2. Inside or outside? Classifying points around a bottle",
    "3. Signed distance: a cross-section with level lines",
    "4. One object, four representations",
    "5. What a depth sensor sees: a noisy partial view",
    "6. Completing partial views with a trained model",
)
N_STEPS = 6


@dataclass
class DemoSettings:
    """Sizes of the demo's computations (``quick`` shrinks them for tests and slow machines)."""

    sphere_resolution: int = 32
    n_inside_points: int = 6000
    slice_resolution: int = 160
    voxel_resolution: int = 32
    n_cloud_points: int = 3000
    n_completions: int = 4
    extraction_resolution: int = 128
    n_eval_points: int = 100_000

    @classmethod
    def for_mode(cls, quick: bool) -> DemoSettings:
        if not quick:
            return cls()
        return cls(sphere_resolution=20, n_inside_points=2500, slice_resolution=90, voxel_resolution=24,
                   n_cloud_points=1500, n_completions=2, extraction_resolution=64, n_eval_points=20_000)


@dataclass
class DemoResult:
    """What :func:`build_demo` produced: the page, seconds per step, completion metrics (empty without a model)."""

    path: Path
    seconds: dict[str, float] = field(default_factory=dict)
    model: str | None = None
    metrics: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------------------------
# model lookup

TRAIN_SHAPES_PER_CATEGORY = 8  #: --train dataset: shapes per catalogue category (128 for the sixteen)


def train_demo_model(output: Path, minutes: float, seed: int = 0) -> Path:
    """``demo --train``: build a small all-category dataset under ``output/train_data`` and train the bundled model's
    run file on it for ``minutes`` into ``output/train_run`` (an earlier run there is continued). Returns the
    run folder."""
    from implicit3d.data.prepare import PrepareConfig, prepare
    from implicit3d.training.config import load_run_config
    from implicit3d.training.run import has_run, train_run

    data, run_dir = output / "train_data", output / "train_run"
    print(f"[train] building {TRAIN_SHAPES_PER_CATEGORY} shapes per catalogue category in {data} ...", flush=True)
    config = PrepareConfig(n_uniform=20_000, n_near=20_000, n_surface=10_000, n_views=2, view_pose="so3")
    prepare("catalogue:all", data, count=TRAIN_SHAPES_PER_CATEGORY, config=config, seed=seed, workers=2)
    print(f"[train] training for {minutes:g} min into {run_dir} ...", flush=True)
    run = load_run_config("bundled", values={"data.root": str(data), "train.max_minutes": minutes,
                                             "train.val_every": 100_000, "train.ckpt_every": 100, "train.seed": seed})
    train_run(run, run_dir, resume=has_run(run_dir))
    return run_dir


def load_model(path: str | Path | None) -> tuple[Any, dict[str, Any]]:
    """``(model in eval mode, meta)`` as ``implicit3d complete`` loads it (``None``: the bundled model)."""
    from implicit3d.training.weights import load_model as load

    return load(path)


# ----------------------------------------------------------------------------------------------------------------
# the page


def _catalogue_shape(category: str, seed: int) -> trimesh.Trimesh:
    from implicit3d import shapes

    return shapes.generate(category, seed).mesh


def _catalogue_categories() -> list[str]:
    from implicit3d import shapes

    return list(shapes.CATEGORIES)


def _p(text: str) -> str:
    return f"<p>{text}</p>"


def build_demo(
    output: str | Path,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    quick: bool = False,
    log: Callable[[str], None] | None = None,
    settings: DemoSettings | None = None,
) -> DemoResult:
    """Compute every section and write ``output/index.html``; returns a :class:`DemoResult`.

    ``checkpoint``: model for section 6 (default: the bundled model when there is one). A given but missing or
    unreadable checkpoint raises :class:`UserError` before any work is done. ``settings`` overrides the sizes
    that ``quick`` selects; ``log`` receives the progress lines (default: print).
    """
    from implicit3d.viz.report import Section, write_report

    log = log or (lambda s: print(s, flush=True))
    settings = settings or DemoSettings.for_mode(quick)
    rng = np.random.default_rng(seed)
    model = meta = None
    from implicit3d.training.weights import bundled_weights

    model_path: Path | str | None = checkpoint
    if checkpoint is not None or bundled_weights() is not None:
        model, meta = load_model(checkpoint)
        model_path = checkpoint if checkpoint is not None else "the bundled model"
    result = DemoResult(path=Path(output) / "index.html")
    sections: list[Section] = []

    def step(i: int, what: str) -> Callable[[], None]:
        log(f"[{i}/{N_STEPS}] {what} ...")
        t = time.perf_counter()

        def done() -> None:
            dt = time.perf_counter() - t
            result.seconds[what] = dt
            log(f"[{i}/{N_STEPS}] {what}: {dt:.1f} s")

        return done

    done = step(1, "implicit sphere")
    sections.append(_sphere_section(settings))
    done()

    done = step(2, "inside/outside classification around a bottle")
    bottle = _catalogue_shape("bottle", seed)
    sections.append(_inside_section(bottle, settings, rng, result))
    done()

    done = step(3, "signed distance cross-section")
    sections.append(_sdf_section(bottle, settings, result))
    done()

    done = step(4, "four representations")
    sections.append(_representations_section(bottle, settings, rng))
    done()

    done = step(5, "noisy partial view")
    sections.append(_partial_view_section(bottle, rng, result))
    done()

    done = step(6, "completion" if model is not None else "completion (no model: skipped)")
    sections.append(_completion_section(model, meta, model_path, seed, settings, result, log))
    done()

    intro = _p(
        "An <b>implicit function</b> describes a shape by a function over space, e.g. the occupancy "
        "<code>o(x) ∈ {0, 1}</code> (1 inside) or the <b>signed distance</b> <code>f(x)</code> (negative inside); "
        "the surface is a level set such as <code>f(x) = 0</code>. Networks like Occupancy Networks learn such "
        "functions from data and can fill in the unseen side of an object from one partial depth view. "
        f"Every figure below was computed on your machine just now (seed {seed}); all are interactive - drag to "
        "rotate, scroll to zoom, click legend entries to show or hide parts."
    ) + f"<p class='note'>Sizes: {'--quick' if quick else 'full'} settings. This page works offline.</p>"
    result.path = write_report(result.path, TITLE, sections, intro_html=intro)
    return result


def _sphere_section(settings: DemoSettings) -> Any:
    from implicit3d.viz.figures import implicit_sphere_figure
    from implicit3d.viz.report import Section

    text = _p(
        "An <b>explicit</b> surface lists the surface itself: vertices and the triangles between them. An "
        "<b>implicit</b> surface is the zero level set of a function defined everywhere in space - here "
        "<code>f(x, y, z) = x² + y² + z² − r²</code>: negative inside, positive outside, zero exactly on the sphere. "
        "Use the buttons to switch between the triangle mesh and the field (nested surfaces <code>f = c</code>; "
        f"the field is sampled on a {settings.sphere_resolution}³ grid)."
    )
    return Section(SECTION_TITLES[0], text, figures=[implicit_sphere_figure(0.4, settings.sphere_resolution)])


def _inside_section(bottle: trimesh.Trimesh, settings: DemoSettings, rng: np.random.Generator,
                    result: DemoResult) -> Any:
    from implicit3d.geometry.distance import signed_distance
    from implicit3d.geometry.inside import inside, is_closed
    from implicit3d.viz.figures import inside_outside_figure
    from implicit3d.viz.report import Section

    lo, hi = np.asarray(bottle.bounds, dtype=np.float64)
    pad = 0.15 * float((hi - lo).max())
    pts = rng.uniform(lo - pad, hi + pad, (settings.n_inside_points, 3))
    occ = inside(bottle, pts)
    sdf = signed_distance(bottle, pts)
    agree = float(np.mean(occ == (sdf < 0)))
    # colour by the inside test; the hover text shows the signed distance
    shown = np.where(occ, -np.abs(sdf), np.abs(sdf))
    fig = inside_outside_figure(bottle, pts, shown, band=0.0,
                                title=f"{int(occ.sum())} of {len(pts)} random points are inside the bottle")
    h = float(hi[2] - lo[2])
    result.facts["bottle"] = f"{len(bottle.vertices)} vertices, {len(bottle.faces)} triangles, height {h * 100:.1f} cm"
    result.facts["inside fraction"] = f"{occ.mean():.3f} of {len(pts)} points"
    text = _p(
        f"The catalogue bottle (height {h * 100:.1f} cm, {len(bottle.faces)} triangles, "
        f"{'watertight' if is_closed(bottle) else 'not watertight'}) with {len(pts)} random points in its padded "
        "bounding box. Each point is classified by <code>implicit3d.geometry.inside</code>: a ray from the point "
        "crosses the surface an odd number of times exactly when the point is inside (ray parity). Red: inside "
        "(occupancy 1), blue: outside (occupancy 0). These labels are what an occupancy network is trained to "
        f"predict. The sign of the signed distance (section 3) agrees with the ray test on {agree * 100:.2f}% of "
        "the points; hover a point to see its distance to the surface in metres."
    )
    return Section(SECTION_TITLES[1], text, figures=[fig])


def _sdf_section(bottle: trimesh.Trimesh, settings: DemoSettings, result: DemoResult) -> Any:
    from implicit3d.geometry.distance import MeshDistance
    from implicit3d.viz.figures import sdf_slice_figure
    from implicit3d.viz.report import Section

    dist = MeshDistance(bottle)
    lo, hi = np.asarray(bottle.bounds, dtype=np.float64)
    centre = (lo + hi) / 2.0
    half = 0.5 * float((hi - lo).max()) * 1.25
    bounds = np.stack([centre - half, centre + half])
    fig = sdf_slice_figure(lambda p: dist.signed_distance(p), bounds, axis=1, offset=float(centre[1]),
                           resolution=settings.slice_resolution,
                           title=f"Signed distance to the bottle on the plane y = {centre[1]:.3f} m (metres)")
    vals = np.asarray(fig.data[0].z)
    result.facts["sdf range on slice"] = f"{vals.min() * 100:+.1f} .. {vals.max() * 100:+.1f} cm"
    text = _p(
        "The <b>signed distance function</b> (SDF) gives, for every point, the distance to the nearest point of "
        "the surface, negative inside (<code>implicit3d.geometry.distance.signed_distance</code>). Here it is "
        f"evaluated on a {settings.slice_resolution}×{settings.slice_resolution} grid on a vertical plane through "
        "the bottle's axis. Thin lines are level sets <code>f = c</code> (offset surfaces); the bold black line is "
        "<code>f = 0</code>, the bottle's outline. Away from the surface the level lines round off: the SDF "
        "changes by one metre per metre in the direction of the nearest surface point (|∇f| = 1), which is "
        "what SDF networks (DeepSDF, IF-Net variants) learn to reproduce."
    )
    return Section(SECTION_TITLES[2], text, figures=[fig])


def _representations_section(bottle: trimesh.Trimesh, settings: DemoSettings, rng: np.random.Generator) -> Any:
    from implicit3d.viz.figures import representations_figure
    from implicit3d.viz.report import Section
    from implicit3d.viz.representations import compute_representations

    rep = compute_representations(bottle, rng, n_points=settings.n_cloud_points,
                                  voxel_resolution=settings.voxel_resolution)
    fig = representations_figure(rep.depth, rep.points, rep.voxels, rep.voxel_bounds, rep.mesh,
                                 title="The bottle as depth image, point cloud, voxel grid and mesh")
    text = _p(
        "The same bottle four ways. A <b>depth image</b> stores, per pixel, the distance along the camera axis - "
        "only the side facing the camera. A <b>point cloud</b> is an unordered set of surface samples (no "
        f"connectivity). A <b>voxel grid</b> ({settings.voxel_resolution}³ cells here; a cell is filled when its "
        "centre is inside) costs memory cubic in the resolution, which is why thin parts vanish at low resolution. "
        "A <b>mesh</b> is explicit and compact but has a fixed topology. An implicit function avoids all four "
        "limits: it can be queried at any resolution, and a mesh is extracted from it with marching cubes."
    )
    return Section(SECTION_TITLES[3], text, figures=[fig])


def render_view(mesh: trimesh.Trimesh, rng: np.random.Generator) -> dict[str, Any]:
    """One noisy view with the training data's camera model; returns normalized mesh, loc, scale and the view."""
    from implicit3d.data.prepare import PrepareConfig, render_views
    from implicit3d.geometry.transforms import normalize_to_unit_cube

    config = PrepareConfig(n_views=1, view_pose="none")
    mesh_n, loc, scale = normalize_to_unit_cube(mesh, padding=config.padding)
    views = render_views(mesh_n, scale, config, rng)
    return {"mesh_n": mesh_n, "loc": loc, "scale": scale, "views": views, "config": config}


def complete_rendered_view(
    v: dict[str, Any], model: Any, meta: dict[str, Any], generator: Any, rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, trimesh.Trimesh] | None:
    """Complete view 0 of a :func:`render_view` result with ``model``: ``(cloud (P, 3) float32, model inputs
    (n, 3) float32 drawn from it with rng, mesh)`` in the shape's normalized frame, or ``None`` when the camera saw
    nothing. The model's input contract says how many points it takes and how they are framed (its view's camera
    for ``pose: camera`` models)."""
    from implicit3d.completion import model_contract
    from implicit3d.data.contract import view_rotations
    from implicit3d.evaluation.dataset_inference import complete_in_dataset_frame
    from implicit3d.geometry.frames import subsample_indices

    views = v["views"]
    cloud = np.asarray(views["clouds"][0], dtype=np.float32)
    if len(cloud) == 0:
        return None
    contract = model_contract(meta)
    inputs = cloud[subsample_indices(rng, len(cloud), contract.n_inputs, fill=True)]
    rotations = view_rotations(cloud, views["cam_to_world"][0], views["object_pose"][0],
                               float(views["object_scale"][0]))
    pred, _ = complete_in_dataset_frame(generator, model, contract, inputs, rotations)
    return cloud, inputs, pred


def _partial_view_section(bottle: trimesh.Trimesh, rng: np.random.Generator, result: DemoResult) -> Any:
    from implicit3d.viz.figures import partial_view_figure
    from implicit3d.viz.report import Section

    v = render_view(bottle, rng)
    views, scale, config = v["views"], v["scale"], v["config"]
    depth = views["depth"][0]
    cam = views["cam_to_world"][0]
    pts_m = np.asarray(views["clouds"][0], dtype=np.float64) * scale  # view frame: object centre at the origin
    mesh_m = trimesh.Trimesh(np.asarray(v["mesh_n"].vertices) * scale, v["mesh_n"].faces, process=False)
    eye = cam[:3, 3]
    dist = float(np.linalg.norm(eye))
    elev = float(np.degrees(np.arcsin(eye[2] / dist)))
    fig = partial_view_figure(depth, pts_m, mesh=mesh_m, cam_to_world=cam,
                              title=f"Noisy depth view from {dist:.2f} m, {elev:.0f}° elevation")
    intr = views["intrinsics"]
    result.facts["partial view"] = f"{len(pts_m)} points from a {intr.width}x{intr.height} depth image"
    text = _p(
        f"A simulated depth camera ({intr.width}×{intr.height} px, f = {intr.fx:.0f} px) looks at the bottle from a "
        f"random direction ({dist:.2f} m away, {elev:.0f}° above the horizon) and the "
        f"<code>{config.noise}</code> sensor model corrupts the depth: noise growing with distance, millimetre "
        "quantization, missing returns at grazing angles and flying pixels at the silhouette. Back-projecting the "
        f"valid pixels gives {len(pts_m)} points - on the visible side only. Click <i>true object</i> in the "
        "legend to see how much is missing: filling in that hidden side is the completion task."
    )
    return Section(SECTION_TITLES[4], text, figures=[fig])


def _completion_section(model: Any, meta: dict[str, Any] | None, model_path: Path | None, seed: int,
                        settings: DemoSettings, result: DemoResult, log: Callable[[str], None]) -> Any:
    from implicit3d.viz.report import Section

    if model is None:
        text = _p(
            "<b>completion: no bundled model yet</b> - this build of implicit3d ships no trained weights "
            "(<code>implicit3d/weights/default.safetensors</code> is absent), so no completions are shown rather "
            "than made-up ones. Train a model (<code>implicit3d prepare --source catalogue:bottle --count 1000 -o "
            "data/bottles</code>, then <code>implicit3d train configs/conv_onet_grid_small.yaml --data data/bottles "
            "--out runs/bottles</code>) and run <code>implicit3d demo --checkpoint runs/bottles</code> to complete "
            "the partial views and compare them with the true shapes (IoU, Chamfer-L1, F-score)."
        )
        return Section(SECTION_TITLES[5], text)
    from implicit3d.completion import model_contract
    from implicit3d.evaluation.metrics import evaluate_mesh, fscore_key, to_paper_units
    from implicit3d.extraction.generator import MeshGenerator
    from implicit3d.viz.figures import completion_figure, completion_grid_figure

    assert meta is not None
    contract = model_contract(meta)
    n_inputs = contract.n_inputs
    generator = MeshGenerator(kind=contract.task, resolution=settings.extraction_resolution, initial_resolution=32)
    categories = _catalogue_categories()
    others = [c for c in categories if c != "bottle"]
    order = ["bottle"] + others
    objects = [(order[i % len(order)], seed + 1000 + i) for i in range(settings.n_completions)]
    rng = np.random.default_rng([seed, 6])
    rows, grid, metrics = [], [], []
    first_fig = None
    for i, (category, shape_seed) in enumerate(objects):  # a handful of objects, each a full pipeline
        t = time.perf_counter()
        mesh = _catalogue_shape(category, shape_seed)
        v = render_view(mesh, rng)
        done = complete_rendered_view(v, model, meta, generator, rng)
        if done is None:
            log(f"  {category} #{shape_seed}: the camera saw nothing, skipped")
            continue
        cloud, _, pred = done
        m = evaluate_mesh(pred, v["mesh_n"], n_points=settings.n_eval_points, rng=rng)
        label = f"{category} #{shape_seed}"
        paper = to_paper_units(m, bbox_edge=0.9)  # longest edge 0.9 here; the papers' unit is a tenth of it
        row = {"object": label, "input_points": len(cloud), "iou": m["iou"], "chamfer_l1": m["chamfer_l1"],
               "chamfer_l1_paper": paper["chamfer_l1"], "fscore@1%": m[fscore_key(0.01)],
               "empty": bool(m["empty_prediction"]), "seconds": time.perf_counter() - t}
        metrics.append(row)
        rows.append([label, len(cloud), m["iou"], m["chamfer_l1"], paper["chamfer_l1"], m[fscore_key(0.01)],
                     f"{row['seconds']:.1f}"])
        if len(pred.faces):  # an empty prediction stays in the table (IoU 0) but has nothing to draw
            grid.append((label, cloud, pred))
        if first_fig is None:
            first_fig = completion_figure(cloud, pred, ground_truth=v["mesh_n"],
                                          title=f"{label}: partial view and completion (normalized units)")
        log(f"  [{i + 1}/{len(objects)}] {label}: IoU {m['iou']:.3f}, Chamfer-L1 {m['chamfer_l1']:.4f} "
            f"({row['seconds']:.1f} s)")
    result.model = str(model_path)
    result.metrics = metrics
    if metrics:
        mean = ["mean", "", float(np.mean([r["iou"] for r in metrics])),
                float(np.mean([r["chamfer_l1"] for r in metrics])),
                float(np.mean([r["chamfer_l1_paper"] for r in metrics])),
                float(np.mean([r["fscore@1%"] for r in metrics])), ""]
        rows.append(mean)
    name = html.escape((meta.get("model_config") or {}).get("name", "?"))
    if contract.normalize == "visible":
        deep = (", taken as deep behind its front as its smaller side across the line of sight"
                if contract.visible_depth == "footprint" else "")
        frame_text = (f"Each view is framed by its own bounding box (longest edge 0.7{deep}), as for a real scan "
                      "whose full extent is unknown, and the mesh is mapped back.")
    else:
        frame_text = ("Inputs are normalized like the training data (the object's bounding box centred, longest "
                      "edge 0.9).")
    text = _p(
        f"Model <code>{name}</code> from <code>{html.escape(str(model_path))}</code> completes one noisy partial "
        f"view per object ({n_inputs} input points, resampled from the view). {frame_text} The network's occupancy "
        f"field is meshed with MISE at {settings.extraction_resolution}³ (<code>implicit3d.extraction</code>), and "
        "the mesh is compared with the true shape (<code>implicit3d.evaluation.metrics</code>): IoU over "
        f"{settings.n_eval_points} volume points, Chamfer-L1 and F-score at 1% from {settings.n_eval_points} "
        "surface samples each. Chamfer-L1 is in normalized shape units; the ONet/ConvONet papers quote it in tenths "
        "of the object's longest edge, i.e. ×10/0.9 (column <i>×10, paper units</i>)."
    ) + ("" if metrics else _p("The camera saw none of the objects: no completions to show."))
    header = ["object", "input points", "IoU", "Chamfer-L1", "Chamfer-L1 ×10 (paper units)", "F-score@1%", "seconds"]
    figures = [f for f in (first_fig, completion_grid_figure(grid) if grid else None) if f is not None]
    return Section(SECTION_TITLES[5], text, figures=figures, tables=[(header, rows)] if metrics else [])
