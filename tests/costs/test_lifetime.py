"""The data-lifetime table and peak on hand-computed cases (paper 000, section 3.4)."""

from __future__ import annotations

import pytest

from fitnas.arch import ArchGraph
from fitnas.costs import estimate, lifetime_table, peak_activation_bytes, plan_buffers
from fitnas.errors import ArchError, FitnasError

CONV = {"out_channels": 4, "kernel": 3, "padding": 1, "bias": False}


def test_chain_with_inplace_relu() -> None:
    # input 1x2x4x4 = 32 elements; conv out 64; relu reuses conv's buffer; pool out 16
    g = ArchGraph((1, 2, 4, 4), [("c", "conv2d", ("input",), CONV), ("r", "relu", ("c",)),
                                 ("p", "maxpool", ("r",), {"kernel": 2})])
    t = lifetime_table(g, dtype="fp32")
    assert t.steps == ("input", "c", "r", "p")
    assert t.totals == (4 * 32, 4 * (32 + 64), 4 * 64, 4 * (64 + 16))
    assert t.peak_bytes == 4 * 96 and t.peak_node == "c"
    assert plan_buffers(g).inplace_operand == {"r": 0}
    off = lifetime_table(g, inplace=False)
    assert off.totals == (4 * 32, 4 * 96, 4 * 128, 4 * 80)
    assert off.peak_bytes == 4 * 128 and off.peak_node == "r"
    assert lifetime_table(g, dtype="int8").peak_bytes == 96


def test_input_and_outputs_are_never_overwritten() -> None:
    g = ArchGraph((1, 8), [("r", "relu", ("input",)), ("s", "sigmoid", ("r",))],
                  outputs=("r", "s"))
    plan = plan_buffers(g)
    assert plan.inplace_operand == {}
    assert len(plan.buffers) == 3
    t = lifetime_table(g)
    assert t.totals == (32, 64, 64)  # input dies after r reads it; both outputs live to the end


def test_inplace_needs_a_dead_input() -> None:
    g = ArchGraph((1, 8), [("a", "linear", ("input",), {"out_features": 8}),
                           ("r", "relu", ("a",)), ("s", "add", ("a", "r"))])
    plan = plan_buffers(g)
    assert "r" not in plan.inplace_operand  # a is read again by s
    assert plan.inplace_operand == {"s": 0}  # s overwrites a: its last reader
    assert plan.buffer_of["s"] == plan.buffer_of["a"]
    assert lifetime_table(g).totals == (32, 64, 64, 64)


def test_views_share_their_input_buffer() -> None:
    g = ArchGraph((1, 4, 2, 2), [("c", "conv2d", ("input",), {**CONV, "kernel": 1, "padding": 0}),
                                 ("i", "identity", ("c",)), ("f", "flatten", ("i",)),
                                 ("d", "dropout", ("f",)), ("l", "linear", ("d",), {"out_features": 3})])
    plan = plan_buffers(g)
    assert plan.buffer_of["c"] == plan.buffer_of["i"] == plan.buffer_of["f"] == plan.buffer_of["d"]
    assert lifetime_table(g).totals == (64, 128, 64, 64, 64, 64 + 12)


def test_dead_end_lives_one_step_and_workspace_counts() -> None:
    g = ArchGraph((1, 2, 4, 4), [("dead", "conv2d", ("input",), CONV),
                                 ("f", "fac_conv", ("input",), {"out_channels": 4, "kernel": 3})])
    t = lifetime_table(g)
    # step 1: input + dead; step 2: input + 1x3 workspace (64) + output (64)
    assert t.totals == (128, 128 + 256, 128 + 256 + 256)
    assert t.workspace_bytes(2) == 256


def test_weights_are_not_activations() -> None:
    g = ArchGraph((1, 4), [("w", "parameter", (), {"shape": (1, 4)}), ("a", "add", ("input", "w"))])
    t = lifetime_table(g)
    assert t.totals == (16, 16, 32)
    assert estimate(g).params == 4
    assert plan_buffers(g).inplace_operand == {}  # neither the input nor a weight is overwritten


def test_order_changes_the_peak() -> None:
    # Two branches of the input: a large one reduced to a small tensor, and a small one.
    g = ArchGraph((1, 1, 8, 8), [
        ("big", "conv2d", ("input",), {"out_channels": 16, "kernel": 1}),
        ("bigpool", "global_avgpool", ("big",)),
        ("small", "conv2d", ("input",), {"out_channels": 1, "kernel": 1}),
        ("smallpool", "global_avgpool", ("small",)),
        ("cat", "concat", ("bigpool", "smallpool")),
    ])
    default = peak_activation_bytes(g)
    other = peak_activation_bytes(g, order=["small", "smallpool", "big", "bigpool", "cat"])
    # default: bigpool runs while the input (still needed by small) and big are alive
    assert default == 4 * (64 + 1024 + 16)
    # small branch first: big runs beside the input and the 1-element smallpool only
    assert other == 4 * (64 + 1 + 1024)
    with pytest.raises(ArchError, match="before its input"):
        peak_activation_bytes(g, order=["bigpool", "big", "small", "smallpool", "cat"])


def test_unknown_dtype_lists_accepted() -> None:
    g = ArchGraph((1, 4), [("r", "relu", ("input",))])
    with pytest.raises(FitnasError, match="accepted: fp32, fp16, int8"):
        lifetime_table(g, dtype="fp64")
