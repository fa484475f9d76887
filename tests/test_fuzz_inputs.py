"""Malformed input thrown at every parser a user's text or file reaches (issue 18, item 1).

Each parser may accept a document or refuse it with the project's own error
(:class:`~fitnas.errors.FitnasError`, one line); any other exception escaping is a bug.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitnas.arch import ArchGraph
from fitnas.cli.ensemble import parse_trials
from fitnas.constraints import parse_budget
from fitnas.constraints.limits import parse_count, parse_milliseconds, parse_size
from fitnas.costs.memory_plan import MemoryPlan
from fitnas.errors import FitnasError
from fitnas.jsonio import MAX_JSON_DEPTH, loads
from fitnas.spaces import create_space, list_spaces
from fitnas.strategies import create_strategy, list_strategies
from fitnas.study.setup import parse_options
from fitnas.units import parse_shape

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(
    max_size=12)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=8), inner, max_size=4), max_leaves=25)
ops = st.sampled_from(["conv2d", "relu", "linear", "add", "concat", "maxpool", "batchnorm",
                       "flatten", "nosuch", ""])
names = st.sampled_from(["input", "a", "b", "c", ""]) | st.text(max_size=4)


@st.composite
def arch_documents(draw: Any) -> Any:
    """Documents close to an ArchGraph's JSON: the right keys with values of any type."""
    node = st.fixed_dictionaries({"name": names | json_values, "op": ops | json_values},
                                 optional={"inputs": st.lists(names, max_size=3) | json_values,
                                           "attrs": st.dictionaries(
                                               st.sampled_from(["out_channels", "kernel",
                                                                "stride", "padding", "groups",
                                                                "bias", "out_features", "x"]),
                                               json_values, max_size=4) | json_values})
    doc = {"input_shape": draw(st.lists(st.integers(-3, 2**40), max_size=5) | json_values),
           "nodes": draw(st.lists(node, max_size=5) | json_values)}
    for key, values in (("outputs", st.lists(names, max_size=2) | json_values),
                        ("version", st.just(1) | json_values), ("name", json_values)):
        if draw(st.booleans()):
            doc[key] = draw(values)
    return doc


def _accepts_or_refuses(parse: Any, *args: Any) -> None:
    try:
        parse(*args)
    except FitnasError as err:
        message = str(err)
        assert message and "\n" not in message, repr(message)


@SETTINGS
@given(arch_documents())
def test_arch_json_documents(doc: Any) -> None:
    _accepts_or_refuses(ArchGraph.from_dict, doc)
    _accepts_or_refuses(ArchGraph.from_json, json.dumps(doc))


@SETTINGS
@given(json_values)
def test_any_json_value_as_an_arch_graph_or_a_memory_plan(value: Any) -> None:
    _accepts_or_refuses(ArchGraph.from_dict, value)
    _accepts_or_refuses(MemoryPlan.from_json, json.dumps(value))


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5_000, 200_000])
def test_deep_nesting_is_one_line(depth: int) -> None:
    text = '{"input_shape": [1, 3, 8, 8], "nodes": ' + "[" * depth + "]" * depth + "}"
    with pytest.raises(FitnasError, match="nested"):
        ArchGraph.from_json(text)
    with pytest.raises(FitnasError, match="nested"):
        loads("[" * depth + "]" * depth, "the document")


@SETTINGS
@given(st.sampled_from(list_spaces()), json_values | st.text(max_size=40))
def test_space_encodings(name: str, value: Any) -> None:
    space = create_space(name)
    _accepts_or_refuses(space.from_data, value)
    _accepts_or_refuses(space.parse, value if isinstance(value, str) else json.dumps(value))


option_text = st.lists(st.tuples(st.sampled_from(
    ["filters", "stages", "cells_per_stage", "max_blocks", "output", "channels", "max_filters",
     "max_conv_layers", "max_kernel", "batchnorm", "input_shape", "growth_rate", "stem_channels",
     "bottleneck", "max_layers", "groups", "condense_factor", "bogus", ""]),
    st.sampled_from(["1", "0", "-1", "2", "3", "1e400", "inf", "nan", "abc", "true", "1.5",
                     "99999999999999999999", "concat", ""])), max_size=4).map(
    lambda pairs: ",".join(f"{k}={v}" for k, v in pairs))


@SETTINGS
@given(st.sampled_from(list_spaces()), option_text | st.text(max_size=30))
def test_space_option_strings(name: str, text: str) -> None:
    def build() -> None:
        create_space(name, **parse_options(text, "--space"))
    _accepts_or_refuses(build)


strategy_option_text = st.lists(st.tuples(st.sampled_from(
    ["population", "sample", "max_attempts", "nrandom", "k", "controller", "controller_epochs",
     "batch", "lr", "alpha", "reward", "hidden", "elite", "quantile", "budget", "ensemble",
     "epochs", "tiebreak", "early", "max_layers", "bogus"]),
    st.sampled_from(["1", "0", "-1", "8", "1e400", "inf", "nan", "abc", "true", "0.5",
                     "99999999999999999999", "gru", "mixed", "crowding", "none", ""])),
    max_size=3).map(
    lambda pairs: ",".join(f"{k}={v}" for k, v in pairs))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(list_strategies()), strategy_option_text)
def test_strategy_option_strings(name: str, text: str) -> None:
    space = create_space("nb201", channels=4, cells_per_stage=1)

    def build() -> None:
        create_strategy(name, space, seed=0, **parse_options(text, "--strategy"))
    _accepts_or_refuses(build)


@SETTINGS
@given(st.text(max_size=20) | st.sampled_from(["1e400", "inf", "nan", "-5", "0", "10m,50",
                                               "99999999999999999999K", "1x", "x1", "1x0"]))
def test_flag_values(text: str) -> None:
    for parse in (parse_budget, parse_size, parse_count, parse_milliseconds, parse_shape,
                  parse_trials):
        _accepts_or_refuses(parse, text)
