"""Running the built module in the best order: the measured peak equals the analytic one."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fitnas.arch import ArchGraph
from fitnas.arch.builder import build
from fitnas.costs import best_order, lifetime_table
from fitnas.costs.measure import measure_peak

from .test_schedule import graphs, inception_block, stacked_blocks


def _check(graph: ArchGraph, inplace: bool = True) -> tuple[int, int]:
    schedule = best_order(graph, inplace=inplace)
    module = build(graph, schedule.order)
    measured = measure_peak(graph, schedule.order, inplace=inplace, module=module)
    assert measured.step_bytes == lifetime_table(graph, schedule.order, "fp32", inplace).totals
    assert measured.peak_bytes == schedule.peak_bytes
    return schedule.peak_bytes, schedule.default_peak_bytes


def test_measured_peak_under_best_order_where_it_beats_the_default() -> None:
    for graph in (inception_block(), inception_block(width=3), stacked_blocks(3)):
        best, default = _check(graph)
        assert best < default
        best_no_inplace, _ = _check(graph, inplace=False)
        assert best_no_inplace >= best


@settings(max_examples=40)
@given(graph=graphs(max_nodes=12), inplace=st.booleans())
def test_measured_peak_under_best_order_on_random_graphs(graph: ArchGraph, inplace: bool) -> None:
    _check(graph, inplace)
