"""The analytic peak of graphs with ``channel_shuffle`` and ``learned_group_conv`` equals the live
activation bytes measured while the built module runs (every step, with and without in-place
reuse, in the graph's order, the best order and random orders), and the compact pass agrees."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fitnas.arch import INPUT, ArchGraph
from fitnas.arch.builder import LearnedGroupConv, build
from fitnas.costs import best_order, lifetime_table
from fitnas.costs.compact import peak
from fitnas.costs.measure import measure_peak
from tests.arch.test_group_ops import condense_layer, shufflenet_unit


def dense_cell(layers: int, growth: int, seed: int, shape: tuple[int, ...] = (2, 8, 6, 6)
               ) -> ArchGraph:
    """A CondenseNet-like dense cell: each layer a random choice of norm and conv (learned group
    conv, group conv with shuffle, plain conv), its output concatenated to the running features."""
    rng = random.Random(seed)
    nodes: list[tuple[str, str, tuple[str, ...], dict[str, object]]] = []
    features, channels = INPUT, shape[1]
    for k in range(layers):
        x = features
        if rng.random() < 0.5:
            nodes.append((f"bn{k}", "batchnorm", (x,), {}))
            x = f"bn{k}"
        if rng.random() < 0.5:
            nodes.append((f"r{k}", "relu", (x,), {}))
            x = f"r{k}"
        kind = rng.choice(["lgc", "group", "conv"])
        if kind == "lgc":
            nodes.append((f"c{k}", "learned_group_conv", (x,), {
                "out_channels": growth, "groups": rng.choice([1, 2, 4]),
                "condense_factor": rng.choice([1, 2, 4])}))
        elif kind == "group":
            g = rng.choice([2, 4])
            nodes.append((f"g{k}", "conv2d", (x,), {"out_channels": growth, "kernel": 3,
                                                    "padding": 1, "groups": g, "bias": False}))
            nodes.append((f"c{k}", "channel_shuffle", (f"g{k}",), {"groups": g}))
        else:
            nodes.append((f"c{k}", "conv2d", (x,), {"out_channels": growth, "kernel": 1}))
        nodes.append((f"cat{k}", "concat", (features, f"c{k}"), {}))
        features, channels = f"cat{k}", channels + growth
    return ArchGraph(shape, nodes)


def check(graph: ArchGraph, order: tuple[str, ...] | None = None, inplace: bool = True,
          progress: float | None = None) -> None:
    module = build(graph, order)
    if progress is not None:  # stop condensing part way, as a short training would
        for m in module.modules():
            if isinstance(m, LearnedGroupConv):
                m.set_progress(progress)
    table = lifetime_table(graph, order, "fp32", inplace)
    measured = measure_peak(graph, order, inplace=inplace, module=module)
    assert measured.step_bytes == table.totals
    assert measured.peak_bytes == table.peak_bytes
    assert peak(graph, order, inplace).peak_elements * 4 == table.peak_bytes


@pytest.mark.parametrize("inplace", [True, False])
@pytest.mark.parametrize("graph", [shufflenet_unit(), shufflenet_unit((1, 8, 5, 5), 4),
                                   shufflenet_unit((1, 4, 3, 3), 1), shufflenet_unit((1, 4, 3, 3), 4),
                                   condense_layer(), condense_layer((1, 8, 4, 4), 8)],
                         ids=["shuffle3", "shuffle4", "shuffle-g1", "shuffle-g=c", "condense",
                              "condense-small"])
def test_unit_peak_equals_measurement(graph: ArchGraph, inplace: bool) -> None:
    check(graph, inplace=inplace)
    check(graph, inplace=inplace, progress=0.2)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), layers=st.integers(1, 5), inplace=st.booleans())
def test_dense_cells_peak_equals_measurement(seed: int, layers: int, inplace: bool) -> None:
    graph = dense_cell(layers, 4, seed)
    check(graph, inplace=inplace)
    rng = random.Random(seed)
    order: list[str] = []
    done = {INPUT}
    pending = list(graph.order)
    while pending:  # a random topological order
        pick = rng.choice([n for n in pending if set(graph.node(n).inputs) <= done])
        order.append(pick)
        done.add(pick)
        pending.remove(pick)
    check(graph, tuple(order), inplace)


def test_best_order_of_a_dense_cell_is_measured_exactly() -> None:
    graph = dense_cell(4, 8, seed=7)
    schedule = best_order(graph)
    check(graph, schedule.order)
    assert schedule.peak_bytes == lifetime_table(graph, schedule.order).peak_bytes
    assert schedule.peak_bytes <= lifetime_table(graph).peak_bytes


def test_the_gathered_tensor_is_counted() -> None:
    """The learned group conv's gather is alive at its step: without it the peak is short."""
    graph = ArchGraph((1, 8, 4, 4), [
        ("x", "learned_group_conv", (INPUT,), {"out_channels": 4, "groups": 4,
                                               "condense_factor": 2})])
    measured = measure_peak(graph)
    input_bytes, output_bytes, gathered = 8 * 16 * 4, 4 * 16 * 4, 4 * 4 * 16 * 4
    assert measured.step_bytes == (input_bytes, input_bytes + output_bytes + gathered)
    assert lifetime_table(graph).totals == measured.step_bytes
