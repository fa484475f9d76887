"""The shared search-space suite: every registered space (future ones too) must pass it.

DESIGN.md convention 9 (Optuna's ``testing/pytest_samplers.py``, timm's tests over
``list_models()``). Each space is built on a small input (2x3x16x16, 5 classes) so that building
and running the sampled networks stays cheap.
"""

from __future__ import annotations

import json
import random

import pytest
import torch

from fitnas.arch import ArchGraph
from fitnas.arch.builder import build, deployed_params
from fitnas.costs import count_params, lifetime_table
from fitnas.costs.measure import measure_peak
from fitnas.errors import FitnasError
from fitnas.spaces import InvalidEncoding, SearchSpace, SpaceError, create_space, list_spaces

SPACES = list_spaces()
SHAPE = (2, 3, 16, 16)
CLASSES = 5


def small(name: str) -> SearchSpace:
    kwargs: dict = {"input_shape": SHAPE, "classes": CLASSES}
    if name == "cells":
        kwargs["filters"] = 8
    if name == "nb201":
        kwargs.update(channels=4, cells_per_stage=1)
    if name == "darts":
        kwargs.update(channels=4, layers=3)
    return create_space(name, **kwargs)


def test_registry_lists_the_three_spaces_and_rejects_unknown_names() -> None:
    assert {"chain", "cells", "nb201"} <= set(SPACES)
    with pytest.raises(SpaceError, match=r"known: .*cells.*chain.*nb201"):
        create_space("nope")
    with pytest.raises(SpaceError, match=r"'chain' has no option 'colour'; accepted: "
                                          r"input_shape, classes, max_conv_layers"):
        create_space("chain", colour="red")


@pytest.mark.parametrize("name", SPACES)
def test_config_round_trips(name: str) -> None:
    space = small(name)
    again = create_space(name, **space.get_config())
    assert again.get_config() == space.get_config()
    assert json.loads(json.dumps(space.get_config())) == space.get_config()


@pytest.mark.parametrize("name", SPACES)
def test_sampling_is_seeded_and_reproducible(name: str) -> None:
    space = small(name)
    first = [space.sample(seed) for seed in range(20)]
    assert first == [space.sample(seed) for seed in range(20)]
    assert len({space.to_json(e) for e in first}) > 5
    rng_a, rng_b = random.Random(7), random.Random(7)
    assert [space.sample(rng_a) for _ in range(5)] == [space.sample(rng_b) for _ in range(5)]


@pytest.mark.parametrize("name", SPACES)
def test_json_and_token_round_trips(name: str) -> None:
    space = small(name)
    for seed in range(30):
        enc = space.sample(seed)
        hash(enc)  # encodings are hashable
        assert space.from_json(space.to_json(enc)) == enc
        assert space.from_data(json.loads(json.dumps(space.to_data(enc)))) == enc
        assert space.parse(space.format(enc)) == enc
        tokens = space.to_tokens(enc)
        assert all(isinstance(t, int) and 0 <= t < space.vocab_size for t in tokens)
        assert space.from_tokens(tokens) == enc


@pytest.mark.parametrize("name", SPACES)
def test_random_walks_over_the_grammar_always_decode(name: str) -> None:
    """A policy that emits one allowed token at a time, and stops only where the grammar lets
    it, always writes a valid encoding (MONAS' robot network, paper 003 section 3)."""
    space = small(name)
    seen = set()
    for seed in range(60):
        for end_weight in (0.2, 1.0, 5.0):
            tokens = space.sample_tokens(random.Random(seed), end_weight=end_weight)
            assert space.next_tokens(tokens).can_end
            enc = space.from_tokens(tokens)
            graph = space.decode(space.validate(enc))
            assert isinstance(graph, ArchGraph) and len(graph) > 0
            assert space.to_tokens(enc) == tokens  # one sentence per encoding
            seen.add(space.to_json(enc))
    assert len(seen) > 20


@pytest.mark.parametrize("name", SPACES)
def test_sampled_encodings_are_sentences_of_the_grammar(name: str) -> None:
    space = small(name)
    for seed in range(40):
        tokens = space.to_tokens(space.sample(seed))
        for k, token in enumerate(tokens):
            step = space.next_tokens(tokens[:k])
            assert token in step.tokens, (k, tokens, step)
            assert list(step.tokens) == sorted(set(step.tokens))
            assert all(0 <= t < space.vocab_size for t in step.tokens)
            assert not step.can_end or k > 0
        assert space.next_tokens(tokens).can_end


@pytest.mark.parametrize("name", SPACES)
def test_a_prefix_outside_the_grammar_is_one_clear_error(name: str) -> None:
    space = small(name)
    tokens = space.to_tokens(space.sample(0))
    refusals = [(k, t) for k in range(len(tokens) + 1) for t in range(space.vocab_size)
                if t not in space.next_tokens(tokens[:k]).tokens]
    assert refusals  # a grammar that allows everything everywhere checks nothing
    for k, refused in (refusals[0], refusals[-1]):
        with pytest.raises(InvalidEncoding, match=rf"position {k} is not allowed there; allowed"):
            space.next_tokens([*tokens[:k], refused])
    with pytest.raises(InvalidEncoding):
        space.next_tokens([space.vocab_size])


@pytest.mark.parametrize("name", SPACES)
def test_bad_encodings_raise_clear_errors(name: str) -> None:
    space = small(name)
    for bad in ("not json", "{}", "[]", "42", '"x"', "[[1, 2, 3]]"):
        with pytest.raises(InvalidEncoding) as info:
            space.parse(bad)
        assert isinstance(info.value, FitnasError) and str(info.value)
    with pytest.raises(InvalidEncoding):
        space.from_tokens([space.vocab_size])
    with pytest.raises(InvalidEncoding):
        space.from_tokens([-1])


@pytest.mark.parametrize("name", SPACES)
def test_fingerprints_equal_for_equal_architectures(name: str) -> None:
    space = small(name)
    encs = [space.sample(seed) for seed in range(15)]
    for enc in encs:
        again = space.from_json(space.to_json(enc))
        assert space.fingerprint(again) == space.fingerprint(enc)
        graph = space.decode(enc)
        assert ArchGraph.from_json(graph.to_json()).fingerprint() == graph.fingerprint()
    by_key: dict[str, set[str]] = {}
    for enc in encs:
        by_key.setdefault(space.to_json(enc), set()).add(space.fingerprint(enc))
    assert all(len(v) == 1 for v in by_key.values())


@pytest.mark.parametrize("name", SPACES)
def test_every_move_decodes(name: str) -> None:
    space = small(name)
    for seed in range(4):
        enc = space.sample(seed)
        for kind in ("mutations", "grow", "trim"):
            moves = getattr(space, kind)(enc)
            assert isinstance(moves, list)
            keys = [space.to_json(m) for m in moves]
            assert len(set(keys)) == len(keys), f"{kind} repeats a neighbour"
            assert space.to_json(enc) not in keys
            for m in moves[:: max(1, len(moves) // 40)]:
                assert space.validate(m) == m
                graph = space.decode(m)
                assert graph.shape(graph.outputs[0]) == (SHAPE[0], CLASSES)
        assert space.mutations(enc), "every encoding has a mutation"


@pytest.mark.slow
@pytest.mark.parametrize("name", SPACES)
def test_decoded_graph_builds_runs_and_counts_match(name: str) -> None:
    torch.manual_seed(0)
    space = small(name)
    for seed in range(3):
        graph = space.decode(space.sample(seed))
        assert graph.input_shape == SHAPE
        assert all(n.op != "opaque" for n in graph.nodes)
        module = build(graph).eval()
        assert deployed_params(module) == count_params(graph)  # learned group convs condensed
        with torch.no_grad():
            out = module(torch.randn(SHAPE))
        assert out.shape == (SHAPE[0], CLASSES)
        assert torch.isfinite(out).all()
        measured = measure_peak(graph, module=module)
        assert measured.peak_bytes == lifetime_table(graph).peak_bytes


@pytest.mark.parametrize("name", SPACES)
def test_default_space_decodes_on_its_default_input(name: str) -> None:
    space = create_space(name)
    graph = space.decode(space.sample(0))
    assert graph.input_shape == space.default_input
    assert graph.shape(graph.outputs[0]) == (space.default_input[0], space.default_classes)


@pytest.mark.parametrize("name", SPACES)
def test_bad_space_arguments_are_rejected(name: str) -> None:
    with pytest.raises(SpaceError, match="input_shape"):
        create_space(name, input_shape=(1, 3, 32))
    with pytest.raises(SpaceError, match="classes"):
        create_space(name, classes=0)
