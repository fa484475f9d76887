"""The progress bar names the best trial by the summary's rule (issue 18: on ties they named
different trials)."""

from __future__ import annotations

from fitnas.cli.progress import SearchProgress
from fitnas.constraints import Budget
from fitnas.states import TrialState
from fitnas.study.run import best_of
from fitnas.study.trial import TrialRecord


def _trial(number: int, accuracy: float, memory: int) -> TrialRecord:
    return TrialRecord(number=number, state=TrialState.COMPLETE, encoding=[number],
                       fingerprint=str(number), costs={"total_memory_bytes": memory},
                       violations={"max_params": -1.0}, accuracy=accuracy)


def test_ties_go_to_the_summarys_best() -> None:
    trials = [_trial(0, 0.9, 5000), _trial(1, 0.9, 3000), _trial(2, 0.8, 100),
              _trial(3, 0.9, 3000), _trial(4, 0.85, 10)]
    bar = SearchProgress(Budget(trials=5), quiet=True)
    for t in trials:
        bar.update(None, t)  # type: ignore[arg-type]
    assert bar.best is not None and bar.best.number == best_of(trials).number == 1  # type: ignore[union-attr]
    assert bar.counts == {TrialState.COMPLETE: 5}
