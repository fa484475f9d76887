"""DARTS' genotype text, read without ``eval`` and written as DARTS prints it.

DARTS (Liu et al. 2019, ``genotypes.py``) writes a derived network as the repr of a namedtuple,
``Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], reduce=[...],
reduce_concat=range(2, 6))``. :func:`parse_genotype` reads that form with a small tokenizer and
a recursive-descent parser over the few things it holds: the fields by keyword (or all four by
position, the namedtuple's order), lists and tuples, quoted strings, ints and ``range(a, b)``.
It returns the fields as a dict, for ``DartsSpace.from_data`` to check; anything else is one
:class:`InvalidEncoding` naming the position.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ._base import InvalidEncoding

__all__ = ["CONCAT", "FIELDS", "format_genotype", "parse_genotype", "short"]

#: The nodes a DARTS cell concatenates (its 4 intermediate nodes).
CONCAT = [2, 3, 4, 5]
#: The namedtuple's fields, in order.
FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")
_TOKEN = re.compile(r"""\s*(?:(?P<name>[A-Za-z_][A-Za-z_0-9]*)|(?P<int>[+-]?[0-9]+)"""
                    r"""|(?P<str>'[^'\\\n]*'|"[^"\\\n]*")|(?P<punct>[()\[\],=]))""")
_DEPTH = 4
_RANGE = 64


def short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` on one line, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_genotype(normal: Sequence[tuple[str, int]], reduce: Sequence[tuple[str, int]]) -> str:
    """DARTS' text of a genotype (its ``repr`` with the concat as lists)."""
    def pairs(cell: Sequence[tuple[str, int]]) -> str:
        return ", ".join(f"('{op}', {source})" for op, source in cell)

    return (f"Genotype(normal=[{pairs(normal)}], normal_concat={CONCAT}, "
            f"reduce=[{pairs(reduce)}], reduce_concat={CONCAT})")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []  # (kind, text, position)
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                if not text[pos:].strip():
                    break
                at = pos + len(text[pos:]) - len(text[pos:].lstrip())
                raise self.fail(f"unexpected character {text[at]!r}", at)
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind), m.start(kind)))
            pos = m.end()
        self.k = 0

    def fail(self, what: str, at: int | None = None) -> InvalidEncoding:
        if at is None:
            at = self.tokens[self.k][2] if self.k < len(self.tokens) else len(self.text)
        return InvalidEncoding(f"bad DARTS Genotype text at character {at}: {what}; expected "
                               f"e.g. Genotype(normal=[('sep_conv_3x3', 0), ...], "
                               f"normal_concat=[2, 3, 4, 5], reduce=[...], "
                               f"reduce_concat=[2, 3, 4, 5])")

    def peek(self) -> tuple[str, str]:
        if self.k < len(self.tokens):
            kind, text, _ = self.tokens[self.k]
            return kind, text
        return "end", ""

    def expect(self, text: str) -> None:
        if self.peek()[1] != text or self.peek()[0] == "str":
            found = self.peek()[1] or "the end"
            raise self.fail(f"expected {text!r}, found {found!r}")
        self.k += 1

    def value(self, depth: int) -> Any:
        if depth > _DEPTH:
            raise self.fail("values nested too deep")
        kind, text = self.peek()
        if kind == "str":
            self.k += 1
            return text[1:-1]
        if kind == "int":
            self.k += 1
            return int(text)
        if kind == "name" and text == "range":
            self.k += 1
            self.expect("(")
            low, high = self.value(depth + 1), None
            self.expect(",")
            high = self.value(depth + 1)
            self.expect(")")
            if not (isinstance(low, int) and isinstance(high, int)) or abs(high - low) > _RANGE:
                raise self.fail(f"range({low!r}, {high!r}) must have two small ints")
            return list(range(low, high))
        if text in ("[", "(") and kind == "punct":
            close = "]" if text == "[" else ")"
            self.k += 1
            items = []
            while self.peek() != ("punct", close):
                items.append(self.value(depth + 1))
                if self.peek() != ("punct", close):
                    self.expect(",")
            self.k += 1
            return items if close == "]" else tuple(items)
        raise self.fail(f"unexpected {text or 'end'!r}")

    def genotype(self) -> dict[str, Any]:
        if self.peek() != ("name", "Genotype"):
            raise self.fail("the text must start with Genotype(")
        self.k += 1
        self.expect("(")
        fields: dict[str, Any] = {}
        position = 0
        while self.peek() != ("punct", ")"):
            kind, text = self.peek()
            if kind == "name" and self.k + 1 < len(self.tokens) and self.tokens[self.k + 1][1] == "=":
                if text not in FIELDS:
                    raise self.fail(f"unknown field {text!r}; Genotype has {', '.join(FIELDS)}")
                if text in fields:
                    raise self.fail(f"field {text!r} given twice")
                self.k += 2
                fields[text] = self.value(1)
                position = len(FIELDS)  # no positional value after a keyword
            else:
                if position >= len(FIELDS):
                    raise self.fail("a value without a field name")
                fields[FIELDS[position]] = self.value(1)
                position += 1
            if self.peek() != ("punct", ")"):
                self.expect(",")
        self.k += 1
        if self.k != len(self.tokens):
            raise self.fail(f"text after the Genotype: {self.tokens[self.k][1]!r}")
        missing = [f for f in ("normal", "reduce") if f not in fields]
        if missing:
            raise self.fail(f"no {missing[0]} field")
        return fields


def parse_genotype(text: str) -> dict[str, Any]:
    """The fields of DARTS' ``Genotype(...)`` text (``range`` as a list); :class:
    `InvalidEncoding` naming the position of what is wrong."""
    return _Parser(text).genotype()
