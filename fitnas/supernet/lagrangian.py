"""The resource constraint of DCA-NAS as a trainable Lagrange multiplier (paper 004 eq. 2 and 4).

Paper 004 eq. 2 (blank in our copy; reconstructed from section 3.2's prose and from DARTS'
bi-level problem, Liu et al. 2019 eq. 3-4):

    min_alpha  L_val(w*(alpha), alpha)   s.t.  w*(alpha) = argmin_w L_train(w, alpha),
                                               K(alpha) <= K_d

with ``K`` the expected cost of eq. 3 (``fitnas.supernet.expected``) and ``K_d`` the device's
limit. Eq. 4 replaces ``K_d`` by the tighter search-time target ``K_s`` read from the look-up
graph (section 3.2.1) and moves the constraint into the objective with a multiplier:

    min_alpha max_{lambda >= 0}  L_val(w*, alpha) + lambda * (K(alpha) - K_s) / K_s

The difference is divided by ``K_s`` (our choice, not the paper's): the term is then a relative
excess, so one multiplier step size serves 50K parameters and 300M MACs alike, and ``lambda``
reads as "how much validation loss one unit of relative excess is worth". Alpha descends the
whole objective (``penalty`` keeps the autograd graph through ``K``); ``lambda`` ascends it by
projected gradient ascent, ``d/d lambda = (K - K_s) / K_s``:

    lambda <- max(0, lambda + eta_lambda * (K(alpha) - K_s) / K_s)

so ``lambda`` rises while the constraint is violated and decays back to 0 once it is slack
(complementary slackness: a met constraint costs nothing), which is what lets DCA-NAS do
without the hand-tuned trade-off factor of penalty methods (paper 004 section 2).
"""

from __future__ import annotations

import math

from torch import Tensor

from .expected import SupernetError

__all__ = ["Lagrangian"]


class Lagrangian:
    """``lambda`` of one constraint ``K(alpha) <= target``.

    Args:
        target: ``K_s`` (> 0).
        lr: ``eta_lambda``, the ascent step per search step (> 0).
        initial: the starting ``lambda`` (>= 0; the paper's is 0).
    """

    def __init__(self, target: float, lr: float = 0.05, initial: float = 0.0) -> None:
        for what, value, low in (("target", target, 0.0), ("lambda_lr", lr, 0.0)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > low):
                raise SupernetError(f"the constraint's {what} must be a positive number, "
                                    f"got {value!r}")
        if not (isinstance(initial, (int, float)) and math.isfinite(initial) and initial >= 0):
            raise SupernetError(f"lambda starts at a number >= 0, got {initial!r}")
        self.target, self.lr, self.value = float(target), float(lr), float(initial)

    def excess(self, k: float | Tensor) -> float | Tensor:
        """``(K - K_s) / K_s``: > 0 while the constraint is violated."""
        return (k - self.target) / self.target

    def penalty(self, k: Tensor) -> Tensor:
        """``lambda * (K - K_s) / K_s``, the term alpha's loss gets (keeps K's graph)."""
        return self.value * (k - self.target) / self.target

    def ascend(self, k: float) -> float:
        """One projected ascent step on ``lambda`` for the current ``K``; the new ``lambda``."""
        self.value = max(0.0, self.value + self.lr * float(self.excess(k)))
        return self.value
