"""``TokenPolicy``: the "robot network" of MONAS (paper 003 section 3), an RNN that writes an
architecture one decision at a time and is trained by REINFORCE.

The policy reads the decisions made so far (an embedding of each token, a start symbol first)
through an LSTM or GRU cell and, at each step, gives a softmax over the space's tokens plus one
*stop* action (Zoph & Le 2017, "Neural architecture search with reinforcement learning", the
controller MONAS builds on, section 3.1). The softmax is masked to what the space's grammar
(``SearchSpace.next_tokens``) allows after the prefix, stop only where the sequence may end, so
every sequence it samples is the tokens of a valid encoding.

REINFORCE (Williams 1992, eq. 11; Zoph & Le eq. 2) with a baseline: for a batch of sampled
sequences ``a^k`` with rewards ``R_k``,

    grad J ~ 1/m sum_k sum_t grad log P(a^k_t | a^k_(t-1:1)) (R_k - b)

where ``b`` is an exponential moving average of the rewards (Zoph & Le section 3.2) taken
before the batch, minus ``entropy_weight`` times the entropy of each step's masked softmax (a
bonus that keeps the policy exploring), with the gradient's norm clipped and Adam's update.
The log-probabilities are recomputed with the current weights from the stored actions and the
masks each step had, so an update is exact for the sequences it sees.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["CELLS", "Episode", "TokenPolicy"]

#: The recurrent cells the policy may use.
CELLS = ("lstm", "gru")


@dataclass(frozen=True)
class Episode:
    """One sampled sequence: the actions (tokens, then the stop action) and, for each step, the
    actions that were allowed there."""

    actions: tuple[int, ...]
    allowed: tuple[tuple[int, ...], ...]

    @property
    def tokens(self) -> list[int]:
        return list(self.actions[:-1])


#: The grammar as the policy sees it: the allowed tokens after a prefix, and whether it may end.
Grammar = Callable[[Sequence[int]], tuple[Sequence[int], bool]]


class TokenPolicy(nn.Module):
    """An RNN policy over ``vocab_size`` tokens and a stop action (see the module docstring).

    Args:
        vocab_size: the space's number of tokens; action ``vocab_size`` is *stop*.
        embedding, hidden: sizes of the token embedding and of the recurrent state.
        cell: ``"lstm"`` or ``"gru"``.
    """

    def __init__(self, vocab_size: int, embedding: int = 64, hidden: int = 64,
                 cell: str = "lstm") -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown policy cell {cell!r}; accepted: {', '.join(CELLS)}")
        self.vocab_size = vocab_size
        self.stop = vocab_size
        self.hidden = hidden
        self.cell_kind = cell
        self.embed = nn.Embedding(vocab_size + 1, embedding)  # the last row: the start symbol
        self.cell: nn.Module = (nn.LSTMCell(embedding, hidden) if cell == "lstm"
                                else nn.GRUCell(embedding, hidden))
        self.head = nn.Linear(hidden, vocab_size + 1)

    def _start(self) -> tuple[torch.Tensor, object]:
        h = torch.zeros(1, self.hidden)
        state: object = (h, torch.zeros(1, self.hidden)) if self.cell_kind == "lstm" else h
        return torch.tensor([self.vocab_size]), state

    def _step(self, token: torch.Tensor, state: object) -> tuple[torch.Tensor, object]:
        x = self.embed(token)
        state = self.cell(x, state)
        h = state[0] if isinstance(state, tuple) else state
        return self.head(h)[0], state

    def _masked(self, logits: torch.Tensor, allowed: Sequence[int]) -> torch.Tensor:
        mask = torch.full_like(logits, float("-inf"))
        mask[list(allowed)] = 0.0
        return torch.log_softmax(logits + mask, dim=-1)

    @torch.no_grad()
    def sample(self, grammar: Grammar, generator: torch.Generator,
               max_length: int = 10_000) -> Episode:
        """Write one sequence, each step drawn from the masked softmax with ``generator``."""
        token, state = self._start()
        prefix: list[int] = []
        actions: list[int] = []
        allowed_steps: list[tuple[int, ...]] = []
        while len(prefix) <= max_length:
            tokens, can_end = grammar(prefix)
            allowed = (*tokens, self.stop) if can_end else tuple(tokens)
            if not allowed:
                raise ValueError(f"the grammar allows nothing after {prefix}")
            logits, state = self._step(token, state)
            probs = self._masked(logits, allowed).exp()
            action = int(torch.multinomial(probs, 1, generator=generator))
            actions.append(action)
            allowed_steps.append(allowed)
            if action == self.stop:
                return Episode(tuple(actions), tuple(allowed_steps))
            prefix.append(action)
            token = torch.tensor([action])
        raise ValueError(f"the policy wrote more than {max_length} tokens without stopping")

    def log_prob_and_entropy(self, episode: Episode) -> tuple[torch.Tensor, torch.Tensor]:
        """``log P(actions)`` and the summed entropy of each step's masked softmax, with the
        current weights (differentiable)."""
        token, state = self._start()
        log_prob = torch.zeros(())
        entropy = torch.zeros(())
        for action, allowed in zip(episode.actions, episode.allowed):
            logits, state = self._step(token, state)
            logp = self._masked(logits, allowed)
            log_prob = log_prob + logp[action]
            kept = logp[list(allowed)]
            entropy = entropy - (kept.exp() * kept).sum()
            token = torch.tensor([action])
        return log_prob, entropy
