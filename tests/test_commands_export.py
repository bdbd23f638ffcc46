"""implicit3d export: a checkpoint becomes a standalone NAME.safetensors + NAME.json that loads the same model."""

from __future__ import annotations

import json

import pytest
import torch

from completion_fixtures import tiny_checkpoint, torch_threads
from implicit3d.cli import main
from implicit3d.completion import load_model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    run = tiny_checkpoint(tmp_path_factory)
    out = tmp_path_factory.mktemp("export") / "sub" / "mine.safetensors"
    assert main(["export", str(run), "-o", str(out), "--note", "test export"]) == 0
    return run, out


def test_export_writes_a_pair_that_loads_the_same_model(exported) -> None:
    run, out = exported
    assert out.is_file() and out.with_suffix(".json").is_file()
    assert not list(out.parent.glob(".*"))  # no temporary files left behind
    a, meta_a = load_model(run)
    b, meta_b = load_model(out)
    assert meta_b["model_config"] == meta_a["model_config"]
    assert meta_b["data_config"]["pose"] == meta_a["data_config"]["pose"] and meta_b["note"] == "test export"
    gen = torch.Generator().manual_seed(0)
    inputs = torch.rand(1, 300, 3, generator=gen) - 0.5
    points = torch.rand(1, 500, 3, generator=gen) - 0.5
    with torch_threads(1), torch.no_grad():
        torch.testing.assert_close(a(inputs, points), b(inputs, points), rtol=0, atol=0)


def test_export_keeps_only_inference_metadata(exported) -> None:
    _, out = exported
    meta = json.loads(out.with_suffix(".json").read_text())
    assert {"model_config", "data_config", "step"} <= set(meta)
    assert "optimizer" not in meta and "files" not in meta and "rng" not in meta


def test_export_metadata_names_the_init_weights_without_local_paths() -> None:
    from implicit3d.training.weights import export_metadata

    meta = {"step": 5, "init": "/home/me/runs/stage1", "data_config": {"root": "/data/sets/all150"}, "rng": [1]}
    out = export_metadata(meta, note="two stages")
    assert out["init"] == "stage1" and out["data_config"]["root"] == "all150"
    assert out["note"] == "two stages" and "rng" not in out
    assert export_metadata({"init": "bundled"})["init"] == "bundled"
    assert export_metadata({"init": "/runs/stage2/checkpoints/best"})["init"] == "stage2/checkpoints/best"


def test_export_errors(tmp_path, capsys, exported) -> None:
    run, _ = exported
    assert main(["export", str(run), "-o", str(tmp_path / "w.pt")]) == 2
    assert "must end in .safetensors" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "missing"), "-o", str(tmp_path / "w.safetensors")]) == 2
    assert "not found" in capsys.readouterr().err
    assert not (tmp_path / "w.safetensors").exists()


def test_export_average_is_the_mean_of_the_weights(tmp_path, capsys, exported) -> None:
    from safetensors.torch import load_file, save_file

    run, out = exported
    a = load_file(str(out))
    shifted = tmp_path / "shifted.safetensors"  # the same model with every float weight + 1
    save_file({k: v + 1.0 if v.is_floating_point() else v for k, v in a.items()}, str(shifted))
    shifted.with_suffix(".json").write_text(out.with_suffix(".json").read_text())
    soup = tmp_path / "soup.safetensors"
    assert main(["export", str(run), "-o", str(soup), "--average", str(shifted)]) == 0
    assert "averaged with" in capsys.readouterr().out
    b = load_file(str(soup))
    assert set(b) == set(a)
    for k in a:
        if a[k].is_floating_point():
            assert torch.allclose(b[k], a[k] + 0.5, atol=1e-6), k
    assert json.loads(soup.with_suffix(".json").read_text())["averaged_with"] == ["shifted.safetensors"]
    with torch_threads(1):
        model, _ = load_model(str(soup))  # the soup loads as any exported pair
    assert sum(p.numel() for p in model.parameters()) > 0


def test_export_average_refuses_another_model(tmp_path, capsys, exported) -> None:
    run, out = exported
    other = tmp_path / "other.safetensors"
    other.write_bytes(out.read_bytes())
    meta = json.loads(out.with_suffix(".json").read_text())
    meta["model_config"]["c_dim"] = meta["model_config"].get("c_dim", 32) + 1
    other.with_suffix(".json").write_text(json.dumps(meta))
    target = tmp_path / "soup.safetensors"
    assert main(["export", str(run), "-o", str(target), "--average", str(other)]) == 2
    err = capsys.readouterr().err
    assert "--average" in err and "Traceback" not in err
    assert not target.exists()
    meta["model_config"]["c_dim"] -= 1  # the same tensors, another setting: loads, but is not the same model
    meta["model_config"]["sample_mode"] = "nearest"
    other.with_suffix(".json").write_text(json.dumps(meta))
    assert main(["export", str(run), "-o", str(target), "--average", str(other)]) == 2
    assert "only weights of the same model average" in capsys.readouterr().err
    assert not target.exists()
    meta["model_config"]["sample_mode"] = json.loads(out.with_suffix(".json").read_text())["model_config"].get(
        "sample_mode", "bilinear")  # the same model, trained on inputs framed otherwise
    contract = meta["input_contract"]
    contract["visible_depth"] = "footprint" if contract.get("visible_depth") != "footprint" else "observed"
    contract["normalize"], contract["pose"] = "visible", "camera"  # footprint needs both
    other.with_suffix(".json").write_text(json.dumps(meta))
    assert main(["export", str(run), "-o", str(target), "--average", str(other)]) == 2
    assert "framed otherwise" in capsys.readouterr().err
    assert not target.exists()


def test_export_average_accepts_a_config_written_before_a_setting_existed(tmp_path, capsys, exported) -> None:
    """A checkpoint's model_config that leaves out a setting at its default (older JSON) is the same model."""
    from implicit3d.training.weights import resolved_config

    run, out = exported
    meta = json.loads(out.with_suffix(".json").read_text())
    cfg = meta["model_config"]
    absent = [k for k in cfg if k != "name" and resolved_config({q: v for q, v in cfg.items() if q != k})
              == resolved_config(cfg)]
    assert absent, cfg  # some setting is at its default
    older = tmp_path / "older.safetensors"
    older.write_bytes(out.read_bytes())
    meta["model_config"] = {q: v for q, v in cfg.items() if q not in absent}
    older.with_suffix(".json").write_text(json.dumps(meta))
    target = tmp_path / "soup.safetensors"
    assert main(["export", str(run), "-o", str(target), "--average", str(older)]) == 0, capsys.readouterr().err
    assert target.is_file()
