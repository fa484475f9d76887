"""The ask/tell side of ``dcanas`` (paper 004): it proposes exactly the derived networks, then
says it is done; its options round-trip and a Study records the derived networks like any
candidate (the supernet itself: tests/supernet, the command line: tests/cli/test_dcanas_cli.py)."""

from __future__ import annotations

from typing import Any

import pytest

from fitnas.constraints import Constraints, Limits
from fitnas.spaces import create_space
from fitnas.states import TrialState
from fitnas.strategies import StrategyDone, StrategyError, TrialResult, create_strategy
from fitnas.study import Study
from fitnas.study.setup import parse_options

from ..tables import synthetic_nb201_table
from .variants import VARIANTS, option_text

SPACES = {"darts": {"input_shape": (1, 1, 8, 8), "classes": 10, "channels": 4, "layers": 3},
          "nb201": {}}


def space_of(name: str) -> Any:
    return create_space(name, **SPACES[name])


@pytest.mark.parametrize("variant", VARIANTS["dcanas"], ids=option_text)
@pytest.mark.parametrize("space_name", sorted(SPACES))
def test_proposes_the_derived_networks_in_order_then_is_done(space_name: str,
                                                             variant: dict[str, Any]) -> None:
    space = space_of(space_name)
    derived = [space.to_data(space.sample(s)) for s in range(3)]
    strategy = create_strategy("dcanas", space, seed=1, **variant, derived=derived)
    asked = [space.to_data(strategy.ask().encoding) for _ in derived]
    assert asked == derived
    for number, data in enumerate(asked):
        strategy.tell(TrialResult(number, space.from_data(data), TrialState.COMPLETE, 0.5, {}, {}))
    with pytest.raises(StrategyDone, match="proposed the 3 derived network"):
        strategy.ask()
    config = strategy.get_config()
    assert create_strategy("dcanas", space, **config).get_config() == config
    assert config["derived"] == derived
    options = parse_options(option_text(variant), "--strategy")
    assert create_strategy("dcanas", space, seed=1, **options).get_config() == \
        create_strategy("dcanas", space, seed=1, **variant).get_config()


def test_without_a_supernet_search_ask_says_what_to_run() -> None:
    strategy = create_strategy("dcanas", space_of("nb201"))
    with pytest.raises(StrategyError, match="none has run: use `fitnas search --strategy dcanas`"):
        strategy.ask()


@pytest.mark.parametrize(("options", "message"), [
    ({"cost": "latency"}, "cost must be params, macs or peak, got 'latency'"),
    ({"target": -5}, "target must be a positive number, got -5"),
    ({"searches": 0}, "searches must be an int in 1..100, got 0"),
    ({"epochs": 0}, "epochs must be an int >= 1, got 0"),
    ({"bottleneck": 0}, "bottleneck must be an int >= 1, got 0"),
    ({"arch_lr": 0.0}, "arch_lr must be a positive number"),
    ({"derived": []}, "derived must be a non-empty list of encodings"),
    ({"derived": [["nope"] * 6]}, "unknown nb201 operation 'nope'"),
])
def test_bad_options_are_one_line(options: dict[str, Any], message: str) -> None:
    with pytest.raises(StrategyError if "nope" not in message else Exception, match=message):
        create_strategy("dcanas", space_of("nb201"), **options)


def test_refuses_a_space_without_a_supernet() -> None:
    with pytest.raises(StrategyError, match="darts or the nb201 space, not 'chain'"):
        create_strategy("dcanas", create_space("chain"))


def test_a_study_records_every_derived_network_and_ends_even_if_one_is_infeasible() -> None:
    from fitnas.evaluators import TableEvaluator

    space = space_of("nb201")
    table = TableEvaluator(synthetic_nb201_table(), "cifar10_val", key_fn=space.format)
    derived = [("nor_conv_3x3",) * 6, ("skip_connect",) * 6]
    strategy = create_strategy("dcanas", space, derived=derived)
    limit = space.decode(derived[1]).total_params() + 1
    study = Study(space, strategy, table, Constraints(Limits(max_params=limit)))
    study.optimize(10)
    states = [t.state for t in study.trials()]
    assert states == [TrialState.INFEASIBLE, TrialState.COMPLETE]
    # all derived networks over the limit: the run still ends, with them recorded
    over = create_strategy("dcanas", space, derived=derived[:1])
    study = Study(space, over, table, Constraints(Limits(max_params=limit)))
    study.optimize(10)
    assert [t.state for t in study.trials()] == [TrialState.INFEASIBLE]
