"""Where candidates are evaluated: in the driver's process, in a local pool of processes, or
on a Ray cluster. The strategy and the storage always stay in the driver.

Every backend has the same small interface: ``submit(job)``, ``wait(timeout)`` returning the
jobs that ended, each with its result or the fact that its worker died, ``capacity`` (how many
jobs may run at once) and ``close(now)`` (``now``: stop running jobs too, for a search that is
stopping). Dispatch is asynchronous (paper 002 section 3.6): the driver hands the next
candidate to whichever worker frees up first. Retrying the trial of a dead worker once is the
Study's job, the same for every backend.

A local worker process never outlives its driver and never prints a traceback for it: it asks
the kernel to kill it when its parent dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)`` on Linux;
elsewhere a thread watches the parent's pid), exits quietly when its pipe closes, and ignores
SIGINT, which a Ctrl-C sends to the whole process group: stopping is the driver's decision
(``fitnas.interrupt``). It is started with SIGINT ignored, so even its start-up cannot
be interrupted.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection as mp_connection
import os
import pickle
import signal
import sys
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import FitnasError

if TYPE_CHECKING:
    from ..evaluators import Evaluator
    from ..spaces import SearchSpace

__all__ = ["BACKENDS", "Done", "InProcessWorkers", "Job", "ProcessWorkers", "RayWorkers",
           "Workers", "create_workers", "run_job", "start_ray"]

BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class Job:
    """One evaluation: the trial number, the encoding (JSON data), its parent's encoding and
    trained weights (a state dict, so that any worker can inherit them), and the name of the
    training budget (``None``: the evaluator's full budget)."""

    number: int
    encoding: Any
    parent_encoding: Any = None
    budget: str | None = None
    attempt: int = 1
    parent_weights: dict[str, Any] | None = None


@dataclass(frozen=True)
class Done:
    """A job that ended: ``result`` (an EvalResult dict) and ``weights``, or ``died``."""

    job: Job
    result: dict[str, Any] | None = None
    weights: dict[str, Any] | None = None
    died: str = ""


def run_job(space: SearchSpace, evaluator: Evaluator, job: Job
            ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Decode and evaluate one job; returns the result dict and the trained weights."""
    encoding = space.from_data(job.encoding)
    graph = space.graph(encoding)
    parent: Any = None
    if job.parent_encoding is not None:
        parent = space.graph(space.from_data(job.parent_encoding))
        if job.parent_weights is not None:
            parent = (parent, job.parent_weights)
    candidate = evaluator.candidate_for(encoding, graph)
    result = evaluator.evaluate(candidate, parent=parent, budget=job.budget)
    weights = None
    if result.ok and evaluator.trains_weights:
        kept = evaluator.weights_of(graph)
        weights = kept[1] if kept is not None else None
    return result.to_dict(), weights


class Workers(ABC):
    capacity: int = 1
    #: Whether jobs run in the driver's own process (then a stop interrupts the job itself).
    in_process: bool = False

    @abstractmethod
    def submit(self, job: Job) -> None: ...

    @abstractmethod
    def wait(self, timeout: float | None = None) -> list[Done]: ...

    @property
    @abstractmethod
    def busy(self) -> int: ...

    def close(self, now: bool = False) -> None:
        """Stop the workers; ``now``: without waiting for jobs still running."""
        return None


class InProcessWorkers(Workers):
    """Runs each job in the driver's own process when ``wait`` is called."""

    in_process = True

    def __init__(self, space: SearchSpace, evaluator: Evaluator) -> None:
        self.space, self.evaluator = space, evaluator
        self._pending: list[Job] = []

    def submit(self, job: Job) -> None:
        self._pending.append(job)

    @property
    def busy(self) -> int:
        return len(self._pending)

    def wait(self, timeout: float | None = None) -> list[Done]:
        if not self._pending:
            return []
        job = self._pending.pop(0)
        result, weights = run_job(self.space, self.evaluator, job)
        return [Done(job, result, weights)]


def _use_threads(evaluator: Evaluator, threads: int) -> None:
    """Give this worker process ``threads`` torch threads, and its evaluator for training too
    (a worker that used every core beside others would oversubscribe them, and torch slows down
    sharply)."""
    import torch

    torch.set_num_threads(threads)
    evaluator.set_threads(threads)


_PR_SET_PDEATHSIG = 1


def _follow_parent(parent: int) -> None:
    """Die with the driver (pid ``parent``), quietly, and leave SIGINT to it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watched = False
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            watched = libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
        except (OSError, AttributeError):
            watched = False
    if os.getppid() != parent:  # the driver died before the request took effect
        os._exit(0)
    if not watched:
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(0)

        threading.Thread(target=watch, name="fitnas-parent-watch", daemon=True).start()


def _process_main(payload: bytes, threads: int, conn: Any, parent: int | None = None) -> None:
    """A worker process: evaluate each job received on ``conn`` and send the outcome back; a
    closed pipe (the driver is gone) ends it without a word."""
    _follow_parent(parent if parent is not None else os.getppid())
    space, evaluator = pickle.loads(payload)
    _use_threads(evaluator, threads)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        outcome = run_job(space, evaluator, job)
        try:
            conn.send(outcome)
        except OSError:  # BrokenPipeError included
            return


def _start_ignoring_sigint(process: Any) -> None:
    """Start ``process`` with SIGINT ignored from its first instruction (a disposition of
    ``SIG_IGN`` survives ``exec``, and Python then keeps it); a SIGINT meant for the driver in
    that moment stays pending (blocked, not ignored) and reaches the driver's handler after."""
    main = threading.current_thread() is threading.main_thread()
    current = signal.getsignal(signal.SIGINT) if main else None
    if current is None or not hasattr(signal, "pthread_sigmask"):
        process.start()
        return
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            process.start()
        finally:
            signal.signal(signal.SIGINT, current)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


@dataclass
class _Slot:
    process: Any
    conn: Any
    job: Job | None = None


class ProcessWorkers(Workers):
    """``n`` local worker processes (``spawn``), each with its own pipe, so that the death of
    one process is the death of its own job only; a dead worker is replaced at once."""

    def __init__(self, space: SearchSpace, evaluator: Evaluator, n: int) -> None:
        self.capacity = n
        self._payload = pickle.dumps((space, evaluator))
        self._threads = max(1, (os.cpu_count() or 1) // n)
        self._context = multiprocessing.get_context("spawn")
        self._slots = [self._start() for _ in range(n)]

    def _start(self) -> _Slot:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(target=_process_main, daemon=True,
                                        args=(self._payload, self._threads, theirs, os.getpid()))
        _start_ignoring_sigint(process)
        theirs.close()
        return _Slot(process, ours)

    def submit(self, job: Job) -> None:
        slot = next((s for s in self._slots if s.job is None), None)
        if slot is None:
            raise FitnasError("all workers are busy")  # the Study never over-submits
        slot.job = job
        try:
            slot.conn.send(job)
        except OSError:  # the worker died while idle: `wait` reports its job as died
            pass

    @property
    def busy(self) -> int:
        return sum(s.job is not None for s in self._slots)

    def wait(self, timeout: float | None = None) -> list[Done]:
        busy = [s for s in self._slots if s.job is not None]
        if not busy:
            return []
        waitables = [s.conn for s in busy] + [s.process.sentinel for s in busy]
        ready = set(mp_connection.wait(waitables, timeout))
        out = []
        for k, slot in enumerate(self._slots):
            if slot.job is None or not (slot.conn in ready or slot.process.sentinel in ready):
                continue
            job, slot.job = slot.job, None
            try:
                result, weights = slot.conn.recv()
                out.append(Done(job, result, weights))
            except (EOFError, OSError):
                slot.process.join(timeout=5)
                out.append(Done(job, died=f"worker process died (exit code "
                                          f"{slot.process.exitcode})"))
                slot.conn.close()
                self._slots[k] = self._start()
        return out

    def close(self, now: bool = False) -> None:
        """Idle workers are told to exit; busy ones (all, with ``now``) are terminated."""
        for slot in self._slots:
            if now or slot.job is not None:
                slot.process.terminate()
                continue
            try:
                slot.conn.send(None)
            except OSError:
                pass
        for slot in self._slots:
            slot.process.join(timeout=10)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join(timeout=5)
            slot.conn.close()


def start_ray(n: int, address: str | None = None) -> bool:
    """Join the Ray cluster at ``address``, or start a private local instance of ``n`` CPUs
    on the loopback address; ``False`` when Ray was already running (the caller does not own
    it). One-line :class:`FitnasError` when Ray is missing or does not start."""
    try:
        import ray
    except ImportError:
        raise FitnasError("--backend ray needs Ray: pip install 'ray'") from None
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address:
        kwargs["address"] = address
    else:  # a private local instance, reachable on the loopback address only
        kwargs["num_cpus"] = max(n, 1)
        kwargs["_node_ip_address"] = "127.0.0.1"
    try:
        ray.init(**kwargs)
    except Exception as err:
        raise FitnasError(f"cannot start or join Ray ({address or 'local'}): {err}") from None
    return True


class RayWorkers(Workers):
    """Ray tasks on a local instance (``ray.init()``) or a cluster (``address``)."""

    def __init__(self, space: SearchSpace, evaluator: Evaluator, n: int, address: str | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise FitnasError("--backend ray needs Ray: pip install 'ray'") from None
        self.ray = ray
        self._owns_ray = start_ray(n, address)
        self.capacity = n
        self._payload = ray.put(pickle.dumps((space, evaluator)))
        self._task = ray.remote(num_cpus=1, max_retries=0)(_ray_run)
        self._refs: dict[Any, Job] = {}

    def submit(self, job: Job) -> None:
        self._refs[self._task.remote(self._payload, job)] = job

    @property
    def busy(self) -> int:
        return len(self._refs)

    def wait(self, timeout: float | None = None) -> list[Done]:
        if not self._refs:
            return []
        ready, _ = self.ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        out = []
        for ref in ready:
            job = self._refs.pop(ref)
            try:
                result, weights = self.ray.get(ref)
                out.append(Done(job, result, weights))
            except (self.ray.exceptions.WorkerCrashedError,
                    self.ray.exceptions.NodeDiedError) as err:
                out.append(Done(job, died=f"Ray worker died ({type(err).__name__})"))
            except self.ray.exceptions.RayTaskError as err:
                out.append(Done(job, died=f"Ray task raised {type(err.cause).__name__}"))
        return out

    def close(self, now: bool = False) -> None:
        for ref in list(self._refs):  # none remain unless the search is stopping
            try:
                self.ray.cancel(ref, force=True)
            except Exception:  # already finished, or the cluster is gone
                pass
        self._refs.clear()
        if self._owns_ray:
            self.ray.shutdown()


_RAY_CACHE: dict[int, tuple[Any, Any]] = {}


def _ray_run(payload: bytes, job: Job) -> tuple[dict[str, Any], dict[str, Any] | None]:
    key = hash(payload)
    if key not in _RAY_CACHE:  # one unpickling per worker process, not per task
        _RAY_CACHE.clear()
        _RAY_CACHE[key] = pickle.loads(payload)
        _use_threads(_RAY_CACHE[key][1], 1)
    space, evaluator = _RAY_CACHE[key]
    return run_job(space, evaluator, job)


def create_workers(space: SearchSpace, evaluator: Evaluator, workers: int = 1, backend: str = "local",
                   address: str | None = None) -> Workers:
    """The worker pool for ``backend`` (``local``: in-process for one worker, else processes)."""
    if backend not in BACKENDS:
        raise FitnasError(f"unknown backend {backend!r}; accepted: {', '.join(BACKENDS)}")
    if workers < 1:
        raise FitnasError(f"--workers must be at least 1, got {workers}")
    if backend == "ray":
        return RayWorkers(space, evaluator, workers, address)
    if workers == 1:
        return InProcessWorkers(space, evaluator)
    return ProcessWorkers(space, evaluator, workers)
