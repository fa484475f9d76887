"""The candidate operations of the supernet, in torch (DARTS ``operations.py`` style).

Paper 004 (DCA-NAS) section 3.1 searches the DARTS space (Liu et al. 2019) and NAS-Bench-201
(Dong & Yang 2020); the operations follow those papers' search code:

* DARTS (``darts`` space, :data:`DARTS_OPS`): ``none`` (zeros, never computed by the cells),
  ``max_pool_3x3`` and ``avg_pool_3x3`` (padding 1, average without the padding) each followed
  by BN, as DARTS' ``MixedOp`` does; ``skip_connect`` (identity, or :class:`FactorizedReduce`
  at stride 2); ``sep_conv_kxk`` (:class:`SepConv`: twice ReLU, depthwise kxk, pointwise, BN, the
  stride on the first depthwise conv); ``dil_conv_kxk`` (:class:`DilConv`: ReLU, depthwise kxk
  with dilation 2, pointwise, BN).
* NAS-Bench-201 (``nb201`` space, :data:`NB201_OPS`): ``none``, ``skip_connect`` (identity),
  ``nor_conv_1x1`` and ``nor_conv_3x3`` (:class:`ReLUConvBN`), ``avg_pool_3x3`` (no BN, as the
  benchmark's ``POOLING`` with equal channels).

Every BN inside a candidate operation has ``affine=False`` (DARTS' search network: the scale of
an operation is left to its architecture weight). The fixed parts of the macro networks (stems,
the nb201 reduction block, heads) keep affine BN.

:class:`FactorizedReduce` pads the shifted path by one row and column, so a stride-2 reduction
maps a side ``h`` to ``ceil(h / 2)`` like the stride-2 convolutions and pools (DARTS slices
without padding, which agrees for even sides and fails for odd ones).

Composite modules express their forward pass through a :class:`Backend` (``run(be, x)``): the
torch backend :data:`TORCH` computes, and ``fitnas.supernet.memory`` walks the same code with
shapes only to count the activations autograd saves, so the estimate follows the modules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import FitnasError

__all__ = [
    "DARTS_OPS",
    "NB201_OPS",
    "TORCH",
    "Backend",
    "DilConv",
    "FactorizedReduce",
    "ReLUConvBN",
    "ResNetBlock",
    "SepConv",
    "SupernetError",
    "Zero",
    "make_op",
]


class SupernetError(FitnasError):
    """A supernet cannot be built as asked (unknown space, bad switch value)."""


class Backend(Protocol):
    """What a module's ``run`` may do with its tensors (torch computes; memory.py counts)."""

    def apply(self, module: nn.Module, x: Any) -> Any: ...
    def scale(self, weights: Any, edge: int, op: int, y: Any) -> Any: ...
    def add(self, xs: Sequence[Any]) -> Any: ...
    def cat(self, xs: Sequence[Any]) -> Any: ...
    def shift(self, x: Any) -> Any: ...
    def zeros(self, like: Any, channels: int, stride: int) -> Any: ...


class _TorchBackend:
    """The backend that computes."""

    def apply(self, module: nn.Module, x: Any) -> Any:
        return module(x)

    def scale(self, weights: Tensor, edge: int, op: int, y: Tensor) -> Tensor:
        return weights[edge, op] * y

    def add(self, xs: Sequence[Tensor]) -> Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out

    def cat(self, xs: Sequence[Tensor]) -> Tensor:
        return torch.cat(list(xs), dim=1)

    def shift(self, x: Tensor) -> Tensor:
        return F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]

    def zeros(self, like: Tensor, channels: int, stride: int) -> Tensor:
        n, _, h, w = like.shape
        return like.new_zeros(n, channels, -(-h // stride), -(-w // stride))


#: The computing backend: ``module(x)``, ``w * y``, ``+``, ``torch.cat``.
TORCH: Backend = _TorchBackend()


class _Composite(nn.Module):
    """A module whose forward is ``run(TORCH, x)``."""

    def run(self, be: Backend, x: Any) -> Any:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        return self.run(TORCH, x)  # type: ignore[no-any-return,unused-ignore]


def _seq_run(be: Backend, seq: nn.Sequential, x: Any) -> Any:
    for layer in seq:
        x = be.apply(layer, x)
    return x


class ReLUConvBN(_Composite):
    """ReLU, kxk conv (no bias), BN."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int,
                 affine: bool = False):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=affine))

    def run(self, be: Backend, x: Any) -> Any:
        return _seq_run(be, self.op, x)


class DilConv(_Composite):
    """ReLU, depthwise kxk conv with dilation, pointwise conv, BN (DARTS ``DilConv``)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int,
                 dilation: int, affine: bool = False):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride=stride, padding=padding, dilation=dilation,
                      groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine))

    def run(self, be: Backend, x: Any) -> Any:
        return _seq_run(be, self.op, x)


class SepConv(_Composite):
    """Two :class:`DilConv` of dilation 1, the stride on the first (DARTS ``SepConv``)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int,
                 affine: bool = False):
        super().__init__()
        self.op = nn.Sequential(
            DilConv(c_in, c_in, kernel, stride, padding, 1, affine),
            DilConv(c_in, c_out, kernel, 1, padding, 1, affine))

    def run(self, be: Backend, x: Any) -> Any:
        return _seq_run(be, self.op, x)


class Zero(nn.Module):
    """``none``: zeros of the output shape (the cells skip it; here for a complete catalogue)."""

    def __init__(self, stride: int = 1):
        super().__init__()
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        return TORCH.zeros(x, x.shape[1], self.stride)  # type: ignore[no-any-return,unused-ignore]


class FactorizedReduce(_Composite):
    """ReLU, two 1x1 convs of stride 2 (the second on the input shifted by one pixel), their
    concatenation, BN: halves the side (to ``ceil(h / 2)``) and maps ``c_in`` to ``c_out``."""

    def __init__(self, c_in: int, c_out: int, affine: bool = False):
        super().__init__()
        half = c_out // 2
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out - half, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, half, 1, stride=2, bias=False) if half else None
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def run(self, be: Backend, x: Any) -> Any:
        x = be.apply(self.relu, x)
        parts = [be.apply(self.conv_1, x)]
        if self.conv_2 is not None:
            parts.append(be.apply(self.conv_2, be.shift(x)))
        return be.apply(self.bn, be.cat(parts) if len(parts) > 1 else parts[0])


class ResNetBlock(_Composite):
    """NAS-Bench-201's reduction block (``ResNetBasicblock``, stride 2, affine BN):
    ReLU-conv3x3(stride 2)-BN, ReLU-conv3x3-BN, plus 2x2 average pool and 1x1 conv."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1, affine=True)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1, affine=True)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def run(self, be: Backend, x: Any) -> Any:
        y = be.apply(self.conv_b, be.apply(self.conv_a, x))
        return be.add([y, _seq_run(be, self.shortcut, x)])


class _Sequential(nn.Sequential):
    """A sequence walked layer by layer by a backend."""

    def run(self, be: Backend, x: Any) -> Any:
        return _seq_run(be, self, x)


def _pool(kind: str, c: int, stride: int, bn: bool) -> nn.Module:
    pool: nn.Module = (nn.MaxPool2d(3, stride=stride, padding=1) if kind == "max" else
                       nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False))
    return _Sequential(pool, nn.BatchNorm2d(c, affine=False)) if bn else _Sequential(pool)


def _skip(c: int, stride: int, affine: bool) -> nn.Module:
    return nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine)


Factory = Callable[[int, int, bool], nn.Module]

#: DARTS' candidate operations: ``name -> factory(channels, stride, affine)``.
DARTS_OPS: dict[str, Factory] = {
    "none": lambda c, s, a: Zero(s),
    "max_pool_3x3": lambda c, s, a: _pool("max", c, s, True),
    "avg_pool_3x3": lambda c, s, a: _pool("avg", c, s, True),
    "skip_connect": _skip,
    "sep_conv_3x3": lambda c, s, a: SepConv(c, c, 3, s, 1, a),
    "sep_conv_5x5": lambda c, s, a: SepConv(c, c, 5, s, 2, a),
    "dil_conv_3x3": lambda c, s, a: DilConv(c, c, 3, s, 2, 2, a),
    "dil_conv_5x5": lambda c, s, a: DilConv(c, c, 5, s, 4, 2, a),
}

#: NAS-Bench-201's candidate operations (stride 1 only: its cells never reduce).
NB201_OPS: dict[str, Factory] = {
    "none": lambda c, s, a: Zero(s),
    "skip_connect": _skip,
    "nor_conv_1x1": lambda c, s, a: ReLUConvBN(c, c, 1, s, 0, a),
    "nor_conv_3x3": lambda c, s, a: ReLUConvBN(c, c, 3, s, 1, a),
    "avg_pool_3x3": lambda c, s, a: _pool("avg", c, s, False),
}

_CATALOGUES = {"darts": DARTS_OPS, "nb201": NB201_OPS}


def make_op(space: str, op: str, channels: int, stride: int = 1,
            affine: bool = False) -> nn.Module:
    """The module of candidate operation ``op`` of space ``space`` (``darts`` or ``nb201``)."""
    if space not in _CATALOGUES:
        raise SupernetError(f"no supernet operations for space {space!r}; accepted: "
                            f"{', '.join(_CATALOGUES)}")
    catalogue = _CATALOGUES[space]
    if op not in catalogue:
        raise SupernetError(f"unknown {space} operation {op!r}; accepted: {', '.join(catalogue)}")
    return catalogue[op](channels, stride, affine)
