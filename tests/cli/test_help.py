"""``--help`` says what every command does, every option's default, and the names a flag takes
(issue 18, item 9)."""

from __future__ import annotations

import argparse

import pytest

from fitnas.cli import build_parser, main
from fitnas.cli.search import SPACE_NAMES, STRATEGY_NAMES
from fitnas.devices import list_devices
from fitnas.spaces import list_spaces
from fitnas.strategies import list_strategies


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(prefix: str, p: argparse.ArgumentParser) -> None:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    found[f"{prefix} {name}".strip()] = sub
                    walk(f"{prefix} {name}", sub)
    walk("", parser)
    return found


COMMANDS = _commands()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_a_description_and_every_argument_a_help(name: str) -> None:
    parser = COMMANDS[name]
    assert parser.description, f"`fitnas {name}` has no description"
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        assert action.help, f"`fitnas {name}`: {action.option_strings or action.dest} has no help"


def test_search_help_shows_the_defaults_and_the_names(capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    assert main(["search", "--help"]) == 0
    # argparse wraps lines, also after a hyphen ("nano33-ble-" / "sense")
    text = " ".join(capsys.readouterr().out.split()).replace("- ", "-")
    for default in ("(default: digits)", "(default: chain)", "(default: random)",
                    "(default: 3m)", "(default: 8.0)", "(default: 1)", "(default: local)",
                    "(default: cifar10_val)", "(default: stm32f746-disco)"):
        assert default in text, default
    for name in (*list_strategies(), *list_spaces(), *list_devices()):
        assert name in text, name


def test_the_help_lists_match_the_registries() -> None:
    assert set(STRATEGY_NAMES) == set(list_strategies())
    assert set(SPACE_NAMES) == set(list_spaces())


def test_bench_offers_only_the_limits_it_checks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "nb201", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in ("--max-latency-ms", "--max-energy-uj", "--max-power-mw", "--latency "):
        assert flag not in text, flag
    for flag in ("--max-peak-mem", "--max-params", "--max-macs", "--dtype", "--schedule"):
        assert flag in text, flag
