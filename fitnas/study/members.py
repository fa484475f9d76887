"""Which trials of a run an ensemble fuses (paper 002 section 4.1, Table 1: the top 4).

The ``top`` most accurate COMPLETE trials that meet every limit and have saved weights, ranked
as the run's best trial is ranked (``fitnas.study.run.rank_key``: validation accuracy, then the
least total memory, then the earlier trial), or the trial numbers a user names. At least 2.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..states import TrialState
from .run import RunRecord, rank_key
from .trial import TrialRecord
from .vote import EnsembleError

__all__ = ["select_members"]


def select_members(run: RunRecord, top: int = 4, trials: Sequence[int] | None = None
                   ) -> list[TrialRecord]:
    """The trials to fuse: ``trials`` if given, else the ``top`` best usable ones."""
    where = run.name
    if trials is None:
        if isinstance(top, bool) or not isinstance(top, int) or top < 2:
            raise EnsembleError(f"top must be a whole number of at least 2 (an ensemble of one "
                                f"model is that model), got {top!r}")
        usable = [t for t in run.trials((TrialState.COMPLETE,)) if t.feasible and t.accuracy is not None
                  and run.weights_path(t.number) is not None]
        usable.sort(key=rank_key, reverse=True)
        if len(usable) < 2:
            raise EnsembleError(f"{where} has {len(usable)} COMPLETE trial(s) that meet the limits "
                                "and have trained weights; an ensemble needs at least 2")
        return usable[:top]
    numbers = list(trials)
    if len(numbers) < 2:
        raise EnsembleError(f"an ensemble needs at least 2 trials, got {len(numbers)} ({numbers})")
    if len(set(numbers)) != len(numbers):
        raise EnsembleError(f"trial numbers repeat in {numbers}; name each member once")
    known = {t.number: t for t in run.trials()}
    chosen = []
    for n in numbers:
        if n not in known:
            raise EnsembleError(f"no trial {n} in {where}; its trials are numbered "
                                f"0-{max(known)}" if known else f"{where} has no trials")
        t = known[n]
        if t.state != TrialState.COMPLETE or run.weights_path(n) is None:
            raise EnsembleError(f"trial {n} in {where} is {t.state} without trained weights; "
                                "members must be COMPLETE trials with saved weights")
        chosen.append(t)
    return chosen
