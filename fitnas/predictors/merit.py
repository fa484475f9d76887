"""The MemNAS merit score: accuracy gain traded against memory growth (paper 000, eq. 4).

Paper 000 (MemNAS) section 3.3 scores a candidate ``n`` against ``pre``, "the previous
iteration's best" (the parent the candidate was grown or trimmed from), by the relative change
of its accuracy ``a``, its peak activation memory ``m`` (the lifetime-based upper bound of
section 3.4, ``fitnas.costs.peak_activation_bytes``) and its parameter memory ``p``
(``fitnas.costs.param_bytes``)::

    score = lambda_alpha * (a - a_pre) / a_pre
            - lambda_beta * ((m - m_pre) / m_pre + (p - p_pre) / p_pre)

Sign. The printed eq. 4 adds the memory term (``+ lambda_beta (...)``), which would reward a
candidate for *using more* memory. The paper's own text says the score selects "memory
efficient" candidates (section 3.3, Fig. 4 and Fig. 6: the score-based search picks networks
with less memory at the same accuracy), so fitnas subtracts it: more memory lowers the score,
more accuracy raises it. ``lambda_alpha = lambda_beta = 0.5`` is the paper's chosen 5:5
trade-off (section 4.2, Fig. 5); the same ratio ``lambda_beta / lambda_alpha`` weighs the
memory terms of the controller's loss (eq. 3, ``fitnas.predictors.ranking``).
"""

from __future__ import annotations

import math

__all__ = ["merit_score"]


def _reference(value: float, name: str) -> float:
    value = float(value)
    if not math.isfinite(value) or value == 0.0:
        raise ValueError(f"merit_score: {name} is the denominator of a relative change and must be "
                         f"a finite non-zero number, got {value!r}")
    return value


def _finite(value: float, name: str) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"merit_score: {name} must be a finite number, got {value!r}")
    return value


def merit_score(
    accuracy: float,
    peak_bytes: float,
    param_bytes: float,
    parent_accuracy: float,
    parent_peak_bytes: float,
    parent_param_bytes: float,
    lambda_alpha: float = 0.5,
    lambda_beta: float = 0.5,
) -> float:
    """Paper 000 eq. 4 (memory term subtracted, see the module docstring); higher is better.

    Args:
        accuracy: the candidate's accuracy ``a`` (any unit, the same as the parent's).
        peak_bytes: its peak activation memory ``m``.
        param_bytes: its parameter memory ``p``.
        parent_accuracy, parent_peak_bytes, parent_param_bytes: the same of the reference
            ("pre", the previous iteration's best); each must be non-zero.
        lambda_alpha, lambda_beta: the weights of the accuracy and memory terms.

    Raises:
        ValueError: a parent value is zero or not finite (the relative change is undefined),
            or a candidate value or a weight is not finite.

    >>> merit_score(0.9, 100, 100, 0.9, 100, 100)
    0.0
    >>> round(merit_score(0.99, 50, 100, 0.9, 100, 100), 6)  # +10% accuracy, -50% peak
    0.3
    """
    a_pre = _reference(parent_accuracy, "parent_accuracy")
    m_pre = _reference(parent_peak_bytes, "parent_peak_bytes")
    p_pre = _reference(parent_param_bytes, "parent_param_bytes")
    a = _finite(accuracy, "accuracy")
    m = _finite(peak_bytes, "peak_bytes")
    p = _finite(param_bytes, "param_bytes")
    alpha = _finite(lambda_alpha, "lambda_alpha")
    beta = _finite(lambda_beta, "lambda_beta")
    return alpha * (a - a_pre) / a_pre - beta * ((m - m_pre) / m_pre + (p - p_pre) / p_pre)
