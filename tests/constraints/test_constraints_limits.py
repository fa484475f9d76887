"""Parsing of sizes, counts, milliseconds and budgets; the Limits value object."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fitnas.constraints import (
    Budget,
    LimitError,
    Limits,
    parse_budget,
    parse_count,
    parse_milliseconds,
    parse_size,
)
from fitnas.errors import FitnasError


@pytest.mark.parametrize(("text", "expected"), [
    ("250000", 250_000),
    ("256KB", 256_000),
    ("256kb", 256_000),
    ("256 KB", 256_000),
    ("320KiB", 320 * 1024),
    ("320 kib", 320 * 1024),
    ("1.5MB", 1_500_000),
    ("1.5MiB", 1_572_864),
    ("2GB", 2_000_000_000),
    ("1GiB", 2**30),
    ("100B", 100),
    ("1e3", 1000),
    (4096, 4096),
])
def test_parse_size(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("300M", 300_000_000), ("2.5G", 2_500_000_000), ("250k", 250_000), ("120000", 120_000),
    ("1.5K", 1500),
])
def test_parse_count(text: str, expected: int) -> None:
    assert parse_count(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("20", 20.0), ("20ms", 20.0), ("2.5 ms", 2.5), ("0.5s", 500.0), (7, 7.0),
])
def test_parse_milliseconds(text: str | int, expected: float) -> None:
    assert parse_milliseconds(text) == pytest.approx(expected)


@pytest.mark.parametrize("parse", [parse_size, parse_count, parse_milliseconds])
@pytest.mark.parametrize("bad", ["0", "-5", "-1MB", "abc", "", "12XB", "1..5", "nan", "inf",
                                 "0.0001"])
def test_bad_values_raise_one_line_naming_the_value(
        parse: Callable[[str], float], bad: str) -> None:
    if parse is parse_milliseconds and bad == "0.0001":
        assert parse(bad) == pytest.approx(0.0001)  # a tiny latency is still a latency
        return
    with pytest.raises(LimitError) as err:
        parse(bad)
    message = str(err.value)
    assert repr(bad) in message and "\n" not in message and "e.g." in message
    assert isinstance(err.value, FitnasError)


def test_size_units_are_not_counts() -> None:
    with pytest.raises(LimitError, match="KiB"):
        parse_size("3M")  # M alone is a count multiplier, not a size unit
    with pytest.raises(LimitError, match="K, M or G"):
        parse_count("3MB")


@pytest.mark.parametrize(("text", "trials", "seconds"), [
    ("50", 50, None),
    ("10m", None, 600.0),
    ("2h", None, 7200.0),
    ("90s", None, 90.0),
    ("1h30m", None, 5400.0),
    ("1.5h", None, 5400.0),
    ("50,10m", 50, 600.0),
    ("10m,50", 50, 600.0),
    (" 50 , 10m ", 50, 600.0),
    (12, 12, None),
])
def test_parse_budget(text: str | int, trials: int | None, seconds: float | None) -> None:
    budget = parse_budget(text)
    assert budget.trials == trials and budget.seconds == seconds
    assert Budget.from_dict(budget.to_dict()) == budget


@pytest.mark.parametrize("bad", ["0", "-5", "", "10x", "m", "5,6", "10m,5m", "1m1m", "0m", "50,",
                                 ",", "1,2,3", "ten", 0, -3])
def test_bad_budget(bad: str | int) -> None:
    with pytest.raises(LimitError) as err:
        parse_budget(bad)
    assert repr(bad) in str(err.value) and "50,10m" in str(err.value)


def test_budget_needs_something() -> None:
    with pytest.raises(LimitError):
        Budget()
    assert str(Budget(trials=5, seconds=5400)) == "5 trials or 1h30m"


def test_limits_parse_strings_and_round_trip() -> None:
    limits = Limits(max_peak_mem="320KiB", max_param_mem="1MB", max_params="250K", max_macs="60M",
                    max_latency_ms="5ms", max_total_mem=2_000_000, dtype="int8", schedule="best")
    assert limits.max_peak_mem == 327_680 and limits.max_param_mem == 1_000_000
    assert limits.max_params == 250_000 and limits.max_macs == 60_000_000
    assert limits.max_latency_ms == 5.0 and limits.max_total_mem == 2_000_000
    assert Limits.from_dict(limits.to_dict()) == limits
    assert list(limits.active()) == ["max_peak_mem", "max_param_mem", "max_total_mem",
                                     "max_params", "max_macs", "max_latency_ms"]
    assert "max_latency_ms" not in limits.analytic


def test_limits_reject_bad_values() -> None:
    with pytest.raises(LimitError, match="--max-peak-mem"):
        Limits(max_peak_mem="-3KB")
    with pytest.raises(LimitError, match="accepted: fp32, fp16, int8"):
        Limits(dtype="int4")
    with pytest.raises(LimitError, match="accepted: default, best"):
        Limits(schedule="fastest")
    with pytest.raises(LimitError, match="unknown limit 'max_flash'"):
        Limits.from_dict({"max_flash": 3})


def test_merged_flags_override_profile_and_none_keeps_it() -> None:
    profile = Limits(max_peak_mem=245_760, max_param_mem=786_432, dtype="int8")
    merged = profile.merged({"max_peak_mem": "100KB", "max_macs": "20M", "dtype": None,
                             "max_param_mem": None, "schedule": "best"})
    assert merged.max_peak_mem == 100_000 and merged.max_param_mem == 786_432
    assert merged.max_macs == 20_000_000 and merged.dtype == "int8" and merged.schedule == "best"
    assert profile.max_peak_mem == 245_760  # frozen: merged returns a new object
    assert profile.merged(None) == profile
    with pytest.raises(LimitError, match="unknown limit"):
        profile.merged({"max_sram": 5})


def test_describe_has_one_line_per_active_limit() -> None:
    lines = Limits(max_peak_mem="320KiB", max_macs="60M", dtype="int8").describe()
    assert len(lines) == 3
    assert lines[0].startswith("peak activation memory <= 320.00 KiB") and "327,680 B" in lines[0]
    assert lines[1].startswith("MACs <= 60.00M")
    assert "int8" in lines[2] and "graph's own order" in lines[2]
