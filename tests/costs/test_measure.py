"""The analytic peak equals the live activation bytes measured while the built module runs."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fitnas.arch.builder import build
from fitnas.arch.random_graph import random_graph
from fitnas.costs import lifetime_table
from fitnas.costs.measure import measure_peak
from fitnas.modelspec import load_graph

from .test_counts import MODELS


@settings(max_examples=250)
@given(seed=st.integers(0, 10**6), size=st.integers(2, 30), inplace=st.booleans())
def test_random_graphs_peak_equals_measurement(seed: int, size: int, inplace: bool) -> None:
    graph = random_graph(seed, size)
    table = lifetime_table(graph, dtype="fp32", inplace=inplace)
    measured = measure_peak(graph, inplace=inplace)
    assert measured.step_bytes == table.totals  # every step, not only the peak
    assert measured.peak_bytes == table.peak_bytes


@settings(max_examples=40)
@given(seed=st.integers(0, 10**6), shuffle=st.randoms(use_true_random=False))
def test_any_order_peak_equals_measurement(seed: int, shuffle: random.Random) -> None:
    graph = random_graph(seed, 16)
    order: list[str] = []
    done = {"input"}
    pending = list(graph.order)
    while pending:  # a random topological order
        ready = [n for n in pending if set(graph.node(n).inputs) <= done]
        pick = shuffle.choice(ready)
        order.append(pick)
        done.add(pick)
        pending.remove(pick)
    module = build(graph, order)
    assert measure_peak(graph, order, module=module).step_bytes == lifetime_table(graph, order).totals


def test_random_graphs_have_what_the_property_needs() -> None:
    """The random graphs used above do exercise branches, adds, concats and in-place reuse."""
    ops: set[str] = set()
    reused = 0
    for seed in range(30):
        graph = random_graph(seed, 20)
        ops |= {n.op for n in graph.nodes}
        reused += len(lifetime_table(graph).plan.inplace_operand)
        assert any(len(graph.consumers(n)) > 1 for n in ("input", *graph.order))
    assert {"add", "concat", "mul", "conv2d", "fac_conv", "zero", "identity"} <= ops
    assert reused > 30


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("inplace", [True, False])
def test_torchvision_peak_equals_measurement(name: str, inplace: bool) -> None:
    graph = load_graph(f"torchvision:{name}").graph
    table = lifetime_table(graph, inplace=inplace)
    measured = measure_peak(graph, inplace=inplace)
    assert measured.step_bytes == table.totals
    assert measured.peak_bytes == table.peak_bytes
