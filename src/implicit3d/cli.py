"""implicit3d: learn implicit 3D shapes and complete objects from partial, noisy point clouds.

Each command lives in its own module ``implicit3d.commands.<name>`` exposing ``HELP``, ``DESCRIPTION``, ``EPILOG``
(examples), ``add_arguments(parser)`` and ``run(args) -> int``; commands parse arguments, call one library function
and print.
Errors the user can fix (bad files, bad arguments) are raised as :class:`implicit3d.errors.UserError`
and printed as one line with exit code 2 — never a bare traceback.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from implicit3d import __version__
from implicit3d.errors import UserError

# Order shown in --help. A command whose module is not present in this build is not offered.
COMMANDS = ("demo", "shapes", "prepare", "train", "generate", "evaluate", "complete", "visualize", "export")


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


def main(argv: list[str] | None = None) -> int:
    parser, mods = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(mods[args.command].run(args) or 0)  # type: ignore[attr-defined]
    except UserError as exc:
        print(f"implicit3d {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"implicit3d {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
