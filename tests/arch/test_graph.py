"""ArchGraph: construction, validation, JSON round-trip and fingerprints."""

from __future__ import annotations

import json

import pytest

from fitnas.arch import ArchGraph, Node, check_order
from fitnas.arch.random_graph import random_graph
from fitnas.errors import ArchError, ShapeError


def small_graph() -> ArchGraph:
    return ArchGraph((1, 3, 16, 16), [
        ("a", "conv2d", ("input",), {"out_channels": 8, "kernel": 3, "padding": 1}),
        ("b", "relu", ("a",)),
        ("c", "conv2d", ("input",), {"out_channels": 8, "kernel": 1}),
        ("d", "add", ("b", "c")),
        ("e", "global_avgpool", ("d",), {"keepdim": False}),
        ("f", "linear", ("e",), {"out_features": 4}),
    ])


def test_shapes_are_inferred() -> None:
    g = small_graph()
    assert g.shape("input") == (1, 3, 16, 16)
    assert g.shape("a") == (1, 8, 16, 16)
    assert g.shape("e") == (1, 8)
    assert g.shape("f") == (1, 4)
    assert g.outputs == ("f",)
    assert g.consumers("input") == ("a", "c")


@pytest.mark.parametrize("seed", range(20))
def test_json_round_trip(seed: int) -> None:
    g = random_graph(seed, n_nodes=15)
    again = ArchGraph.from_json(json.dumps(json.loads(g.to_json())))
    assert again == g
    assert again.fingerprint() == g.fingerprint()
    assert [again.shape(n) for n in again.order] == [g.shape(n) for n in g.order]


def test_fingerprint_ignores_names_and_independent_order() -> None:
    g = small_graph()
    renamed = {n.name: f"x_{n.name}" for n in g.nodes}
    renamed["input"] = "input"
    nodes = [Node(renamed[n.name], n.op, tuple(renamed[i] for i in n.inputs), dict(n.attrs))
             for n in g.nodes]
    reordered = [nodes[2], nodes[0], nodes[1], nodes[3], nodes[4], nodes[5]]
    other = ArchGraph(g.input_shape, reordered)
    assert other.fingerprint() == g.fingerprint()
    swapped = ArchGraph(g.input_shape, [*nodes[:3], Node(nodes[3].name, "add",
                        (nodes[3].inputs[1], nodes[3].inputs[0])), *nodes[4:]])
    assert swapped.fingerprint() == g.fingerprint()  # add is commutative


def test_fingerprint_differs_for_different_graphs() -> None:
    g = small_graph()
    nodes = list(g.nodes)
    nodes[0] = Node("a", "conv2d", ("input",), {"out_channels": 8, "kernel": 3, "padding": 1,
                                                "bias": False})
    assert ArchGraph(g.input_shape, nodes).fingerprint() != g.fingerprint()
    assert g.with_input_shape((1, 3, 8, 8)).fingerprint() != g.fingerprint()
    fingerprints = {random_graph(s, 12).fingerprint() for s in range(50)}
    assert len(fingerprints) == 50


def test_non_topological_list_is_sorted() -> None:
    g = small_graph()
    shuffled = [g.nodes[5], g.nodes[3], g.nodes[0], g.nodes[1], g.nodes[2], g.nodes[4]]
    again = ArchGraph(g.input_shape, shuffled)
    check_order(again, again.order)
    assert again.fingerprint() == g.fingerprint()


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        ([("a", "relu", ("b",)), ("b", "relu", ("a",))], "cycle"),
        ([("a", "relu", ("a",))], "cycle"),
        ([("a", "relu", ("nowhere",))], "'nowhere'"),
        ([("a", "relu", ("input",)), ("a", "relu", ("input",))], "used twice"),
        ([("input", "relu", ("input",))], "reserved"),
        ([("a", "fancy_op", ("input",))], "unknown op 'fancy_op'; known ops: adaptive_avgpool, add"),
        ([("a", "conv2d", ("input",), {"kernel": 3})], "needs attribute 'out_channels'"),
        ([("a", "conv2d", ("input",), {"out_channels": 4, "kernel": 3, "colour": 1})],
         "no attribute 'colour'"),
        ([("a", "add", ("input",))], "takes 2 or more inputs"),
        ([("a", "conv2d", ("input",), {"out_channels": 4, "kernel": 0})], ">= 1"),
    ],
)
def test_bad_graphs_are_named(nodes: list, message: str) -> None:
    with pytest.raises(ArchError, match=message.replace("(", r"\(")):
        ArchGraph((1, 3, 8, 8), nodes)


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        ([("a", "conv2d", ("input",), {"out_channels": 4, "kernel": 9})], "does not fit a 8x8"),
        ([("a", "maxpool", ("input",), {"kernel": 2}), ("b", "add", ("a", "input"))],
         "do not broadcast"),
        ([("a", "maxpool", ("input",), {"kernel": 2}), ("b", "concat", ("a", "input"))],
         "differ outside dim 1"),
        ([("a", "conv2d", ("input",), {"out_channels": 4, "kernel": 1, "groups": 2})],
         "not divisible by groups"),
        ([("a", "flatten", ("input",)), ("b", "conv2d", ("a",), {"out_channels": 2, "kernel": 1})],
         "4-D"),
    ],
)
def test_impossible_shapes_are_named(nodes: list, message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        ArchGraph((1, 3, 8, 8), nodes)
    with pytest.raises(ShapeError, match=f"node '{nodes[-1][0]}'"):
        ArchGraph((1, 3, 8, 8), nodes)


def test_order_checks() -> None:
    g = small_graph()
    with pytest.raises(ArchError, match="before its input"):
        g.with_order(["b", "a", "c", "d", "e", "f"])
    with pytest.raises(ArchError, match="every node once"):
        g.with_order(["a", "b"])
    other = g.with_order(["c", "a", "b", "d", "e", "f"])
    assert other.order[0] == "c"


def test_from_dict_rejects_malformed() -> None:
    with pytest.raises(ArchError, match="input_shape"):
        ArchGraph.from_dict({"nodes": []})
    with pytest.raises(ArchError, match="version"):
        ArchGraph.from_dict({"input_shape": [1, 3], "nodes": [], "version": 7})
    with pytest.raises(ArchError, match="not valid JSON"):
        ArchGraph.from_json("{")
    with pytest.raises(ArchError, match="positive"):
        ArchGraph((1, 0, 4, 4), [("a", "relu", ("input",))])
