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

    def sample(self, grammar: Grammar, generator: torch.Generator,
               max_length: int = 10_000) -> Episode:
        """Write one sequence, each step drawn from the masked softmax with ``generator``."""
        return self.sample_many(grammar, generator, 1, max_length)[0]

    @torch.no_grad()
    def sample_many(self, grammar: Grammar, generator: torch.Generator, count: int,
                    max_length: int = 10_000) -> list[Episode]:
        """``count`` sequences written side by side (one recurrent pass over the batch), each
        step of each drawn from its masked softmax with ``generator``."""
        width = self.vocab_size + 1
        token = torch.full((count,), self.vocab_size, dtype=torch.long)
        h = torch.zeros(count, self.hidden)
        state: object = (h, torch.zeros(count, self.hidden)) if self.cell_kind == "lstm" else h
        prefixes: list[list[int]] = [[] for _ in range(count)]
        actions: list[list[int]] = [[] for _ in range(count)]
        allowed_steps: list[list[tuple[int, ...]]] = [[] for _ in range(count)]
        done = [False] * count
        for _ in range(max_length + 1):
            if all(done):
                break
            mask = torch.zeros(count, width, dtype=torch.bool)
            for k in range(count):
                if done[k]:
                    mask[k, self.stop] = True
                    continue
                tokens, can_end = grammar(prefixes[k])
                allowed = (*tokens, self.stop) if can_end else tuple(tokens)
                if not allowed:
                    raise ValueError(f"the grammar allows nothing after {prefixes[k]}")
                allowed_steps[k].append(allowed)
                mask[k, list(allowed)] = True
            state = self.cell(self.embed(token), state)
            hidden = state[0] if isinstance(state, tuple) else state
            logits = self.head(hidden).masked_fill(~mask, float("-inf"))
            drawn = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator)
            for k in range(count):
                if done[k]:
                    continue
                action = int(drawn[k, 0])
                actions[k].append(action)
                if action == self.stop:
                    done[k] = True
                else:
                    prefixes[k].append(action)
            token = drawn[:, 0]
        if not all(done):
            raise ValueError(f"the policy wrote more than {max_length} tokens without stopping")
        return [Episode(tuple(a), tuple(s)) for a, s in zip(actions, allowed_steps)]

    def log_probs_and_entropies(self, episodes: Sequence[Episode]
                                ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`log_prob_and_entropy` of several episodes at once (one recurrent pass over
        the batch, shorter episodes padded): two tensors of shape ``(len(episodes),)``."""
        count = len(episodes)
        steps = max(len(e.actions) for e in episodes)
        width = self.vocab_size + 1
        allowed = torch.zeros(steps, count, width, dtype=torch.bool)
        allowed[:, :, self.stop] = True  # a padded step's one action: its row stays finite
        actions = torch.full((steps, count), self.stop, dtype=torch.long)
        live = torch.zeros(steps, count, dtype=torch.bool)
        for k, episode in enumerate(episodes):
            for t, (action, ok) in enumerate(zip(episode.actions, episode.allowed)):
                allowed[t, k, self.stop] = self.stop in ok
                allowed[t, k, list(ok)] = True
                actions[t, k] = action
                live[t, k] = True
        token = torch.full((count,), self.vocab_size, dtype=torch.long)
        h = torch.zeros(count, self.hidden)
        state: object = (h, torch.zeros(count, self.hidden)) if self.cell_kind == "lstm" else h
        log_prob = torch.zeros(count)
        entropy = torch.zeros(count)
        for t in range(steps):
            state = self.cell(self.embed(token), state)
            hidden = state[0] if isinstance(state, tuple) else state
            logits = self.head(hidden).masked_fill(~allowed[t], float("-inf"))
            logp = torch.log_softmax(logits, dim=-1)
            chosen = logp.gather(1, actions[t].unsqueeze(1)).squeeze(1)
            probs = logp.exp()
            step_entropy = -(probs * logp.masked_fill(~allowed[t], 0.0)).sum(dim=1)
            log_prob = log_prob + torch.where(live[t], chosen, torch.zeros(()))
            entropy = entropy + torch.where(live[t], step_entropy, torch.zeros(()))
            token = actions[t]
        return log_prob, entropy

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
