"""The expected peak activation memory of a supernet: a differentiable stand-in for the exact
lifetime peak (beyond paper 004, which constrains parameters or FLOPs only).

Why not a weighted sum like K(alpha) (``fitnas.supernet.expected``, paper 004 eq. 3): a
network's parameters and MACs add up over its nodes, its peak does not. The peak is the largest
sum of the tensors alive at one step of the execution order (paper 000 section 3.4,
``fitnas.costs.lifetime``), and which tensors are alive together depends on the whole cell: a
node's output lives until the last edge that reads it, so dropping one edge (``none``) shortens
another tensor's life. A per-edge table would be wrong at every genotype that shares a peak step
between edges. Instead this module takes the expectation of the exact peak itself, over the
networks the architecture distribution describes:

    P(alpha) = E_{g ~ q_alpha} [ peak(g) ]

with ``peak(g)`` the exact lifetime peak (bytes at the run's dtype) of genotype ``g``'s network
decoded by fitnas, under the decoder's execution order, and ``q_alpha`` the distribution the
derivation draws from:

* ``nb201``: every edge independently picks its operation with probability
  ``softmax(alpha_e)`` (``none`` included, as the nb201 derivation is an argmax over all five),
  so ``q(g) = prod_e p_e(g_e)``. The cell has 5^6 = 15,625 genotypes and every cell of the
  network runs the same one, so P is computed **exactly**, by enumeration: the peaks of all
  15,625 networks are computed once (about 10 s here, kept per space and dtype), and each step
  is one product and one dot product; its gradient is exact.
* ``darts``: a node keeps two of its incoming edges and an operation other than ``none`` on each
  (DARTS' derivation), so ``q`` picks, per node, two distinct edges in turn with probabilities
  proportional to ``w_e = 1 - p_e(none)`` (a Plackett-Luce draw) and, on each, operation ``o``
  with probability ``p_e(o) / w_e``. Each cell kind has ~10^9 genotypes, so P is estimated from
  ``samples`` draws per call (a fixed-seed generator), and its gradient by the score function,
  ``grad P = E[(peak(g) - b) grad log q(g)]``, with a leave-one-out baseline ``b`` (the mean
  peak of the other draws), unbiased for any baseline that does not depend on the draw.

How it relates to the exact peak:

1. **At a one-hot alpha** (the derived genotype's operations on its edges, ``none`` elsewhere)
   ``q`` puts all its mass on that genotype, so P equals the derived network's exact peak
   under the decoder's order, to the byte (``tests/supernet/test_peak.py``), in both spaces.
2. **The best order's peak is at most that** (the memory-optimal order ``--schedule best``
   never does worse than the decoder's, ``fitnas.costs.schedule``), so a derived network whose P
   meets a limit meets it under either schedule. P does not model the best order: computing it
   for 15,625 networks takes minutes (11 ms each here), so the search bounds the decoder's order,
   and the Study checks the run's own exact peak afterwards like for any candidate.
3. **Between one-hot points** P is the average peak of the networks alpha still hesitates
   between; it ranks the networks derived from random alphas like their exact peaks (Spearman's
   rank correlation, tested on ``nb201``).

What it cannot do (measured, ``BENCHMARKS.md`` dcanas-peak): in ``darts`` the decoder's-order
peak hardly depends on the genotype (a cell's peak is its concatenation, where the four nodes
and the output are alive whatever the edges), so P is nearly constant and a peak limit is met or
missed by the channels and layers, not by the search; ``plan_search`` tells which before
training.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from ..costs.compact import peak as lifetime_peak
from ..costs.dtypes import bytes_per_element
from ..spaces import SearchSpace
from .expected import AlphaLayout, ExpectedCost, SupernetError

__all__ = ["ExpectedPeak"]

#: Enumerate every genotype of a cell kind when there are at most this many.
ENUMERATE_AT_MOST = 20_000


class ExpectedPeak(AlphaLayout):
    """P(alpha), the expected peak activation bytes (see the module docstring).

    Args:
        space: a ``darts`` or ``nb201`` space (the network the search derives).
        dtype: the bytes per element the peak is counted at (the run's dtype).
        samples: draws per call where the genotypes are too many to enumerate (``darts``).
        seed: the seed of those draws' generator.
    """

    cost = "peak"

    def __init__(self, space: SearchSpace, dtype: str = "fp32", samples: int = 16,
                 seed: int = 0) -> None:
        super().__init__(space)
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
            raise SupernetError(f"the expected peak needs samples >= 2, got {samples!r}")
        self.dtype, self.samples = dtype, samples
        self._bytes_per_element = bytes_per_element(dtype)
        self._generator = torch.Generator().manual_seed(seed)
        self._peaks: dict[Any, int] = {}
        self._none = self.ops.index("none")
        self.enumerated = space.name == "nb201" and \
            len(self.ops) ** len(self.edges) <= ENUMERATE_AT_MOST
        if self.enumerated:
            self._choices, self._table = _nb201_table(space, dtype)

    # ------------------------------------------------------------------ exact
    def of_encoding(self, encoding: Any) -> float:
        """The exact peak (bytes) of a genotype's network under the decoder's order."""
        enc = self.space.validate(encoding)
        if enc not in self._peaks:
            graph = self.space.decode(enc)
            self._peaks[enc] = lifetime_peak(graph).peak_elements * self._bytes_per_element
        return float(self._peaks[enc])

    def cheapest(self) -> Any:
        """The genotype of least peak: ``nb201`` exact (the least of all); ``darts``: the
        parameter-cheapest genotype, whose peak is the least of the measured ones (its peak
        barely depends on the genotype; not proven least)."""
        if self.enumerated:
            best = int(torch.argmin(self._table))
            return self.space.validate(tuple(self.ops[o] for o in self._choices[best].tolist()))
        return ExpectedCost(self.space, "params").cheapest()

    def smallest(self) -> float:
        return self.of_encoding(self.cheapest())

    def at_uniform(self) -> float:
        """P at uniform alpha (where a search starts)."""
        uniform = {k: torch.full((len(self.edges), len(self.ops)), 1.0 / len(self.ops),
                                 dtype=torch.float64) for k in self.kinds}
        if self.enumerated:
            return float(self(uniform))
        saved = self.samples
        self.samples = max(saved, 64)
        try:
            with torch.no_grad():
                return float(self(uniform))
        finally:
            self.samples = saved

    # ------------------------------------------------------------ expectation
    def __call__(self, probabilities: Mapping[str, Tensor]) -> Tensor:
        """P(alpha) for ``probabilities`` (kind -> softmax(alpha), ``(edges, ops)``): exact with
        its gradient (``nb201``) or a sampled estimate with a score-function gradient
        (``darts``); keeps the autograd graph to alpha."""
        if self.enumerated:
            p = probabilities["cell"].to(torch.float64)
            chosen = p[torch.arange(len(self.edges)), self._choices.to(p.device)]  # (G, edges)
            return (chosen.prod(dim=1) * self._table.to(p.device)).sum()
        return self._sampled(probabilities)

    def _sampled(self, probabilities: Mapping[str, Tensor]) -> Tensor:
        genotypes, log_q = self._draw({k: p.to(torch.float64) for k, p in probabilities.items()})
        peaks = torch.tensor([self.of_encoding(g) for g in genotypes], dtype=torch.float64,
                             device=log_q.device)
        m = len(genotypes)
        baseline = (peaks.sum() - peaks) / (m - 1)  # leave-one-out: independent of draw m
        score = ((peaks - baseline) * (log_q - log_q.detach())).sum() / m
        return peaks.mean() + score  # the value is the mean peak; the gradient is the score's

    def _draw(self, probabilities: Mapping[str, Tensor]) -> tuple[list[Any], Tensor]:
        """``samples`` darts genotypes drawn from ``q`` and their log-probabilities
        (differentiable). Two edges per node without replacement in Plackett-Luce order are
        the top two of ``log w_e + Gumbel noise``."""
        m, gen = self.samples, self._generator
        log_q: Tensor | None = None
        pairs: list[list[list[tuple[str, int]]]] = [[] for _ in range(m)]
        for kind in self.kinds:
            p = probabilities[kind]
            keep = (1.0 - p[:, self._none]).clamp_min(1e-12)  # w_e
            others = [o for o in range(len(self.ops)) if o != self._none]
            cell = [list[tuple[str, int]]() for _ in range(m)]
            for node in range(4):
                rows = torch.tensor([e for e, (n, _) in enumerate(self.edges) if n == node])
                w = keep[rows]
                noise = -torch.log(-torch.log(torch.rand(m, len(rows), generator=gen,
                                                         dtype=torch.float64)))
                picked = (torch.log(w.detach()).cpu() + noise).topk(2, dim=1).indices  # (m, 2)
                first, second = w[picked[:, 0]], w[picked[:, 1]]
                lq = torch.log(first) + torch.log(second) - torch.log(w.sum()) \
                    - torch.log(w.sum() - first)
                edges = rows[picked]  # (m, 2)
                ops = p[edges.reshape(-1)][:, others]  # (2m, 7)
                chosen = torch.multinomial(ops.detach().cpu().clamp_min(0), 1,
                                           generator=gen).squeeze(1)
                lq_ops = torch.log(ops[torch.arange(2 * m), chosen].clamp_min(1e-300)) \
                    - torch.log(keep[edges.reshape(-1)])
                lq = lq + lq_ops.reshape(m, 2).sum(1)
                log_q = lq if log_q is None else log_q + lq
                for k, (pair, op) in enumerate(zip(edges.tolist(), chosen.reshape(m, 2).tolist())):
                    cell[k] += [(self.ops[others[o]], self.edges[e][1]) for e, o in zip(pair, op)]
            for k in range(m):
                pairs[k].append(cell[k])
        assert log_q is not None
        return [self.space.validate(tuple(tuple(c) for c in g)) for g in pairs], log_q


def _nb201_table(space: SearchSpace, dtype: str) -> tuple[Tensor, Tensor]:
    """Every nb201 cell genotype (rows of op indices) and its network's exact peak (bytes)."""
    config = tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                          for k, v in space.get_config().items()))
    return _cached_table(space.name, config, dtype)


@functools.lru_cache(maxsize=8)
def _cached_table(name: str, config: tuple[tuple[str, Any], ...], dtype: str
                  ) -> tuple[Tensor, Tensor]:
    from ..spaces import create_space, nb201

    space = create_space(name, **dict(config))
    bpe = bytes_per_element(dtype)
    rows = list(itertools.product(range(len(nb201.OPS)), repeat=len(nb201.EDGES)))
    peaks = [lifetime_peak(space.decode(tuple(nb201.OPS[o] for o in row))).peak_elements * bpe
             for row in rows]
    return torch.tensor(rows, dtype=torch.long), torch.tensor(peaks, dtype=torch.float64)
