"""The DCA-NAS supernet: forward/backward under every switch setting, derivation, the switches."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch
from torch import nn

from fitnas.errors import FitnasError
from fitnas.spaces.nb201 import NB201Space
from fitnas.supernet.cells import SearchCell
from fitnas.supernet.memory import measure_saved_bytes
from fitnas.supernet.network import Supernet, derive
from fitnas.supernet.ops import TORCH, SupernetError

darts = pytest.importorskip("fitnas.spaces.darts")

SWITCHES = list(itertools.product([False, True], [1, 2], [False, True]))


def darts_space(**kw: Any) -> Any:
    return darts.DartsSpace((2, 3, 16, 16), 10, **{"channels": 4, "layers": 3, **kw})


def nb201_space() -> NB201Space:
    return NB201Space((2, 3, 16, 16), 10, channels=4, cells_per_stage=1)


SPACES = {"darts": darts_space, "nb201": nb201_space}


def n_weights(net: Supernet) -> int:
    return sum(p.numel() for p in net.weight_parameters())


def one_hot_alpha(net: Supernet, picks: dict[str, list[tuple[int, int, float]]]) -> None:
    """Alpha 0 everywhere but ``value`` at each ``(edge, op)``."""
    with torch.no_grad():
        for kind, items in picks.items():
            net.alpha[kind].zero_()
            for e, k, v in items:
                net.alpha[kind][e, k] = v


def picks_of(net: Supernet, genotype: Any, value: float = 5.0) -> dict[str, list[tuple[int, int, float]]]:
    return {kind: [(e, k, value) for e, k in sel] for kind, sel in net.selections(genotype).items()}


@pytest.mark.parametrize("family", SPACES)
@pytest.mark.parametrize(("sharing", "bottleneck", "derived"), SWITCHES)
def test_forward_backward(family: str, sharing: bool, bottleneck: int, derived: bool) -> None:
    space = SPACES[family]()
    net = Supernet(space, weight_sharing=sharing, bottleneck=bottleneck, derived_cells=derived)
    logits = net(torch.randn(2, 3, 16, 16))
    assert logits.shape == (2, 10)
    nn.functional.cross_entropy(logits, torch.tensor([1, 2])).backward()
    for alpha in net.arch_parameters():
        assert alpha.grad is not None and torch.isfinite(alpha.grad).all()
        assert alpha.grad.abs().sum() > 0
    assert all(p.grad is not None for p in (*net.stem.parameters(), *net.head.parameters()))
    first = {"darts": (0, 1), "nb201": (0,)}[family]  # the first cell of each kind
    assert net.mixed == tuple(not derived or i in first for i in range(len(net.cells)))


def test_api_and_partition() -> None:
    net = Supernet(darts_space(), seed=3)
    assert net.kinds == ("normal", "reduce")
    assert net.ops == tuple(darts.OPS) and net.edges == tuple(darts.EDGES)
    assert net.cells_of("normal") == [0] and net.cells_of("reduce") == [1, 2]
    assert [a.shape for a in net.arch_parameters()] == [(14, 8), (14, 8)]
    assert set(net.alphas()) == {"normal", "reduce"}
    ids = {id(p) for p in net.arch_parameters()}
    assert not ids & {id(p) for p in net.weight_parameters()}
    assert len(net.arch_parameters()) + len(net.weight_parameters()) == len(list(net.parameters()))
    assert net.arch_parameters()[0].abs().max() < 1e-2  # 1e-3 * randn
    with pytest.raises(SupernetError, match="unknown cell kind"):
        net.cells_of("cell")
    nb = Supernet(nb201_space())
    assert nb.kinds == ("cell",) and nb.cells_of("cell") == [0, 1, 2]
    assert nb.mixed == (True, False, False)


def test_deterministic_given_seed() -> None:
    a, b, c = (Supernet(nb201_space(), seed=s) for s in (1, 1, 2))
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name
    assert not torch.equal(a.alpha["cell"], c.alpha["cell"])


def test_refusals() -> None:
    with pytest.raises(FitnasError, match="supports the spaces darts, nb201"):
        Supernet(object())
    with pytest.raises(SupernetError, match="bottleneck 8 leaves 4 // 8 = 0") as err:
        Supernet(darts_space(), bottleneck=8)
    assert "\n" not in str(err.value)
    with pytest.raises(SupernetError, match="integer >= 1"):
        Supernet(darts_space(), bottleneck=0)
    with pytest.raises(SupernetError, match="shape"):
        derive(nb201_space(), {"cell": torch.zeros(6, 4)})
    with pytest.raises(SupernetError, match="missing"):
        derive(darts_space(), {"normal": torch.zeros(14, 8)})


def test_darts_genotype_from_hand_set_alpha() -> None:
    space = darts_space()
    net = Supernet(space)
    target = space.parse(darts.DARTS_V2)
    one_hot_alpha(net, picks_of(net, target))
    g = net.genotype()
    assert g == target and space.validate(g) == g
    space.decode(g)
    # none is ignored when ranking: on node 3 the strongest weight is `none` on source 0
    e = net.edges.index
    none, sep3, dil5 = (net.ops.index(o) for o in ("none", "sep_conv_3x3", "dil_conv_5x5"))
    picks = picks_of(net, target)
    picks["normal"] = [p for p in picks["normal"] if net.edges[p[0]][0] != 3]
    picks["normal"] += [(e((3, 0)), none, 10.0), (e((3, 4)), dil5, 2.0), (e((3, 2)), sep3, 3.0)]
    one_hot_alpha(net, picks)
    g = net.genotype()
    assert g[0][6:] == (("sep_conv_3x3", 2), ("dil_conv_5x5", 4)) and g[1] == target[1]
    assert derive(space, net.probabilities()) == g


def test_nb201_genotype_from_hand_set_alpha() -> None:
    space = nb201_space()
    net = Supernet(space)
    target = ("none", "nor_conv_3x3", "skip_connect", "avg_pool_3x3", "none", "nor_conv_1x1")
    one_hot_alpha(net, picks_of(net, target))
    assert net.genotype() == target
    space.decode(net.genotype())


class _Counting:
    """The torch backend, counting the mixing multiplications."""

    def __init__(self) -> None:
        self.scales = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(TORCH, name)

    def scale(self, weights: Any, edge: int, op: int, y: Any) -> Any:
        self.scales += 1
        return TORCH.scale(weights, edge, op, y)


@pytest.mark.parametrize("sharing", [False, True])
def test_derived_cells_do_not_touch_alpha(sharing: bool) -> None:
    net = Supernet(darts_space(layers=5), weight_sharing=sharing, bottleneck=1)
    assert net.mixed == (True, True, False, False, False)  # reductions at 1 and 3
    be = _Counting()
    x = torch.randn(2, 3, 16, 16)
    selections = net.selections(net.genotype())
    net.run(be, x, net.probabilities(), selections)
    assert be.scales == 2 * 14 * 7  # only the two mixed cells mix
    # a derived cell's output has no path to alpha
    cell = net.cells[3]
    assert isinstance(cell, SearchCell)
    inputs = [torch.randn(2, 32, 8, 8), torch.randn(2, 32, 8, 8)]  # cells 1 and 2's outputs
    out = cell(inputs, selection=selections["reduce"])
    grads = torch.autograd.grad(out.sum(), net.arch_parameters(), allow_unused=True)
    assert grads == (None, None)
    inputs = [torch.randn(2, 12, 16, 16), torch.randn(2, 16, 16, 16)]  # the stem's, cell 0's
    mixed = net.cells[1](inputs, weights=net.probabilities()["reduce"])
    assert torch.autograd.grad(mixed.sum(), net.alpha["reduce"]) is not None


def _called(cell: SearchCell, x: torch.Tensor, net: Supernet) -> set[tuple[int, str]]:
    """(unit, op) of the candidate modules ``cell`` runs in one forward of ``net``."""
    called: set[tuple[int, str]] = set()
    handles = [m.register_forward_hook(lambda *_, key=(u, op): called.add(key))
               for u, unit in enumerate(cell.unit_modules()) for op, m in unit.ops.items()]
    net(x)
    for h in handles:
        h.remove()
    return called


def test_derived_genotype_follows_alpha() -> None:
    space = darts_space()
    net = Supernet(space, weight_sharing=False, bottleneck=1)
    x = torch.randn(2, 3, 16, 16)
    a = space.parse(darts.DARTS_V2)
    b = (a[0], tuple((op, src) for op, src in space.sample(5)[1]))
    b = space.validate(b)
    assert a[1] != b[1]
    derived = net.cells[2]  # the second reduction cell
    assert isinstance(derived, SearchCell)
    for genotype in (a, b):
        one_hot_alpha(net, picks_of(net, genotype))
        called = _called(derived, x, net)
        assert net.current_genotype == genotype
        expected = {(e, net.ops[k]) for e, k in net.selections(genotype)["reduce"]}
        assert called == expected  # without sharing a unit is an edge


@pytest.mark.parametrize("family", SPACES)
def test_weight_sharing_fewer_params_and_calls(family: str) -> None:
    space = SPACES[family]()
    nets = [Supernet(space, weight_sharing=s, bottleneck=1, derived_cells=False) for s in (False, True)]
    calls = []
    for net in nets:
        count = [0]
        for cell in net.cells:
            assert isinstance(cell, SearchCell)
            for m in cell.candidates():
                m.register_forward_hook(lambda *_, c=count: c.__setitem__(0, c[0] + 1))
        net(torch.randn(2, 3, 16, 16))
        calls.append(count[0])
    cells = len(nets[0].cells)
    # darts: 14 edges vs 5 origins; nb201: 6 edges vs 3 origins; every non-none op each
    per_cell = {"darts": (14 * 7, 5 * 7), "nb201": (6 * 4, 3 * 4)}[family]
    assert calls == [cells * per_cell[0], cells * per_cell[1]]
    assert n_weights(nets[1]) < n_weights(nets[0])


def _macs(net: Supernet, x: torch.Tensor) -> int:
    total = [0]

    def hook(m: nn.Module, _i: Any, out: torch.Tensor) -> None:
        assert isinstance(m, nn.Conv2d)
        total[0] += out.numel() // out.shape[0] * (m.in_channels // m.groups) \
            * m.kernel_size[0] * m.kernel_size[1]

    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(hook)
    net(x)
    return total[0]


@pytest.mark.parametrize("family", SPACES)
@pytest.mark.parametrize("sharing", [False, True])
def test_bottleneck_reduces_params_and_macs(family: str, sharing: bool) -> None:
    space = SPACES[family]() if family == "nb201" else darts_space(channels=8)
    x = torch.randn(2, 3, 16, 16)
    nets = [Supernet(space, weight_sharing=sharing, bottleneck=b, derived_cells=False)
            for b in (1, 4)]
    assert n_weights(nets[1]) < n_weights(nets[0])
    assert _macs(nets[1], x) < _macs(nets[0], x)
    cell = nets[1].cells[0]
    assert isinstance(cell, SearchCell) and cell.width == cell.channels // 4


def test_ablation_params_and_saved_bytes_decrease() -> None:
    """DARTS, + weight sharing, + bottleneck, + derived cells (paper 004 Fig. 3a)."""
    space = darts.DartsSpace((4, 3, 16, 16), 10, channels=8, layers=5)
    x, y = torch.randn(4, 3, 16, 16), torch.tensor([0, 1, 2, 3])
    settings = [(False, 1, False), (True, 1, False), (True, 4, False), (True, 4, True)]
    params, saved = [], []
    for sharing, b, derived in settings:
        net = Supernet(space, weight_sharing=sharing, bottleneck=b, derived_cells=derived)
        params.append(n_weights(net))
        saved.append(measure_saved_bytes(net, x, y))
    assert params[0] > params[1] > params[2] == params[3]
    assert saved == sorted(saved, reverse=True) and len(set(saved)) == 4
