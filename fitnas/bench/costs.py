"""Analytic costs of every architecture of a NAS-Bench-201 table, cached in a user cache file.

A benchmark run needs the costs of all architectures of the table twice: a limit given as
``median`` is the median of that cost over the table, and the regret is measured against the
best value of the table *among the architectures that meet the limits*. The costs are the
project's own cost models on the decoded network (``NB201Space.decode`` then
``CostModel.costs``, the very cost model the Study's constraint check uses), so the bench and
the search agree on feasibility by construction.

Decoding and estimating one NB201 network takes about 0.6 ms under the graph's own order (the
15,625 networks of the full table in about 9 s on one core, BENCHMARKS.md ``estimate``); with
``schedule="best"``, which searches the memory-optimal order, some 35 ms. They are computed in
parallel processes
(``spawn``: the parent may already use torch threads) and cached in a JSON file:

    $FITNAS_CACHE_DIR/nb201-costs-<key>.json     (FITNAS_CACHE_DIR set)
    $XDG_CACHE_HOME/fitnas/nb201-costs-<key>.json  (else; default ~/.cache/fitnas)

``<key>`` hashes the space's configuration (input shape, classes, channels, cells per stage),
the dtype, the schedule, and the cost-model version: a hash of the fitnas version and of the
source the costs depend on (``fitnas.arch``, ``fitnas.costs``, the ``nb201`` space and what it
builds on, the constraint check), so editing a cost formula never serves stale numbers. A table with
architectures the file lacks adds them to it. An unreadable cache file is ignored and
rewritten; an unwritable cache folder only costs the time to recompute.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from ..constraints import COST_KEYS, Constraints, Limits

__all__ = ["CostTable", "cache_dir", "cache_path", "cost_model_version", "table_costs"]

_FORMAT = "fitnas-nb201-costs"
#: What the costs of an NB201 network depend on (folders and files of the fitnas package).
_SOURCES = ("arch", "costs", "spaces/_base.py", "spaces/_emit.py", "spaces/nb201.py",
            "constraints/_base.py", "constraints/constraints.py")
_PARALLEL_FROM = 1000  # fewer missing architectures than this: compute in this process
_CHUNK = 250


def cache_dir() -> Path:
    """The user cache folder of fitnas: ``$FITNAS_CACHE_DIR``, else ``$XDG_CACHE_HOME/fitnas``,
    else ``~/.cache/fitnas``."""
    if os.environ.get("FITNAS_CACHE_DIR"):
        return Path(os.environ["FITNAS_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(base).expanduser() / "fitnas"


_VERSION: str | None = None


def cost_model_version() -> str:
    """A hash of the fitnas version and of the source the NB201 costs depend on."""
    global _VERSION
    if _VERSION is None:
        from .. import __version__

        root = Path(__file__).resolve().parent.parent
        digest = hashlib.sha256(__version__.encode())
        for source in _SOURCES:
            where = root / source
            paths = sorted(where.rglob("*.py")) if where.is_dir() else \
                [where] if where.is_file() else []
            for path in paths:
                digest.update(str(path.relative_to(root)).encode())
                digest.update(path.read_bytes())
        _VERSION = digest.hexdigest()[:16]
    return _VERSION


def cache_path(space_config: dict[str, Any], dtype: str, schedule: str) -> Path:
    """The cache file of the costs of the space ``space_config`` at ``dtype`` and ``schedule``."""
    key = json.dumps({"space": space_config, "dtype": dtype, "schedule": schedule,
                      "version": cost_model_version()}, sort_keys=True)
    return cache_dir() / f"nb201-costs-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


class CostTable:
    """The analytic costs (:data:`~fitnas.constraints.COST_KEYS`) of architectures by cellstr.

    Attributes:
        costs: cellstr -> cost name -> value (ints).
        path: the cache file (``None`` when caching was turned off).
        computed: how many architectures were computed now (the rest came from the cache).
        seconds: the time spent reading the cache and computing the missing ones.
    """

    def __init__(self, costs: dict[str, dict[str, float]], path: Path | None, computed: int,
                 seconds: float) -> None:
        self.costs, self.path, self.computed, self.seconds = costs, path, computed, seconds

    def __getitem__(self, cellstr: str) -> dict[str, float]:
        return self.costs[cellstr]

    def __contains__(self, cellstr: object) -> bool:
        return cellstr in self.costs

    def __len__(self) -> int:
        return len(self.costs)


def _compute(space_config: dict[str, Any], dtype: str, schedule: str,
             cellstrs: Sequence[str]) -> list[list[int]]:
    """Costs of ``cellstrs`` as rows in :data:`COST_KEYS` order (runs in worker processes)."""
    from ..spaces.nb201 import NB201Space

    space = NB201Space(**space_config)
    constraints = Constraints(Limits(dtype=dtype, schedule=schedule))
    rows = []
    for cellstr in cellstrs:
        costs = constraints.cost_model.costs(space.decode(space.parse(cellstr))).analytic()
        rows.append([int(costs[key]) for key in COST_KEYS])
    return rows


def _parallel(space_config: dict[str, Any], dtype: str, schedule: str, missing: list[str],
              jobs: int) -> list[list[int]] | None:
    """:func:`_compute` over chunks in ``jobs`` spawned processes; ``None`` when the processes
    cannot start (e.g. a script without an ``if __name__ == "__main__":`` guard)."""
    chunks = [missing[i:i + _CHUNK] for i in range(0, len(missing), _CHUNK)]
    n = len(chunks)
    try:
        with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
            parts = pool.map(_compute, [space_config] * n, [dtype] * n, [schedule] * n, chunks)
            return [row for part in parts for row in part]
    except (BrokenProcessPool, OSError, RuntimeError):
        return None


def _read(path: Path) -> dict[str, list[int]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != _FORMAT or \
            data.get("keys") != list(COST_KEYS) or not isinstance(data.get("costs"), dict):
        return {}
    return {k: v for k, v in data["costs"].items()
            if isinstance(v, list) and len(v) == len(COST_KEYS)}


def _write(path: Path, header: dict[str, Any], rows: dict[str, list[int]]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({**header, "costs": rows}, separators=(",", ":")))
        tmp.replace(path)
    except OSError:
        pass  # an unwritable cache folder only costs the time to recompute


def table_costs(
    space_config: dict[str, Any],
    cellstrs: Sequence[str],
    dtype: str = "fp32",
    schedule: str = "default",
    jobs: int | None = None,
    use_cache: bool = True,
    notify: Callable[[str], None] | None = None,
) -> CostTable:
    """The costs of the architectures ``cellstrs`` (canonical cellstrs of the space).

    Args:
        space_config: ``NB201Space(**space_config)`` is the space (its ``get_config()``).
        jobs: processes to compute with (default: every core); 1 computes in this process.
        use_cache: read and extend the cache file (see the module docstring).
        notify: called with one line before a long computation starts.
    """
    start = time.perf_counter()
    path = cache_path(space_config, dtype, schedule) if use_cache else None
    rows = _read(path) if path is not None and path.exists() else {}
    missing = [c for c in dict.fromkeys(cellstrs) if c not in rows]
    if missing:
        jobs = max(1, jobs if jobs is not None else (os.cpu_count() or 1))
        jobs = min(jobs, math.ceil(len(missing) / _CHUNK))
        if notify is not None and len(missing) >= _PARALLEL_FROM:
            where = f", cached in {path}" if path is not None else ""
            notify(f"computing the costs of {len(missing):,} architectures with {jobs} "
                   f"process(es){where}")
        computed = None
        if jobs > 1 and len(missing) >= _PARALLEL_FROM:
            computed = _parallel(space_config, dtype, schedule, missing, jobs)
        if computed is None:
            computed = _compute(space_config, dtype, schedule, missing)
        rows.update(zip(missing, computed))
        if path is not None:
            header = {"format": _FORMAT, "space": space_config, "dtype": dtype,
                      "schedule": schedule, "version": cost_model_version(),
                      "keys": list(COST_KEYS)}
            _write(path, header, rows)
    seconds = time.perf_counter() - start
    costs: dict[str, dict[str, float]] = {c: dict(zip(COST_KEYS, rows[c])) for c in cellstrs}
    return CostTable(costs, path, len(missing), seconds)
