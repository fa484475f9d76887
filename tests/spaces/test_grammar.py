"""Each space's token grammar (``SearchSpace.next_tokens``): the rules behind the shared suite's
random walks, checked one by one on small spaces."""

from __future__ import annotations

import pytest

from fitnas.spaces import InvalidEncoding, create_space
from fitnas.spaces.cells import COMBINATIONS, OPS, CellsSpace

CONV, FC, END = 0, 1, 2


def value(v: int) -> int:
    return 2 + v


def test_chain_layers_come_in_order_and_end_once() -> None:
    space = create_space("chain", input_shape=(1, 3, 8, 8), classes=4, max_conv_layers=2,
                         max_filters=8, max_fc_layers=1, max_hidden=32)
    assert space.next_tokens([]) == (((CONV,)), False)
    conv = [CONV, value(8), value(3), value(3), value(1), value(1), value(1), value(1)]
    assert space.next_tokens(conv).tokens == (CONV, FC, END)
    assert space.next_tokens(conv).can_end is False  # END is a token
    assert space.next_tokens([*conv, *conv]).tokens == (FC, END)  # max_conv_layers reached
    after_fc = [*conv, FC, value(32)]
    assert space.next_tokens(after_fc).tokens == (END,)  # no conv after an FC, max_fc_layers
    assert space.next_tokens([*after_fc, END]) == ((), True)
    widths = space.next_tokens([*conv, FC]).tokens
    assert widths == tuple(value(v) for v in range(2, 33))  # max_hidden // 16 .. max_hidden
    filters = space.next_tokens([CONV]).tokens
    assert filters == tuple(value(v) for v in range(1, 9))  # min_filters .. max_filters


def test_chain_sizes_follow_the_feature_map() -> None:
    space = create_space("chain", input_shape=(1, 1, 2, 3), classes=2, max_kernel=2,
                         max_pool=2, max_sub=2, max_filters=4)
    start = [CONV, value(4)]
    assert space.next_tokens(start).tokens == (value(1), value(2))  # width 3: both kernels
    # an even kernel loses a pixel: height 2 -> 1 leaves no room for a 2-high pool
    layer = [*start, value(2), value(2)]
    assert space.next_tokens(layer).tokens == (value(1), value(2))  # width 2: pool 1 or 2
    assert space.next_tokens([*layer, value(2)]).tokens == (value(1),)
    # the pool (2 wide, stride 2) leaves 1x1: the next layer cannot take an even kernel
    full = [*layer, value(2), value(1), value(2), value(1)]
    assert space.next_tokens([*full, CONV, value(1)]).tokens == (value(1),)
    tokens = [*full, END]
    enc = space.from_tokens(tokens)
    space.decode(enc)
    assert space.to_tokens(enc) == tokens


def cells_space(max_blocks: int = 2) -> CellsSpace:
    space = create_space("cells", input_shape=(1, 3, 8, 8), classes=3, filters=4,
                         max_blocks=max_blocks, stages=1, cells_per_stage=1)
    assert isinstance(space, CellsSpace)
    return space


def block(space: CellsSpace, inputs: tuple[int, int], cut: bool = False) -> list[int]:
    op, comb, end, *_ = space._offsets()
    return [*inputs, op, op + 1, comb, end + cut]


def test_cells_blocks_read_earlier_blocks_only() -> None:
    space = cells_space(3)
    op, comb, _end, trim, _cell, _layer, _ = space._offsets()
    assert space.next_tokens([]).tokens == (0,)
    one = block(space, (0, 0))
    assert space.next_tokens(one).tokens == (0, 1, trim)
    assert space.next_tokens([*one, 1]).tokens == (0, 1)
    assert space.next_tokens([*one, 1, 0]).tokens == tuple(range(op, op + len(OPS)))
    assert space.next_tokens([*one, 1, 0, op, op]).tokens == tuple(
        range(comb, comb + len(COMBINATIONS)))
    assert space.next_tokens(one).can_end


def test_cells_keep_one_block_connected_to_the_end() -> None:
    space = cells_space(2)
    op, comb, end, *_ = space._offsets()
    first_cut = block(space, (0, 0), cut=True)
    assert not space.next_tokens(first_cut).can_end  # every block cut: not yet
    assert space.next_tokens(first_cut).tokens == (0, 1)  # a second block must come
    second = [*first_cut, 1, 0, op, op, comb]
    assert space.next_tokens(second).tokens == (end,)  # the last block may not be cut too
    assert space.next_tokens([*second, end]).can_end
    with pytest.raises(InvalidEncoding, match="not allowed"):
        space.next_tokens([*second, end + 1])


def test_cells_trims_are_strictly_increasing() -> None:
    space = cells_space(2)
    _op, _comb, _end, trim, cell, layer, _ = space._offsets()
    blocks = [*block(space, (0, 0)), *block(space, (1, 0))]
    assert space.next_tokens([*blocks, trim]).tokens == tuple(range(cell, cell + space.n_cells))
    last_cell = cell + space.n_cells - 1
    top = [*blocks, trim, last_cell, 2, layer + 1]  # the largest trim there is
    assert space.next_tokens(top) == ((), True)
    one = [*blocks, trim, cell, 1, layer + 1]  # (cell 0, block 1, layer 2)
    assert space.next_tokens([*one, trim, cell]).tokens == (2,)  # block 1 is used up
    assert space.next_tokens([*one, trim, cell, 2]).tokens == (layer, layer + 1)
    enc = space.from_tokens([*one, trim, cell, 2, layer])
    assert enc[1] == ((0, 1, 2), (0, 2, 1))
    with pytest.raises(InvalidEncoding, match="not allowed"):
        space.next_tokens([*one, trim, cell, 1])  # the same trim again


def test_nb201_is_six_operations() -> None:
    space = create_space("nb201")
    assert space.next_tokens([]) == (tuple(range(5)), False)
    assert space.next_tokens([0] * 5).can_end is False
    assert space.next_tokens([0] * 6) == ((), True)
    with pytest.raises(InvalidEncoding, match="position 6"):
        space.next_tokens([0] * 7)
