"""DCA-NAS's search loop (paper 004 Alg. 1) and its Lagrange multiplier (eq. 2 and 4)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fitnas.data import Dataset, create_dataset
from fitnas.spaces import SearchSpace, create_space
from fitnas.supernet.expected import ExpectedCost, SupernetError
from fitnas.supernet.lagrangian import Lagrangian
from fitnas.supernet.network import Supernet
from fitnas.supernet.search import DCANAS, EpochReport, SupernetConfig, resolve_lambda_on


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return create_dataset("digits", seed=0, subset=400)


def tiny(name: str, dataset: Dataset) -> SearchSpace:
    if name == "darts":
        return create_space("darts", input_shape=dataset.input_shape, classes=dataset.classes,
                            channels=4, layers=3)
    return create_space("nb201", input_shape=dataset.input_shape, classes=dataset.classes,
                        channels=4, cells_per_stage=1)


def alpha_steps(net: Supernet, expected: ExpectedCost, lagrangian: Lagrangian, steps: int
                ) -> tuple[list[float], list[float]]:
    """Alpha descends the constraint term alone; lambda ascends: (K, lambda) after each step."""
    opt = torch.optim.Adam(net.arch_parameters(), lr=0.05)
    ks, lambdas = [], []
    for _ in range(steps):
        opt.zero_grad()
        k = expected(net.probabilities())
        loss = lagrangian.penalty(k)
        loss.backward()
        opt.step()
        with torch.no_grad():
            k_now = float(expected(net.probabilities()))
        ks.append(k_now)
        lambdas.append(lagrangian.ascend(k_now))
    return ks, lambdas


@pytest.mark.parametrize("name", ["nb201", "darts"])
def test_lambda_rises_while_k_exceeds_the_target_and_falls_to_zero_when_slack(
        digits: Dataset, name: str) -> None:
    space = tiny(name, digits)
    net = Supernet(space, seed=0)
    expected = ExpectedCost(space, "params")
    start = float(expected(net.probabilities()).detach())
    target = expected.smallest() + 0.3 * (start - expected.smallest())
    lagrangian = Lagrangian(target, lr=0.5)
    ks, lambdas = alpha_steps(net, expected, lagrangian, 60)
    violated = [i for i, k in enumerate(ks) if k > target]
    assert violated[:3] == [0, 1, 2]
    for i in violated:  # lambda rises on every step the constraint is violated
        assert lambdas[i] > (lambdas[i - 1] if i else 0.0)
    assert ks[-1] < start  # the constraint pulled K(alpha) down ...
    assert min(ks) <= target * 1.05  # ... to the target
    # a slack constraint: lambda decays to 0 and stays there (complementary slackness)
    slack = Lagrangian(start * 10, lr=0.5, initial=1.0)
    _, lambdas = alpha_steps(net, expected, slack, 5)
    assert lambdas[0] < 1.0 and lambdas[-1] == 0.0 and lambdas[-2] == 0.0


def test_lagrangian_rejects_bad_numbers() -> None:
    with pytest.raises(SupernetError, match="target must be a positive number, got 0"):
        Lagrangian(0)
    with pytest.raises(SupernetError, match="lambda_lr must be a positive number"):
        Lagrangian(10, lr=float("nan"))
    with pytest.raises(SupernetError, match="lambda starts at a number >= 0"):
        Lagrangian(10, initial=-1)


@pytest.mark.parametrize("name", ["nb201", "darts"])
def test_fit_derives_a_valid_network_and_reports_every_epoch(digits: Dataset, name: str) -> None:
    space = tiny(name, digits)
    expected = ExpectedCost(space, "params")
    search = DCANAS(space, "params", expected.smallest() * 2,
                    SupernetConfig(epochs=2, batch_size=32, threads=1))
    seen: list[EpochReport] = []
    graph = search.fit(digits, seen.append)
    result = search.result
    assert result is not None
    assert [r.epoch for r in seen] == [1, 2] and result.history == seen
    assert space.validate(result.genotype) == result.genotype
    assert graph.total_params() == result.k_derived == expected.of_encoding(result.genotype)
    assert result.lambda_ >= 0 and result.k_alpha > 0
    assert set(result.to_dict(space)) >= {"genotype", "history", "k_alpha", "lambda"}


def test_the_constraint_makes_k_alpha_smaller_than_without_it(digits: Dataset) -> None:
    space = tiny("darts", digits)
    config = SupernetConfig(epochs=2, batch_size=32, threads=1, lambda_lr=0.5)
    free = DCANAS(space, "params", None, config)
    free.fit(digits)
    bound = DCANAS(space, "params", ExpectedCost(space).smallest() * 1.2, config)
    bound.fit(digits)
    assert bound.result is not None and free.result is not None
    assert bound.result.k_alpha < free.result.k_alpha
    assert free.result.lambda_ == 0.0 and bound.result.lambda_ > 0


@pytest.mark.parametrize(("name", "rule"), [("nb201", "derived"), ("darts", "expected")])
def test_auto_ascends_on_the_derived_network_where_the_derivation_may_keep_none(
        digits: Dataset, name: str, rule: str) -> None:
    """``auto``: nb201's argmax may keep ``none`` (the collapse the derived rule prevents),
    DARTS' derivation never does (the paper's rule). An explicit rule is kept."""
    space = tiny(name, digits)
    assert resolve_lambda_on("auto", space) == rule
    assert resolve_lambda_on("expected", space) == "expected"
    assert resolve_lambda_on("derived", space) == "derived"
    expected = ExpectedCost(space)
    search = DCANAS(space, "params", expected.smallest() * 2, SupernetConfig(threads=1))
    net = search.build()
    with torch.no_grad():
        on_derived = expected.of_encoding(net.genotype())
        on_alpha = float(expected(net.probabilities()))
    assert on_derived != pytest.approx(on_alpha)
    assert search._constrained(net) == pytest.approx(
        on_derived if rule == "derived" else on_alpha)


def test_bad_settings_are_one_line_errors(digits: Dataset) -> None:
    with pytest.raises(SupernetError, match="epochs must be an int >= 1, got 0"):
        SupernetConfig(epochs=0)
    with pytest.raises(SupernetError, match="arch_lr must be a positive number"):
        SupernetConfig(arch_lr=-1.0)
    with pytest.raises(SupernetError, match="constrains params, macs, peak, got 'latency'"):
        DCANAS(tiny("nb201", digits), "latency")
    with pytest.raises(SupernetError, match="lambda_on must be auto, derived, expected, got 'k'"):
        SupernetConfig(lambda_on="k")


@pytest.mark.parametrize("name", ["nb201", "darts"])
def test_a_genotype_over_the_limit_is_brought_under_it_at_the_least_loss(digits: Dataset,
                                                                         name: str) -> None:
    from fitnas.supernet.within import derive_within

    space = tiny(name, digits)
    expected = ExpectedCost(space, "params")
    net = Supernet(space, seed=0)
    with torch.no_grad():
        for alpha in net.arch_parameters():  # the costliest choices weigh most
            alpha.copy_(torch.randn(alpha.shape, generator=torch.Generator().manual_seed(1)))
    probabilities = {k: p.detach() for k, p in net.probabilities().items()}
    raw = net.genotype()
    cost = expected.of_encoding(raw)
    limit = expected.smallest() + 0.5 * (cost - expected.smallest())
    fixed, replaced = derive_within(expected, raw, probabilities, limit)
    assert replaced >= 1 and expected.of_encoding(fixed) <= limit
    assert space.validate(fixed) == fixed
    if name == "darts":  # the kept edges stay; only operations change
        assert [[s for _, s in cell] for cell in fixed] == [[s for _, s in cell] for cell in raw]
    # already under the limit: unchanged
    assert derive_within(expected, raw, probabilities, cost) == (raw, 0)
    # a limit only the cheapest network meets
    fixed, _ = derive_within(expected, raw, probabilities, expected.smallest())
    assert expected.of_encoding(fixed) == expected.smallest()


def test_fit_with_a_limit_reports_what_it_replaced(digits: Dataset) -> None:
    space = tiny("darts", digits)
    expected = ExpectedCost(space, "params")
    search = DCANAS(space, "params", None, SupernetConfig(epochs=1, batch_size=32, threads=1),
                    limit=expected.smallest())
    search.fit(digits)
    result = search.result
    assert result is not None and result.k_derived == expected.smallest()
    assert result.k_searched is not None and result.k_searched >= result.k_derived
    assert (result.replaced > 0) == (result.k_searched > result.k_derived)


class _Killed(Exception):
    pass


def test_a_search_continued_from_its_checkpoint_ends_where_an_uninterrupted_one_does(
        digits: Dataset, tmp_path: Path) -> None:
    space = tiny("nb201", digits)
    config = SupernetConfig(epochs=3, batch_size=32, threads=1)
    target = ExpectedCost(space).at_uniform() * 0.8
    whole = DCANAS(space, "params", target, config)
    whole.fit(digits)
    checkpoint = tmp_path / "supernet-0.pt"

    def kill_after_two(report: EpochReport) -> None:
        if report.epoch == 2:
            raise _Killed

    with pytest.raises(_Killed):
        DCANAS(space, "params", target, config).fit(digits, kill_after_two, checkpoint)
    assert checkpoint.exists()
    continued = DCANAS(space, "params", target, config)
    continued.fit(digits, checkpoint=checkpoint)
    assert continued.resumed_after == 2
    assert whole.result is not None and continued.result is not None
    assert continued.result.resumed_after == 2 and len(continued.result.history) == 3
    for a, b in zip(whole.result.history, continued.result.history):
        assert (a.k_alpha, a.k_derived, a.lambda_, a.genotype, a.train_loss) == \
               (b.k_alpha, b.k_derived, b.lambda_, b.genotype, b.train_loss)
    other = DCANAS(space, "params", target * 0.9, config)  # another search: starts over
    other.fit(digits, checkpoint=checkpoint)
    assert other.resumed_after == 0
