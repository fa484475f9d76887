"""Errors that fitnas raises for bad input.

Every error a user can cause derives from :class:`FitnasError`. Its message is one line that
names the bad value and says what would be accepted; the command line prints it and exits with
code 2, never a traceback (DESIGN.md, convention 6).
"""

from __future__ import annotations

__all__ = ["ArchError", "FitnasError", "ModelSpecError", "ShapeError"]


class FitnasError(Exception):
    """Base class of every error caused by user input."""


class ArchError(FitnasError):
    """An architecture graph is malformed: unknown op, bad attribute, cycle, dangling input."""


class ShapeError(ArchError):
    """Shape inference found an impossible shape (the message names the node)."""


class ModelSpecError(FitnasError):
    """A MODEL argument (``torchvision:NAME``, ``file.py:FACTORY``, ``arch.json``) is unusable."""
