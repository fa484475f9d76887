"""The measured counterpart of the lifetime model: the real peak of live activation bytes.

:func:`measure_peak` builds the module of an :class:`ArchGraph`, runs it node by node in the
given order under ``torch.inference_mode`` (each tensor dropped after its last reader, in-place
reuse as planned), and records, after every ATen operation, the bytes of all tensor storages
alive at that moment. The record comes from the tensors PyTorch actually allocates (seen through
a ``TorchDispatchMode``, each storage counted once however many views share it, and freed when
its last tensor object is collected), not from our lifetime table, so it is an independent check
of the analytic peak. Weights (parameters and buffers) are excluded; kernel-internal scratch
space that never becomes a tensor is not seen. ``torch.inference_mode`` matters: under
``no_grad`` PyTorch's max pooling also allocates an index tensor that inference does not need.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ..arch import ArchGraph
from ..arch.builder import ArchModule, build
from .sequential import SequentialPeak

__all__ = ["MeasuredPeak", "measure_peak", "measure_sequential_peak"]


@dataclass(frozen=True)
class MeasuredPeak:
    """The measured peak and the largest live bytes seen during each step (0 = input)."""

    peak_bytes: int
    step_bytes: tuple[int, ...]


class _LiveStorages(TorchDispatchMode):
    """Tracks the bytes of tensor storages created by ATen ops that are still referenced."""

    def __init__(self, excluded: set[int]):
        super().__init__()
        self.excluded = excluded
        self.refs: dict[int, int] = {}
        self.sizes: dict[int, int] = {}
        self.live = 0
        self.high = 0

    def track(self, tensor: torch.Tensor) -> None:
        storage = tensor.untyped_storage()
        key, size = storage.data_ptr(), storage.nbytes()
        if size == 0 or key in self.excluded:
            return
        if key not in self.refs:
            self.refs[key] = 0
            self.sizes[key] = size
            self.live += size
        self.refs[key] += 1
        weakref.finalize(tensor, self._release, key)
        self.high = max(self.high, self.live)

    def _release(self, key: int) -> None:
        self.refs[key] -= 1
        if self.refs[key] == 0:
            del self.refs[key]
            self.live -= self.sizes.pop(key)

    def __torch_dispatch__(
        self, func: Any, types: Any, args: Any = (), kwargs: Any = None
    ) -> Any:
        out = func(*args, **(kwargs or {}))
        for item in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(item, torch.Tensor):
                self.track(item)
        return out


def measure_peak(
    graph: ArchGraph,
    order: Sequence[str] | None = None,
    inplace: bool = True,
    module: ArchModule | None = None,
    seed: int = 0,
) -> MeasuredPeak:
    """Run the built module once on a random fp32 input and measure its live activation bytes."""
    module = module if module is not None else build(graph)
    module.eval()
    excluded = {t.untyped_storage().data_ptr() for t in module.parameters()}
    excluded |= {t.untyped_storage().data_ptr() for t in module.buffers()}
    generator = torch.Generator().manual_seed(seed)
    step_bytes: list[int] = []
    tracker = _LiveStorages(excluded)

    def on_step(step: int) -> None:
        if step > 0:
            step_bytes.append(tracker.high)
        tracker.high = tracker.live

    with torch.inference_mode():
        holder = [torch.randn(graph.input_shape, generator=generator)]
        with tracker:
            tracker.track(holder[0])
            outputs = module.execute(holder, order, inplace, on_step=on_step)
        del outputs
    return MeasuredPeak(max(step_bytes), tuple(step_bytes))


def measure_sequential_peak(module: Any, input_shape: Sequence[int], inplace: bool = True,
                            seed: int = 0) -> SequentialPeak:
    """Run ``module`` (a ``fitnas.study.vote.MajorityVote``, or anything with its
    ``execute(holder, inplace, on_stage)``) once on a random fp32 input and measure the live
    activation bytes of each stage, as :func:`measure_peak` does for one network (weights
    excluded); the analytic counterpart is ``fitnas.costs.sequential.sequential_peak``."""
    module.eval()
    excluded = {t.untyped_storage().data_ptr() for t in (*module.parameters(), *module.buffers())}
    tracker = _LiveStorages(excluded)
    stages: list[int] = []

    def on_stage(stage: int) -> None:
        if stage > 0:
            stages.append(tracker.high)
        tracker.high = tracker.live

    with torch.inference_mode():
        holder = [torch.randn(tuple(input_shape), generator=torch.Generator().manual_seed(seed))]
        with tracker:
            tracker.track(holder[0])
            out = module.execute(holder, inplace, on_stage)
        del out
    return SequentialPeak(max(stages), tuple(stages))
