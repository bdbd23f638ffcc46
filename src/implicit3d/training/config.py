"""The run config: one typed object for a training run, read once from a YAML run file plus ``--set`` overrides.

A run file looks like::

    model: {name: conv_onet_grid, ...}      # a ModelConfig of the registry (implicit3d.models)
    data:  {root: data/bottles, input: partial, n_inputs: 2048, n_points: 2048, noise: 0.005, pose: yaw}
    train: {batch_size: 16, lr: 1.0e-4, max_steps: 20000, val_every: 500, ckpt_every: 500, seed: 0}

:func:`load_run_config` returns a :class:`RunConfig` of three typed sections — the model's
:class:`~implicit3d.models.config.ModelConfig`, :class:`~implicit3d.data.config.DataConfig` and
:class:`TrainConfig` — with every key and value checked (unknown keys are named). ``RunConfig.to_dict()`` is what a
run saves (``config.yaml``) and every checkpoint holds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from implicit3d.data.config import DataConfig
from implicit3d.errors import UserError
from implicit3d.models.config import ModelConfig
from implicit3d.typed_config import from_dict, packaged_configs, read_yaml_mapping, shipped_config, to_dict

TASKS = ("auto", "occupancy", "sdf")
SCHEDULES = ("cosine", "step", "constant")
AMP_MODES = ("auto", "none", "bf16", "fp16")


@dataclass
class TrainConfig:
    """Optimisation, schedule, logging and checkpointing settings (the ``train:`` section of a run file).

    Steps count optimizer updates (one batch per process each). Learning rate: linear warmup from 0 over
    ``warmup_steps``, then ``schedule`` = ``"cosine"`` (decays to ``lr * min_lr_ratio`` at ``max_steps``),
    ``"step"`` (multiplied by ``gamma`` every ``step_size`` steps) or ``"constant"``.
    """

    batch_size: int = 16  #: shapes per batch per process
    lr: float = 1e-4  #: peak learning rate of AdamW
    weight_decay: float = 1e-4  #: AdamW decoupled weight decay
    betas: tuple[float, float] = (0.9, 0.999)  #: AdamW betas
    max_steps: int = 20_000  #: optimizer steps of the whole run
    max_minutes: float = 0.0  #: wall-clock budget of the whole run (0 = none); see Trainer.fit
    warmup_steps: int = 200  #: linear warmup steps
    schedule: str = "cosine"  #: cosine | step | constant
    min_lr_ratio: float = 0.01  #: cosine floor, as a fraction of lr
    step_size: int = 10_000  #: step schedule: decay period in steps
    gamma: float = 0.1  #: step schedule: decay factor
    grad_clip: float = 1.0  #: max global gradient L2 norm; 0 disables clipping
    #: mixed precision: auto (CUDA: bf16 if supported, else fp16; CPU: bf16 on a CPU with native bf16 for models
    #: of >= 100k parameters, else fp32) | none | bf16 | fp16 (CUDA only)
    amp: str = "auto"
    task: str = "auto"  #: occupancy | sdf | auto (read from the model config, default occupancy)
    sdf_clamp: float = 0.1  #: SDF loss: clamp distance delta (normalized units)
    iou_threshold: float = 0.5  #: occupancy probability threshold for IoU
    val_every: int = 500  #: steps between validations (0 = only at the end)
    val_batches: int = 0  #: limit validation to this many batches per process (0 = the whole split)
    ckpt_every: int = 500  #: steps between `last` checkpoints (a killed run loses at most this many)
    log_every: int = 50  #: steps between training rows in metrics.csv
    seed: int = 0  #: seeds model init, sample order, augmentation and worker RNGs
    num_workers: int = 0  #: DataLoader worker processes per training process
    compile: bool = False  #: wrap the model in torch.compile

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`UserError` naming the first bad value."""
        positive = ("batch_size", "max_steps", "log_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise UserError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        non_negative = (
            "warmup_steps",
            "val_every",
            "val_batches",
            "ckpt_every",
            "num_workers",
            "grad_clip",
            "weight_decay",
            "sdf_clamp",
            "max_minutes",
        )
        for name in non_negative:
            if getattr(self, name) < 0:
                raise UserError(f"train.{name} must be >= 0, got {getattr(self, name)}")
        if not self.lr > 0:
            raise UserError(f"train.lr must be > 0, got {self.lr}")
        if self.schedule not in SCHEDULES:
            raise UserError(f"train.schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.amp not in AMP_MODES:
            raise UserError(f"train.amp must be one of {AMP_MODES}, got {self.amp!r}")
        if self.task not in TASKS:
            raise UserError(f"train.task must be one of {TASKS}, got {self.task!r}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise UserError(f"train.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if not 0.0 < self.iou_threshold < 1.0:
            raise UserError(f"train.iou_threshold must be in (0, 1), got {self.iou_threshold}")
        if self.step_size < 1 or not 0.0 < self.gamma <= 1.0:
            raise UserError(f"train.step_size must be >= 1 and gamma in (0, 1], got {self.step_size}, {self.gamma}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise UserError(f"train.betas must be two numbers in [0, 1), got {self.betas}")

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None, source: str | None = None) -> TrainConfig:
        """Build from a mapping, coercing YAML scalars to the field types; unknown keys raise :class:`UserError`
        (naming ``source``, the file, if given)."""
        try:
            return from_dict(cls, values, "train", source)
        except ValueError as exc:
            raise UserError(str(exc)) from None

    def to_dict(self) -> dict[str, Any]:
        """JSON/YAML-able dict (tuples become lists)."""
        return to_dict(self)


SECTIONS = ("model", "data", "train")


@dataclass
class RunConfig:
    """A whole run: the typed ``model``, ``data`` and ``train`` sections."""

    model: ModelConfig
    data: DataConfig
    train: TrainConfig

    def to_dict(self) -> dict[str, Any]:
        """The run as a JSON/YAML-able dict (what ``config.yaml`` and checkpoints hold)."""
        return {"model": self.model.to_dict(), "data": to_dict(self.data), "train": self.train.to_dict()}

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config") -> RunConfig:
        """Build from a mapping with ``model``, ``data`` and ``train`` sections; :class:`UserError` naming
        ``source`` and the first bad key or value."""
        from implicit3d.models.registry import config_from_dict

        if not isinstance(raw, dict):
            raise UserError(f"{source}: expected a mapping with model/data/train sections, got {type(raw).__name__}")
        unknown = sorted(set(raw) - set(SECTIONS))
        if unknown:
            raise UserError(f"{source}: unknown section(s) {unknown}; expected model, data, train")
        for section in SECTIONS:
            if raw.get(section) is not None and not isinstance(raw[section], dict):
                raise UserError(f"{source}: section {section!r} must be a mapping")
        if not (raw.get("model") or {}).get("name"):
            raise UserError(f"{source}: the model section needs a name (e.g. model: {{name: occnet}})")
        try:
            model = config_from_dict(raw["model"], source)
            data = from_dict(DataConfig, raw.get("data"), "data", source)
            train = TrainConfig.from_dict(raw.get("train"), source)
        except (ValueError, UserError) as exc:  # also a value out of range (the dataclass's own check): say where
            raise UserError(str(exc) if str(exc).startswith(f"{source}:") else f"{source}: {exc}") from None
        return cls(model=model, data=data, train=train)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.lr=3e-4"`` -> (["train", "lr"], 0.0003). The value is read as YAML (numbers, lists, true/false)."""
    if "=" not in text:
        raise UserError(f"--set expects KEY=VALUE (e.g. train.lr=3e-4), got {text!r}")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise UserError(f"--set: empty key in {text!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    # YAML 1.1 reads "1e-4" (no dot) as a string; accept it as a number.
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value.lower() for c in ".e") else int(value)
        except ValueError:
            pass
    return parts, value


def apply_overrides(
    raw: dict[str, Any], overrides: list[str], values: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Apply ``--set`` strings (read as YAML), then ``values`` (``{"data.root": "d"}``, taken as they are), to a
    nested dict in place (creating intermediate dicts) and return it."""
    pairs = [(*parse_override(text), text) for text in overrides]
    for parts, value, text in pairs:
        if len(parts) == 1 and isinstance(raw.get(parts[0]), dict) and not isinstance(value, dict):
            raise UserError(f"--set {text!r}: {parts[0]!r} is a section; set one of its keys, e.g. "
                            f"--set {parts[0]}.KEY=VALUE")
    pairs += [([p for p in key.split(".") if p], value, key) for key, value in (values or {}).items()]
    for parts, value, text in pairs:
        node = raw
        for p in parts[:-1]:
            child = node.get(p)
            if child is None:
                child = node[p] = {}
            if not isinstance(child, dict):
                raise UserError(f"--set {text!r}: {p!r} is not a section")
            node = child
        node[parts[-1]] = value
    return raw


def resolve_config_path(path: str | os.PathLike) -> Path:
    """``path`` when it is a file, else the packaged run file of that name (``conv_onet_grid_small`` or
    ``configs/conv_onet_grid_small.yaml`` both work after a plain ``pip install``). Raises :class:`UserError`."""
    p = Path(path)
    if p.is_file():
        return p
    shipped = shipped_config(p)
    if shipped is not None:
        return shipped
    raise UserError(f"config file {p} not found (shipped run files: {', '.join(packaged_configs()) or 'none'})")


def load_run_config(
    path: str | os.PathLike, overrides: list[str] | None = None, values: dict[str, Any] | None = None
) -> RunConfig:
    """Read a run YAML (a file, or a packaged run file by name), apply ``--set`` ``overrides`` and ``values``
    (:func:`apply_overrides`), validate every section. Raises :class:`UserError` naming the file and the problem."""
    path = resolve_config_path(path)
    try:
        raw = read_yaml_mapping(path)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    source = str(path) + (f" with --set {' '.join(overrides)}" if overrides else "")
    return RunConfig.from_dict(apply_overrides(raw, list(overrides or []), values), source=source)


def describe(run: RunConfig) -> str:
    """The effective run config as YAML (printed once when a run starts, saved as ``config.yaml``)."""
    return yaml.safe_dump(run.to_dict(), sort_keys=False)
