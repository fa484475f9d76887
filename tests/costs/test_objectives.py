"""Objectives on named devices (DPP-Net, paper 003 section 4): their names, and the costs the
cost model computes for each objective device."""

from __future__ import annotations

import pytest

from fitnas.constraints import Constraints
from fitnas.costs.device import ComputeProfile, device_costs
from fitnas.costs.model import CostModel, CostModelError, Costs
from fitnas.costs.objectives import (
    ObjectiveError,
    canonical_objective,
    check_unique,
    objective_devices,
    split_objective,
)
from fitnas.devices import load_device
from fitnas.errors import FitnasError
from fitnas.spaces import create_space
from fitnas.study.run import check_objectives


def _profile(name: str) -> ComputeProfile:
    profile = load_device(name).compute
    assert profile is not None
    return profile


STM32 = _profile("stm32f746-disco")
PI = _profile("rpi-zero-2w")
PICO = _profile("rpi-pico")  # a latency model, no power figures


def test_names() -> None:
    assert split_objective("params") == ("params", None)
    assert split_objective("latency@stm32f746-disco") == ("latency_ms", "stm32f746-disco")
    assert split_objective(" energy_uj @ rpi-zero-2w ") == ("energy_uj", "rpi-zero-2w")
    assert canonical_objective("latency@a") == "latency_ms@a"
    assert objective_devices(["latency@a", "params", "energy@b", "latency@b"]) == ["a", "b"]
    assert check_unique(["latency@a", "energy@a"]) == ["latency_ms@a", "energy_uj@a"]


@pytest.mark.parametrize("names, words", [
    (["params@stm32f746-disco"], "only a device cost can name a device"),
    (["latency@"], "expected a device name after '@'"),
    (["latency@a", "latency_ms@a"], "given twice"),
    (["params", "params"], "given twice"),
])
def test_bad_names(names: list[str], words: str) -> None:
    with pytest.raises(ObjectiveError, match=words) as err:
        check_unique(names)
    assert "\n" not in str(err.value)


def test_costs_on_each_device_at_its_own_dtype() -> None:
    space = create_space("nb201")
    graph = space.decode(space.sample(3))
    model = CostModel("fp32", devices=[STM32, PI])
    costs = model.costs(graph)
    for profile in (STM32, PI):
        on = device_costs(graph, profile, profile.dtype)  # int8 on the MCU, fp32 on the Pi
        assert costs[f"latency_ms@{profile.name}"] == on.latency_ms
        assert costs[f"energy_uj@{profile.name}"] == on.energy_uj
    assert STM32.dtype != PI.dtype
    assert costs["latency_ms@stm32f746-disco"] != costs["latency_ms@rpi-zero-2w"]
    assert "latency_ms" not in costs  # no run device: the plain key stays unset
    again = Costs.from_dict(costs.to_dict())
    assert again == costs and dict(again) == dict(costs)
    hash(costs)
    assert CostModel.from_config(model.get_config()).costs(graph) == costs
    pico = CostModel(devices=[PICO]).costs(graph)
    assert "latency_ms@rpi-pico" in pico and "energy_uj@rpi-pico" not in pico


def test_bad_devices() -> None:
    with pytest.raises(CostModelError, match="given twice"):
        CostModel(devices=[STM32, STM32])
    with pytest.raises(CostModelError, match="expected a list"):
        CostModel(devices=STM32.to_dict())  # type: ignore[arg-type]


def test_check_objectives_names_the_problem() -> None:
    constraints = Constraints(devices=[STM32, PICO])
    assert check_objectives(["latency@stm32f746-disco", "params", "latency@rpi-pico"],
                            constraints) == ["latency_ms@stm32f746-disco", "params",
                                             "latency_ms@rpi-pico"]
    for names, words in ((["latency@rpi-zero-2w"], "not one of the run's objective devices"),
                         (["energy@rpi-pico"], "power"),
                         (["bogus@rpi-pico"], "only a device cost"),
                         (["latency@rpi-pico", "latency_ms@rpi-pico"], "given twice"),
                         (["flops"], "unknown objective")):
        with pytest.raises(FitnasError, match=words) as err:
            check_objectives(names, constraints)
        assert "\n" not in str(err.value)
    # the Constraints keep the devices through their stored configuration
    assert [d.name for d in Constraints.from_config(constraints.get_config()).cost_model.devices
            ] == ["stm32f746-disco", "rpi-pico"]
