"""Build a ``torch.nn.Module`` from an :class:`ArchGraph` (the only place that does).

:class:`ArchModule` runs the graph's nodes one at a time, in the graph's order or in an order
given to it, and drops each tensor right after its last reader, so the memory it holds is the
memory the lifetime model (``fitnas.costs.lifetime``) counts. When gradients are off (inference)
it also follows the lifetime plan's in-place decisions: an activation, add or mul overwrites the
input buffer the plan chose. With gradients on (training) every op allocates its output, since
autograd may need the overwritten values.

Two modules carry more than one op's arithmetic: :class:`ChannelShuffle` (ShuffleNet) and
:class:`LearnedGroupConv` (CondenseNet), whose training-time form (a dense weight and a mask
that condenses during training, driven by ``set_progress``) differs from its deployed form (a
gather and a group convolution, the form the catalogue costs). :func:`deployed_params` counts a
module's parameters as deployed: what ``count_params`` of its graph says.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ArchError
from .buffers import BufferPlan, plan_buffers
from .graph import INPUT, ArchGraph
from .ops import Attrs, Shape, create_op

__all__ = ["ArchModule", "ChannelShuffle", "LearnedGroupConv", "build", "deployed_params"]


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


class ChannelShuffle(nn.Module):
    """ShuffleNet's channel shuffle (Zhang et al. 2018, section 3.1): view the channels as
    ``(groups, C/groups)``, transpose, flatten. Always a copy (the ``channel_shuffle`` op is no
    view), even where the transposed tensor happens to be contiguous (one group, or one channel
    per group). Exports to ONNX as Reshape, Transpose, Reshape."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        shuffled = x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2)
        return shuffled.clone(memory_format=torch.contiguous_format).view(n, c, h, w)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class LearnedGroupConv(nn.Module):
    """CondenseNet's learned group 1x1 convolution (Huang et al. 2018, section 3).

    One state through training, restore and export: the dense weight ``(out, in, 1, 1)`` (a
    parameter) and ``mask`` ``(out, in)`` (a buffer: 1 where a weight is kept). Output channel
    ``o`` is in group ``o // (out / groups)``; a group's rows of the mask are equal.

    * Training (``module.train()``): a convolution with ``weight * mask``.
    * Condensation (section 3, "Training"): ``set_progress(fraction)`` (the trainer calls it
      every epoch with the fraction of training done) runs the condensing stages due by then:
      ``condense_factor - 1`` stages, evenly spread over the first half of training (stage
      ``s`` at fraction ``s / (2 (C - 1))``, as the reference code does), each removing, in
      every group, ``in / C`` of the kept input channels with the smallest L1 norm of the
      group's weights for that channel (ties: the lower channel index first). After the last
      stage each group keeps ``in / C`` channels.
    * Eval (``module.eval()``): the deployed form of section 3, "Index layer": gather the kept
      channels of every group (``index``, ``G * in/C`` of them, in group order) and run a
      ``groups``-group convolution on them with the kept weights (``condensed``). When
      training stopped before the last stage (early assessment), the remaining stages are run
      on a copy of the mask, by the same criterion, so the deployed form always keeps exactly
      ``in / C`` channels per group and matches the catalogue's costs; the mask itself is left
      alone (training may go on). ``index`` and ``condensed`` are derived, non-persistent
      buffers, recomputed when the weight or the mask changed; in eval mode no gradient flows
      to ``weight``.

    The group lasso term of the reference code is not used (section 3 says it is optional).
    """

    def __init__(self, in_channels: int, out_channels: int, groups: int, condense_factor: int):
        super().__init__()
        if in_channels % condense_factor or out_channels % groups:
            raise ArchError(
                f"learned_group_conv: {in_channels} input channels need condense_factor "
                f"{condense_factor} to divide them and {out_channels} output channels need "
                f"groups {groups} to divide them")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.groups, self.condense_factor = groups, condense_factor
        self.kept = in_channels // condense_factor
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 1, 1))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # as nn.Conv2d initializes
        self.mask: Tensor
        self.index: Tensor
        self.condensed: Tensor
        self.register_buffer("mask", torch.ones(out_channels, in_channels))
        self.register_buffer("index", torch.zeros(groups * self.kept, dtype=torch.long),
                             persistent=False)
        self.register_buffer("condensed", torch.zeros(out_channels, self.kept, 1, 1),
                             persistent=False)
        self._deployed_for: tuple[int, ...] | None = None

    @property
    def stage(self) -> int:
        """Condensing stages done (0 to ``condense_factor - 1``), read from the mask."""
        if self.condense_factor == 1:
            return 0
        return (self.in_channels - int(self.mask[0].sum())) // self.kept

    def set_progress(self, fraction: float) -> None:
        """Run the condensing stages due when ``fraction`` of training is done."""
        stages = self.condense_factor - 1
        due = min(stages, math.floor(max(0.0, fraction) * 2 * stages + 1e-9))
        with torch.no_grad():
            for _ in range(self.stage, due):
                self.mask.copy_(self._prune(self.mask))

    def _prune(self, mask: Tensor) -> Tensor:
        """``mask`` after one condensing stage: per group, drop the ``in/C`` kept channels of
        the smallest L1 norm of the group's weights."""
        g, i = self.groups, self.in_channels
        weight = self.weight.detach()[:, :, 0, 0].abs()
        grouped = mask.view(g, -1, i)
        importance = (weight.view(g, -1, i) * grouped).sum(1)
        importance = importance.masked_fill(grouped[:, 0] == 0, math.inf)
        drop = importance.argsort(dim=1, stable=True)[:, :self.kept]
        keep = torch.ones(g, i, dtype=mask.dtype, device=mask.device).scatter_(1, drop, 0.0)
        return (grouped * keep[:, None, :]).reshape(self.out_channels, i)

    def deployed_mask(self) -> Tensor:
        """The mask after every remaining stage (``mask`` itself when fully condensed)."""
        mask = self.mask
        with torch.no_grad():
            for _ in range(self.stage, self.condense_factor - 1):
                mask = self._prune(mask)
        return mask

    def deployed_parameters(self) -> int:
        """Weights of the deployed form: ``out * in / C``."""
        return self.out_channels * self.kept

    def _version_key(self) -> tuple[int, ...] | None:
        try:
            return (self.weight._version, self.mask._version, self.weight.data_ptr(),
                    self.mask.data_ptr())
        except RuntimeError:  # inference tensors have no version counter
            return None

    def _deploy(self) -> None:
        key = self._version_key()
        if key is not None and key == self._deployed_for:
            return
        g, k = self.groups, self.kept
        with torch.no_grad():
            keep = self.deployed_mask().view(g, -1, self.in_channels)[:, 0] > 0
            counts = keep.sum(1)
            if bool((counts != k).any()):
                raise ArchError(
                    f"learned_group_conv: the mask keeps {counts.tolist()} input channels per "
                    f"group; a condensed mask keeps {k} in each")
            index = keep.nonzero()[:, 1]  # row-major: group by group, channels ascending
            weight = self.weight.detach()[:, :, 0, 0].view(g, -1, self.in_channels)
            picked = weight.gather(2, index.view(g, 1, k).expand(-1, weight.shape[1], -1))
            self.index = index.clone()
            self.condensed = picked.reshape(self.out_channels, k, 1, 1).clone()
        self._deployed_for = key

    def train(self, mode: bool = True) -> LearnedGroupConv:
        super().train(mode)
        if not mode:  # before any forward, so measuring a run sees no derived tensor made
            self._deploy()
        return self

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            return F.conv2d(x, self.weight * self.mask[:, :, None, None])
        self._deploy()
        return F.conv2d(x.index_select(1, self.index), self.condensed, None, 1, 0, 1,
                        self.groups)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, groups={self.groups}, "
                f"condense_factor={self.condense_factor}")


def deployed_params(module: nn.Module) -> int:
    """Parameters of ``module`` as deployed: ``sum(p.numel())``, with each
    :class:`LearnedGroupConv` counting its condensed weights (``out * in / C``) instead of its
    dense training weight. Equals ``count_params`` of the graph the module was built from."""
    total = sum(p.numel() for p in module.parameters())
    for m in module.modules():
        if isinstance(m, LearnedGroupConv):
            total += m.deployed_parameters() - m.weight.numel()
    return total


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
    if op == "channel_shuffle":
        return ChannelShuffle(attrs["groups"])
    if op == "learned_group_conv":
        return LearnedGroupConv(in_shapes[0][1], attrs["out_channels"], attrs["groups"],
                                attrs["condense_factor"])
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
