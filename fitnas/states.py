"""``TrialState``: the one vocabulary of outcomes, shared by strategies, evaluators, the trainer
and the Study's records.

=========== ==============================================================================
RUNNING     sent to a worker, not finished: running now, or left by a run that was killed
            or stopped (SIGINT/SIGTERM: ``result["interrupted"]`` names the signal);
            ``fitnas resume`` runs such trials again under the same numbers
COMPLETE    evaluated: trained (or looked up in a table) and scored
FAILED      the evaluation failed (diverged, raised, ran out of memory), the encoding was
            invalid, or its worker died twice
INFEASIBLE  an analytic limit was violated: recorded with its violations, never trained
=========== ==============================================================================

The enum derives from ``str``, so a state compares equal to its name (``TrialState.COMPLETE
== "COMPLETE"``) and is stored in SQLite and JSON as that name. Run folders of schema
version 1 stored evaluator results as ``"ok"``/``"failed"``; :meth:`TrialState.parse` reads
those too.

An interrupted trial is not a state of its own: a run killed with SIGKILL cannot mark its
trials, so every reader already has to treat a RUNNING trial of a stopped run as "to be run
again", and one state for it keeps ``finished`` (and every count by state) unchanged.
"""

from __future__ import annotations

from enum import Enum

from .errors import FitnasError

__all__ = ["FINISHED", "TrialState"]


class TrialState(str, Enum):
    """The state of a trial, of an evaluation and of a training run."""

    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"
    INFEASIBLE = "INFEASIBLE"

    def __str__(self) -> str:
        return self.value

    @property
    def finished(self) -> bool:
        return self is not TrialState.RUNNING

    @classmethod
    def parse(cls, value: object) -> TrialState:
        """A state from its name (or the ``"ok"``/``"failed"`` of schema version 1)."""
        if isinstance(value, TrialState):
            return value
        text = str(value)
        legacy = {"ok": cls.COMPLETE, "failed": cls.FAILED}
        if text in legacy:
            return legacy[text]
        try:
            return cls(text)
        except ValueError:
            raise FitnasError(f"unknown trial state {value!r}; accepted: "
                              f"{', '.join(s.value for s in cls)}") from None


#: The states a trial never leaves.
FINISHED: tuple[TrialState, ...] = (TrialState.COMPLETE, TrialState.FAILED, TrialState.INFEASIBLE)
