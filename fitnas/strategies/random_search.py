"""``random``: constrained random sampling, paper 002 (Chan et al.) Algorithm I.

Algorithm I draws architectures uniformly from the space, skips those that are not valid
(FailValidArch: a feature map shrinks below 1x1) and those that violate the hard resource
constraints of eq. 1, and trains the rest. Here validity is checked by decoding (no training);
the constraints are checked by the Study before any training, and the infeasible candidates
come back through ``tell`` as INFEASIBLE, so the strategy only has to bound the attempts: after
``max_attempts`` proposals in a row that were invalid or infeasible, with no feasible one ever
found, it raises :class:`NoFeasibleArchitecture` naming the smallest value of each cost it saw,
so the user knows how far the limits are from what the space can do. Encodings already proposed
(same network fingerprint) are not proposed again.
"""

from __future__ import annotations

import random
from typing import Any

from ..spaces import InvalidEncoding, SearchSpace
from ..units import format_bytes, format_count
from ._base import (
    Candidate,
    NoFeasibleArchitecture,
    Strategy,
    TrialResult,
    TrialState,
    register_strategy,
)

__all__ = ["RandomSearch", "describe_smallest"]


def describe_smallest(smallest: dict[str, float]) -> str:
    """``peak_activation_bytes 12.0 KiB, macs 1.2M, ...`` for an error message."""
    parts = []
    for key, value in sorted(smallest.items()):
        text = format_bytes(int(value)) if key.endswith("bytes") else (
            f"{value:.3f} ms" if key.endswith("_ms") else format_count(int(value)))
        parts.append(f"{key} {text}")
    return ", ".join(parts)


@register_strategy
class RandomSearch(Strategy):
    """Uniform random sampling with constraint-aware bounded attempts (paper 002 Alg. I)."""

    name = "random"
    summary = "constrained random sampling (Chan et al. 2018, Algorithm I)"

    def __init__(self, space: SearchSpace, seed: int = 0, max_attempts: int = 2000,
                 seen: set[str] | None = None, budget: int | None = None) -> None:
        super().__init__(space, seed, budget)
        if max_attempts < 1:
            raise NoFeasibleArchitecture(f"max_attempts must be >= 1, got {max_attempts}")
        self.max_attempts = max_attempts
        self._rng = random.Random(seed)
        #: fingerprints already proposed (a strategy that samples randomly in one of its
        #: phases passes its own set, so the random samples never repeat its other proposals)
        self._seen: set[str] = set() if seen is None else seen
        self._failed_in_a_row = 0
        self._any_feasible = False
        self._smallest: dict[str, float] = {}

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed, "budget": self.budget, "max_attempts": self.max_attempts}

    def ask(self) -> Candidate:
        duplicates = 0
        while True:
            self._check_attempts()
            enc = self.space.sample(self._rng)
            try:
                fingerprint = self.space.fingerprint(enc)
            except InvalidEncoding:
                self._failed_in_a_row += 1  # Algorithm I: skip invalid architectures
                continue
            if fingerprint in self._seen:
                duplicates += 1
                if duplicates > self.max_attempts:
                    raise NoFeasibleArchitecture(
                        f"the {self.space.name} space seems exhausted: {self.max_attempts} "
                        f"samples in a row were architectures already proposed")
                continue
            self._seen.add(fingerprint)
            return Candidate(enc)

    def tell(self, result: TrialResult) -> None:
        for key, value in result.costs.items():
            if key not in self._smallest or value < self._smallest[key]:
                self._smallest[key] = value
        if result.state == TrialState.INFEASIBLE:
            self._failed_in_a_row += 1
        else:
            self._failed_in_a_row = 0
            self._any_feasible = True

    def _check_attempts(self) -> None:
        if self._failed_in_a_row >= 10 * self.max_attempts:
            raise NoFeasibleArchitecture(
                f"the last {self._failed_in_a_row} proposals of the {self.space.name} space were "
                "all invalid or over the limits; the feasible part of the space seems exhausted")
        if not self._any_feasible and self._failed_in_a_row >= self.max_attempts:
            seen = describe_smallest(self._smallest) or "no valid architecture at all"
            raise NoFeasibleArchitecture(
                f"no architecture of the {self.space.name} space met the limits in "
                f"{self.max_attempts} attempts; smallest seen: {seen}")
