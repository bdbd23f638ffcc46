"""`implicit3d evaluate` and `implicit3d generate` on a tiny prepared dataset with a tiny trained checkpoint."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import trimesh

from completion_fixtures import primitive_meshes
from implicit3d.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """6 meshes in 2 categories (3 each -> 1 train, 1 val, 1 test per category), small samples, one view."""
    from implicit3d.data.prepare import PrepareConfig, prepare

    src = tmp_path_factory.mktemp("meshes")
    primitive_meshes(src)
    cfg = PrepareConfig(n_uniform=3000, n_near=600, n_surface=3000, n_views=1, image_size=(80, 60),
                        focal=(70.0, 70.0), noise="none")
    root = tmp_path_factory.mktemp("ds") / "data"
    result = prepare(str(src), root, config=cfg, seed=0, progress=False)
    assert len(result.built) == 6 and not result.broken
    return root


def _read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_evaluate_tables(run_dir, dataset, tmp_path, capsys) -> None:
    out = tmp_path / "eval"
    rc = main(["evaluate", "--checkpoint", str(run_dir), "--data", str(dataset), "--split", "test", "-o", str(out),
               "--resolution", "32", "--n-points", "3000", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "2 shapes" in printed and "convex_hull: IoU" in printed
    test_keys = (dataset / "test.lst").read_text().split()
    assert sorted(k.split("/")[0] for k in test_keys) == ["boxy", "round"]
    rows = _read_csv(out / "metrics.csv")
    assert len(rows) == 2 * 3
    md = (out / "summary.md").read_text()
    assert "alpha_shape: the boundary" in md and "IoU is near 0 by construction" in md  # read its IoU for what it is
    assert {(r["key"], r["method"]) for r in rows} == {(k, m) for k in test_keys
                                                        for m in ("model", "convex_hull", "alpha_shape")}
    for col in ("iou", "chamfer_l1", "chamfer_l1_x10", "accuracy", "completeness", "chamfer_l2",
                "normal_consistency", "fscore@1%", "fscore@0.5%", "fscore@2%", "precision@1%", "recall@1%"):
        values = [float(r[col]) for r in rows]
        assert all(math.isfinite(v) for v in values), col
    for r in rows:
        assert 0.0 <= float(r["iou"]) <= 1.0 and 0.0 <= float(r["fscore@1%"]) <= 1.0
        # papers' unit: a tenth of the longest bounding-box edge, which prepare scales to 1 - padding (0.9)
        assert float(r["chamfer_l1_x10"]) == pytest.approx(10 / 0.9 * float(r["chamfer_l1"]), rel=1e-4)
        assert float(r["chamfer_l1"]) == pytest.approx((float(r["accuracy"]) + float(r["completeness"])) / 2,
                                                        rel=1e-4)
        assert int(r["n_inputs"]) > 0
    hull = [r for r in rows if r["method"] == "convex_hull"]
    assert all(float(r["iou"]) > 0.05 for r in hull)  # the hull of a depth view of a convex solid lies inside it

    md = (out / "summary.md").read_text()
    table = [ln for ln in md.splitlines() if ln.startswith("| ") and not ln.startswith("| ---")]
    header, body = table[0], table[1:]
    assert "IoU" in header and "Chamfer-L1 ×10" in header and "F-score@1%" in header and "normal consistency" in header
    assert [tuple(c.strip() for c in ln.split("|")[1:3]) for ln in body] == [
        (cat, m) for cat in ("boxy", "round", "all") for m in ("model", "convex_hull", "alpha_shape")
    ]
    assert "normalized shape units" in md and "×10" in md
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["input"] == "partial" and summary["settings"]["n_inputs"] == 512
    all_model = next(e for e in summary["summary"] if e["category"] == "all" and e["method"] == "model")
    assert all_model["shapes"] == 2
    assert all_model["iou"] == pytest.approx(np.mean([float(r["iou"]) for r in rows if r["method"] == "model"]))


def test_evaluate_surface_inputs_without_baselines(run_dir, dataset, tmp_path, capsys) -> None:
    out = tmp_path / "eval_surface"
    rc = main(["evaluate", "--checkpoint", str(run_dir), "--data", str(dataset), "--input", "surface",
               "--baselines", "none", "--limit", "1", "--n-inputs", "300", "-o", str(out), "--resolution", "16",
               "--n-points", "2000", "--thresholds", "0.01,0.05", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    rows = _read_csv(out / "metrics.csv")
    assert len(rows) == 1 and rows[0]["method"] == "model" and rows[0]["n_inputs"] == "300"
    assert "fscore@5%" in rows[0] and "fscore@2%" not in rows[0]


def test_evaluate_split_from_python_names_the_run_itself(run_dir, dataset, tmp_path) -> None:
    """``evaluate_split`` without ``info`` (its default) writes the summary, headed by the checkpoint and data."""
    from implicit3d.evaluation.dataset_inference import DatasetRun, evaluate_split

    run = DatasetRun.open(str(run_dir), dataset, "test", limit=1, resolution=16, device="cpu", progress=False,
                          input="surface", n_inputs=300)
    evaluate_split(run, tmp_path / "py", baselines=[], n_points=2000)
    head = (tmp_path / "py" / "summary.md").read_text().splitlines()[0]
    assert head == f"# Evaluation: {run_dir} on {dataset} (test split)"
    assert json.loads((tmp_path / "py" / "summary.json").read_text())["settings"]["data"] == str(dataset)


def test_generate_meshes(run_dir, dataset, tmp_path, capsys) -> None:
    out = tmp_path / "gen"
    rc = main(["generate", "--checkpoint", str(run_dir), "--data", str(dataset), "-o", str(out), "--resolution",
               "16", "--save-inputs", "--world", "--html", str(tmp_path / "gen.html"), "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    rows = _read_csv(out / "generate.csv")
    assert len(rows) == 2
    for r in rows:
        mesh = trimesh.load(out / r["file"], process=False)
        assert len(mesh.faces) == int(r["faces"]) > 0
        cloud = trimesh.load(out / r["category"] / f"{r['name']}.input.ply")
        assert len(cloud.vertices) == int(r["n_inputs"])
        # --world: metres, around the original mesh (centred at the origin, < 0.3 m)
        assert np.abs(mesh.vertices).max() < 0.5 and np.abs(cloud.vertices).max() < 0.25
    assert "completion" in (tmp_path / "gen.html").read_text().lower()


def test_generate_world_is_the_mesh_files_frame_for_y_up_sources(run_dir, tmp_path, capsys) -> None:
    """A y-up source (ShapeNet, --up y) is turned z-up before normalizing: --world turns the meshes and inputs back
    into the files' own frame, where the boxes are tall along y."""
    from implicit3d.data.prepare import PrepareConfig, prepare

    src = tmp_path / "meshes" / "tall"
    src.mkdir(parents=True)
    for i, size in enumerate(((0.08, 0.3, 0.1), (0.1, 0.35, 0.12), (0.06, 0.25, 0.09))):
        box = trimesh.creation.box(extents=size)
        box.apply_translation([0.5 * i, 1.0, -0.2])
        box.export(src / f"box{i}.obj")
    cfg = PrepareConfig(n_uniform=2000, n_near=400, n_surface=2000, n_views=1, image_size=(80, 60),
                        focal=(70.0, 70.0), noise="none")
    data = tmp_path / "data"
    prepare(str(tmp_path / "meshes"), data, config=cfg, seed=0, progress=False, up="y")
    assert json.loads((data / "manifest.json").read_text())["up"] == "y"
    out = tmp_path / "gen"
    rc = main(["generate", "--checkpoint", str(run_dir), "--data", str(data), "-o", str(out), "--resolution", "16",
               "--save-inputs", "--world", "--input", "surface", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    (row,) = _read_csv(out / "generate.csv")
    original = trimesh.load(src / f"{row['name']}.obj", process=False)
    cloud = np.asarray(trimesh.load(out / row["category"] / f"{row['name']}.input.ply").vertices)
    assert np.argmax(np.ptp(cloud, axis=0)) == 1  # tall along y, as in the file
    np.testing.assert_allclose(cloud.min(axis=0), original.bounds[0], atol=0.02)
    np.testing.assert_allclose(cloud.max(axis=0), original.bounds[1], atol=0.02)
    if row["file"]:
        mesh = trimesh.load(out / row["file"], process=False)
        assert np.abs(mesh.bounds.mean(axis=0) - original.bounds.mean(axis=0)).max() < 0.2


def test_datasets_from_before_shape_json_said_up_are_guessed_by_their_files() -> None:
    from implicit3d.evaluation.dataset_inference import _guess_up

    assert _guess_up("/data/ShapeNetCore.v2/02876657/abc/models/model_normalized.obj") == "y"
    assert _guess_up("/data/ShapeNetCore.v1/02876657/abc/model.obj") == "y"
    assert _guess_up("/data/mine/mugs/mug1/model.obj") == "z"
    assert _guess_up("catalogue:bottle") == "z" and _guess_up(None) == "z"


def test_dataset_command_errors(run_dir, dataset, tmp_path, capsys, monkeypatch) -> None:
    base = ["--checkpoint", str(run_dir), "-o", str(tmp_path / "o"), "--no-progress"]
    for cmd in ("evaluate", "generate"):
        assert main([cmd, "--data", str(tmp_path / "nodata"), *base]) == 2
        err = capsys.readouterr().err
        assert "not an implicit3d dataset" in err and err.count("\n") == 1
    assert main(["evaluate", "--data", str(dataset), "--baselines", "poisson", *base]) == 2
    assert "unknown poisson" in capsys.readouterr().err
    assert main(["evaluate", "--data", str(dataset), "--resolution", "1", *base]) == 2
    from implicit3d.training import weights

    with monkeypatch.context() as mp:  # a build without weights
        mp.setattr(weights, "bundled_weights", lambda: None)
        assert main(["generate", "--data", str(dataset), "-o", str(tmp_path / "o")]) == 2
    assert "no bundled model" in capsys.readouterr().err
    for cmd in ("generate", "evaluate"):
        assert main([cmd, "--data", str(dataset), "--view", "9", *base]) == 2  # one view per shape here
        assert "--view 9, but the shape has only 1 views" in capsys.readouterr().err
        assert not (tmp_path / "o").exists()  # no empty output folder left behind
