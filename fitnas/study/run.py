"""``load_run(DIR)``: a finished (or stopped) run folder, read without rebuilding the search.

A :class:`RunRecord` reads ``study.db`` (``fitnas.study.storage``, schema 2: every trial's
network as ArchGraph JSON and its :class:`~fitnas.costs.model.Costs`, with the execution order
they were checked under) and the trained weights in ``trials/``. It loads no dataset, builds
no strategy and needs no search space: ``fitnas report``, ``fitnas export``, ``fitnas
ensemble`` and the outputs a search writes (``pareto.csv``, ``summary.json``, ``best/``) all
read through it. The :class:`~fitnas.study.Study` answers its own queries (best trial, Pareto
front, counts) through a ``RunRecord`` over its storage, so a running search and a reader of
its folder rank trials the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..arch import ArchGraph
from ..constraints import LIMIT_COSTS, Constraints
from ..errors import FitnasError
from ..states import TrialState
from .pareto import device_fronts, panacea, pareto_front
from .setup import SearchSettings
from .storage import Storage, StorageError
from .trial import TrialRecord

__all__ = ["OBJECTIVE_COSTS", "RunRecord", "best_of", "check_costs", "check_objectives", "load_run",
           "rank_key"]


def rank_key(trial: TrialRecord) -> tuple[float, float, int]:
    """How trials rank, higher first: accuracy, then the least total memory, then the earlier
    trial (the rule of the best trial, the summary, the report and ensemble members)."""
    return (trial.accuracy if trial.accuracy is not None else float("-inf"),
            -trial.costs.get("total_memory_bytes", 0), -trial.number)


def best_of(trials: Sequence[TrialRecord]) -> TrialRecord | None:
    """The most accurate COMPLETE trial that meets every limit (ranked by :func:`rank_key`)."""
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.feasible
            and t.accuracy is not None]
    if not done:
        return None
    return max(done, key=rank_key)


class RunRecord:
    """The stored trials, networks, weights and settings of one run (read-only).

    Args:
        storage: the run's open :class:`Storage`.
        directory: the run folder (``None`` for an in-memory study: no weights).
        constraints: the limits the run checked; default: those stored in its configuration.
    """

    def __init__(self, storage: Storage, directory: Path | None = None,
                 constraints: Constraints | None = None) -> None:
        self.storage = storage
        self.directory = directory
        self._constraints = constraints

    # ------------------------------------------------------------- settings
    @property
    def config(self) -> dict[str, Any]:
        """The space, strategy, evaluator and constraints configuration the run stored."""
        return dict(self.storage.get_meta("config") or {})

    @property
    def settings(self) -> SearchSettings | None:
        """The ``fitnas search`` settings, or ``None`` for a run made from Python."""
        stored = self.storage.get_meta("settings")
        return SearchSettings.from_dict(stored) if stored is not None else None

    @property
    def constraints(self) -> Constraints:
        if self._constraints is None:
            self._constraints = Constraints.from_config(self.config.get("constraints") or {})
        return self._constraints

    @property
    def name(self) -> str:
        return str(self.directory) if self.directory is not None else "this in-memory study"

    # ---------------------------------------------------------------- trials
    def trials(self, states: tuple[TrialState, ...] | None = None) -> list[TrialRecord]:
        return self.storage.trials(states)

    def trial(self, number: int) -> TrialRecord:
        return self.storage.trial(number)

    def graph(self, number: int) -> ArchGraph:
        """The network of trial ``number``, as stored when it was checked."""
        trial = self.trial(number)
        if trial.graph_key is None:
            raise StorageError(f"trial {number} of {self.name} has no stored network "
                               f"({trial.state}: {trial.reason or 'not decoded'})")
        return ArchGraph.from_json(self.storage.graph_json(trial.graph_key))

    def order(self, number: int) -> tuple[str, ...]:
        """The execution order trial ``number``'s costs were checked under (its graph's own
        order when the record predates stored orders)."""
        order = self.trial(number).order
        return order if order is not None else self.graph(number).order

    def weights_path(self, number: int) -> Path | None:
        """``trials/N.pt`` of a trained trial, if the run folder has it."""
        if self.directory is None:
            return None
        path = self.directory / "trials" / f"{number}.pt"
        return path if path.exists() else None

    # --------------------------------------------------------------- queries
    def judged(self) -> list[TrialRecord]:
        """The COMPLETE trials with their violations of the run's *current* limits: a run
        resumed with ``--allow-changed-settings`` and a tighter limit no longer counts a trial
        over it as feasible (its stored record keeps the verdict it was trained under)."""
        active = self.constraints.limits.active()
        out = []
        for t in self.trials((TrialState.COMPLETE,)):
            now = {k: v for k, v in t.violations.items() if k in active}
            now.update(self.constraints.violations(t.costs))
            out.append(t if now == dict(t.violations) else replace(t, violations=now))
        return out

    def best_trial(self) -> TrialRecord | None:
        """The most accurate COMPLETE trial that meets every current limit (see
        :func:`best_of` and :meth:`judged`)."""
        return best_of(self.judged())

    def cost_objectives(self) -> list[str]:
        """The costs of the Pareto front: those the run was given (``objectives``), else the
        limited ones, else parameters and peak memory."""
        stored = self.config.get("objectives")
        if stored:
            return list(stored)
        names = [LIMIT_COSTS[name] for name in self.constraints.limits.active()]
        return names or ["params", "peak_activation_bytes"]

    def pareto_front(self, objectives: list[str] | None = None) -> list[TrialRecord]:
        """Non-dominated feasible COMPLETE trials over accuracy and the cost ``objectives``."""
        return pareto_front(self.judged(), objectives or self.cost_objectives())

    def device_fronts(self) -> dict[str, list[TrialRecord]]:
        """The front of each device the objectives name (``fitnas.study.pareto.device_fronts``)."""
        return device_fronts(self.judged(), self.cost_objectives())

    def panacea(self) -> list[TrialRecord]:
        """The trials on every device's front (DPP-Net's Panacea); empty below two devices."""
        return panacea(self.device_fronts())

    def counts(self) -> dict[str, int]:
        """Trials per state, by state name."""
        out = {s.value: 0 for s in (TrialState.COMPLETE, TrialState.FAILED,
                                    TrialState.INFEASIBLE, TrialState.RUNNING)}
        for t in self.trials():
            out[t.state.value] += 1
        return out

    def close(self) -> None:
        self.storage.close()

    def __enter__(self) -> RunRecord:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_run(directory: str | Path) -> RunRecord:
    """The run stored in ``directory`` (a folder with ``study.db``), read-only."""
    path = Path(directory)
    if not (path / "study.db").is_file():
        raise FitnasError(f"{str(directory)!r} holds no fitnas run (no study.db)")
    return RunRecord(Storage(path / "study.db"), path)


#: The costs a Pareto front may use besides accuracy.
OBJECTIVE_COSTS: tuple[str, ...] = ("params", "param_bytes", "macs", "peak_activation_bytes",
                                    "total_memory_bytes", "chan_memory_bytes", "latency_ms",
                                    "energy_uj", "avg_power_mw", "peak_power_mw")


def check_objectives(objectives: list[str] | None, constraints: Constraints) -> list[str] | None:
    """``objectives`` checked against the costs every trial of a run with ``constraints`` will
    have, in canonical form (``latency@DEV`` -> ``latency_ms@DEV``, ``fitnas.costs.objectives``):
    a one-line error for an unknown name, a name given twice, a device that is not one of the
    cost model's objective devices or has no power figures for an energy or power objective, an
    energy or power objective without a device model that has power figures, and latency that
    is neither modelled nor measured."""
    if objectives is None:
        return None
    from ..costs.objectives import check_unique, split_objective
    from ..errors import FitnasError

    if isinstance(objectives, str) or not objectives:
        raise FitnasError(f"bad objectives {objectives!r}: expected a list of cost names from "
                          f"{', '.join(OBJECTIVE_COSTS)}")
    for name in objectives:
        if not isinstance(name, str):
            raise FitnasError(f"bad objective {name!r}: expected a cost name from "
                              f"{', '.join(OBJECTIVE_COSTS)}")
        cost, device = split_objective(name)
        if cost not in OBJECTIVE_COSTS:
            raise FitnasError(f"unknown objective {name!r}; accepted: {', '.join(OBJECTIVE_COSTS)}"
                              ", or a device cost on a device, e.g. latency@stm32f746-disco")
    names = check_unique(objectives, "objective")
    devices = {d.name: d for d in constraints.cost_model.devices}
    for name in names:
        cost, device = split_objective(name)
        if device is None:
            check_costs([name], constraints, f"the objective {name}")
            continue
        profile = devices.get(device)
        if profile is None:
            raise FitnasError(f"the objective {name} names device {device!r}, which is not one "
                              "of the run's objective devices ("
                              f"{', '.join(devices) or 'none'})")
        if cost != "latency_ms" and not profile.has_energy:
            profile.require(f"the objective {name}", energy=True)
    return names


def check_costs(names: list[str] | tuple[str, ...], constraints: Constraints, what: str) -> None:
    """A one-line error when a cost in ``names`` (needed by ``what``: an objective, a
    strategy's reward) will be missing from the trials of a run with ``constraints``: energy or
    power without a device model that has power figures, latency neither modelled nor measured
    for every trial."""
    from ..errors import FitnasError

    model = constraints.cost_model
    for name in names:
        if name in ("energy_uj", "avg_power_mw", "peak_power_mw") and (
                model.device is None or not model.device.has_energy):
            raise FitnasError(f"{what} needs {name}, which needs a device model with power "
                              "figures (--device NAME whose profile has [compute] and [power])")
        if name == "latency_ms" and not model.models_latency \
                and constraints.limits.max_latency_ms is None:
            raise FitnasError(f"{what} needs latency_ms for every trial: a device model "
                              "(--device NAME, --latency model) or a --max-latency-ms limit "
                              "(then only feasible trials are measured)")
