"""The look-up graph's searches in parallel (paper 004 section 3.2.1): local processes and a
real local Ray instance run every (target, seed) search once and return its derived network
(the same searches as one process; the derived networks themselves may differ in a rare tie,
since torch's sums depend on the thread count each process gets)."""

from __future__ import annotations

import pytest

from fitnas.data import Dataset, create_dataset
from fitnas.spaces import SearchSpace, create_space
from fitnas.supernet.expected import ExpectedCost
from fitnas.supernet.lug import LookupGraph, build_lookup_graph
from fitnas.supernet.search import SupernetConfig

pytestmark = [pytest.mark.slow]
CONFIG = SupernetConfig(epochs=1, batch_size=32)


@pytest.fixture(scope="module")
def setting() -> tuple[SearchSpace, Dataset, list[float]]:
    data = create_dataset("digits", seed=0, subset=300)
    space = create_space("nb201", input_shape=data.input_shape, classes=data.classes,
                         channels=4, cells_per_stage=1)
    low = ExpectedCost(space, "params").smallest()
    return space, data, [low * 1.5, low * 3]


def points(graph: LookupGraph) -> list[tuple[float, int]]:
    """The searches of the graph; each point's derived cost checked against its genotype."""
    space = create_space(graph.space, **graph.space_config)
    expected = ExpectedCost(space, graph.cost)
    for p in graph.points:
        assert p.derived == expected.of_encoding(space.from_data(p.genotype)) >= graph.smallest
    return [(p.target, p.seed) for p in graph.points]


@pytest.fixture(scope="module")
def serial(setting: tuple[SearchSpace, Dataset, list[float]]) -> LookupGraph:
    space, data, targets = setting
    return build_lookup_graph(space, data, "params", targets, CONFIG, seeds=(0, 1))


def test_processes_give_the_serial_points(setting: tuple[SearchSpace, Dataset, list[float]],
                                          serial: LookupGraph) -> None:
    space, data, targets = setting
    seen: list[float] = []
    graph = build_lookup_graph(space, data, "params", targets, CONFIG, seeds=(0, 1), workers=2,
                               progress=lambda p: seen.append(p.target))
    assert points(graph) == points(serial) and len(seen) == 4


def test_ray_gives_the_serial_points(setting: tuple[SearchSpace, Dataset, list[float]],
                                     serial: LookupGraph) -> None:
    pytest.importorskip("ray")
    space, data, targets = setting
    graph = build_lookup_graph(space, data, "params", targets, CONFIG, seeds=(0, 1), workers=2,
                               backend="ray")
    assert points(graph) == points(serial)
