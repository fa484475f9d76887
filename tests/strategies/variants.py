"""Every documented option value of every registered strategy, for the shared suite.

``test_strategy_suite.py`` runs its checks over every (strategy, variant) pair below, so an
option that crashes (as ``growtrim:controller=gru`` did at its first retraining) fails the
suite, and ``test_every_constructor_keyword_has_a_variant`` fails when a strategy gains a
keyword with no variant here. The options and values are those of README "Search strategies"
and of each constructor:

* ``random`` (paper 002 Algorithm I): ``max_attempts``;
* ``coordinate`` (paper 002 Algorithm II): ``variant=async|sequential|nbest``, ``n_best``,
  ``early`` (a budget name, ``none``), ``nrandom``, ``nadapt``, ``nfinal``, ``max_attempts``,
  ``swap``, ``patience``;
* ``growtrim`` (paper 000): ``controller=ranking|gru|none``, ``k``, ``lambda_alpha``,
  ``lambda_beta``, ``initial``, ``inherit_grown``, ``finetune`` (a budget name, ``none``),
  ``controller_epochs``, ``refit_growth``, ``max_attempts``;
* ``evolution`` (Real et al. 2019): ``population``, ``sample``, ``max_attempts``;
* ``reinforce`` (MONAS, paper 003): ``reward=mixed|power|accuracy`` with ``alpha``,
  ``budget_mw`` and ``threshold``, ``cell=lstm|gru``, ``embedding``, ``hidden``, ``batch``,
  ``lr``, ``entropy_weight``, ``baseline_decay``, ``clip``, ``bound_samples``,
  ``max_resamples``, ``baseline=quantile|moving``, ``quantile``, ``elite``; its energy and
  power rewards run with the ``host`` device model's costs;
* ``progressive`` (DPP-Net, paper 003 section 4.1): ``k``, ``max_layers``, ``ensemble``,
  ``epochs`` (the regressor's), ``warm_start``, ``tiebreak=hypervolume|crowding``, ``early``
  (a budget name, ``none``);
* every strategy: ``budget`` (the planned evaluations; ``fitnas search`` sets it from
  ``--trials``).

A variant is a dict of keyword arguments, exactly what ``fitnas search --strategy
NAME:KEY=VALUE,...`` passes (:func:`option_text` writes it that way; the suite checks that the
command line parses it back). Variants that must reach a later phase within the suite's dozen
trials use a short schedule (``coordinate``: 3 + 3 + 2 samples) or a small ``k`` and few
controller epochs (``growtrim``: an iteration every 2 trials, so the controller is retrained
several times), which keeps the whole suite fast.
"""

from __future__ import annotations

from typing import Any

__all__ = ["NOT_OPTIONS", "SUITE_OPTIONS", "VARIANTS", "option_text", "variant_id"]

#: coordinate: a schedule short enough that a dozen trials cross all three phases and beyond.
_SHORT: dict[str, Any] = {"nrandom": 3, "nadapt": 3, "nfinal": 2}
#: growtrim: an iteration (and a retraining of the controller) every two trials.
_FAST: dict[str, Any] = {"k": 2, "controller_epochs": 3}

#: progressive: small rounds and a short regressor fit.
_SMBO: dict[str, Any] = {"ensemble": 2, "epochs": 3}

VARIANTS: dict[str, list[dict[str, Any]]] = {
    "random": [
        {},
        {"max_attempts": 50},
        {"budget": 5},  # random search plans nothing
    ],
    "coordinate": [
        {},  # the paper's 50 + 50 + 20, asynchronous: the suite sees the random phase only
        {"variant": "async", **_SHORT},
        {"variant": "sequential", **_SHORT},
        {"variant": "nbest", **_SHORT},  # n_best 4, the paper's
        {"variant": "nbest", "n_best": 1, **_SHORT},
        {"variant": "nbest", "n_best": 2, **_SHORT},
        {"early": "none", **_SHORT},  # every sample trained fully
        {"early": None, **_SHORT},  # the same from Python
        {"nrandom": 0, "nadapt": 0, "nfinal": 0},  # adaptive from the first result on
        {"nrandom": 1, "nadapt": 12, "nfinal": 0},
        {"variant": "nbest", "n_best": 3, "nrandom": 0, "nadapt": 2, "nfinal": 1},
        {"max_attempts": 50, **_SHORT},
        {"budget": 12},  # the schedule follows the budget: 10 random, 10 adaptive, 4 final
        {"budget": 100, "nrandom": 2},  # a given count wins over the budget's
        {"swap": False, **_SHORT},
        {"swap": True, "patience": 2, **_SHORT},
        {"patience": 1, **_SHORT},  # restart from the next-best after every miss
        {"patience": 3, "variant": "nbest", "n_best": 2, **_SHORT},
    ],
    "evolution": [
        {},  # population 25, tournament 6 without a budget
        {"budget": 40},  # population 10, tournament 2
        {"population": 3, "sample": 2},  # a dozen trials cross several generations
        {"population": 4, "sample": 4},  # the tournament is the whole population
        {"population": 1, "sample": 1},  # a chain of mutations
        {"population": 3, "sample": 9},  # a sample above the population is clipped to it
        {"population": 2, "max_attempts": 50},
    ],
    "reinforce": [
        {},  # reward mixed with alpha 1: accuracy alone (plain REINFORCE NAS)
        {"reward": "mixed", "alpha": 0.5, "bound_samples": 16},  # paper 003 eq. 1
        {"reward": "mixed", "alpha": 0, "bound_samples": 16},  # energy alone, from the CLI
        {"reward": "power", "budget_mw": 5000},  # eq. 2: every network under the budget
        {"reward": "power", "budget_mw": 10.0},  # eq. 2: none under it, every reward 0
        {"reward": "accuracy", "threshold": 0.5, "bound_samples": 16},  # eq. 3
        {"cell": "gru"},
        {"cell": "lstm", "embedding": 16, "hidden": 32},
        {"batch": 2},  # an update every two rewards
        {"batch": 1, "lr": 0.05},
        {"entropy_weight": 0.0},
        {"baseline_decay": 0.5, "batch": 3},
        {"clip": 0.1, "batch": 2},
        {"max_resamples": 1},  # a repeat is proposed at once
        {"baseline": "moving", "batch": 2},  # paper 003's moving average alone
        {"baseline": "quantile", "quantile": 1.0, "batch": 2},  # every result above the worst
        {"elite": 0},  # plain REINFORCE, no self-imitation
        {"elite": 3, "batch": 2},
        {"budget": 12},
    ],
    "growtrim": [
        {},  # k 8, the ranking controller trained 60 epochs, accuracy alone (lambda_beta 0)
        {"controller": "ranking", **_FAST},
        {"controller": "gru", **_FAST},
        {"controller": "none", "k": 2},
        {"k": 1, "controller_epochs": 3},  # groups of one: only the memory head learns
        {"lambda_alpha": 1.0, "lambda_beta": 0.0, **_FAST},  # accuracy alone
        {"lambda_beta": 0, "controller": "gru", **_FAST},  # an int from the command line
        {"lambda_alpha": 0.2, "lambda_beta": 0.8, **_FAST},
        {"lambda_alpha": 0.5, "lambda_beta": 0.5, **_FAST},  # the paper's trade-off
        {"inherit_grown": True, **_FAST},
        {"inherit_grown": False, "controller": "none", "k": 2},
        {"initial": 1, **_FAST},
        {"initial": 5, **_FAST},
        {"finetune": "none", **_FAST},  # trimmed candidates trained fully
        {"finetune": None, "controller": "none", "k": 2},  # the same from Python
        {"finetune": "early", "controller": "none", "k": 2},  # another budget name
        {"controller_epochs": 1, "k": 2},
        {"max_attempts": 50, **_FAST},
        {"refit_growth": 1, **_FAST},  # refitted every iteration, as the paper does
        {"refit_growth": 3.0, **_FAST},
        {"budget": 12, **_FAST},
    ],
    "progressive": [
        {},  # k 8: the root, a round of 8, then the next round within the suite's dozen
        {"k": 2, **_SMBO},  # a round (and a refit of the regressor) every two trials
        {"k": 1, **_SMBO},  # a chain of single selections
        {"k": 3, "tiebreak": "hypervolume", **_SMBO},
        {"k": 3, "tiebreak": "crowding", **_SMBO},
        {"k": 3, "max_layers": 2, **_SMBO},  # the root and its children only
        {"k": 3, "max_layers": 4, **_SMBO},
        {"k": 2, "ensemble": 1, "epochs": 2},
        {"k": 3, "ensemble": 3, "epochs": 2},
        {"k": 2, "epochs": 1},
        {"k": 2, "warm_start": True, "epochs": 4},  # updates of epochs // 4 = 1
        {"k": 2, "warm_start": False, **_SMBO},  # refitted from scratch every round
        {"k": 3, "early": "none", **_SMBO},  # every candidate trained fully
        {"k": 3, "early": None, **_SMBO},  # the same from Python
        {"k": 3, "early": "finetune", **_SMBO},  # another budget name
        {"budget": 12, "k": 3, **_SMBO},
    ],
    "dcanas": [  # test_dcanas.py, not the shared suite: it proposes what a supernet derived
        {},
        {"cost": "params"},
        {"cost": "macs", "target": 50000.0},
        {"constraint": False, "within_limit": False},
        {"constraint": True, "lug": "lug.json", "within_limit": True},
        {"searches": 2, "epochs": 2, "batch_size": 16, "budget": 2},
        {"lr": 0.1, "arch_lr": 0.001, "lambda_lr": 0.2},
        {"bottleneck": 1, "weight_sharing": False, "derived_cells": False},
        {"bottleneck": 2, "weight_sharing": True, "derived_cells": True},
        {"lambda_on": "expected"},  # paper 004: lambda ascends on K(alpha) - K_s
        {"lambda_on": "derived", "cost": "peak"},
    ],
}

#: Constructor keywords the suite sets itself in every run.
SUITE_OPTIONS = frozenset({"seed"})

#: Constructor keywords that are not user options, with the reason; each must exist.
NOT_OPTIONS: dict[str, dict[str, str]] = {
    "random": {"seen": "the fingerprint set a strategy that samples at random in one of its "
                       "phases shares with its RandomSearch; not saved by get_config"},
    "dcanas": {"derived": "the genotypes the supernet searches derived, written by `fitnas "
                          "search` before the Study (saved by get_config, so a resume replays)"},
}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return "None" if value is None else str(value)


def option_text(variant: dict[str, Any]) -> str:
    """``KEY=VALUE,...`` as ``fitnas search --strategy NAME:KEY=VALUE,...`` takes it."""
    return ",".join(f"{key}={_text(value)}" for key, value in variant.items())


def variant_id(name: str, variant: dict[str, Any]) -> str:
    """A test id: ``growtrim:controller=gru,k=2,controller_epochs=3``, or the bare name."""
    return f"{name}:{option_text(variant)}" if variant else name
