"""The op catalogue: every kind of node an :class:`~fitnas.arch.ArchGraph` may hold."""

from __future__ import annotations

from . import conv, elementwise, group, pool, structural
from ._base import Attrs, OpSpec, Shape, create_op, list_ops, numel, register_op

__all__ = [
    "Attrs",
    "OpSpec",
    "Shape",
    "conv",
    "create_op",
    "elementwise",
    "group",
    "list_ops",
    "numel",
    "pool",
    "register_op",
    "structural",
]
