"""The look-up graph (LUG) from a search-time target K_s to the derived network's cost K_d
(paper 004 section 3.2.1 and appendix 0.B).

K(alpha) weights every operation of every edge by its softmax (eq. 3), while the derived
network keeps two edges per node and one operation per edge, so the network a search at target
``K_s`` derives does not cost ``K_s``. Paper 004 runs the search to convergence at several
``K_s`` (in parallel), records the derived costs ``K_d``, and then, for a device limit, reads the
``K_s`` whose ``K_d`` meets it off that graph. Here:

* :func:`build_lookup_graph` runs one search per (target, seed) on local processes or Ray
  (the same backends as the Study's workers) and returns a :class:`LookupGraph` of the points;
* :meth:`LookupGraph.target_for` turns a limit into ``K_s`` by monotone interpolation: the
  points (``K_s``, ``K_d``), the largest ``K_d`` over the seeds of a target (a device limit is
  hard, so the graph plans for the search that derived the largest network at that target, not
  the average one; the paper leaves this open), are made non-decreasing in ``K_s`` by the
  pool-adjacent-violators algorithm (isotonic regression: a larger target never derives a
  smaller network, up to the noise of a search), the space's cheapest network is added as the
  point (K_min, K_min) (with alpha all on the cheapest choices K(alpha) equals the derived
  cost), and the graph is inverted piecewise linearly: the largest ``K_s`` whose fitted ``K_d``
  is at most the limit. Past the last point it extends the last segment's slope;
* a graph is stored per space (name and options, the input shape and classes included) and
  dataset and cost; :meth:`LookupGraph.check_matches` refuses one built for another in one line.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from ..errors import FitnasError
from ..spaces import SearchSpace
from .expected import SupernetError, expected_cost
from .search import DCANAS, SupernetConfig

__all__ = ["FORMAT", "LookupGraph", "LookupGraphError", "LookupPoint", "build_lookup_graph",
           "isotonic"]

FORMAT = "fitnas-lug/1"


class LookupGraphError(FitnasError):
    """A look-up graph file is unreadable or was built for another space, dataset or cost."""


@dataclass(frozen=True)
class LookupPoint:
    """One search of the graph: its target ``K_s``, seed, and what it derived."""

    target: float
    seed: int
    derived: float
    k_alpha: float
    genotype: Any
    seconds: float


@dataclass(frozen=True)
class LookupGraph:
    space: str
    space_config: dict[str, Any]
    dataset: str
    cost: str
    smallest: float
    points: tuple[LookupPoint, ...]
    supernet: dict[str, Any] = field(default_factory=dict)
    #: The dtype a ``peak`` graph's bytes are counted at (a parameter or MAC graph: any).
    dtype: str = "fp32"

    # ------------------------------------------------------------ storage
    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, **asdict(self), "points": [asdict(p) for p in self.points]}

    @classmethod
    def from_dict(cls, data: Any, where: str = "the look-up graph") -> LookupGraph:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise LookupGraphError(f"{where} is not a fitnas look-up graph (format {FORMAT}); "
                                   "build one with `fitnas lug build`")
        try:
            points = tuple(LookupPoint(**p) for p in data["points"])
            graph = cls(space=str(data["space"]), space_config=dict(data["space_config"]),
                        dataset=str(data["dataset"]), cost=str(data["cost"]),
                        smallest=float(data["smallest"]), points=points,
                        supernet=dict(data.get("supernet") or {}),
                        dtype=str(data.get("dtype", "fp32")))
        except (KeyError, TypeError, ValueError) as err:
            raise LookupGraphError(f"{where} is malformed ({err})") from None
        if not points:
            raise LookupGraphError(f"{where} has no points")
        return graph

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2))
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> LookupGraph:
        try:
            text = Path(path).read_text()
        except OSError as err:
            raise LookupGraphError(f"cannot read the look-up graph {str(path)!r}: "
                                   f"{err.strerror}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise LookupGraphError(f"the look-up graph {str(path)!r} is not JSON ({err.msg}, "
                                   f"line {err.lineno})") from None
        return cls.from_dict(data, f"the look-up graph {str(path)!r}")

    # -------------------------------------------------------------- use
    def check_matches(self, space: SearchSpace, dataset: str, cost: str,
                      dtype: str = "fp32") -> None:
        """One-line :class:`LookupGraphError` unless the graph is for this space (name and
        options), dataset (its name) and cost (for ``peak``, at this dtype)."""
        config = json.loads(json.dumps(space.get_config()))
        if self.space != space.name or self.space_config != config:
            raise LookupGraphError(
                f"the look-up graph was built for the {self.space} space with "
                f"{_options(self.space_config)}, not {space.name} with {_options(config)}: build "
                "one for this space with `fitnas lug build`")
        if _dataset_name(self.dataset) != _dataset_name(dataset):
            raise LookupGraphError(f"the look-up graph was built on {self.dataset!r}, not "
                                   f"{dataset!r}: build one on this dataset with `fitnas lug build`")
        if self.cost != cost:
            raise LookupGraphError(f"the look-up graph maps {self.cost}, not {cost}")
        if cost == "peak" and self.dtype != dtype:
            raise LookupGraphError(f"the look-up graph maps the peak at {self.dtype}, not at "
                                   f"{dtype}: build one with `fitnas lug build --dtype {dtype}`")

    def curve(self) -> list[tuple[float, float]]:
        """The fitted (K_s, K_d) points, K_s ascending, K_d (the largest over a target's seeds)
        non-decreasing, starting at the space's cheapest network."""
        by_target: dict[float, list[float]] = {}
        for p in self.points:
            by_target.setdefault(p.target, []).append(p.derived)
        xs = sorted(by_target)
        ys = isotonic([max(by_target[x]) for x in xs], [len(by_target[x]) for x in xs])
        pts = [(x, y) for x, y in zip(xs, ys) if x > self.smallest]
        return [(self.smallest, self.smallest)] + [(x, max(y, self.smallest)) for x, y in pts]

    def target_for(self, limit: float) -> float:
        """The search-time target ``K_s`` for a device limit ``K_d``."""
        if not (math.isfinite(limit) and limit >= self.smallest):
            raise LookupGraphError(
                f"the limit {limit:,.0f} {self.cost} is below the smallest network of the space "
                f"({self.smallest:,.0f})")
        curve = self.curve()
        if len(curve) == 1:
            return curve[0][0]
        (x0, y0), (x1, y1) = curve[-2], curve[-1]
        if limit > y1:  # past the last point: extend the last segment's slope
            slope = (y1 - y0) / (x1 - x0) if x1 > x0 else 0.0
            return x1 + (limit - y1) / slope if slope > 0 else x1
        for (x0, y0), (x1, y1) in reversed(list(pairwise(curve))):
            if y0 <= limit:  # the last segment that reaches the limit: the largest K_s
                if limit >= y1:
                    return x1
                return x0 + (limit - y0) * (x1 - x0) / (y1 - y0)
        return curve[0][0]


def isotonic(values: Sequence[float], weights: Sequence[float]) -> list[float]:
    """The non-decreasing sequence nearest ``values`` in weighted least squares (the
    pool-adjacent-violators algorithm)."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for v, w in zip(values, weights):
        blocks.append([float(v), float(w), 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, n2 = blocks.pop()
            m1, w1, n1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, n1 + n2])
    out: list[float] = []
    for mean, _, count in blocks:
        out += [mean] * int(count)
    return out


def _dataset_name(spec: str) -> str:
    return spec.partition(":")[0].strip().lower()


def _options(config: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(config.items()))


# ------------------------------------------------------------------ building
Job = tuple[float, int]
Progress = Callable[[LookupPoint], None]


def _search(payload: tuple[SearchSpace, Any, str, dict[str, Any], int, str], job: Job
            ) -> LookupPoint:
    """One search of the graph (in a worker process)."""
    space, dataset, cost, config, threads, dtype = payload
    target, seed = job
    search = DCANAS(space, cost, target,
                    SupernetConfig(**{**config, "seed": seed, "threads": threads}), dtype=dtype)
    search.fit(dataset)
    r = search.result
    assert r is not None
    return LookupPoint(target=target, seed=seed, derived=r.k_derived, k_alpha=r.k_alpha,
                       genotype=space.to_data(r.genotype), seconds=r.seconds)


def build_lookup_graph(space: SearchSpace, dataset: Any, cost: str, targets: Sequence[float],
                       config: SupernetConfig | None = None, seeds: Sequence[int] = (0,),
                       workers: int = 1, backend: str = "local", address: str | None = None,
                       progress: Progress | None = None, dtype: str = "fp32") -> LookupGraph:
    """Search at every (target, seed) and return the graph; ``workers`` searches at once on
    local processes (``spawn``) or Ray tasks (``backend="ray"``, ``address`` of a cluster).
    ``dtype``: what a ``peak`` graph counts bytes at."""
    from .parallel import parallel_map

    if not targets:
        raise SupernetError("a look-up graph needs at least one target")
    config = config or SupernetConfig()
    smallest = expected_cost(space, cost, dtype).smallest()
    low = [t for t in targets if t <= smallest]
    if low:
        raise SupernetError(f"target {low[0]:,.0f} {cost} is not above the smallest network of "
                            f"the space ({smallest:,.0f})")
    jobs = [(float(t), int(s)) for t in sorted(targets) for s in seeds]
    threads = max(1, (os.cpu_count() or 1) // max(1, min(workers, len(jobs))))
    payload = (space, dataset, cost, config.to_dict(), threads, dtype)
    points = parallel_map(_search, payload, jobs, workers, backend, address, progress)
    return LookupGraph(space=space.name, space_config=json.loads(json.dumps(space.get_config())),
                       dataset=dataset.name, cost=cost, smallest=smallest,
                       points=tuple(sorted(points, key=lambda p: (p.target, p.seed))),
                       supernet=config.to_dict(), dtype=dtype)
