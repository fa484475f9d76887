"""Latency of an architecture on this host: onnxruntime, median of repeated runs.

Paper 002 section 3.7 suggests constraining "the speed of executing a forward pass" besides
memory and FLOPs. fitnas measures it rather than modelling it: the graph is built
(``fitnas.arch.builder.build``, random weights: the time of these ops does not depend on the
values), exported to ONNX in memory (``fitnas.export.onnx_bytes``) and run by onnxruntime's CPU
provider with ``threads`` intra-op threads (1 by default: the steadiest figure, and the closest
to a single-core device), sequential execution and all graph optimizations. After ``warmup``
runs, ``repeats`` runs are timed one by one with ``time.perf_counter`` and the median is
returned, in milliseconds, so a stray slow run (another process, a page fault) does not move
the figure.

Measurements are cached by the graph's fingerprint (with the thread count and a description of
the host and onnxruntime version, since a figure from another machine is not a figure for this
one): in this process always, and in a JSON file when ``cache_path`` is given, so a resumed
search or a second search on the same host measures each architecture once.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..arch import ArchGraph
from ..errors import FitnasError
from ..files import write_atomic

__all__ = ["LatencyError", "cache_key", "clear_latency_cache", "host_id", "measure_latency_ms"]

_CACHE: dict[str, float] = {}
_FORMAT = "fitnas-latency-cache"


class LatencyError(FitnasError):
    """Bad measurement settings, or an unreadable cache file."""


def host_id() -> str:
    """What a latency figure depends on besides the graph: machine, CPU and onnxruntime."""
    import onnxruntime as ort

    cpu = platform.processor() or platform.machine()
    return f"{platform.system()}-{platform.machine()}-{cpu}-ort{ort.__version__}"


def cache_key(graph: ArchGraph, threads: int = 1) -> str:
    """The cache key of ``graph``'s latency with ``threads`` threads on this host."""
    return f"{graph.fingerprint()}|threads={threads}|{host_id()}"


def clear_latency_cache() -> None:
    """Forget the latencies measured in this process (the JSON files are left alone)."""
    _CACHE.clear()


def _read_cache(path: Path) -> dict[str, float]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise LatencyError(f"cannot read latency cache {str(path)!r}: {err}") from None
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        raise LatencyError(f"{str(path)!r} is not a fitnas latency cache (expected a JSON object "
                           f"with \"format\": \"{_FORMAT}\")")
    return {str(k): float(v) for k, v in data.get("entries", {}).items()}


def _write_cache(path: Path, key: str, value: float) -> None:
    """Add one entry, re-reading the file first (another process may have added some) and
    replacing it atomically (a crash leaves the old file or the new one, never half)."""
    entries = _read_cache(path)
    entries[key] = value
    payload = {"format": _FORMAT, "version": 1, "entries": dict(sorted(entries.items()))}
    try:
        write_atomic(path, json.dumps(payload, indent=1))
    except OSError as err:
        raise LatencyError(f"cannot write latency cache {str(path)!r}: {err.strerror or err}"
                           ) from None


def _session(graph: ArchGraph, threads: int) -> Any:
    import onnxruntime as ort

    from ..arch.builder import build
    from ..export import onnx_bytes

    module = build(graph)
    data = onnx_bytes(module, metadata=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def measure_latency_ms(
    graph: ArchGraph,
    repeats: int = 20,
    warmup: int = 3,
    threads: int = 1,
    cache_path: str | Path | None = None,
    use_cache: bool = True,
) -> float:
    """Median milliseconds of one forward pass of ``graph`` under onnxruntime on this host.

    ``use_cache=False`` measures again (and refreshes the caches).
    """
    for name, setting, least in (("repeats", repeats, 1), ("warmup", warmup, 0),
                                 ("threads", threads, 1)):
        if isinstance(setting, bool) or not isinstance(setting, int) or setting < least:
            raise LatencyError(f"bad latency {name} {setting!r}: expected an integer >= {least}")
    key = cache_key(graph, threads)
    path = Path(cache_path) if cache_path is not None else None
    if use_cache:
        if key in _CACHE:
            return _CACHE[key]
        if path is not None:
            stored = _read_cache(path).get(key)
            if stored is not None:
                _CACHE[key] = stored
                return stored
    session = _session(graph, threads)
    feed = {session.get_inputs()[0].name:
            np.random.default_rng(0).standard_normal(graph.input_shape).astype(np.float32)}
    for _ in range(warmup):
        session.run(None, feed)
    times: list[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - start) * 1000.0)
    value = float(statistics.median(times))
    _CACHE[key] = value
    if path is not None:
        _write_cache(path, key, value)
    return value
