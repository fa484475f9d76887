"""Run independent supernet searches at once: local processes or Ray (the look-up graph's
searches, paper 004 section 3.2.1: "the computation time of the LUG can be reduced by running
the searches in parallel").

The same two backends as the Study's workers (``fitnas.study.workers``): ``local`` starts
``workers`` processes with the ``spawn`` method (each with ``cpu_count // workers`` torch
threads; one worker runs in this process), ``ray`` runs Ray tasks on a private local instance
or on the cluster at ``address`` (``fitnas.study.workers.start_ray``).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

from ..errors import FitnasError
from ..study.workers import BACKENDS, start_ray

__all__ = ["parallel_map"]

J = TypeVar("J")
R = TypeVar("R")


def parallel_map(fn: Callable[[Any, J], R], payload: Any, jobs: Sequence[J], workers: int = 1,
                 backend: str = "local", address: str | None = None,
                 done: Callable[[R], None] | None = None) -> list[R]:
    """``[fn(payload, job) for job in jobs]``, ``workers`` at a time, in the order they finish
    (``done`` is called with each result as it arrives)."""
    if backend not in BACKENDS:
        raise FitnasError(f"unknown backend {backend!r}; accepted: {', '.join(BACKENDS)}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise FitnasError(f"workers must be an int >= 1, got {workers!r}")
    out: list[R] = []

    def keep(result: R) -> None:
        out.append(result)
        if done is not None:
            done(result)

    if backend == "ray":
        _ray_map(fn, payload, jobs, workers, address, keep)
    elif workers == 1 or len(jobs) <= 1:
        for job in jobs:
            keep(fn(payload, job))
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context) as pool:
            futures = [pool.submit(fn, payload, job) for job in jobs]
            for future in as_completed(futures):
                keep(future.result())
    return out


def _ray_map(fn: Callable[[Any, J], R], payload: Any, jobs: Sequence[J], workers: int,
             address: str | None, keep: Callable[[R], None]) -> None:
    import ray

    owns = start_ray(workers, address)
    try:
        shared = ray.put(payload)
        task = ray.remote(num_cpus=1, max_retries=0)(fn)
        pending = [task.remote(shared, job) for job in jobs]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            keep(ray.get(ready[0]))
    finally:
        if owns:
            ray.shutdown()
