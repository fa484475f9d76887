"""fitnas: find the most accurate neural network that fits a device."""

from __future__ import annotations

from .arch import ArchGraph, Node
from .errors import FitnasError

__all__ = ["ArchGraph", "FitnasError", "Node", "__version__"]

__version__ = "0.1.0"
