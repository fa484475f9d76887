"""The look-up graph (paper 004 section 3.2.1): monotone interpolation, storage, mismatches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fitnas.spaces import create_space
from fitnas.supernet.lug import LookupGraph, LookupGraphError, LookupPoint, isotonic


def graph(points: list[tuple[float, float]], smallest: float = 10.0, **kw: Any) -> LookupGraph:
    space = kw.pop("space", create_space("darts", input_shape=(1, 1, 8, 8), classes=10,
                                         channels=4, layers=3))
    return LookupGraph(space=space.name, space_config=json.loads(json.dumps(space.get_config())),
                       dataset=kw.pop("dataset", "digits"), cost=kw.pop("cost", "params"),
                       smallest=smallest,
                       points=tuple(LookupPoint(t, s, d, t * 2, None, 1.0)
                                    for s, (t, d) in enumerate(points)))


def test_isotonic_pools_adjacent_violators() -> None:
    assert isotonic([1, 3, 2, 4], [1, 1, 1, 1]) == [1, 2.5, 2.5, 4]
    assert isotonic([5, 4, 3], [1, 1, 1]) == [4, 4, 4]
    assert isotonic([1, 3, 2], [1, 1, 3]) == [1, 2.25, 2.25]
    assert isotonic([], []) == []


def test_target_for_inverts_the_fitted_curve() -> None:
    g = graph([(20, 30), (40, 50), (80, 90)])
    assert g.curve() == [(10, 10), (20, 30), (40, 50), (80, 90)]
    assert g.target_for(50) == 40
    assert g.target_for(40) == pytest.approx(30)
    assert g.target_for(20) == pytest.approx(15)  # between the cheapest network and 20
    assert g.target_for(130) == pytest.approx(120)  # the last segment's slope, extended
    # a point that breaks monotonicity is pooled with its neighbour (seed noise)
    noisy = graph([(20, 40), (40, 30), (80, 90)])
    assert noisy.curve()[1][1] == noisy.curve()[2][1] == 35
    assert noisy.target_for(35) == 40  # the loosest target of the flat stretch


def test_a_target_maps_to_the_largest_network_its_seeds_derived() -> None:
    g = graph([(20, 30), (20, 50), (40, 60)])
    assert g.curve()[1] == (20, 50)  # the limit is hard: plan for the worst seed


def test_a_limit_below_the_cheapest_network_is_refused() -> None:
    with pytest.raises(LookupGraphError, match=r"limit 5 params is below the smallest network "
                                               r"of the space \(10\)"):
        graph([(20, 30)]).target_for(5)


def test_save_load_round_trip_and_bad_files(tmp_path: Path) -> None:
    g = graph([(20, 30), (40, 50)])
    path = g.save(tmp_path / "lug.json")
    assert LookupGraph.load(path) == g
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(LookupGraphError, match="is not JSON"):
        LookupGraph.load(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"format": "x"}')
    with pytest.raises(LookupGraphError, match="not a fitnas look-up graph"):
        LookupGraph.load(tmp_path / "other.json")
    with pytest.raises(LookupGraphError, match="cannot read"):
        LookupGraph.load(tmp_path / "missing.json")


def test_a_graph_of_another_space_dataset_or_cost_is_refused() -> None:
    space = create_space("darts", input_shape=(1, 1, 8, 8), classes=10, channels=4, layers=3)
    g = graph([(20, 30)], space=space)
    g.check_matches(space, "digits", "params")
    g.check_matches(space, "DIGITS", "params")
    other = create_space("darts", input_shape=(1, 1, 8, 8), classes=10, channels=8, layers=3)
    with pytest.raises(LookupGraphError, match=r"built for the darts space with .*channels=4.*"
                                               r"not darts with .*channels=8"):
        g.check_matches(other, "digits", "params")
    with pytest.raises(LookupGraphError, match="built on 'digits', not 'fashion-mnist'"):
        g.check_matches(space, "fashion-mnist", "params")
    with pytest.raises(LookupGraphError, match="maps params, not macs"):
        g.check_matches(space, "digits", "macs")
