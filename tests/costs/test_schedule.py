"""The memory-optimal order: equal to brute force over all topological orders, never worse than
the graph's own order, and measured on the running module to the byte."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, find, given, settings
from hypothesis import strategies as st

from fitnas.arch import INPUT, ArchGraph, check_order
from fitnas.costs import peak_activation_bytes
from fitnas.costs.schedule import ScheduleError, best_order
from fitnas.costs.schedule_dp import exact_order
from fitnas.costs.schedule_model import SetModel
from fitnas.costs.schedule_split import cut_points, pieces
from fitnas.errors import FitnasError

_UNARY = ("relu", "relu", "identity", "batchnorm", "dropout", "sigmoid")


@st.composite
def graphs(draw: Any, max_nodes: int = 10) -> ArchGraph:
    """Random small DAGs of real ops with branches, adds, concats, views and dead ends."""
    c0 = draw(st.integers(1, 4))
    size = draw(st.sampled_from((4, 6, 8)))
    shapes: dict[str, tuple[int, ...]] = {INPUT: (1, c0, size, size)}
    nodes: list[tuple[str, str, tuple[str, ...], dict[str, Any]]] = []
    n_nodes = draw(st.integers(min(3, max_nodes), max_nodes))
    while len(nodes) < n_nodes:
        names = list(shapes)
        # mostly recent tensors (deep graphs), sometimes any (branches, long skips)
        back = draw(st.integers(0, len(names) - 1))
        src = names[-1 - min(back, draw(st.integers(0, 3)))]
        _, c, h, w = shapes[src]
        kind = draw(st.sampled_from(
            ("conv", "conv", "unary", "unary", "pool", "add", "concat", "fac", "zero", "mul",
             "weight")))
        name = f"n{len(nodes)}"
        node: tuple[str, tuple[str, ...], dict[str, Any], tuple[int, ...]]
        if kind == "conv":
            out_c, k = draw(st.integers(1, 6)), draw(st.sampled_from((1, 3)))
            stride = draw(st.sampled_from((1, 1, 2))) if h >= 4 else 1
            ho = (h + 2 * (k // 2) - k) // stride + 1
            node = ("conv2d", (src,), {"out_channels": out_c, "kernel": k, "stride": stride,
                                       "padding": k // 2}, (1, out_c, ho, ho))
        elif kind == "fac":
            out_c = draw(st.integers(1, 6))
            node = ("fac_conv", (src,), {"out_channels": out_c, "kernel": 3}, (1, out_c, h, w))
        elif kind == "unary":
            node = (draw(st.sampled_from(_UNARY)), (src,), {}, (1, c, h, w))
        elif kind == "pool" and h >= 2:
            op = draw(st.sampled_from(("maxpool", "avgpool")))
            node = (op, (src,), {"kernel": 2, "stride": 2}, (1, c, h // 2, w // 2))
        elif kind == "weight":  # a weight tensor (zero activation bytes) multiplied in
            weight = f"w{len(nodes)}"
            nodes.append((weight, "parameter", (), {"shape": (1, c, h, w)}))
            shapes[weight] = (1, c, h, w)
            node = ("mul", (src, weight), {}, (1, c, h, w))
        elif kind == "zero":
            node = ("zero", (src,), {}, (1, c, h, w))
        elif kind in ("add", "mul"):
            same = [t for t, s in shapes.items() if s == shapes[src]]
            other = draw(st.sampled_from(same))
            node = (kind, (src, other), {}, (1, c, h, w))
        elif kind == "concat":
            fit = [t for t, s in shapes.items() if s[2:] == (h, w)]
            other = draw(st.sampled_from(fit))
            node = ("concat", (src, other), {}, (1, c + shapes[other][1], h, w))
        else:
            continue
        op, inputs, attrs, shape = node
        nodes.append((name, op, inputs, attrs))
        shapes[name] = shape
    names = [n[0] for n in nodes]
    outputs = [names[-1]]
    extra = draw(st.lists(st.sampled_from(names), max_size=2, unique=True))
    outputs += [o for o in extra if o not in outputs]
    # the graph's own order: a random topological order (the listed order, repaired)
    return ArchGraph(shapes[INPUT], draw(st.permutations(nodes)), outputs=outputs)


def topological_orders(graph: ArchGraph) -> Iterator[tuple[str, ...]]:
    """Every topological order of ``graph`` (exponential: small graphs only)."""
    deps = {n.name: set(n.inputs) - {INPUT} for n in graph.nodes}

    def extend(prefix: list[str], done: set[str]) -> Iterator[tuple[str, ...]]:
        if len(prefix) == len(deps):
            yield tuple(prefix)
            return
        for name in deps:
            if name not in done and deps[name] <= done:
                prefix.append(name)
                done.add(name)
                yield from extend(prefix, done)
                done.discard(name)
                prefix.pop()

    yield from extend([], set())


def count_orders(graph: ArchGraph, cap: int) -> int:
    return sum(1 for _ in itertools.islice(topological_orders(graph), cap + 1))


@settings(max_examples=320, suppress_health_check=[HealthCheck.too_slow,
                                                   HealthCheck.filter_too_much])
@given(graph=graphs(), inplace=st.booleans())
def test_best_order_equals_brute_force_minimum(graph: ArchGraph, inplace: bool) -> None:
    assume(count_orders(graph, 2000) <= 2000)
    brute = min(peak_activation_bytes(graph, order, "fp32", inplace)
                for order in topological_orders(graph))
    schedule = best_order(graph, "fp32", inplace)
    check_order(graph, schedule.order)
    assert schedule.exact
    assert schedule.peak_bytes == brute
    assert peak_activation_bytes(graph, schedule.order, "fp32", inplace) == brute
    assert schedule.default_peak_bytes == peak_activation_bytes(graph, None, "fp32", inplace)
    assert schedule.peak_bytes <= schedule.default_peak_bytes


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow,
                                                   HealthCheck.filter_too_much])
@given(graph=graphs(), inplace=st.booleans(), floor=st.sampled_from((0, 200, 600)))
def test_exact_search_alone_equals_brute_force_minimum(
    graph: ArchGraph, inplace: bool, floor: int
) -> None:
    """The dynamic programme without a budget or pieces (every state that the forced moves
    leave is expanded) finds the clamped minimum ``max(floor, peak)`` of all orders."""
    assume(count_orders(graph, 2000) <= 2000)
    brute = min(peak_activation_bytes(graph, order, "fp32", inplace)
                for order in topological_orders(graph))
    model = SetModel(graph, "fp32", inplace)
    order, value, _ = exact_order(model, model.all_nodes, 0, floor, 10**18, float("inf"))
    assert order is not None
    assert value == max(floor, brute)
    names = [model.names[v] for v in order]
    check_order(graph, names)
    assert max(floor, peak_activation_bytes(graph, names, "fp32", inplace)) == value


@settings(max_examples=150)
@given(graph=graphs(max_nodes=14), inplace=st.booleans(), data=st.data())
def test_set_model_equals_lifetime_model_on_any_order(
    graph: ArchGraph, inplace: bool, data: Any
) -> None:
    order = data.draw(st.permutations(graph.order))
    done = {INPUT}
    fixed: list[str] = []
    pending = list(order)
    while pending:  # the permutation, repaired into a topological order
        name = next(n for n in pending if set(graph.node(n).inputs) <= done)
        fixed.append(name)
        done.add(name)
        pending.remove(name)
    model = SetModel(graph, "fp32", inplace)
    assert model.peak(model.order_indices(fixed)) == peak_activation_bytes(
        graph, fixed, "fp32", inplace)


@pytest.mark.parametrize("dtype", ["fp16", "int8"])
def test_dtype_scales_the_peak(dtype: str) -> None:
    graph = inception_block()
    s32, s = best_order(graph, "fp32"), best_order(graph, dtype)
    assert s.peak_bytes == peak_activation_bytes(graph, s.order, dtype)
    assert s.peak_bytes * {"fp16": 2, "int8": 4}[dtype] == s32.peak_bytes


def inception_block(width: int = 8) -> ArchGraph:
    """Four branches of different widths read one stem. The graph's own order runs every wide
    1x1 conv first and holds all of them; the best order finishes each branch before the next."""
    nodes: list[tuple[str, str, tuple[str, ...], dict[str, Any]]] = [
        ("pre", "relu", (INPUT,), {}),
        ("stem", "conv2d", ("pre",), {"out_channels": 4, "kernel": 1}),
    ]
    widths = (2, 16, 4, 12)
    for b, c in enumerate(widths):
        nodes.append((f"b{b}a", "conv2d", ("stem",), {"out_channels": c * width, "kernel": 1}))
    for b in range(len(widths)):
        nodes.append((f"b{b}r", "relu", (f"b{b}a",), {}))
        nodes.append((f"b{b}c", "conv2d", (f"b{b}r",), {"out_channels": 2, "kernel": 3,
                                                         "padding": 1}))
    nodes.append(("cat", "concat", tuple(f"b{b}c" for b in range(len(widths))), {}))
    return ArchGraph((1, 3, 8, 8), nodes, name="inception")


def test_best_order_beats_a_bad_default_order() -> None:
    graph = inception_block()
    schedule = best_order(graph)
    assert schedule.exact
    assert schedule.peak_bytes < schedule.default_peak_bytes
    assert schedule.reduction > 1.5
    assert schedule.peak_bytes == peak_activation_bytes(graph, schedule.order)


def stacked_blocks(n_blocks: int) -> ArchGraph:
    """Inception-like blocks in sequence: each block output is a single-tensor cut point."""
    nodes: list[tuple[str, str, tuple[str, ...], dict[str, Any]]] = []
    prev = INPUT
    for k in range(n_blocks):
        outs = []
        for b, c in enumerate((3, 9, 5, 7)):
            a, r, o = f"k{k}b{b}a", f"k{k}b{b}r", f"k{k}b{b}c"
            nodes.append((a, "conv2d", (prev,), {"out_channels": c, "kernel": 1}))
            nodes.append((r, "relu", (a,), {}))
            nodes.append((o, "conv2d", (r,), {"out_channels": 2, "kernel": 1}))
            outs.append(o)
        nodes.append((f"k{k}cat", "concat", tuple(outs), {}))
        prev = f"k{k}cat"
    return ArchGraph((1, 8, 6, 6), nodes)


def test_stacked_blocks_are_solved_piece_by_piece() -> None:
    graph = stacked_blocks(12)  # 12 blocks of 13 nodes: one search over all would be huge
    schedule = best_order(graph, time_limit=30)
    assert schedule.exact
    assert schedule.pieces >= 12
    assert schedule.peak_bytes == peak_activation_bytes(graph, schedule.order)
    one = best_order(stacked_blocks(1))
    assert schedule.peak_bytes == one.peak_bytes  # every block has the same shapes


def test_time_limit_gives_an_inexact_but_valid_order() -> None:
    graph = random_wired(40, seed=1)
    schedule = best_order(graph, time_limit=0.2)
    check_order(graph, schedule.order)
    assert not schedule.exact
    assert schedule.inexact_pieces
    assert schedule.peak_bytes == peak_activation_bytes(graph, schedule.order)
    assert schedule.peak_bytes <= schedule.default_peak_bytes


def random_wired(n: int, seed: int, p: float = 0.2) -> ArchGraph:
    """An Erdos-Renyi DAG of ``n`` wiring nodes (sum of inputs, 1x1 conv of random width, relu,
    1x1 conv back), its sinks concatenated: too many orders for the exact search."""
    rng = random.Random(seed)
    nodes: list[tuple[str, str, tuple[str, ...], dict[str, Any]]] = []
    has_reader: set[int] = set()
    for i in range(n):
        preds = [j for j in range(i) if rng.random() < p]
        has_reader.update(preds)
        ins = tuple(f"w{j}" for j in preds) or (INPUT,)
        x = ins[0]
        if len(ins) > 1:
            nodes.append((f"s{i}", "add", ins, {}))
            x = f"s{i}"
        width = rng.choice((1, 2, 4, 8))
        nodes.append((f"c{i}", "conv2d", (x,), {"out_channels": width, "kernel": 1}))
        nodes.append((f"r{i}", "relu", (f"c{i}",), {}))
        nodes.append((f"w{i}", "conv2d", (f"r{i}",), {"out_channels": 2, "kernel": 1}))
    sinks = tuple(f"w{i}" for i in range(n) if i not in has_reader)
    nodes.append(("out", "concat", sinks, {}))
    return ArchGraph((1, 2, 4, 4), nodes)


@pytest.mark.slow
def test_the_random_graphs_reach_orders_better_than_the_default() -> None:
    """The strategy of the brute-force test does produce graphs where the order matters."""
    found = find(graphs(), lambda g: best_order(g).peak_bytes < peak_activation_bytes(g),
                 settings=settings(max_examples=2000, database=None))
    assert best_order(found).peak_bytes < peak_activation_bytes(found)


@pytest.mark.parametrize("bad", [0, -1.0, "1", True])
def test_bad_time_limit_is_refused(bad: Any) -> None:
    with pytest.raises(ScheduleError, match="time_limit"):
        best_order(inception_block(), time_limit=bad)


def test_bad_dtype_is_refused() -> None:
    with pytest.raises(FitnasError, match="fp64"):
        best_order(inception_block(), dtype="fp64")


def test_cut_points_split_only_where_nothing_else_is_alive() -> None:
    graph = stacked_blocks(3)
    model = SetModel(graph)
    cuts = [model.names[c] for c in cut_points(model)]
    assert cuts == ["k0cat", "k1cat", "k2cat"]
    parts = pieces(model)
    assert sum(bin(p).count("1") for p in parts) == len(graph.nodes)
    # a skip from the input to the end, an extra output, or a dead end each remove the cut
    nodes = [(n.name, n.op, n.inputs, dict(n.attrs)) for n in graph.nodes]
    skip = ArchGraph(graph.input_shape, [*nodes, ("tail", "add", ("k2cat", INPUT), {})])
    assert "k0cat" not in [SetModel(skip).names[c] for c in cut_points(SetModel(skip))]
    out = ArchGraph(graph.input_shape, nodes, outputs=["k2cat", "k1b1a"])  # alive to the end
    assert [SetModel(out).names[c] for c in cut_points(SetModel(out))] == ["k0cat"]
    dead = ArchGraph(graph.input_shape, [*nodes[:3], ("dead", "relu", ("k0b0a",), {}),
                                         *nodes[3:]], outputs=["k2cat"])
    # the dead end may run before or after any later block: no cut can fix its place
    assert cut_points(SetModel(dead)) == []
    for g in (skip, out, dead):
        s = best_order(g)
        assert s.exact and s.peak_bytes == peak_activation_bytes(g, s.order)
