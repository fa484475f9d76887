"""Parameters and MACs against torchvision's own metadata and against measurements."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models import get_model_weights

from fitnas.arch.builder import build
from fitnas.arch.random_graph import random_graph
from fitnas.costs import count_macs, count_params, param_bytes
from fitnas.modelspec import load_graph

MODELS = ["resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "vgg16",
          "efficientnet_b0", "squeezenet1_1", "densenet121"]


@pytest.mark.parametrize("name", MODELS)
def test_macs_match_torchvision_metadata(name: str) -> None:
    """torchvision's ``_ops`` is GMACs of conv and linear layers at 224x224, printed with three
    decimals. We agree within 0.5%, or within the rounding of the printed figure where that is
    coarser (mobilenet_v3_small: 0.0565 GMACs printed as 0.057, 0.9% apart by rounding alone),
    and our figure rounds to the printed one."""
    published = get_model_weights(name).DEFAULT.meta["_ops"]
    ours = count_macs(load_graph(f"torchvision:{name}").graph) / 1e9
    assert round(ours, 3) == pytest.approx(published, abs=1e-9)
    assert abs(ours - published) <= max(0.005 * published, 0.0005)


@pytest.mark.parametrize("name", MODELS)
def test_params_match_torchvision_metadata(name: str) -> None:
    graph = load_graph(f"torchvision:{name}").graph
    assert count_params(graph) == get_model_weights(name).DEFAULT.meta["num_params"]
    assert param_bytes(graph, "int8") * 4 == param_bytes(graph, "fp32")
    assert param_bytes(graph, "fp16") == 2 * count_params(graph)


@given(seed=st.integers(0, 10**6), size=st.integers(3, 25))
def test_random_graphs_params_and_macs_match_the_built_module(seed: int, size: int) -> None:
    graph = random_graph(seed, size)
    module = build(graph).eval()
    assert count_params(graph) == sum(p.numel() for p in module.parameters())
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        module(torch.randn(graph.input_shape))
    assert 2 * count_macs(graph) == counter.get_total_flops()
