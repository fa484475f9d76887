"""The input normalization that travels with an exported model (``fitnas.data.preprocess``):
stated in raw pixel units, it gives back exactly the dataset's normalized splits; it goes into
the ONNX metadata, and baked in as a first layer the model takes raw input and still matches
torch under onnxruntime."""

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
from fitnas.data import ImageArrays, Preprocess, PreprocessError, create_dataset, make_dataset
from fitnas.data.preprocess import METADATA_KEY
from fitnas.data.splits import split_indices
from fitnas.export import ExportError, export_onnx, export_torchscript


def _graph(channels: int = 3) -> ArchGraph:
    return ArchGraph((1, channels, 8, 8), [
        ("conv", "conv2d", ("input",), {"out_channels": 4, "kernel": 3, "padding": 1}),
        ("relu", "relu", ("conv",), {}),
        ("pool", "global_avgpool", ("relu",), {}),
        ("fc", "linear", ("pool",), {"out_features": 5}),
    ])


PRE = Preprocess(dataset="toy", input_shape=(1, 3, 8, 8), mean=(120.0, 60.0, 200.0),
                 std=(50.0, 20.0, 10.0), input_range=(0.0, 255.0), classes=5,
                 class_names=("a", "b", "c", "d", "e"))


def test_digits_preprocess_gives_back_the_normalized_test_split_from_raw_pixels() -> None:
    from sklearn.datasets import load_digits

    data = create_dataset("digits", seed=3)
    pre = data.preprocess()
    assert pre.input_range == (0.0, 16.0) and pre.layout == "NCHW"
    assert pre.input_shape == (1, 1, 8, 8) and pre.classes == 10
    assert pre.class_names == tuple(str(d) for d in range(10))
    _, held = split_indices(1797, 0.2, 3 + 1)  # digits' test split: test_fraction, seed + 1
    raw = load_digits().images[held][:, None].astype(np.float32)  # pixel values 0..16
    assert raw.max() == 16.0
    assert np.allclose(pre.apply(raw), data.test.x.numpy(), atol=1e-6)
    assert Preprocess.from_dict(json.loads(pre.to_json())) == pre


def test_uint8_images_are_described_in_0_255() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(40, 3, 4, 4), dtype=np.uint8)
    y = np.arange(40) % 2
    data = make_dataset("toy", "memory", ImageArrays(x, y), seed=0)
    pre = data.preprocess()
    assert pre.input_range == (0.0, 255.0)
    _, held = split_indices(40, 0.2, 1)  # the test split of a source without one
    assert np.allclose(pre.apply(x[held]), data.test.x.numpy(), atol=1e-5)
    # float images without a range are taken as given: the statistics are their own
    floats = make_dataset("toy", "memory", ImageArrays(x.astype(np.float32) / 7, y), seed=0)
    assert floats.preprocess().input_range is None
    assert np.allclose(floats.preprocess().apply(x[held].astype(np.float32) / 7),
                       floats.test.x.numpy(), atol=1e-5)


@pytest.mark.parametrize("bad, message", [
    ({"format": "other"}, "not a fitnas.Preprocess"),
    ({"version": 2}, "version 2"),
    ({"std": [1.0, 0.0, 1.0]}, "positive"),
    ({"mean": [1.0]}, "one mean and std per channel"),
    ({"input_range": [5, 1]}, "low < high"),
    ({"input_shape": "1x3x8x8"}, "positive ints"),
    ({"class_names": [1, 2]}, "class_names"),
])
def test_a_bad_record_is_one_error(bad: dict, message: str) -> None:
    data = {**PRE.to_dict(), **bad}
    with pytest.raises(PreprocessError, match=message):
        Preprocess.from_dict(data)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_onnx_carries_the_preprocess_and_bakes_it_in_on_request(tmp_path: Path) -> None:
    graph = _graph()
    module = build(graph).eval()
    plain = export_onnx(graph, tmp_path / "plain.onnx", module, preprocess=PRE)
    baked = export_onnx(graph, tmp_path / "baked.onnx", module, preprocess=PRE,
                        include_normalization=True)
    meta = {p.key: p.value for p in onnx.load(str(plain)).metadata_props}
    assert Preprocess.from_dict(json.loads(meta[METADATA_KEY])) == PRE
    meta = {p.key: p.value for p in onnx.load(str(baked)).metadata_props}
    assert json.loads(meta[METADATA_KEY])["in_model"] is True
    raw = torch.rand(graph.input_shape, generator=torch.Generator().manual_seed(4)) * 255
    with torch.no_grad():
        want = module(torch.from_numpy(PRE.apply(raw.numpy()))).numpy()
    for path, x in ((baked, raw.numpy()), (plain, PRE.apply(raw.numpy()))):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(None, {"input": x})[0]
        assert np.abs(got - want).max() < 1e-4, path.name
    script = export_torchscript(graph, tmp_path / "baked.pt", module, preprocess=PRE,
                                include_normalization=True)
    with torch.no_grad():
        got = torch.jit.load(str(script))(raw.clone()).numpy()
    assert np.abs(got - want).max() < 1e-4


def test_baking_in_needs_a_matching_record(tmp_path: Path) -> None:
    graph = _graph()
    with pytest.raises(ExportError, match="none is recorded"):
        export_onnx(graph, tmp_path / "m.onnx", include_normalization=True)
    other = Preprocess("toy", (1, 1, 8, 8), (0.0,), (1.0,))
    with pytest.raises(ExportError, match="for input 1x1x8x8"):
        export_onnx(graph, tmp_path / "m.onnx", preprocess=other, include_normalization=True)
