"""The builder: modules that run the graph in any order, in place only at inference."""

from __future__ import annotations

import random

import pytest
import torch

from fitnas.arch import ArchGraph
from fitnas.arch.builder import build
from fitnas.arch.random_graph import random_graph
from fitnas.errors import ArchError


def random_order(graph: ArchGraph, seed: int) -> list[str]:
    rng = random.Random(seed)
    done, pending = {"input"}, list(graph.order)
    order: list[str] = []
    while pending:
        ready = [n for n in pending if set(graph.node(n).inputs) <= done]
        pick = rng.choice(ready)
        order.append(pick)
        done.add(pick)
        pending.remove(pick)
    return order


@pytest.mark.parametrize("seed", range(15))
def test_any_order_and_inplace_give_the_same_output(seed: int) -> None:
    torch.manual_seed(seed)
    graph = random_graph(seed, 18)
    module = build(graph).eval()
    x = torch.randn(graph.input_shape)
    keep = x.clone()
    with torch.no_grad():
        expected = module.execute([x.clone()], inplace=False)
        planned = module(x)
        reordered = module.execute([x.clone()], order=random_order(graph, seed))
    torch.testing.assert_close(planned, expected)
    torch.testing.assert_close(reordered, expected)
    assert torch.equal(x, keep)  # the caller's input is never overwritten


@pytest.mark.parametrize("seed", range(8))
def test_training_backward_works_where_inference_runs_in_place(seed: int) -> None:
    graph = random_graph(seed, 20)
    module = build(graph).train()
    x = torch.randn((4, *graph.input_shape[1:]))
    out = module(x)
    out.sum().backward()  # autograd would raise if an op had overwritten a saved tensor
    head = module.layer(graph.order[-1])
    assert isinstance(head.weight, torch.Tensor)
    assert head.weight.grad is not None and torch.isfinite(head.weight.grad).all()
    with torch.no_grad():
        torch.testing.assert_close(module.eval()(x), module.execute([x.clone()], inplace=False))


def test_set_order_is_used_by_forward() -> None:
    graph = random_graph(1, 10)
    order = random_order(graph, 99)
    module = build(graph, order)
    assert module.order == tuple(order)
    with pytest.raises(ArchError, match="every node once"):
        module.set_order(order[:-1])


def test_multiple_outputs() -> None:
    from fitnas.arch import ArchGraph

    graph = ArchGraph((1, 3), [("a", "relu", ("input",)), ("b", "sigmoid", ("a",))],
                      outputs=("a", "b"))
    a, b = build(graph).eval()(torch.tensor([[-1.0, 0.0, 2.0]]))
    torch.testing.assert_close(a, torch.tensor([[0.0, 0.0, 2.0]]))
    torch.testing.assert_close(b, torch.sigmoid(a))
