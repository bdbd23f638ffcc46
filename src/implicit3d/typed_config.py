"""Coercion of loosely typed settings (YAML, JSON, command-line strings) to typed config dataclass fields."""

from __future__ import annotations

import typing
from typing import Any


def coerce(name: str, value: Any, hint: Any) -> Any:
    """``value`` (from YAML, JSON or a ``--set`` string) as the dataclass field type ``hint`` (bool, int, float,
    str, fixed or variadic tuples; other hints pass the value through). Raises ``ValueError`` naming ``name``."""
    origin = typing.get_origin(hint)
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
    except (TypeError, ValueError):
        raise ValueError(f"{name}: cannot read {value!r} as {_hint_name(hint)}") from None
    return value


def _hint_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint)
