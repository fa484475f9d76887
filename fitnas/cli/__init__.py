"""The ``fitnas`` command.

Each sub-command lives in its own module of this package with a ``register(subparsers)``
function that adds its parser and sets ``handler``; add a module name to ``COMMANDS`` to add a
command. A :class:`~fitnas.errors.FitnasError` (bad user input) becomes one line on stderr and
exit code 2, never a traceback; so does a usage error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from .. import __version__
from ..errors import FitnasError

__all__ = ["COMMANDS", "main"]

#: Modules of ``fitnas.cli`` that define sub-commands, in the order ``--help`` lists them
#: (``search`` also defines ``resume``; ``report`` also defines ``export``).
COMMANDS = ["estimate", "spaces", "train", "datasets", "devices", "calibrate", "search", "report",
            "bench", "ensemble"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fitnas", description="Find the most accurate network that fits a device.")
    parser.add_argument("--version", action="version", version=f"fitnas {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # usage errors (one line, code 2), --help and --version (0)
        return int(done.code or 0)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except FitnasError as err:
        print(f"fitnas {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fitnas: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `fitnas estimate ... --json | head`
        sys.stderr.close()
        return 0
