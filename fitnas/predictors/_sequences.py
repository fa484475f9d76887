"""Shared parts of the GRU predictors: samples, token checks, the encoder GRU, determinism.

The encoder is paper 000 section 3.2's "encoder RNN": an embedding of the search space's
tokens (``SearchSpace.to_tokens``, one vocabulary per space) and a one-layer GRU read from the
first token to the last; its last hidden state is the "entire network feature" ``f_n``.
Sequences of different lengths (a cell grows a block per search iteration) are padded at the
end and the feature is gathered at each sequence's own last position: a forward GRU's output
at position ``len - 1`` does not depend on anything after it, so this equals running each
sequence alone (``pack_padded_sequence`` gives the same numbers, more slowly on a CPU).

Determinism: :func:`deterministic` runs a block under a forked torch RNG seeded with the
predictor's seed and with one torch thread (restored afterwards): a search is resumed by
replaying its history, and neither the caller's RNG state nor its thread count may change a
prediction.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["Sample", "SequenceEncoder", "check_candidates", "check_groups", "deterministic",
           "pad_tokens", "standardize"]


@dataclass(frozen=True)
class Sample:
    """One trained candidate: its tokens, its target score (e.g. the eq. 4 merit), its
    parameter memory and its peak activation memory in bytes (paper 000 eq. 3's P and M)."""

    tokens: tuple[int, ...]
    score: float
    param_bytes: float
    peak_bytes: float


def _check_sequence(tokens: Sequence[int], vocab_size: int, where: str) -> tuple[int, ...]:
    if isinstance(tokens, (str, bytes)) or not isinstance(tokens, Sequence):
        raise ValueError(f"{where}: a candidate is a sequence of int tokens, got {tokens!r}")
    out = tuple(tokens)
    if not out:
        raise ValueError(f"{where}: empty token sequence; every candidate needs at least one token")
    for t in out:
        if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < vocab_size:
            raise ValueError(f"{where}: token {t!r} is not an int in 0..{vocab_size - 1} "
                             f"(vocab_size={vocab_size})")
    return out


def check_candidates(candidates: Sequence[Sequence[int]], vocab_size: int) -> list[tuple[int, ...]]:
    """The candidates as tuples; ``ValueError`` naming the first bad token or sequence."""
    return [_check_sequence(c, vocab_size, f"candidate {i}") for i, c in enumerate(candidates)]


def check_groups(groups: Sequence[Sequence[Sample]], vocab_size: int) -> list[list[Sample]]:
    """The groups as lists of samples, each checked (tokens in range, finite numbers)."""
    out: list[list[Sample]] = []
    for g, group in enumerate(groups):
        checked = []
        for i, s in enumerate(group):
            where = f"group {g} sample {i}"
            if not isinstance(s, Sample):
                raise ValueError(f"{where}: expected a fitnas.predictors.Sample, got "
                                 f"{type(s).__name__}")
            _check_sequence(s.tokens, vocab_size, where)
            for name in ("score", "param_bytes", "peak_bytes"):
                value = getattr(s, name)
                if not isinstance(value, (int, float)) or not math.isfinite(value) or (
                        name != "score" and value < 0):
                    kind = "a finite number" if name == "score" else "a finite number >= 0"
                    raise ValueError(f"{where}: {name} must be {kind}, got {value!r}")
            checked.append(s)
        if checked:
            out.append(checked)
    if not out:
        raise ValueError("fit needs at least one sample: every group is empty")
    return out


def standardize(values: Sequence[float]) -> list[float]:
    """``(v - mean) / std`` over ``values`` (all zeros when they are all equal)."""
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / n)
    if std <= 1e-12 * max(1.0, abs(mean)):
        return [0.0] * n
    return [(v - mean) / std for v in values]


def pad_tokens(seqs: Sequence[tuple[int, ...]]) -> tuple[Tensor, Tensor]:
    """A ``(batch, longest)`` LongTensor padded with 0 at the end, and the lengths."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    out = torch.zeros(len(seqs), int(lengths.max()), dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return out, lengths


class SequenceEncoder(nn.Module):
    """Embedding and a one-layer GRU; ``forward`` gives each sequence's last hidden state."""

    def __init__(self, vocab_size: int, embedding: int, hidden: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embedding)
        self.gru = nn.GRU(embedding, hidden, batch_first=True)

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        out, _ = self.gru(self.embed(tokens))
        index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, out.shape[-1])
        return out.gather(1, index).squeeze(1)

    def encode(self, seqs: Sequence[tuple[int, ...]], batch: int = 1024) -> Tensor:
        """Features of many sequences without gradients, as ``forward`` computes them (to
        float rounding) but about twice as fast: the embedding and the GRU's input projection
        are folded into one table of input gates per token, so each step multiplies only the
        hidden state (the GRU equations of ``torch.nn.GRU``). Sequences are batched by length.
        """
        gru = self.gru
        w_ih, w_hh, b_ih, b_hh = (getattr(gru, name) for name in (
            "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"))
        with torch.no_grad():
            table = nn.functional.linear(self.embed.weight, w_ih, b_ih)
            order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
            feats = torch.empty(len(seqs), gru.hidden_size)
            for start in range(0, len(order), batch):
                idx = order[start : start + batch]
                tokens, lengths = pad_tokens([seqs[i] for i in idx])
                gates = table[tokens]  # (batch, longest, 3 hidden)
                h = gates.new_zeros(len(idx), gru.hidden_size)
                out = torch.empty_like(h)
                for t in range(tokens.shape[1]):
                    i_r, i_z, i_n = gates[:, t].chunk(3, 1)
                    h_r, h_z, h_n = nn.functional.linear(h, w_hh, b_hh).chunk(3, 1)
                    r = torch.sigmoid(i_r + h_r)
                    z = torch.sigmoid(i_z + h_z)
                    n = torch.tanh(i_n + r * h_n)
                    h = n + z * (h - n)
                    done = lengths == t + 1
                    out[done] = h[done]
                feats[torch.tensor(idx)] = out
        return feats


@contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """Run under a forked, seeded torch RNG and one torch thread (both restored on exit)."""
    threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)
