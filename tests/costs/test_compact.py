"""The compact form's one pass against the reference: the lifetime table (peak bytes and the node
of its first peak step), Chan's memory, parameters and MACs, on random graphs and every space's
samples, with and without in-place reuse, at each dtype, under the graph's order and others."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitnas.arch import INPUT, ArchGraph, Node
from fitnas.arch.buffers import plan_buffers
from fitnas.arch.random_graph import random_graph
from fitnas.costs import (
    DTYPE_BYTES,
    best_order,
    chan_memory_bytes,
    count_macs,
    count_params,
    estimate,
    lifetime_table,
)
from fitnas.costs.compact import compact, peak
from fitnas.errors import ArchError, FitnasError
from fitnas.spaces import create_space, list_spaces
from fitnas.spaces._emit import Emitter

from .test_schedule import graphs

SLOW = settings(max_examples=120, suppress_health_check=[HealthCheck.too_slow,
                                                         HealthCheck.filter_too_much])


def random_order(graph: ArchGraph, rng: random.Random) -> tuple[str, ...]:
    """A uniformly drawn ready node at each step: a random topological order."""
    waiting = {n.name: len(set(n.inputs) - {INPUT}) for n in graph.nodes}
    ready = [name for name, count in waiting.items() if count == 0]
    order = []
    while ready:
        name = ready.pop(rng.randrange(len(ready)))
        order.append(name)
        for reader in graph.consumers(name):
            waiting[reader] -= 1
            if waiting[reader] == 0:
                ready.append(reader)
    assert len(order) == len(graph)
    return tuple(order)


def reference(graph: ArchGraph, order: Any, dtype: str, inplace: bool) -> tuple[Any, ...]:
    table = lifetime_table(graph, order, dtype, inplace)
    return (table.peak_bytes, table.peak_node, chan_memory_bytes(graph, dtype),
            count_params(graph), count_macs(graph), count_macs(graph, count_bias=True))


def fast(graph: ArchGraph, order: Any, dtype: str, inplace: bool) -> tuple[Any, ...]:
    ours = estimate(graph, dtype, inplace, order=order)
    with_bias = estimate(graph, dtype, inplace, count_bias=True, order=order)
    return (ours.peak_activation_bytes, ours.peak_node, ours.chan_memory_bytes, ours.params,
            ours.macs, with_bias.macs)


def check(graph: ArchGraph, order: Any = None) -> None:
    """The fast path equals the reference at every dtype, with and without in-place reuse."""
    for dtype in DTYPE_BYTES:
        for inplace in (True, False):
            assert fast(graph, order, dtype, inplace) == reference(graph, order, dtype, inplace)
            assert estimate(graph, dtype, inplace, order=order) == \
                estimate(graph, dtype, inplace, order=order, fast=False)
    found = peak(graph, order)
    table = lifetime_table(graph, order, "int8")
    assert (found.peak_elements, found.peak_step) == (table.peak_bytes, table.peak_step)


@SLOW
@given(seed=st.integers(0, 10**6), size=st.integers(1, 60), orders=st.integers(0, 3),
       outputs=st.integers(0, 3))
def test_random_graphs(seed: int, size: int, orders: int, outputs: int) -> None:
    graph = random_graph(seed, size)
    rng = random.Random(seed)
    if outputs:  # more outputs, alive to the end and never overwritten
        extra = rng.sample(graph.order[:-1], min(outputs, len(graph) - 1))
        graph = ArchGraph(graph.input_shape, graph.nodes, outputs=(*extra, graph.order[-1]))
    check(graph)
    for _ in range(orders):
        check(graph, random_order(graph, rng))


@SLOW
@given(graph=graphs(max_nodes=14), seed=st.integers(0, 10**6))
def test_graphs_with_weights_views_and_several_outputs(graph: ArchGraph, seed: int) -> None:
    check(graph)
    check(graph, graph.order)
    check(graph, list(random_order(graph, random.Random(seed))))
    for inplace in (True, False):
        order = best_order(graph, "fp32", inplace, time_limit=2.0).order
        assert fast(graph, order, "fp32", inplace) == reference(graph, order, "fp32", inplace)


@pytest.mark.parametrize("name", list_spaces())
def test_every_space_sample(name: str) -> None:
    space = create_space(name)
    rng = random.Random(0)
    for seed in range(12):
        graph = space.decode(space.sample(seed))
        check(graph)
        check(graph, random_order(graph, rng))
        if seed < 2:
            order = best_order(graph, "int8", True, time_limit=1.0).order
            check(graph, order)


def test_hundreds_of_graphs_exercise_every_rule() -> None:
    """The random graphs above are not vacuous: across them, ops run in place (and not when
    in-place reuse is off), views share buffers, workspaces count, and the peak falls on
    various kinds of steps; the fast path agrees on every one."""
    seen = {"inplace": 0, "alias": 0, "workspace": 0, "inplace_matters": 0, "peak_at_input": 0}
    for seed in range(300):
        graph = random_graph(seed, 3 + seed % 40)
        plan = plan_buffers(graph)
        seen["inplace"] += bool(plan.inplace_operand)
        seen["alias"] += len(plan.buffers) < len(graph) + 1 - len(plan.inplace_operand)
        seen["workspace"] += any(plan.workspace_elements)
        on, off = lifetime_table(graph), lifetime_table(graph, inplace=False)
        seen["inplace_matters"] += on.peak_bytes != off.peak_bytes
        seen["peak_at_input"] += on.peak_step == 0
        for inplace in (True, False):
            assert fast(graph, None, "fp32", inplace) == reference(graph, None, "fp32", inplace)
    assert all(count >= 10 for key, count in seen.items() if key != "peak_at_input"), seen


def test_hand_written_edge_cases() -> None:
    conv = {"out_channels": 4, "kernel": 1}
    cases = [
        # an in-place op on the input's alias may not overwrite the caller's input
        ArchGraph((1, 4, 4, 4), [("i", "identity", ("input",)), ("r", "relu", ("i",))]),
        # add(a, a): one buffer read twice; outputs that are views; dead ends
        ArchGraph((1, 4, 4, 4), [("a", "conv2d", ("input",), conv), ("s", "add", ("a", "a")),
                                 ("f", "flatten", ("s",)), ("d", "conv2d", ("input",), conv),
                                 ("r", "relu", ("a",))], outputs=("f", "r")),
        # weights, a broadcast multiply and an opaque node without inputs
        ArchGraph((1, 4, 2, 2), [("w", "parameter", (), {"shape": (1, 4, 1, 1)}),
                                 ("m", "mul", ("input", "w")),
                                 ("o", "opaque", (), {"target": "x", "out_shape": (1, 4, 2, 2)}),
                                 ("s", "add", ("m", "o")), ("r", "relu", ("s",))]),
        # the peak at step 0: nothing reads the input, which outweighs every later step
        ArchGraph((1, 64), [("o", "opaque", (), {"target": "x", "out_shape": (1, 2)}),
                            ("r", "relu", ("o",))]),
        # an output read in place by the last step: its buffer is not overwritten
        ArchGraph((1, 8), [("a", "linear", ("input",), {"out_features": 8}),
                           ("s", "sigmoid", ("a",))], outputs=("a", "s")),
        ArchGraph((1, 2), [("a", "linear", ("input",), {"out_features": 8}),
                           ("r", "relu", ("a",)), ("s", "sigmoid", ("r",))], outputs=("r", "s")),
        ArchGraph((1, 2), [("a", "linear", ("input",), {"out_features": 8}),
                           ("i", "identity", ("a",)), ("s", "sigmoid", ("i",))],
                  outputs=("i", "s")),
        # a layer whose one input is a weight (Chan's |x_l| counts activations only)
        ArchGraph((1, 2), [("w", "parameter", (), {"shape": (1, 64)}), ("r", "relu", ("w",))]),
        # a factorized conv's workspace
        ArchGraph((1, 2, 8, 8), [("f", "fac_conv", ("input",), {"out_channels": 6, "kernel": 3}),
                                 ("r", "relu", ("f",))]),
    ]
    for graph in cases:
        check(graph)
        check(graph, random_order(graph, random.Random(1)))
    assert estimate(cases[3]).peak_node == "input"
    assert estimate(cases[2]).opaque_nodes == estimate(cases[3]).opaque_nodes == ("o",)
    assert estimate(cases[5]).peak_node == estimate(cases[6]).peak_node == "s"


def test_the_compact_form_is_made_once_per_graph() -> None:
    graph = random_graph(3, 30)
    form = compact(graph)
    assert compact(graph) is form
    assert form.names == ("input", *graph.order)
    assert [graph.order[k - 1] for k in form.inputs[5]] == list(graph.node(graph.order[4]).inputs)
    assert form.elements[7] == graph.numel(graph.order[6])
    assert (form.params, form.macs) == (count_params(graph), count_macs(graph))
    again = ArchGraph.from_dict(graph.to_dict())
    assert compact(again) is not form
    assert estimate(again) == estimate(graph)


def test_bad_orders_and_dtypes_raise_as_the_reference_does() -> None:
    graph = random_graph(5, 12)
    backwards = tuple(reversed(graph.order))
    for fast_path in (True, False):
        with pytest.raises(ArchError, match="before its input"):
            estimate(graph, order=backwards, fast=fast_path)
        with pytest.raises(ArchError, match="every node once"):
            estimate(graph, order=graph.order[:-1], fast=fast_path)
        with pytest.raises(FitnasError, match="accepted: fp32, fp16, int8"):
            estimate(graph, dtype="fp64", fast=fast_path)


def test_the_graph_takes_one_pass_and_the_reference_path_alike() -> None:
    """A node list in topological order takes the one-pass construction (memoized op
    arithmetic); the same nodes shuffled take the reference path; both give equal graphs."""
    for seed in range(40):
        graph = random_graph(seed, 25)
        rows = [(n.name, n.op, list(n.inputs), dict(n.attrs)) for n in graph.nodes]
        one_pass = ArchGraph(graph.input_shape, rows, name=graph.name)
        shuffled = ArchGraph(graph.input_shape, random.Random(seed).sample(rows, len(rows)),
                             outputs=graph.outputs)
        nodes = ArchGraph(graph.input_shape, [Node(n, op, tuple(i), a) for n, op, i, a in rows],
                          name=graph.name)
        assert one_pass._nodes is None and nodes._nodes is None  # no Node objects made
        assert shuffled._nodes is not None  # the reference path sorted the list
        assert one_pass.to_dict() == nodes.to_dict() == graph.to_dict()
        assert shuffled.to_dict()["nodes"] == [n.to_dict() for n in shuffled.nodes]
        for other in (one_pass, shuffled, nodes):
            assert other.fingerprint() == graph.fingerprint()
            assert estimate(other) == estimate(other, fast=False)
            assert [other.shape(n) for n in graph.order] == [graph.shape(n) for n in graph.order]


@pytest.mark.parametrize(("good", "bad", "message"), [
    ({"out_channels": 4, "kernel": 3, "bias": False}, {"out_channels": 4, "kernel": 3, "bias": 0},
     "bias must be true or false"),
    ({"out_channels": 4, "kernel": (1, 3)}, {"out_channels": 4, "kernel": (True, 3)},
     "kernel must be an int or a pair"),
    ({"out_channels": 4, "kernel": 1, "padding": (0, 1)},
     {"out_channels": 4, "kernel": 1, "padding": (False, 1)}, "padding must be an int or a pair"),
    ({"out_channels": 4, "kernel": 3}, {"out_channels": 4.0, "kernel": 3},
     "out_channels must be a positive int"),
    ({"out_channels": 4, "kernel": 3}, {"out_channels": True, "kernel": 3},
     "out_channels must be a positive int"),
])
def test_memoized_checks_still_tell_equal_looking_values_apart(
    good: dict[str, Any], bad: dict[str, Any], message: str
) -> None:
    """``True == 1`` and ``1.0 == 1`` in Python: the memo of checked attributes must not serve
    a checked ``1`` for an unchecked ``True``."""
    for _ in range(2):
        ArchGraph((1, 4, 8, 8), [("c", "conv2d", ("input",), good)])
        with pytest.raises(ArchError, match=message):
            ArchGraph((1, 4, 8, 8), [("c", "conv2d", ("input",), bad)])


def test_memoized_checks_keep_the_sign_of_zero() -> None:
    """``0.0 == -0.0``: the attributes keep the value they were given, memo or not."""
    for p in (0.0, -0.0, 0.0):
        graph = ArchGraph((1, 4), [("d", "dropout", ("input",), {"p": p})])
        assert math.copysign(1.0, graph.node("d").attrs["p"]) == math.copysign(1.0, p)


@pytest.mark.parametrize("name", list_spaces())
def test_decoded_graphs_take_the_one_pass_construction(name: str) -> None:
    """What the spaces write is checked in one pass (no Node objects made), and equals the
    same nodes built by the reference path."""
    space = create_space(name)
    for seed in range(5):
        graph = space.decode(space.sample(seed))
        assert graph._nodes is None
        reference = ArchGraph(graph.input_shape, random.Random(seed).sample(
            list(graph.nodes), len(graph)), graph.outputs, graph.name)
        assert reference.fingerprint() == graph.fingerprint()
        assert estimate(reference, order=graph.order, fast=False) == estimate(graph)


@pytest.mark.parametrize("cells_per_stage", [1, 2, 5])
def test_nb201_cells_copied_from_one_piece_equal_cells_written_out(
    cells_per_stage: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``nb201`` writes a stage's cell once and copies it (``Emitter.repeat``): the nodes, their
    names and order are those of writing every cell out."""
    space = create_space("nb201", cells_per_stage=cells_per_stage)
    encodings = [space.sample(seed) for seed in range(40)]
    copied = [space.decode(e).to_dict() for e in encodings]
    monkeypatch.setattr(Emitter, "repeat", lambda self, piece, prefixes, x: None)
    monkeypatch.setattr(Emitter, "splice", lambda self, piece, prefix, inputs: False)
    assert [space.decode(e).to_dict() for e in encodings] == copied


def test_a_piece_that_reads_other_tensors_is_not_copied() -> None:
    em = Emitter((1, 3, 8, 8))
    x = em.add("relu", ("input",))
    piece = em.fragment({"<x>": x})
    a = piece.add("relu", ("<x>",), "a_")
    piece.add("add", (a, "elsewhere"), "b_")
    before = (em.rows(), dict(em._counts))
    assert not em.splice(piece, "p_", {"<x>": x})
    assert em.repeat(piece, ["p_"], x) is None
    assert (em.rows(), em._counts) == before


def test_one_attribute_dict_on_nodes_of_other_shapes() -> None:
    """A dict shared by several nodes is checked once per input shapes, not once."""
    conv = {"out_channels": 6, "kernel": 3, "padding": 1}
    rows = [("a", "conv2d", ("input",), conv), ("p", "maxpool", ("a",), {"kernel": 2}),
            ("b", "conv2d", ("p",), conv), ("c", "conv2d", ("b",), conv)]
    shared = ArchGraph((1, 3, 8, 8), rows)
    apart = ArchGraph((1, 3, 8, 8), [(n, op, i, dict(a)) for n, op, i, a in rows])
    assert shared._nodes is None
    assert [shared.shape(n) for n in "apbc"] == [apart.shape(n) for n in "apbc"]
    assert shared.total_params() == apart.total_params() == 6 * 3 * 9 + 6 + 2 * (6 * 6 * 9 + 6)
    assert estimate(shared) == estimate(apart, fast=False)
