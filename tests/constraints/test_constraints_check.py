"""Constraints: analytic costs, violation values, and latency measured only for candidates that
pass every analytic limit."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from fitnas.arch.random_graph import random_graph
from fitnas.cli.limits import add_limit_arguments, limits_from_args
from fitnas.constraints import CheckResult, Constraints, LimitError, Limits
from fitnas.costs import best_order, count_macs, count_params, peak_activation_bytes
from fitnas.costs import latency as latency_mod


def test_analytic_costs_are_the_independent_counts() -> None:
    graph = random_graph(4, 14)
    for dtype, bpe in (("fp32", 4), ("int8", 1)):
        costs = Constraints(Limits(dtype=dtype)).cost_model.costs(graph).analytic()
        params = count_params(graph)
        peak = peak_activation_bytes(graph, None, dtype)
        assert costs == {"params": params, "param_bytes": params * bpe, "macs": count_macs(graph),
                         "peak_activation_bytes": peak,
                         "total_memory_bytes": params * bpe + peak}
        assert all(isinstance(v, int) for v in costs.values())


def test_best_schedule_uses_the_best_orders_peak() -> None:
    found = False
    for seed in range(30):
        graph = random_graph(seed, 16)
        schedule = best_order(graph, "fp32")
        constraints = Constraints(Limits(schedule="best"))
        costs = constraints.cost_model.costs(graph).analytic()
        assert costs["peak_activation_bytes"] == schedule.peak_bytes
        assert constraints.check(graph).order == schedule.order
        default = Constraints(Limits()).cost_model.costs(graph).analytic()["peak_activation_bytes"]
        assert default == schedule.default_peak_bytes
        found = found or schedule.peak_bytes < default
    assert found, "no random graph where the best order lowers the peak: the test proves nothing"


def test_violation_is_relative_excess() -> None:
    limits = Limits(max_peak_mem=1000, max_param_mem=2000, max_params=50, max_macs="1K")
    constraints = Constraints(limits)
    costs = {"peak_activation_bytes": 1500, "param_bytes": 2000, "params": 10, "macs": 999}
    assert constraints.violations(costs) == {
        "max_peak_mem": pytest.approx(0.5), "max_param_mem": 0.0,
        "max_params": pytest.approx(-0.8), "max_macs": pytest.approx(-0.001),
    }
    # a limit whose cost is unknown (latency not measured) gives no violation
    assert Constraints(Limits(max_latency_ms=3)).violations(costs) == {}


def test_check_on_real_graph_matches_violations_of_its_costs() -> None:
    graph = random_graph(7, 14)
    costs = Constraints().cost_model.costs(graph).analytic()
    # one limit just met, one just missed
    limits = Limits(max_peak_mem=costs["peak_activation_bytes"], max_params=costs["params"] - 1)
    result = Constraints(limits).check(graph)
    assert result.violations["max_peak_mem"] == 0.0
    assert result.violations["max_params"] == pytest.approx(1 / (costs["params"] - 1))
    assert not result.feasible and result.failed == ("max_params",)
    assert result.order == graph.order
    assert CheckResult.from_dict(result.to_dict()) == result
    explained = Constraints(limits).explain(result)
    assert len(explained) == 1 and explained[0].startswith("max_params:")
    assert Constraints(Limits(max_peak_mem=costs["peak_activation_bytes"])).check(graph).feasible


class _Spy:
    """Counts calls of a real function and passes them through."""

    def __init__(self, fn: Any):
        self.fn = fn
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.fn(*args, **kwargs)


def test_latency_is_never_measured_for_a_candidate_failing_an_analytic_limit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    latency_mod.clear_latency_cache()
    measure = _Spy(latency_mod.measure_latency_ms)
    session = _Spy(latency_mod._session)
    monkeypatch.setattr(latency_mod, "measure_latency_ms", measure)
    monkeypatch.setattr(latency_mod, "_session", session)
    graph = random_graph(2, 10)
    peak = Constraints().cost_model.costs(graph).analytic()["peak_activation_bytes"]

    failing = Constraints(Limits(max_peak_mem=peak - 1, max_latency_ms=1000), latency_repeats=3)
    result = failing.check(graph)
    assert not result.feasible and result.failed == ("max_peak_mem",)
    assert "latency_ms" not in result.costs and "max_latency_ms" not in result.violations
    assert not result.latency_measured
    assert measure.calls == 0 and session.calls == 0

    passing = Constraints(Limits(max_peak_mem=peak, max_latency_ms=1000), latency_repeats=3)
    result = passing.check(graph)
    assert result.latency_measured and measure.calls == 1 and session.calls == 1
    assert result.costs["latency_ms"] > 0
    assert result.violations["max_latency_ms"] == pytest.approx(
        (result.costs["latency_ms"] - 1000) / 1000)
    assert result.feasible

    # an impossible latency limit: measured (from the cache), infeasible on latency alone
    strict = Constraints(Limits(max_peak_mem=peak, max_latency_ms=1e-6), latency_repeats=3)
    result = strict.check(graph)
    assert result.failed == ("max_latency_ms",) and measure.calls == 2 and session.calls == 1

    # no latency limit: never measured
    Constraints(Limits(max_peak_mem=peak)).check(random_graph(3, 10))
    assert measure.calls == 2 and session.calls == 1


def test_config_round_trips() -> None:
    constraints = Constraints(Limits(max_peak_mem="64KiB", dtype="int8", schedule="best"),
                              latency_repeats=7, latency_cache="/tmp/x.json")
    config = constraints.get_config()
    again = Constraints.from_config(config)
    assert again.get_config() == config and again.limits == constraints.limits
    assert "max_peak_mem=65536" in repr(again)
    with pytest.raises(LimitError):
        Constraints({"max_peak_mem": 3})  # type: ignore[arg-type]


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_limit_arguments(parser)
    return parser.parse_args(argv)


def test_flags_override_the_device_profile() -> None:
    limits, device = limits_from_args(_parse(["--device", "stm32f746-disco", "--max-peak-mem",
                                              "100KB", "--max-macs", "20M"]))
    assert device is not None and device.name == "stm32f746-disco"
    assert limits.max_peak_mem == 100_000 and limits.max_macs == 20_000_000
    assert limits.max_param_mem == device.limits.max_param_mem and limits.dtype == "int8"
    limits, device = limits_from_args(_parse(["--device", "stm32f746-disco", "--dtype", "fp16"]))
    assert device is not None
    assert limits.dtype == "fp16" and limits.max_peak_mem == device.limits.max_peak_mem
    limits, device = limits_from_args(_parse(["--max-params", "50K"]))
    assert device is None and limits == Limits(max_params=50_000)
    with pytest.raises(LimitError, match="'-3MB'"):
        limits_from_args(_parse(["--max-total-mem=-3MB"]))
