"""Learning-rate schedules: cosine annealing and SGDR warm restarts.

SGDR (Loshchilov & Hutter 2017, eq. 5), used by paper 000 section 4 for every candidate:

    lr = lr_min + (lr_max - lr_min) * (1 + cos(pi * T_cur / T_i)) / 2

where ``T_cur`` counts epochs (fractionally, updated every step) since the last restart and
the cycle lengths are ``T_0, T_0 * m, T_0 * m^2, ...``. Paper 000 does not give ``T_0``; by
default it is chosen so that four cycles end exactly with the budget
(``T_0 = E / (1 + m + m^2 + m^3)``, e.g. 4 epochs for 60 with m = 2: restarts after 4, 12
and 28 epochs), so every candidate ends at the bottom of a cycle, where SGDR's snapshots are
best. When the budget is in seconds the same shape is laid over the fraction of time elapsed.

Cosine annealing is one cycle over the whole budget; ``constant`` keeps ``lr``.
"""

from __future__ import annotations

import math

from .config import TrainConfig

__all__ = ["learning_rate", "sgdr_position"]

_DEFAULT_CYCLES = 4


def sgdr_position(t: float, t0: float, mult: float) -> tuple[float, float]:
    """``(T_cur, T_i)``: position within the current SGDR cycle and its length at time ``t``."""
    length = t0
    while t >= length and length > 0:
        t -= length
        length *= mult
    return t, length


def _cosine(lr_max: float, lr_min: float, x: float) -> float:
    return lr_min + (lr_max - lr_min) * (1.0 + math.cos(math.pi * min(max(x, 0.0), 1.0))) / 2.0


def learning_rate(config: TrainConfig, fraction: float, epoch: float,
                  total_epochs: float | None) -> float:
    """The learning rate after ``fraction`` (0..1) of the budget, at (fractional) ``epoch``.

    ``total_epochs`` is the budget in epochs, or ``None`` for a seconds budget (then the
    schedule runs on ``fraction``).
    """
    if config.schedule == "constant":
        return config.lr
    if config.schedule == "cosine":
        return _cosine(config.lr, config.lr_min, fraction)
    m = config.sgdr_mult
    cycles = sum(m**k for k in range(_DEFAULT_CYCLES))
    if config.sgdr_t0 is not None and total_epochs is not None:
        t_cur, t_i = sgdr_position(epoch, config.sgdr_t0, m)
    elif total_epochs is not None:
        t_cur, t_i = sgdr_position(epoch, max(total_epochs, 1e-9) / cycles, m)
    else:
        t_cur, t_i = sgdr_position(fraction, 1.0 / cycles, m)
    return _cosine(config.lr, config.lr_min, t_cur / t_i if t_i > 0 else 1.0)
