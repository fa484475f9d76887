"""The majority vote of paper 002 section 4.1 ("Asynchronous Ensemble"): members run one after
another on one input, each votes for its argmax class.

The paper fuses the top N models "using a majority voting scheme when performing
classification" and leaves the details open; fitnas chooses: each member votes for its argmax
class (the first one on a tie, as ``torch.argmax`` and ONNX ``ArgMax`` both do), and the output
of :class:`MajorityVote` is, per class, ``votes + mean softmax probability / (n + 1)``. The
fraction is below ``1/(n+1)``, so it never overturns a difference of one vote and only breaks
ties, in favour of the class the members are on average most confident of; ``argmax`` of the
output is the ensemble's class.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from ..arch.builder import ArchModule
from ..errors import FitnasError

__all__ = ["EnsembleError", "MajorityVote", "majority_vote"]


class EnsembleError(FitnasError):
    """An ensemble cannot be built from a run (too few members, no weights, unknown trial)."""


def majority_vote(logits: list[Tensor], consume: bool = False) -> Tensor:
    """Per-class ``votes + mean softmax probability / (n + 1)`` of ``n`` members' ``B x C``
    logits; ``argmax`` is the majority class, ties broken by the mean probability. With
    ``consume`` the list is emptied as it goes (each member's logits freed once counted)."""
    n = len(logits)
    if n == 0:
        raise EnsembleError("a vote needs at least one member's logits")
    weight = 1.0 / (n * (n + 1))
    score = torch.zeros_like(logits[0])
    for k in range(n):
        member = logits.pop(0) if consume else logits[k]
        winner = member.argmax(-1, keepdim=True)
        one = torch.ones_like(winner, dtype=score.dtype)
        score.scatter_add_(-1, winner, one)
        del winner, one
        probability = member.softmax(-1)
        score.add_(probability, alpha=weight)
        del probability, member
    return score


class MajorityVote(nn.Module):
    """Runs ``members`` one after another on one input and fuses them by :func:`majority_vote`.

    ``forward(x)`` returns ``B x C`` scores whose integer part is the votes per class. Members
    that are :class:`ArchModule` s run in their own execution order with their planned in-place
    reuse and drop each tensor after its last reader; the input is released after the last
    member's last reader of it.
    """

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        if len(members) < 1:
            raise EnsembleError("MajorityVote needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, x: Tensor) -> Tensor:
        return self.execute([x])

    def execute(self, holder: list[Tensor], inplace: bool = True,
                on_stage: Callable[[int], None] | None = None) -> Tensor:
        """Run on ``holder[0]``, which is taken out of the list once the last member has it.
        ``on_stage(k)`` is called before member ``k``, before the vote (``k = n``) and at the
        end (``n + 1``)."""
        n = len(self.members)
        logits: list[Tensor] = []
        for k, member in enumerate(self.members):
            if on_stage is not None:
                on_stage(k)
            inner = [holder[0]] if k < n - 1 else [holder.pop()]
            if isinstance(member, ArchModule):
                logits.append(member.execute(inner, member.order, inplace))
            else:
                logits.append(member(inner.pop()))
            del inner
        if on_stage is not None:
            on_stage(n)
        out = majority_vote(logits, consume=True)
        if on_stage is not None:
            on_stage(n + 1)
        return out
