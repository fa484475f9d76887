"""The ``nb201`` space: cellstrs, the 15,625 architectures, and the benchmark's own figures.

Published figures: the NAS-Bench-201 v1.1 API files (``NAS-Bench-201-v1_1-096897``) give, over
all 15,625 architectures, parameters from 0.073306 M to 1.531546 M and FLOPs from 7.78305 M to
220.11969 M on CIFAR-10 (10 classes, 32x32); 0.079156 M to 1.537396 M and 7.7889 M to
220.12554 M on CIFAR-100 (100 classes); 0.080456 M to 1.538696 M and 1.9534 M to 55.03756 M on
ImageNet16-120 (120 classes, 16x16). These are the min/max values quoted, for example, in
EvoXBench's NAS-Bench-201 module (``min_max_values``). Parameters grow with every convolution, so
the smallest is the all-``none`` cell and the largest the all-``nor_conv_3x3`` cell. The
benchmark's FLOPs count conv and linear multiply-accumulates plus one per output of a layer
with bias (only the classifier has one): fitnas' ``count_macs(count_bias=True)``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from torch import nn

from fitnas.costs import count_macs, count_params
from fitnas.spaces import InvalidEncoding, create_space
from fitnas.spaces.nb201 import BY_COST, EDGES, OPS, NB201Space

CSV = Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "nb201_12epoch.csv"
BEST = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+"
        "|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")


# --- an independent plain-torch NAS-Bench-201 network, after the benchmark's source --------
class _ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, k: int, stride: int):
        super().__init__(nn.ReLU(), nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False),
                         nn.BatchNorm2d(c_out))


class _Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def _op(name: str, c: int) -> nn.Module:
    return {"none": lambda: _Zero(), "skip_connect": lambda: nn.Identity(),
            "nor_conv_1x1": lambda: _ReLUConvBN(c, c, 1, 1),
            "nor_conv_3x3": lambda: _ReLUConvBN(c, c, 3, 1),
            "avg_pool_3x3": lambda: nn.AvgPool2d(3, 1, 1, count_include_pad=False)}[name]()


class _Cell(nn.Module):
    def __init__(self, ops: tuple[str, ...], c: int):
        super().__init__()
        self.edges = nn.ModuleList(_op(o, c) for o in ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for j in (1, 2, 3):
            nodes.append(sum(self.edges[e](nodes[i]) for e, (i, to) in enumerate(EDGES) if to == j))
        return nodes[3]


class _ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.a = _ReLUConvBN(c_in, c_out, 3, 2)
        self.b = _ReLUConvBN(c_out, c_out, 3, 1)
        self.down = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x)) + self.down(x)


def nb201_torch(ops: tuple[str, ...], classes: int = 10, c: int = 16, n: int = 5) -> nn.Module:
    layers: list[nn.Module] = [nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)]
    for stage in range(3):
        width = c * 2**stage
        if stage:
            layers.append(_ResBlock(width // 2, width))
        layers += [_Cell(ops, width) for _ in range(n)]
    layers += [nn.BatchNorm2d(4 * c), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
               nn.Linear(4 * c, classes)]
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------------- tests
@pytest.mark.parametrize(("classes", "side", "params", "flops"), [
    (10, 32, (73_306, 1_531_546), (7_783_050, 220_119_690)),
    (100, 32, (79_156, 1_537_396), (7_788_900, 220_125_540)),
    (120, 16, (80_456, 1_538_696), (1_953_400, 55_037_560)),
])
def test_parameters_and_flops_match_the_published_extremes(
        classes: int, side: int, params: tuple[int, int], flops: tuple[int, int]) -> None:
    space = create_space("nb201", input_shape=(1, 3, side, side), classes=classes)
    for k, op in enumerate(("none", "nor_conv_3x3")):
        graph = space.decode((op,) * 6)
        assert count_params(graph) == params[k]
        assert count_macs(graph, count_bias=True) == flops[k]


def test_parameters_match_an_independent_torch_network() -> None:
    space = create_space("nb201")
    encs = [space.parse(BEST), *(space.sample(seed) for seed in range(6))]
    for enc in encs:
        module = nb201_torch(enc)
        assert count_params(space.decode(enc)) == sum(p.numel() for p in module.parameters())
    # The well-known best CIFAR-10 cell has five nor_conv_3x3 edges and one skip_connect:
    # 73,306 + 5 x 243,040 (one 3x3 ReLU-Conv-BN edge in all 15 cells) = 1,288,506.
    assert count_params(space.decode(space.parse(BEST))) == 1_288_506


def test_forward_matches_the_torch_network_with_the_same_weights() -> None:
    torch.manual_seed(0)
    from fitnas.arch.builder import build

    space = create_space("nb201", input_shape=(2, 3, 8, 8), channels=4, cells_per_stage=1)
    enc = space.parse("|nor_conv_3x3~0|+|avg_pool_3x3~0|skip_connect~1|+"
                      "|none~0|nor_conv_1x1~1|nor_conv_3x3~2|")
    ours = build(space.decode(enc)).eval()
    ref = nb201_torch(enc, 10, 4, 1).eval()
    ours_p = list(ours.parameters())
    ref_p = list(ref.parameters())
    assert [p.shape for p in ours_p] == [p.shape for p in ref_p]
    with torch.no_grad():
        for a, b in zip(ours_p, ref_p, strict=True):
            a.copy_(torch.randn_like(a))
            b.copy_(a)
        x = torch.randn(2, 3, 8, 8)
        assert torch.allclose(ours(x), ref(x), atol=1e-5)


def test_enumerates_all_15625_and_cellstrs_round_trip() -> None:
    space = create_space("nb201")
    assert isinstance(space, NB201Space)
    encs = list(space.all_encodings())
    assert len(encs) == len(set(encs)) == 5**6 == 15_625
    texts = [space.format(e) for e in encs]
    assert all(space.parse(t) == e for t, e in zip(texts, encs, strict=True))
    assert all(space.from_tokens(space.to_tokens(e)) == e for e in encs)
    if not CSV.is_file():
        pytest.skip(f"{CSV} is not there")
    with CSV.open() as fh:
        published = [row["cellstr"] for row in csv.DictReader(fh)]
    assert len(published) == 15_625
    assert set(published) == set(texts)
    assert all(space.format(space.parse(t)) == t for t in published)


def test_cellstr_format_and_errors() -> None:
    space = create_space("nb201")
    enc = space.parse(BEST)
    assert enc == ("nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3", "skip_connect",
                   "nor_conv_3x3", "nor_conv_3x3")
    assert space.format(enc) == BEST
    assert space.parse(space.to_json(enc)) == enc
    for bad, why in [("|nor_conv_3x3~0|+|none~0|", "3 groups"),
                     ("|nor_conv_3x3~1|+|none~0|none~1|+|none~0|none~1|none~2|", "op~0"),
                     ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown nb201"),
                     ("|none~0|+|none~0|+|none~0|none~1|none~2|", "needs 2 edge")]:
        with pytest.raises(InvalidEncoding, match=why):
            space.parse(bad)


def test_grow_trim_and_mutations() -> None:
    space = create_space("nb201")
    enc = space.parse("|none~0|+|skip_connect~0|nor_conv_1x1~1|+"
                      "|avg_pool_3x3~0|nor_conv_3x3~1|none~2|")
    # edges: none, skip, conv1x1, avgpool, conv3x3, none; BY_COST: none<skip<pool<1x1<3x3
    grow, trim = space.grow(enc), space.trim(enc)
    assert len(grow) == 4 + 3 + 1 + 2 + 0 + 4
    assert len(trim) == 0 + 1 + 3 + 2 + 4 + 0
    for moved, costlier in ((grow, True), (trim, False)):
        for g in moved:
            (e,) = [e for e in range(6) if g[e] != enc[e]]  # exactly one edge changes
            assert (BY_COST.index(g[e]) > BY_COST.index(enc[e])) == costlier
    # together they are the 24 mutations, each once
    assert sorted(grow + trim) == sorted(space.mutations(enc))
    assert len(set(grow + trim)) == len(space.mutations(enc)) == 6 * 4
    assert space.grow(("nor_conv_3x3",) * 6) == [] and space.trim(("none",) * 6) == []
    assert set(OPS) == {"none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"}
