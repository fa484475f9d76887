"""Latency on this host under onnxruntime: real runs, the fingerprint cache, the JSON cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fitnas.arch import ArchGraph
from fitnas.arch.random_graph import random_graph
from fitnas.costs import latency as latency_mod
from fitnas.costs.latency import LatencyError, clear_latency_cache, measure_latency_ms


class _Counter:
    def __init__(self, fn: Any):
        self.fn = fn
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.fn(*args, **kwargs)


def _conv(channels: int, size: int) -> ArchGraph:
    return ArchGraph((1, channels, size, size), [
        ("c1", "conv2d", ("input",), {"out_channels": channels, "kernel": 3, "padding": 1}),
        ("r", "relu", ("c1",), {}),
        ("c2", "conv2d", ("r",), {"out_channels": channels, "kernel": 3, "padding": 1}),
    ])


def test_latency_is_cached_by_fingerprint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clear_latency_cache()
    session = _Counter(latency_mod._session)
    monkeypatch.setattr(latency_mod, "_session", session)
    graph = random_graph(5, 10)
    first = measure_latency_ms(graph, repeats=5, warmup=1)
    assert first > 0 and session.calls == 1
    # the same architecture built again is the same fingerprint: no new measurement
    again = ArchGraph.from_json(graph.to_json())
    assert measure_latency_ms(again, repeats=5, warmup=1) == first and session.calls == 1
    assert measure_latency_ms(graph, repeats=5, warmup=1, use_cache=False) > 0
    assert session.calls == 2

    path = tmp_path / "cache" / "latency.json"
    clear_latency_cache()
    value = measure_latency_ms(graph, repeats=5, warmup=1, cache_path=path)
    assert session.calls == 3
    data = json.loads(path.read_text())
    assert data["format"] == "fitnas-latency-cache"
    assert data["entries"] == {latency_mod.cache_key(graph): value}
    clear_latency_cache()  # a new process: the file answers
    assert measure_latency_ms(graph, repeats=5, warmup=1, cache_path=path) == value
    assert session.calls == 3
    # a second graph is added to the file, the first kept
    other = random_graph(6, 10)
    measure_latency_ms(other, repeats=5, warmup=1, cache_path=path)
    assert len(json.loads(path.read_text())["entries"]) == 2
    assert latency_mod.cache_key(graph, threads=2) != latency_mod.cache_key(graph)


def test_latency_grows_with_work() -> None:
    clear_latency_cache()
    small = measure_latency_ms(_conv(4, 8), repeats=9, warmup=2)
    large = measure_latency_ms(_conv(48, 64), repeats=9, warmup=2)  # about 2000x the MACs
    assert large > 5 * small


def test_bad_settings_and_bad_cache_file(tmp_path: Path) -> None:
    graph = random_graph(1, 6)
    for kwargs in ({"repeats": 0}, {"warmup": -1}, {"threads": 0}, {"repeats": 2.5}):
        with pytest.raises(LatencyError, match="expected an integer"):
            measure_latency_ms(graph, **kwargs)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    clear_latency_cache()
    with pytest.raises(LatencyError, match="cannot read latency cache"):
        measure_latency_ms(graph, cache_path=bad)
    bad.write_text(json.dumps({"entries": {}}))
    with pytest.raises(LatencyError, match="not a fitnas latency cache"):
        measure_latency_ms(graph, cache_path=bad)
