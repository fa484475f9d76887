"""The ``chain`` space: paper 002's descriptor, FailValidArch and Algorithm II's moves."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fitnas.arch.trace import trace
from fitnas.costs import chan_memory_bytes, count_params
from fitnas.spaces import FailValidArch, InvalidEncoding, create_space
from fitnas.spaces.chain import ChainSpace

VGG_WIDTHS = [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512]
VGG_POOLED = {1, 3, 7, 11, 15}  # a 2x2 max pool of stride 2 after these conv layers


def vgg19_descriptor() -> dict:
    """Paper 002 Table 1's VGG-19, "reachable using our architecture description"."""
    conv = [[w, 3, 3, 2, 2, 2, 2] if i in VGG_POOLED else [w, 3, 3, 1, 1, 1, 1]
            for i, w in enumerate(VGG_WIDTHS)]
    return {"conv": conv, "fc": [512, 512]}


def vgg19_torch() -> nn.Module:
    """The foundation issue's VGG-19 for CIFAR-10 written in plain torch: 16 3x3 convs with bias
    and no batch norm, five 2x2 max pools, then fully connected 512-512-512-10."""
    layers: list[nn.Module] = []
    c = 3
    for i, w in enumerate(VGG_WIDTHS):
        layers += [nn.Conv2d(c, w, 3, padding=1), nn.ReLU()]
        if i in VGG_POOLED:
            layers.append(nn.MaxPool2d(2))
        c = w
    layers += [nn.Flatten(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
               nn.Linear(512, 10)]
    return nn.Sequential(*layers)


def test_chain_reproduces_vgg19_of_the_foundation_issue() -> None:
    space = create_space("chain", batchnorm=False)
    graph = space.decode(space.from_data(vgg19_descriptor()))
    module = vgg19_torch()
    assert count_params(graph) == sum(p.numel() for p in module.parameters()) == 20_554_826
    # paper 002 Table 1/3: 82.7 MB = 78.91 MiB (see tests/costs/test_chan.py)
    assert chan_memory_bytes(graph) == 82_743_592
    assert graph.fingerprint() == trace(module, (1, 3, 32, 32)).graph.fingerprint()


def test_decode_layer_order_and_shapes() -> None:
    space = create_space("chain", input_shape=(1, 3, 9, 12))
    enc = space.from_data({"conv": [[5, 3, 2, 2, 3, 2, 3]], "fc": [7]})
    graph = space.decode(enc)
    assert [n.op for n in graph.nodes] == ["conv2d", "relu", "batchnorm", "maxpool", "flatten",
                                           "linear", "relu", "linear"]
    conv = graph.nodes[0]
    assert conv.attrs["kernel"] == (2, 3)  # (filt_y, filt_x)
    assert graph.shape(conv.name) == (1, 5, 8, 12)  # even filt_y loses one row
    assert graph.shape(graph.nodes[3].name) == (1, 5, 2, 6)  # pool 3x2 (y, x), stride 3x2
    module = nn.Sequential(nn.Conv2d(3, 5, (2, 3), padding=(0, 1)), nn.ReLU(), nn.BatchNorm2d(5),
                           nn.MaxPool2d((3, 2), (3, 2)))
    assert module(torch.zeros(1, 3, 9, 12)).shape == (1, 5, 2, 6)


def test_feature_map_below_1x1_is_fail_valid_arch() -> None:
    space = create_space("chain", input_shape=(1, 1, 8, 8))
    pool = [4, 3, 3, 2, 2, 2, 2]
    assert space.is_valid({"conv": [pool] * 3, "fc": []})  # 8 -> 4 -> 2 -> 1
    with pytest.raises(FailValidArch, match=r"conv layer 3 .* below 1x1"):
        space.decode(space.from_data({"conv": [pool] * 4, "fc": []}))
    with pytest.raises(FailValidArch):
        space.from_data({"conv": [[4, 2, 2, 1, 1, 1, 1]] * 8, "fc": []})  # even kernels shrink
    with pytest.raises(InvalidEncoding, match="at least one conv layer"):
        space.from_data({"conv": [], "fc": [3]})
    with pytest.raises(InvalidEncoding, match="positive ints"):
        space.from_data({"conv": [[0, 3, 3, 1, 1, 1, 1]], "fc": []})


def test_default_limits_are_the_paper_cifar10_space_scaled_for_small_inputs() -> None:
    big = ChainSpace()
    assert (big.max_conv_layers, big.max_filters, big.max_kernel, big.max_pool, big.max_sub,
            big.max_hidden) == (26, 128, 3, 2, 2, 2048)
    digits = ChainSpace(input_shape=(1, 1, 8, 8))
    assert (digits.max_conv_layers, digits.max_filters, digits.max_hidden) == (6, 32, 512)
    for seed in range(200):
        convs, fcs = digits.sample(seed)
        assert 1 <= len(convs) <= 6 and len(fcs) <= 2
        assert all(4 <= c[0] <= 32 and max(c[1:3]) <= 3 and max(c[3:]) <= 2 for c in convs)
        assert all(32 <= n <= 512 for n in fcs)
        digits.decode((convs, fcs))  # never FailValidArch


def test_algorithm_ii_moves() -> None:
    space = create_space("chain", input_shape=(1, 3, 16, 16))
    assert isinstance(space, ChainSpace)
    enc = space.from_data({"conv": [[16, 3, 3, 2, 2, 2, 2], [32, 3, 3, 1, 1, 1, 1]],
                           "fc": [100]})
    grow = space.grow(enc)
    assert len(grow) == 3  # a copy of each of the three layers
    assert ([[16, 3, 3, 2, 2, 2, 2], [16, 3, 3, 1, 1, 1, 1], [32, 3, 3, 1, 1, 1, 1]]
            in [space.to_data(g)["conv"] for g in grow])
    assert len(space.trim(enc)) == 3
    assert space.scale(enc, 0, "n_filt", 1.5)[0][0][0] == 24
    assert space.scale(enc, 1, "n_filt", 0.66)[0][1][0] == 21  # 21.12 rounded
    assert space.scale(enc, 2, "n_hidden", 1.5)[1] == (150,)
    assert space.scale(enc, 0, "filt_sz", 1.5)[0][0][1:3] == (5, 5)  # 4.5 rounds half up
    with pytest.raises(FailValidArch):
        space.scale(enc, 1, "pool_sz", 0.66)  # 1 cannot shrink
    assert space.scale(enc, 1, "pool_sz", 1.5)[0][1][3:5] == (2, 2)  # moved by at least 1
    muts = space.mutations(enc)
    # 2 conv layers x 4 keys x 2 directions + 1 fc x 2, less the steps below 1 (pool_sz and
    # sub_sz of layer 1 at 1)
    assert len(muts) == 2 * 4 * 2 + 2 - 2
    single = space.from_data({"conv": [[8, 3, 3, 1, 1, 1, 1]], "fc": []})
    assert space.trim(single) == []  # one conv layer always stays


def test_random_layer_inserts_a_valid_layer_of_the_same_kind() -> None:
    space = create_space("chain", input_shape=(1, 1, 8, 8))
    assert isinstance(space, ChainSpace)
    enc = space.from_data({"conv": [[8, 3, 3, 2, 2, 2, 2], [8, 3, 3, 2, 2, 2, 2]], "fc": [20]})
    for seed in range(30):
        new = space.random_layer(enc, 1, seed)
        assert len(new[0]) == 3 and new[1] == (20,)
        space.decode(new)
        assert len(space.random_layer(enc, 2, seed)[1]) == 2


def test_tokens_layout_and_limits() -> None:
    space = create_space("chain", input_shape=(1, 1, 8, 8))
    enc = space.from_data({"conv": [[8, 3, 1, 2, 2, 2, 2]], "fc": [20]})
    assert space.to_tokens(enc) == [0, 10, 5, 3, 4, 4, 4, 4, 1, 22, 2]
    with pytest.raises(InvalidEncoding, match="token_max"):
        space.to_tokens(space.from_data({"conv": [[5000, 1, 1, 1, 1, 1, 1]], "fc": []}))
    with pytest.raises(InvalidEncoding, match="END"):
        space.from_tokens([0, 10, 5, 3, 4, 4, 4, 4])
