"""`implicit3d demo`: runs end to end offline, every section is on the page with its figure data."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from implicit3d.cli import main
from implicit3d.errors import UserError
from implicit3d.viz import demo
from plotly_html import figures_in_html


@pytest.fixture
def no_bundled_model(monkeypatch):
    """Pretend this build ships no weights (the page must then say so instead of showing completions)."""
    from implicit3d.training import weights

    monkeypatch.setattr(weights, "bundled_weights", lambda: None)


@pytest.fixture(scope="module")
def quick_page(tmp_path_factory):
    from implicit3d.training import weights

    out = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(weights, "bundled_weights", lambda: None)
        result = demo.build_demo(out, seed=0, quick=True, log=lambda s: None)
    return result, result.path.read_text(encoding="utf-8")


def test_quick_demo_writes_every_section(quick_page):
    result, text = quick_page
    assert result.path.name == "index.html" and text.startswith("<!DOCTYPE html>")
    for title in demo.SECTION_TITLES:
        assert f"<h2>{title}</h2>" in text
    assert text.count("PlotlyConfig") == 1  # plotly.js embedded once: the page works offline
    assert not re.search(r"<script[^>]*\bsrc=", text)  # no external scripts
    # without a model the page says so instead of showing completions
    assert "no bundled model yet" in text and "--checkpoint" in text
    assert result.model is None and result.metrics == []


def test_quick_demo_figures_hold_the_data(quick_page):
    result, text = quick_page
    figs = figures_in_html(text)
    kinds = [[t["type"] for t in f] for f in figs]
    assert kinds[0] == ["mesh3d", "scatter3d", "isosurface"]  # sphere: explicit / implicit
    assert kinds[1][0] == "mesh3d" and set(kinds[1][1:]) <= {"scatter3d"}  # bottle + classified points
    n_points = sum(len(t["x"]) for t in figs[1][1:])
    assert n_points == demo.DemoSettings.for_mode(True).n_inside_points
    inside = next(t for t in figs[1] if t["name"].startswith("inside"))
    n_in = int(inside["name"].split("(")[1].rstrip(")"))
    assert len(inside["x"]) == n_in > 0
    assert kinds[2] == ["contour", "contour"]  # SDF slice + zero level
    z = np.asarray(figs[2][0]["z"], dtype=float)
    assert z.min() < 0 < z.max()  # the plane cuts through the object
    assert kinds[3] == ["heatmap", "scatter3d", "mesh3d", "mesh3d"]  # four representations
    assert kinds[4][:2] == ["heatmap", "scatter3d"]  # noisy partial view
    assert len(figs) == 5  # no completion figures without a model
    iso = figs[0][2]
    v = np.asarray(iso["value"])
    r2 = np.asarray(iso["x"]) ** 2 + np.asarray(iso["y"]) ** 2 + np.asarray(iso["z"]) ** 2
    np.testing.assert_allclose(v, r2 - 0.16, atol=1e-9)


def test_cli_prints_progress_and_summary(tmp_path, capsys, no_bundled_model):
    assert main(["demo", "-o", str(tmp_path / "d"), "--quick", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    for i in range(1, 7):
        assert f"[{i}/6]" in out
    assert str(tmp_path / "d" / "index.html") in out and "summary:" in out and "no model available" in out
    assert (tmp_path / "d" / "index.html").is_file()
    assert not [p for p in (tmp_path / "d").iterdir() if p.name.endswith(".tmp")]


def test_a_first_run_says_it_compiles_the_kernels(tmp_path, monkeypatch):
    """The first run of an install spends about a minute compiling numba kernels: the demo says so up front (it
    looked hung), and only while numba's cache (here ``NUMBA_CACHE_DIR``) lacks the inside/outside kernels."""
    from implicit3d.commands import options

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "cache"))
    assert not options.kernels_compiled() and "compiling" in options.first_run_note()
    index = tmp_path / "cache" / "implicit3d_geometry" / "_inside_kernels.parity_kernel-40.py311.nbi"
    index.parent.mkdir(parents=True)
    index.write_bytes(b"")
    assert options.kernels_compiled() and options.first_run_note() is None
    monkeypatch.setattr(options, "kernels_compiled", lambda: False)
    lines = []
    monkeypatch.setattr("builtins.print", lambda *a, **k: lines.append(" ".join(map(str, a))))
    from implicit3d.commands import demo

    monkeypatch.setattr("implicit3d.viz.demo.build_demo", lambda *a, **k: (_ for _ in ()).throw(SystemExit(7)))
    with pytest.raises(SystemExit):
        demo.run(demo_args(tmp_path))
    assert lines and lines[0].startswith("note: first run of this install: compiling")


def demo_args(tmp_path):
    import argparse

    return argparse.Namespace(output=str(tmp_path / "d"), seed=0, checkpoint=None, train=False, train_minutes=3.0,
                              quick=True)


def test_missing_checkpoint_is_a_user_error(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path), "--quick", "--checkpoint", str(tmp_path / "nope")]) == 2
    assert "not found" in capsys.readouterr().err
    assert not (tmp_path / "index.html").exists()


def _tiny_model():
    from implicit3d.models import create_model

    torch.manual_seed(0)
    return create_model("occnet_small")


def test_completion_section_with_a_checkpoint(tmp_path):
    from implicit3d.training.checkpoint import save_checkpoint

    model = _tiny_model()  # untrained: the numbers are poor, but they are real measurements of this model
    ckpt = save_checkpoint(tmp_path / "ckpt", model, {"model_config": model.config,
                                                      "data_config": {"n_inputs": 500}})
    small = demo.DemoSettings(sphere_resolution=8, n_inside_points=300, slice_resolution=20, voxel_resolution=8,
                              n_cloud_points=200, n_completions=2, extraction_resolution=32, n_eval_points=5000)
    result = demo.build_demo(tmp_path / "out", seed=0, checkpoint=ckpt, log=lambda s: None, settings=small)
    text = result.path.read_text(encoding="utf-8")
    assert result.model == str(ckpt)
    other = next(c for c in demo._catalogue_categories() if c != "bottle")
    assert [r["object"].split()[0] for r in result.metrics] == ["bottle", other]  # bottles first
    for row in result.metrics:
        assert 0.0 <= row["iou"] <= 1.0 and row["chamfer_l1"] > 0 and 0.0 <= row["fscore@1%"] <= 1.0
    assert "no bundled model yet" not in text
    assert "Chamfer-L1 ×10 (paper units)" in text and "500 input points" in text
    assert f"{result.metrics[0]['iou']:.4g}" in text  # the measured value is in the table
    figs = figures_in_html(text)
    assert len(figs) >= 5 and figs[5][0]["type"] == "scatter3d"


def test_model_files_load_as_complete_loads_them(tmp_path):
    from implicit3d.training.checkpoint import CheckpointError

    model = _tiny_model()
    path = tmp_path / "default.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    (tmp_path / "default.json").write_text(json.dumps({"model_config": model.config, "data_config": {"n_inputs": 300}}))
    loaded, meta = demo.load_model(path)
    assert meta["data_config"]["n_inputs"] == 300
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)
    save_file({"w": torch.zeros(2)}, str(tmp_path / "bare.safetensors"))
    with pytest.raises(CheckpointError, match="bare.json"):
        demo.load_model(tmp_path / "bare.safetensors")


def test_without_bundled_weights_loading_the_default_is_a_user_error(no_bundled_model):
    with pytest.raises(UserError, match="no bundled model"):
        demo.load_model(None)


def test_default_demo_completes_with_the_bundled_model(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path / "d"), "--quick"]) == 0
    out = capsys.readouterr().out
    ious = [float(x) for x in re.findall(r"completion \S+ #\d+: IoU ([0-9.]+)", out)]
    assert len(ious) == demo.DemoSettings.for_mode(True).n_completions
    assert np.mean(ious) > 0.5  # catalogue objects the bundled model did not train on, at 64^3
    text = (tmp_path / "d" / "index.html").read_text(encoding="utf-8")
    assert "the bundled model" in text and "framed by its own bounding box" in text
    assert len(figures_in_html(text)) >= 6


def test_train_flag_argument_errors(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path), "--train", "--checkpoint", str(tmp_path / "x")]) == 2
    assert "cannot be combined with --checkpoint" in capsys.readouterr().err
    assert main(["demo", "-o", str(tmp_path), "--train", "--train-minutes", "0"]) == 2
    assert "--train-minutes must be > 0" in capsys.readouterr().err
    assert not (tmp_path / "train_data").exists()


@pytest.mark.slow
def test_train_flag_trains_a_fresh_model_and_completes_with_it(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path), "--quick", "--train", "--train-minutes", "0.3"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "train_run" / "checkpoints" / "last" / "checkpoint.json").is_file()
    assert (tmp_path / "train_data" / "manifest.json").is_file()
    assert "[train] training for 0.3 min" in out and "completion bottle" in out
    text = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert str(tmp_path / "train_run") in text


def test_visualize_says_so_too_for_a_figure_that_tests_points(tmp_path, monkeypatch, capsys):
    """`visualize mesh.obj` sat silent for 49 s on a fresh install: a figure that needs the kernels says so first
    (on stderr); a scan alone does not."""
    import trimesh

    from implicit3d.cli import main
    from implicit3d.commands import options

    monkeypatch.setattr(options, "kernels_compiled", lambda: False)
    trimesh.creation.box((0.1, 0.2, 0.3)).export(tmp_path / "box.obj")
    assert main(["visualize", str(tmp_path / "box.obj"), "--points", "200", "-o", str(tmp_path / "a.html")]) == 0
    assert "note: first run of this install: compiling" in capsys.readouterr().err
    np.savetxt(tmp_path / "scan.xyz", np.random.default_rng(0).normal(size=(50, 3)))
    assert main(["visualize", "--input", str(tmp_path / "scan.xyz"), "-o", str(tmp_path / "b.html")]) == 0
    assert "first run" not in capsys.readouterr().err
