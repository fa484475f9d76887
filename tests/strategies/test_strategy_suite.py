"""The suite every registered strategy must pass, with every variant of its options
(``variants.py``: each documented option value), over every registered space."""

from __future__ import annotations

import inspect
import os
import random
from pathlib import Path
from typing import Any

import pytest

from fitnas.spaces import SearchSpace, create_space, list_spaces
from fitnas.states import TrialState
from fitnas.strategies import (
    Candidate,
    NotReady,
    Strategy,
    StrategyError,
    TrialResult,
    Verdict,
    coordinate,
    create_strategy,
    growtrim,
    list_strategies,
    progressive,
    reinforce,
    strategy_class,
)
from fitnas.study.setup import parse_options

from .variants import NOT_OPTIONS, SUITE_OPTIONS, VARIANTS, option_text, variant_id

TABLE = Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "nb201_12epoch.csv"
SMALL = {"chain": {"input_shape": (1, 1, 8, 8), "classes": 10},
         "cells": {"input_shape": (1, 1, 8, 8), "classes": 10, "filters": 8, "max_blocks": 2},
         "nb201": {},
         "darts": {"input_shape": (1, 3, 8, 8), "classes": 10, "channels": 4, "layers": 3}}
#: Every (strategy, variant) pair; a strategy missing from VARIANTS runs with its defaults
#: (and fails ``test_every_constructor_keyword_has_a_variant``).
CASES = [pytest.param(name, variant, id=variant_id(name, variant))
         for name in list_strategies() for variant in VARIANTS.get(name, [{}])
         if not getattr(strategy_class(name), "differentiable", False)]
#: A differentiable strategy (``dcanas``) proposes only what its supernet searches derived,
#: on the spaces a supernet exists for: it has its own ask/tell, replay and Study checks in
#: ``test_dcanas.py`` (its variants are still listed, for the keyword check below).
#: Options whose accepted values are a fixed list: every value must have a variant.
CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("coordinate", "variant"): coordinate.VARIANTS,
    ("growtrim", "controller"): growtrim.CONTROLLERS,
    ("progressive", "tiebreak"): progressive.TIEBREAKS,
    ("reinforce", "reward"): reinforce.REWARDS,
    ("reinforce", "cell"): ("lstm", "gru"),
}


def host_constraints(**limits: Any) -> Any:
    """Constraints with the ``host`` device model: energy and peak power for every network,
    for the strategies whose options need them (``Strategy.required_costs``)."""
    from fitnas.constraints import Constraints, Limits
    from fitnas.devices import load_device

    return Constraints(Limits(**limits), device=load_device("host").compute)


def make_space(name: str) -> SearchSpace:
    return create_space(name, **SMALL.get(name, {}))


def make_strategy(name: str, space: SearchSpace, variant: dict[str, Any], seed: int) -> Strategy:
    """The strategy; one whose options need device costs gets an oracle that has them, as the
    Study with a device model gives it."""
    strategy = create_strategy(name, space, **{**variant, "seed": seed})
    if type(strategy).required_costs(variant):
        model = host_constraints().cost_model

        def oracle(encoding: Any) -> Verdict:
            return Verdict(True, dict(model.costs(space.decode(encoding))), {})

        strategy.set_oracle(oracle)
    return strategy


def fake_result(space: SearchSpace, number: int, cand: Candidate, feasible: bool = True,
                state: TrialState | None = None) -> TrialResult:
    """A stand-in result: COMPLETE with an accuracy that depends on the architecture (so
    learning strategies see a signal), INFEASIBLE when not ``feasible``, or ``state``."""
    from fitnas.costs import estimate

    e = estimate(space.decode(cand.encoding))
    costs = {"params": e.params, "peak_activation_bytes": e.peak_activation_bytes}
    accuracy = 1.0 / (1.0 + abs(e.params - 5000) / 5000)
    state = state or (TrialState.COMPLETE if feasible else TrialState.INFEASIBLE)
    return TrialResult(number, cand.encoding, state,
                       accuracy if state == TrialState.COMPLETE else None, costs,
                       {"max_peak_mem": -0.5 if feasible else 0.5})


def check_candidate(space: SearchSpace, cand: Candidate) -> None:
    assert isinstance(cand, Candidate)
    assert space.validate(cand.encoding) == cand.encoding
    space.decode(cand.encoding)  # a valid, decodable architecture


@pytest.mark.parametrize("space_name", list_spaces())
@pytest.mark.parametrize(("name", "variant"), CASES)
def test_asks_valid_encodings_and_learns(name: str, variant: dict[str, Any], space_name: str,
                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    space = make_space(space_name)
    strategy = make_strategy(name, space, variant, seed=3)
    for number in range(12):
        cand = strategy.ask()
        check_candidate(space, cand)
        strategy.tell(fake_result(space, number, cand, feasible=number % 3 != 0))
    assert os.listdir(tmp_path) == []  # a strategy never writes files


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_works_with_several_workers(name: str, variant: dict[str, Any]) -> None:
    """As the Study drives it with 3 workers: ask until 3 run or the strategy waits
    (``NotReady``, which must never come with nothing running), an INFEASIBLE proposal is
    told at once, and the running ones finish in any order, some FAILED."""
    space = make_space("nb201")
    strategy = make_strategy(name, space, variant, seed=4)
    rng = random.Random(0)
    running: list[tuple[int, Candidate]] = []
    number = finished = 0
    while finished < 18:
        while len(running) < 3:
            try:
                cand = strategy.ask()
            except NotReady:
                assert running, f"{name} waits for results, but no candidate is running"
                break
            check_candidate(space, cand)
            if number % 4 == 3:  # over a limit: the Study tells it before asking again
                strategy.tell(fake_result(space, number, cand, feasible=False))
            else:
                running.append((number, cand))
            number += 1
        done, cand = running.pop(rng.randrange(len(running)))
        failed = done % 5 == 4
        strategy.tell(fake_result(space, done, cand, state=TrialState.FAILED if failed else None))
        finished += 1


def proposals(name: str, variant: dict[str, Any], seed: int, count: int = 10) -> list[Any]:
    """The encodings a fresh strategy proposes, told the stand-in result of each."""
    space = make_space("nb201")
    strategy = make_strategy(name, space, variant, seed)
    asked = []
    for number in range(count):
        cand = strategy.ask()
        asked.append(space.to_data(cand.encoding))
        strategy.tell(fake_result(space, number, cand))
    return asked


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_same_seed_same_proposals(name: str, variant: dict[str, Any]) -> None:
    assert proposals(name, variant, 11) == proposals(name, variant, 11)
    assert proposals(name, variant, 12) != proposals(name, variant, 11)


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_config_round_trips_and_holds_every_option(name: str, variant: dict[str, Any]) -> None:
    space = make_space("nb201")
    strategy = make_strategy(name, space, variant, seed=5)
    config = strategy.get_config()
    again = create_strategy(name, space, **config)
    assert again.get_config() == config
    keywords = set(inspect.signature(type(strategy)).parameters) - {"space"}
    assert set(config) == keywords - set(NOT_OPTIONS.get(name, {}))  # saved with every run


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_the_command_line_spells_every_variant(name: str, variant: dict[str, Any]) -> None:
    """``fitnas search --strategy NAME:KEY=VALUE,...`` builds the same strategy."""
    options = parse_options(option_text(variant), "--strategy")
    assert list(options) == list(variant)
    space = make_space("nb201")
    assert (make_strategy(name, space, options, seed=0).get_config()
            == make_strategy(name, space, variant, seed=0).get_config())


@pytest.fixture(scope="module")
def nb201_table() -> Any:
    if not TABLE.exists():
        pytest.skip("needs ../shared/benchmarks/nb201_12epoch.csv")
    from fitnas.evaluators import TableEvaluator

    return TableEvaluator(TABLE, "cifar10_test", key_fn=create_space("nb201").format)


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_a_study_on_the_nb201_table_runs_every_variant(name: str, variant: dict[str, Any],
                                                       nb201_table: Any) -> None:
    from fitnas.constraints import Constraints, Limits
    from fitnas.study import Study

    space = make_space("nb201")
    strategy = make_strategy(name, space, variant, seed=6)
    constraints = host_constraints(max_peak_mem=262144) if type(strategy).required_costs(
        variant) else Constraints(Limits(max_peak_mem=262144))
    study = Study(space, strategy, nb201_table, constraints)
    study.optimize(12)
    done = study.trials((TrialState.COMPLETE,))
    assert len(done) == 12 and study.counts()[TrialState.FAILED.value] == 0
    assert all(t.costs["peak_activation_bytes"] <= 262144 for t in done)
    assert study.get_config()["strategy"] == {"name": name, **strategy.get_config()}


def test_every_constructor_keyword_has_a_variant() -> None:
    """A new option (or a registered strategy) without a variant in variants.py fails here."""
    space = make_space("nb201")
    assert set(VARIANTS) == set(list_strategies())
    for name in list_strategies():
        signature = inspect.signature(type(create_strategy(name, space)))
        keywords = set(signature.parameters) - {"space"}
        variants = VARIANTS[name]
        assert {} in variants, f"{name}: no variant with the defaults"
        covered = {key for variant in variants for key in variant}
        assert covered <= keywords, f"{name}: variants name unknown options {covered - keywords}"
        internal = set(NOT_OPTIONS.get(name, {}))
        assert internal <= keywords, f"{name}: NOT_OPTIONS names {internal - keywords}"
        missing = keywords - covered - SUITE_OPTIONS - internal
        assert not missing, f"{name}: no variant in tests/strategies/variants.py for {missing}"
        for key, param in signature.parameters.items():
            values = [variant[key] for variant in variants if key in variant]
            if isinstance(param.default, bool):  # both values of a flag
                assert {True, False} <= set(values), f"{name}: {key} needs true and false"
            if (name, key) in CHOICES:
                assert set(CHOICES[name, key]) <= set(values), (
                    f"{name}: {key} lacks {set(CHOICES[name, key]) - set(values)}")
            if "None" in str(param.annotation) and isinstance(param.default, str):
                assert "none" in values, f"{name}: {key}=none has no variant"  # a budget name


def test_unknown_strategy_lists_known() -> None:
    with pytest.raises(StrategyError, match=r"unknown strategy .grid.; known: .*random"):
        create_strategy("grid", make_space("nb201"))
