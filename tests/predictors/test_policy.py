"""``TokenPolicy``: every sample is a sentence of the grammar, and the batched log-probabilities
equal the one-episode ones (values and gradients)."""

from __future__ import annotations

import pytest
import torch

from fitnas.predictors.policy import TokenPolicy
from fitnas.spaces import SearchSpace, create_space, list_spaces


@pytest.mark.parametrize("name", list_spaces())
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_batched_log_probs_equal_the_one_episode_ones(name: str, cell: str) -> None:
    space: SearchSpace = create_space(name)
    torch.manual_seed(0)
    policy = TokenPolicy(space.vocab_size, 16, 16, cell)
    generator = torch.Generator().manual_seed(1)
    episodes = [policy.sample(space.next_tokens, generator) for _ in range(7)]
    for episode in episodes:  # each sample decodes to a valid encoding
        space.validate(space.from_tokens(episode.tokens))
    log_probs, entropies = policy.log_probs_and_entropies(episodes)
    weights = torch.linspace(-1.0, 1.0, len(episodes))
    (weights * log_probs + entropies).sum().backward()
    batched = [p.grad.clone() for p in policy.parameters() if p.grad is not None]
    assert all(torch.isfinite(g).all() for g in batched)
    policy.zero_grad()
    total = torch.zeros(())
    for k, episode in enumerate(episodes):
        log_prob, entropy = policy.log_prob_and_entropy(episode)
        assert log_prob.item() == pytest.approx(log_probs[k].item(), abs=1e-5)
        assert entropy.item() == pytest.approx(entropies[k].item(), abs=1e-5)
        total = total + weights[k] * log_prob + entropy
    total.backward()
    single = [p.grad for p in policy.parameters() if p.grad is not None]
    for a, b in zip(batched, single):
        assert torch.allclose(a, b, atol=1e-5)
