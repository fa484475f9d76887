"""The accuracy regressor of progressive search: an ensemble of LSTMs over a space's tokens.

DPP-Net (paper 003 section 4.1, step 2 of Fig. 4, after Dong et al. 2018) predicts each child
network's accuracy "with zero training" by a recurrent network over its architecture, the
surrogate of PNAS (Liu et al., "Progressive Neural Architecture Search", ECCV 2018, section
3.3). Paper 003 does not give the regressor's details; they follow PNAS:

* the network: the tokens of the architecture (``SearchSpace.to_tokens``) go through an
  embedding and a one-layer LSTM; a linear layer on the LSTM's hidden state after each
  sequence's *own* last token gives the prediction (sequences of different lengths are padded
  at the end and the state is gathered at position ``len - 1``, which a forward LSTM computes
  without looking past it, as ``fitnas.predictors._sequences.SequenceEncoder`` does for its
  GRU). ``output="sigmoid"`` (PNAS: a sigmoid, accuracies being in [0, 1]) squashes the
  output; since the targets may be fractions or percentages (a NAS-Bench-201 table), they are
  mapped affinely onto [0, 1] first, from the training range widened by half of it on each
  side (so a prediction may leave the observed range a little, and a sigmoid is never asked
  for 0 or 1). ``output="linear"`` regresses the targets standardized by their mean and
  standard deviation. Both map predictions back to the targets' units;
* the loss: L1 between prediction and target (PNAS), Adam;
* the ensemble: ``ensemble`` members (PNAS: 5), each trained on the data without one of
  ``ensemble`` folds of a seeded permutation (PNAS: "each trained on 4/5 of the data", k-fold
  style) and with its own initial weights and shuffles; with fewer samples than twice the
  members, every member sees all of them. The prediction is the members' mean.

Sizes (fitnas' choice; PNAS uses 100 and 100 with hidden and embedding sizes): embedding 32
and hidden 64 by default, since the predictor is refitted every round of a search on a few
hundred networks on a CPU; ``benchmarks/dppnet_regressor.py`` reports the rank correlation on
the real NAS-Bench-201 table with these defaults. ``fit`` retrains from scratch by default
(PNAS retrains on all the data seen at each step); ``warm_start=True`` continues from the last
weights.

Determinism and prediction as the other predictors (``fitnas.predictors.ranking``): training
runs under ``_sequences.deterministic`` (a forked torch RNG seeded per member, one torch
thread), and ``predict`` scores the distinct candidates once in one canonical order (sorted by
length, then tokens), so permuting the candidates permutes the predictions and duplicates get
equal ones.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ._sequences import check_candidates, deterministic, pad_tokens

__all__ = ["OUTPUTS", "LSTMRegressor"]

#: ``sigmoid``: PNAS' squashed output over targets mapped onto [0, 1]; ``linear``: a plain
#: output over standardized targets.
OUTPUTS = ("sigmoid", "linear")
#: Bounds of the integer options (one-line errors beyond them).
_BOUNDS = {"embedding": 4096, "hidden": 4096, "ensemble": 64, "epochs": 100_000,
           "batch_size": 1 << 20}


def _int_option(value: Any, name: str, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise ValueError(f"{name} must be an int in 1..{high:,}, got {value!r}")
    return value


class _LSTMNet(nn.Module):
    def __init__(self, vocab_size: int, embedding: int, hidden: int, sigmoid: bool):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embedding)
        self.lstm = nn.LSTM(embedding, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)
        self.sigmoid = sigmoid

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        out, _ = self.lstm(self.embed(tokens))
        index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, out.shape[-1])
        value = self.head(out.gather(1, index).squeeze(1)).squeeze(-1)
        return torch.sigmoid(value) if self.sigmoid else value


class LSTMRegressor:
    """PNAS' LSTM accuracy predictor, an ensemble trained with L1 loss (module docstring).

    Args:
        vocab_size: the search space's ``vocab_size``.
        embedding, hidden: token embedding size and LSTM hidden size.
        ensemble: members whose predictions are averaged (PNAS: 5).
        epochs, lr, batch_size: Adam, ``epochs`` passes over the data in batches.
        output: ``sigmoid`` or ``linear`` (:data:`OUTPUTS`).
        seed: seeds the weights, the folds and the shuffles.
    """

    def __init__(self, vocab_size: int, embedding: int = 32, hidden: int = 64, ensemble: int = 5,
                 epochs: int = 60, lr: float = 1e-2, batch_size: int = 128,
                 output: str = "sigmoid", seed: int = 0):
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
            raise ValueError(f"vocab_size must be a positive int, got {vocab_size!r}")
        self.vocab_size = vocab_size
        self.embedding = _int_option(embedding, "embedding", _BOUNDS["embedding"])
        self.hidden = _int_option(hidden, "hidden", _BOUNDS["hidden"])
        self.ensemble = _int_option(ensemble, "ensemble", _BOUNDS["ensemble"])
        self.epochs = _int_option(epochs, "epochs", _BOUNDS["epochs"])
        self.batch_size = _int_option(batch_size, "batch_size", _BOUNDS["batch_size"])
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (
                math.isfinite(lr) and 0 < lr <= 10):
            raise ValueError(f"lr must be a number in (0, 10], got {lr!r}")
        self.lr = float(lr)
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {', '.join(OUTPUTS)}, got {output!r}")
        self.output = output
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an int, got {seed!r}")
        self.seed = seed
        self._members: list[_LSTMNet] = []
        self._shift, self._scale = 0.0, 1.0  # target = shift + scale * network output
        #: Mean training loss (L1, in the network's units) of each epoch of the last ``fit``,
        #: averaged over the members.
        self.loss_history: list[float] = []

    def get_config(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size, "embedding": self.embedding,
                "hidden": self.hidden, "ensemble": self.ensemble, "epochs": self.epochs,
                "lr": self.lr, "batch_size": self.batch_size, "output": self.output,
                "seed": self.seed}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    @property
    def fitted(self) -> bool:
        return bool(self._members)

    # ---------------------------------------------------------------------- fit
    def _targets(self, values: list[float]) -> Tensor:
        """Set the affine map of the module docstring and return the network's targets."""
        low, high = min(values), max(values)
        if self.output == "sigmoid":
            spread = high - low if high > low else max(1.0, abs(high))
            self._shift, self._scale = low - spread / 2, 2 * spread
        else:
            mean = sum(values) / len(values)
            std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
            self._shift, self._scale = mean, std if std > 1e-12 * max(1.0, abs(mean)) else 1.0
        return torch.tensor([(v - self._shift) / self._scale for v in values],
                            dtype=torch.float32)

    def _folds(self, n: int) -> list[list[int]]:
        """The training indices of each member (module docstring, "the ensemble")."""
        if self.ensemble == 1 or n < 2 * self.ensemble:
            return [list(range(n))] * self.ensemble
        order = list(range(n))
        random.Random(self.seed).shuffle(order)
        return [sorted(i for k, i in enumerate(order) if k % self.ensemble != m)
                for m in range(self.ensemble)]

    def fit(self, tokens: Sequence[Sequence[int]], accuracies: Sequence[float],
            epochs: int | None = None, warm_start: bool = False) -> LSTMRegressor:
        """Train on every ``(tokens, accuracy)`` pair for ``epochs`` (default: the
        constructor's), from scratch unless ``warm_start`` (then from the last fit's weights,
        with a new Adam state). Returns ``self``."""
        seqs = check_candidates(tokens, self.vocab_size)
        if not seqs:
            raise ValueError("fit needs at least one (tokens, accuracy) pair, got none")
        values = list(accuracies)
        if len(values) != len(seqs):
            raise ValueError(f"fit got {len(seqs)} token sequences but {len(values)} accuracies")
        for i, v in enumerate(values):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"accuracy {i} must be a finite number, got {v!r}")
        epochs = self.epochs if epochs is None else _int_option(epochs, "epochs",
                                                                 _BOUNDS["epochs"])
        target = self._targets([float(v) for v in values])
        padded, lengths = pad_tokens(seqs)
        warm = warm_start and len(self._members) == self.ensemble
        members: list[_LSTMNet] = []
        losses = [0.0] * epochs
        for m, rows in enumerate(self._folds(len(seqs))):
            seed = self.seed * 1009 + m
            rng = random.Random(seed)
            with deterministic(seed):
                net = self._members[m] if warm else _LSTMNet(
                    self.vocab_size, self.embedding, self.hidden, self.output == "sigmoid")
                net.train()
                opt = torch.optim.Adam(net.parameters(), lr=self.lr)
                for epoch in range(epochs):
                    order = list(rows)
                    rng.shuffle(order)
                    total, steps = 0.0, 0
                    for start in range(0, len(order), self.batch_size):
                        idx = torch.tensor(order[start:start + self.batch_size])
                        lens = lengths[idx]
                        pred = net(padded[idx, : int(lens.max())], lens)
                        loss = (pred - target[idx]).abs().mean()
                        opt.zero_grad(set_to_none=True)
                        loss.backward()
                        opt.step()
                        total, steps = total + float(loss.detach()), steps + 1
                    losses[epoch] += total / steps / self.ensemble
            members.append(net.eval())
        self._members = members
        self.loss_history = losses
        return self

    # ------------------------------------------------------------------ predict
    def predict(self, candidates: Sequence[Sequence[int]]) -> list[float]:
        """The predicted accuracy of each candidate (the ensemble mean, in the units of the
        accuracies ``fit`` saw); ``ValueError`` before any ``fit``."""
        seqs = check_candidates(candidates, self.vocab_size)
        if not self._members:
            raise ValueError("LSTMRegressor is not fitted: call fit(tokens, accuracies) before "
                             "predict")
        if not seqs:
            return []
        unique = sorted(set(seqs), key=lambda s: (len(s), s))
        padded, lengths = pad_tokens(unique)
        with deterministic(self.seed), torch.no_grad():
            total = torch.zeros(len(unique))
            for net in self._members:
                total += net(padded, lengths)
        mean = total / len(self._members)
        score = {s: self._shift + self._scale * float(v) for s, v in zip(unique, mean)}
        return [score[s] for s in seqs]
