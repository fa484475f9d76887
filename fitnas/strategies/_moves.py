"""Moves that keep a candidate within the limits, shared by the local strategies.

Under a hard limit the most accurate networks sit on the limit's boundary: from there every
move that adds capacity breaks the limit and every move that removes some loses accuracy, so
searches that make one edit at a time stall (issue 13). Costs are analytic and free, so a
strategy can repair an edit that breaks a limit by a second one that brings the network back
within it (a *swap*: capacity moves from one part of the network to another at about the same
cost). The second edit is a trim, paper 000's eq. 2 (one edit to a cheaper network), which
every space with a notion of cost provides; the feasibility oracle
(:meth:`~fitnas.strategies.Strategy.fits`) judges the result.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from ..spaces import Encoding, InvalidEncoding, SearchSpace
from ._base import Strategy

__all__ = ["never_proposed", "repaired", "swaps"]


def never_proposed(space: SearchSpace, seen: set[str], encoding: Encoding) -> bool:
    """Whether ``encoding`` decodes and its network's fingerprint is not in ``seen`` (the
    fingerprints a strategy has proposed)."""
    try:
        return space.fingerprint(encoding) not in seen
    except InvalidEncoding:
        return False


def repaired(strategy: Strategy, encoding: Encoding, rng: random.Random,
             is_new: Callable[[Encoding], bool], avoid: Encoding | None = None
             ) -> Encoding | None:
    """A trim of ``encoding`` (a network over a limit) that is new and fits: the first of its
    trims in a random order, skipping ``avoid`` (the network the edit started from, which a
    trim may give back); ``None`` when none does."""
    try:
        trims = strategy.space.trim(encoding)
    except InvalidEncoding:
        return None
    rng.shuffle(trims)
    for trim in trims:
        if trim != avoid and is_new(trim) and strategy.fits(trim):
            return trim
    return None


def swaps(strategy: Strategy, encoding: Encoding, rng: random.Random,
          is_new: Callable[[Encoding], bool], most: int) -> list[Encoding]:
    """Up to ``most`` swap neighbours of ``encoding``: a grow neighbour (eq. 1) that breaks a
    limit, repaired by one of its trims; in a random order of the grows, one per grow first."""
    grows = list(strategy.space.grow(encoding))
    rng.shuffle(grows)
    out: list[Encoding] = []
    seen: set[Encoding] = set()
    for grow in grows:
        if len(out) >= most:
            break
        if strategy.fits(grow):
            continue  # a plain grow neighbour, not a swap
        fixed = repaired(strategy, grow, rng, lambda e: e not in seen and is_new(e), encoding)
        if fixed is not None:
            seen.add(fixed)
            out.append(fixed)
    return out
