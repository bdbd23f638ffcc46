"""Trainer on a tiny model and synthetic spheres: learning, logs, best/last checkpoints, repeatability, exact resume."""

from __future__ import annotations

import csv
import time

import numpy as np
import pytest
import torch

from implicit3d.training import TrainConfig, Trainer, load_checkpoint
from implicit3d.training.checkpoint import CheckpointError
from implicit3d.training.sampler import EpochBatchSampler
from implicit3d.training.synthetic import SphereDataset, TinyPointNetOccupancy


def _cfg(**kw) -> TrainConfig:
    base = dict(batch_size=4, lr=3e-3, max_steps=10, warmup_steps=2, val_every=5, ckpt_every=4, log_every=2, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def _model(output: str = "occupancy", seed: int = 0) -> TinyPointNetOccupancy:
    torch.manual_seed(seed)
    return TinyPointNetOccupancy(hidden=16, latent=16, output=output)


def _data(n: int = 14, seed: int = 0) -> SphereDataset:
    return SphereDataset(n, n_inputs=32, n_points=64, seed=seed)


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_few_steps_reduce_loss_and_write_logs(tmp_path) -> None:
    model = _model()
    data = _data(16)
    trainer = Trainer(
        model, _cfg(max_steps=40, val_every=20, ckpt_every=20), data, _data(6, seed=1), tmp_path, progress=False
    )
    batch = torch.utils.data.default_collate([data[i] for i in range(8)])
    with torch.no_grad():
        before = torch.nn.functional.binary_cross_entropy_with_logits(
            model(batch["inputs"], batch["points"]), batch["occ"]
        )
    result = trainer.fit()
    with torch.no_grad():
        after = torch.nn.functional.binary_cross_entropy_with_logits(
            model(batch["inputs"], batch["points"]), batch["occ"]
        )
    assert result["step"] == 40 and trainer.epoch == 40 // 4
    assert float(after) < 0.8 * float(before)
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    train_rows = [r for r in rows if r["phase"] == "train"]
    val_rows = [r for r in rows if r["phase"] == "val"]
    assert [int(r["step"]) for r in train_rows] == list(range(2, 41, 2))
    assert [int(r["step"]) for r in val_rows] == [20, 40]
    assert float(train_rows[-1]["loss"]) < float(train_rows[0]["loss"])
    assert all(float(r["points_per_s"]) > 0 for r in train_rows)
    assert (tmp_path / "checkpoints" / "last").is_dir() and (tmp_path / "checkpoints" / "best").is_dir()
    _, meta = load_checkpoint(tmp_path / "checkpoints" / "last", model=_model())
    assert meta["step"] == 40 and meta["model_config"] == model.config and meta["task"] == "occupancy"
    _, best = load_checkpoint(tmp_path / "checkpoints" / "best", model=_model())
    assert best["step"] == result["best_step"] and best["best_metric"] == pytest.approx(result["best_metric"])
    assert result["best_metric"] == pytest.approx(max(float(r["iou"]) for r in val_rows), rel=1e-5)


def test_sdf_task_selects_by_lowest_val_loss(tmp_path) -> None:
    trainer = Trainer(_model("sdf"), _cfg(max_steps=6, val_every=3), _data(), _data(5, 1), tmp_path, progress=False)
    assert trainer.task == "sdf" and trainer.metric_name == "loss"
    result = trainer.fit()
    vals = [float(r["loss"]) for r in csv.DictReader(open(tmp_path / "metrics.csv")) if r["phase"] == "val"]
    assert result["best_metric"] == pytest.approx(min(vals), rel=1e-5)


def test_fixed_seed_gives_repeatable_runs(tmp_path) -> None:
    runs = []
    for name in ("a", "b"):
        model = _model()
        Trainer(model, _cfg(), _data(), None, tmp_path / name, progress=False).fit()
        runs.append(_weights(model))
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    other = _model()
    Trainer(other, _cfg(seed=4), _data(), None, tmp_path / "c", progress=False).fit()
    assert not all(torch.equal(runs[0][k], other.state_dict()[k]) for k in runs[0])


class _Crash(RuntimeError):
    pass


def _crash_at(step: int):
    def callback(trainer: Trainer) -> None:
        if trainer.step == step:
            raise _Crash(f"simulated crash at step {step}")

    return callback


@pytest.mark.parametrize("num_workers", [0, 2])
def test_resume_after_crash_is_bit_identical(tmp_path, num_workers) -> None:
    # 14 shapes / batch 4 -> 3 batches per epoch; checkpoints at 4 and 8 are mid-epoch
    cfg = _cfg(max_steps=11, num_workers=num_workers)
    reference = _model()
    Trainer(reference, cfg, _data(), _data(5, 1), tmp_path / "ref", progress=False).fit()

    crashed = _model()
    with pytest.raises(_Crash):
        Trainer(crashed, cfg, _data(), _data(5, 1), tmp_path / "run", progress=False, callbacks=[_crash_at(7)]).fit()
    _, meta = load_checkpoint(tmp_path / "run" / "checkpoints" / "last", model=_model())
    assert meta["step"] == 4  # lost at most one checkpoint interval

    resumed_model = _model(seed=123)  # different init: everything must come from the checkpoint
    trainer = Trainer(resumed_model, cfg, _data(), _data(5, 1), tmp_path / "run", resume=True, progress=False)
    seen_steps = []
    trainer.callbacks.append(lambda t: seen_steps.append(t.step))
    trainer.fit()
    assert seen_steps[0] == 5 and trainer.step == 11
    ref, got = _weights(reference), _weights(resumed_model)
    assert all(torch.equal(ref[k], got[k]) for k in ref)
    # metrics.csv: rows after the checkpoint were dropped and redone, none duplicated
    steps = [(int(r["step"]), r["phase"]) for r in csv.DictReader(open(tmp_path / "run" / "metrics.csv"))]
    ref_steps = [(int(r["step"]), r["phase"]) for r in csv.DictReader(open(tmp_path / "ref" / "metrics.csv"))]
    assert steps == ref_steps


def test_resume_without_checkpoint_starts_fresh_and_rejects_other_model(tmp_path) -> None:
    trainer = Trainer(_model(), _cfg(max_steps=4), _data(), None, tmp_path, resume=True, progress=False)
    assert trainer.fit()["step"] == 4
    # extending max_steps continues from the last checkpoint
    trainer = Trainer(_model(), _cfg(max_steps=6), _data(), None, tmp_path, resume=True, progress=False)
    steps = []
    trainer.callbacks.append(lambda t: steps.append(t.step))
    trainer.fit()
    assert steps == [5, 6]
    other = TinyPointNetOccupancy(hidden=8, latent=16)
    with pytest.raises(CheckpointError, match=r"other model settings \(changed: hidden 16 -> 8\)"):
        Trainer(other, _cfg(max_steps=8), _data(), None, tmp_path, resume=True, progress=False).fit()


def test_resume_on_another_dataset_chooses_the_best_anew(tmp_path, capsys) -> None:
    """The best validation score of another dataset's split is no yardstick: resuming on other data says so and
    keeps the best checkpoint of this dataset's validation split only; the same data keeps its best."""
    a = {"dataset": {"source": "data/a", "seed": 0, "settings": {}}}
    b = {"dataset": {"source": "data/b", "seed": 0, "settings": {}}}
    Trainer(_model(), _cfg(max_steps=6), _data(), _data(5, 1), tmp_path, extra_meta=a, progress=False).fit()
    same = Trainer(_model(), _cfg(max_steps=8), _data(), _data(5, 1), tmp_path, extra_meta=a, resume=True,
                   progress=False)
    same.load_state(tmp_path / "checkpoints" / "last")
    assert same.best_step is not None and "another dataset" not in capsys.readouterr().out
    other = Trainer(_model(), _cfg(max_steps=8), _data(), _data(5, 1), tmp_path, extra_meta=b, resume=True,
                    progress=False)
    result = other.fit()
    assert "was trained on another dataset (data/a)" in capsys.readouterr().out
    assert result["best_step"] is not None and result["best_step"] > 6  # chosen on b's validation


def test_train_rows_count_the_shapes_seen_and_end_a_timed_run(tmp_path) -> None:
    """metrics.csv's rates count the shapes in each batch (a training split smaller than batch_size gives smaller
    batches), and a run stopped by its time budget between log_every steps still writes its last train row."""
    def slow(trainer: Trainer) -> None:
        time.sleep(0.02)

    cfg = _cfg(batch_size=16, max_steps=1000, max_minutes=1.5 / 60, val_every=0, ckpt_every=0, log_every=10_000)
    trainer = Trainer(_model(), cfg, _data(3), None, tmp_path, progress=False, callbacks=[slow])
    result = trainer.fit()
    with open(tmp_path / "metrics.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["phase"] == "train"]
    assert len(rows) == 1 and int(rows[0]["step"]) == result["step"] < 1000
    elapsed = float(rows[0]["wall_s"])
    per_s = float(rows[0]["shapes_per_s"])
    # 3 shapes a step, not batch_size 16 (>= 16 a step): the row's wall time also holds the set-up, so a bound, which
    # a set-up of up to ~5 s (a slow CI machine) keeps
    assert 3 * result["step"] <= per_s * elapsed < 14 * result["step"]


def test_epoch_batch_sampler() -> None:
    s = EpochBatchSampler(10, 3, seed=5)
    assert s.batches_per_epoch == 3 and len(list(s)) == 3
    first = [i for b in s for i in b]
    assert len(set(first)) == 9
    s.set_epoch(1)
    assert [i for b in s for i in b] != first
    s.set_epoch(0, start_batch=2)
    assert [i for b in s for i in b] == first[6:]
    # two shards of a padded epoch: equal sizes, together cover every item
    shards = [EpochBatchSampler(7, 2, seed=1, rank=r, world_size=2) for r in range(2)]
    orders = [sh.order() for sh in shards]
    assert len(orders[0]) == len(orders[1]) == 4
    assert set(np.concatenate(orders)) == set(range(7))
    # validation shards: every item exactly once
    val = [EpochBatchSampler(7, 2, rank=r, world_size=3, shuffle=False, pad=False) for r in range(3)]
    assert sorted(i for v in val for b in v for i in b) == list(range(7))
    # a shard smaller than the batch still yields one batch
    assert list(EpochBatchSampler(2, 8, shuffle=False)) == [[0, 1]]
    with pytest.raises(ValueError):
        EpochBatchSampler(0, 2)


def test_time_budget_stops_early_validates_and_saves(tmp_path) -> None:
    def slow(trainer: Trainer) -> None:  # each step takes >= 20 ms, so a 0.2 s budget ends well before step 1000
        time.sleep(0.02)

    cfg = _cfg(max_steps=1000, max_minutes=0.2 / 60, val_every=0, ckpt_every=0)
    trainer = Trainer(_model(), cfg, _data(), _data(5, 1), tmp_path, progress=False, callbacks=[slow])
    result = trainer.fit()
    assert 1 <= result["step"] < 1000
    assert result["val"]  # validated at the end
    assert (tmp_path / "checkpoints" / "last").is_dir()


def test_time_budget_drives_the_cosine_schedule() -> None:
    from implicit3d.training.trainer import lr_at_step

    cfg = _cfg(max_steps=1000, warmup_steps=0, lr=1.0, min_lr_ratio=0.0, max_minutes=1.0)
    assert lr_at_step(cfg, 10, elapsed_s=0.0) == pytest.approx(lr_at_step(cfg, 10))
    assert lr_at_step(cfg, 10, elapsed_s=30.0) == pytest.approx(0.5)  # half the time gone: half-way down
    assert lr_at_step(cfg, 10, elapsed_s=60.0) == pytest.approx(0.0)
    assert lr_at_step(cfg, 900, elapsed_s=1.0) == pytest.approx(lr_at_step(cfg, 900))  # steps ahead of time
    # with a long warmup, a budget far from used up leaves the schedule after warmup as it is (it once jumped from
    # 1.0 to 0.43 right after a 100-step warmup of a 200-step run, whatever the budget)
    long_warmup = _cfg(max_steps=200, warmup_steps=100, lr=1.0, min_lr_ratio=0.0, max_minutes=60.0)
    for step in (100, 110, 150, 199):
        assert lr_at_step(long_warmup, step, elapsed_s=1.0) == pytest.approx(lr_at_step(long_warmup, step))
    assert lr_at_step(long_warmup, 110, elapsed_s=1.0) > 0.97
