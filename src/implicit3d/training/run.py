"""A training run from a :class:`~implicit3d.training.config.RunConfig`: the model, the datasets, the input contract,
the optional starting weights, then :class:`~implicit3d.training.trainer.Trainer` (``implicit3d train`` and
``implicit3d demo --train`` call :func:`train_run`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from implicit3d.data.config import DataConfig
from implicit3d.errors import UserError
from implicit3d.training.config import RunConfig


def build_model(run: RunConfig) -> torch.nn.Module:
    """The model of the run's ``model`` section."""
    from implicit3d.models import create_model_from_config

    try:
        return create_model_from_config(run.model)
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"bad model settings {run.model.to_dict()}: {exc}") from None


def build_datasets(data: DataConfig, seed: int) -> tuple[Any, Any | None]:
    """``(train, val or None)`` :class:`implicit3d.data.dataset.ImplicitDataset` of the ``data`` section; ``seed``
    is the item seed when ``data.seed`` is not set. Validation uses :meth:`DataConfig.for_validation`."""
    import dataclasses

    from implicit3d.data.dataset import ImplicitDataset

    if not data.root:
        raise UserError("no dataset: set data.root in the run file or pass --data DIR")
    if data.seed is None:
        data = dataclasses.replace(data, seed=seed)
    train = ImplicitDataset(data.root, "train", data)
    if len(train) == 0:
        raise UserError(f"{data.root}: the train split is empty")
    try:
        val = ImplicitDataset(data.root, "val", data.for_validation())
    except UserError:
        val = None
    if val is not None and len(val) == 0:
        val = None
    return train, val


def dataset_meta(root: str | os.PathLike | None) -> dict[str, Any]:
    """What a checkpoint keeps of its training dataset (``dataset``: source, seed and build settings of its
    ``manifest.json``; ``normalization``: its padding); empty when there is no manifest."""
    import json

    if not root:
        return {}
    try:
        manifest = json.loads((Path(root) / "manifest.json").read_text())
        settings = dict(manifest["settings"])
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    meta: dict[str, Any] = {"dataset": {"source": manifest.get("source"), "seed": manifest.get("seed"),
                                        "settings": settings}}
    if isinstance(settings.get("padding"), (int, float)):
        meta["normalization"] = {"padding": float(settings["padding"])}
    return meta


def resolve_device(choice: str, name: str = "--device") -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; ``cuda`` (or ``cuda:N``) without a GPU is an
    :class:`~implicit3d.errors.ArgumentError` naming the option ``name``."""
    from implicit3d.errors import ArgumentError

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(choice).startswith("cuda") and not torch.cuda.is_available():
        raise ArgumentError(f"{name} {choice}: no CUDA GPU is available to this torch build")
    return choice


#: what a run writes in its folder (a folder holding anything else is not taken for a run's)
RUN_ENTRIES = frozenset({"checkpoints", "config.yaml", "metrics.csv", "tensorboard"})


def has_run(out: str | os.PathLike) -> bool:
    """Whether ``out`` holds a training run's last checkpoint (or an interrupted save of it)."""
    ckpts = Path(out) / "checkpoints"
    return (ckpts / "last").exists() or any(ckpts.glob(".last.*"))


def train_run(
    run: RunConfig,
    out: str | os.PathLike,
    *,
    resume: bool = False,
    init: str | None = None,
    device: str = "auto",
    progress: bool = True,
    log: Any = print,
) -> dict[str, Any]:
    """Train ``run`` into ``out`` (single process, or DDP under ``torchrun``); returns the trainer's result plus
    ``metric_name``. ``resume`` continues ``out``'s last checkpoint (else ``out`` must hold no run); ``init`` starts
    from trained weights (:func:`implicit3d.training.weights.init_weights`). The effective config is printed once
    (``log``) and saved as ``out/config.yaml``; the input contract goes into every checkpoint."""
    from implicit3d.data.contract import CONTRACT_KEY, contract_for_training
    from implicit3d.fileio import atomic_write_text
    from implicit3d.training import distributed as dist_utils
    from implicit3d.training.config import describe
    from implicit3d.training.trainer import Trainer, resolve_task
    from implicit3d.training.weights import init_weights

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, a folder was expected")
    if has_run(out):
        if not resume:
            raise UserError(f"{out} already holds a training run: pass --resume to continue it, or choose another "
                            "--out")
    elif out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in RUN_ENTRIES)
        if foreign:
            raise UserError(f"{out} holds no training run but other files ({', '.join(foreign[:3])}"
                            f"{', ...' if len(foreign) > 3 else ''}): choose a new or empty --out")
    device = resolve_device(device)
    info = dist_utils.init_distributed(device)
    try:
        torch.manual_seed(run.train.seed)  # identical initial weights on every process
        model = build_model(run)
        train_set, val_set = build_datasets(run.data, run.train.seed)
        model_config = run.model.to_dict()
        extra = dataset_meta(run.data.root)
        task = resolve_task(run.train, model_config)
        extra[CONTRACT_KEY] = contract_for_training(run.data, task, (extra.get("dataset") or {}).get("settings")
                                                    ).to_dict()
        if init is not None and not (resume and has_run(out)):
            extra["init"] = init_weights(model, model_config, init)
        if info.is_main:
            text = describe(run)
            out.mkdir(parents=True, exist_ok=True)
            atomic_write_text(out / "config.yaml", text)
            where = f"{info.world_size} processes" if info.enabled else device
            log(f"training {run.model.name} ({sum(p.numel() for p in model.parameters()):,} parameters) on {where}: "
                f"{len(train_set)} train / {len(val_set) if val_set is not None else 0} val shapes -> {out}"
                + (f", starting from the weights of {extra['init']}" if extra.get("init") else ""))
            log("config:\n  " + text.strip().replace("\n", "\n  "))
        trainer = Trainer(model, run.train, train_set, val_set, out, device=device, model_config=model_config,
                          data_config=run.to_dict()["data"], extra_meta=extra, resume=resume, progress=progress)
        result = trainer.fit()
    finally:
        dist_utils.cleanup()
    return {**result, "metric_name": trainer.metric_name, "is_main": info.is_main}
