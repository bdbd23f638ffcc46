"""``implicit3d evaluate``: metrics of a trained model (and classical baselines) on a prepared dataset split.

Per shape and method: IoU over the dataset's uniform points (``points.npz``, 100 000 by default; the model's
occupancy comes from the network at those points, a baseline's from inside tests on its mesh), Chamfer-L1/L2
(accuracy, completeness, mean), normal consistency and F-scores against ``pointcloud.npz`` surface samples with
normals (:mod:`implicit3d.evaluation.metrics`). Baselines (:mod:`implicit3d.evaluation.baselines`) reconstruct a
mesh from the same input cloud the model sees.

Units: normalized shape units (the dataset's cube ``[-0.5, 0.5]^3``, longest bounding-box edge ``1 - padding``);
the summary also prints Chamfer-L1 in the ONet/ConvONet papers' units (x10).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from implicit3d.commands.generate import (
    add_dataset_arguments,
    check_common,
    csv_text,
    generate_in_dataset_frame,
    iter_inputs,
    make_generator,
    progress,
    resolve_input_settings,
    split_keys,
)
from implicit3d.errors import UserError

EPILOG = """\
examples:
  implicit3d evaluate --checkpoint runs/grid --data data/bottles --split test -o runs/grid/eval
  implicit3d evaluate --checkpoint runs/grid --data data/bottles --input surface --baselines none --limit 50

Output: OUT/metrics.csv (one row per shape and method), OUT/summary.md (mean per category and method, Markdown),
OUT/summary.json. Distances are in normalized shape units (the cube [-0.5, 0.5]^3); the ONet/ConvONet papers
quote Chamfer-L1 x10 (units of 1/10 of the bounding box), printed in its own column. F-score thresholds are
fractions of the unit cube's edge (1% = 0.01).
"""

METHOD_MODEL = "model"
TABLE_METRICS = ("iou", "chamfer_l1", "chamfer_l1_x10", "accuracy", "completeness", "chamfer_l2",
                 "normal_consistency")
TABLE_TITLES = {
    "iou": "IoU ↑",
    "chamfer_l1": "Chamfer-L1 ↓",
    "chamfer_l1_x10": "Chamfer-L1 ×10 (papers) ↓",
    "accuracy": "accuracy ↓",
    "completeness": "completeness ↓",
    "chamfer_l2": "Chamfer-L2 ↓",
    "normal_consistency": "normal consistency ↑",
}


def _thresholds(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from exc
    if not values or any(not (math.isfinite(v) and v > 0) for v in values):
        raise argparse.ArgumentTypeError(f"thresholds must be positive numbers, got {text!r}")
    return values


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "evaluate",
        help="IoU, Chamfer, normal consistency and F-score of a model and classical baselines on a dataset split",
        description="Evaluate a trained model on a prepared dataset split: per-shape metrics (CSV) and a summary "
        "table per category with classical baselines (convex hull, alpha shape) in the same table.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_dataset_arguments(p)
    p.add_argument("-o", "--output", default=None, metavar="OUT_DIR", help="output folder (default eval-<split>)")
    p.add_argument(
        "--baselines", default="convex_hull,alpha_shape",
        help="comma-separated classical baselines on the same inputs, or 'none' (default convex_hull,alpha_shape)",
    )
    p.add_argument("--n-points", type=int, default=100_000, help="surface samples per predicted mesh (100000)")
    p.add_argument(
        "--thresholds", type=_thresholds, default=None,
        help="F-score distance thresholds, normalized units (default: evaluation.metrics.FSCORE_THRESHOLDS, "
        "0.005,0.01,0.02)",
    )
    return p


def _baselines(text: str) -> list[str]:
    from implicit3d.evaluation.baselines import BASELINES

    if text.strip().lower() in ("", "none"):
        return []
    names = [b.strip() for b in text.split(",") if b.strip()]
    unknown = [b for b in names if b not in BASELINES]
    if unknown:
        raise UserError(f"--baselines: unknown {', '.join(unknown)}; choose from {', '.join(BASELINES)} or none")
    return names


def load_ground_truth(root: str | Path, key: str) -> Any:
    """:class:`~implicit3d.evaluation.metrics.GroundTruth` of a dataset shape: ``pointcloud.npz`` surface samples
    with normals and ``points.npz`` uniform points with occupancy (normalized frame)."""
    from implicit3d.data import formats
    from implicit3d.evaluation.metrics import GroundTruth

    d = Path(root) / key
    try:
        surf = formats.read_pointcloud_npz(d / formats.POINTCLOUD)
        vol = formats.read_points_npz(d / formats.POINTS)
    except FileNotFoundError as exc:
        raise UserError(f"{d}: incomplete shape folder ({exc.filename or exc} missing)") from None
    except (KeyError, ValueError) as exc:
        raise UserError(f"{d}: unreadable dataset files ({exc})") from None
    normals = surf.get("normals")
    return GroundTruth(
        surface_points=surf["points"].astype(np.float64),
        surface_normals=None if normals is None else normals.astype(np.float64),
        volume_points=vol["points"].astype(np.float64),
        volume_occ=np.asarray(vol["occupancies"], dtype=bool),
    )


def model_occupancy(gen: Any, field: Any, points: np.ndarray) -> np.ndarray:
    """``(M,) bool`` occupancy predicted by the network's ``field`` at ``points`` (cut where the extractor cuts)."""
    values = field(points)
    if gen.kind == "occupancy":
        t = gen.threshold
        return values > math.log(t) - math.log1p(-t)
    return values < gen.level


def _row(
    shape: Any, method: str, metrics: dict[str, float], mesh: Any, seconds: float, note: str, bbox_edge: float
) -> dict[str, Any]:
    from implicit3d.evaluation.metrics import to_paper_units

    row: dict[str, Any] = {"key": shape.key, "category": shape.category, "name": shape.name, "method": method}
    row.update(metrics)
    row["chamfer_l1_x10"] = to_paper_units({"chamfer_l1": metrics["chamfer_l1"]}, bbox_edge)["chamfer_l1"]
    row.update({"n_inputs": len(shape.inputs), "vertices": len(mesh.vertices), "faces": len(mesh.faces),
                "seconds": seconds, "note": note})
    return row


def summarize(rows: list[dict[str, Any]], metric_keys: list[str]) -> list[dict[str, Any]]:
    """Mean of ``metric_keys`` per (category, method), then per method over all shapes (category ``"all"``)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    methods: list[str] = []
    for r in rows:
        groups.setdefault((r["category"], r["method"]), []).append(r)
        groups.setdefault(("all", r["method"]), []).append(r)
        if r["method"] not in methods:
            methods.append(r["method"])
    categories = sorted({r["category"] for r in rows})
    out = []
    for cat in [*categories, "all"]:
        for m in methods:
            members = groups.get((cat, m), [])
            if not members:
                continue
            entry: dict[str, Any] = {"category": cat, "method": m, "shapes": len(members)}
            for k in metric_keys:
                vals = [float(r[k]) for r in members if k in r and r[k] != ""]
                entry[k] = float(np.mean(vals)) if vals else float("nan")
            entry["empty"] = int(sum(float(r.get("empty_prediction", 0.0)) for r in members))
            out.append(entry)
    return out


def markdown_summary(summary: list[dict[str, Any]], thresholds: tuple[float, ...], info: dict[str, Any]) -> str:
    from implicit3d.evaluation.metrics import fscore_key

    fkeys = [fscore_key(t) for t in thresholds]
    cols = [*TABLE_METRICS, *fkeys]
    titles = [TABLE_TITLES.get(c, c.replace("fscore", "F-score") + " ↑") for c in cols]
    lines = [
        f"# Evaluation: {info['checkpoint']} on {info['data']} ({info['split']} split)",
        "",
        f"Inputs: {info['input']} ({info['n_inputs']} points, noise {info['noise']:g}); extraction: MISE at "
        f"{info['resolution']}^3, threshold {info['threshold']:g}. IoU over the dataset's uniform points "
        "(network occupancy for the model, inside tests for baselines).",
        "",
        "Units: distances in normalized shape units (the cube [-0.5, 0.5]^3; longest bounding-box edge = 1 - "
        "padding); 'Chamfer-L1 ×10' is the ONet/ConvONet papers' unit (1/10 of the object's longest bounding-box "
        "edge, i.e. Chamfer-L1 × 10 / (1 - padding)). F-score "
        "thresholds are fractions of the cube's edge (1% = 0.01). 'empty' counts shapes with no predicted surface "
        "(scored with the reference penalties).",
        "",
        "| category | method | shapes | " + " | ".join(titles) + " | empty |",
        "| --- | --- | ---: | " + " | ".join("---:" for _ in titles) + " | ---: |",
    ]
    for e in summary:
        cells = [f"{e[c]:.4f}" if np.isfinite(e[c]) else "–" for c in cols]
        lines.append(f"| {e['category']} | {e['method']} | {e['shapes']} | " + " | ".join(cells) + f" | {e['empty']} |")
    return "\n".join(lines) + "\n"


def _finite_or_none(obj: Any) -> Any:
    """``obj`` with NaN / inf numbers replaced by ``None`` (JSON ``null``), recursively."""
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def run(args: argparse.Namespace) -> int:
    import trimesh

    from implicit3d.commands.complete import resolve_device
    from implicit3d.completion import load_model
    from implicit3d.data.prepare import load_manifest
    from implicit3d.evaluation.baselines import reconstruct
    from implicit3d.evaluation.metrics import (
        DISTANCE_KEYS,
        FSCORE_THRESHOLDS,
        SQUARED_DISTANCE_KEYS,
        evaluate_mesh,
        fscore_key,
    )
    from implicit3d.fileio import atomic_write_text, ensure_folder

    check_common(args)
    if args.n_points < 1:
        raise UserError(f"--n-points must be >= 1, got {args.n_points}")
    baselines = _baselines(args.baselines)
    keys = split_keys(args.data, args.split, args.limit)
    device = resolve_device(args.device)
    model, meta = load_model(args.checkpoint, device)
    settings = resolve_input_settings(args, meta)
    gen = make_generator(model, meta, args, device)
    out = ensure_folder(Path(args.output) if args.output else Path(f"eval-{args.split}"))
    thresholds = tuple(args.thresholds or FSCORE_THRESHOLDS)
    # the papers' unit is 1/10 of the object's longest bounding-box edge, which prepare scales to 1 - padding
    bbox_edge = 1.0 - float(load_manifest(args.data).get("settings", {}).get("padding", 0.1))

    rows: list[dict[str, Any]] = []
    t_all = time.perf_counter()
    for shape in progress(iter_inputs(args, keys, settings), len(keys), "evaluate", args.no_progress):
        gt = load_ground_truth(args.data, shape.key)
        rng = np.random.default_rng([args.seed, len(rows)])
        t0 = time.perf_counter()
        mesh, field = generate_in_dataset_frame(gen, model, meta, shape.inputs, shape.camera_rotation)
        occ = model_occupancy(gen, field, gt.volume_points)
        seconds = time.perf_counter() - t0
        metrics = evaluate_mesh(mesh, gt, n_points=args.n_points, rng=rng, thresholds=thresholds, pred_occ=occ)
        rows.append(_row(shape, METHOD_MODEL, metrics, mesh, seconds, "", bbox_edge))
        for name in baselines:
            t0 = time.perf_counter()
            note = ""
            try:
                base = reconstruct(shape.inputs.astype(np.float64), name)
            except ValueError as exc:  # degenerate input: scored as an empty prediction
                base, note = trimesh.Trimesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)), f"failed: {exc}"
            seconds = time.perf_counter() - t0
            metrics = evaluate_mesh(base, gt, n_points=args.n_points, rng=rng, thresholds=thresholds)
            rows.append(_row(shape, name, metrics, base, seconds, note, bbox_edge))

    fcols = [fscore_key(t, n) for t in thresholds for n in ("fscore", "precision", "recall")]
    metric_keys = ["iou", *DISTANCE_KEYS, "chamfer_l1_x10", *SQUARED_DISTANCE_KEYS, "normal_consistency",
                   "normal_accuracy", "normal_completeness", *fcols, "empty_prediction"]
    columns = ["key", "category", "name", "method", *metric_keys, "n_inputs", "vertices", "faces", "seconds", "note"]
    info = {
        "checkpoint": str(args.checkpoint or "bundled model"), "data": str(args.data), "split": args.split,
        **settings, "resolution": args.resolution, "threshold": args.threshold, "n_points": args.n_points,
        "thresholds": list(thresholds), "baselines": baselines, "seed": args.seed, "view": args.view,
        "step": meta.get("step"), "units": "normalized shape units (cube [-0.5, 0.5]^3); chamfer_l1_x10: papers' units",
    }
    summary = summarize(rows, [*metric_keys, "seconds"])
    atomic_write_text(out / "metrics.csv", csv_text(rows, columns))
    atomic_write_text(out / "summary.md", markdown_summary(summary, thresholds, info))
    atomic_write_text(
        out / "summary.json",
        json.dumps(_finite_or_none({"settings": info, "summary": summary}), indent=1, default=float, allow_nan=False),
    )
    best = {e["method"]: e for e in summary if e["category"] == "all"}
    f1 = fscore_key(0.01) if 0.01 in thresholds else fscore_key(thresholds[0])
    parts = [f"{m}: IoU {e['iou']:.3f}, Chamfer-L1 {e['chamfer_l1']:.4f} (x10: {e['chamfer_l1_x10']:.3f}), "
             f"{f1} {e[f1]:.3f}" for m, e in best.items()]
    print(f"{out}: {len(keys)} shapes in {time.perf_counter() - t_all:.1f} s")
    for p in parts:
        print("  " + p)
    return 0
