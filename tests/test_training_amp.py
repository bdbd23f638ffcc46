"""Mixed precision on CPU: bf16 autocast training learns and repeats itself, fp16 is refused, and ``amp: auto``
picks bf16 only on a CPU with native bf16 and only for models of at least 100k parameters (the registered ones)."""

from __future__ import annotations

import pytest
import torch

from completion_fixtures import TINY_MODEL
from implicit3d.errors import UserError
from implicit3d.models import create_model, list_models
from implicit3d.training import TrainConfig, Trainer
from implicit3d.training import trainer as trainer_mod
from implicit3d.training.synthetic import SphereDataset, TinyPointNetOccupancy

CPU = torch.device("cpu")
needs_bf16 = pytest.mark.skipif(trainer_mod.cpu_bf16_capability() is None, reason="this CPU has no native bf16")


def _train(amp: str, steps: int = 30) -> tuple[list[float], Trainer]:
    torch.manual_seed(0)
    model = TinyPointNetOccupancy(hidden=32, latent=32)
    cfg = TrainConfig(batch_size=8, lr=3e-3, max_steps=steps, warmup_steps=0, schedule="constant", val_every=0,
                      ckpt_every=0, seed=0, amp=amp)
    data = SphereDataset(16, n_inputs=64, n_points=128, seed=0)
    trainer = Trainer(model, cfg, data, None, None, progress=False)
    losses = []
    batches = [torch.utils.data.default_collate([data[(8 * i + j) % 16] for j in range(8)]) for i in range(2)]
    for step in range(steps):
        loss, _ = trainer.train_step(batches[step % 2])
        assert loss.dtype == torch.float32  # the loss is computed in fp32 whatever the autocast
        losses.append(float(loss))
    return losses, trainer


@needs_bf16
def test_bf16_autocast_training_on_cpu_learns_and_repeats() -> None:
    losses, trainer = _train("bf16")
    assert trainer.amp_dtype == torch.bfloat16
    assert all(torch.isfinite(torch.tensor(losses)))
    first, last = sum(losses[:4]) / 4, sum(losses[-4:]) / 4
    assert last < 0.8 * first, losses
    again, _ = _train("bf16")
    assert again == losses  # bf16 autocast on CPU is deterministic too
    fp32, _ = _train("none")
    assert fp32 != losses  # the autocast did act
    assert sum(fp32[-4:]) / 4 == pytest.approx(last, rel=0.2)  # learns about as well as fp32


@needs_bf16
def test_bf16_resume_after_crash_is_bit_identical(tmp_path) -> None:
    def model() -> TinyPointNetOccupancy:
        torch.manual_seed(0)
        return TinyPointNetOccupancy(hidden=16, latent=16)

    cfg = TrainConfig(batch_size=4, lr=3e-3, max_steps=9, warmup_steps=2, val_every=0, ckpt_every=4, seed=3,
                      amp="bf16")
    data = SphereDataset(14, n_inputs=32, n_points=64, seed=0)
    reference = model()
    Trainer(reference, cfg, data, None, tmp_path / "ref", progress=False).fit()

    def crash(t: Trainer) -> None:
        if t.step == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Trainer(model(), cfg, data, None, tmp_path / "run", progress=False, callbacks=[crash]).fit()
    resumed = TinyPointNetOccupancy(hidden=16, latent=16)
    trainer = Trainer(resumed, cfg, data, None, tmp_path / "run", resume=True, progress=False)
    trainer.fit()
    assert trainer.amp_dtype == torch.bfloat16 and trainer.step == 9
    ref, got = reference.state_dict(), resumed.state_dict()
    assert all(torch.equal(ref[k], got[k]) for k in ref)


def test_fp16_on_cpu_is_refused() -> None:
    with pytest.raises(UserError, match="fp16 needs a CUDA GPU"):
        Trainer(TinyPointNetOccupancy(), TrainConfig(amp="fp16"), SphereDataset(4), None, None, progress=False)
    with pytest.raises(UserError, match="fp16"):
        trainer_mod.resolve_amp("fp16", CPU, 10**6)


def _n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _tiny_grid() -> torch.nn.Module:
    return create_model(TINY_MODEL["name"], **{k: v for k, v in TINY_MODEL.items() if k != "name"})


def test_auto_rule_on_cpu(monkeypatch) -> None:
    registered = {name: _n_params(create_model(name)) for name in list_models()}
    monkeypatch.setattr(trainer_mod, "cpu_bf16_capability", lambda: "avx512_bf16")
    for name, n in registered.items():  # bf16 speeds up every registered model, small and full
        assert trainer_mod.resolve_amp("auto", CPU, n) == torch.bfloat16, name
    tiny = _n_params(_tiny_grid())  # the golden test's 8^3 ConvONet: bf16 does not pay, its losses stay fp32
    assert tiny < trainer_mod.CPU_BF16_MIN_PARAMS
    assert trainer_mod.resolve_amp("auto", CPU, tiny) is None
    assert trainer_mod.resolve_amp("auto", CPU, _n_params(TinyPointNetOccupancy(hidden=16, latent=16))) is None
    assert trainer_mod.resolve_amp("none", CPU, registered["occnet"]) is None
    assert trainer_mod.resolve_amp("bf16", CPU, tiny) == torch.bfloat16  # forced
    monkeypatch.setattr(trainer_mod, "cpu_bf16_capability", lambda: None)  # bf16 would be emulated: slower
    for name, n in registered.items():
        assert trainer_mod.resolve_amp("auto", CPU, n) is None, name
    assert trainer_mod.resolve_amp("bf16", CPU, registered["occnet"]) == torch.bfloat16


def test_trainer_applies_the_auto_rule(monkeypatch) -> None:
    monkeypatch.setattr(trainer_mod, "cpu_bf16_capability", lambda: "amx_bf16")
    small = create_model("conv_onet_grid_small")
    assert Trainer(small, TrainConfig(), SphereDataset(4), None, None, progress=False).amp_dtype == torch.bfloat16
    assert Trainer(_tiny_grid(), TrainConfig(), SphereDataset(4), None, None, progress=False).amp_dtype is None
    assert Trainer(small, TrainConfig(amp="none"), SphereDataset(4), None, None, progress=False).amp_dtype is None


def test_cpu_bf16_capability_reads_the_flags(monkeypatch, tmp_path) -> None:
    import builtins

    real_open = builtins.open
    cpuinfo = tmp_path / "cpuinfo"

    def fake_open(path, *args, **kwargs):
        return real_open(cpuinfo if path == "/proc/cpuinfo" else path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n")
    assert trainer_mod.cpu_bf16_capability() == "amx_bf16"
    cpuinfo.write_text("flags\t\t: fpu avx512f avx512_bf16\n")
    assert trainer_mod.cpu_bf16_capability() == "avx512_bf16"
    cpuinfo.write_text("flags\t\t: fpu avx2 avx512f\n")
    assert trainer_mod.cpu_bf16_capability() is None
