"""DistributedDataParallel on CPU: 2 processes with gloo keep identical replicas and match one process."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from implicit3d.training import TrainConfig, Trainer
from implicit3d.training import distributed as dist_utils
from implicit3d.training.synthetic import SphereDataset, TinyPointNetOccupancy

WORLD = 2


def _cfg(**kw) -> TrainConfig:
    base = dict(batch_size=4, lr=3e-3, max_steps=6, warmup_steps=2, val_every=3, ckpt_every=3, log_every=1, seed=1)
    base.update(kw)
    return TrainConfig(**base)


def _model() -> TinyPointNetOccupancy:
    torch.manual_seed(0)
    return TinyPointNetOccupancy(hidden=16, latent=16)


def _data() -> SphereDataset:
    return SphereDataset(16, n_inputs=32, n_points=64, seed=0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, out_dir: str, cfg_dict: dict, resume: bool, crash_at: int) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)
    info = dist_utils.init_distributed("cpu")
    assert info.world_size == WORLD and info.rank == rank
    try:
        torch.manual_seed(100 + rank)  # replicas start different: DDP must broadcast rank 0's weights
        model = TinyPointNetOccupancy(hidden=16, latent=16)
        if rank == 0:
            model.load_state_dict(_model().state_dict())
        trainer = Trainer(
            model,
            TrainConfig(**cfg_dict),
            _data(),
            SphereDataset(5, 32, 64, seed=9),
            out_dir,
            progress=False,
            resume=resume,
        )
        seen: list[int] = []
        original = trainer.train_step

        def spy(batch):
            seen.extend(batch["index"].tolist())
            return original(batch)

        trainer.train_step = spy
        if crash_at:
            trainer.callbacks.append(lambda t: _crash(t.step == crash_at))
        result = trainer.fit()
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        state["seen"] = torch.tensor(seen)
        state["val_iou"] = torch.tensor([result["val"]["iou"]], dtype=torch.float64)
        save_file(state, os.path.join(out_dir, f"rank{rank}.safetensors"))
    finally:
        dist_utils.cleanup()


def _crash(now: bool) -> None:
    if now:
        raise RuntimeError("simulated crash")


def _run_ddp(out_dir, cfg: TrainConfig, resume: bool = False, crash_at: int = 0) -> list[dict[str, torch.Tensor]]:
    mp.spawn(_worker, args=(_free_port(), str(out_dir), cfg.to_dict(), resume, crash_at), nprocs=WORLD, join=True)
    return [load_file(os.path.join(out_dir, f"rank{r}.safetensors")) for r in range(WORLD)]


def test_ddp_two_cpu_processes_keep_replicas_identical(tmp_path) -> None:
    cfg = _cfg()
    ranks = _run_ddp(tmp_path / "ddp", cfg)
    weights = [k for k in ranks[0] if k not in ("seen", "val_iou")]
    for k in weights:
        assert torch.equal(ranks[0][k], ranks[1][k]), k
    assert torch.equal(ranks[0]["val_iou"], ranks[1]["val_iou"])  # all-reduced
    # the ranks saw disjoint halves of each epoch (16 shapes, 2 x 4 per step, 2 steps per epoch)
    seen0, seen1 = ranks[0]["seen"].tolist(), ranks[1]["seen"].tolist()
    assert len(seen0) == len(seen1) == 6 * 4
    for e in range(3):
        a, b = seen0[8 * e : 8 * e + 8], seen1[8 * e : 8 * e + 8]
        assert sorted(a + b) == list(range(16))
    # only rank 0 writes checkpoints and logs
    assert (tmp_path / "ddp" / "checkpoints" / "last" / "checkpoint.json").is_file()
    lines = (tmp_path / "ddp" / "metrics.csv").read_text().splitlines()
    assert len([x for x in lines if ",train," in x]) == 6

    # same updates as one process with the combined batch (up to float summation order)
    single = _model()
    Trainer(single, _cfg(batch_size=8), _data(), None, tmp_path / "single", progress=False).fit()
    for k, v in single.state_dict().items():
        torch.testing.assert_close(ranks[0][k], v, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_ddp_resume_after_crash_matches_uninterrupted_run(tmp_path) -> None:
    cfg = _cfg(max_steps=8, ckpt_every=3, val_every=4)
    full = _run_ddp(tmp_path / "full", cfg)
    with pytest.raises(Exception, match="simulated crash"):
        _run_ddp(tmp_path / "run", cfg, crash_at=5)
    resumed = _run_ddp(tmp_path / "run", cfg, resume=True)
    assert resumed[0]["seen"].shape[0] == 5 * 4  # steps 4..8: the checkpoint of step 3 was the last one
    for k in full[0]:
        if k != "seen":
            assert torch.equal(resumed[0][k], full[0][k]), k
            assert torch.equal(resumed[1][k], full[1][k]), k
