"""The ``fitnas`` command.

Each sub-command lives in its own module of this package with a ``register(subparsers)``
function that adds its parser and sets ``handler``; add a module name to ``COMMANDS`` to add a
command. A :class:`~fitnas.errors.FitnasError` (bad user input) becomes one line on stderr and
exit code 2, never a traceback; so does a usage error. SIGINT and SIGTERM end a command with
one line and exit code 130 and 143 (128 + the signal); a search first stops cleanly
(``fitnas.interrupt``).
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any, NoReturn

from .. import __version__
from ..errors import FitnasError

__all__ = ["COMMANDS", "main"]

#: Modules of ``fitnas.cli`` that define sub-commands, in the order ``--help`` lists them
#: (``search`` also defines ``resume``; ``report`` also defines ``export``).
COMMANDS = ["estimate", "spaces", "train", "datasets", "devices", "calibrate", "search", "report",
            "bench", "ensemble", "lug"]


class _DefaultsFormatter(argparse.HelpFormatter):
    """Help that shows each option's default, ``(default: X)``, unless there is none (``None``,
    ``False``, or a flag whose help already says it)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (default is None or default is False or default is argparse.SUPPRESS
                or isinstance(action, argparse._HelpAction) or "default" in text
                or not action.option_strings):
            return text
        return f"{text} (default: {default})" if text else f"(default: {default})"


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)

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
        args, unknown = parser.parse_known_args(argv)
    except SystemExit as done:  # usage errors (one line, code 2), --help and --version (0)
        return int(done.code or 0)
    if unknown:  # named with the sub-command (argparse would say only "fitnas")
        where = f"fitnas {args.command}" if args.command else "fitnas"
        print(f"{where}: error: unrecognized arguments: {' '.join(unknown)} (see `{where} "
              "--help`)", file=sys.stderr)
        return 2
    if args.command is None:
        parser.print_help()
        return 2
    # the words given (``search --resume`` tells a flag given from a default with them)
    args._argv = list(argv) if argv is not None else sys.argv[1:]
    sigterm = _stop_on_sigterm()
    try:
        return int(args.handler(args) or 0)
    except FitnasError as err:
        print(f"fitnas {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:  # SIGINT, or SIGTERM (Stopped): one line, 128 + signal
        print(f"fitnas {args.command}: interrupted by {getattr(err, 'signame', 'SIGINT')}",
              file=sys.stderr)
        return int(getattr(err, "exit_code", 130))
    except BrokenPipeError:  # e.g. `fitnas estimate ... --json | head`
        sys.stderr.close()
        return 0
    finally:
        if sigterm is not None:
            signal.signal(signal.SIGTERM, sigterm)


def _stop_on_sigterm() -> Any:
    """Make SIGTERM raise ``Stopped`` (a ``KeyboardInterrupt``) while a command runs, so it
    ends as Ctrl-C does: one line, exit code 143, no traceback (a search stops cleanly, see
    ``fitnas.interrupt``). Returns the handler to restore (``None``: left alone, as a
    handler the embedding program set is)."""
    from ..interrupt import raise_stopped

    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return None
    return signal.signal(signal.SIGTERM, raise_stopped)
