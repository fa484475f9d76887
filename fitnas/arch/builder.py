"""Build a ``torch.nn.Module`` from an :class:`ArchGraph` (the only place that does).

:class:`ArchModule` runs the graph's nodes one at a time, in the graph's order or in an order
given to it, and drops each tensor right after its last reader, so the memory it holds is the
memory the lifetime model (``fitnas.costs.lifetime``) counts. When gradients are off (inference)
it also follows the lifetime plan's in-place decisions: an activation, add or mul overwrites the
input buffer the plan chose. With gradients on (training) every op allocates its output, since
autograd may need the overwritten values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ArchError
from .buffers import BufferPlan, plan_buffers
from .graph import INPUT, ArchGraph
from .ops import Attrs, Shape, create_op

__all__ = ["ArchModule", "build"]


class _Fn(nn.Module):
    """A parameter-free op: ``fn(*xs)`` out of place, ``fn_(*xs, operand)`` in place."""

    def __init__(self, fn: Callable[..., Tensor], fn_: Callable[..., Tensor] | None = None):
        super().__init__()
        self.fn = fn
        self.fn_ = fn_

    def forward(self, *xs: Tensor) -> Tensor:
        return self.fn(*xs)

    def forward_inplace(self, *xs: Tensor, operand: int) -> Tensor:
        assert self.fn_ is not None
        return self.fn_(*xs, operand=operand)


class _FacConv(nn.Sequential):
    pass


class _Weight(nn.Module):
    def __init__(self, shape: Shape, trainable: bool):
        super().__init__()
        tensor = torch.randn(shape) * 0.02
        if trainable:
            self.weight = nn.Parameter(tensor)
        else:
            self.register_buffer("weight", tensor)

    def forward(self) -> Tensor:
        return self.weight


def _unary_inplace(fn_: Callable[[Tensor], Tensor]) -> Callable[..., Tensor]:
    def run(x: Tensor, operand: int) -> Tensor:
        return fn_(x)

    return run


def _reduce(fn: Callable[[Tensor, Tensor], Tensor], fn_: str) -> tuple[Callable[..., Tensor],
                                                                         Callable[..., Tensor]]:
    """Out of place: one new tensor, then accumulate into it; in place: into ``xs[operand]``."""

    def out_of_place(*xs: Tensor) -> Tensor:
        acc = fn(xs[0], xs[1])
        for x in xs[2:]:
            acc = getattr(acc, fn_)(x) if not torch.is_grad_enabled() else fn(acc, x)
        return acc

    def in_place(*xs: Tensor, operand: int) -> Tensor:
        acc = xs[operand]
        for k, x in enumerate(xs):
            if k != operand:
                acc = getattr(acc, fn_)(x)
        return acc

    return out_of_place, in_place


_ADD = _reduce(torch.add, "add_")
_MUL = _reduce(torch.mul, "mul_")

_ACTIVATIONS: dict[str, tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]] = {
    "relu": (torch.relu, torch.relu_),
    "relu6": (lambda x: F.hardtanh(x, 0.0, 6.0), lambda x: F.hardtanh_(x, 0.0, 6.0)),
    "hardswish": (F.hardswish, lambda x: F.hardswish(x, inplace=True)),
    "hardsigmoid": (F.hardsigmoid, lambda x: F.hardsigmoid(x, inplace=True)),
    "sigmoid": (torch.sigmoid, torch.sigmoid_),
    "silu": (F.silu, lambda x: F.silu(x, inplace=True)),
    "tanh": (torch.tanh, torch.tanh_),
}


def _conv(attrs: Attrs, c_in: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, attrs["out_channels"], attrs["kernel"], attrs["stride"],
                     attrs["padding"], attrs["dilation"], attrs["groups"], attrs["bias"])


def _zero(stride: int) -> Callable[[Tensor], Tensor]:
    if stride == 1:
        return lambda x: x.mul(0.0)
    return lambda x: x[:, :, ::stride, ::stride].mul(0.0)


def _make(op: str, attrs: Attrs, in_shapes: Sequence[Shape]) -> nn.Module:
    """The module of one node."""
    spec = create_op(op)
    if op in _ACTIVATIONS:
        fn, fn_ = _ACTIVATIONS[op]
        return _Fn(fn, _unary_inplace(fn_))
    if op == "conv2d":
        return _conv(attrs, in_shapes[0][1])
    if op in ("dwconv", "pwconv"):
        conv_attrs = spec.as_conv(attrs, in_shapes) if op == "dwconv" else spec.as_conv(attrs)  # type: ignore[attr-defined]
        return _conv(conv_attrs, in_shapes[0][1])
    if op == "fac_conv":
        first, second = spec.stages(attrs)  # type: ignore[attr-defined]
        return _FacConv(_conv(first, in_shapes[0][1]), _conv(second, attrs["out_channels"]))
    if op == "linear":
        return nn.Linear(in_shapes[0][-1], attrs["out_features"], attrs["bias"])
    if op == "batchnorm":
        cls = nn.BatchNorm2d if len(in_shapes[0]) == 4 else nn.BatchNorm1d
        return cls(in_shapes[0][1], attrs["eps"], attrs["momentum"], attrs["affine"])
    if op == "maxpool":
        return nn.MaxPool2d(attrs["kernel"], attrs["stride"], attrs["padding"], attrs["dilation"],
                            ceil_mode=attrs["ceil_mode"])
    if op == "avgpool":
        return nn.AvgPool2d(attrs["kernel"], attrs["stride"], attrs["padding"], attrs["ceil_mode"],
                            attrs["count_include_pad"])
    if op == "global_avgpool":
        keepdim = attrs["keepdim"]
        return _Fn(lambda x: x.mean((2, 3), keepdim=keepdim))
    if op == "adaptive_avgpool":
        return nn.AdaptiveAvgPool2d(attrs["output_size"])
    if op == "identity":
        return _Fn(lambda x: x)
    if op == "dropout":
        return _Dropout(attrs["p"])
    if op == "flatten":
        start = attrs["start_dim"]
        return _Fn(lambda x: x.flatten(start))
    if op == "zero":
        return _Fn(_zero(attrs["stride"]))
    if op == "concat":
        dim = attrs["dim"]
        return _Fn(lambda *xs: torch.cat(xs, dim))
    if op == "add":
        return _Fn(*_ADD)
    if op == "mul":
        return _Fn(*_MUL)
    if op == "parameter":
        return _Weight(tuple(attrs["shape"]), attrs["trainable"])
    raise ArchError(f"the builder cannot make op {op!r}")


class _Dropout(nn.Module):
    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, True) if self.training and self.p > 0 else x


def _module_key(index: int, name: str) -> str:
    safe = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return f"n{index}_{safe}"[:64]


class ArchModule(nn.Module):
    """The ``nn.Module`` of an :class:`ArchGraph`; ``forward`` runs the nodes in ``order``."""

    def __init__(self, graph: ArchGraph, order: Sequence[str] | None = None):
        super().__init__()
        if graph.opaque_nodes:
            raise ArchError(
                f"cannot build a module: {len(graph.opaque_nodes)} node(s) have ops the catalogue "
                f"does not know (e.g. {graph.opaque_nodes[0]!r})"
            )
        self.graph = graph
        self._keys = {n.name: _module_key(k, n.name) for k, n in enumerate(graph.nodes)}
        self.layers = nn.ModuleDict(
            {self._keys[n.name]: _make(n.op, n.attrs, graph.input_shapes(n.name))
             for n in graph.nodes}
        )
        self._plans: dict[tuple[tuple[str, ...], bool], BufferPlan] = {}
        self.order: tuple[str, ...] = graph.order
        if order is not None:
            self.set_order(order)

    def set_order(self, order: Sequence[str]) -> None:
        """Run the nodes in ``order`` (a topological order) from now on."""
        self.plan(order)
        self.order = tuple(order)

    def plan(self, order: Sequence[str] | None = None, inplace: bool = True) -> BufferPlan:
        """The buffer plan (cached) for ``order``; see ``fitnas.costs.lifetime``."""
        key = (tuple(order) if order is not None else self.order, inplace)
        if key not in self._plans:
            self._plans[key] = plan_buffers(self.graph, key[0], inplace)
        return self._plans[key]

    def layer(self, name: str) -> nn.Module:
        """The module of node ``name``."""
        return self.layers[self._keys[name]]

    def load_weights(self, source: nn.Module, source_paths: dict[str, str]) -> None:
        """Copy weights from the model a graph was traced from (``TraceResult.source_paths``)."""
        for name, path in source_paths.items():
            layer = self.layer(name)
            original = source.get_submodule(path) if not isinstance(layer, _Weight) else None
            if original is not None:
                layer.load_state_dict(original.state_dict())
            else:
                owner, _, attr = path.rpartition(".")
                value = getattr(source.get_submodule(owner) if owner else source, attr)
                weight = layer.weight
                assert isinstance(weight, Tensor)
                with torch.no_grad():
                    weight.copy_(value)

    def forward(self, x: Tensor) -> Any:
        return self.execute([x])

    def execute(
        self,
        holder: list[Tensor],
        order: Sequence[str] | None = None,
        inplace: bool = True,
        on_step: Callable[[int], None] | None = None,
    ) -> Any:
        """Run the graph on ``holder[0]``, which is taken out of the list (so the caller can
        let the input be freed after its last reader). ``on_step(k)`` is called before step
        ``k`` (0 is the input) and once more with the number of steps at the end."""
        plan = self.plan(order, inplace)
        env: dict[str, Tensor] = {INPUT: holder.pop()}
        use_inplace = inplace and not torch.is_grad_enabled()
        drop_after: dict[int, list[str]] = {}
        for name, step in plan.last_read.items():
            drop_after.setdefault(step, []).append(name)
        if on_step is not None:
            on_step(0)
        self._drop(env, drop_after.get(0, ()))
        for step, name in enumerate(plan.order, start=1):
            if on_step is not None:
                on_step(step)
            node = self.graph.node(name)
            module = self.layer(name)
            args = [env[i] for i in node.inputs]
            operand = plan.inplace_operand.get(name)
            if use_inplace and operand is not None:
                env[name] = module.forward_inplace(*args, operand=operand)  # type: ignore[operator]
            else:
                env[name] = module(*args)
            del args
            self._drop(env, drop_after.get(step, ()))
        if on_step is not None:
            on_step(len(plan.steps))
        outs = tuple(env[o] for o in self.graph.outputs)
        return outs[0] if len(outs) == 1 else outs

    def _drop(self, env: dict[str, Tensor], names: Sequence[str]) -> None:
        for name in names:
            if name not in self.graph.outputs:
                env.pop(name, None)


def build(graph: ArchGraph, order: Sequence[str] | None = None) -> ArchModule:
    """The ``nn.Module`` of ``graph``, running its nodes in ``order`` (default: the graph's)."""
    return ArchModule(graph, order)
