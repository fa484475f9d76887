"""The memory of one supernet training step, estimated before anything is allocated.

Paper 004 (section 3.3, Fig. 3a) motivates weight sharing, the bottleneck and derived cells by
the supernet's memory; fitnas checks the estimate before building the supernet so that a search
that cannot fit fails at once with one clear line (:func:`check_fits`). The estimate, in bytes,
fp32 (4 bytes an element)::

    M = 4 (3 P_w + 4 P_a) + B + A + T

* ``P_w`` weights, each with its gradient and SGD momentum buffer (paper 004 appendix D: SGD
  with momentum); ``P_a`` the alphas, each with its gradient and Adam's two moments; ``B`` the
  buffers (BN running statistics). Counted exactly from the supernet built on the ``meta``
  device (no memory).
* ``A`` the activations autograd saves for backward: the supernet's own forward code is walked
  with shapes only (a shape :class:`~fitnas.supernet.ops.Backend`), with torch's rules per op,
  each saved tensor counted once however many ops save it: ReLU saves its output; conv, linear,
  BN and the pools their input; BN also its batch mean and inverse std (2C); max pooling its
  int64 indices (8 bytes an output element); a mixed edge's ``p * o(x)`` saves ``o(x)``; add,
  concatenation, padding, slicing and global pooling save nothing; the loss saves its log-softmax
  (batch x classes). Derived cells run a genotype, unknown before the search: the estimate uses
  a heavy one (:func:`heavy_genotype`; darts: every node on both cell inputs through separable
  and dilated convs, all distinct; nb201: convolutions on every edge but one, distinct per
  origin) unless a genotype is given.
* ``T`` the transient of backward: twice the largest activation (an op's output gradient and
  input gradient alive at once).

:func:`measure_saved_bytes` measures ``A`` on a real step with
``torch.autograd.graph.saved_tensors_hooks`` (unique storages, parameters and buffers left out):
the estimate's ``A`` equals it on the tested configurations (``tests/supernet/test_memory.py``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..units import format_bytes
from .network import Supernet, space_tables
from .ops import SupernetError

__all__ = ["MemoryEstimate", "SupernetTooLarge", "available_memory", "check_fits",
           "estimate_breakdown", "estimate_training_memory", "heavy_genotype",
           "measure_saved_bytes"]

_F32 = 4


class SupernetTooLarge(SupernetError):
    """The supernet's training step would not fit in the memory available."""


@dataclass(frozen=True)
class MemoryEstimate:
    """The terms of the estimate, in bytes (see the module)."""

    weights: int  # P_w
    alphas: int  # P_a
    buffers: int  # B
    activations: int  # A
    transient: int  # T

    @property
    def state(self) -> int:
        """Parameters, gradients and optimizer state: ``4 (3 P_w + 4 P_a) + B``."""
        return _F32 * (3 * self.weights + 4 * self.alphas) + self.buffers

    @property
    def total(self) -> int:
        return self.state + self.activations + self.transient


class _T:
    """A tensor's shape; ``base`` is the tensor whose storage it views."""

    __slots__ = ("base", "shape")

    def __init__(self, shape: Sequence[int], base: _T | None = None):
        self.shape = tuple(int(s) for s in shape)
        self.base = base if base is not None else self

    @property
    def nbytes(self) -> int:
        return _F32 * math.prod(self.shape)


def _window(size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


class _ShapeBackend:
    """Walks the supernet's forward code with shapes, recording what autograd would save."""

    def __init__(self) -> None:
        self.saved: dict[int, _T] = {}
        self.extra = 0
        self.largest = 0

    def new(self, shape: Sequence[int]) -> _T:
        t = _T(shape)
        self.largest = max(self.largest, t.nbytes)
        return t

    def save(self, t: _T) -> None:
        self.saved[id(t.base)] = t.base

    @property
    def activations(self) -> int:
        return sum(t.nbytes for t in self.saved.values()) + self.extra

    def apply(self, module: nn.Module, x: _T) -> _T:
        run = getattr(module, "run", None)
        if run is not None:
            return run(self, x)  # type: ignore[no-any-return,unused-ignore]
        n, c = x.shape[:2]
        if isinstance(module, nn.ReLU):
            out = self.new(x.shape)
            self.save(out)
            return out
        if isinstance(module, nn.Identity):
            return x
        if isinstance(module, nn.Flatten):
            return _T((n, math.prod(x.shape[1:])), x.base)
        if isinstance(module, nn.AdaptiveAvgPool2d):
            return self.new((n, c, 1, 1))
        self.save(x)  # conv, BN, linear, pools
        if isinstance(module, nn.BatchNorm2d):
            self.extra += 2 * _F32 * c
            return self.new(x.shape)
        if isinstance(module, nn.Linear):
            return self.new((n, module.out_features))
        if isinstance(module, nn.Conv2d):
            k, s, p, d = (_pair(v) for v in (module.kernel_size, module.stride,
                                              module.padding, module.dilation))
            hw = [_window(x.shape[2 + a], k[a], s[a], p[a], d[a]) for a in (0, 1)]
            return self.new((n, module.out_channels, *hw))
        if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
            k, s, p = (_pair(v) for v in (module.kernel_size, module.stride, module.padding))
            out = self.new((n, c, *(_window(x.shape[2 + a], k[a], s[a], p[a]) for a in (0, 1))))
            if isinstance(module, nn.MaxPool2d):
                self.extra += 2 * out.nbytes  # int64 indices
            return out
        raise SupernetError(f"the memory estimate has no rule for {type(module).__name__}")

    def scale(self, weights: Any, edge: int, op: int, y: _T) -> _T:
        self.save(y)
        return self.new(y.shape)

    def add(self, xs: Sequence[_T]) -> _T:
        return self.new(xs[0].shape)

    def cat(self, xs: Sequence[_T]) -> _T:
        n, _, h, w = xs[0].shape
        return self.new((n, sum(x.shape[1] for x in xs), h, w))

    def shift(self, x: _T) -> _T:
        n, c, h, w = x.shape
        return _T(x.shape, self.new((n, c, h + 1, w + 1)))  # a view of the padded tensor

    def zeros(self, like: _T, channels: int, stride: int) -> _T:
        n, _, h, w = like.shape
        return self.new((n, channels, -(-h // stride), -(-w // stride)))


def heavy_genotype(space: Any) -> Any:
    """The genotype the estimate assumes for derived cells (see the module)."""
    space_tables(space)  # refuses other spaces
    if getattr(space, "name", None) == "nb201":
        return space.validate(("nor_conv_3x3", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3",
                               "nor_conv_1x1", "nor_conv_3x3"))
    heavy = ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
    cell = tuple(pair for op in heavy for pair in ((op, 0), (op, 1)))
    return space.validate((cell, cell))


def estimate_breakdown(space: Any, batch_size: int, *, weight_sharing: bool = True,
                       bottleneck: int = 4, derived_cells: bool = True,
                       genotype: Any = None) -> MemoryEstimate:
    """The terms of the training-step memory (see the module), nothing allocated."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise SupernetError(f"batch size must be a positive integer, got {batch_size!r}")
    with torch.device("meta"):
        net = Supernet(space, weight_sharing=weight_sharing, bottleneck=bottleneck,
                       derived_cells=derived_cells)
    arch = {id(p) for p in net.arch_parameters()}
    alphas = sum(p.numel() for p in net.arch_parameters())
    weights = sum(p.numel() for p in net.parameters() if id(p) not in arch)
    buffers = sum(b.numel() * b.element_size() for b in net.buffers())
    be = _ShapeBackend()
    x = be.new((batch_size, *space.input_shape[1:]))
    selections = net.selections(heavy_genotype(space) if genotype is None else genotype)
    net.run(be, x, dict.fromkeys(net.kinds, "p"), selections)
    loss = 2 * _F32 * batch_size * space.classes + 8 * batch_size + _F32
    probs = sum(_F32 * p.numel() for p in net.arch_parameters())
    return MemoryEstimate(weights, alphas, buffers, be.activations + loss + probs, 2 * be.largest)


def estimate_training_memory(space: Any, batch_size: int, *, weight_sharing: bool = True,
                             bottleneck: int = 4, derived_cells: bool = True,
                             genotype: Any = None) -> int:
    """Bytes of one training step of the supernet (see the module), nothing allocated."""
    return estimate_breakdown(space, batch_size, weight_sharing=weight_sharing,
                              bottleneck=bottleneck, derived_cells=derived_cells,
                              genotype=genotype).total


def measure_saved_bytes(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """Bytes autograd saves for backward in one training step of ``net`` on ``(x, y)``
    (cross-entropy loss; each storage once; parameters and buffers left out). Runs backward."""
    own = {t.untyped_storage().data_ptr() for t in [*net.parameters(), *net.buffers()]}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in own and storage.nbytes():
            seen[ptr] = max(seen.get(ptr, 0), storage.nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = F.cross_entropy(net(x), y)
    loss.backward()
    return sum(seen.values())


def available_memory() -> int:
    """Bytes of memory available on this machine (psutil, ``/proc/meminfo`` or sysconf)."""
    try:
        import psutil  # type: ignore[import-untyped,unused-ignore]

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def check_fits(space: Any, batch_size: int, available_bytes: int | None = None,
               **switches: Any) -> int:
    """Raise :class:`SupernetTooLarge` when the estimate exceeds ``available_bytes`` (default:
    :func:`available_memory`); else return the estimate. ``switches``: those of
    :func:`estimate_training_memory`."""
    need = estimate_training_memory(space, batch_size, **switches)
    have = available_memory() if available_bytes is None else int(available_bytes)
    if need > have:
        raise SupernetTooLarge(
            f"the supernet needs about {format_bytes(need)} for a batch of {batch_size} "
            f"(estimated before allocating); this machine has {format_bytes(have)} available: "
            f"lower the batch size (dcanas:batch_size=N), raise the bottleneck "
            f"(bottleneck=N) or turn on weight sharing and derived cells")
    return need
