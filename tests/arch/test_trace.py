"""torch.fx tracing: any nn.Module becomes an ArchGraph, nothing silently dropped."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from fitnas.arch.builder import build
from fitnas.arch.trace import trace
from fitnas.costs import count_params
from fitnas.errors import FitnasError
from fitnas.modelspec import load_module

ALL_MODELS = torchvision.models.list_models(module=torchvision.models)
#: Models whose training-only auxiliary classifiers hold parameters the inference pass never reads.
AUXILIARY = {"googlenet": {"aux1", "aux2"}, "inception_v3": {"AuxLogits"}}


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL_MODELS)
def test_parameters_of_every_torchvision_model(name: str) -> None:
    model, shape = load_module(f"torchvision:{name}", meta=True)
    assert shape is not None
    result = trace(model, shape)
    total = sum(p.numel() for p in model.parameters())
    assert count_params(result.graph) + sum(result.unused_parameters.values()) == total
    assert set(result.unused_parameters) == AUXILIARY.get(name, set())


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "squeezenet1_1",
                                  "efficientnet_b0", "densenet121", "googlenet"])
def test_built_module_computes_what_the_model_computes(name: str) -> None:
    """With the model's weights copied in, the module built from the traced graph gives the
    same outputs: the trace kept every operation and the builder rebuilt each faithfully."""
    torch.manual_seed(0)
    model, _ = load_module(f"torchvision:{name}")
    model.eval()
    shape = (1, 3, 96, 96)
    result = trace(model, shape)
    assert result.opaque_nodes == ()
    built = build(result.graph).eval()
    built.load_weights(model, result.source_paths)
    x = torch.randn(shape)
    with torch.inference_mode():
        torch.testing.assert_close(built(x.clone()), model(x), rtol=1e-4, atol=1e-4)


class WithUnknownOps(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.norm = nn.GroupNorm(2, 8)
        self.scale = nn.Parameter(torch.ones(1, 8, 1, 1))
        self.fc = nn.Linear(8 * 6 * 6, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.conv(x)) * self.scale
        y = torch.nn.functional.gelu(y).permute(0, 1, 3, 2)
        y = y.reshape(x.size(0), -1)
        return self.fc(y)


def test_unknown_ops_become_opaque_nodes() -> None:
    model = WithUnknownOps()
    result = trace(model, (2, 3, 6, 6))
    graph = result.graph
    ops = {graph.node(n).attrs["target"] for n in result.opaque_nodes}
    assert ops == {"torch.nn.modules.normalization.GroupNorm", "gelu", "Tensor.permute",
                   "Tensor.reshape"}
    assert graph.opaque_nodes == result.opaque_nodes
    assert "size" in result.non_tensor_nodes
    assert count_params(graph) == sum(p.numel() for p in model.parameters())
    norm = next(n for n in result.opaque_nodes if "GroupNorm" in graph.node(n).attrs["target"])
    assert graph.shape(norm) == (2, 8, 6, 6)
    assert graph.node(norm).attrs["params"] == 16
    assert any(n.op == "parameter" for n in graph.nodes)
    assert graph.shape(graph.outputs[0]) == (2, 5)
    with pytest.raises(FitnasError, match="catalogue does not know"):
        build(graph)


class Dynamic(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 if x.sum() > 0 else x


def test_untraceable_model_is_a_clear_error() -> None:
    with pytest.raises(FitnasError, match=r"cannot trace Dynamic with torch\.fx"):
        trace(Dynamic(), (1, 3))


def test_wrong_input_shape_is_a_clear_error() -> None:
    with pytest.raises(FitnasError, match=r"does not run on an input of shape \(1, 5, 6, 6\)"):
        trace(WithUnknownOps(), (1, 5, 6, 6))
