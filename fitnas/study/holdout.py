"""Test accuracy on the held-out split, computed once at the end of a search.

A search ranks candidates on the validation split only (paper 002 section 3.4: validation
accuracy is the search objective), so the best of many candidates on a small validation set is
an optimistic estimate of how it does on new data. :func:`score_holdout`, called once when
:meth:`fitnas.study.Study.optimize` ends, scores the trials a user is given (the best trial and
every member of the Pareto front) on the dataset's test split, which no decision of the search
has seen:

* a trained trial is restored from its saved weights (``fitnas.study.restore``: the stored
  network, in its checked order) and scored by the evaluator
  (:meth:`~fitnas.evaluators.Evaluator.holdout_accuracy`: the trainer's test split);
* a table look-up gives the table's test column when the evaluator has one
  (``TableEvaluator(test_column=...)``; ``fitnas search --table`` uses the metric's ``_test``
  twin, e.g. ``cifar10_val`` -> ``cifar10_test``);
* a trial without weights (an in-memory study, a deleted ``trials/N.pt``) is left unscored.

Scores are stored through the storage layer under the meta key ``holdout``
(``{"split": "test", "trials": {"N": accuracy}}``), one transaction per trial: finished
``TrialRecord`` rows are never changed (DESIGN.md: immutable once finished). A trial already
scored (here, or by an evaluator that measured test accuracy itself) is not scored again, so a
resumed search scores only what is new. :func:`holdout_accuracies` reads both back; the summary,
``pareto.csv`` and the report use it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..states import TrialState
from .run import RunRecord
from .trial import TrialRecord

if TYPE_CHECKING:
    from .study import Study

__all__ = ["HOLDOUT_KEY", "holdout_accuracies", "holdout_trials", "score_holdout"]

#: The meta key of ``study.db`` holding the held-out scores.
HOLDOUT_KEY = "holdout"


def holdout_accuracies(run: RunRecord) -> dict[int, float]:
    """Test accuracy by trial number: the evaluator's own (``TrialRecord.test_accuracy``) and
    those :func:`score_holdout` stored."""
    out = {t.number: float(t.test_accuracy) for t in run.trials((TrialState.COMPLETE,))
           if t.test_accuracy is not None}
    stored = run.storage.get_meta(HOLDOUT_KEY) or {}
    for key, value in (stored.get("trials") or {}).items():
        out.setdefault(int(key), float(value))
    return out


def holdout_trials(run: RunRecord) -> list[TrialRecord]:
    """The trials the holdout scores: the best trial, then the Pareto front's members."""
    chosen: dict[int, TrialRecord] = {}
    best = run.best_trial()
    if best is not None:
        chosen[best.number] = best
    for trial in run.pareto_front():
        chosen.setdefault(trial.number, trial)
    return list(chosen.values())


def score_holdout(study: Study) -> dict[int, float]:
    """Score the best trial and the Pareto front of ``study`` on the held-out test split, those
    not scored yet, and store each score; returns the test accuracies of the run (see
    :func:`holdout_accuracies`)."""
    from .restore import restore_trial  # torch, only when a search ends

    run, evaluator = study.record, study.evaluator
    known = holdout_accuracies(run)
    stored = dict(run.storage.get_meta(HOLDOUT_KEY) or {"split": "test", "trials": {}})
    scores: dict[str, float] = dict(stored.get("trials") or {})
    for trial in holdout_trials(run):
        if trial.number in known:
            continue
        module = None
        if evaluator.trains_weights:
            if run.weights_path(trial.number) is None:
                continue
            module = restore_trial(run, trial.number)
            graph = module.graph
        else:
            graph = run.graph(trial.number)
        candidate = evaluator.candidate_for(study.space.from_data(trial.encoding), graph)
        accuracy = evaluator.holdout_accuracy(candidate, module)
        if accuracy is None:
            continue
        scores[str(trial.number)] = float(accuracy)
        known[trial.number] = float(accuracy)
        run.storage.set_meta(HOLDOUT_KEY, {"split": "test", "trials": scores})
    return known
