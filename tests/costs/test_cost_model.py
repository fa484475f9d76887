"""CostModel: one object computes every analytic cost and the execution order it assumes;
Costs is frozen, round-trips through JSON and reads as a mapping of its numbers."""

from __future__ import annotations

import dataclasses
import json

import pytest

from fitnas.arch.random_graph import random_graph
from fitnas.constraints import Constraints, LimitError, Limits
from fitnas.costs import best_order, chan_memory_bytes, count_macs, count_params, lifetime_table
from fitnas.costs.model import ANALYTIC_KEYS, CostModel, CostModelError, Costs


@pytest.mark.parametrize("dtype, bpe", [("fp32", 4), ("fp16", 2), ("int8", 1)])
def test_costs_are_the_independent_counts_under_the_graphs_order(dtype: str, bpe: int) -> None:
    for seed in range(10):
        graph = random_graph(seed, 18)
        costs = CostModel(dtype).costs(graph)
        table = lifetime_table(graph, None, dtype)
        params = count_params(graph)
        assert costs.analytic() == {
            "params": params, "param_bytes": params * bpe, "macs": count_macs(graph),
            "peak_activation_bytes": table.peak_bytes,
            "total_memory_bytes": params * bpe + table.peak_bytes}
        assert costs.chan_memory_bytes == chan_memory_bytes(graph, dtype)
        assert costs.order == graph.order and costs.order_exact
        assert costs.peak_node == table.peak_node
        assert (costs.dtype, costs.schedule, costs.latency_ms) == (dtype, "default", None)


def test_best_schedule_costs_carry_the_order_that_was_searched() -> None:
    lowered = 0
    for seed in range(30):
        graph = random_graph(seed, 16)
        schedule = best_order(graph, "fp32")
        costs = CostModel(schedule="best").costs(graph)
        assert costs.order == schedule.order and costs.order_exact == schedule.exact
        # the peak stored is the peak of the order stored
        assert costs.peak_activation_bytes == lifetime_table(graph, costs.order).peak_bytes
        lowered += costs.peak_activation_bytes < CostModel().costs(graph).peak_activation_bytes
    assert lowered, "no random graph where the best order lowers the peak: the test proves nothing"


def test_costs_read_as_a_mapping_of_numbers() -> None:
    graph = random_graph(3, 12)
    costs = CostModel().costs(graph)
    assert set(costs) == {*ANALYTIC_KEYS, "chan_memory_bytes"}
    assert dict(costs)["macs"] == costs.macs == costs["macs"]
    assert "latency_ms" not in costs and costs.get("latency_ms") is None
    timed = dataclasses.replace(costs, latency_ms=1.5)
    assert timed["latency_ms"] == 1.5 and len(timed) == len(costs) + 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        costs.macs = 0  # type: ignore[misc]


def test_costs_round_trip_through_json() -> None:
    graph = random_graph(5, 14)
    for model in (CostModel("int8"), CostModel(schedule="best")):
        costs = model.costs(graph)
        again = Costs.from_dict(json.loads(json.dumps(costs.to_dict())))
        assert again == costs and again.order == costs.order and dict(again) == dict(costs)
        assert Costs.is_record(costs.to_dict()) and not Costs.is_record(dict(costs))
    with pytest.raises(CostModelError, match="lacks"):
        Costs.from_dict({"params": 1})


def test_latency_is_added_by_measuring_the_built_graph() -> None:
    graph = random_graph(2, 10)
    model = CostModel(latency_repeats=3, latency_warmup=1)
    costs = model.with_latency(model.costs(graph), graph)
    assert costs.latency_ms is not None and costs.latency_ms > 0 and "latency_ms" in costs
    assert costs.order == graph.order


@pytest.mark.parametrize("kwargs, message", [
    ({"dtype": "fp64"}, "unknown dtype 'fp64'; accepted: fp32, fp16, int8"),
    ({"schedule": "fastest"}, "unknown schedule 'fastest'; accepted: default, best"),
    ({"schedule_time_limit": 0}, "bad schedule_time_limit 0"),
    ({"schedule_time_limit": True}, "bad schedule_time_limit True"),
    ({"inplace": "yes"}, "bad inplace 'yes'"),
])
def test_bad_settings_are_one_line_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(CostModelError) as err:
        CostModel(**kwargs)  # type: ignore[arg-type]
    assert message in str(err.value) and "\n" not in str(err.value)


def test_config_round_trips_and_constraints_share_the_model() -> None:
    model = CostModel("int8", "best", schedule_time_limit=2.5, latency_repeats=4)
    assert CostModel.from_config(model.get_config()).get_config() == model.get_config()
    constraints = Constraints(Limits(dtype="int8", schedule="best", max_macs="1M"), cost_model=model)
    graph = random_graph(1, 12)
    check = constraints.check(graph)
    assert check.costs == model.costs(graph) and check.order == check.costs.order
    with pytest.raises(LimitError, match="give both the same"):
        Constraints(Limits(dtype="fp32"), cost_model=model)
