"""Model registry: ``create_model(name, **overrides)`` (timm style), configs from dicts and YAML files.

Registered names: ``occnet``, ``conv_onet_planes``, ``conv_onet_grid``, ``ifnet`` (full-size, paper settings) and
their ``*_small`` variants (CPU-sized). ``create_model("ifnet", size="small")`` is the same as
``create_model("ifnet_small")``. New families register a builder::

    @register_model("my_net", MyConfig, hidden=64)
    def build_my_net(cfg: MyConfig) -> torch.nn.Module: ...
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from implicit3d.models.config import (
    ConvONetGridConfig,
    ConvONetPlanesConfig,
    IFNetConfig,
    ModelConfig,
    OccNetConfig,
)
from implicit3d.typed_config import packaged_configs, read_yaml_mapping, shipped_config


@dataclass(frozen=True)
class ModelEntry:
    """A registered name: its config class, the preset values that differ from the class defaults, a builder."""

    name: str
    config_cls: type[ModelConfig]
    builder: Callable[[Any], nn.Module]
    preset: dict[str, Any] = field(default_factory=dict)


_REGISTRY: dict[str, ModelEntry] = {}
SIZES = ("full", "small")


def register_model(
    name: str, config_cls: type[ModelConfig], **preset: Any
) -> Callable[[Callable[[Any], nn.Module]], Callable[[Any], nn.Module]]:
    """Decorator: register ``builder(cfg) -> nn.Module`` under ``name`` with preset config values."""

    def wrap(builder: Callable[[Any], nn.Module]) -> Callable[[Any], nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        config_cls.from_dict({"name": name, **preset}, source=f"preset {name}")  # validate now
        _REGISTRY[name] = ModelEntry(name, config_cls, builder, dict(preset))
        return builder

    return wrap


def list_models(pattern: str | None = None) -> list[str]:
    """Sorted registered names, optionally filtered by a shell-style ``pattern`` (e.g. ``"*_small"``)."""
    names = sorted(_REGISTRY)
    return [n for n in names if fnmatch.fnmatch(n, pattern)] if pattern else names


def _entry(name: str, size: str | None = None) -> ModelEntry:
    if not isinstance(name, str) or not name:
        raise ValueError(f"a model name is required, one of {list_models()}")
    if size is not None:
        if size not in SIZES:
            raise ValueError(f"size must be one of {SIZES}, got {size!r}")
        base = name[: -len("_small")] if name.endswith("_small") else name
        name = base if size == "full" else f"{base}_small"
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; available: {list_models()}")
    return _REGISTRY[name]


def get_config(name: str, size: str | None = None, source: str = "overrides", **overrides: Any) -> ModelConfig:
    """The typed config of a registered model with ``overrides`` applied (unknown keys -> ``ValueError``)."""
    entry = _entry(name, size)
    values = {**entry.preset, **overrides, "name": entry.name}
    return entry.config_cls.from_dict(values, source=source)


def create_model(name: str, size: str | None = None, **overrides: Any) -> nn.Module:
    """Build a registered model: ``create_model("conv_onet_grid", size="small", output="sdf")``."""
    cfg = get_config(name, size, **overrides)
    return create_model_from_config(cfg)


def config_from_dict(values: dict[str, Any], source: str = "config") -> ModelConfig:
    """The typed config described by a mapping with ``name`` (and optionally ``size``), e.g. a run file's ``model:``
    section or a checkpoint's ``model_config``. Unknown names or keys raise ``ValueError`` naming ``source``."""
    if not isinstance(values, dict):
        raise ValueError(f"{source}: the model config must be a mapping, got {type(values).__name__}")
    values = dict(values)
    name = values.pop("name", None)
    size = values.pop("size", None)
    if not name:
        raise ValueError(f"{source}: the model config needs a name, one of {list_models()}")
    return get_config(name, size, source=source, **values)


def create_model_from_config(cfg: ModelConfig | dict[str, Any], source: str = "config") -> nn.Module:
    """Build a model from a :class:`ModelConfig` or a dict with ``name`` (e.g. a checkpoint's ``model_config``)."""
    if not isinstance(cfg, ModelConfig):
        cfg = config_from_dict(cfg, source)
    entry = _entry(cfg.name)
    if not isinstance(cfg, entry.config_cls):
        raise TypeError(f"{cfg.name} needs a {entry.config_cls.__name__}, got {type(cfg).__name__}")
    return entry.builder(cfg)


def load_config(path: str | os.PathLike) -> ModelConfig:
    """Read a model config from YAML: the ``model:`` section of a run file, or a file that is just the model.

    A path that is not a file but names a run file shipped in the package (``conv_onet_grid_small`` or
    ``configs/conv_onet_grid_small.yaml``) reads that one. Unknown keys raise ``ValueError`` naming the key and the
    file; a missing file raises ``FileNotFoundError``.
    """
    path = Path(path)
    if not path.is_file():
        shipped = shipped_config(path)
        if shipped is None:
            raise FileNotFoundError(f"model config {path} not found (shipped: {', '.join(packaged_configs())})")
        path = shipped
    raw = read_yaml_mapping(path)
    return config_from_dict(raw.get("model", raw) if "model" in raw else raw, source=str(path))


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


# --- the built-in families ------------------------------------------------------------------------------------


def _build_occnet(cfg: OccNetConfig) -> nn.Module:
    from implicit3d.models.networks import OccupancyNetwork

    return OccupancyNetwork(cfg)


def _build_conv_onet(cfg: ConvONetPlanesConfig | ConvONetGridConfig) -> nn.Module:
    from implicit3d.models.networks import ConvolutionalOccupancyNetwork

    return ConvolutionalOccupancyNetwork(cfg)


def _build_ifnet(cfg: IFNetConfig) -> nn.Module:
    from implicit3d.models.networks import IFNet

    return IFNet(cfg)


SMALL_PRESETS: dict[str, dict[str, Any]] = {
    "occnet": dict(c_dim=128, encoder_hidden=128, decoder_hidden=128),
    "conv_onet_planes": dict(plane_resolution=32, unet_depth=3, unet_filters=16),
    "conv_onet_grid": dict(grid_resolution=16, unet_levels=3, unet_filters=16),
    "ifnet": dict(resolution=32, channels=(16, 32, 64, 64), decoder_hidden=128),
}

register_model("occnet", OccNetConfig)(_build_occnet)
register_model("occnet_small", OccNetConfig, **SMALL_PRESETS["occnet"])(_build_occnet)
register_model("conv_onet_planes", ConvONetPlanesConfig)(_build_conv_onet)
register_model("conv_onet_planes_small", ConvONetPlanesConfig, **SMALL_PRESETS["conv_onet_planes"])(_build_conv_onet)
register_model("conv_onet_grid", ConvONetGridConfig)(_build_conv_onet)
register_model("conv_onet_grid_small", ConvONetGridConfig, **SMALL_PRESETS["conv_onet_grid"])(_build_conv_onet)
register_model("ifnet", IFNetConfig)(_build_ifnet)
register_model("ifnet_small", IFNetConfig, **SMALL_PRESETS["ifnet"])(_build_ifnet)
