"""Element-wise ops: activations, batch norm, add and mul.

Activations, add and mul may run in place: their output can overwrite an input buffer of the
output's shape when nothing later reads that input (paper 000 section 3.4 counts a tensor alive
only until its last consumer; in-place reuse is the same rule applied to the op's own output).
Batch norm is not run in place (PyTorch's inference kernel allocates its output).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...errors import ArchError
from ._base import Attrs, OpSpec, Shape, register_op

__all__ = ["Add", "BatchNorm", "Mul", "broadcast_shapes"]


def broadcast_shapes(spec: OpSpec, shapes: Sequence[Shape]) -> Shape:
    """NumPy broadcasting of several shapes; a clear error when they do not broadcast."""
    rank = max(len(s) for s in shapes)
    out = []
    for axis in range(rank):
        sizes = {s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0}
        sizes.discard(1)
        if len(sizes) > 1:
            raise spec.fail(f"input shapes {[tuple(s) for s in shapes]} do not broadcast")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


class _Activation(OpSpec):
    inplace = True

    def output_shape(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> Shape:
        return tuple(in_shapes[0])


def _activation(op_name: str, text: str) -> type[OpSpec]:
    cls: type[OpSpec] = type(op_name.title(), (_Activation,), {"name": op_name, "summary": text})
    return cls


ACTIVATIONS: tuple[type[OpSpec], ...] = tuple(
    _activation(n, t)
    for n, t in (
        ("relu", "ReLU"),
        ("relu6", "ReLU6 (clamped to [0, 6])"),
        ("hardswish", "hard swish"),
        ("hardsigmoid", "hard sigmoid"),
        ("sigmoid", "logistic sigmoid"),
        ("silu", "SiLU / swish"),
        ("tanh", "hyperbolic tangent"),
    )
)


class BatchNorm(OpSpec):
    name = "batchnorm"
    summary = "batch normalization over channels (dimension 1)"
    defaults = {"eps": 1e-5, "momentum": 0.1, "affine": True}

    def check_attrs(self, attrs: dict[str, Any]) -> None:
        if not isinstance(attrs["affine"], bool):
            raise ArchError("batchnorm.affine must be true or false")
        if not isinstance(attrs["eps"], (int, float)) or attrs["eps"] <= 0:
            raise ArchError(f"batchnorm.eps must be a positive number, got {attrs['eps']!r}")

    def output_shape(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> Shape:
        shape = in_shapes[0]
        if len(shape) not in (2, 4):
            raise self.fail(f"needs a 2-D or 4-D input, got shape {shape}")
        return tuple(shape)

    def params(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> int:
        return 2 * in_shapes[0][1] if attrs["affine"] else 0


class _Binary(OpSpec):
    arity = (2, None)
    inplace = True
    commutative = True

    def output_shape(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> Shape:
        return broadcast_shapes(self, in_shapes)


class Add(_Binary):
    name = "add"
    summary = "element-wise sum of two or more inputs (broadcasting)"


class Mul(_Binary):
    name = "mul"
    summary = "element-wise product of two or more inputs (broadcasting)"


_SPECS: tuple[type[OpSpec], ...] = (*ACTIVATIONS, BatchNorm, Add, Mul)
for _spec in _SPECS:
    register_op(_spec)
