"""``fitnas search --resume`` with flags: which settings a resumed run may change.

A run is continued with the settings it was made with. A flag given on the command line (a
default never counts: the words are parsed again with no defaults, :func:`given_flags`) that
differs from the stored value is a change:

* ``--budget``, ``--workers``, ``--backend``, ``--address``, ``--json``: always allowed (the
  budget is the run's new total; the rest say where and how it runs);
* ``--device``, the ``--max-*`` limits, ``--dtype``, ``--schedule``, ``--latency``,
  ``--objectives``, ``--epochs``, ``--early-epochs``, ``--finetune-epochs``: refused, with the
  differences listed in one line, unless ``--allow-changed-settings`` is given. Then the new
  values apply to the trials still to run (new ones, and those a stop left RUNNING); a finished
  trial keeps the costs, verdict and accuracy it was recorded with (a record never changes), so
  the best trial and the front are chosen from both; the note printed counts the finished
  trials that met the old limits but not the new ones. The replay of the strategy judges each
  earlier proposal under the limits it was made under (``Study``'s sessions), so it still
  proposes what it proposed;
* ``--data``, ``--subset``, ``--table``, ``--metric``, ``--space``, ``--strategy``, ``--seed``:
  never (they decide what the stored trials mean and what the strategy replays): a new run.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..constraints import LIMIT_NAMES
from ..errors import FitnasError
from ..study.setup import SearchSettings

__all__ = ["ALLOW_FLAG", "FIXED", "given_flags", "resumed_settings"]

ALLOW_FLAG = "--allow-changed-settings"

#: Flags (argparse dests) a resumed run never changes.
FIXED = ("data", "subset", "table", "metric", "space", "strategy", "seed")
#: Flags a resumed run changes only with ``--allow-changed-settings``.
CHANGEABLE = ("device", *LIMIT_NAMES, "dtype", "schedule", "latency", "objectives", "objective",
              "epochs", "early_epochs", "finetune_epochs")

_UNSET = object()


def given_flags(args: argparse.Namespace) -> set[str] | None:
    """The dests of the flags given on the command line (``None`` when the words are not
    known: the handler was called without ``fitnas.cli.main``)."""
    parser: argparse.ArgumentParser | None = getattr(args, "_parser", None)
    argv: list[str] | None = getattr(args, "_argv", None)
    if parser is None or argv is None:
        return None
    words = argv[argv.index(args.command) + 1:] if args.command in argv else list(argv)
    actions = [a for a in parser._actions if a.default is not argparse.SUPPRESS]
    # a repeatable flag appends to its value: it starts from None (its default) instead
    appended = {a.dest for a in actions if isinstance(a, argparse._AppendAction)}
    unset = {a.dest: None if a.dest in appended else _UNSET for a in actions}
    probe = argparse.Namespace(**unset)
    parser.parse_known_args(words, probe)
    return {dest for dest, value in unset.items() if getattr(probe, dest) is not value}


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ",".join(map(str, value)) or "none"
    return str(value)


def _spec(name: str, options: dict[str, Any]) -> str:
    return name + (":" + ",".join(f"{k}={_show(v)}" for k, v in options.items()) if options else "")


def _differences(old: SearchSettings, new: SearchSettings, given: set[str]
                 ) -> tuple[list[str], list[str]]:
    """(fixed, changeable): ``"name old -> new"`` for each given flag that differs."""
    fixed: list[str] = []
    changeable: list[str] = []
    for flag in ("data", "subset", "table", "metric", "seed"):
        if flag in given and getattr(old, flag) != getattr(new, flag):
            fixed.append(f"{flag} {_show(getattr(old, flag))} -> {_show(getattr(new, flag))}")
    if "space" in given and (old.space, old.space_options) != (new.space, new.space_options):
        fixed.append(f"space {_spec(old.space, old.space_options)} -> "
                     f"{_spec(new.space, new.space_options)}")
    if "strategy" in given:
        stored = dict(old.strategy_options)
        if "budget" not in new.strategy_options:  # planned by the first session, not a flag
            stored.pop("budget", None)
        if (old.strategy, stored) != (new.strategy, new.strategy_options):
            fixed.append(f"strategy {_spec(old.strategy, stored)} -> "
                         f"{_spec(new.strategy, new.strategy_options)}")
    if "device" in given:
        if old.device != new.device:
            changeable.append(f"device {_show(old.device)} -> {_show(new.device)}")
        elif old.device_model != new.device_model:
            changeable.append(f"device {_show(new.device)} (its profile changed)")
    for name in (*LIMIT_NAMES, "dtype", "schedule"):
        if name in given and old.limits.get(name) != new.limits.get(name):
            changeable.append(f"{name} {_show(old.limits.get(name))} -> "
                              f"{_show(new.limits.get(name))}")
    for flag in ("latency", "objectives", "epochs", "early_epochs", "finetune_epochs"):
        if flag in given and getattr(old, flag) != getattr(new, flag):
            changeable.append(f"{flag} {_show(getattr(old, flag))} -> {_show(getattr(new, flag))}")
    return fixed, changeable


def resumed_settings(out: Path, old: SearchSettings, new: SearchSettings, given: set[str] | None,
                     allow: bool) -> tuple[SearchSettings, list[str]]:
    """The settings a resumed run continues with, and the changes applied (empty: none).

    ``old``: the stored settings; ``new``: those the flags describe (defaults included);
    ``given``: the flags the user gave (``None``: unknown, then only ``budget`` is taken).
    Raises a one-line :class:`FitnasError` listing the differences when
    a fixed setting changes, or a changeable one without ``allow``."""
    if given is None:  # a caller without the words: only the budget is taken
        given = {"budget"}
    if "objective" in given:  # --objective NAME (repeated) sets the objectives too
        given = given | {"objectives"}
    fixed, changeable = _differences(old, new, given)
    where = f"--resume: the run in {str(out)!r} was made with other settings"
    if fixed:
        raise FitnasError(f"{where}: {', '.join(fixed + changeable)}; a run keeps its data, "
                          "subset, table, metric, space, strategy and seed: rerun without those "
                          "flags, or start a new run with another --out")
    if changeable and not allow:
        raise FitnasError(f"{where}: {', '.join(changeable)}; rerun without them, or add "
                          f"{ALLOW_FLAG} to apply them to the trials still to run (finished "
                          "trials keep the costs, verdicts and accuracies they got)")
    settings = old
    if changeable:
        if "device" in given and (old.device, old.device_model) != (new.device, new.device_model):
            settings = replace(settings, device=new.device, device_model=new.device_model,
                               limits=dict(new.limits))  # the new profile's, with the flags
        else:
            limits = dict(old.limits)
            for name in (*LIMIT_NAMES, "dtype", "schedule"):
                if name in given:
                    limits[name] = new.limits.get(name)
            settings = replace(settings, limits=limits)
        for flag in ("latency", "objectives", "epochs", "early_epochs", "finetune_epochs"):
            if flag in given:
                settings = replace(settings, **{flag: getattr(new, flag)})
        if "objectives" in given:
            settings = replace(settings, objective_devices=list(new.objective_devices))
    if "budget" in given:
        settings = replace(settings, budget=new.budget)
    return settings, changeable
