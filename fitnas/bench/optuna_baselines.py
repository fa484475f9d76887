"""The Optuna baselines of ``fitnas bench nb201``: TPE and NSGA-II with constraints.

``optuna-tpe`` is ``TPESampler(seed=..., constraints_func=...)`` (Watanabe's constrained TPE
when limits are set) and ``optuna-nsga2`` is ``NSGAIISampler(seed=..., constraints_func=...)``
(Deb's constrained domination), each with Optuna's defaults otherwise; options given as
``optuna-tpe:n_startup_trials=5,multivariate=true`` go to the sampler's constructor. They search
the same encoding as fitnas' ``nb201`` space: 6 categorical parameters, one per edge of the cell
(``edge01``, ``edge02``, ``edge12``, ``edge03``, ``edge13``, ``edge23``), each one of the 5
operations, and maximize the table's metric (one objective).

The rule for limits is the Study's (INFEASIBLE costs no training): a proposal is checked
against the limits on the analytic costs first; one that violates them is *not* looked up, is
told to Optuna with the objective at its worst possible value (0: accuracies are percentages or
fractions) and with its violations (``(cost - limit) / limit`` per limit, > 0 for the violated
ones) as the constraint values, and does not count as an evaluation. A feasible proposal is
looked up and counts, also when Optuna proposes an architecture it has already seen: Optuna
would train it again (the run reports how many evaluations were such repeats). An architecture
the table lacks counts as an evaluation whose trial FAILED, as a failed training would in the
Study. A run stops after its evaluations, or at a cap on proposals with a note.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import FitnasError
from ..spaces.nb201 import EDGES, OPS
from ._record import Recorder

__all__ = ["OPTUNA_STRATEGIES", "PARAMS", "WORST", "check_sampler", "require_optuna", "run_optuna"]

#: The names that select an Optuna baseline.
OPTUNA_STRATEGIES: tuple[str, ...] = ("optuna-tpe", "optuna-nsga2")
#: Optuna's parameter name of each edge, in cellstr order.
PARAMS: tuple[str, ...] = tuple(f"edge{i}{j}" for i, j in EDGES)
#: The objective told for a proposal that violates the limits.
WORST = 0.0
_KEY = "fitnas_violations"


def require_optuna() -> Any:
    """The ``optuna`` module, or a one-line error saying how to install it."""
    try:
        import optuna
    except ImportError:
        raise FitnasError("the Optuna baselines (optuna-tpe, optuna-nsga2) need Optuna: "
                          "pip install optuna (or pip install 'fitnas[bench]'), or choose "
                          "other strategies with --strategy") from None
    return optuna


def _constraints(trial: Any) -> list[float]:
    return list(trial.user_attrs[_KEY])


def _sampler(name: str, options: Mapping[str, Any], seed: int, constrained: bool) -> Any:
    optuna = require_optuna()
    cls = {"optuna-tpe": optuna.samplers.TPESampler,
           "optuna-nsga2": optuna.samplers.NSGAIISampler}[name]
    kwargs = dict(options)
    for reserved in ("seed", "constraints_func"):
        if reserved in kwargs:
            raise FitnasError(f"strategy {name!r}: {reserved} is set by the bench, not an option")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ExperimentalWarning on older Optuna versions
            return cls(seed=seed, constraints_func=_constraints if constrained else None, **kwargs)
    except (TypeError, ValueError) as err:
        raise FitnasError(f"strategy {name!r}: {err}") from None


def check_sampler(name: str, options: Mapping[str, Any]) -> None:
    """Fail early (one line) on a bad option of an Optuna baseline."""
    _sampler(name, options, 0, True)


def run_optuna(
    name: str,
    options: Mapping[str, Any],
    recorder: Recorder,
    format_cellstr: Callable[[tuple[str, ...]], str],
    value_of: Callable[[str], float | None],
    violations_of: Callable[[str], Mapping[str, float]],
    constrained: bool,
) -> None:
    """One run of the baseline ``name`` with ``recorder.seed``, until ``recorder`` is done or
    capped (see the module docstring for the rule).

    Args:
        format_cellstr: the cellstr of an encoding (``NB201Space.format``).
        value_of: the table's metric of a cellstr (``None`` when the table lacks it).
        violations_of: the violation of each active limit for a cellstr (``<= 0`` is met).
        constrained: limits are set (pass ``constraints_func`` to the sampler).
    """
    optuna = require_optuna()
    from optuna.trial import TrialState

    sampler = _sampler(name, options, recorder.seed, constrained)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            study = optuna.create_study(direction="maximize", sampler=sampler)
            while not recorder.done and not recorder.capped:
                trial = study.ask()
                enc = tuple(trial.suggest_categorical(p, OPS) for p in PARAMS)
                cellstr = format_cellstr(enc)
                recorder.proposed()
                violations = list(violations_of(cellstr).values())
                trial.set_user_attr(_KEY, violations)
                if any(v > 0 for v in violations):
                    study.tell(trial, WORST)
                    continue
                value = value_of(cellstr)
                recorder.evaluation(cellstr, value)
                if value is None or value != value:
                    study.tell(trial, state=TrialState.FAIL)
                else:
                    study.tell(trial, value)
    finally:
        optuna.logging.set_verbosity(verbosity)
