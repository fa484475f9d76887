"""The ``darts`` space: DARTS' genotype text, DARTS V2's exact size, edge attribution, grammar.

The reference is a plain-torch re-implementation of DARTS' evaluation network (Liu et al. 2019,
``model.py`` ``Cell``/``NetworkCIFAR`` and ``operations.py``), auxiliary head and drop-path off,
with the real ``FactorizedReduce`` (two 1x1 stride-2 convs, one on the input shifted by a pixel).
DARTS' training log for DARTS V2 on CIFAR-10 (C = 36, 20 layers) reads "param size =
3.349342MB" (the count without the auxiliary head; the paper rounds it to 3.3M).
"""

from __future__ import annotations

import random
from functools import partial
from typing import Any

import pytest
import torch
from torch import nn

from fitnas.arch.builder import build
from fitnas.costs import count_macs, count_params
from fitnas.spaces import InvalidEncoding, SpaceError, create_space
from fitnas.spaces._darts_cell import edge_params
from fitnas.spaces._emit import Emitter
from fitnas.spaces.darts import BY_COST, DARTS_V2, EDGES, GENOTYPE_OPS, OPS, DartsSpace

DARTS_V2_PARAMS = 3_349_342


# --- DARTS' evaluation network in plain torch --------------------------------------------
class _ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__(nn.ReLU(), nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                         nn.BatchNorm2d(c_out))


class _FactorizedReduce(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.relu = nn.ReLU()
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


def _conv_unit(c: int, k: int, stride: int, dilation: int) -> list[nn.Module]:
    return [nn.ReLU(), nn.Conv2d(c, c, k, stride, dilation * (k // 2), dilation, groups=c,
                                 bias=False), nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c)]


def _reduce(c_in: int, c_out: int, real: bool) -> nn.Module:
    return _FactorizedReduce(c_in, c_out) if real else _ReLUConvBN(c_in, c_out, 2)


def _op(name: str, c: int, stride: int, real: bool) -> nn.Module:
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride, 1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride, 1, count_include_pad=False)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else _reduce(c, c, real)
    k = int(name[-1])
    if name.startswith("sep"):
        return nn.Sequential(*_conv_unit(c, k, stride, 1), *_conv_unit(c, k, 1, 1))
    return nn.Sequential(*_conv_unit(c, k, stride, 2))


class _Cell(nn.Module):
    def __init__(self, pairs: Any, c_pp: int, c_p: int, c: int, reduction: bool,
                 reduction_prev: bool, real: bool):
        super().__init__()
        self.pre0 = _reduce(c_pp, c, real) if reduction_prev else _ReLUConvBN(c_pp, c)
        self.pre1 = _ReLUConvBN(c_p, c)
        self.ops = nn.ModuleList(_op(op, c, 2 if reduction and j < 2 else 1, real)
                                 for op, j in pairs)
        self.inputs = [j for _, j in pairs]

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for i in range(4):
            states.append(self.ops[2 * i](states[self.inputs[2 * i]])
                          + self.ops[2 * i + 1](states[self.inputs[2 * i + 1]]))
        return torch.cat(states[2:], dim=1)


class NetworkCIFAR(nn.Module):
    """DARTS' ``NetworkCIFAR`` (no auxiliary head, no drop-path); ``real=False`` uses fitnas'
    ``FactorizedReduce`` substitute (one 1x1 stride-2 conv), for a forward comparison."""

    def __init__(self, genotype: Any, c: int = 36, classes: int = 10, layers: int = 20,
                 stem_multiplier: int = 3, real: bool = True):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, stem_multiplier * c, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(stem_multiplier * c))
        c_pp = c_p = stem_multiplier * c
        self.cells = nn.ModuleList()
        reduction_prev = False
        for k in range(layers):
            reduction = k in (layers // 3, 2 * layers // 3)
            c *= 2 if reduction else 1
            self.cells.append(_Cell(genotype[reduction], c_pp, c_p, c, reduction,
                                    reduction_prev, real))
            reduction_prev = reduction
            c_pp, c_p = c_p, 4 * c
        self.classifier = nn.Linear(c_p, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(s1.mean((2, 3)))


def torch_macs(module: nn.Module, shape: tuple[int, ...]) -> int:
    """Conv and linear multiply-accumulates of one forward pass (fitnas' convention)."""
    total = 0

    def hook(m: nn.Module, args: Any, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(m, nn.Conv2d):
            kh, kw = m.kernel_size
            total += out.numel() * (m.in_channels // m.groups) * kh * kw
        elif isinstance(m, nn.Linear):
            total += out.numel() * m.in_features

    handles = [m.register_forward_hook(hook) for m in module.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        module.eval()(torch.zeros(shape))
    for h in handles:
        h.remove()
    return total


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# --------------------------------------------------------------------------------- tests
def test_darts_v2_parses_formats_and_round_trips() -> None:
    space = create_space("darts")
    enc = space.parse(DARTS_V2)
    assert enc[0][:4] == (("sep_conv_3x3", 0), ("sep_conv_3x3", 1)) * 2
    assert enc[0][4:6] == (("skip_connect", 0), ("sep_conv_3x3", 1))  # sorted by input
    assert enc[1][2:4] == (("max_pool_3x3", 1), ("skip_connect", 2))
    text = space.format(enc)
    assert text.startswith("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1),")
    assert text.endswith("reduce_concat=[2, 3, 4, 5])")
    assert space.parse(text) == enc
    assert space.parse(space.to_json(enc)) == enc
    as_dict = {"normal": [list(p) for p in enc[0]], "reduce": enc[1], "reduce_concat": [2, 3, 4, 5]}
    assert space.from_data(as_dict) == enc
    # DARTS' search log prints range(2, 6); positional fields are the namedtuple's order
    logged = DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 6)")
    assert space.parse(logged) == enc
    normal, reduce = (str([tuple(p) for p in cell]) for cell in enc)
    assert space.parse(f"Genotype({normal}, range(2, 6), {reduce}, [2, 3, 4, 5])") == enc
    graph = space.decode(enc)
    assert graph.shape(graph.outputs[0]) == (1, 10)


def test_darts_v2_has_darts_parameter_count_and_macs() -> None:
    space = create_space("darts", channels=36, layers=20)
    enc = space.parse(DARTS_V2)
    graph = space.decode(enc)
    reference = NetworkCIFAR(enc)
    assert count_params(graph) == n_params(reference) == DARTS_V2_PARAMS
    # the FactorizedReduce substitute has DARTS' MACs too (even sides)
    assert count_macs(graph) == torch_macs(reference, (1, 3, 32, 32))


@pytest.mark.parametrize(("kwargs", "seeds"), [
    ({}, range(4)),
    ({"channels": 8, "layers": 5, "input_shape": (1, 3, 16, 16), "classes": 7}, range(4)),
    ({"channels": 6, "layers": 3, "stem_multiplier": 2, "input_shape": (2, 3, 8, 8)}, range(3)),
])
def test_parameters_and_macs_match_the_torch_network(kwargs: dict[str, Any], seeds: range) -> None:
    space = create_space("darts", **kwargs)
    assert isinstance(space, DartsSpace)
    for seed in seeds:
        enc = space.sample(seed)
        graph = space.decode(enc)
        ref = NetworkCIFAR(enc, space.channels, space.classes, space.layers,
                           space.stem_multiplier)
        assert count_params(graph) == n_params(ref)
        assert count_macs(graph) == torch_macs(ref, space.input_shape)


def test_forward_matches_darts_with_the_substitute_and_the_same_weights() -> None:
    torch.manual_seed(0)
    space = create_space("darts", input_shape=(2, 3, 8, 8), channels=4, layers=3)
    for seed in range(3):
        enc = space.sample(seed)
        ours = build(space.decode(enc)).eval()
        ref = NetworkCIFAR(enc, 4, 10, 3, real=False).eval()
        ours_p, ref_p = list(ours.parameters()), list(ref.parameters())
        assert [p.shape for p in ours_p] == [p.shape for p in ref_p]
        with torch.no_grad():
            for a, b in zip(ours_p, ref_p, strict=True):
                a.copy_(torch.randn_like(a))
                b.copy_(a)
            x = torch.randn(2, 3, 8, 8)
            assert torch.allclose(ours(x), ref(x), atol=1e-4)


def test_edge_prefixes_attribute_every_edge_op_exactly() -> None:
    space = create_space("darts", input_shape=(1, 3, 16, 16), channels=8, layers=5)
    assert isinstance(space, DartsSpace)
    assert space.edges() == EDGES and len(EDGES) == 14
    assert EDGES[:5] == ((0, 0), (0, 1), (1, 0), (1, 1), (1, 2))
    sizes = {"max_pool_3x3": 1, "avg_pool_3x3": 1, "dil_conv_3x3": 4, "dil_conv_5x5": 4,
             "sep_conv_3x3": 8, "sep_conv_5x5": 8}
    for enc in (space.parse(DARTS_V2), *(space.sample(seed) for seed in range(5))):
        graph = space.decode(enc)
        nodes = {n.name: n for n in graph.nodes}
        claimed: set[str] = set()
        edge_total = 0
        for k in range(space.layers):
            red = k in space.reductions
            width = space.channels * 2 ** sum(r <= k for r in space.reductions)
            held = {(i, j): op for i in range(4) for op, j in enc[red][2 * i: 2 * i + 2]}
            for node, source in EDGES:
                prefix = space.edge_prefix(k, node, source)
                group = [n for name, n in nodes.items() if name.startswith(prefix)]
                if (node, source) not in held:
                    assert group == []
                    continue
                op, stride = held[node, source], 2 if red and source < 2 else 1
                assert len(group) == sizes.get(op, 1 if stride == 1 else 3)
                names = {n.name for n in group}
                assert not names & claimed
                claimed |= names
                # a chain from the source state into the node's sum, nothing else reads it
                outside = [i for n in group for i in n.inputs if i not in names]
                state = f"c{k}_pre{source}_batchnorm" if source < 2 else f"c{k}_n{source - 2}_add"
                assert outside == [state]
                readers = [n.name for n in graph.nodes if n.name not in names
                           and names & set(n.inputs)]
                assert readers == [f"c{k}_n{node}_add"]
                params = sum(graph.node_params(n.name) for n in group)
                assert params == edge_params(op, width, stride)
                edge_total += params
        rest = sum(graph.node_params(n.name) for n in graph.nodes if n.name not in claimed)
        assert edge_total + rest == count_params(graph)
    with pytest.raises(SpaceError, match=r"cells 0\.\.4"):
        space.edge_prefix(5, 0, 0)
    with pytest.raises(SpaceError, match="edges"):
        space.edge_prefix(0, 0, 2)


def test_decode_equals_the_reference_writer() -> None:
    space = create_space("darts", channels=36, layers=20)
    assert isinstance(space, DartsSpace)
    for enc in (space.parse(DARTS_V2), *(space.sample(seed) for seed in range(4))):
        fast = space.decode(enc)
        ref = Emitter.build_reference(space.input_shape, partial(space._write, enc), fast.name)
        assert [(n.name, n.op, n.inputs, dict(n.attrs)) for n in fast.nodes] == \
               [(n.name, n.op, n.inputs, dict(n.attrs)) for n in ref.nodes]


@pytest.mark.parametrize(("bad", "why"), [
    ("Genotype(normal=[('conv_9x9', 0)] + [('skip_connect', 1)] * 7)", "unexpected"),
    ("Genotype(normal=[], reduce=[])", "8 \\[op, input\\] pairs"),
    ("Genotype(normal=[('sep_conv_3x3', 0)", "expected"),
    ("Genotype(colour=1)", "unknown field 'colour'"),
    ("Genotype(normal=[])", "no reduce field"),
    ("Genotype(normal=[], reduce=[]) extra", "text after"),
    ("Genotype(normal=[], reduce=[], normal=[])", "given twice"),
    ("Genotype(normal=$)", "unexpected character '\\$'"),
    ("Genotype(normal=[[[[[[1]]]]]], reduce=[])", "nested too deep"),
])
def test_malformed_genotype_text_is_one_line(bad: str, why: str) -> None:
    space = create_space("darts")
    with pytest.raises(InvalidEncoding, match=why) as info:
        space.parse(bad)
    assert "\n" not in str(info.value)


def test_bad_genotypes_are_one_line_errors() -> None:
    space = create_space("darts")
    good = [list(map(list, cell)) for cell in space.parse(DARTS_V2)]

    def changed(cell: int, pair: int, value: Any) -> list[Any]:
        data = [[list(p) for p in c] for c in good]
        data[cell][pair] = value
        return data

    cases = [
        (changed(0, 0, ["conv_9x9", 0]), "unknown darts operation 'conv_9x9' in normal pair 0"),
        (changed(1, 3, ["none", 2]), "reduce pair 3 is 'none'"),
        (changed(0, 2, ["sep_conv_3x3", 3]), "normal node 1 reads input 3; accepted: 0..2"),
        (changed(0, 1, ["sep_conv_3x3", 0]), "normal node 0 reads input 0 twice"),
        (changed(0, 1, ["sep_conv_3x3", True]), "reads input True"),
        (changed(0, 1, "sep_conv_3x3"), "pair 1 must be \\[op, input\\]"),
        ({"normal": good[0]}, "keys normal and reduce"),
        ({"normal": good[0], "reduce": good[1], "normal_concat": [2, 3]}, "normal_concat"),
        ([good[0]], "\\[normal, reduce\\]"),
    ]
    for data, why in cases:
        with pytest.raises(InvalidEncoding, match=why) as info:
            space.from_data(data)
        assert "\n" not in str(info.value)


def test_space_arguments() -> None:
    space = create_space("darts")
    assert isinstance(space, DartsSpace)
    assert (space.channels, space.layers, space.stem_multiplier) == (16, 8, 3)
    assert space.reductions == (2, 5)
    assert DartsSpace(layers=20).reductions == (6, 13)
    assert space.get_config() == {"input_shape": [1, 3, 32, 32], "classes": 10, "channels": 16,
                                  "layers": 8, "stem_multiplier": 3}
    with pytest.raises(SpaceError, match="at least 4x4, got 3x8"):
        create_space("darts", input_shape=(1, 3, 3, 8))
    with pytest.raises(SpaceError, match=r"layers must be in 3\.\.1000, got 2"):
        create_space("darts", layers=2)
    graph = create_space("darts", input_shape=(1, 1, 5, 7), channels=2, layers=3).decode(
        space.sample(1))  # odd sides: every stride-2 op gives ceil(h / 2)
    assert graph.shape(graph.outputs[0]) == (1, 10)


def test_cost_orders_follow_real_parameter_counts() -> None:
    assert OPS[0] == "none" and GENOTYPE_OPS == OPS[1:]
    space = create_space("darts")
    assert isinstance(space, DartsSpace)
    assert space.by_cost(False, 0) == space.by_cost(True, 3) == BY_COST
    assert space.by_cost(True, 1)[:3] == ("max_pool_3x3", "avg_pool_3x3", "skip_connect")
    for c in (4, 16, 36):
        ordered = sorted(GENOTYPE_OPS, key=lambda op: (edge_params(op, c, 1), BY_COST.index(op)))
        assert (ordered.index("dil_conv_5x5") < ordered.index("sep_conv_3x3")) == (c > 5)
    tiny = create_space("darts", channels=4, layers=3)  # its only normal cell has width 4
    assert isinstance(tiny, DartsSpace)
    assert tiny.by_cost(False, 0).index("sep_conv_3x3") < tiny.by_cost(False, 0).index(
        "dil_conv_5x5")


def test_moves() -> None:
    space = create_space("darts", input_shape=(1, 3, 16, 16), channels=8, layers=3)
    assert isinstance(space, DartsSpace)
    enc = space.parse(DARTS_V2)
    mutations = space.mutations(enc)
    assert len(mutations) == len(set(mutations)) == 16 * 6 + 2 * (0 + 2 + 4 + 6)
    assert all(space.validate(m) == m for m in mutations)
    grow, trim = space.grow(enc), space.trim(enc)
    ops_changed = [m for m in mutations if [s for _, s in m[0] + m[1]]
                   == [s for _, s in enc[0] + enc[1]]]
    assert sorted(grow + trim) == sorted(ops_changed)
    assert count_params(space.decode(enc)) <= min(count_params(space.decode(g)) for g in grow)
    assert count_params(space.decode(enc)) >= max(count_params(space.decode(t)) for t in trim)
    assert space.coordinates(enc) == list(range(16))
    assert space.step(enc, 7, 1)[0][7] == ("dil_conv_5x5", 2)
    assert space.step(enc, 7, -1)[0][7] == ("avg_pool_3x3", 2)
    with pytest.raises(InvalidEncoding, match="smallest"):
        space.step(enc, 4, -1)  # skip_connect is the cheapest on a normal edge
    with pytest.raises(InvalidEncoding, match=r"pair 0\.\.15"):
        space.step(enc, 16, 1)
    roots = space.grow_roots()
    assert len(roots) == 2
    for root in roots:
        assert space.validate(root) == root and space.trim(root) == []
        assert {op for op, _ in root[0]} == {"skip_connect"}
        assert all(op == ("max_pool_3x3" if s < 2 else "skip_connect") for op, s in root[1])
        assert len(space.grow(root)) == 16 * 6


def test_grammar() -> None:
    space = create_space("darts")
    assert space.vocab_size == 12
    ops = tuple(range(5, 12))
    assert space.next_tokens([]) == ((0,), False)
    assert space.next_tokens([0]) == (ops, False)
    assert space.next_tokens([0, 5]) == ((1,), False)
    assert space.next_tokens([0, 5, 1, 6]).tokens == (0, 1)  # node 1, first input
    assert space.next_tokens([0, 5, 1, 6, 1, 5]).tokens == (2,)
    assert space.next_tokens([0, 5, 1, 6, 0, 5]).tokens == (1, 2)
    with pytest.raises(InvalidEncoding, match="position 2 is not allowed there; allowed: 1"):
        space.next_tokens([0, 5, 0])
    tokens = space.to_tokens(space.parse(DARTS_V2))
    assert len(tokens) == 32 and space.next_tokens(tokens) == ((), True)
    assert space.from_tokens(tokens) == space.parse(DARTS_V2)
    with pytest.raises(InvalidEncoding, match="32 tokens"):
        space.from_tokens(tokens[:-2])
    rng = random.Random(0)
    walked = {space.from_tokens(space.sample_tokens(rng)) for _ in range(200)}
    assert len(walked) == 200
    inputs_seen = {s for enc in walked for cell in enc for _, s in cell}
    assert inputs_seen == {0, 1, 2, 3, 4}
