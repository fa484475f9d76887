"""The Pareto front's hypervolume (``fitnas.study.pareto``): known 2-D and 3-D fronts computed by
hand, the reference-point rule with and without limits, points that add nothing, empty fronts."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence

import pytest

from fitnas.constraints import Limits
from fitnas.errors import FitnasError
from fitnas.states import TrialState
from fitnas.study import Hypervolume, TrialRecord, hypervolume, hypervolume_reference, pareto_front
from fitnas.study.pareto import front_hypervolume


def trial(number: int, accuracy: float | None, state: TrialState = TrialState.COMPLETE,
          violation: float = -0.5, **costs: float) -> TrialRecord:
    return TrialRecord(number, state, [number], f"fp{number}", costs=costs,
                       violations={"max_params": violation}, accuracy=accuracy)


def staircase(points: Sequence[tuple[float, float]], ref_cost: float) -> float:
    """An independent 2-D hypervolume of (accuracy, cost) points against (0, ref_cost): the area
    under the best accuracy reached at each cost, summed slab by slab."""
    pts = sorted((c, a) for a, c in points if c < ref_cost and a > 0)
    total, best = 0.0, 0.0
    for k, (cost, acc) in enumerate(pts):
        best = max(best, acc)
        total += best * ((pts[k + 1][0] if k + 1 < len(pts) else ref_cost) - cost)
    return total


# ------------------------------------------------------------------------------ known fronts
def test_a_2d_front_by_hand() -> None:
    # (accuracy, params): 0.6 up to 10, 0.8 up to 20, 0.9 up to 30, the limit 40
    # area = 0.6 x (20-10) + 0.8 x (30-20) + 0.9 x (40-30) = 6 + 8 + 9 = 23
    trials = [trial(0, 0.9, params=30), trial(1, 0.6, params=10), trial(2, 0.8, params=20)]
    hv = hypervolume(trials, ["params"], Limits(max_params=40))
    assert hv.value == pytest.approx(23.0)
    assert hv.objectives == ("accuracy", "params")
    assert hv.reference == {"accuracy": 0.0, "params": 40.0}


def test_a_3d_front_by_hand() -> None:
    # boxes [0, acc] x [params, 20] x [macs, 20] of A (0.4, 10, 10), B (0.2, 0, 0), C (0.8, 15, 0):
    # A 0.4*10*10 = 40, B 0.2*20*20 = 80, C 0.8*5*20 = 80; A&B 0.2*10*10 = 20, A&C 0.4*5*10 = 20,
    # B&C 0.2*5*20 = 20; A&B&C 0.2*5*10 = 10: union 200 - 60 + 10 = 150
    trials = [trial(0, 0.4, params=10, macs=10), trial(1, 0.2, params=0, macs=0),
              trial(2, 0.8, params=15, macs=0)]
    hv = hypervolume(trials, ["params", "macs"], {"params": 20, "macs": 20})
    assert hv.value == pytest.approx(150.0)
    assert hv.objectives == ("accuracy", "params", "macs")
    assert hv.reference == {"accuracy": 0.0, "params": 20.0, "macs": 20.0}


def test_random_2d_fronts_match_the_staircase() -> None:
    rng = random.Random(3)
    for _ in range(20):
        trials = [trial(k, round(rng.uniform(0, 1), 3), params=rng.randrange(1, 100))
                  for k in range(rng.randrange(1, 15))]
        hv = hypervolume(trials, ["params"], Limits(max_params=100))
        expected = staircase([(t.accuracy or 0.0, t.costs["params"]) for t in trials], 100)
        assert hv.value == pytest.approx(expected)


# ------------------------------------------------------------------------ what adds nothing
def test_a_dominated_point_adds_nothing() -> None:
    front = [trial(0, 0.4, params=10, macs=10), trial(1, 0.2, params=0, macs=0),
             trial(2, 0.8, params=15, macs=0)]
    ref = {"accuracy": 0.0, "params": 20.0, "macs": 20.0}
    dominated = trial(3, 0.3, params=12, macs=10)  # A is as cheap or cheaper and more accurate
    equal = trial(4, 0.4, params=10, macs=10)  # a copy of A
    base = hypervolume(front, ["params", "macs"], reference=ref).value
    more = [*front, dominated, equal]
    assert 3 not in [t.number for t in pareto_front(more, ["params", "macs"])]
    assert hypervolume(more, ["params", "macs"], reference=ref).value == pytest.approx(base)
    assert base == pytest.approx(150.0)


def test_points_on_or_beyond_the_reference_add_nothing() -> None:
    ref = {"accuracy": 0.0, "params": 40.0}
    base = [trial(0, 0.6, params=10)]
    value = hypervolume(base, ["params"], reference=ref).value
    assert value == pytest.approx(0.6 * 30)
    for extra in (trial(1, 0.9, params=40), trial(2, 0.95, params=55), trial(3, 0.0, params=1)):
        assert hypervolume([*base, extra], ["params"], reference=ref).value == pytest.approx(value)
    assert front_hypervolume([(0.9, 40.0), (0.95, 55.0)], [0.0, 40.0]) == 0.0


def test_infeasible_failed_and_unscored_trials_add_nothing() -> None:
    base = [trial(0, 0.5, params=10)]
    others = [trial(1, 0.99, params=1, violation=0.2),  # over a limit
              trial(2, 0.99, TrialState.INFEASIBLE, violation=0.2, params=1),
              trial(3, None, TrialState.FAILED, params=1), trial(4, None, params=1)]
    limits = Limits(max_params=20)
    assert hypervolume(base, ["params"], limits).value == pytest.approx(5.0)
    assert hypervolume([*base, *others], ["params"], limits).value == pytest.approx(5.0)


# --------------------------------------------------------------------------- reference rule
def test_reference_without_limits_is_the_worst_feasible_value() -> None:
    trials = [trial(0, 0.9, params=30, macs=5), trial(1, 0.6, params=10, macs=50),
              trial(2, 0.99, params=500, macs=500, violation=0.1),  # infeasible: ignored
              trial(3, None, TrialState.FAILED, params=900, macs=900),
              trial(4, None, TrialState.INFEASIBLE, violation=3.0, params=999, macs=999),
              trial(5, 0.5, params=40, macs=60)]  # dominated, off the front, yet it counts
    assert hypervolume_reference(trials, ["params", "macs"]) == {
        "accuracy": 0.0, "params": 40.0, "macs": 60.0}
    hv = hypervolume(trials, ["params", "macs"])
    assert hv.reference == {"accuracy": 0.0, "params": 40.0, "macs": 60.0}
    # A (0.9, 30, 5): 0.9 x 10 x 55 = 495; B (0.6, 10, 50): 0.6 x 30 x 10 = 180; overlap
    # 0.6 x 10 x 10 = 60; trial 5 lies on the reference: nothing
    assert hv.value == pytest.approx(495 + 180 - 60)
    # the costliest trial along an unlimited cost adds nothing: alone, the hypervolume is 0
    assert hypervolume(trials[:1], ["params"]).value == 0.0
    assert hypervolume(trials, ["params"]).value == pytest.approx(0.6 * 20 + 0.9 * 10)


def test_reference_with_limits_is_the_limit() -> None:
    trials = [trial(0, 0.9, params=30, peak_activation_bytes=4096, macs=7),
              trial(1, 0.6, params=10, peak_activation_bytes=1024, macs=70)]
    limits = Limits(max_params=100, max_peak_mem="8KiB")
    costs = ["params", "peak_activation_bytes", "macs"]
    assert hypervolume_reference(trials, costs, limits) == {
        "accuracy": 0.0, "params": 100.0, "peak_activation_bytes": 8192.0, "macs": 70.0}
    # the same rule from limits given by cost name
    assert hypervolume_reference(trials, costs, {"params": 100, "peak_activation_bytes": 8192}) \
        == hypervolume_reference(trials, costs, limits)
    hv = hypervolume(trials, ["params", "peak_activation_bytes"], limits)
    # boxes: 0.9 x 70 x 4096 and 0.6 x 90 x 7168, overlap 0.6 x 70 x 4096
    assert hv.value == pytest.approx(0.9 * 70 * 4096 + 0.6 * 90 * 7168 - 0.6 * 70 * 4096)
    limited_only = Limits(max_params=100)
    assert hypervolume_reference(trials, ["params", "macs"], limited_only)["macs"] == 70.0


def test_an_explicit_reference_is_used_and_checked() -> None:
    trials = [trial(0, 0.5, params=10)]
    hv = hypervolume(trials, ["params"], Limits(max_params=1000),
                     reference={"accuracy": 0.0, "params": 20})
    assert hv.value == pytest.approx(5.0) and hv.reference == {"accuracy": 0.0, "params": 20.0}
    with pytest.raises(FitnasError, match="lacks params"):
        hypervolume(trials, ["params"], reference={"accuracy": 0.0})
    with pytest.raises(FitnasError, match="bad hypervolume reference"):
        front_hypervolume([(0.5, 1.0)], [0.0, float("nan")])
    with pytest.raises(FitnasError, match="do not match"):
        front_hypervolume([(0.5, 1.0, 2.0)], [0.0, 3.0])


# ---------------------------------------------------------------------------- empty fronts
def test_an_empty_front_has_hypervolume_zero() -> None:
    assert hypervolume([], ["params"]) == Hypervolume(0.0, ("accuracy", "params"),
                                                      {"accuracy": 0.0, "params": None})
    hv = hypervolume([], ["params"], Limits(max_params=50))
    assert hv.value == 0.0 and hv.reference == {"accuracy": 0.0, "params": 50.0}
    only_bad = [trial(0, None, TrialState.FAILED, params=1),
                trial(1, 0.9, TrialState.INFEASIBLE, violation=1.0, params=100)]
    assert hypervolume(only_bad, ["params"]).value == 0.0
    assert hypervolume(only_bad, ["params"], Limits(max_params=50)).value == 0.0
    assert front_hypervolume([], [0.0, 1.0]) == 0.0


def test_to_dict_is_json_with_the_reference() -> None:
    hv = hypervolume([trial(0, 0.5, params=10)], ["params"], Limits(max_params=30))
    data = json.loads(json.dumps(hv.to_dict()))
    assert data == {"value": pytest.approx(10.0), "objectives": ["accuracy", "params"],
                    "reference": {"accuracy": 0.0, "params": 30.0}}
    empty = json.loads(json.dumps(hypervolume([], ["params", "macs"]).to_dict()))
    assert empty["reference"] == {"accuracy": 0.0, "params": None, "macs": None}


def test_five_objectives() -> None:
    costs = ["params", "macs", "param_bytes", "peak_activation_bytes"]
    one = trial(0, 0.5, params=1, macs=2, param_bytes=3, peak_activation_bytes=4)
    ref = {"params": 2, "macs": 4, "param_bytes": 6, "peak_activation_bytes": 8}
    # one point: its box, accuracy x (reference - cost) along each cost
    assert hypervolume([one], costs, ref).value == pytest.approx(0.5 * 1 * 2 * 3 * 4)
    # a second point that is better in every cost and less accurate: the boxes overlap in
    # [0, 0.25] x the first box's cost ranges
    two = trial(1, 0.25, params=0, macs=0, param_bytes=0, peak_activation_bytes=0)
    assert hypervolume([one, two], costs, ref).value == pytest.approx(
        0.5 * 24 + 0.25 * 2 * 4 * 6 * 8 - 0.25 * 24)
