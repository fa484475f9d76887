"""Errors that fitnas raises for bad input.

Every error a user can cause derives from :class:`FitnasError`. Its message is one line that
names the bad value and says what would be accepted; the command line prints it and exits with
code 2, never a traceback (DESIGN.md, convention 6).
"""

from __future__ import annotations

__all__ = ["ArchError", "FitnasError", "ModelSpecError", "ShapeError", "failure_reason"]


class FitnasError(Exception):
    """Base class of every error caused by user input."""


class ArchError(FitnasError):
    """An architecture graph is malformed: unknown op, bad attribute, cycle, dangling input."""


class ShapeError(ArchError):
    """Shape inference found an impossible shape (the message names the node)."""


class ModelSpecError(FitnasError):
    """A MODEL argument (``torchvision:NAME``, ``file.py:FACTORY``, ``arch.json``) is unusable."""


_OOM_TEXTS = ("out of memory", "can't allocate memory", "cannot allocate memory")


def failure_reason(err: BaseException) -> str:
    """One line saying why a candidate failed; out-of-memory errors say so first."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError" or any(
            t in text.lower() for t in _OOM_TEXTS):
        return f"out of memory: {text or type(err).__name__}"[:500]
    return f"{type(err).__name__}: {text}"[:500]
