"""Parsing of the limits and budgets a user types: sizes, counts, milliseconds, search budgets.

Sizes (``--max-peak-mem 256KB``) are bytes: a bare number is bytes, ``KB``/``MB``/``GB`` are
decimal (1000), ``KiB``/``MiB``/``GiB`` binary (1024), ``B`` is allowed, the unit is
case-insensitive and may follow a space, and the number may have decimals (``1.5MB``; the
byte count is rounded down). Counts (``--max-macs 300M``) take ``K``/``M``/``G`` (decimal).
Latencies take a number of milliseconds, with an optional ``ms`` or ``s``; energies microjoules
(``uJ``, ``mJ``, ``J``) and powers milliwatts (``mW``, ``W``). A search budget is a
number of trials (``50``), a wall time (``90s``, ``10m``, ``2h``, ``1h30m``) or both
(``50,10m``). Zero, negative and unparseable values raise :class:`LimitError`, one line that
names the value and what is accepted.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ..errors import FitnasError

__all__ = [
    "Budget",
    "LimitError",
    "parse_budget",
    "parse_count",
    "parse_microjoules",
    "parse_milliseconds",
    "parse_milliwatts",
    "parse_size",
]


class LimitError(FitnasError):
    """A limit or budget the user typed is zero, negative or not understood."""


_NUMBER = r"([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)"
_SIZE_UNITS = {
    "": 1, "b": 1,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}
_COUNT_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_TIME_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

_SIZE_HELP = ("a positive number of bytes, optionally with a unit: KB, MB, GB (decimal) or KiB, "
              "MiB, GiB (binary), e.g. 320KiB, 1.5MB, 250000")
_COUNT_HELP = "a positive count, optionally with K, M or G (decimal), e.g. 300M, 2.5G, 120000"
_MS_HELP = "a positive number of milliseconds, optionally with ms or s, e.g. 20, 20ms, 0.5s"
_UJ_HELP = "a positive energy in microjoules, optionally with uJ, mJ or J, e.g. 500, 500uJ, 2mJ"
_MW_HELP = "a positive power in milliwatts, optionally with mW or W, e.g. 150, 150mW, 0.5W"
_BUDGET_HELP = ("a number of trials (50), a wall time (90s, 10m, 2h, 1h30m) or both joined by a "
                "comma (50,10m)")


def _split(text: Any, units: dict[str, Any]) -> tuple[float, str] | None:
    if isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        return float(text), ""
    if not isinstance(text, str):
        return None
    match = re.fullmatch(_NUMBER + r"\s*([a-z]*)", text.strip().lower().replace("_", ""))
    if match is None or match.group(2) not in units:
        return None
    return float(match.group(1)), match.group(2)


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def parse_size(text: str | int | float, what: str = "size") -> int:
    """Bytes in ``text`` (see the module docstring); ``what`` names the value in errors."""
    parsed = _split(text, _SIZE_UNITS)
    if parsed is not None:
        value = math.floor(parsed[0] * _SIZE_UNITS[parsed[1]]) if _positive(parsed[0]) else 0
        if value > 0:
            return int(value)
    raise LimitError(f"bad {what} {text!r}: expected {_SIZE_HELP}")


def parse_count(text: str | int | float, what: str = "count") -> int:
    """A count (parameters, MACs) in ``text``, with ``K``/``M``/``G`` decimal multipliers."""
    parsed = _split(text, _COUNT_UNITS)
    if parsed is not None:
        value = math.floor(parsed[0] * _COUNT_UNITS[parsed[1]]) if _positive(parsed[0]) else 0
        if value > 0:
            return int(value)
    raise LimitError(f"bad {what} {text!r}: expected {_COUNT_HELP}")


def parse_milliseconds(text: str | int | float, what: str = "latency") -> float:
    """Milliseconds in ``text``: a number, ``20ms`` or ``0.5s``."""
    parsed = _split(text, {"": 1.0, "ms": 1.0, "s": 1000.0})
    if parsed is not None and _positive(parsed[0]):
        return parsed[0] * {"": 1.0, "ms": 1.0, "s": 1000.0}[parsed[1]]
    raise LimitError(f"bad {what} {text!r}: expected {_MS_HELP}")


def parse_microjoules(text: str | int | float, what: str = "energy") -> float:
    """Microjoules in ``text``: a number, ``500uJ``, ``2mJ`` or ``0.01J``."""
    units = {"": 1.0, "uj": 1.0, "mj": 1e3, "j": 1e6}
    parsed = _split(text, units)
    if parsed is not None and _positive(parsed[0]):
        return parsed[0] * units[parsed[1]]
    raise LimitError(f"bad {what} {text!r}: expected {_UJ_HELP}")


def parse_milliwatts(text: str | int | float, what: str = "power") -> float:
    """Milliwatts in ``text``: a number, ``150mW`` or ``0.5W``."""
    units = {"": 1.0, "mw": 1.0, "w": 1e3}
    parsed = _split(text, units)
    if parsed is not None and _positive(parsed[0]):
        return parsed[0] * units[parsed[1]]
    raise LimitError(f"bad {what} {text!r}: expected {_MW_HELP}")


@dataclass(frozen=True)
class Budget:
    """How long a search runs: at most ``trials`` trials and at most ``seconds`` of wall time
    (``None``: no bound of that kind; at least one of the two is set)."""

    trials: int | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.trials is None and self.seconds is None:
            raise LimitError(f"a budget needs trials or seconds; expected {_BUDGET_HELP}")
        if self.trials is not None and (isinstance(self.trials, bool) or self.trials <= 0):
            raise LimitError(f"bad budget trials {self.trials!r}: expected a positive integer")
        if self.seconds is not None and not _positive(float(self.seconds)):
            raise LimitError(f"bad budget seconds {self.seconds!r}: expected a positive number")

    def to_dict(self) -> dict[str, Any]:
        return {"trials": self.trials, "seconds": self.seconds}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Budget:
        return cls(trials=data.get("trials"), seconds=data.get("seconds"))

    def __str__(self) -> str:
        parts = []
        if self.trials is not None:
            parts.append(f"{self.trials} trials")
        if self.seconds is not None:
            parts.append(_format_duration(self.seconds))
        return " or ".join(parts)


def _format_duration(seconds: float) -> str:
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((h, "h"), (m, "m"), (s, "s")) if v) or f"{seconds:g}s"


def _parse_duration(part: str) -> float | None:
    """Seconds in ``90s``, ``10m``, ``2h``, ``1h30m``, ``1.5h``; None if not a duration."""
    pieces = re.findall(_NUMBER + r"([a-z])", part)
    if not pieces or "".join(n + u for n, u in pieces) != part:
        return None
    units = [u for _, u in pieces]
    if any(u not in _TIME_UNITS for u in units) or len(set(units)) != len(units):
        return None
    return sum(float(n) * _TIME_UNITS[u] for n, u in pieces)


def parse_budget(text: str | int) -> Budget:
    """A search budget: trials (``50``), wall time (``10m``, ``1h30m``) or both (``50,10m``)."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text > 0:
            return Budget(trials=text)
        raise LimitError(f"bad budget {text!r}: expected {_BUDGET_HELP}")
    raw = str(text).strip().lower().replace(" ", "")
    trials: int | None = None
    seconds: float | None = None
    parts = raw.split(",") if raw else []
    ok = 0 < len(parts) <= 2
    for part in parts if ok else ():
        if re.fullmatch(r"[0-9]+", part) and trials is None and int(part) > 0:
            trials = int(part)
            continue
        duration = _parse_duration(part)
        if duration is not None and seconds is None and _positive(duration):
            seconds = duration
            continue
        ok = False
    if not ok:
        raise LimitError(f"bad budget {text!r}: expected {_BUDGET_HELP}")
    return Budget(trials=trials, seconds=seconds)
