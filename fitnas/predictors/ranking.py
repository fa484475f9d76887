"""The relative ranking controller of MemNAS (paper 000 section 3.2, Fig. 2, eq. 3) and the
single-network GRU regressor it is compared with (paper 000 section 4.3, Table 4).

:class:`RankingController` (the "network-cross ranking" controller):

1. every candidate's tokens (``SearchSpace.to_tokens``) go through an embedding (size 100)
   and the *encoder GRU* (hidden 100); its last hidden state is the network feature ``f_n``
   (``fitnas.predictors._sequences``);
2. the features of the K candidates ranked together form one sequence read by the *ranking
   GRU* (hidden 100). fitnas makes it bidirectional: a forward GRU lets the first candidate
   see no other and the last see all, whereas the point of the controller is that each score
   depends on the whole set ("extract the correlation between the candidate architectures");
   read both ways, every output has seen every candidate;
3. a linear head on ``[f_n, ranking output]`` gives one score per candidate, and a linear head
   on ``f_n`` predicts the candidate's parameter memory and peak activation memory
   (``log1p`` of the bytes, standardized over the training samples).

Loss, eq. 3's structure ``L_CE + (lambda_beta / lambda_alpha) (L_MSE(P) + L_MSE(M))``: the
cross-entropy is ListNet's (Cao et al. 2007), between the softmax of the target scores and the
softmax of the predicted scores over each list of candidates ranked together; the paper names
a cross-entropy loss but not its targets, and a listwise one is what makes the controller rank
rather than regress. The targets (paper 000's eq. 4 merit, ``fitnas.predictors.merit``, or any
score) are standardized within each training group, since merits relative to different
parents are not comparable, and multiplied by ``sharpness`` before the softmax so that the loss
concentrates on the top of each list. ``memory_weight`` is ``lambda_beta / lambda_alpha``
(1 for the paper's 5:5).

Training treats a group as a set: each epoch shuffles the order of its candidates and splits
it into random subsets of at most ``set_size`` (16) candidates, the lists that eq. 3 is applied
to; up to ``lists_per_step`` (32) lists make one Adam step, so up to 512 samples take one step
per epoch. Prediction ranks the distinct candidates, in the canonical order (below) shuffled
by a generator seeded with ``seed``, in consecutive lists of ``set_size`` as in training
(rather than as one sequence of the whole set, which would differ from what the ranking GRU
was trained on); the scores of ``predict_orders`` (4) such orders are averaged, so each
candidate is compared with several sets of companions.

Prediction, both classes: permuting the candidates permutes the scores exactly, and duplicates
get the same score, because each distinct candidate is scored once, in one canonical order
(sorted by length, then tokens) whatever order and repetitions it came in, and the scores are
mapped back. Scoring the input as given does not have these properties on a CPU, even for the
regressor that scores each candidate on its own: a float result depends on where the candidate
sits in the batch. With torch 2.14.1 (AVX-512), for one, ``torch.sigmoid`` computes the last
``numel % 32`` elements of a tensor with its scalar loop and the rest with its vector loop,
which differ in the last bit for a few percent of inputs, so a candidate repeated at the end of
a batch of 45 (hidden 100) scored differently from its first occurrence; matrix products
likewise round differently for one row than for a block of rows. What remains: the score of a
candidate depends on the *set* of distinct candidates given with it, for the controller by
design (the ranking GRU reads its companions) and for the regressor only by float rounding
(of the order of 1e-7).

The defaults (``set_size``, ``lists_per_step``, ``sharpness`` 4) were chosen on the nb201
protocol of ``benchmarks/ranking_controller.py``: lists of 32, two or four steps per epoch,
120 epochs or a learning rate of 1e-2 ranked no better there, and one step of short lists is
the fastest (on a CPU the cost of a GRU grows with its sequential steps, hardly with the batch).

Speed (one thread, this project's 2-core test machine): ``fit`` costs one encoder pass over
every sample and one ranking pass of ``set_size`` steps per epoch; 300 nb201 samples (6 tokens)
for 60 epochs take about 2 s, and the time grows with the tokens per candidate. ``predict``
folds the embedding into the GRU's input gates (``SequenceEncoder.encode``): 2,500 candidates
of 40 tokens take about half a second.

:class:`GRURegressor` is Table 4's "Single-RNN": the same embedding and encoder GRU and a linear
head that regresses each candidate's score, standardized per group as for the controller, on
its own (mean squared error; on the nb201 benchmark raw merits ranked no better). Both
classes share the interface ``fit(groups) -> self`` and ``predict(candidates) -> scores``
(higher is better), are deterministic for a seed and data (``_sequences.deterministic``), and
raise ``ValueError`` for a token outside ``0..vocab_size - 1``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ._sequences import (
    Sample,
    SequenceEncoder,
    check_candidates,
    check_groups,
    deterministic,
    pad_tokens,
    standardize,
)

__all__ = ["GRURegressor", "RankingController", "Sample"]


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _non_negative(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


class _GRUPredictor:
    """What both predictors share: arguments, data preparation, ``predict``'s checks."""

    def __init__(self, vocab_size: int, embedding: int, hidden: int, epochs: int, lr: float,
                 seed: int):
        self.vocab_size = _positive_int(vocab_size, "vocab_size")
        self.embedding = _positive_int(embedding, "embedding")
        self.hidden = _positive_int(hidden, "hidden")
        self.epochs = _positive_int(epochs, "epochs")
        if _non_negative(lr, "lr") == 0:
            raise ValueError(f"lr must be > 0, got {lr!r}")
        self.lr = float(lr)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an int, got {seed!r}")
        self.seed = seed
        #: Mean training loss of each epoch of the last ``fit``.
        self.loss_history: list[float] = []

    def get_config(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size, "embedding": self.embedding, "hidden": self.hidden,
                "epochs": self.epochs, "lr": self.lr, "seed": self.seed}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def _prepare(self, groups: Sequence[Sequence[Sample]]
                 ) -> tuple[list[Sample], list[list[int]], Tensor]:
        """The samples, each group's sample indices and the per-group standardized targets."""
        checked = check_groups(groups, self.vocab_size)
        samples: list[Sample] = []
        index: list[list[int]] = []
        targets: list[float] = []
        for group in checked:
            index.append(list(range(len(samples), len(samples) + len(group))))
            samples.extend(group)
            targets.extend(standardize([float(s.score) for s in group]))
        return samples, index, torch.tensor(targets, dtype=torch.float32)

    def _epochs(self, epochs: int | None) -> int:
        return self.epochs if epochs is None else _positive_int(epochs, "epochs")

    def _unfitted(self) -> ValueError:
        return ValueError(f"{type(self).__name__} is not fitted: call fit(groups) before predict")


def _canonical(seqs: Sequence[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """The distinct sequences of ``seqs`` sorted by length, then tokens: the one order in which
    ``predict`` scores them, whatever order and repetitions they were given in (see the module
    docstring, "Prediction")."""
    return sorted(set(seqs), key=lambda s: (len(s), s))


class _RankingNet(nn.Module):
    def __init__(self, vocab_size: int, embedding: int, hidden: int):
        super().__init__()
        self.encoder = SequenceEncoder(vocab_size, embedding, hidden)
        self.ranker = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
        self.score = nn.Linear(3 * hidden, 1)
        self.memory = nn.Linear(hidden, 2)

    def rank(self, feats: Tensor, set_lengths: Tensor) -> Tensor:
        """Scores ``(sets, longest)`` of features ``(sets, longest, hidden)`` padded at the end."""
        packed = pack_padded_sequence(feats, set_lengths, batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.ranker(packed)[0], batch_first=True,
                                     total_length=feats.shape[1])
        return self.score(torch.cat([feats, out], dim=-1)).squeeze(-1)


def _split(indices: list[int], size: int) -> list[list[int]]:
    """``indices`` in ``ceil(n / size)`` consecutive parts of nearly equal length."""
    parts = max(1, math.ceil(len(indices) / size))
    bounds = [round(k * len(indices) / parts) for k in range(parts + 1)]
    return [indices[bounds[k]:bounds[k + 1]] for k in range(parts)]


class RankingController(_GRUPredictor):
    """Paper 000's relative ranking controller (encoder GRU + ranking GRU, eq. 3 loss).

    Args:
        vocab_size: the search space's ``vocab_size``.
        embedding, hidden: token embedding size and GRU hidden size (100 and 100).
        memory_weight: ``lambda_beta / lambda_alpha``, the weight of the memory MSE terms.
        epochs, lr: Adam, ``epochs`` passes over every group.
        seed: seeds the initial weights, the shuffles and the prediction orders.
        set_size: most candidates ranked together in one list (training and prediction).
        lists_per_step: lists per optimizer step.
        sharpness: the standardized targets are multiplied by it before ListNet's softmax.
        predict_orders: canonical orders whose scores ``predict`` averages.
    """

    def __init__(self, vocab_size: int, embedding: int = 100, hidden: int = 100,
                 memory_weight: float = 1.0, epochs: int = 60, lr: float = 3e-3, seed: int = 0,
                 set_size: int = 16, lists_per_step: int = 32, sharpness: float = 4.0,
                 predict_orders: int = 4):
        super().__init__(vocab_size, embedding, hidden, epochs, lr, seed)
        self.memory_weight = _non_negative(memory_weight, "memory_weight")
        self.set_size = _positive_int(set_size, "set_size")
        self.lists_per_step = _positive_int(lists_per_step, "lists_per_step")
        self.sharpness = _non_negative(sharpness, "sharpness")
        self.predict_orders = _positive_int(predict_orders, "predict_orders")
        self._net: _RankingNet | None = None

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "memory_weight": self.memory_weight,
                "set_size": self.set_size, "lists_per_step": self.lists_per_step,
                "sharpness": self.sharpness, "predict_orders": self.predict_orders}

    def fit(self, groups: Sequence[Sequence[Sample]], epochs: int | None = None,
            warm_start: bool = False) -> RankingController:
        """Train on groups of candidates ranked together (one search iteration each; a group
        of one sample trains only the memory head) for ``epochs`` (default: the constructor's).
        ``warm_start`` continues from the weights of the last fit (a new Adam state), as a
        search does when it has a few more samples. Returns ``self``."""
        samples, index, target = self._prepare(groups)
        memory = torch.tensor([[math.log1p(s.param_bytes), math.log1p(s.peak_bytes)]
                               for s in samples], dtype=torch.float32)
        memory = (memory - memory.mean(0)) / memory.std(0, unbiased=False).clamp_min(1e-6)
        tokens, lengths = pad_tokens([s.tokens for s in samples])
        rng = random.Random(self.seed)
        self.loss_history = []
        with deterministic(self.seed):
            net = self._net if warm_start and self._net is not None else \
                _RankingNet(self.vocab_size, self.embedding, self.hidden)
            net.train()
            opt = torch.optim.Adam(net.parameters(), lr=self.lr)
            for _ in range(self._epochs(epochs)):
                lists: list[list[int]] = []
                for group in index:
                    order = list(group)
                    rng.shuffle(order)
                    lists += _split(order, self.set_size)
                rng.shuffle(lists)
                total = 0.0
                for start in range(0, len(lists), self.lists_per_step):
                    loss = self._step(net, lists[start:start + self.lists_per_step], tokens,
                                      lengths, target, memory)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    total += float(loss.detach())
                self.loss_history.append(total / math.ceil(len(lists) / self.lists_per_step))
        self._net = net.eval()
        return self

    def _step(self, net: _RankingNet, lists: list[list[int]], tokens: Tensor, lengths: Tensor,
              target: Tensor, memory: Tensor) -> Tensor:
        flat = torch.tensor([i for part in lists for i in part])
        lens = lengths[flat]
        feats = net.encoder(tokens[flat, : int(lens.max())], lens)
        set_lengths = torch.tensor([len(part) for part in lists])
        longest = int(set_lengths.max())
        mask = torch.arange(longest).unsqueeze(0) < set_lengths.unsqueeze(1)
        padded = feats.new_zeros(len(lists), longest, feats.shape[1])
        padded[mask] = feats
        scores = net.rank(padded, set_lengths)
        goal = torch.full((len(lists), longest), -math.inf)
        goal[mask] = target[flat] * self.sharpness
        log_pred = scores.masked_fill(~mask, -math.inf).log_softmax(dim=1)
        listnet = -(goal.softmax(dim=1) * log_pred.masked_fill(~mask, 0.0)).sum(dim=1).mean()
        mse = ((net.memory(feats) - memory[flat]) ** 2).mean(dim=0).sum()  # MSE(P) + MSE(M)
        return listnet + self.memory_weight * mse

    def predict(self, candidates: Sequence[Sequence[int]]) -> list[float]:
        """One score per candidate (higher ranks first): the distinct candidates are ranked in
        lists of ``set_size`` in ``predict_orders`` canonical orders and their scores averaged
        (see the module docstring)."""
        seqs = check_candidates(candidates, self.vocab_size)
        if self._net is None:
            raise self._unfitted()
        if not seqs:
            return []
        unique = _canonical(seqs)
        rng = random.Random(self.seed)
        with deterministic(self.seed), torch.no_grad():
            feats = self._net.encoder.encode(unique)
            total = torch.zeros(len(unique))
            for _ in range(self.predict_orders):
                order = list(range(len(unique)))
                rng.shuffle(order)
                parts = _split(order, self.set_size)
                set_lengths = torch.tensor([len(p) for p in parts])
                longest = int(set_lengths.max())
                mask = torch.arange(longest).unsqueeze(0) < set_lengths.unsqueeze(1)
                flat = torch.tensor([i for p in parts for i in p])
                padded = feats.new_zeros(len(parts), longest, feats.shape[1])
                padded[mask] = feats[flat]
                total[flat] += self._net.rank(padded, set_lengths)[mask]
        score = {s: float(v) / self.predict_orders for s, v in zip(unique, total)}
        return [score[s] for s in seqs]


class _RegressorNet(nn.Module):
    def __init__(self, vocab_size: int, embedding: int, hidden: int):
        super().__init__()
        self.encoder = SequenceEncoder(vocab_size, embedding, hidden)
        self.head = nn.Linear(hidden, 1)

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        return self.head(self.encoder(tokens, lengths)).squeeze(-1)


class GRURegressor(_GRUPredictor):
    """Paper 000 Table 4's single-network GRU: each candidate's score regressed on its own.

    Args:
        vocab_size, embedding, hidden, epochs, lr, seed: as :class:`RankingController`.
        batch_size: samples per optimizer step.
    """

    def __init__(self, vocab_size: int, embedding: int = 100, hidden: int = 100,
                 epochs: int = 60, lr: float = 3e-3, seed: int = 0, batch_size: int = 32):
        super().__init__(vocab_size, embedding, hidden, epochs, lr, seed)
        self.batch_size = _positive_int(batch_size, "batch_size")
        self._net: _RegressorNet | None = None

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "batch_size": self.batch_size}

    def fit(self, groups: Sequence[Sequence[Sample]], epochs: int | None = None,
            warm_start: bool = False) -> GRURegressor:
        """Train by mean squared error on the per-group standardized scores; ``epochs`` and
        ``warm_start`` as :meth:`RankingController.fit`. Returns ``self``."""
        samples, _, target = self._prepare(groups)
        tokens, lengths = pad_tokens([s.tokens for s in samples])
        rng = random.Random(self.seed)
        self.loss_history = []
        with deterministic(self.seed):
            net = self._net if warm_start and self._net is not None else \
                _RegressorNet(self.vocab_size, self.embedding, self.hidden)
            net.train()
            opt = torch.optim.Adam(net.parameters(), lr=self.lr)
            for _ in range(self._epochs(epochs)):
                order = list(range(len(samples)))
                rng.shuffle(order)
                total, steps = 0.0, 0
                for start in range(0, len(order), self.batch_size):
                    idx = torch.tensor(order[start:start + self.batch_size])
                    lens = lengths[idx]
                    pred = net(tokens[idx, : int(lens.max())], lens)
                    loss = ((pred - target[idx]) ** 2).mean()
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    total, steps = total + float(loss.detach()), steps + 1
                self.loss_history.append(total / steps)
        self._net = net.eval()
        return self

    def predict(self, candidates: Sequence[Sequence[int]]) -> list[float]:
        """One score per candidate, each predicted on its own (higher is better); the distinct
        candidates are encoded once, in the canonical order (see the module docstring)."""
        seqs = check_candidates(candidates, self.vocab_size)
        if self._net is None:
            raise self._unfitted()
        if not seqs:
            return []
        unique = _canonical(seqs)
        with deterministic(self.seed), torch.no_grad():
            values = self._net.head(self._net.encoder.encode(unique)).squeeze(-1)
        score = {s: float(v) for s, v in zip(unique, values)}
        return [score[s] for s in seqs]
