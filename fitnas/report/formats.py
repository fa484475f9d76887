"""How an accuracy is printed: percent with two decimals (``0.9725`` -> ``"97.25%"``).

One form everywhere a person reads an accuracy (``fitnas search``'s progress bar and final
lines, ``fitnas train``, ``fitnas ensemble``, the HTML report); JSON and CSV files keep
fractions in 0..1.
"""

from __future__ import annotations

__all__ = ["format_accuracy"]


def format_accuracy(value: float | None, missing: str = "-") -> str:
    """``value`` (a fraction in 0..1) as percent with two decimals; ``missing`` for ``None``."""
    if value is None:
        return missing
    return f"{100.0 * float(value):.2f}%"
