"""TrainConfig parsing/validation, run YAML + --set overrides, the learning-rate schedule."""

from __future__ import annotations

import math

import pytest

from implicit3d.errors import UserError
from implicit3d.training.config import TrainConfig, apply_overrides, load_run_config, parse_override
from implicit3d.training.trainer import lr_at_step, resolve_task


def test_from_dict_coerces_yaml_scalars() -> None:
    cfg = TrainConfig.from_dict({"lr": "1e-3", "batch_size": 8.0, "compile": "false", "betas": [0.8, 0.99]})
    assert cfg.lr == 1e-3 and cfg.batch_size == 8 and cfg.compile is False and cfg.betas == (0.8, 0.99)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    "values, match",
    [
        ({"learning_rate": 1}, "unknown train setting"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"lr": -1}, "lr"),
        ({"schedule": "linear"}, "schedule"),
        ({"amp": "fp8"}, "amp"),
        ({"task": "normals"}, "task"),
        ({"lr": "fast"}, "lr"),
        ({"betas": [0.9]}, "betas"),
    ],
)
def test_bad_values_raise_user_error(values: dict, match: str) -> None:
    with pytest.raises(UserError, match=match):
        TrainConfig.from_dict(values)


def test_overrides() -> None:
    assert parse_override("train.lr=1e-4") == (["train", "lr"], 1e-4)
    assert parse_override("data.input=partial") == (["data", "input"], "partial")
    assert parse_override("model.dims=[1, 2]") == (["model", "dims"], [1, 2])
    raw = apply_overrides({"train": {"lr": 1.0}}, ["train.lr=0.5", "model.name=occnet", "data.noise=0.005"])
    assert raw == {"train": {"lr": 0.5}, "model": {"name": "occnet"}, "data": {"noise": 0.005}}
    with pytest.raises(UserError, match="KEY=VALUE"):
        parse_override("train.lr")
    with pytest.raises(UserError, match="not a section"):
        apply_overrides({"train": 3}, ["train.lr=1"])


def test_load_run_config(tmp_path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("model: {name: occnet}\ndata: {root: d, n_points: 64}\ntrain: {lr: 1e-3, max_steps: 10}\n")
    run = load_run_config(path, ["train.max_steps=20"])
    assert run.model.name == "occnet" and run.data.n_points == 64 and run.data.root == "d"
    assert run.train.lr == 1e-3 and run.train.max_steps == 20
    assert run.to_dict()["train"]["max_steps"] == 20
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [1, 2\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_run_config(bad)
    bad.write_text("optim: {lr: 1}\n")
    with pytest.raises(UserError, match="unknown section"):
        load_run_config(bad)
    with pytest.raises(UserError, match="not found"):
        load_run_config(tmp_path / "missing.yaml")
    bad.write_text("model: {name: occnet, widht: 3}\n")
    with pytest.raises(UserError, match=f"{bad}.*unknown model setting.*widht"):
        load_run_config(bad)
    bad.write_text("model: {name: occnet}\ntrain: {batchsize: 3}\n")
    with pytest.raises(UserError, match=f"{bad}.*unknown train setting.*batchsize"):
        load_run_config(bad)
    # typed --set values and plain values are applied once, then checked with the section
    run = load_run_config(path, ["data.scale_range=[0.5, 2]"], {"data.root": "123", "train.max_steps": 7})
    assert run.data.scale_range == (0.5, 2.0) and run.data.root == "123" and run.train.max_steps == 7


def test_lr_schedule() -> None:
    cfg = TrainConfig(lr=1.0, warmup_steps=10, max_steps=110, schedule="cosine", min_lr_ratio=0.1)
    assert lr_at_step(cfg, 0) == pytest.approx(0.1)
    assert lr_at_step(cfg, 9) == pytest.approx(1.0)
    assert lr_at_step(cfg, 10) == pytest.approx(1.0)
    assert lr_at_step(cfg, 60) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lr_at_step(cfg, 110) == pytest.approx(0.1)
    lrs = [lr_at_step(cfg, s) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))
    step = TrainConfig(lr=1.0, warmup_steps=0, schedule="step", step_size=5, gamma=0.5)
    assert [lr_at_step(step, s) for s in (0, 4, 5, 10)] == [1.0, 1.0, 0.5, 0.25]
    assert lr_at_step(TrainConfig(lr=2.0, warmup_steps=0, schedule="constant"), 10**6) == 2.0


def test_resolve_task() -> None:
    assert resolve_task(TrainConfig(), {"name": "x", "output": "sdf"}) == "sdf"
    assert resolve_task(TrainConfig(), {"name": "x"}) == "occupancy"
    assert resolve_task(TrainConfig(task="sdf"), {"output": "occupancy"}) == "sdf"


def test_packaged_run_files_resolve_by_name_from_any_folder(tmp_path, monkeypatch):
    from implicit3d.training.config import load_run_config, packaged_configs

    monkeypatch.chdir(tmp_path)  # no configs/ folder here: the shipped copies must be found
    assert {"occnet", "conv_onet_grid_small", "ifnet", "conv_onet_planes"} <= set(packaged_configs())
    assert load_run_config("conv_onet_grid_small").model.name == "conv_onet_grid_small"
    assert load_run_config("configs/occnet.yaml").model.name == "occnet"
    with pytest.raises(UserError, match="shipped run files"):
        load_run_config("no_such_model.yaml")


def test_a_run_that_never_leaves_its_warmup_is_warned_of() -> None:
    import warnings

    from implicit3d.errors import InputWarning
    from implicit3d.training import Trainer
    from implicit3d.training.synthetic import SphereDataset, TinyPointNetOccupancy

    with pytest.warns(InputWarning, match="warmup_steps 200 >= max_steps 200"):
        Trainer(TinyPointNetOccupancy(), TrainConfig(max_steps=200), SphereDataset(4), progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Trainer(TinyPointNetOccupancy(), TrainConfig(max_steps=200, warmup_steps=20), SphereDataset(4), progress=False)


def test_override_errors_name_the_option_the_user_typed(tmp_path) -> None:
    with pytest.raises(UserError, match=r"--set 'train=5': 'train' is a section; set one of its keys"):
        load_run_config("conv_onet_grid_small", ["train=5"], {"train.max_steps": 1})
    with pytest.raises(UserError, match=r"with --set model\.nope=1: unknown model setting"):
        load_run_config("conv_onet_grid_small", ["model.nope=1"])
    with pytest.raises(UserError, match=r"train\.betas: cannot read \[0\.9\] as a list of 2 values \(float, float\)"):
        load_run_config("conv_onet_grid_small", ["train.betas=[0.9]"])
