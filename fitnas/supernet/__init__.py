"""Differentiable search: DCA-NAS (paper 004) on the ``darts`` and ``nb201`` spaces.

DESIGN.md: the differentiable strategy trains a supernet by nature, so it has its own small
interface, :meth:`DCANAS.fit` ``-> ArchGraph``, and records its result through the same Study
(the ``dcanas`` strategy proposes the derived networks). The parts:

* :class:`Supernet` (``network``, ``cells``, ``ops``): mixed operations weighted by
  softmax(alpha), with weight sharing, the channel bottleneck and derived cells (section 3.3);
  :func:`estimate_training_memory` / :func:`check_fits` (``memory``) before allocating it;
* :class:`ExpectedCost` (``expected``): K(alpha), eq. 3, exact at a one-hot alpha;
* :class:`ExpectedPeak` (``peak``): the expected peak activation memory, beyond the paper;
* :class:`Lagrangian` (``lagrangian``): the trainable multiplier of eq. 2 and 4;
* :class:`DCANAS` (``search``): the alternating first-order search, Algorithm 1;
* :class:`LookupGraph` and :func:`build_lookup_graph` (``lug``): section 3.2.1;
* :func:`plan_search` and :func:`run_supernet_searches` (``run``): from a run's limits to the
  derived networks the ``dcanas`` strategy proposes.
"""

from __future__ import annotations

from .expected import EXPECTED_COSTS, ExpectedCost, SupernetError
from .lagrangian import Lagrangian
from .lug import LookupGraph, LookupGraphError, LookupPoint, build_lookup_graph
from .memory import SupernetTooLarge, check_fits, estimate_training_memory
from .network import Supernet, derive
from .peak import ExpectedPeak
from .run import SearchPlan, plan_search, run_supernet_searches
from .search import DCANAS, EpochReport, SearchResult, SupernetConfig

__all__ = [
    "DCANAS",
    "EXPECTED_COSTS",
    "EpochReport",
    "ExpectedCost",
    "ExpectedPeak",
    "Lagrangian",
    "LookupGraph",
    "LookupGraphError",
    "LookupPoint",
    "SearchPlan",
    "SearchResult",
    "Supernet",
    "SupernetConfig",
    "SupernetError",
    "SupernetTooLarge",
    "build_lookup_graph",
    "check_fits",
    "derive",
    "estimate_training_memory",
    "plan_search",
    "run_supernet_searches",
]
