"""Parsing and formatting of the quantities a user types and reads: shapes, byte sizes, counts."""

from __future__ import annotations

from .errors import FitnasError

__all__ = ["format_bytes", "format_count", "parse_shape"]


def parse_shape(text: str) -> tuple[int, ...]:
    """Parse ``"1x3x224x224"`` (also ``,`` or space separated) into a tuple of positive ints."""
    raw = text.strip().lower().replace(",", "x").replace(" ", "x").replace("*", "x")
    parts = [p for p in raw.split("x") if p != ""]
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        dims = ()
    if len(dims) < 2 or any(d <= 0 for d in dims):
        raise FitnasError(
            f"bad input shape {text!r}: expected positive integers joined by 'x' with the batch "
            "first, e.g. 1x3x224x224 (images) or 1x64 (vectors)"
        )
    return dims


def format_bytes(n: int) -> str:
    """Human form of a byte count in binary units (KiB, MiB, GiB), exact below 1 KiB."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024.0
        if value < 1024.0 or unit == "TiB":
            return f"{value:.2f} {unit}"
    raise AssertionError("unreachable")


def format_count(n: float) -> str:
    """Human form of a count (parameters, MACs) with K, M and G (decimal); a float count (an
    expected cost) below 1000 is rounded to 3 significant digits."""
    if n < 1000:
        return str(int(n)) if n == int(n) else f"{n:.3g}"
    value = float(n)
    for unit in ("K", "M", "G", "T"):
        value /= 1000.0
        if value < 1000.0 or unit == "T":
            return f"{value:.2f}{unit}"
    raise AssertionError("unreachable")
