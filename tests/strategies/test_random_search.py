"""``random``: paper 002 Algorithm I's constrained random sampling."""

from __future__ import annotations

import pytest

from fitnas.spaces import create_space
from fitnas.states import TrialState
from fitnas.strategies import NoFeasibleArchitecture, TrialResult, create_strategy


def test_never_repeats_an_architecture() -> None:
    space = create_space("nb201")
    strategy = create_strategy("random", space, seed=0)
    seen = set()
    for _ in range(300):
        fingerprint = space.fingerprint(strategy.ask().encoding)
        assert fingerprint not in seen
        seen.add(fingerprint)


def test_limits_no_architecture_meets_name_the_smallest_costs() -> None:
    space = create_space("nb201")
    strategy = create_strategy("random", space, seed=0, max_attempts=30)
    smallest_peak = None
    with pytest.raises(NoFeasibleArchitecture) as info:
        for number in range(1000):
            cand = strategy.ask()
            from fitnas.costs import estimate

            e = estimate(space.decode(cand.encoding))
            smallest_peak = min(smallest_peak or e.peak_activation_bytes, e.peak_activation_bytes)
            strategy.tell(TrialResult(number, cand.encoding, TrialState.INFEASIBLE, None,
                                      {"peak_activation_bytes": e.peak_activation_bytes,
                                       "params": e.params}, {"max_peak_mem": 1.0}))
    assert number == 30  # Algorithm I's bound on attempts
    message = str(info.value)
    assert "no architecture of the nb201 space met the limits in 30 attempts" in message
    assert "peak_activation_bytes" in message and "params" in message
    from fitnas.units import format_bytes

    assert smallest_peak is not None and format_bytes(smallest_peak) in message
