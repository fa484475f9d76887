"""ONNX and TorchScript exports: run them for real (onnxruntime, torch.jit.load) and compare."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from fitnas.arch import ArchGraph
from fitnas.arch.builder import build
from fitnas.arch.random_graph import random_graph
from fitnas.costs import best_order
from fitnas.export import (
    ExportError,
    check_onnx,
    check_torchscript,
    export_onnx,
    export_torchscript,
)


def _onnx_outputs(path: Path, x: torch.Tensor) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return [np.asarray(o) for o in session.run(None, {"input": x.numpy()})]


def _torch_outputs(graph: ArchGraph, module: torch.nn.Module, x: torch.Tensor) -> list[np.ndarray]:
    module.eval()
    with torch.no_grad():
        out = module(x.clone())
    outs = out if isinstance(out, tuple) else (out,)
    assert len(outs) == len(graph.outputs)
    return [o.numpy() for o in outs]


def _worst(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    assert [x.shape for x in a] == [y.shape for y in b]
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b))


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 5, 8])
def test_random_graphs_onnx_matches_torch_in_best_order(seed: int, tmp_path: Path) -> None:
    graph = random_graph(seed, 14)
    module = build(graph)
    order = best_order(graph).order
    path = export_onnx(graph, tmp_path / "sub" / "model.onnx", module, order=order)
    assert module.training  # export leaves the module's mode as it found it
    x = torch.randn(graph.input_shape, generator=torch.Generator().manual_seed(100 + seed))
    assert _worst(_onnx_outputs(path, x), _torch_outputs(graph, module, x)) <= 1e-4
    model = onnx.load(str(path))
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["fitnas.order"]) == list(order)
    assert meta["fitnas.fingerprint"] == graph.fingerprint()
    assert [o.name for o in model.graph.input] == ["input"]
    # the ONNX nodes of the graph's layers come in the order given (node names carry the
    # layer's module key, n<index>_<name>)
    seen = _layer_sequence(graph, model)
    assert seen, "no layer names in the ONNX graph: the order check proves nothing"
    position = {name: k for k, name in enumerate(order)}
    ranks = [position[name] for name in seen]
    assert ranks == sorted(ranks)


def _layer_sequence(graph: ArchGraph, model: onnx.ModelProto) -> list[str]:
    keys = {f"n{k}_{n.name}": n.name for k, n in enumerate(graph.nodes)}
    seen = [keys[part] for node in model.graph.node for part in node.name.split("/")
            if part in keys]
    return list(dict.fromkeys(seen))


def test_onnx_node_sequence_follows_the_order_given(tmp_path: Path) -> None:
    conv = {"out_channels": 4, "kernel": 3, "padding": 1}
    graph = ArchGraph((1, 3, 8, 8), [
        ("a1", "conv2d", ("input",), conv), ("a2", "conv2d", ("a1",), conv),
        ("b1", "conv2d", ("input",), conv), ("b2", "conv2d", ("b1",), conv),
        ("cat", "concat", ("a2", "b2"), {}),
    ])
    module = build(graph)
    for order in (("a1", "a2", "b1", "b2", "cat"), ("b1", "b2", "a1", "a2", "cat"),
                  ("a1", "b1", "b2", "a2", "cat")):
        path = export_onnx(graph, tmp_path / "m.onnx", module, order=order)
        assert _layer_sequence(graph, onnx.load(str(path))) == list(order)


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("seed", [4, 9])
def test_out_of_place_export_and_torchscript(seed: int, tmp_path: Path) -> None:
    graph = random_graph(seed, 14)
    module = build(graph)
    order = best_order(graph).order
    x = torch.randn(graph.input_shape, generator=torch.Generator().manual_seed(7))
    want = _torch_outputs(graph, module, x)
    path = export_onnx(graph, tmp_path / "m.onnx", module, order=order, inplace=False)
    assert _worst(_onnx_outputs(path, x), want) <= 1e-4
    for inplace in (True, False):
        ts = export_torchscript(graph, tmp_path / f"m{inplace}.pt", module, order, inplace=inplace)
        loaded = torch.jit.load(str(ts))
        with torch.no_grad():
            got = loaded(x.clone())
        got_list = [o.numpy() for o in (got if isinstance(got, tuple) else (got,))]
        assert _worst(got_list, want) <= 1e-4


@pytest.mark.slow
def test_torchvision_model_onnx_matches_torch(tmp_path: Path) -> None:
    from fitnas.modelspec import load_graph

    torch.manual_seed(0)
    graph = load_graph("torchvision:mobilenet_v3_small", (1, 3, 64, 64)).graph
    module = build(graph)
    path = export_onnx(graph, tmp_path / "mobilenet.onnx", module)
    x = torch.randn(graph.input_shape, generator=torch.Generator().manual_seed(3))
    got, want = _onnx_outputs(path, x), _torch_outputs(graph, module, x)
    assert got[0].shape == (1, 1000)
    assert _worst(got, want) <= 1e-4
    assert check_onnx(path, module, graph.input_shape) <= 1e-4


def test_a_changed_module_is_detected(tmp_path: Path) -> None:
    graph = random_graph(11, 10)
    module = build(graph)
    path = export_onnx(graph, tmp_path / "m.onnx", module)
    ts = export_torchscript(graph, tmp_path / "m.pt", module)
    assert check_onnx(path, module, graph.input_shape) <= 1e-4
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.5)
    assert check_onnx(path, module, graph.input_shape) > 1e-3
    assert check_torchscript(ts, module, graph.input_shape) > 1e-3


def test_export_errors(tmp_path: Path) -> None:
    graph = random_graph(12, 8)
    other = random_graph(13, 8)
    with pytest.raises(ExportError, match="different graph"):
        export_onnx(graph, tmp_path / "m.onnx", build(other))
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ExportError, match="cannot write"):
        export_onnx(graph, blocker / "m.onnx")
    with pytest.raises(ExportError, match="cannot write"):
        export_torchscript(graph, blocker / "m.pt")
    with pytest.raises(ExportError, match="onnxruntime cannot load"):
        check_onnx(blocker, build(graph), graph.input_shape)
    reversed_order = tuple(reversed(graph.order))
    with pytest.raises(Exception, match="order"):
        export_onnx(graph, tmp_path / "m.onnx", order=reversed_order)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_module_on_gpu_is_exported_from_a_cpu_copy(tmp_path: Path) -> None:
    graph = random_graph(14, 10)
    module = build(graph).cuda()
    path = export_onnx(graph, tmp_path / "m.onnx", module)
    assert next(module.parameters()).is_cuda
    cpu = build(graph)
    cpu.load_state_dict({k: v.cpu() for k, v in module.state_dict().items()})
    assert check_onnx(path, cpu, graph.input_shape) <= 1e-4
