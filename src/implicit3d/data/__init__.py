"""Datasets: mesh sources, the on-disk layout, the `prepare` build and the torch dataset.

Attributes are imported lazily so that `prepare` worker processes do not pay for importing torch.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "ImplicitDataset": "implicit3d.data.dataset",
    "PrepareConfig": "implicit3d.data.prepare",
    "resolve_source": "implicit3d.data.sources",
    "load_mesh": "implicit3d.data.sources",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'implicit3d.data' has no attribute {name!r}")
