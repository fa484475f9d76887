"""K(alpha) (paper 004 eq. 3) against fitnas' exact counts of the derived networks."""

from __future__ import annotations

import itertools

import pytest
import torch

from fitnas.spaces import SearchSpace, create_space
from fitnas.spaces.nb201 import NB201Space
from fitnas.supernet.expected import ExpectedCost, SupernetError


def spaces() -> list[SearchSpace]:
    return [create_space("darts", input_shape=(1, 1, 12, 12), classes=10, channels=4, layers=4),
            create_space("darts", input_shape=(1, 3, 16, 16), classes=7, channels=6, layers=6),
            create_space("nb201", input_shape=(1, 1, 8, 8), classes=10, channels=4,
                         cells_per_stage=2)]


@pytest.mark.parametrize("space", spaces(), ids=lambda s: f"{s.name}-{s.input_shape}")
@pytest.mark.parametrize("cost", ["params", "macs"])
def test_one_hot_alpha_gives_the_exact_count_of_the_derived_network(space: SearchSpace,
                                                                     cost: str) -> None:
    expected = ExpectedCost(space, cost)
    for seed in range(12):
        enc = space.sample(seed)
        graph = space.decode(enc)
        exact = graph.total_params() if cost == "params" else graph.total_macs()
        assert expected.of_encoding(enc) == exact


@pytest.mark.parametrize("space", spaces(), ids=lambda s: f"{s.name}-{s.input_shape}")
def test_the_cheapest_genotype_is_the_least_of_many_samples(space: SearchSpace) -> None:
    expected = ExpectedCost(space, "params")
    cheapest = expected.cheapest()
    assert space.validate(cheapest) == cheapest
    assert expected.smallest() == space.decode(cheapest).total_params()
    assert all(expected.of_encoding(space.sample(s)) >= expected.smallest() for s in range(200))


def test_k_is_the_softmax_mixture_and_differentiable() -> None:
    space = spaces()[0]
    expected = ExpectedCost(space, "params")
    alpha = {k: torch.zeros(len(expected.edges), len(expected.ops), requires_grad=True)
             for k in expected.kinds}
    k = expected({kind: a.softmax(-1) for kind, a in alpha.items()})
    assert float(k.detach()) == pytest.approx(expected.at_uniform())
    k.backward()
    # the costliest op of a reduction edge gets the largest gradient: raising it raises K
    grad = alpha["reduce"].grad
    assert grad is not None
    grad = grad[0]
    assert int(grad.argmax()) == int(expected.table["reduce"][0].argmax())


def test_nb201_k_covers_every_one_of_the_15625_cells_exactly() -> None:
    space = create_space("nb201", input_shape=(1, 1, 8, 8), classes=3, channels=2,
                         cells_per_stage=1)
    assert isinstance(space, NB201Space)
    expected = ExpectedCost(space, "params")
    for enc in itertools.islice(space.all_encodings(), 0, 15625, 97):
        assert expected.of_encoding(enc) == space.decode(enc).total_params()


def test_bad_cost_and_space_are_one_line_errors() -> None:
    with pytest.raises(SupernetError, match="params or macs, got 'latency'"):
        ExpectedCost(spaces()[0], "latency")
    with pytest.raises(SupernetError, match="darts or the nb201 space, got 'chain'"):
        ExpectedCost(create_space("chain"), "params")
