"""The training loop: AdamW, warmup + cosine/step LR, gradient clipping, mixed precision (CUDA bf16/fp16, CPU bf16),
validation IoU, ``last``/``best`` checkpoints, exact resume, CSV (+ TensorBoard) logs, DistributedDataParallel.

Exact resume: the batch order is a function of ``(seed, epoch)`` (:class:`.sampler.EpochBatchSampler`), the
dataset's augmentation a function of ``(seed, epoch, index)``, the learning rate a function of the step, and a
checkpoint stores model, optimizer, grad-scaler and every process's RNG states. Resuming from the checkpoint of step
``k`` and training to ``S`` therefore reproduces (on CPU, bit for bit) an uninterrupted run to ``S``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import random
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from implicit3d.data.contract import CONTRACT_KEY, read_contract
from implicit3d.errors import UserError
from implicit3d.training import distributed as dist_utils
from implicit3d.training.checkpoint import (
    CheckpointError,
    atomic_write_text,
    capture_rng_state,
    load_model_state,
    read_checkpoint,
    restore_rng_state,
    save_checkpoint,
    unwrap_model,
)
from implicit3d.training.config import TrainConfig
from implicit3d.training.losses import occupancy_loss, sdf_loss
from implicit3d.training.metrics import iou_from_logits, iou_from_sdf
from implicit3d.training.sampler import EpochBatchSampler
from implicit3d.typed_config import describe_changes

CSV_COLUMNS = ("step", "epoch", "phase", "loss", "iou", "lr", "grad_norm", "shapes_per_s", "points_per_s", "wall_s")


def lr_at_step(cfg: TrainConfig, step: int, elapsed_s: float | None = None) -> float:
    """Learning rate for the update that turns step ``step`` into ``step + 1`` (0-based).

    ``elapsed_s`` (the run's wall time) matters only with a ``max_minutes`` budget: the cosine then follows the
    larger of the steps after warmup over theirs and the elapsed time over the budget, reaching its floor when the
    budget runs out (a budget far from used up leaves the step schedule as it is)."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = step - cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "step":
        return cfg.lr * cfg.gamma ** (t // cfg.step_size)
    span = max(1, cfg.max_steps - cfg.warmup_steps)
    progress = min(1.0, t / span)
    if cfg.max_minutes > 0 and elapsed_s is not None:  # the time budget, not step / max_steps (warmup included)
        progress = max(progress, min(1.0, elapsed_s / (60.0 * cfg.max_minutes)))
    return cfg.lr * (cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def resolve_task(cfg: TrainConfig, model_config: dict[str, Any] | None) -> str:
    """``"occupancy"`` or ``"sdf"``: ``cfg.task`` unless ``"auto"``, then the model config's ``output``."""
    if cfg.task != "auto":
        return cfg.task
    return "sdf" if str((model_config or {}).get("output", "occupancy")).lower() == "sdf" else "occupancy"


CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_bf16_capability() -> str | None:
    """The CPU's native bf16 instruction set: ``"amx_bf16"`` (Intel AMX), ``"avx512_bf16"`` (AVX-512 BF16, e.g.
    Intel Cooper Lake, AMD Zen 4) or ``None`` (bf16 would be emulated: slower than fp32). Read from the
    ``/proc/cpuinfo`` flags (Linux; elsewhere ``None``)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return next((name for name in CPU_BF16_FLAGS if name in flags), None)
    except OSError:
        pass
    return None


#: ``amp: auto`` on a CPU with native bf16 uses bf16 autocast for models of at least this many parameters. Measured
#: (README, Performance; benchmarks/bench_training.py): bf16 speeds up a training step of every registered model,
#: small and full (medians 1.1x to 2.3x; the smallest, ``conv_onet_planes_small``, has 165k parameters). Tiny
#: models stay fp32: there the gain is small or negative (the tests' 20k-parameter ConvONet on an 8^3 grid: 0.9x;
#: a 13k-parameter PointNet: 1.2x-1.6x on one thread, 0.5x-0.9x on two loaded threads) and tests pin their losses.
CPU_BF16_MIN_PARAMS = 100_000


def resolve_amp(amp: str, device: torch.device, n_params: int = 0) -> torch.dtype | None:
    """The autocast dtype of ``train.amp`` on ``device`` for a model of ``n_params`` parameters (``None``: fp32).

    CUDA: ``auto`` = bf16 where supported, else fp16. CPU: ``bf16`` forces bf16 autocast; ``auto`` uses it only on
    a CPU with native bf16 (:func:`cpu_bf16_capability`) and for models of at least :data:`CPU_BF16_MIN_PARAMS`
    parameters; ``fp16`` is refused (:class:`UserError`). ``none``: fp32 everywhere."""
    if amp == "none":
        return None
    if device.type == "cuda":
        if amp == "bf16" or (amp == "auto" and torch.cuda.is_bf16_supported()):
            return torch.bfloat16
        return torch.float16
    if device.type != "cpu":
        return None
    if amp == "fp16":
        raise UserError("train.amp: fp16 needs a CUDA GPU; on a CPU use bf16, auto or none")
    if amp == "bf16":
        return torch.bfloat16
    if amp == "auto" and n_params >= CPU_BF16_MIN_PARAMS and cpu_bf16_capability() is not None:
        return torch.bfloat16
    return None


def _seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: derive NumPy/Python seeds from the worker's torch seed."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)  # noqa: NPY002 (global state that third-party code uses)
    random.seed(seed)


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002
    random.seed(seed)


def _loader_generator(seed: int, epoch: int, rank: int, stream: int) -> torch.Generator:
    """Seeds the DataLoader's worker base seed (never the global RNG)."""
    mixed = np.random.default_rng([seed & 0xFFFFFFFF, epoch, rank, stream]).integers(0, 2**62)
    return torch.Generator().manual_seed(int(mixed))


def _dataset_settings(train_set: Dataset, extra_meta: dict[str, Any]) -> dict[str, Any] | None:
    """The data settings of an :class:`~implicit3d.data.dataset.ImplicitDataset` (its ``config``, with its folder as
    ``root``; anything else: ``None``); puts into ``extra_meta`` what the checkpoint keeps of its prepared dataset
    (the manifest's build settings and padding, as ``train`` stores them) unless given."""
    config = getattr(train_set, "config", None)
    if not (dataclasses.is_dataclass(config) and not isinstance(config, type)):
        return None
    settings = dataclasses.asdict(config)
    root = getattr(train_set, "root", None)
    if root is not None:
        settings["root"] = str(root)
        from implicit3d.training.run import dataset_meta

        for key, value in dataset_meta(root).items():
            extra_meta.setdefault(key, value)
    return settings


class Trainer:
    """Trains ``model`` on ``train_set`` (items: ``inputs (N, 3)``, ``points (M, 3)``, ``occ (M,)``, ``sdf (M,)``).

    ``out_dir`` receives ``checkpoints/last``, ``checkpoints/best``, ``metrics.csv`` and (if TensorBoard is
    installed) ``tensorboard/``; only process 0 writes. ``model_config`` (JSON-able, e.g. ``model.config``) is stored
    in checkpoints so :func:`~implicit3d.training.checkpoint.load_checkpoint` can rebuild the model; ``data_config``
    (a dict or a :class:`~implicit3d.data.config.DataConfig`; default: ``train_set.config`` when it has one) is
    stored too, and the model's input contract (pose, input frame, input count) is read from it.
    ``resume=True`` continues from ``out_dir/checkpoints/last`` when it exists (else starts fresh).
    In a torchrun launch, call :func:`~implicit3d.training.distributed.init_distributed` first; the model is then
    wrapped in DistributedDataParallel and each process trains on its shard of every epoch.
    ``callbacks`` are called as ``fn(trainer)`` after every step.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        config: TrainConfig,
        train_set: Dataset,
        val_set: Dataset | None = None,
        out_dir: str | os.PathLike | None = None,
        *,
        device: str | torch.device = "cpu",
        model_config: dict[str, Any] | None = None,
        data_config: dict[str, Any] | None = None,
        extra_meta: dict[str, Any] | None = None,
        resume: bool = False,
        progress: bool = True,
        callbacks: Sequence[Callable[[Trainer], None]] = (),
    ) -> None:
        self.cfg = config
        if 0 < config.max_steps <= config.warmup_steps:
            from implicit3d.errors import warn_user

            warn_user(f"train.warmup_steps {config.warmup_steps} >= max_steps {config.max_steps}: the learning rate "
                      "never leaves its warmup ramp; set a smaller one (--set train.warmup_steps=N, e.g. a tenth of "
                      "max_steps)")
        self.device = torch.device(device)
        if self.device.type == "cuda" and self.device.index is None and dist_utils.is_enabled():
            self.device = torch.device("cuda", dist_utils.current_info().local_rank)
        self.dist = dist_utils.current_info()
        self.out_dir = Path(out_dir) if out_dir is not None else None
        if model_config is None:
            model_config = getattr(model, "config", None)
        self.model_config = json.loads(json.dumps(model_config)) if model_config is not None else None
        extra_meta = dict(extra_meta or {})
        settings = _dataset_settings(train_set, extra_meta)
        if data_config is None:  # the training set's own settings: what the checkpoint's input contract is read from
            data_config = settings
        if dataclasses.is_dataclass(data_config) and not isinstance(data_config, type):
            data_config = dataclasses.asdict(data_config)
        if data_config is not None and not isinstance(data_config, dict):
            raise TypeError(f"data_config must be a dict or a DataConfig, got {type(data_config).__name__}")
        self.data_config = json.loads(json.dumps(data_config, default=str)) if data_config is not None else None
        self.extra_meta = json.loads(json.dumps(extra_meta, default=str)) if extra_meta else {}
        self.task = resolve_task(config, self.model_config)
        if CONTRACT_KEY not in self.extra_meta:  # what the model expects of its input, read back by inference
            try:
                contract = read_contract({**self.extra_meta, "data_config": self.data_config,
                                          "model_config": {"output": self.task}})
                self.extra_meta[CONTRACT_KEY] = contract.to_dict()
            except ValueError:  # data settings of no prepared dataset (synthetic data): no contract to keep
                pass
        self.train_set, self.val_set = train_set, val_set
        self.progress = progress
        self.callbacks = list(callbacks)
        self.resume = resume

        self.model = model.to(self.device)
        self.train_model: torch.nn.Module = self.model
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_model = DistributedDataParallel(self.model, device_ids=ids)
            # torch's note that a conv's CPU gradient comes in another memory layout than DDP's bucket (a copy, no
            # error): printed as the user's problem at every run otherwise
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides",
                                    category=UserWarning)
        if config.compile:
            self.train_model = torch.compile(self.train_model)

        decay, no_decay = [], []
        for p in self.model.parameters():
            if p.requires_grad:
                (decay if p.dim() >= 2 else no_decay).append(p)
        groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        self.optimizer = torch.optim.AdamW(groups, lr=config.lr, betas=tuple(config.betas))

        n_params = sum(p.numel() for p in self.model.parameters())
        self.amp_dtype = resolve_amp(config.amp, self.device, n_params)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)

        self.sampler = EpochBatchSampler(
            len(train_set),
            config.batch_size,
            seed=config.seed,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
            shuffle=True,
            pad=True,
        )
        self.step = 0
        self.best_metric: float | None = None
        self.best_step: int | None = None
        self.last_val: dict[str, float] = {}
        self._tb = None
        self._wall_offset = 0.0
        self._resumed_from: Path | None = None

    # ------------------------------------------------------------------------------------------------------------
    # properties

    @property
    def epoch(self) -> int:
        return self.step // self.sampler.batches_per_epoch

    @property
    def metric_name(self) -> str:
        """Model selection metric: validation IoU (higher is better) for occupancy, loss (lower) for SDF."""
        return "iou" if self.task == "occupancy" else "loss"

    @property
    def checkpoint_dir(self) -> Path | None:
        return None if self.out_dir is None else self.out_dir / "checkpoints"

    # ------------------------------------------------------------------------------------------------------------
    # checkpoints

    def _meta(self, rng_states: list[Any]) -> dict[str, Any]:
        return self.extra_meta | {
            "step": self.step,
            "epoch": self.epoch,
            "batches_per_epoch": self.sampler.batches_per_epoch,
            "task": self.task,
            "metric_name": self.metric_name,
            "best_metric": self.best_metric,
            "best_step": self.best_step,
            "val": self.last_val,
            "model_config": self.model_config,
            "train_config": self.cfg.to_dict(),
            "data_config": self.data_config,
            "world_size": self.dist.world_size,
            "rng": rng_states,
            "scaler": self.scaler.state_dict(),
            "wall_s": self._wall(),
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "torch_version": torch.__version__,
        }

    def save(self, name: str = "last", with_optimizer: bool = True) -> Path | None:
        """Write ``out_dir/checkpoints/<name>`` (process 0; every process must call it: RNG states are gathered)."""
        rng_states = dist_utils.all_gather_objects(capture_rng_state())
        path = None
        if self.dist.is_main and self.checkpoint_dir is not None:
            path = save_checkpoint(
                self.checkpoint_dir / name,
                self.model,
                self._meta(rng_states),
                self.optimizer.state_dict() if with_optimizer else None,
            )
        dist_utils.barrier()
        return path

    def _find_last(self) -> Path | None:
        if self.checkpoint_dir is None:
            return None
        last = self.checkpoint_dir / "last"
        if last.exists() or any(self.checkpoint_dir.glob(".last.*")):
            return last
        return None

    def load_state(self, path: str | os.PathLike) -> dict[str, Any]:
        """Restore model, optimizer, scaler, step, best metric and RNG states from a checkpoint; returns its meta."""
        ckpt = read_checkpoint(path, with_optimizer=True)
        meta = ckpt.meta
        if self.model_config is not None and meta.get("model_config") not in (None, self.model_config):
            changes = describe_changes(meta.get("model_config") or {}, self.model_config)
            raise CheckpointError(
                f"{ckpt.directory} was trained with other model settings (changed: {changes}); resume with the same "
                "model settings, or train into another output folder (--init starts from its weights)"
            )
        if ckpt.optimizer_state is None:
            raise CheckpointError(f"{ckpt.directory} has no optimizer state: it cannot be resumed (only loaded)")
        load_model_state(self.model, ckpt.model_state, ckpt.directory)
        try:
            self.optimizer.load_state_dict(ckpt.optimizer_state)
        except (ValueError, KeyError, RuntimeError) as exc:
            raise CheckpointError(f"{ckpt.directory}: optimizer state does not match the model: {exc}") from None
        if meta.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(meta["scaler"])
        self.step = int(meta["step"])
        self.best_metric = meta.get("best_metric")
        self.best_step = meta.get("best_step")
        self.last_val = dict(meta.get("val") or {})
        self._wall_offset = float(meta.get("wall_s", 0.0))
        rng = meta.get("rng") or []
        if int(meta.get("world_size", 1)) == self.dist.world_size and len(rng) == self.dist.world_size:
            restore_rng_state(rng[self.dist.rank])
        else:
            _seed_everything(self.cfg.seed + 7919 * self.step + self.dist.rank)
        if int(meta.get("batches_per_epoch", -1)) != self.sampler.batches_per_epoch and self.dist.is_main:
            print(
                f"note: {ckpt.directory} was written with {meta.get('batches_per_epoch')} batches per epoch, now "
                f"{self.sampler.batches_per_epoch} (batch size, process count or dataset changed): the run continues "
                "from its step but not with the same sample order"
            )
        if self._other_dataset(meta):
            if self.dist.is_main:
                where = (meta.get("data_config") or {}).get("root") or (meta.get("dataset") or {}).get("source")
                best = f" (step {self.best_step})" if self.best_step is not None else ""
                print(f"note: {ckpt.directory} was trained on another dataset ({where}): its best validation "
                      f"score{best} was on that dataset's validation split, so the best checkpoint is chosen anew on "
                      "this one's (checkpoints/best is replaced at this run's first validation)")
            self.best_metric, self.best_step = None, None
        self._resumed_from = ckpt.directory
        return meta

    def _other_dataset(self, meta: dict[str, Any]) -> bool:
        """Whether checkpoint ``meta`` was written training on another dataset than this trainer's: other build
        settings (source, seed, settings of its manifest), or without those, another folder."""
        old, new = meta.get("dataset"), self.extra_meta.get("dataset")
        if old and new:
            return json.loads(json.dumps(old, default=str)) != json.loads(json.dumps(new, default=str))
        old_root = (meta.get("data_config") or {}).get("root")
        new_root = (self.data_config or {}).get("root")
        return bool(old_root and new_root and Path(old_root).resolve() != Path(new_root).resolve())

    # ------------------------------------------------------------------------------------------------------------
    # logging

    def _budget_elapsed(self) -> float | None:
        """Wall seconds of the run as every process agrees on them (rank 0's clock), for the time budget."""
        if not self.cfg.max_minutes:
            return None
        t = torch.tensor([self._wall() if self.dist.is_main else 0.0], dtype=torch.float64, device=self.device)
        return float(dist_utils.all_reduce_sum(t)[0])

    def _out_of_time(self) -> bool:
        elapsed = self._budget_elapsed()
        return elapsed is not None and elapsed >= 60.0 * self.cfg.max_minutes

    def _wall(self) -> float:
        return self._wall_offset + (time.perf_counter() - self._t0 if hasattr(self, "_t0") else 0.0)

    def _open_logs(self) -> None:
        if not self.dist.is_main or self.out_dir is None:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / "metrics.csv"
        kept: list[dict[str, str]] = []
        if self._resumed_from is not None and path.is_file():
            # rows logged after the checkpoint will be produced again: drop them
            with open(path, newline="") as f:
                kept = [r for r in csv.DictReader(f) if (r.get("step") or "").isdigit() and int(r["step"]) <= self.step]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)
        atomic_write_text(path, buf.getvalue())
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.out_dir / "tensorboard"), purge_step=self.step)
        except ImportError:  # tensorboard is optional
            self._tb = None

    def _log(self, phase: str, values: dict[str, float]) -> None:
        if not self.dist.is_main or self.out_dir is None:
            return
        row = {"step": self.step, "epoch": self.epoch, "phase": phase, "wall_s": round(self._wall(), 3), **values}
        with open(self.out_dir / "metrics.csv", "a", newline="") as f:
            csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n").writerow(
                {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
            )
        if self._tb is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)) and math.isfinite(v):
                    self._tb.add_scalar(f"{phase}/{k}", v, self.step)

    # ------------------------------------------------------------------------------------------------------------
    # steps

    def _batch_to_device(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        nb = self.device.type == "cuda"
        return (
            batch["inputs"].to(self.device, non_blocking=nb),
            batch["points"].to(self.device, non_blocking=nb),
            batch["occ"].to(self.device, non_blocking=nb),
            batch["sdf"].to(self.device, non_blocking=nb) if self.task == "sdf" else batch["occ"],
        )

    def _forward(self, model: torch.nn.Module, inputs: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        amp = self.amp_dtype is not None
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32, enabled=amp):
            return model(inputs, points)

    def _loss(self, out: torch.Tensor, occ: torch.Tensor, sdf: torch.Tensor) -> torch.Tensor:
        if self.task == "sdf":
            return sdf_loss(out, sdf, self.cfg.sdf_clamp)
        return occupancy_loss(out, occ)

    def train_step(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One optimizer update; returns (detached loss, gradient norm before clipping or None)."""
        inputs, points, occ, sdf = self._batch_to_device(batch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at_step(self.cfg, self.step, self._budget_elapsed())
        self.optimizer.zero_grad(set_to_none=True)
        out = self._forward(self.train_model, inputs, points).float()  # the loss in fp32, whatever the autocast
        loss = self._loss(out, occ, sdf)
        self.scaler.scale(loss).backward()
        grad_norm = None
        if self.cfg.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.step += 1
        return loss.detach(), grad_norm

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean loss and per-shape IoU over the validation split (all processes; sums all-reduced)."""
        if self.val_set is None:
            return {}
        model = unwrap_model(self.model)
        was_training = model.training
        model.eval()
        sampler = EpochBatchSampler(
            len(self.val_set),
            self.cfg.batch_size,
            seed=self.cfg.seed,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
            shuffle=False,
            pad=False,
        )
        loader = DataLoader(
            self.val_set,
            batch_sampler=sampler,
            num_workers=self.cfg.num_workers,
            worker_init_fn=_seed_worker,
            generator=_loader_generator(self.cfg.seed, 0, self.dist.rank, 1),
            pin_memory=self.device.type == "cuda",
        )
        sums = torch.zeros(3, dtype=torch.float64, device=self.device)  # loss * B, iou sum, shapes
        for i, batch in enumerate(loader):
            if self.cfg.val_batches and i >= self.cfg.val_batches:
                break
            inputs, points, occ, sdf = self._batch_to_device(batch)
            out = self._forward(model, inputs, points).float()
            b = out.shape[0]
            sums[0] += self._loss(out, occ, sdf).double() * b
            if self.task == "sdf":
                iou = iou_from_sdf(out, occ)
            else:
                iou = iou_from_logits(out, occ, self.cfg.iou_threshold)
            sums[1] += iou.double().sum()
            sums[2] += b
        dist_utils.all_reduce_sum(sums)
        model.train(was_training)
        n = max(1.0, float(sums[2]))
        return {"loss": float(sums[0]) / n, "iou": float(sums[1]) / n}

    def _is_better(self, value: float) -> bool:
        if self.best_metric is None:
            return True
        return value > self.best_metric if self.metric_name == "iou" else value < self.best_metric

    def _validate_and_keep_best(self) -> dict[str, float]:
        val = self.validate()
        if not val:
            return val
        self.last_val = val
        self._log("val", val)
        value = val[self.metric_name]
        if math.isfinite(value) and self._is_better(value):
            self.best_metric, self.best_step = value, self.step
            self.save("best", with_optimizer=False)
        return val

    # ------------------------------------------------------------------------------------------------------------
    # loop

    def fit(self) -> dict[str, Any]:
        """Train to ``config.max_steps``; returns ``{"step", "best_metric", "best_step", "val", "wall_s"}``."""
        cfg = self.cfg
        if self.resume and (last := self._find_last()) is not None:
            self.load_state(last)
            if self.dist.is_main:
                print(f"resuming from {self._resumed_from} at step {self.step}")
        else:
            _seed_everything(cfg.seed + self.dist.rank)
        self._t0 = time.perf_counter()
        self._open_logs()
        self.train_model.train()
        bpe = self.sampler.batches_per_epoch
        n_points = None
        saved_at = val_at = self.step
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        n_loss, n_shapes, t_log, grad_norm = 0, 0, time.perf_counter(), None

        def log_train() -> None:
            """One train row of metrics.csv: the mean loss and the rates since the last one."""
            nonlocal n_loss, n_shapes, t_log
            mean_loss = float(loss_sum) / n_loss
            if not math.isfinite(mean_loss) and self.amp_dtype != torch.float16:
                raise FloatingPointError(
                    f"training loss is {mean_loss} at step {self.step}: lower train.lr or check the data"
                )
            now = time.perf_counter()
            shapes_s = n_shapes * self.dist.world_size / max(now - t_log, 1e-9)
            row = {
                "loss": mean_loss,
                "lr": float(self.optimizer.param_groups[0]["lr"]),
                "shapes_per_s": shapes_s,
                "points_per_s": shapes_s * (n_points or 0),
                "grad_norm": float(grad_norm) if grad_norm is not None else float("nan"),
            }
            self._log("train", row)
            bar.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{row['lr']:.2e}", refresh=False)
            loss_sum.zero_()
            n_loss, n_shapes, t_log = 0, 0, now
        bar = tqdm(
            total=cfg.max_steps,
            initial=self.step,
            desc="train",
            unit="step",
            dynamic_ncols=True,
            disable=not (self.progress and self.dist.is_main),
        )
        try:
            while self.step < cfg.max_steps:
                epoch, start = divmod(self.step, bpe)
                self.sampler.set_epoch(epoch, start)
                if hasattr(self.train_set, "set_epoch"):
                    self.train_set.set_epoch(epoch)
                loader = DataLoader(
                    self.train_set,
                    batch_sampler=self.sampler,
                    num_workers=cfg.num_workers,
                    worker_init_fn=_seed_worker,
                    generator=_loader_generator(cfg.seed, epoch, self.dist.rank, 0),
                    pin_memory=self.device.type == "cuda",
                )
                for batch in loader:
                    if n_points is None:
                        n_points = int(batch["points"].shape[1])
                    loss, grad_norm = self.train_step(batch)
                    loss_sum += loss.double()
                    n_loss += 1
                    n_shapes += int(batch["points"].shape[0])  # a split smaller than batch_size: smaller batches
                    if self.step % cfg.log_every == 0 or self.step == cfg.max_steps:
                        log_train()
                    bar.update(1)
                    if cfg.val_every and self.step % cfg.val_every == 0:
                        val = self._validate_and_keep_best()
                        val_at = self.step
                        if val:
                            bar.set_postfix(val_iou=f"{val['iou']:.3f}", refresh=False)
                    if cfg.ckpt_every and self.step % cfg.ckpt_every == 0:
                        self.save("last")
                        saved_at = self.step
                    for fn in self.callbacks:
                        fn(self)
                    if self.step >= cfg.max_steps:
                        break
                    if cfg.max_minutes and self._out_of_time():
                        break
                if cfg.max_minutes and self._out_of_time():
                    if self.dist.is_main:
                        print(f"time budget of {cfg.max_minutes:g} min reached at step {self.step}")
                    break
            if n_loss:  # steps since the last train row (a time budget ends between log_every steps)
                log_train()
            if val_at != self.step or (self.val_set is not None and not self.last_val):
                self._validate_and_keep_best()
            if saved_at != self.step:
                self.save("last")
        finally:
            bar.close()
            if self._tb is not None:
                self._tb.close()
        return {
            "step": self.step,
            "best_metric": self.best_metric,
            "best_step": self.best_step,
            "val": self.last_val,
            "wall_s": self._wall(),
            "task": self.task,
        }
