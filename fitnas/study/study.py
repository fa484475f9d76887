"""``Study``: the search loop of paper 002 Algorithm I, for every strategy.

Each round asks the strategy for a candidate, decodes it, checks the hard constraints on its
analytic costs (paper 002 eq. 1) before any training, records an INFEASIBLE candidate without
training it, sends a feasible one to a free worker, and when a worker finishes records the
result and tells the strategy. The Study owns the workers and the storage; the strategy only
asks and tells. Budgets are a number of evaluated trials (COMPLETE or FAILED; INFEASIBLE ones
cost no training and do not count), a wall time, or both. A worker that dies has its trial
retried once, then the trial is FAILED; an evaluation that fails is FAILED at once.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from ..constraints import LIMIT_COSTS, Budget, Constraints
from ..errors import FitnasError
from ..interrupt import SearchInterrupted, StopSignals, _StopNow, signal_name
from ..spaces import InvalidEncoding, SearchSpace
from ..states import FINISHED, TrialState
from ..strategies import (
    Candidate,
    NoFeasibleArchitecture,
    NotReady,
    Strategy,
    StrategyDone,
    StrategyError,
    Verdict,
)
from .holdout import score_holdout
from .lock import RunLock
from .run import RunRecord, check_objectives
from .storage import Storage, StorageError, graph_key
from .trial import TrialRecord
from .workers import Done, Job, Workers, create_workers

if TYPE_CHECKING:
    from ..evaluators import Evaluator

__all__ = ["Budget", "Study"]

_VERDICTS_KEPT = 65536


def _rewarded_objectives(strategy: Strategy, constraints: Constraints) -> list[str] | None:
    """The default objectives when a strategy rewards costs beyond the limited ones (MONAS'
    energy and power rewards): the limited costs, then those, so the run's front is the one
    the strategy searched for (paper 003 Fig. 2-3); ``None`` otherwise."""
    rewarded = type(strategy).required_costs(strategy.get_config())
    limited = [LIMIT_COSTS[name] for name in constraints.limits.active()]
    extra = [c for c in rewarded if c not in limited]
    return [*limited, *extra] if extra else None


class Study:
    """One search run: a space, a strategy, an evaluator, constraints and a storage.

    Args:
        space, strategy, evaluator: what to search, how, and how to score a candidate.
        constraints: the hard limits (``fitnas.constraints.Constraints``); None: no limits
            (the analytic costs are still recorded with every trial).
        directory: the run folder (``study.db``, weights of trained trials); None keeps
            everything in memory.
        resume: continue the run stored in ``directory`` (the same space, strategy and
            evaluator settings must be given): the stored log is replayed into the strategy.
            Other constraints or evaluator settings than the run's are a new session of the
            run (meta ``sessions``): the replay judges each earlier proposal under the
            constraints it was made under, new trials are judged under the new ones, and
            finished trials keep the verdicts they got.
        lock: a held :class:`~fitnas.study.lock.RunLock` of ``directory``, handed over to the
            study (the command line takes it before it clears a folder); default: the study
            takes it. A folder another live process holds raises
            :class:`~fitnas.study.lock.RunLocked` (Studies of one process share the lock).
            It is held until :meth:`close` (or ``with Study(...) as study:``), the study is
            collected, or the process ends.

    To read a finished run (reports, exports, ensembles) use ``fitnas.study.load_run(DIR)``;
    ``study.record`` is the same reader over this study's storage.
    """

    def __init__(
        self,
        space: SearchSpace,
        strategy: Strategy,
        evaluator: Evaluator,
        constraints: Constraints | None = None,
        directory: str | Path | None = None,
        resume: bool = False,
        objectives: list[str] | None = None,
        lock: RunLock | None = None,
    ) -> None:
        self.space, self.strategy, self.evaluator = space, strategy, evaluator
        self.constraints = constraints if constraints is not None else Constraints()
        if objectives is None:
            objectives = _rewarded_objectives(strategy, self.constraints)
        self.objectives = check_objectives(objectives, self.constraints)
        self.directory = Path(directory) if directory is not None else None
        self._stop: StopSignals | None = None
        self._lock: RunLock | None = None
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            if lock is not None and not lock.covers(self.directory):
                raise FitnasError(f"the lock given is not held on {str(self.directory)!r}")
            self._lock = lock if lock is not None else RunLock(self.directory).acquire()
        elif lock is not None:
            raise FitnasError("a lock was given for an in-memory study (no directory)")
        try:
            self.storage = Storage(self.directory / "study.db" if self.directory else None)
            self.record = RunRecord(self.storage, self.directory, self.constraints)
            self._reruns: list[tuple[int, Candidate]] = []
            self._recent_weights: OrderedDict[int, dict[str, Any]] = OrderedDict()
            self._evaluated = 0
            self._verdicts: OrderedDict[Any, Verdict] = OrderedDict()
            strategy.set_oracle(self.verdict)
            strategy.set_objectives(list(self.objectives) if self.objectives
                                    else self.cost_objectives())
            if resume:
                self._replay()
                self._record_session()
            elif self.storage.trials():
                raise StorageError(
                    f"{str(self.directory)!r} already holds a run of "
                    f"{len(self.storage.trials())} trial(s): pass resume=True to continue it "
                    "(`fitnas resume DIR` on the command line) or give another directory")
            else:
                self.storage.set_meta("config", self.get_config())
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise

    def close(self) -> None:
        """Release the run folder (its lock) and close the database; the study is done."""
        if self._lock is not None:
            self._lock.release()
        self.storage.close()

    def __enter__(self) -> Study:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_config(self) -> dict[str, Any]:
        """The space, strategy, evaluator and constraints of this study (saved with the run)."""
        return {
            "space": {"name": self.space.name, **self.space.get_config()},
            "strategy": {"name": self.strategy.name, **self.strategy.get_config()},
            "evaluator": {"name": self.evaluator.name, **self.evaluator.get_config()},
            "constraints": self.constraints.get_config(),
            **({"objectives": list(self.objectives)} if self.objectives else {}),
        }

    # ----------------------------------------------------------------- queries
    def trials(self, states: tuple[TrialState, ...] | None = None) -> list[TrialRecord]:
        return self.storage.trials(states)

    def best_trial(self) -> TrialRecord | None:
        """The most accurate COMPLETE trial that meets every limit (ties: least total memory)."""
        return self.record.best_trial()

    def pareto_front(self, objectives: list[str] | None = None) -> list[TrialRecord]:
        """Non-dominated feasible COMPLETE trials over accuracy and the cost ``objectives``
        (default: the constrained costs, or parameters and peak memory without limits)."""
        return self.record.pareto_front(objectives)

    def cost_objectives(self) -> list[str]:
        """The costs of the Pareto front: the limited ones, else parameters and peak memory."""
        return self.record.cost_objectives()

    def counts(self) -> dict[str, int]:
        return self.record.counts()

    def verdict(self, encoding: Any) -> Verdict:
        """The feasibility oracle the strategy gets (``Strategy.set_oracle``): the analytic
        costs of ``encoding`` (with a device model's latency, energy and power) and their
        violations of those limits, by the same cost model and limits that check every proposal
        (a latency measured on this host is left to that check). The last 65,536 verdicts are
        kept. Raises ``InvalidEncoding``."""
        key: Any = encoding
        try:
            hash(key)
        except TypeError:
            key = repr(encoding)
        found = self._verdicts.get(key)
        if found is not None:
            self._verdicts.move_to_end(key)
            return found
        costs = dict(self.constraints.cost_model.costs(self.space.graph(encoding)))
        violations = self.constraints.violations(costs)
        found = Verdict(all(v <= 0 for v in violations.values()), costs, violations)
        self._verdicts[key] = found
        if len(self._verdicts) > _VERDICTS_KEPT:
            self._verdicts.popitem(last=False)
        return found

    # ------------------------------------------------------------------- loop
    def optimize(
        self,
        budget: Budget | int,
        workers: int = 1,
        backend: str = "local",
        address: str | None = None,
        callback: Callable[[Study, TrialRecord], None] | None = None,
    ) -> None:
        """Search until the budget is spent (counting trials of earlier sessions of this run).

        SIGINT and SIGTERM stop it cleanly (``fitnas.interrupt``): finished trials are
        kept, running ones stay RUNNING marked ``interrupted`` (a resume runs them again), the
        workers are terminated, and :class:`~fitnas.interrupt.SearchInterrupted` (a
        ``KeyboardInterrupt``) is raised."""
        budget = Budget(trials=budget) if isinstance(budget, int) else budget
        deadline = time.monotonic() + budget.seconds if budget.seconds else None
        pool = create_workers(self.space, self.evaluator, workers, backend, address)
        self._evaluated = len(self.trials((TrialState.COMPLETE, TrialState.FAILED)))
        running: dict[int, TrialRecord] = {}
        exhausted = False
        stop = self._stop = StopSignals()
        stop.__enter__()
        try:
            while True:
                while (not exhausted and not stop.stopping and len(running) < pool.capacity
                       and self._may_start(budget, deadline, len(running))):
                    try:
                        record = self._start_next(pool)
                    except NotReady:
                        if not running:
                            raise StrategyError(
                                f"strategy {self.strategy.name!r} waits for results, but no "
                                "candidate is running") from None
                        break  # a synchronous step: wait for a result, then ask again
                    except StrategyDone:
                        exhausted = True  # it proposed all it had: finish what is running
                        break
                    except NoFeasibleArchitecture:
                        if not self.trials((TrialState.COMPLETE, TrialState.FAILED)) and not running:
                            raise
                        exhausted = True  # the strategy ran out: finish what is running
                        break
                    if record.state == TrialState.RUNNING:
                        running[record.number] = record
                    elif callback:
                        callback(self, record)
                if not running or stop.stopping:
                    break
                try:
                    with stop.interruptible(pool.in_process):
                        dones = pool.wait(timeout=1.0)
                except _StopNow:
                    break
                for done in dones:
                    if done.died and stop.stopping:
                        continue  # killed with the driver (a group's SIGTERM): run it again
                    finished = self._finish(pool, running, done)
                    if finished is not None and callback:
                        callback(self, finished)
            if stop.stopping:
                self._interrupted(stop, running)
            score_holdout(self)  # test accuracy of the best and the front, once (study.holdout)
        except _StopNow:  # from a strategy's ask (nothing was stored for it)
            self._interrupted(stop, running)
        finally:
            pool.close(now=bool(running))
            stop.__exit__(None, None, None)
            self._stop = None
        if stop.signum is not None:  # came while the finished search scored or closed
            raise SearchInterrupted(stop.signum)

    def _interrupted(self, stop: StopSignals, running: dict[int, TrialRecord]) -> NoReturn:
        """End a search stopped by a signal: mark the running trials and raise
        ``SearchInterrupted`` (``optimize`` then terminates the workers)."""
        assert stop.signum is not None
        marked = self.storage.mark_interrupted(sorted(running), signal_name(stop.signum))
        raise SearchInterrupted(stop.signum, tuple(marked))

    def _may_start(self, budget: Budget, deadline: float | None, running: int) -> bool:
        if deadline is not None and time.monotonic() >= deadline:
            return False
        if budget.trials is not None:
            return self._evaluated + running < budget.trials
        return True

    def _start_next(self, pool: Workers) -> TrialRecord:
        if self._reruns:
            number, candidate = self._reruns.pop(0)
            rerun = True
        else:
            number, candidate, rerun = self.storage.next_number(), self._ask(), False
        record, graph_json = self._checked_record(number, candidate)
        self.storage.add_trial(record, log_ask=not rerun, graph_json=graph_json)
        if record.state == TrialState.RUNNING:
            parent = weights = None
            if candidate.parent is not None:
                parent = self.storage.trial(candidate.parent).encoding
                weights = self._weights_of(candidate.parent)
            pool.submit(Job(number, self.space.to_data(candidate.encoding), parent,
                            candidate.budget, 1, weights))
        else:
            if record.state == TrialState.FAILED:  # an invalid encoding: finished, and it counts
                self._evaluated += 1
            self.strategy.tell(record.to_result())
        return record

    def _ask(self) -> Candidate:
        """The strategy's next candidate; a stop signal interrupts a long ``ask`` at once."""
        stop = getattr(self, "_stop", None)
        if stop is None:
            return self.strategy.ask()
        with stop.interruptible():
            return self.strategy.ask()

    def _checked_record(self, number: int, candidate: Candidate
                        ) -> tuple[TrialRecord, str | None]:
        """The new trial's record (its costs and violations checked before any training) and
        its network's JSON (``None`` when the encoding does not decode)."""
        encoding = self.space.to_data(candidate.encoding)
        base = {"number": number, "encoding": encoding, "parent": candidate.parent,
                "budget": candidate.budget, "started": time.time()}
        try:
            graph = self.space.graph(candidate.encoding)
        except InvalidEncoding as err:
            return TrialRecord(state=TrialState.FAILED, fingerprint="",
                               result={"reason": str(err)}, finished=time.time(), **base), None
        check = self.constraints.check(graph)
        state = TrialState.RUNNING if check.feasible else TrialState.INFEASIBLE
        graph_json = graph.to_json(indent=None)
        return TrialRecord(state=state, fingerprint=graph.fingerprint(), costs=check.costs,
                           violations=dict(check.violations), graph_key=graph_key(graph_json),
                           finished=None if check.feasible else time.time(), **base), graph_json

    def _finish(self, pool: Workers, running: dict[int, TrialRecord], done: Done
                ) -> TrialRecord | None:
        job = done.job
        started = running[job.number]
        if done.died:
            if job.attempt < 2:  # retried once, then FAILED
                pool.submit(Job(job.number, job.encoding, job.parent_encoding, job.budget,
                                job.attempt + 1, job.parent_weights))
                return None
            result: dict[str, Any] = {"state": TrialState.FAILED.value, "reason": done.died}
        else:
            assert done.result is not None
            result = dict(done.result)
        ok = TrialState.parse(result.get("state")) == TrialState.COMPLETE
        record = TrialRecord(
            number=job.number, state=TrialState.COMPLETE if ok else TrialState.FAILED,
            encoding=started.encoding,
            fingerprint=started.fingerprint, costs=started.costs, violations=started.violations,
            accuracy=result.get("val_accuracy") if ok else None,
            test_accuracy=result.get("test_accuracy") if ok else None, result=result,
            parent=started.parent, budget=started.budget, attempts=job.attempt,
            started=started.started, finished=time.time(), graph_key=started.graph_key)
        if ok and done.weights is not None:
            self._recent_weights[job.number] = done.weights
            while len(self._recent_weights) > 16:
                self._recent_weights.popitem(last=False)
            if self.directory is not None:
                self._save_weights(job.number, done.weights)
        self.storage.finish_trial(record)
        self._evaluated += 1
        del running[job.number]
        self.strategy.tell(record.to_result())
        return record

    def _save_weights(self, number: int, weights: dict[str, Any]) -> None:
        import torch

        assert self.directory is not None
        folder = self.directory / "trials"
        folder.mkdir(exist_ok=True)
        tmp = folder / f"{number}.pt.tmp"
        torch.save(weights, tmp)
        tmp.replace(folder / f"{number}.pt")

    def _weights_of(self, number: int) -> dict[str, Any] | None:
        """The trained weights of trial ``number`` (kept in memory for the latest trials, else
        read from the run folder), sent with a child's job so any worker can inherit them;
        ``None`` when the evaluator trains nothing or the weights are gone."""
        if not self.evaluator.trains_weights:
            return None
        if number in self._recent_weights:
            return self._recent_weights[number]
        path = self.weights_path(number)
        if path is None:
            return None
        import torch

        weights: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
        return weights

    def weights_path(self, number: int) -> Path | None:
        return self.record.weights_path(number)

    # ----------------------------------------------------------------- resume
    def _replay(self) -> None:
        """Bring a fresh strategy to where the stored run left it (see ``storage``). Each ask
        is replayed under the constraints of the session it was made in (the feasibility
        oracle decides what constrained sampling proposes); every asked trial that did not
        finish (RUNNING when the run stopped, or dropped by an earlier resume that stopped
        before sending it again) is run again under its number."""
        finished = {t.number: t for t in self.storage.trials(FINISHED)}
        self.storage.drop_running()
        sessions = self._sessions()
        current, judging = self.constraints, None
        try:
            for kind, number in self.storage.events():
                if kind == "tell":
                    self.strategy.tell(finished[number].to_result())
                    continue
                asked_under = next(s["config"].get("constraints") for s in reversed(sessions)
                                   if s["from_trial"] <= number)
                if asked_under != judging:
                    judging = asked_under
                    self.constraints = (current if asked_under is None
                                        or asked_under == _stored(current.get_config())
                                        else Constraints.from_config(asked_under))
                    self._verdicts.clear()
                candidate = self.strategy.ask()
                if number in finished:
                    stored = finished[number].encoding
                    if self.space.from_data(stored) != self.space.from_data(
                            self.space.to_data(candidate.encoding)):
                        raise StorageError(
                            f"cannot resume: trial {number} was {stored}, but the strategy now "
                            "proposes another architecture (were the settings or seed "
                            "changed?)")
                elif all(n != number for n, _ in self._reruns):
                    self._reruns.append((number, candidate))
        finally:
            if self.constraints is not current:
                self.constraints = current
                self._verdicts.clear()

    def _sessions(self) -> list[dict[str, Any]]:
        """The sessions of the run: ``{"from_trial": N, "config": ...}`` in order, each the
        configuration in force for the trials asked from number N on."""
        sessions = self.storage.get_meta("sessions")
        if sessions:
            return list(sessions)
        return [{"from_trial": 0, "config": self.storage.get_meta("config") or {}}]

    def _record_session(self) -> None:
        """A resume under another configuration (constraints, evaluator) than the run's last:
        store it as a new session, and as the run's ``config`` (what readers of the run use)."""
        config = _stored(self.get_config())
        sessions = self._sessions()
        if sessions[-1]["config"] == config:
            return
        asked = [number for kind, number in self.storage.events() if kind == "ask"]
        sessions.append({"from_trial": max(asked) + 1 if asked else 0, "config": config})
        self.storage.set_meta("sessions", sessions)
        self.storage.set_meta("config", config)


def _stored(data: Any) -> Any:
    """``data`` as the storage returns it (through JSON: tuples become lists)."""
    return json.loads(json.dumps(data))
