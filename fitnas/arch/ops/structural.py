"""Structural ops: identity, zero, concat, flatten, dropout, weights and opaque nodes.

``identity``, ``flatten`` and ``dropout`` (at inference) return their input's buffer: their output
is an alias, alive as long as any alias is read, and never a new allocation. ``zero`` (the
"none" op of cell search spaces) allocates a zero tensor, subsampled by ``stride``.
``parameter`` is a weight read by the graph (a traced ``get_attr``): it counts in the parameters,
not in the activations. ``opaque`` stands for an operation the catalogue does not know (found by
``trace.py``): its output shape was measured, it has no MACs, and the graph reports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...errors import ArchError
from ._base import Attrs, OpSpec, Shape, numel, register_op

__all__ = ["Concat", "Dropout", "Flatten", "Identity", "Opaque", "Parameter", "Zero"]


def _positive_shape(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, tuple) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value
    ):
        raise ArchError(f"{what} must be a list of non-negative ints, got {value!r}")
    return value


class Identity(OpSpec):
    name = "identity"
    summary = "the input itself (no copy)"
    alias = True

    def output_shape(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> Shape:
        return tuple(in_shapes[0])


class Dropout(OpSpec):
    name = "dropout"
    summary = "dropout (the input itself at inference)"
    defaults = {"p": 0.5}
    alias = True

    def check_attrs(self, attrs: dict[str, Any]) -> None:
        if not isinstance(attrs["p"], (int, float)) or not 0 <= attrs["p"] < 1:
            raise ArchError(f"dropout.p must be in [0, 1), got {attrs['p']!r}")

    def output_shape(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> Shape:
        return tuple(in_shapes[0])


class Flatten(OpSpec):
    name = "flatten"
    summary = "flatten dimensions from start_dim on (a view, no copy)"
    defaults = {"start_dim": 1}
    alias = True

    def output_shape(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> Shape:
        shape = in_shapes[0]
        start = attrs["start_dim"]
        if not isinstance(start, int) or not 1 <= start < len(shape):
            raise self.fail(f"start_dim {start!r} is not in 1..{len(shape) - 1} for shape {shape}")
        return (*shape[:start], numel(shape[start:]))


class Zero(OpSpec):
    name = "zero"
    summary = "zeros of the input's shape, subsampled by stride (the 'none' op of cells)"
    defaults = {"stride": 1}

    def check_attrs(self, attrs: dict[str, Any]) -> None:
        if not isinstance(attrs["stride"], int) or attrs["stride"] < 1:
            raise ArchError(f"zero.stride must be a positive int, got {attrs['stride']!r}")

    def output_shape(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> Shape:
        shape = in_shapes[0]
        s = attrs["stride"]
        if s == 1:
            return tuple(shape)
        if len(shape) != 4:
            raise self.fail(f"stride {s} needs a 4-D input, got shape {shape}")
        n, c, h, w = shape
        return (n, c, -(-h // s), -(-w // s))


class Concat(OpSpec):
    name = "concat"
    summary = "concatenation along a dimension (channels by default)"
    defaults = {"dim": 1}
    arity = (1, None)

    def output_shape(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> Shape:
        dim = attrs["dim"]
        first = in_shapes[0]
        if not isinstance(dim, int) or not 1 <= dim < len(first):
            raise self.fail(f"dim {dim!r} is not in 1..{len(first) - 1} for shape {first}")
        for shape in in_shapes[1:]:
            if len(shape) != len(first) or any(
                a != b for i, (a, b) in enumerate(zip(shape, first)) if i != dim
            ):
                raise self.fail(
                    f"inputs of shapes {[tuple(s) for s in in_shapes]} differ outside dim {dim}"
                )
        return (*first[:dim], sum(s[dim] for s in in_shapes), *first[dim + 1 :])


class Parameter(OpSpec):
    name = "parameter"
    summary = "a weight tensor read by the graph (counted as parameters, not activations)"
    defaults = {"shape": OpSpec.REQUIRED, "trainable": True}
    arity = (0, 0)
    activation = False

    def check_attrs(self, attrs: dict[str, Any]) -> None:
        _positive_shape(attrs["shape"], "parameter.shape")

    def output_shape(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> Shape:
        return tuple(attrs["shape"])

    def params(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> int:
        return numel(attrs["shape"]) if attrs["trainable"] else 0


class Opaque(OpSpec):
    name = "opaque"
    summary = "an operation the catalogue does not know, with its measured output shape"
    defaults = {"target": OpSpec.REQUIRED, "out_shape": OpSpec.REQUIRED, "params": 0}
    arity = (0, None)

    def check_attrs(self, attrs: dict[str, Any]) -> None:
        _positive_shape(attrs["out_shape"], "opaque.out_shape")
        if not isinstance(attrs["params"], int) or attrs["params"] < 0:
            raise ArchError(f"opaque.params must be a non-negative int, got {attrs['params']!r}")

    def output_shape(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> Shape:
        return tuple(attrs["out_shape"])

    def params(self, attrs: Attrs, in_shapes: Sequence[Shape]) -> int:
        return int(attrs["params"])


for _spec in (Identity, Dropout, Flatten, Zero, Concat, Parameter, Opaque):
    register_op(_spec)
