"""``reinforce``: MONAS (paper 003 section 3; Hsu et al. 2018), an RNN policy that writes
architectures token by token, trained by REINFORCE on rewards that mix accuracy and energy.

The policy is :class:`~fitnas.predictors.policy.TokenPolicy` (an LSTM or GRU "robot network"
over the space's token grammar, ``SearchSpace.next_tokens``, so every sample decodes). Each
``ask`` samples a sequence and proposes its encoding; each ``tell`` turns the result into a
reward; after every ``batch`` rewards the policy takes one REINFORCE step (moving-average
baseline, entropy bonus, clipped gradient, Adam; see the policy's docstring).

Rewards (paper 003 eq. 1-3), ``reward=``:

* ``mixed``, ``alpha`` in [0, 1]: ``alpha * accuracy - (1 - alpha) * energy*`` (eq. 1).
  ``alpha = 1`` (the default) is plain REINFORCE NAS (Zoph & Le 2017) and needs no energy;
* ``power``, ``budget_mw``: the accuracy when the network's peak power is at most
  ``budget_mw``, else 0 (eq. 2);
* ``accuracy``, ``threshold``: ``1 - energy*`` when the accuracy is at least ``threshold``,
  else 0 (eq. 3).

``energy*`` is the energy per inference normalized to [0, 1] by bounds fixed before the first
reward: the lowest and highest energy of ``bound_samples`` networks drawn from the grammar
(by the Study's feasibility oracle, i.e. the device model: no training), never a running
min/max, which would move the reward under the policy. Accuracy is a fraction; a value above 1
is read as a percentage (as the table evaluator does). Energy and peak power come from each
result's costs, or from the oracle when a result lacks them.

Hard limits stay hard: a proposal over a limit is recorded INFEASIBLE by the Study before any
training and its reward is 0, as is a FAILED one's, so the policy learns to stay feasible
(paper 003 Fig. 1).

Two mechanisms beyond the paper make a few hundred evaluations enough. Plain REINFORCE sees
each result once, in one of only ``evaluations / batch`` updates (25 in a 200-evaluation
search), and under a hard limit its strongest signal is the 0 of infeasible proposals, which
pushes the policy toward small networks, away from the limit where the accurate ones are: over
the NAS-Bench-201 grid (BENCHMARKS.md ``nb201-grid``, 15 cells, 20 seeds) it was worse than
random search in 7 to 11 cells at N = 25, 50, 100 and 200 evaluations.

* *the risk-seeking baseline* (``baseline=quantile``, the default; Petersen et al., "Deep
  Symbolic Regression", ICLR 2021, eq. 3): the baseline of a batch is its own
  ``1 - quantile`` quantile (the third best of 8 with ``quantile = 0.25``) and only the
  results above it learn, with weight ``R - cut``: the policy is aimed at its best samples,
  not its mean, as a search keeps its best network, not its average one; an infeasible 0 is
  never above the cut unless most of the batch is infeasible, so it no longer drags the policy
  away from the limit, while a feasible minority still learns (paper 003 Fig. 1).
  ``baseline=moving`` is the moving average of paper 003 and Zoph & Le alone;
* *self-imitation* (Oh et al., "Self-Imitation Learning", ICML 2018, eq. 2-3): the ``elite``
  best results told so far (one batch by default; 0 turns it off) join every update with the
  weight ``max(R - b, 0)``, ``b`` the moving-average baseline (kept in both modes), so the
  policy keeps learning from the networks that did better than it expects, never against
  them.

With both, the grid's median regret at N = 100 and 200 fell from 1.68 and 0.56 (self-imitation
alone) to 1.07 and 0.44, worse than random in no cell from N = 100 on (plain REINFORCE: 1.60 and
1.13).

Other fitnas choices, general to every space:

* a sample whose encoding was already told, or is still being evaluated, is not proposed
  again: the policy samples again, up to ``max_resamples`` times, then proposes the repeat.
  Repeats do not join the batch: learning from free copies of the networks the policy already
  favours collapsed it onto a few of them (half the proposals repeats after 60 on nb201);
* asynchronous: with several workers the policy keeps proposing while results are out, and a
  result that arrives after the policy has moved on is *accepted as is* (no importance
  correction): its log-probability is recomputed under the current weights, the on-policy
  approximation asynchronous REINFORCE controllers use (Zoph & Le section 3.3);
* deterministic for a seed (the weights are initialized from it, and a seeded generator draws
  every sample), so a run resumes by replay like every strategy.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..predictors.policy import CELLS, Episode, TokenPolicy
from ..spaces import Encoding, SearchSpace
from ._base import Candidate, Strategy, StrategyError, TrialResult, TrialState, register_strategy

__all__ = ["BASELINES", "REWARDS", "Reinforce"]

#: The rewards of paper 003 eq. 1-3.
REWARDS = ("mixed", "power", "accuracy")
#: Sequences the policy writes side by side, after a first one, while it looks for one not
#: proposed before.
_DRAWS = 8
#: What each batch's rewards are compared with (see the module docstring).
BASELINES = ("moving", "quantile")


def _number(name: str, value: Any, low: float, high: float = math.inf,
            low_open: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) \
        and (value > low if low_open else value >= low) and value <= high
    if not ok:
        bound = f"> {low:g}" if low_open else f">= {low:g}"
        top = f" and <= {high:g}" if high != math.inf else ""
        raise StrategyError(f"reinforce {name} must be a number {bound}{top}, got {value!r}")
    return float(value)


def _count(name: str, value: Any, low: int = 1, high: int = 4096) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise StrategyError(f"reinforce {name} must be an int from {low} to {high}, got "
                            f"{value!r}")
    return value


@register_strategy
class Reinforce(Strategy):
    """MONAS' REINFORCE policy search; see the module docstring.

    Args:
        space, seed, budget: the search space, the seed and the planned evaluations.
        reward: ``mixed``, ``power`` or ``accuracy`` (paper 003 eq. 1-3).
        alpha: the weight of accuracy in the mixed reward, in [0, 1] (default 1: accuracy).
        budget_mw: the peak-power budget of the ``power`` reward, in mW (required there).
        threshold: the accuracy the ``accuracy`` reward asks for, in [0, 1] (required there).
        cell, embedding, hidden: the policy's recurrent cell (``lstm``, ``gru``) and sizes.
        batch: rewards per policy update (8).
        lr: Adam's learning rate (0.005).
        entropy_weight: the entropy bonus (0.001).
        baseline_decay: the moving-average baseline's decay (0.9).
        clip: the largest gradient norm (1.0).
        bound_samples: networks drawn to fix the energy bounds (256).
        max_resamples: samples drawn per proposal before a repeat is proposed anyway (50).
        baseline: ``quantile`` (risk-seeking, the default) or ``moving`` (the moving average
            alone: paper 003's and Zoph & Le's form).
        quantile: the share of each batch that learns with ``baseline=quantile`` (0.25).
        elite: best results replayed by self-imitation in every update (default ``batch``;
            0: none).
    """

    name = "reinforce"
    summary = "MONAS: an RNN policy trained by REINFORCE on accuracy, energy and power rewards"

    def __init__(self, space: SearchSpace, seed: int = 0, budget: int | None = None,
                 reward: str = "mixed", alpha: float = 1.0, budget_mw: float | None = None,
                 threshold: float | None = None, cell: str = "lstm", embedding: int = 64,
                 hidden: int = 64, batch: int = 8, lr: float = 0.005,
                 entropy_weight: float = 0.001, baseline_decay: float = 0.9, clip: float = 1.0,
                 bound_samples: int = 256, max_resamples: int = 50,
                 baseline: str = "quantile", quantile: float = 0.25,
                 elite: int | None = None) -> None:
        super().__init__(space, seed, budget)
        if reward not in REWARDS:
            raise StrategyError(f"unknown reinforce reward {reward!r}; accepted: "
                                f"{', '.join(REWARDS)}")
        if cell not in CELLS:
            raise StrategyError(f"unknown reinforce cell {cell!r}; accepted: {', '.join(CELLS)}")
        self.reward = reward
        self.alpha = _number("alpha", alpha, 0.0, 1.0)
        if reward == "power" and budget_mw is None:
            raise StrategyError("reinforce reward=power needs budget_mw, the peak-power budget "
                                "in mW (e.g. reinforce:reward=power,budget_mw=150)")
        if reward == "accuracy" and threshold is None:
            raise StrategyError("reinforce reward=accuracy needs threshold, the accuracy to "
                                "reach in [0, 1] (e.g. reinforce:reward=accuracy,threshold=0.9)")
        self.budget_mw = None if budget_mw is None else _number("budget_mw", budget_mw, 0.0,
                                                                low_open=True)
        self.threshold = None if threshold is None else _number("threshold", threshold, 0.0, 1.0)
        self.cell = cell
        self.embedding = _count("embedding", embedding)
        self.hidden = _count("hidden", hidden)
        self.batch = _count("batch", batch)
        self.lr = _number("lr", lr, 0.0, low_open=True)
        self.entropy_weight = _number("entropy_weight", entropy_weight, 0.0)
        self.baseline_decay = _number("baseline_decay", baseline_decay, 0.0, 1.0)
        self.clip = _number("clip", clip, 0.0, low_open=True)
        self.bound_samples = _count("bound_samples", bound_samples, 2, 10**6)
        self.max_resamples = _count("max_resamples", max_resamples, 1, 10**6)
        if baseline not in BASELINES:
            raise StrategyError(f"unknown reinforce baseline {baseline!r}; accepted: "
                                f"{', '.join(BASELINES)}")
        self.baseline = baseline
        self.quantile = _number("quantile", quantile, 0.0, 1.0, low_open=True)
        self.elite = self.batch if elite is None else _count("elite", elite, 0)
        self._best: list[tuple[float, int, Episode]] = []
        self._told = 0
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.policy = TokenPolicy(space.vocab_size, self.embedding, self.hidden, cell)
        self._generator = torch.Generator().manual_seed(seed)
        self._optimizer = torch.optim.Adam(self.policy.parameters(), lr=self.lr)
        self._pending: dict[Encoding, list[Episode]] = {}
        self._known: dict[Encoding, float] = {}
        self._episodes: list[tuple[Episode, float]] = []
        self._baseline: float | None = None
        self._bounds: tuple[float, float] | None = None
        self.updates = 0

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed, "budget": self.budget, "reward": self.reward,
                "alpha": self.alpha, "budget_mw": self.budget_mw, "threshold": self.threshold,
                "cell": self.cell, "embedding": self.embedding, "hidden": self.hidden,
                "batch": self.batch, "lr": self.lr, "entropy_weight": self.entropy_weight,
                "baseline_decay": self.baseline_decay, "clip": self.clip,
                "bound_samples": self.bound_samples, "max_resamples": self.max_resamples,
                "baseline": self.baseline, "quantile": self.quantile, "elite": self.elite}

    @classmethod
    def required_costs(cls, options: Mapping[str, Any]) -> tuple[str, ...]:
        reward = options.get("reward", "mixed")
        if reward == "power":
            return ("peak_power_mw",)
        if reward == "accuracy" or float(options.get("alpha", 1.0)) < 1.0:
            return ("energy_uj",)
        return ()

    @property
    def energy_bounds(self) -> tuple[float, float] | None:
        """The (lowest, highest) energy that normalizes ``energy*`` (``None`` until needed)."""
        return self._bounds

    # -------------------------------------------------------------------- ask
    def _grammar(self, prefix: Sequence[int]) -> tuple[Sequence[int], bool]:
        return self.space.next_tokens(prefix)

    def ask(self) -> Candidate:
        drawn, new = 0, False
        while not new and drawn < self.max_resamples:
            count = min(1 if drawn == 0 else _DRAWS, self.max_resamples - drawn)
            drawn += count
            for episode in self.policy.sample_many(self._grammar, self._generator, count):
                encoding = self.space.validate(self.space.from_tokens(episode.tokens))
                if encoding not in self._known and encoding not in self._pending:
                    new = True
                    break
        self._pending.setdefault(encoding, []).append(episode)
        return Candidate(encoding, info={"strategy": "reinforce", "reward": self.reward})

    # ------------------------------------------------------------------- tell
    def tell(self, result: TrialResult) -> None:
        encoding = self.space.validate(result.encoding)  # a stored result holds JSON lists
        waiting = self._pending.get(encoding)
        if not waiting:
            raise StrategyError(f"reinforce was told about an encoding it did not propose or "
                                f"was already told: {result.encoding!r}")
        episode = waiting.pop(0)
        if not waiting:
            del self._pending[encoding]
        reward = self.reward_of(result)
        self._known[encoding] = reward
        self._learn(episode, reward)

    def reward_of(self, result: TrialResult) -> float:
        """Paper 003 eq. 1-3 for one result; 0 for an INFEASIBLE or FAILED one."""
        if result.state != TrialState.COMPLETE or result.accuracy is None:
            return 0.0
        accuracy = result.accuracy / 100.0 if result.accuracy > 1.0 else result.accuracy
        if self.reward == "mixed":
            if self.alpha == 1.0:
                return accuracy
            return self.alpha * accuracy - (1.0 - self.alpha) * self._energy_star(result)
        if self.reward == "power":
            assert self.budget_mw is not None
            return accuracy if self._cost(result, "peak_power_mw") <= self.budget_mw else 0.0
        assert self.threshold is not None
        return 1.0 - self._energy_star(result) if accuracy >= self.threshold else 0.0

    def _cost(self, result: TrialResult, key: str) -> float:
        if key in result.costs:
            return float(result.costs[key])
        return self._oracle_cost(result.encoding, key)

    def _oracle_cost(self, encoding: Encoding, key: str) -> float:
        """Cost ``key`` of ``encoding`` by the Study's oracle (its device model)."""
        verdict = self.verdict(encoding)
        if verdict is None or key not in verdict.costs:
            raise StrategyError(f"reinforce reward={self.reward} needs each network's {key}: "
                                "run it in a Study whose device model has power figures "
                                "(--device NAME)")
        return float(verdict.costs[key])

    def _energy_star(self, result: TrialResult) -> float:
        low, high = self._energy_range()
        energy = self._cost(result, "energy_uj")
        return min(1.0, max(0.0, (energy - low) / (high - low)))

    def _energy_range(self) -> tuple[float, float]:
        if self._bounds is None:
            rng = random.Random(self.seed * 104_729 + 7)
            energies = [self._oracle_cost(self.space.from_tokens(self.space.sample_tokens(rng)),
                                          "energy_uj") for _ in range(self.bound_samples)]
            low, high = min(energies), max(energies)
            self._bounds = (low, high if high > low else low + 1e-9)
        return self._bounds

    # ---------------------------------------------------------------- learning
    def _learn(self, episode: Episode, reward: float) -> None:
        self._episodes.append((episode, reward))
        if self.elite:
            self._best.append((reward, self._told, episode))
            self._best.sort(key=lambda kept: (-kept[0], kept[1]))  # ties: the earlier first
            del self._best[self.elite:]
        self._told += 1
        if len(self._episodes) >= self.batch:
            self._update()

    def _update(self) -> None:
        """One REINFORCE step on the batch (and the elite); see the module docstring."""
        rewards = [r for _, r in self._episodes]
        baseline = self._baseline if self._baseline is not None else sum(rewards) / len(rewards)
        if self.baseline == "quantile":  # risk-seeking: only the top of the batch learns
            ordered = sorted(rewards, reverse=True)
            cut = ordered[min(math.ceil(self.quantile * len(ordered)), len(ordered) - 1)]
            weights = [r - cut if r > cut else 0.0 for r in rewards]
        else:
            weights = [r - baseline for r in rewards]
        episodes = [e for e, _ in self._episodes]
        bonus = [self.entropy_weight] * len(episodes)
        for reward, _, episode in self._best:  # self-imitation: better than expected only
            if reward > baseline:
                episodes.append(episode)
                weights.append(reward - baseline)
                bonus.append(0.0)
        log_probs, entropies = self.policy.log_probs_and_entropies(episodes)
        loss = -(torch.tensor(weights) * log_probs
                 + torch.tensor(bonus) * entropies).sum() / len(self._episodes)
        self._optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.clip)
        self._optimizer.step()
        for reward in rewards:
            baseline = self.baseline_decay * baseline + (1.0 - self.baseline_decay) * reward
        self._baseline = baseline
        self._episodes.clear()
        self.updates += 1
