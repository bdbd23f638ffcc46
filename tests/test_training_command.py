"""`implicit3d train` end to end on the tiny synthetic model and dataset (model/dataset builders patched)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import yaml

from implicit3d.cli import main
from implicit3d.data.config import DataConfig
from implicit3d.training import run as train_run
from implicit3d.training.synthetic import SphereDataset, TinyPointNetOccupancy


@pytest.fixture
def patched(monkeypatch):
    built = {}

    def build_model(run):
        built["model"] = run.model
        return TinyPointNetOccupancy(hidden=16, latent=8)

    def build_datasets(data, seed):
        built["data"] = data
        return SphereDataset(12, 16, 32, seed=seed), SphereDataset(4, 16, 32, seed=seed + 1)

    monkeypatch.setattr(train_run, "build_model", build_model)
    monkeypatch.setattr(train_run, "build_datasets", build_datasets)
    return built


def _config(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "model": {"name": "occnet_small", "c_dim": 16},
                "data": {"root": "unused", "n_points": 32},
                "train": {"batch_size": 4, "lr": 1e-3, "max_steps": 4, "val_every": 2, "ckpt_every": 2, "log_every": 1},
            }
        )
    )
    return path


def test_train_resume_and_refusal(tmp_path, patched, capsys) -> None:
    cfg, out = _config(tmp_path), tmp_path / "run"
    argv = ["train", str(cfg), "--out", str(out), "--no-progress", "--device", "cpu"]
    assert main(argv + ["--data", "dsdir", "--set", "train.lr=2e-3"]) == 0
    assert patched["data"].root == "dsdir"
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["train"]["lr"] == 2e-3 and resolved["model"]["name"] == "occnet_small"
    assert resolved["model"]["c_dim"] == 16 and resolved["data"]["root"] == "dsdir"  # the whole effective config
    assert (out / "checkpoints" / "last" / "checkpoint.json").is_file()
    assert "done: step 4" in capsys.readouterr().out
    # a second run into the same folder must be explicit
    assert main(argv) == 2
    assert "--resume" in capsys.readouterr().err
    # resume + more steps continues from step 4
    assert main(argv + ["--resume", "--max-steps", "6"]) == 0
    assert "resuming from" in capsys.readouterr().out
    steps = [int(r["step"]) for r in csv.DictReader(open(out / "metrics.csv")) if r["phase"] == "train"]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_bad_arguments_are_user_errors(tmp_path, patched, capsys) -> None:
    cfg = _config(tmp_path)
    assert main(["train", str(cfg), "--out", str(tmp_path / "o"), "--set", "train.batch_size=0"]) == 2
    assert "batch_size" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2
    assert main(["train", str(cfg), "--set", "nonsense"]) == 2


def test_build_datasets_errors(tmp_path) -> None:
    from implicit3d.errors import UserError
    from implicit3d.training.config import RunConfig

    with pytest.raises(UserError, match="data.root"):
        train_run.build_datasets(DataConfig(), 0)
    with pytest.raises(UserError, match="not an implicit3d dataset"):
        train_run.build_datasets(DataConfig(root=str(tmp_path), n_points=8), 0)
    with pytest.raises(UserError, match="unknown data setting.*colour"):
        RunConfig.from_dict({"model": {"name": "occnet"}, "data": {"root": "x", "colour": 1}})
    with pytest.raises(UserError, match="needs a name"):
        RunConfig.from_dict({"model": {}})
    with pytest.raises(UserError, match="data.scale_range"):
        RunConfig.from_dict({"model": {"name": "occnet"}, "data": {"scale_range": [2, 1]}})


def test_checkpoint_remembers_the_dataset_normalization(tmp_path, patched) -> None:
    import json

    data = tmp_path / "ds"
    data.mkdir()
    manifest = {"source": "catalogue:bottle", "seed": 3, "settings": {"padding": 0.2, "view_pose": "yaw"}}
    (data / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / "run"
    argv = ["train", str(_config(tmp_path)), "--out", str(out), "--data", str(data), "--no-progress", "--device", "cpu"]
    assert main(argv) == 0
    meta = json.loads((out / "checkpoints" / "last" / "checkpoint.json").read_text())
    assert meta["normalization"] == {"padding": 0.2}
    assert meta["dataset"]["settings"]["view_pose"] == "yaw" and meta["dataset"]["seed"] == 3
    assert meta["input_contract"]["padding"] == 0.2 and meta["input_contract"]["view_pose"] == "yaw"
    assert train_run.dataset_meta(str(tmp_path / "missing")) == {}


def test_validation_uses_uniform_query_points(tmp_path, monkeypatch) -> None:
    built = []

    class FakeDataset:
        def __init__(self, root, split, config):
            built.append((split, {"points_source": config.points_source, "n_points": config.n_points}))

        def __len__(self):
            return 3

    import implicit3d.data.dataset as ds

    monkeypatch.setattr(ds, "ImplicitDataset", FakeDataset)
    train_run.build_datasets(DataConfig(root="x", points_source="mixed", n_points=1024, val_n_points=4096), 0)
    (_, train_kw), (_, val_kw) = built
    assert train_kw["points_source"] == "mixed" and train_kw["n_points"] == 1024
    assert val_kw["points_source"] == "uniform" and val_kw["n_points"] == 4096


def _weights(run):
    from safetensors.numpy import load_file

    return load_file(str(run / "checkpoints" / "last" / "model.safetensors"))


def test_init_starts_from_other_weights(tmp_path, monkeypatch, capsys) -> None:
    import json

    import numpy as np

    monkeypatch.setattr(
        train_run, "build_datasets", lambda cfg, seed: (SphereDataset(8, 16, 32, seed=seed), None)
    )
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({
        "model": {"name": "occnet_small", "c_dim": 16, "encoder_hidden": 16, "decoder_hidden": 16},
        "data": {"root": "unused"},
        "train": {"batch_size": 4, "lr": 1e-3, "max_steps": 3, "ckpt_every": 3, "val_every": 0, "seed": 1},
    }))
    base = ["train", str(path), "--no-progress", "--device", "cpu"]
    first, second, fresh = tmp_path / "first", tmp_path / "second", tmp_path / "fresh"
    assert main(base + ["--out", str(first)]) == 0
    # a tiny learning rate: after one step the weights are still (almost) the ones --init loaded
    tiny = ["--set", "train.lr=1e-12", "--max-steps", "1", "--set", "train.seed=2"]
    capsys.readouterr()
    assert main(base + ["--out", str(second), "--init", str(first)] + tiny) == 0
    assert f"starting from the weights of {first / 'checkpoints' / 'last'}" in capsys.readouterr().out
    assert main(base + ["--out", str(fresh)] + tiny) == 0
    a, b, c = _weights(first), _weights(second), _weights(fresh)
    params = [k for k in a if "running_" not in k and "num_batches" not in k]  # batch-norm statistics still move
    assert len(params) > 10 and all(np.allclose(a[k], b[k], atol=1e-6) for k in params)
    assert not all(np.allclose(a[k], c[k], atol=1e-3) for k in params)  # a fresh seed-2 init differs
    meta = json.loads((second / "checkpoints" / "last" / "checkpoint.json").read_text())
    assert meta["init"] == str(first / "checkpoints" / "last")
    capsys.readouterr()
    # a setting that keeps every parameter's shape may differ (named in the output) ...
    assert main(base + ["--out", str(tmp_path / "w"), "--init", str(first), "--set", "model.output=sdf"] + tiny) == 0
    assert "output 'occupancy' -> 'sdf'" in capsys.readouterr().out
    # ... one that changes shapes may not; weights that do not exist: clear errors, nothing trained
    assert main(base + ["--out", str(tmp_path / "x"), "--init", str(first), "--set", "model.decoder_hidden=32"]) == 2
    err = capsys.readouterr().err
    assert "--init" in err and "decoder_hidden 16 -> 32" in err and not (tmp_path / "x" / "checkpoints").exists()
    assert main(base + ["--out", str(tmp_path / "y"), "--init", str(tmp_path / "nothing")]) == 2
    assert "not found" in capsys.readouterr().err


def test_init_grows_a_grid_model_by_detail_planes(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(
        train_run, "build_datasets", lambda cfg, seed: (SphereDataset(8, 16, 32, seed=seed), None)
    )
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({
        "model": {"name": "conv_onet_grid_small", "grid_resolution": 8, "unet_levels": 2},
        "data": {"root": "unused"},
        "train": {"batch_size": 4, "lr": 1e-3, "max_steps": 2, "ckpt_every": 2, "val_every": 0, "seed": 1},
    }))
    base = ["train", str(path), "--no-progress", "--device", "cpu"]
    plain, grown = tmp_path / "plain", tmp_path / "grown"
    detail = ["--set", "model.detail_resolution=16", "--set", "model.detail_levels=2"]
    assert main(base + ["--out", str(plain)]) == 0
    capsys.readouterr()
    assert main(base + ["--out", str(grown), "--init", str(plain), "--max-steps", "1", "--set", "train.lr=1e-12"]
                + detail) == 0
    assert "grown with detail planes" in capsys.readouterr().out
    a, b = _weights(plain), _weights(grown)
    assert all(np.allclose(a[k], b[k], atol=1e-6) for k in a)  # the plain model's weights carried over
    assert any(k.startswith("detail_out.") for k in b) and len(b) > len(a)
    # the other way round drops trained parameters: refused, nothing trained
    assert main(base + ["--out", str(tmp_path / "back"), "--init", str(grown)]) == 2
    assert "detail" in capsys.readouterr().err and not (tmp_path / "back" / "checkpoints").exists()


def test_a_folder_of_other_files_is_not_taken_for_a_run(tmp_path, capsys) -> None:
    out = tmp_path / "meshes"
    out.mkdir()
    (out / "bottle.obj").write_text("v 0 0 0\n")
    for extra in ([], ["--resume"]):
        assert main(["train", "occnet_small", "--data", str(tmp_path), "--out", str(out), *extra]) == 2
        err = capsys.readouterr().err
        assert "holds no training run but other files (bottle.obj)" in err
    assert sorted(p.name for p in out.iterdir()) == ["bottle.obj"]
