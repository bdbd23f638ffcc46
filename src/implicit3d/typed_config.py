"""Typed config dataclasses read from loosely typed settings (YAML, JSON, ``--set`` strings): one coercion, one
``from_dict``, one ``to_dict`` and one YAML reader for every config of the project (model, data, train, input
contract)."""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


def coerce(name: str, value: Any, hint: Any) -> Any:
    """``value`` (from YAML, JSON or a ``--set`` string) as the dataclass field type ``hint`` (bool, int, float,
    str, fixed or variadic tuples, ``X | None``; other hints pass the value through). Raises ``ValueError`` naming
    ``name``."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null")):
            return None
        return coerce(name, value, args[0]) if len(args) == 1 else value
    try:
        if hint is bool:
            if isinstance(value, str):
                low = value.strip().lower()
                if low in ("true", "yes", "on", "1"):
                    return True
                if low in ("false", "no", "off", "0"):
                    return False
                raise ValueError(value)
            if not isinstance(value, (bool, int)):
                raise ValueError(value)
            return bool(value)
        if hint is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if hint is float:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if hint is str:
            if not isinstance(value, str):
                raise ValueError(value)
            return value
        if origin is tuple:
            if isinstance(value, str):
                value = [value]
            items = list(value)
            args = typing.get_args(hint)
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(coerce(name, v, args[0]) for v in items)
            if len(items) != len(args):
                raise ValueError(value)
            return tuple(coerce(name, v, a) for v, a in zip(items, args, strict=True))
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name}: cannot read {value!r} as {_hint_name(hint)}") from None
    return value


def _hint_name(hint: Any) -> str:
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple and args:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_hint_name(args[0])}"
        return f"a list of {len(args)} values ({', '.join(_hint_name(a) for a in args)})"
    return getattr(hint, "__name__", None) or str(hint)


def field_names(cls: type) -> list[str]:
    """Names of a config dataclass's fields, in declaration order."""
    return [f.name for f in dataclasses.fields(cls)]


def from_dict(cls: type[T], values: Any, section: str, source: str | None = None) -> T:
    """``cls(**values)`` with every value coerced to its field's type.

    ``section`` names the settings in messages (``"train"`` -> ``train.lr: cannot read 'x' as float``), ``source``
    where they come from (a file). A mapping that is not a dict, or unknown keys, raise ``ValueError`` naming both
    and the valid keys; the dataclass's own ``__post_init__`` validation runs as usual.
    """
    where = f"{source}: " if source else ""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ValueError(f"{where}{section} settings must be a mapping, got {type(values).__name__}")
    known = field_names(cls)
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"{where}unknown {section} setting(s) {unknown}; valid keys: {known}")
    hints = typing.get_type_hints(cls)
    kwargs = {key: coerce(f"{where}{section}.{key}", value, hints[key]) for key, value in values.items()}
    return cls(**kwargs)


def describe_changes(old: dict[str, Any], new: dict[str, Any]) -> str:
    """``"key old -> new, ..."`` for the keys whose values differ between two settings mappings (sorted)."""
    diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return ", ".join(f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in diff)


def to_dict(obj: Any) -> dict[str, Any]:
    """A config dataclass as a JSON/YAML-able dict (tuples become lists, nested configs dicts)."""
    out = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            value = to_dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def read_yaml_mapping(path: str | os.PathLike) -> dict[str, Any]:
    """The top-level mapping of a YAML file. Raises ``ValueError`` naming the file when it is unreadable, not YAML
    or not a mapping (an empty file is an empty mapping)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the file ({exc})") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {exc}") from None
    except RecursionError:
        raise ValueError(f"{path} is not valid YAML: nested too deeply") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping, got {type(raw).__name__}")
    return raw


def packaged_configs() -> dict[str, Path]:
    """The run files shipped in the package (``implicit3d/configs/*.yaml``), by name without extension."""
    folder = Path(__file__).resolve().parent / "configs"
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def shipped_config(path: str | os.PathLike) -> Path | None:
    """The packaged run file that ``path`` names when it is not a file itself: ``conv_onet_grid_small`` or
    ``configs/conv_onet_grid_small.yaml`` (the docs' spelling, from a checkout) after a plain ``pip install``;
    ``None`` when it names none."""
    p = Path(path)
    stem = p.name[: -len(".yaml")] if p.name.endswith(".yaml") else p.name
    shipped = packaged_configs()
    if stem in shipped and p.parent in (Path("."), Path("configs")):  # not a mistyped path into another folder
        return shipped[stem]
    return None
