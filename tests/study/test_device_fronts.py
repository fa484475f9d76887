"""Per-device Pareto fronts and the trials on all of them (DPP-Net's Panacea, paper 003
section 4.2), from stored trials."""

from __future__ import annotations

from fitnas.states import TrialState
from fitnas.study.pareto import device_fronts, panacea, pareto_front
from fitnas.study.trial import TrialRecord

A, B = "latency_ms@a", "latency_ms@b"


def _trial(number: int, accuracy: float, params: float, on_a: float, on_b: float,
           state: TrialState = TrialState.COMPLETE, violation: float = -1.0) -> TrialRecord:
    return TrialRecord(number, state, [number], f"fp{number}", accuracy=accuracy,
                       costs={"params": params, A: on_a, B: on_b},
                       violations={"max_params": violation})


TRIALS = [
    _trial(0, 0.90, 10, 5.0, 9.0),   # on both fronts: the most accurate
    _trial(1, 0.80, 10, 1.0, 9.5),   # fast on a only (on b trial 0 beats it)
    _trial(2, 0.80, 10, 6.0, 1.0),   # fast on b only
    _trial(3, 0.70, 10, 7.0, 9.9),   # dominated on both
    _trial(4, 0.95, 10, 0.5, 0.5, violation=0.5),     # over a limit: on no front
    _trial(5, 0.99, 10, 0.1, 0.1, TrialState.FAILED),  # failed: on no front
]


def test_each_device_has_its_own_front() -> None:
    fronts = device_fronts(TRIALS, ["params", A, B])
    assert list(fronts) == ["a", "b"]
    assert [t.number for t in fronts["a"]] == [0, 1]
    assert [t.number for t in fronts["b"]] == [0, 2]
    assert [t.number for t in panacea(fronts)] == [0]
    # every per-device front lies within the front over all objectives
    whole = {t.number for t in pareto_front(TRIALS, ["params", A, B])}
    assert {t.number for f in fronts.values() for t in f} <= whole
    assert 3 not in whole


def test_no_device_objective_no_fronts() -> None:
    assert device_fronts(TRIALS, ["params"]) == {}
    assert panacea({}) == []
    one = device_fronts(TRIALS, [A])
    assert list(one) == ["a"] and panacea(one) == []  # a Panacea needs two devices


def test_no_trial_on_every_front() -> None:
    trials = [_trial(1, 0.8, 10, 1.0, 9.5), _trial(2, 0.8, 10, 6.0, 1.0)]
    fronts = device_fronts(trials, [A, B])
    assert [t.number for t in fronts["a"]] == [1] and [t.number for t in fronts["b"]] == [2]
    assert panacea(fronts) == []
