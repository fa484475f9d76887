"""``fitnas bench nb201``: search strategies on a NAS-Bench-201 table, without training.

Dong & Yang, "NAS-Bench-201", ICLR 2020: the metric of each of the 15,625 cells is a look-up in
a table (``../shared/benchmarks/nb201_12epoch.csv``; any CSV with a ``cellstr`` column and the
metric's column), so a search of 100 evaluations takes seconds and many seeds can be compared.

* fitnas strategies run through the real :class:`~fitnas.study.Study` (in memory) with a
  :class:`~fitnas.evaluators.TableEvaluator` and :class:`~fitnas.constraints.Constraints`: a
  proposal over the limits is INFEASIBLE, is not looked up and does not count; the budget is
  the number of evaluated trials. An architecture the table lacks is a FAILED evaluation.
* The Optuna baselines (``optuna-tpe``, ``optuna-nsga2``) follow the same rule in the same
  process; see :mod:`fitnas.bench.optuna_baselines`.
* After each evaluation the run records the best metric found so far (evaluated architectures
  always meet the limits). The *regret* at a checkpoint is the table's best value among the
  architectures that meet the limits minus the run's best after that many evaluations, in the
  metric's units (percentage points for the NB201 table); a run that stopped earlier counts
  with its last value, and one that found nothing yet has an infinite regret (a median that
  falls on such runs is ``None``).
* The *hypervolume* of a run (:mod:`fitnas.study.pareto`, Zitzler & Thiele 1998, computed by
  ``moocore``) measures the front of the metric (maximized) against costs (minimized) of the
  architectures it evaluated by the final checkpoint: over the limited costs, else over
  ``params``. The reference point is one for every strategy and seed: 0 for the metric, and
  each limited cost's limit, or without limits the parameters of the space's largest network
  (``nor_conv_3x3`` on all six edges), so every evaluated architecture lies within it. The
  value is in raw units (the metric's units times each cost's: percentage points x parameters
  for the NB201 table without limits); the bench reports its median over the seeds.
* Limits are those of ``fitnas search``; a limit on an analytic cost may be ``median`` or a
  percentile ``pNN`` (``p25``, ``p50`` = ``median``, ...) of that cost over the table's
  architectures: the value at index ``floor((n - 1) * NN / 100)`` of the n sorted costs (the
  lower median for an even count). Costs are the project's cost models on the benchmark's
  network (:mod:`fitnas.bench.costs`, cached).
  Latency limits are not supported: the table's best feasible value would need the latency of
  every network of the table.
* The network follows the metric's dataset: CIFAR-10 (input 1x3x32x32, 10 classes) by default,
  100 classes for ``cifar100_*`` and 16x16 inputs with 120 classes for ``imagenet16_120_*``.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..constraints import LIMIT_COSTS, Constraints, Limits
from ..errors import FitnasError
from ..evaluators.table import BenchmarkTable, TableError, TableEvaluator, read_table
from ..spaces.nb201 import EDGES, NB201Space
from ..strategies import NoFeasibleArchitecture, create_strategy, list_strategies
from ..study.pareto import front_hypervolume
from ._record import Recorder, RunResult, StopRun
from .costs import CostTable, table_costs
from .optuna_baselines import OPTUNA_STRATEGIES, check_sampler, run_optuna

__all__ = ["LARGEST_CELL", "MEDIAN_LIMITS", "BenchResult", "NB201Bench", "StrategySpec",
           "check_strategies", "default_checkpoints", "known_strategies", "load_table",
           "parse_relative_limit", "parse_strategy", "percentile_low", "run_nb201",
           "space_for_metric"]

#: The limits that accept ``median`` or ``pNN`` (those on analytic costs).
MEDIAN_LIMITS: tuple[str, ...] = tuple(n for n in LIMIT_COSTS if n != "max_latency_ms")
_CHECKPOINTS = (10, 25, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
#: The space's largest network (most parameters and MACs): the hypervolume reference without limits.
LARGEST_CELL: tuple[str, ...] = ("nor_conv_3x3",) * len(EDGES)


def parse_relative_limit(text: str) -> float | None:
    """The percentile a limit's text names (``"median"``: 50, ``"p25"``: 25), ``None`` when the
    text names none (an absolute limit); a bad ``pNN`` is a one-line error."""
    word = text.strip().lower()
    if word == "median":
        return 50.0
    if not word.startswith("p"):  # no absolute limit starts with a p
        return None
    try:
        value = float(word[1:])
    except ValueError:
        value = -1.0
    if not 0 <= value <= 100:
        raise FitnasError(f"bad percentile {text!r}: expected pNN with NN in 0..100, e.g. p25, "
                          "or median")
    return value


def percentile_low(values: Sequence[float], percentile: float) -> float:
    """The value at index ``floor((n - 1) * percentile / 100)`` of the sorted ``values``: a
    value that occurs (``percentile_low(v, 50)`` is ``statistics.median_low(v)``)."""
    ordered = sorted(values)
    return ordered[math.floor((len(ordered) - 1) * percentile / 100)]


def describe_percentile(percentile: float) -> str:
    """``median`` or ``p25``, as a limit is written."""
    return "median" if percentile == 50 else f"p{percentile:g}"


def known_strategies() -> list[str]:
    """The registered fitnas strategies, then the Optuna baselines."""
    return [*list_strategies(), *OPTUNA_STRATEGIES]


@dataclass(frozen=True)
class StrategySpec:
    """A strategy to bench: its name, constructor options and label (``NAME[:K=V,...]``)."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    label: str = ""

    @property
    def is_optuna(self) -> bool:
        return self.name in OPTUNA_STRATEGIES


def parse_strategy(text: str) -> StrategySpec:
    """``"random"`` or ``"optuna-tpe:n_startup_trials=5"``; an unknown name lists the known."""
    from ..study.setup import parse_options

    name, _, opts = text.strip().partition(":")
    name = name.strip()
    if name not in known_strategies():
        raise FitnasError(f"unknown strategy {name!r}; known: {', '.join(known_strategies())}")
    options = parse_options(opts, "--strategy")
    label = name + (":" + ",".join(f"{k}={v}" for k, v in options.items()) if options else "")
    return StrategySpec(name, options, label)


def check_strategies(specs: Sequence[StrategySpec], metric: str = "cifar10_test") -> None:
    """Fail early (one line) on a strategy whose options are wrong, or on a missing Optuna."""
    space = space_for_metric(metric)
    for spec in specs:
        if spec.is_optuna:
            check_sampler(spec.name, spec.options)
        else:
            create_strategy(spec.name, space, seed=0, **spec.options)


def default_checkpoints(evals: int) -> list[int]:
    """10, 25, 50, 100, 200, 500, ... below ``evals``, then ``evals``."""
    return [c for c in _CHECKPOINTS if c < evals] + [evals]


def space_for_metric(metric: str) -> NB201Space:
    """The benchmark's network for the dataset of ``metric`` (see the module docstring)."""
    if metric.startswith("cifar100"):
        return NB201Space(classes=100)
    if metric.startswith("imagenet16"):
        return NB201Space(input_shape=(1, 3, 16, 16), classes=120)
    return NB201Space()


def load_table(path: str | Path, metric: str, space: NB201Space) -> BenchmarkTable:
    """The CSV ``path`` read once (``fitnas.evaluators.read_table``): its ``metric`` column by
    canonical cellstr (NaN where empty)."""
    def canonical(text: str) -> str:
        return space.format(space.parse(text))

    try:
        return read_table(path, [metric], "cellstr", canonical)
    except TableError as err:
        if "has no 'cellstr' column" in str(err):
            raise TableError(f"{err}; a NAS-Bench-201 table is needed") from None
        raise


@dataclass
class BenchResult:
    """The outcome of :meth:`NB201Bench.run` (``to_dict`` is the ``--json`` output)."""

    table: str
    metric: str
    limits: Limits
    median_limits: list[str]
    evals: int
    seeds: int
    seed_base: int
    max_proposals: int
    checkpoints: list[int]
    table_rows: int
    feasible_rows: int
    table_best_feasible: float
    table_best_cellstr: str
    space: dict[str, Any]
    costs: dict[str, Any]
    runs: dict[str, list[RunResult]] = field(default_factory=dict)
    #: every limit set from the table: its name and percentile (``median_limits`` are the 50s)
    percentile_limits: dict[str, float] = field(default_factory=dict)
    #: the costs of the hypervolume (the limited ones, else ``params``)
    hypervolume_costs: list[str] = field(default_factory=list)
    #: the hypervolume's reference point: the metric's (0) and each cost's, by name
    hypervolume_reference: dict[str, float] = field(default_factory=dict)

    @property
    def final_checkpoint(self) -> int:
        """The checkpoint of the hypervolume: the last one."""
        return max(self.checkpoints)

    def hypervolumes(self, name: str) -> list[float]:
        """Each run's hypervolume of its evaluations up to the final checkpoint (see the
        module docstring)."""
        ref = [self.hypervolume_reference[self.metric],
               *(self.hypervolume_reference[c] for c in self.hypervolume_costs)]
        n, out = self.final_checkpoint, []
        for run in self.runs[name]:
            points = [(v, *(c[k] for k in self.hypervolume_costs))
                      for v, c in zip(run.values[:n], run.costs[:n]) if v is not None]
            out.append(front_hypervolume(points, ref))
        return out

    def median_hypervolume(self, name: str) -> float:
        """The median over the seeds of :meth:`hypervolumes`."""
        return statistics.median(self.hypervolumes(name))

    def regrets(self, name: str, checkpoint: int) -> list[float]:
        """Each run's regret after ``checkpoint`` evaluations (``inf`` before any value)."""
        out = []
        for run in self.runs[name]:
            best = run.best_at(checkpoint)
            out.append(math.inf if best is None else self.table_best_feasible - best)
        return out

    def median_regret(self, name: str) -> dict[int, float | None]:
        """Median regret over the seeds at each checkpoint (``None`` when it is infinite)."""
        out: dict[int, float | None] = {}
        for c in self.checkpoints:
            m = statistics.median(self.regrets(name, c))
            out[c] = round(m, 6) if math.isfinite(m) else None
        return out

    def median_best(self, name: str) -> dict[int, float | None]:
        """Median best value over the seeds at each checkpoint (``None``: nothing found)."""
        regret = self.median_regret(name)
        return {c: None if r is None else round(self.table_best_feasible - r, 6)
                for c, r in regret.items()}

    def seconds_per_run(self, name: str) -> float:
        return statistics.median(r.seconds for r in self.runs[name])

    def to_dict(self, archs: bool = False) -> dict[str, Any]:
        """The JSON form; ``archs`` adds each run's evaluated cellstrs."""
        volumes = {name: self.hypervolumes(name) for name in self.runs}  # once per strategy
        return {
            "table": self.table, "metric": self.metric, "limits": self.limits.to_dict(),
            "median_limits": self.median_limits,
            "percentile_limits": {n: describe_percentile(p)
                                  for n, p in self.percentile_limits.items()},
            "evals": self.evals, "seeds": self.seeds,
            "seed_base": self.seed_base, "max_proposals": self.max_proposals,
            "table_rows": self.table_rows, "feasible_rows": self.feasible_rows,
            "table_best_feasible": self.table_best_feasible,
            "table_best_cellstr": self.table_best_cellstr, "space": self.space,
            "costs": self.costs, "checkpoints": self.checkpoints,
            "hypervolume": {"objectives": [self.metric, *self.hypervolume_costs],
                            "reference": dict(self.hypervolume_reference),
                            "checkpoint": self.final_checkpoint},
            "strategies": {name: {
                "runs": [{**r.to_dict(archs), "hypervolume": hv}
                         for r, hv in zip(runs, volumes[name])],
                "median_regret": self.median_regret(name),
                "median_best": self.median_best(name),
                "median_hypervolume": statistics.median(volumes[name]),
                "seconds_per_run": round(self.seconds_per_run(name), 4),
            } for name, runs in self.runs.items()},
        }


class NB201Bench:
    """A table, a metric and limits, ready to run strategies (see the module docstring).

    Args:
        table: the CSV file; metric: its column to maximize.
        limits: the limits (``None``: none); median: names of limits (from
            :data:`MEDIAN_LIMITS`) to set to the table's median of their cost; percentiles:
            more such limits, each set to a percentile (0-100) of its cost over the table.
        evals: evaluations per run; max_proposals: proposals per run at most (default
            ``50 * evals``).
        jobs, use_cache: how the costs of the table are computed (:func:`table_costs`).
        notify: called with a line before a long cost computation.
    """

    def __init__(self, table: str | Path, metric: str = "cifar10_test",
                 limits: Limits | None = None, median: Sequence[str] = (), evals: int = 100,
                 max_proposals: int | None = None, jobs: int | None = None,
                 use_cache: bool = True, notify: Callable[[str], None] | None = None,
                 percentiles: Mapping[str, float] | None = None,
                 cost_table: CostTable | None = None) -> None:
        if evals < 1:
            raise FitnasError(f"--evals must be at least 1, got {evals}")
        self.evals = evals
        self.max_proposals = max_proposals if max_proposals is not None else 50 * evals
        if self.max_proposals < evals:
            raise FitnasError(f"--max-proposals must be at least --evals ({evals}), got "
                              f"{self.max_proposals}")
        limits = limits if limits is not None else Limits()
        relative = {**{n: 50.0 for n in median}, **dict(percentiles or {})}
        if limits.max_latency_ms is not None or "max_latency_ms" in relative:
            raise FitnasError("bench nb201 checks analytic costs only: a latency limit would need "
                              "the latency of every network of the table; drop --max-latency-ms")
        for name, percentile in relative.items():
            if name not in MEDIAN_LIMITS:
                raise FitnasError(f"median and percentiles are not available for {name!r}; "
                                  f"accepted: {', '.join(MEDIAN_LIMITS)}")
            if not 0 <= percentile <= 100:
                raise FitnasError(f"the percentile of {name} must be in 0..100, got {percentile}")
        self.table_path, self.metric = str(table), metric
        self.space = space_for_metric(metric)
        self.table = load_table(table, metric, self.space)
        self.values = dict(self.table.columns[metric])
        self.percentile_limits = {n: relative[n] for n in MEDIAN_LIMITS if n in relative}
        self.median_limits = [n for n, p in self.percentile_limits.items() if p == 50]
        self.cost_table: CostTable | None = cost_table
        if self.cost_table is None and (self.percentile_limits or limits.active()):
            self.cost_table = table_costs(self.space.get_config(), list(self.values), limits.dtype,
                                          limits.schedule, jobs=jobs, use_cache=use_cache,
                                          notify=notify)
        if self.cost_table is not None and self.percentile_limits:
            costs = list(self.cost_table.costs.values())
            limits = limits.merged({n: percentile_low([c[LIMIT_COSTS[n]] for c in costs], p)
                                    for n, p in self.percentile_limits.items()})
        self.limits = limits
        self.constraints = Constraints(limits)
        self._extra_costs: dict[str, dict[str, float]] = {}
        #: The Study's evaluator, stateless, shared by the runs.
        self.evaluator = TableEvaluator(self.table_path, metric, key_fn=self.space.format,
                                        table=self.table)
        feasible = {c: v for c, v in self.values.items() if v == v and self.meets_limits(c)}
        if not feasible:
            raise FitnasError(f"no architecture of {self.table_path!r} with a {metric} value "
                              f"meets the limits ({'; '.join(limits.describe())})")
        self.feasible_rows = len(feasible)
        self.best_cellstr = max(feasible, key=lambda c: (feasible[c], c))
        self.best_feasible = feasible[self.best_cellstr]
        #: the hypervolume's costs and reference point (see the module docstring)
        self.hypervolume_costs = [LIMIT_COSTS[n] for n in limits.active()] or ["params"]
        largest = self.space.format(LARGEST_CELL)
        self.hypervolume_reference = {metric: 0.0, **{
            LIMIT_COSTS[n]: float(v) for n, v in limits.active().items()}}
        for cost in self.hypervolume_costs:
            if cost not in self.hypervolume_reference:
                self.hypervolume_reference[cost] = float(self.costs_of(largest)[cost])

    # ------------------------------------------------------------- look-ups
    def costs_of(self, cellstr: str) -> dict[str, float]:
        """The analytic costs of ``cellstr`` (cached table costs, else computed once)."""
        if self.cost_table is not None and cellstr in self.cost_table:
            return self.cost_table[cellstr]
        if cellstr not in self._extra_costs:
            graph = self.space.decode(self.space.parse(cellstr))
            self._extra_costs[cellstr] = dict(self.constraints.cost_model.costs(graph).analytic())
        return self._extra_costs[cellstr]

    def violations_of(self, cellstr: str) -> dict[str, float]:
        """``(cost - limit) / limit`` per active limit (``<= 0``: met); the Study's numbers."""
        if not self.limits.active():
            return {}
        return self.constraints.violations(self.costs_of(cellstr))

    def meets_limits(self, cellstr: str) -> bool:
        return all(v <= 0 for v in self.violations_of(cellstr).values())

    def value_of(self, cellstr: str) -> float | None:
        """The table's metric of ``cellstr``; ``None`` when the table lacks it or it is empty."""
        value = self.values.get(cellstr)
        return None if value is None or value != value else value

    # ----------------------------------------------------------------- runs
    def run_one(self, spec: StrategySpec, seed: int) -> RunResult:
        """One run of ``spec`` with ``seed``."""
        recorder = Recorder(seed, self.evals, self.max_proposals)
        start = time.perf_counter()
        note = ""
        if spec.is_optuna:
            run_optuna(spec.name, spec.options, recorder, self.space.format, self.value_of,
                       self.violations_of, bool(self.limits.active()))
        else:
            note = self._run_study(spec, recorder)
        result = recorder.result(time.perf_counter() - start, note)
        return replace(result, costs=[{k: float(self.costs_of(c)[k]) for k in self.hypervolume_costs}
                                      for c in result.evaluated])

    def _run_study(self, spec: StrategySpec, recorder: Recorder) -> str:
        from ..states import TrialState
        from ..study import Study

        options = {"budget": self.evals, **spec.options}
        strategy = create_strategy(spec.name, self.space, seed=recorder.seed, **options)
        study = Study(self.space, strategy, self.evaluator, self.constraints, None)

        def callback(_: Any, record: Any) -> None:
            recorder.proposed()
            if record.state in (TrialState.COMPLETE, TrialState.FAILED):
                cellstr = self.space.format(self.space.from_data(record.encoding))
                recorder.evaluation(cellstr, self.value_of(cellstr) if record.state == TrialState.COMPLETE
                                    else None)
            if recorder.capped:
                raise StopRun

        try:
            study.optimize(self.evals, callback=callback)
        except StopRun:
            return recorder.cap_note()
        except NoFeasibleArchitecture as err:
            return f"the strategy stopped: {err}"
        finally:
            study.storage.close()
        if not recorder.done:
            return f"the strategy stopped after {len(recorder.evaluated)} evaluations"
        return ""

    def run(self, strategies: Sequence[StrategySpec], seeds: int = 5, seed_base: int = 0,
            checkpoints: Sequence[int] | None = None,
            progress: Callable[[str, int], None] | None = None) -> BenchResult:
        """Run each strategy with seeds ``seed_base .. seed_base + seeds - 1``.

        ``progress(label, seed)`` is called after each run.
        """
        if seeds < 1:
            raise FitnasError(f"--seeds must be at least 1, got {seeds}")
        checkpoints = sorted(set(checkpoints or default_checkpoints(self.evals)))
        bad = [c for c in checkpoints if not 1 <= c <= self.evals]
        if bad:
            raise FitnasError(f"checkpoint {bad[0]} is outside 1..{self.evals} (the --evals)")
        check_strategies(strategies, self.metric)
        ct = self.cost_table
        result = BenchResult(
            table=self.table_path, metric=self.metric, limits=self.limits,
            median_limits=self.median_limits, percentile_limits=dict(self.percentile_limits),
            evals=self.evals, seeds=seeds, seed_base=seed_base,
            max_proposals=self.max_proposals, checkpoints=checkpoints,
            table_rows=len(self.values), feasible_rows=self.feasible_rows,
            table_best_feasible=self.best_feasible, table_best_cellstr=self.best_cellstr,
            space=self.space.get_config(),
            costs={"cache": str(ct.path) if ct and ct.path else None,
                   "computed": ct.computed if ct else 0,
                   "seconds": round(ct.seconds, 3) if ct else 0.0},
            hypervolume_costs=list(self.hypervolume_costs),
            hypervolume_reference=dict(self.hypervolume_reference))
        for spec in strategies:
            label = spec.label or spec.name
            result.runs[label] = []
            for seed in range(seed_base, seed_base + seeds):
                result.runs[label].append(self.run_one(spec, seed))
                if progress is not None:
                    progress(label, seed)
        return result


def run_nb201(table: str | Path, metric: str = "cifar10_test",
              strategies: Sequence[str | StrategySpec] | None = None,
              limits: Limits | Mapping[str, Any] | None = None, median: Sequence[str] = (),
              evals: int = 100, seeds: int = 5, seed_base: int = 0,
              checkpoints: Sequence[int] | None = None, **kwargs: Any) -> BenchResult:
    """Bench ``strategies`` (default: every registered one and the Optuna baselines) on
    ``table``; ``kwargs`` go to :class:`NB201Bench` (``max_proposals``, ``jobs``, ...)."""
    specs = [s if isinstance(s, StrategySpec) else parse_strategy(s)
             for s in (strategies or known_strategies())]
    if seeds < 1:
        raise FitnasError(f"--seeds must be at least 1, got {seeds}")
    check_strategies(specs, metric)
    if isinstance(limits, Mapping):
        limits = Limits.from_dict(limits)
    bench = NB201Bench(table, metric, limits, median, evals, **kwargs)
    return bench.run(specs, seeds, seed_base, checkpoints)
