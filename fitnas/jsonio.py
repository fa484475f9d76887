"""Reading JSON a user wrote (an ``arch.json``, an encoding, a memory plan, a profile's
measurements) without letting a malformed document escape as a Python error.

``json.loads`` raises ``RecursionError`` on a document nested a few thousand levels deep, and
the code that walks a parsed document can recurse too; :func:`loads` turns both into the
caller's one-line :class:`~fitnas.errors.FitnasError` and bounds the nesting depth and the size
of what it accepts (DESIGN.md, convention 6: bad input gets one line, never a traceback).
"""

from __future__ import annotations

import json
from typing import Any

from .errors import FitnasError

__all__ = ["MAX_JSON_BYTES", "MAX_JSON_DEPTH", "check_depth", "loads"]

#: The deepest nesting of lists and objects accepted (an ArchGraph needs 4).
MAX_JSON_DEPTH = 64
#: The largest document accepted, in characters (an ArchGraph of 100,000 nodes fits).
MAX_JSON_BYTES = 256 * 1024 * 1024


def loads(text: str | bytes, what: str, error: type[FitnasError] = FitnasError,
          max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The parsed ``text``, or ``error`` with one line naming ``what`` and the problem: not
    valid JSON, larger than :data:`MAX_JSON_BYTES` or nested deeper than ``max_depth``."""
    if len(text) > MAX_JSON_BYTES:
        raise error(f"{what} is {len(text):,} characters long; at most {MAX_JSON_BYTES:,} "
                    "are accepted")
    try:
        data = json.loads(text)
    except RecursionError:
        raise error(f"{what} is nested too deeply; at most {max_depth} levels of lists and "
                    "objects are accepted") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise error(f"{what} is not valid JSON: {err}") from None
    check_depth(data, what, error, max_depth)
    return data


def check_depth(data: Any, what: str, error: type[FitnasError] = FitnasError,
                max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise ``error`` when lists and dicts in ``data`` nest deeper than ``max_depth`` (walked
    without recursion, so any depth is safe to check)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > max_depth:
            raise error(f"{what} is nested {depth} levels deep; at most {max_depth} levels of "
                        "lists and objects are accepted")
        stack.extend((child, depth + 1) for child in children)
