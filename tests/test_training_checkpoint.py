"""Checkpoints: save -> load round trip, optimizer state flattening, corruption detection, atomic writes."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from implicit3d.training import checkpoint as ck
from implicit3d.training.checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from implicit3d.training.synthetic import TinyPointNetOccupancy


def _trained_model_and_optimizer(seed: int = 0):
    torch.manual_seed(seed)
    model = TinyPointNetOccupancy(hidden=16, latent=8)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x, p = torch.rand(2, 10, 3), torch.rand(2, 7, 3)
    for _ in range(3):
        opt.zero_grad()
        model(x, p).square().mean().backward()
        opt.step()
    return model, opt, (x, p)


def _meta(model) -> dict:
    return {"step": 3, "epoch": 0, "best_metric": None, "model_config": model.config}


def test_save_load_gives_identical_outputs(tmp_path) -> None:
    model, opt, (x, p) = _trained_model_and_optimizer()
    path = save_checkpoint(tmp_path / "last", model, _meta(model), opt.state_dict())
    assert sorted(f.name for f in path.iterdir()) == [ck.META_FILE, ck.MODEL_FILE, ck.OPTIMIZER_FILE]
    fresh = TinyPointNetOccupancy(hidden=16, latent=8)
    loaded, meta = load_checkpoint(path, model=fresh)
    assert loaded is fresh and not loaded.training
    assert meta["step"] == 3 and meta["model_config"] == model.config
    model.eval()
    assert torch.equal(loaded(x, p), model(x, p))
    # resolving via the run directory and via checkpoint.json works too
    load_checkpoint(tmp_path, model=TinyPointNetOccupancy(hidden=16, latent=8))
    load_checkpoint(path / ck.META_FILE, model=TinyPointNetOccupancy(hidden=16, latent=8))


def test_optimizer_state_round_trip(tmp_path) -> None:
    model, opt, _ = _trained_model_and_optimizer()
    save_checkpoint(tmp_path / "c", model, _meta(model), opt.state_dict())
    data = read_checkpoint(tmp_path / "c")
    ref = opt.state_dict()
    got = data.optimizer_state
    assert got["param_groups"] == json.loads(json.dumps(ref["param_groups"]))
    assert set(got["state"]) == set(ref["state"])
    for pid, entries in ref["state"].items():
        for k, v in entries.items():
            assert torch.equal(got["state"][pid][k], v), (pid, k)
    # and it loads into a fresh optimizer: the next step is identical
    model2 = TinyPointNetOccupancy(hidden=16, latent=8)
    ck.load_model_state(model2, data.model_state, "x")
    opt2 = torch.optim.AdamW(model2.parameters(), lr=1e-2)
    opt2.load_state_dict(got)
    x, p = torch.rand(2, 10, 3), torch.rand(2, 7, 3)
    for m, o in ((model, opt), (model2, opt2)):
        o.zero_grad()
        m(x, p).square().mean().backward()
        o.step()
    for a, b in zip(model.parameters(), model2.parameters(), strict=True):
        assert torch.equal(a, b)


def test_truncated_weights_give_clear_error(tmp_path) -> None:
    model, opt, _ = _trained_model_and_optimizer()
    path = save_checkpoint(tmp_path / "last", model, _meta(model), opt.state_dict())
    weights = path / ck.MODEL_FILE
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"model\.safetensors.*truncated") as info:
        load_checkpoint(path, model=TinyPointNetOccupancy(hidden=16, latent=8))
    assert isinstance(info.value, ValueError)


def test_flipped_byte_and_unreadable_safetensors(tmp_path) -> None:
    model, opt, _ = _trained_model_and_optimizer()
    path = save_checkpoint(tmp_path / "last", model, _meta(model), opt.state_dict())
    target = path / ck.OPTIMIZER_FILE
    data = bytearray(target.read_bytes())
    data[-3] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"optimizer\.safetensors is corrupted"):
        read_checkpoint(path)
    read_checkpoint(path, with_optimizer=False)  # the weights alone are fine
    # a file that is not safetensors at all, with a matching record (hash checks cannot catch it)
    garbage = b"\x00" * 64
    meta = json.loads((path / ck.META_FILE).read_text())
    meta["files"][ck.MODEL_FILE] = ck._file_record(garbage)
    (path / ck.MODEL_FILE).write_bytes(garbage)
    (path / ck.META_FILE).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"model\.safetensors is not a readable safetensors"):
        read_checkpoint(path, with_optimizer=False)


@pytest.mark.parametrize("text", ["{not json", "", "[1, 2]", '{"format": "other"}'])
def test_bad_json_gives_clear_error(tmp_path, text) -> None:
    model, _, _ = _trained_model_and_optimizer()
    path = save_checkpoint(tmp_path / "best", model, _meta(model))
    (path / ck.META_FILE).write_text(text)
    with pytest.raises(CheckpointError, match=r"checkpoint\.json"):
        load_checkpoint(path, model=TinyPointNetOccupancy(hidden=16, latent=8))


def test_missing_and_mismatched(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope")
    (tmp_path / "model.pt").write_bytes(b"pickle")
    with pytest.raises(CheckpointError, match="not an implicit3d checkpoint"):
        load_checkpoint(tmp_path / "model.pt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="not a complete checkpoint"):
        load_checkpoint(tmp_path / "empty")
    model, _, _ = _trained_model_and_optimizer()
    save_checkpoint(tmp_path / "c", model, _meta(model))
    with pytest.raises(CheckpointError, match="does not match the model"):
        load_checkpoint(tmp_path / "c", model=TinyPointNetOccupancy(hidden=8, latent=8))


def test_interrupted_write_leaves_previous_checkpoint_and_no_partial_files(tmp_path, monkeypatch) -> None:
    model, opt, (x, p) = _trained_model_and_optimizer()
    save_checkpoint(tmp_path / "last", model, {**_meta(model), "step": 1}, opt.state_dict())
    real_write = ck._write_file
    calls = []

    def failing_write(path, data):
        calls.append(path.name)
        if len(calls) == 2:  # after the weights, while writing the optimizer state
            raise OSError("disk full (simulated)")
        real_write(path, data)

    monkeypatch.setattr(ck, "_write_file", failing_write)
    with torch.no_grad():
        for q in model.parameters():
            q.add_(1.0)
    with pytest.raises(OSError, match="simulated"):
        save_checkpoint(tmp_path / "last", model, {**_meta(model), "step": 2}, opt.state_dict())
    monkeypatch.setattr(ck, "_write_file", real_write)
    assert [f.name for f in tmp_path.iterdir()] == ["last"]
    _, meta = load_checkpoint(tmp_path / "last", model=TinyPointNetOccupancy(hidden=16, latent=8))
    assert meta["step"] == 1


def test_interrupted_swap_is_recovered(tmp_path) -> None:
    """A process killed between the two renames of a save leaves `.last.old-*` and `.last.tmp-*` only."""
    model, opt, _ = _trained_model_and_optimizer()
    save_checkpoint(tmp_path / "last", model, {**_meta(model), "step": 1}, opt.state_dict())
    save_checkpoint(tmp_path / "new", model, {**_meta(model), "step": 2}, opt.state_dict())
    (tmp_path / "last").rename(tmp_path / ".last.old-123")
    (tmp_path / "new").rename(tmp_path / ".last.tmp-123")
    _, meta = load_checkpoint(tmp_path / "last", model=TinyPointNetOccupancy(hidden=16, latent=8))
    assert meta["step"] == 2  # the complete newer copy
    # an incomplete temp dir (no checkpoint.json) is ignored in favour of the set-aside copy
    (tmp_path / ".last.tmp-123" / ck.META_FILE).unlink()
    _, meta = load_checkpoint(tmp_path / "last", model=TinyPointNetOccupancy(hidden=16, latent=8))
    assert meta["step"] == 1
    # the next save cleans up the leftovers
    save_checkpoint(tmp_path / "last", model, {**_meta(model), "step": 3}, opt.state_dict())
    assert [f.name for f in tmp_path.iterdir()] == ["last"]


def test_rng_state_round_trip() -> None:
    state = json.loads(json.dumps(ck.capture_rng_state()))
    a = (random.random(), np.random.random(), torch.rand(3))  # noqa: NPY002
    ck.restore_rng_state(state)
    b = (random.random(), np.random.random(), torch.rand(3))  # noqa: NPY002
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


def test_atomic_write_text(tmp_path, monkeypatch) -> None:
    target = tmp_path / "a.txt"
    ck.atomic_write_text(target, "one")
    monkeypatch.setattr(ck.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("boom")))
    with pytest.raises(OSError):
        ck.atomic_write_text(target, "two")
    assert target.read_text() == "one" and [f.name for f in tmp_path.iterdir()] == ["a.txt"]
