"""The emitter's fast path (nodes checked as written, pieces copied, the graph made from the
checked columns) gives every space's networks exactly as the reference path does: the reference
writer (every node written out, kept as written) and the public ArchGraph constructor's staged
checks (``fitnas.arch.nodes.checked_rows``)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import fitnas.arch.graph as graph_module
from fitnas.arch import INPUT, ArchGraph
from fitnas.costs import estimate
from fitnas.errors import ArchError
from fitnas.spaces import _emit, create_space, list_spaces
from fitnas.spaces._emit import Emitter

#: spaces with options beyond their defaults: other shapes, other cell counts, ``add`` outputs
VARIANTS: list[tuple[str, dict[str, Any]]] = [
    *((name, {}) for name in list_spaces()),
    ("cells", {"output": "add", "cells_per_stage": 2, "stages": 2}),
    ("cells", {"filters": 8, "max_blocks": 3, "input_shape": (2, 1, 9, 7), "classes": 3}),
    ("nb201", {"cells_per_stage": 1}),
    ("nb201", {"cells_per_stage": 3, "channels": 4, "input_shape": (1, 3, 16, 16)}),
    ("chain", {"input_shape": (1, 1, 28, 28)}),
]


@contextmanager
def reference_path() -> Iterator[None]:
    """Decoders write through the reference writer, and graphs take the staged checks."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Emitter, "build", Emitter.build_reference)
        patch.setattr(graph_module, "fast_rows", lambda input_shape, raw: None)
        yield


def encodings(space: Any, count: int) -> list[Any]:
    """``count`` samples and, for variety (trims, cuts, grown blocks), some of their moves."""
    rng = random.Random(0)
    out = [space.sample(seed) for seed in range(count)]
    for enc in out[: count // 4]:
        moves = space.mutations(enc) + space.grow(enc) + space.trim(enc)
        out += rng.sample(moves, min(3, len(moves)))
    return out


def same(fast: ArchGraph, reference: ArchGraph) -> None:
    assert fast.to_dict() == reference.to_dict()
    assert fast.fingerprint() == reference.fingerprint()
    assert fast.arrays() == reference.arrays()
    assert estimate(fast) == estimate(reference, fast=False)


@pytest.mark.parametrize(("name", "options"), VARIANTS,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(VARIANTS)])
def test_fast_path_gives_the_reference_networks(name: str, options: dict[str, Any]) -> None:
    space = create_space(name, **options)
    encs = encodings(space, 120)
    fast = [space.decode(e) for e in encs]
    assert all(g._input_names is None for g in fast)  # made from the checked columns
    with reference_path():
        reference = [space.decode(e) for e in encs]
    for f, r in zip(fast, reference):
        same(f, r)


def test_a_network_longer_than_the_shared_input_tuples() -> None:
    space = create_space("nb201", cells_per_stage=100, channels=2)
    enc = ("nor_conv_3x3", "skip_connect", "avg_pool_3x3", "none", "nor_conv_1x1",
           "nor_conv_3x3")
    fast = space.decode(enc)
    assert len(fast) > 4096
    with reference_path():
        same(fast, space.decode(enc))


def test_layers_are_written_once_across_networks() -> None:
    space = create_space("cells")
    for seed in range(30):
        space.decode(space.sample(seed))
    kept = len(_emit._TEMPLATES)
    for seed in range(30, 60):
        space.decode(space.sample(seed))
    assert len(_emit._TEMPLATES) <= kept + 40  # a few layer kinds not seen before, no more


def write_and_compare(write: Callable[[Emitter], Any], shape: tuple[int, ...] = (1, 4, 8, 8)
                      ) -> ArchGraph:
    """The graph of ``write`` by :meth:`Emitter.build`, checked against the reference."""
    graph = Emitter.build(shape, write, name="t")
    with reference_path():
        same(graph, Emitter.build(shape, write, name="t"))
    return graph


def _layer(em: Emitter, x: str, width: int, prefix: str = "") -> str:
    return em.relu_conv_bn(x, width, 3, 1, 1, prefix=prefix)


def _pair(em: Emitter, a: str, b: str, prefix: str = "") -> str:
    return em.add("add", (_layer(em, a, 4, prefix + "l_"), b), prefix)


def _sum(em: Emitter, a: str, b: str, prefix: str = "") -> str:
    return em.add("add", (em.add("relu", (a,), prefix), a, b), prefix)


def test_a_copy_whose_names_are_taken_gives_the_reference_names() -> None:
    """A copy pasted where its names are taken would repeat a name: the network is then the
    reference writer's, whose counters tell the names apart."""
    def write(em: Emitter) -> None:
        x = em.add("relu", (INPUT,), "p_")  # the name the copy's first node would take
        em.template(_layer, (x,), 4, prefix="p_")

    graph = write_and_compare(write)
    assert graph.order == ("p_relu", "p_relu_1", "p_conv2d", "p_batchnorm")


def test_pieces_over_one_tensor_twice_and_in_any_place() -> None:
    """Templates over inputs that are one tensor, inputs given in another order, copies read
    by later nodes; a fragment repeated where its input is not the last tensor."""
    def write(em: Emitter) -> None:
        x = em.add("relu", (INPUT,))
        y = em.template(_pair, (x, x), prefix="a_")
        z = em.template(_pair, (y, x), prefix="b_")
        z = em.template(_pair, (x, z), prefix="c_")
        s = em.template(_sum, (z, z), prefix="d_")  # reads z twice
        two = em.fragment({"<a>": s, "<b>": s})  # placeholders that are one tensor
        two.output = _sum(two, "<a>", "<b>")
        s = "e_add" if em.splice(two, "e_", {"<a>": s, "<b>": s}) else _sum(em, s, s, "e_")
        piece = em.fragment({"<x>": x})
        piece.output = _pair(piece, "<x>", "<x>", "")
        em.add("relu", (x,), "other_")
        last = em.repeat(piece, ["r0_", "r1_"], x)
        if last is None:  # the reference writer: written out
            last = x
            for prefix in ("r0_", "r1_"):
                last = _pair(em, last, last, prefix)
        em.add("add", (last, s), "end_")

    graph = write_and_compare(write)
    assert "r1_add" in graph.order
    names = graph.arrays().names
    assert [names[k] for k in graph.arrays().repeats] == ["d_add", "e_add"]


@pytest.mark.parametrize("bad", ["attribute", "shape", "input"])
def test_a_node_the_emitter_cannot_check_raises_the_reference_error(bad: str) -> None:
    def write(em: Emitter) -> None:
        x = em.template(_layer, (INPUT,), 4, prefix="a_")
        if bad == "attribute":
            em.add("conv2d", (x,), "b_", out_channels=4, kernel=3, colour="red")
        elif bad == "shape":
            em.add("maxpool", (x,), "b_", kernel=9)
        else:
            em.add("relu", ("nowhere",), "b_")
        em.template(_layer, (x,), 4, prefix="c_")

    error = KeyError if bad == "input" else ArchError  # (the channels of no tensor)
    with pytest.raises(error) as fast:
        Emitter.build((1, 4, 8, 8), write)
    with reference_path(), pytest.raises(error) as reference:
        Emitter.build((1, 4, 8, 8), write)
    assert str(fast.value) == str(reference.value)
