"""implicit3d: learn implicit 3D shapes and complete objects from partial, noisy point clouds.

Each command lives in its own module ``implicit3d.commands.<name>`` exposing ``HELP``, ``DESCRIPTION``, ``EPILOG``
(examples), ``add_arguments(parser)`` and ``run(args) -> int``; commands parse arguments, call one library function
and print.
Errors the user can fix (bad files, bad arguments) are raised as :class:`implicit3d.errors.UserError`
and printed as one line with exit code 2 — never a bare traceback. So are the errors of the system around the
files: ``OSError`` (a read-only or full disk, a folder where a file should be...), ``MemoryError`` (a size too
large for the machine), ``RecursionError`` and ``OverflowError`` (absurdly nested or huge values in a file).
Warnings (odd but usable inputs, :func:`implicit3d.errors.warn_user`) are printed as one line each. Set
``IMPLICIT3D_TRACEBACK=1`` to see the full traceback of such errors instead.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import warnings
from typing import Any

from implicit3d import __version__
from implicit3d.errors import InputWarning, UserError, describe_os_error

# Order shown in --help. A command whose module is not present in this build is not offered.
COMMANDS = ("demo", "shapes", "prepare", "train", "generate", "evaluate", "complete", "scene", "visualize", "export")


def _command_modules() -> dict[str, object]:
    mods = {}
    for name in COMMANDS:
        modname = f"implicit3d.commands.{name}"
        if importlib.util.find_spec(modname) is not None:
            mods[name] = importlib.import_module(modname)
    return mods


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, object]]:
    parser = argparse.ArgumentParser(
        prog="implicit3d",
        description="Learn implicit 3D shape functions (occupancy, signed distance) and complete whole objects "
        "from partial, noisy point clouds. Run `implicit3d COMMAND --help` for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"implicit3d {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    mods = _command_modules()
    for name, mod in mods.items():
        p = sub.add_parser(name, help=mod.HELP, description=mod.DESCRIPTION, epilog=mod.EPILOG,  # type: ignore
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)  # type: ignore[attr-defined]
    return parser, mods


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _warning_printer(command: str) -> Any:
    """A ``warnings.showwarning`` that prints each distinct warning once, on one line."""
    seen: set[str] = set()

    def show(message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        text = _one_line(str(message))
        if not issubclass(category, InputWarning):
            text = f"{text} ({category.__name__})"
        if text in seen:
            return
        seen.add(text)
        print(f"implicit3d {command}: warning: {text}", file=sys.stderr)

    return show


def _error_message(exc: BaseException) -> str | None:
    """The one-line message for an error of the system around the files, or ``None`` for a bug (re-raised)."""
    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, OSError):
        return describe_os_error(exc)
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":  # numpy's / torch's too
        return ("out of memory: an input or a size setting (e.g. --resolution, --n-inputs, a size in a config or "
                "checkpoint) is too large for this machine")
    if isinstance(exc, RecursionError):
        return "an input file is nested too deeply to read (a malformed or hostile file?)"
    if isinstance(exc, OverflowError):
        return f"a number is too large: {exc}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser, mods = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # a usage error, as argparse's own (`--help` exits 0)
        parser.print_help(sys.stderr)
        print("\nimplicit3d: error: name a command (e.g. `implicit3d demo`)", file=sys.stderr)
        return 2
    with warnings.catch_warnings():
        warnings.simplefilter("always", InputWarning)
        warnings.showwarning = _warning_printer(args.command)
        try:
            return int(mods[args.command].run(args) or 0)  # type: ignore[attr-defined]
        except KeyboardInterrupt:
            print(f"implicit3d {args.command}: interrupted", file=sys.stderr)
            return 130
        except Exception as exc:  # noqa: BLE001 - only the kinds _error_message knows are turned into one line
            message = _error_message(exc)
            if message is None or os.environ.get("IMPLICIT3D_TRACEBACK"):
                raise
            print(f"implicit3d {args.command}: error: {_one_line(message)}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
