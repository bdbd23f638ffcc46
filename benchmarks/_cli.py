"""Argument types shared by the benchmark scripts: a bad value ends in one argparse line and exit 2, before any
work (``type=positive_int`` etc.)."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def int_at_least(lo: int) -> Callable[[str], int]:
    """An argparse type: an integer ``>= lo``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"must be >= {lo}, got {text}")
        return value

    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def positive_float(text: str) -> float:
    """An argparse type: a finite number ``> 0``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not (value > 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    import platform
    from pathlib import Path

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """One line for a benchmark's header: CPU model, CPU count and load average (timings on a shared machine)."""
    import os

    try:
        load = f", load average {os.getloadavg()[0]:.1f}"
    except OSError:  # pragma: no cover - not on every platform
        load = ""
    return f"machine: {cpu_model()}, {os.cpu_count()} CPUs{load}"
