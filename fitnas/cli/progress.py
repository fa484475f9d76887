"""A progress bar for searches: trials or time spent, ETA, the best so far (validation accuracy,
as percent: ``fitnas.report.formats``), counts by state."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..report.formats import format_accuracy
from ..study.run import best_of

if TYPE_CHECKING:
    from ..study import Study, TrialRecord

__all__ = ["SearchProgress"]


class SearchProgress:
    """Context manager; pass :meth:`update` as the Study's callback."""

    def __init__(self, budget: Any, quiet: bool = False) -> None:
        self.budget = budget
        self.quiet = quiet
        self.start = time.monotonic()
        self.counts: dict[str, int] = {}
        self.best: TrialRecord | None = None

    def __enter__(self) -> SearchProgress:
        if not self.quiet:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                     TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                                     TextColumn("ETA"), TimeRemainingColumn(), transient=False)
            total = self.budget.trials if self.budget.trials else self.budget.seconds
            self.task = self.progress.add_task("searching", total=total)
            self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self.quiet:
            self.progress.stop()

    def update(self, study: Study, record: TrialRecord) -> None:
        self.counts[record.state] = self.counts.get(record.state, 0) + 1
        # the rule of the final summary (``rank_key``: ties go to less memory, then the
        # earlier trial), so the bar and the summary name the same best trial
        self.best = best_of([record] if self.best is None else [self.best, record])
        if self.quiet:
            return
        done = self.counts.get("COMPLETE", 0) + self.counts.get("FAILED", 0)
        completed = done if self.budget.trials else time.monotonic() - self.start
        best = (f"best {format_accuracy(self.best.accuracy)} (trial {self.best.number})"
                if self.best is not None else "no best yet")
        counts = " ".join(f"{k.lower()} {v}" for k, v in sorted(self.counts.items()))
        self.progress.update(self.task, completed=completed, description=f"{best} | {counts}")
