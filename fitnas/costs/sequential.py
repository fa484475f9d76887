"""The peak activation memory of networks run one after another on one input (an ensemble).

Paper 002 section 4.1 fuses the top N models of a run by majority vote. Run member by member
(``fitnas.study.vote.MajorityVote``), member ``k`` runs with the input kept alive for the
members after it and the logits of the members before it; then the vote holds all ``n``
logits, its ``B x C`` score and its largest temporary: the softmax probabilities (``B x C``),
or the winning index in int64 plus a one per image (``B x (8 + bpe)`` bytes).
:func:`sequential_peak` computes that peak from each member's lifetime table (paper 000
section 3.4, each member in its own execution order); ``fitnas.costs.measure.
measure_sequential_peak`` measures it, and at fp32 the two agree to the byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..arch import INPUT, ArchGraph
from ..errors import FitnasError
from .dtypes import bytes_per_element
from .lifetime import lifetime_table

__all__ = ["SequentialPeak", "sequential_peak"]

#: Bytes of the int64 index of each image's winning class during the vote.
_INDEX_BYTES = 8


@dataclass(frozen=True)
class SequentialPeak:
    """Peak live activation bytes of an ensemble run member by member; ``stage_bytes`` holds
    the largest bytes alive while each member runs, then during the vote."""

    peak_bytes: int
    stage_bytes: tuple[int, ...]


def sequential_peak(graphs: Sequence[ArchGraph], orders: Sequence[Sequence[str] | None] | None = None,
                    dtype: str = "fp32", inplace: bool = True) -> SequentialPeak:
    """The analytic peak of :meth:`MajorityVote.execute` over members built from ``graphs``
    (each run in its order), from their lifetime tables (paper 000 section 3.4)."""
    bpe = bytes_per_element(dtype)
    orders = list(orders) if orders is not None else [None] * len(graphs)
    stages: list[int] = []
    kept = 0  # logits of the members already run
    for k, (graph, order) in enumerate(zip(graphs, orders)):
        if len(graph.outputs) != 1:
            raise FitnasError(f"member {k} has {len(graph.outputs)} outputs; a voter needs one")
        table = lifetime_table(graph, order, dtype, inplace)
        buffers = table.plan.buffers
        entry = next(b for b in buffers if INPUT in b.tensors)
        out = next(b for b in buffers if graph.outputs[0] in b.tensors)
        held = entry.elements * bpe if k < len(graphs) - 1 else 0  # later members need it
        stages.append(kept + max(t + (held if s > entry.death else 0)
                                 for s, t in enumerate(table.totals)))
        kept += out.elements * bpe
    batch, classes = graphs[0].shape(graphs[0].outputs[0])
    workspace = max(batch * classes * bpe, batch * (_INDEX_BYTES + bpe))
    stages.append(kept + batch * classes * bpe + workspace)
    return SequentialPeak(max(stages), tuple(stages))
