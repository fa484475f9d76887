"""The memory plan: the lifetime table's figures for an order, written and read back as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fitnas.costs import MemoryPlan, MemoryPlanError, best_order, lifetime_table, memory_plan

from .test_schedule import inception_block


def test_plan_has_the_lifetime_figures_of_its_order() -> None:
    graph = inception_block()
    schedule = best_order(graph)
    plan = schedule.memory_plan(graph)
    table = lifetime_table(graph, schedule.order)
    assert plan.order == schedule.order
    assert plan.steps == ("input", *schedule.order)
    assert plan.step_bytes == table.totals
    assert plan.peak_bytes == schedule.peak_bytes == max(plan.step_bytes)
    assert plan.step_bytes[plan.peak_step] == plan.peak_bytes
    assert plan.peak_node == plan.steps[plan.peak_step] == table.peak_node
    assert plan.exact is True and plan.default_peak_bytes == schedule.default_peak_bytes
    assert sum(size for _, size in plan.alive_at_peak) == plan.peak_bytes
    assert plan.peak_tensor == plan.alive_at_peak[0][0]
    assert [s for _, s in plan.alive_at_peak] == sorted((s for _, s in plan.alive_at_peak),
                                                        reverse=True)
    assert plan.fingerprint == graph.fingerprint()


def test_default_order_plan_and_workspace_at_the_peak() -> None:
    from fitnas.arch import ArchGraph

    graph = ArchGraph((1, 2, 8, 8), [("f", "fac_conv", ("input",), {"out_channels": 16})])
    plan = memory_plan(graph)
    assert plan.order == graph.order and plan.exact is None
    names = dict(plan.alive_at_peak)
    assert names["f:workspace"] == 16 * 8 * 8 * 4  # the 1x7 result between the two convs
    assert plan.peak_bytes == sum(names.values()) == lifetime_table(graph).peak_bytes


def test_round_trip_through_json_and_a_file(tmp_path: Path) -> None:
    graph = inception_block()
    plan = best_order(graph, dtype="int8").memory_plan(graph)
    assert plan.dtype == "int8"
    assert MemoryPlan.from_dict(plan.to_dict()) == plan
    assert MemoryPlan.from_json(plan.to_json()) == plan
    path = plan.write(tmp_path / "memory_plan.json")
    assert json.loads(path.read_text())["peak_bytes"] == plan.peak_bytes
    assert MemoryPlan.read(path) == plan


def test_bad_plans_are_refused(tmp_path: Path) -> None:
    data = memory_plan(inception_block()).to_dict()
    with pytest.raises(MemoryPlanError, match="format"):
        MemoryPlan.from_dict({**data, "format": "other"})
    with pytest.raises(MemoryPlanError, match="step_bytes"):
        MemoryPlan.from_dict({**data, "step_bytes": [1, 2]})
    broken = dict(data)
    del broken["peak_bytes"]
    with pytest.raises(MemoryPlanError, match="peak_bytes"):
        MemoryPlan.from_dict(broken)
    with pytest.raises(MemoryPlanError, match="JSON"):
        MemoryPlan.from_json("{")
    with pytest.raises(MemoryPlanError, match="cannot read"):
        MemoryPlan.read(tmp_path / "missing.json")
