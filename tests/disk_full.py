"""A full disk, simulated for tests (they run as root, where permissions stop nothing)."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import Any


class FullDiskFile:
    """Wraps an open file: every ``write`` fails with ``ENOSPC``; everything else is the file's."""

    def __init__(self, fh: Any) -> None:
        self.fh = fh

    def __enter__(self) -> FullDiskFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.fh.close()

    def write(self, data: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fh, name)


def full_disk_fdopen() -> Callable[..., FullDiskFile]:
    """A replacement for ``os.fdopen`` whose files cannot be written (monkeypatch ``fileio.os.fdopen`` with it)."""
    real = os.fdopen
    return lambda fd, *a, **k: FullDiskFile(real(fd, *a, **k))
