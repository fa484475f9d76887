"""The suite every registered strategy must pass, over every registered space."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fitnas.spaces import create_space, list_spaces
from fitnas.states import TrialState
from fitnas.strategies import (
    Candidate,
    StrategyError,
    TrialResult,
    create_strategy,
    list_strategies,
)

SMALL = {"chain": {"input_shape": (1, 1, 8, 8), "classes": 10},
         "cells": {"input_shape": (1, 1, 8, 8), "classes": 10, "filters": 8, "max_blocks": 2},
         "nb201": {}}


def make_space(name: str):  # type: ignore[no-untyped-def]
    return create_space(name, **SMALL.get(name, {}))


def fake_result(space, number: int, cand: Candidate, feasible: bool = True) -> TrialResult:  # type: ignore[no-untyped-def]
    graph = space.decode(cand.encoding)
    from fitnas.costs import estimate

    e = estimate(graph)
    costs = {"params": e.params, "peak_activation_bytes": e.peak_activation_bytes}
    # a stand-in score that depends on the architecture, so learning strategies see a signal
    accuracy = 1.0 / (1.0 + abs(e.params - 5000) / 5000)
    return TrialResult(number, cand.encoding, TrialState.COMPLETE if feasible else TrialState.INFEASIBLE,
                       accuracy if feasible else None, costs,
                       {"max_peak_mem": -0.5 if feasible else 0.5})


@pytest.mark.parametrize("space_name", list_spaces())
@pytest.mark.parametrize("name", list_strategies())
def test_asks_valid_encodings_and_learns(name: str, space_name: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    space = make_space(space_name)
    strategy = create_strategy(name, space, seed=3)
    for number in range(12):
        cand = strategy.ask()
        assert isinstance(cand, Candidate)
        assert space.validate(cand.encoding) == cand.encoding
        space.decode(cand.encoding)  # a valid, decodable architecture
        strategy.tell(fake_result(space, number, cand, feasible=number % 3 != 0))
    assert os.listdir(tmp_path) == []  # a strategy never writes files


def proposals(name: str, seed: int, count: int = 10) -> list:
    """The encodings a fresh strategy proposes, told the stand-in result of each."""
    space = make_space("nb201")
    strategy = create_strategy(name, space, seed=seed)
    asked = []
    for number in range(count):
        cand = strategy.ask()
        asked.append(space.to_data(cand.encoding))
        strategy.tell(fake_result(space, number, cand))
    return asked


@pytest.mark.parametrize("name", list_strategies())
def test_same_seed_same_proposals(name: str) -> None:
    assert proposals(name, 11) == proposals(name, 11)
    assert proposals(name, 12) != proposals(name, 11)


@pytest.mark.parametrize("name", list_strategies())
def test_config_round_trips(name: str) -> None:
    space = make_space("nb201")
    strategy = create_strategy(name, space, seed=5)
    again = create_strategy(name, space, **strategy.get_config())
    assert again.get_config() == strategy.get_config()


def test_unknown_strategy_lists_known() -> None:
    with pytest.raises(StrategyError, match=r"unknown strategy .grid.; known: .*random"):
        create_strategy("grid", make_space("nb201"))
