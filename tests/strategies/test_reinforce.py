"""``reinforce`` (MONAS, paper 003 section 3): its rewards, that it learns, and resume."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path
from typing import Any

import pytest

from fitnas.constraints import Constraints, Limits
from fitnas.devices import load_device
from fitnas.evaluators import TableEvaluator
from fitnas.spaces.nb201 import NB201Space
from fitnas.states import TrialState
from fitnas.strategies import StrategyError, TrialResult, Verdict, create_strategy
from fitnas.strategies.reinforce import Reinforce
from fitnas.study import Study

NB201 = NB201Space()
#: a synthetic accuracy: 3x3 convolutions score most, then 1x1, then the rest
SCORE = {"nor_conv_3x3": 1.0, "nor_conv_1x1": 0.6, "avg_pool_3x3": 0.2, "skip_connect": 0.3,
         "none": 0.0}


def accuracy(encoding: Any) -> float:
    return sum(SCORE[op] for op in NB201.validate(encoding)) / 6


def result(number: int, encoding: Any, state: TrialState = TrialState.COMPLETE,
           acc: float | None = None, **costs: float) -> TrialResult:
    return TrialResult(number, encoding, state, acc, costs, {})


def energy_oracle(encoding: Any) -> Verdict:
    """A stand-in device: energy grows with the convolutions, 1..11 uJ."""
    ops = NB201.validate(encoding)
    energy = 1.0 + sum(2.0 if op == "nor_conv_3x3" else 1.0 if op == "nor_conv_1x1" else 0.0
                       for op in ops) * (10.0 / 12.0)
    return Verdict(True, {"energy_uj": energy, "peak_power_mw": 100.0 + energy}, {})


def strategy(**options: Any) -> Reinforce:
    made = create_strategy("reinforce", NB201, **options)
    assert isinstance(made, Reinforce)
    return made


def test_mixed_reward_is_paper_003_eq_1_with_bounds_over_the_space() -> None:
    rl = strategy(reward="mixed", alpha=0.25, bound_samples=400)
    rl.set_oracle(energy_oracle)
    enc = rl.ask().encoding
    r = rl.reward_of(result(0, enc, acc=0.8, energy_uj=6.0))
    assert rl.energy_bounds is not None
    low, high = rl.energy_bounds  # fixed by networks drawn from the grammar, before any reward
    assert 1.0 <= low < 3.0 and 9.0 < high <= 11.0
    assert r == pytest.approx(0.25 * 0.8 - 0.75 * (6.0 - low) / (high - low))
    # a percentage is read as one; energies outside the bounds are clipped to [0, 1]
    assert rl.reward_of(result(0, enc, acc=80.0, energy_uj=0.5)) == pytest.approx(0.25 * 0.8)
    assert rl.reward_of(result(0, enc, acc=0.8, energy_uj=50.0)) == pytest.approx(0.2 - 0.75)
    # the energy comes from the oracle when the result does not carry it
    expected = 0.25 * 0.5 - 0.75 * (energy_oracle(enc).costs["energy_uj"] - low) / (high - low)
    assert rl.reward_of(result(0, enc, acc=0.5)) == pytest.approx(expected)


def test_power_and_accuracy_rewards_are_eq_2_and_3() -> None:
    power = strategy(reward="power", budget_mw=105.0)
    power.set_oracle(energy_oracle)
    enc = power.ask().encoding
    assert power.reward_of(result(0, enc, acc=0.7, peak_power_mw=105.0)) == 0.7
    assert power.reward_of(result(0, enc, acc=0.7, peak_power_mw=105.1)) == 0.0
    acc = strategy(reward="accuracy", threshold=0.6, bound_samples=400)
    acc.set_oracle(energy_oracle)
    enc = acc.ask().encoding
    assert acc.reward_of(result(0, enc, acc=0.59, energy_uj=1.0)) == 0.0
    assert acc.reward_of(result(0, enc, acc=0.6, energy_uj=1.0)) >= 0.8  # sets the bounds
    assert acc.energy_bounds is not None
    low, high = acc.energy_bounds
    assert acc.reward_of(result(0, enc, acc=0.6, energy_uj=(low + high) / 2)) == \
        pytest.approx(0.5)


def test_infeasible_and_failed_proposals_are_rewarded_zero() -> None:
    rl = strategy()
    enc = rl.ask().encoding
    for state in (TrialState.INFEASIBLE, TrialState.FAILED):
        assert rl.reward_of(result(0, enc, state, None)) == 0.0
    assert rl.reward_of(result(0, enc, acc=0.9)) == 0.9  # alpha 1: the accuracy


@pytest.mark.parametrize(("options", "message"), [
    ({"reward": "speed"}, "unknown reinforce reward 'speed'; accepted: mixed, power, accuracy"),
    ({"alpha": 1.5}, "alpha must be a number >= 0 and <= 1, got 1.5"),
    ({"alpha": -0.1}, "alpha must be a number >= 0 and <= 1"),
    ({"reward": "power"}, "needs budget_mw"),
    ({"reward": "power", "budget_mw": 0}, "budget_mw must be a number > 0"),
    ({"reward": "accuracy"}, "needs threshold"),
    ({"reward": "accuracy", "threshold": 2}, "threshold must be a number >= 0 and <= 1"),
    ({"cell": "rnn"}, "unknown reinforce cell 'rnn'; accepted: lstm, gru"),
    ({"batch": 0}, "batch must be an int from 1 to 4096"),
    ({"hidden": 10**6}, "hidden must be an int from 1 to 4096, got 1000000"),
    ({"lr": "fast"}, "lr must be a number > 0"),
    ({"baseline": "mean"}, "unknown reinforce baseline 'mean'; accepted: moving, quantile"),
    ({"quantile": 0}, "quantile must be a number > 0 and <= 1, got 0"),
    ({"elite": -1}, "elite must be an int from 0 to 4096, got -1"),
])
def test_bad_options_are_one_line(options: dict[str, Any], message: str) -> None:
    with pytest.raises(StrategyError, match=message.replace("(", r"\(")):
        strategy(**options)


def test_an_energy_reward_without_energy_is_one_clear_error() -> None:
    rl = strategy(reward="mixed", alpha=0.5)
    enc = rl.ask().encoding
    with pytest.raises(StrategyError, match="needs each network's energy_uj"):
        rl.tell(result(0, enc, acc=0.5))
    assert Reinforce.required_costs({"reward": "mixed", "alpha": 0.5}) == ("energy_uj",)
    assert Reinforce.required_costs({"reward": "power", "budget_mw": 1}) == ("peak_power_mw",)
    assert Reinforce.required_costs({}) == ()


def run(rl: Reinforce, count: int) -> list[float]:
    """Ask and tell ``count`` times on the synthetic accuracy; the rewards in order."""
    rewards = []
    for number in range(count):
        enc = rl.ask().encoding
        res = result(number, enc, acc=accuracy(enc))
        rewards.append(rl.reward_of(res))
        rl.tell(res)
    return rewards


@pytest.mark.slow
def test_the_policy_learns_to_propose_more_accurate_networks() -> None:
    rewards = run(strategy(seed=1, batch=4, lr=0.02), 240)
    first, last = statistics.mean(rewards[:40]), statistics.mean(rewards[-40:])
    assert last > first + 0.1, (first, last)


@pytest.mark.slow
def test_the_policy_learns_to_stay_within_a_limit() -> None:
    """Paper 003 Fig. 1 in miniature: proposals over a limit earn 0, and their share falls."""
    def feasible(enc: Any) -> bool:  # about a fifth of the space: at most one convolution
        return sum(op.startswith("nor_conv") for op in NB201.validate(enc)) <= 1

    rl = strategy(seed=2, batch=4, lr=0.02)
    proposals = []
    for number in range(300):
        enc = rl.ask().encoding
        ok = feasible(enc)
        proposals.append(ok)
        rl.tell(result(number, enc, TrialState.COMPLETE if ok else TrialState.INFEASIBLE,
                       accuracy(enc) if ok else None))
    # the first batch comes from the untrained policy (random sampling's share: 0.23)
    start, end = statistics.mean(proposals[:4]), statistics.mean(proposals[-50:])
    assert start <= 0.5 and end >= 0.9, (start, end)


def test_self_imitation_replays_the_best_results_told() -> None:
    """The ``elite`` best results so far join every update (Oh et al. 2018): after a batch of
    failures the best network of the first batch is likelier under the policy than under
    plain REINFORCE's from the same seed."""
    def run_two_batches(elite: int | None) -> Reinforce:
        rl = strategy(seed=4, batch=4, lr=0.05, elite=elite)
        for number in range(4):
            enc = rl.ask().encoding
            rl.tell(result(number, enc, acc=accuracy(enc)))
        for number in range(4, 8):  # a batch of failures: every reward 0
            rl.tell(result(number, rl.ask().encoding, TrialState.FAILED))
        return rl

    rl, plain = run_two_batches(None), run_two_batches(0)
    assert rl.elite == 4 and plain.elite == 0 and not plain._best  # one batch by default
    best = max(rl._best, key=lambda kept: kept[0])[2]  # the best of the first batch
    with_elite = rl.policy.log_prob_and_entropy(best)[0].item()
    without = plain.policy.log_prob_and_entropy(best)[0].item()
    assert with_elite > without, (with_elite, without)


@pytest.mark.parametrize("baseline", ["moving", "quantile"])
def test_both_baselines_learn(baseline: str) -> None:
    rewards = run(strategy(seed=1, batch=4, baseline=baseline), 160)
    assert statistics.mean(rewards[-40:]) > statistics.mean(rewards[:20]) + 0.1


def test_repeats_are_redrawn() -> None:
    rl = strategy(seed=3)
    asked = []
    for number in range(60):
        enc = rl.ask().encoding
        asked.append(enc)
        rl.tell(result(number, enc, acc=accuracy(enc)))
    assert len(set(asked)) == 60  # nb201 has 15,625 networks; repeats are redrawn
    assert rl.updates == 60 // 8


def nb201_table(tmp_path: Path) -> TableEvaluator:
    """The synthetic accuracy of every nb201 network, as a table."""
    path = tmp_path / "synthetic.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["cellstr", "acc"])
        for enc in NB201.all_encodings():
            writer.writerow([NB201.format(enc), 100 * accuracy(enc)])
    return TableEvaluator(path, "acc", key_fn=NB201.format)


def study(directory: Path, table: TableEvaluator, resume: bool = False) -> Study:
    constraints = Constraints(Limits(), device=load_device("host").compute)
    rl = create_strategy("reinforce", NB201, seed=5, reward="mixed", alpha=0.5, batch=3,
                         bound_samples=32)
    return Study(NB201, rl, table, constraints, directory, resume=resume)


def test_a_resumed_study_replays_the_policy(tmp_path: Path) -> None:
    table = nb201_table(tmp_path)
    first = study(tmp_path / "a", table)
    first.optimize(10)
    first.storage.close()
    resumed = study(tmp_path / "a", table, resume=True)
    resumed.optimize(20)
    straight = study(tmp_path / "b", table)
    straight.optimize(20)

    def done(s: Study) -> list[tuple[Any, Any]]:
        return [(t.encoding, t.accuracy) for t in s.trials((TrialState.COMPLETE,))]

    assert done(resumed) == done(straight) and len(done(straight)) == 20
    assert all("energy_uj" in t.costs for t in straight.trials())


def test_a_real_search_with_the_mixed_reward_shows_the_accuracy_energy_front(
        tmp_path: Path) -> None:
    """Issue 15's check: ``reinforce:reward=mixed,alpha=0.5`` on digits for the STM32F746
    board completes, and the run's front (pareto.csv, summary.json with its hypervolume, the
    report) is over accuracy and energy as well as the board's limits."""
    from fitnas.cli import main

    out = tmp_path / "run"
    assert main(["search", "--data", "digits", "--space", "chain", "--epochs", "1", "--seed",
                 "0", "--budget", "4", "--device", "stm32f746-disco", "--strategy",
                 "reinforce:reward=mixed,alpha=0.5,batch=2,bound_samples=16", "--out",
                 str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["COMPLETE"] == 4
    assert summary["objectives"][0] == "accuracy" and summary["objectives"][-1] == "energy_uj"
    hv = summary["hypervolume"]
    assert hv["objectives"] == summary["objectives"] and hv["value"] > 0
    assert hv["reference"]["energy_uj"] > 0
    with (out / "pareto.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows and all(float(r["energy_uj"]) > 0 for r in rows)
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text()
    assert "energy_uj" in page.split("Objectives: accuracy, ")[1].split("</p>")[0]
