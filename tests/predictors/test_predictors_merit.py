"""Paper 000 eq. 4, the merit score (``fitnas.predictors.merit``)."""

from __future__ import annotations

import math

import pytest

from fitnas.predictors import merit_score


def test_equal_to_parent_scores_zero() -> None:
    assert merit_score(0.8, 1000, 500, 0.8, 1000, 500) == 0.0


def test_value_by_hand() -> None:
    # a: 0.8 -> 0.88 (+10%), m: 1000 -> 1500 (+50%), p: 500 -> 400 (-20%)
    # 0.5 * 0.1 - 0.5 * (0.5 - 0.2) = 0.05 - 0.15 = -0.10
    assert merit_score(0.88, 1500, 400, 0.8, 1000, 500) == pytest.approx(-0.10)
    # lambda_alpha = 0.8, lambda_beta = 0.2: 0.8 * 0.1 - 0.2 * 0.3 = 0.02
    assert merit_score(0.88, 1500, 400, 0.8, 1000, 500, lambda_alpha=0.8,
                       lambda_beta=0.2) == pytest.approx(0.02)


def test_signs_more_memory_lowers_more_accuracy_raises() -> None:
    base = merit_score(0.8, 1000, 500, 0.8, 1000, 500)
    assert merit_score(0.8, 2000, 500, 0.8, 1000, 500) < base  # more peak memory
    assert merit_score(0.8, 1000, 900, 0.8, 1000, 500) < base  # more parameters
    assert merit_score(0.8, 500, 250, 0.8, 1000, 500) > base  # less of both
    assert merit_score(0.9, 1000, 500, 0.8, 1000, 500) > base  # more accuracy
    # lambda_beta = 0: memory is ignored (paper 000 Fig. 5's accuracy-only end, 10:0)
    assert merit_score(0.8, 9000, 9000, 0.8, 1000, 500, 1.0, 0.0) == 0.0


@pytest.mark.parametrize("field, args", [
    ("parent_accuracy", (0.8, 1, 1, 0.0, 1, 1)),
    ("parent_peak_bytes", (0.8, 1, 1, 0.8, 0, 1)),
    ("parent_param_bytes", (0.8, 1, 1, 0.8, 1, 0)),
    ("parent_accuracy", (0.8, 1, 1, math.nan, 1, 1)),
    ("peak_bytes", (0.8, math.inf, 1, 0.8, 1, 1)),
])
def test_bad_denominators_and_values_name_the_field(field: str, args: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match=field):
        merit_score(*args)
