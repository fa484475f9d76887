"""The architecture IR: :class:`ArchGraph`, its nodes and the op catalogue (no torch here)."""

from __future__ import annotations

from .graph import INPUT, ArchGraph, Node, check_order
from .ops import OpSpec, Shape, create_op, list_ops

__all__ = ["INPUT", "ArchGraph", "Node", "OpSpec", "Shape", "check_order", "create_op", "list_ops"]
