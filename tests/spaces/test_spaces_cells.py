"""The ``cells`` space: paper 000's blocks, eq. 1 and eq. 2, small inputs, trims and cuts."""

from __future__ import annotations

import pytest
import torch

from fitnas.arch.builder import build
from fitnas.costs import count_params
from fitnas.spaces import InvalidEncoding, SpaceError, create_space
from fitnas.spaces.cells import COMBINATIONS, OPS, CellsSpace, augment_space_size, trim_space_size

TWO = {"blocks": [[0, 0, "conv3x3", "sep3x3", "add"], [1, 0, "maxpool3x3", "fac1x7", "concat"]]}


def test_seven_operations_and_two_combinations_of_paper_000() -> None:
    assert len(OPS) == 7 and COMBINATIONS == ("add", "concat")


@pytest.mark.parametrize("seed", range(6))
def test_grow_count_is_eq_1(seed: int) -> None:
    """Eq. 1: |p|^2 |o|^2 |c| distinct blocks (the printed |c|^2 counts the block's single
    combination twice; see fitnas/spaces/cells.py), p = B + 1 input locations."""
    space = create_space("cells", max_blocks=6)
    enc = space.sample(seed)
    b = len(enc[0])
    grow = space.grow(enc)
    p, o, c = b + 1, 7, 2
    assert len(grow) == p**2 * o**2 * c == augment_space_size(b)
    assert len(set(grow)) == len(grow)
    assert all(len(g[0]) == b + 1 and g[0][:b] == enc[0] for g in grow)


@pytest.mark.parametrize("seed", range(6))
def test_trim_count_is_eq_2(seed: int) -> None:
    """Eq. 2: |b - 1| * N_cell * 2 + N_con for the network of b - 1 = B blocks."""
    space = create_space("cells", stages=3, cells_per_stage=2)
    assert isinstance(space, CellsSpace)
    assert space.n_cells == 3 * 2 + 2
    enc = space.sample(seed)
    b = len(enc[0])
    n_con = b  # untrimmed: every block is connected to the cell's end
    trim = space.trim(enc)
    expected = b * space.n_cells * 2 + (n_con if n_con >= 2 else 0)
    assert len(trim) == expected == trim_space_size(b, space.n_cells, 0, n_con)
    if b >= 2:
        assert len(trim) == b * space.n_cells * 2 + n_con  # eq. 2 as printed
    # after some trims, eq. 2 counts the layers not yet identity and the connections left
    trimmed = trim[0]
    if b >= 3:
        trimmed = space.trim(trim[-1])[-1]  # one identity and one cut
    n_ident, n_cut = len(trimmed[1]), len(trimmed[2])
    assert len(space.trim(trimmed)) == trim_space_size(b, space.n_cells, n_ident, b - n_cut)


def test_eq1_and_eq2_for_a_known_architecture() -> None:
    space = create_space("cells")  # 3 stages of 1 normal cell, 2 reduction cells
    enc = space.from_data(TWO)
    assert len(space.grow(enc)) == 3**2 * 7**2 * 2 == 882
    assert len(space.trim(enc)) == 2 * 5 * 2 + 2 == 22


def test_grow_stops_at_max_blocks_and_the_last_connection_stays() -> None:
    space = create_space("cells", max_blocks=2)
    enc = space.from_data(TWO)
    assert space.grow(enc) == []
    cut = space.from_data({**TWO, "cut": [1]})
    assert all(len(t[2]) == 1 for t in space.trim(cut))
    with pytest.raises(InvalidEncoding, match="at least one must stay"):
        space.from_data({**TWO, "cut": [1, 2]})


def test_trim_changes_one_cell_only() -> None:
    space = create_space("cells", filters=8, input_shape=(1, 3, 16, 16))
    enc = space.from_data(TWO)
    base = space.decode(enc)
    ident = space.from_data({**TWO, "identity": [[2, 1, 2]]})
    graph = space.decode(ident)
    # cell 2 (the second normal cell) loses one separable conv: 8 nodes become 1 identity
    assert len(base) - len(graph) == 7
    assert sum(n.op == "identity" for n in graph.nodes) == 1
    assert next(n for n in graph.nodes if n.op == "identity").name.startswith("k2_")
    assert count_params(graph) < count_params(base)


def test_cut_block_read_by_no_one_is_not_emitted() -> None:
    space = create_space("cells", filters=8, input_shape=(1, 3, 16, 16))
    data = {"blocks": [[0, 0, "conv3x3", "conv3x3", "add"], [0, 0, "dil3x3", "dil3x3", "add"]]}
    full = space.decode(space.from_data(data))
    cut = space.decode(space.from_data({**data, "cut": [2]}))
    assert not any("b2" in n.name for n in cut.nodes)
    assert any("b2" in n.name for n in full.nodes)
    # block 1 read by block 2: cutting block 1's connection keeps it
    chained = {"blocks": [[0, 0, "conv3x3", "conv3x3", "add"], [1, 0, "dil3x3", "dil3x3", "add"]],
               "cut": [1]}
    assert any("b1_" in n.name for n in space.decode(space.from_data(chained)).nodes)


@pytest.mark.slow
def test_digits_8x8_never_reduce_below_1x1() -> None:
    torch.manual_seed(0)
    space = create_space("cells", input_shape=(1, 1, 8, 8), filters=4, stages=5)
    for seed in range(3):
        enc = space.sample(seed)
        graph = space.decode(enc)
        sizes = [graph.shape(n.name)[2:] for n in graph.nodes if len(graph.shape(n.name)) == 4]
        assert min(min(s) for s in sizes) == 1
        with torch.no_grad():
            out = build(graph).eval()(torch.randn(1, 1, 8, 8))
        assert out.shape == (1, 10)


@pytest.mark.parametrize("output", ["concat", "add"])
def test_cell_output_combination(output: str) -> None:
    space = create_space("cells", filters=8, input_shape=(1, 3, 16, 16), output=output)
    graph = space.decode(space.from_data(TWO))
    module = build(graph)
    assert sum(p.numel() for p in module.parameters()) == count_params(graph)
    ends = [n for n in graph.nodes if n.name.startswith("k0_out_")]
    assert [n.op for n in ends] == [output]
    # block 1 gives 8 channels (add), block 2 16 (concat): concat 24, add projects to 8
    assert graph.shape(ends[0].name)[1] == (24 if output == "concat" else 8)


def test_bad_encodings_and_arguments() -> None:
    space = create_space("cells")
    cases = [({"blocks": [[1, 0, "conv3x3", "conv3x3", "add"]]}, "earlier block"),
             ({"blocks": [[0, 0, "conv5x5", "conv3x3", "add"]]}, "unknown operation"),
             ({"blocks": [[0, 0, "conv3x3", "conv3x3", "mul"]]}, "combination"),
             ({"blocks": [[0, 0, "conv3x3", "conv3x3", "add"]] * 6}, "1..5 blocks"),
             ({**TWO, "identity": [[9, 1, 1]]}, "trimmed layer"),
             ({**TWO, "cut": [3]}, "block number"),
             ({**TWO, "colour": 1}, "keys")]
    for data, why in cases:
        with pytest.raises(InvalidEncoding, match=why):
            space.from_data(data)
    with pytest.raises(SpaceError, match="output"):
        create_space("cells", output="mul")


def test_tokens_include_trims_and_cuts() -> None:
    space = create_space("cells")
    enc = space.from_data({**TWO, "identity": [[4, 2, 1], [0, 1, 2]], "cut": [2]})
    tokens = space.to_tokens(enc)
    assert len(tokens) == 2 * 6 + 2 * 4
    assert space.from_tokens(tokens) == enc
    with pytest.raises(InvalidEncoding, match="position 6"):
        space.from_tokens(tokens[:8])


def test_fingerprint_sees_through_swapped_layers_of_an_add_block() -> None:
    """Equal architectures written differently have equal fingerprints: swapping the two layers
    of an ``add`` block gives the same network; of a ``concat`` block, another one (the channel
    order of the concatenation changes)."""
    space = create_space("cells", filters=8, input_shape=(1, 3, 16, 16))
    for comb, same in (("add", True), ("concat", False)):
        a = space.from_data({"blocks": [[0, 0, "conv3x3", "maxpool3x3", comb]]})
        b = space.from_data({"blocks": [[0, 0, "maxpool3x3", "conv3x3", comb]]})
        assert a != b
        assert (space.fingerprint(a) == space.fingerprint(b)) is same
