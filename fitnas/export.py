"""Export a built architecture to ONNX and TorchScript, checked against torch.

Both exports trace :class:`~fitnas.arch.builder.ArchModule` in eval mode under
``torch.no_grad()``, running its nodes in the execution order given (the memory-optimal order
of ``fitnas.costs.schedule`` for the model a search returns), so the exported graph lists the
operations in that order. With ``inplace=True`` (the default) the traced module follows the
lifetime plan's in-place reuse, as the memory plan counts it; the ONNX exporter turns those
in-place ops into ordinary ONNX ops, and the TorchScript module replays them, so call it under
``torch.no_grad()`` (it is an inference artifact) or export with ``inplace=False``.

The ONNX file uses the TorchScript-based exporter (``dynamo=False``: it needs no extra
package and handles the module's Python-level scheduling) at opset :data:`ONNX_OPSET`, with
one input named ``input`` of the graph's fixed shape and outputs ``output`` (or ``output0``,
``output1``, ... for several); its metadata holds the graph's fingerprint, execution order and
input shape, and with ``preprocess`` (a :class:`~fitnas.data.preprocess.Preprocess`: the
training split's per-channel mean and std in raw pixel units, the input range, layout and class
names) its JSON under ``fitnas.preprocess``. ``include_normalization=True`` bakes that
normalization into the model as a first layer, ``(x - mean[c]) / std[c]`` (ONNX ``Sub`` and
``Div`` on constants), so the model takes raw images; the check against torch then feeds both a
raw input drawn in the input range. After writing, each export is loaded back and run on a
seeded random input (ONNX under onnxruntime on this host); if an output differs from torch by
more than :data:`TOLERANCE` (absolute), :class:`ExportError` says by how much.

:func:`export_module_onnx` is the same path for any module that is not one ArchModule (the
majority vote of ``fitnas.study.ensemble``): one traced export with the batch dimension dynamic
if asked, fitnas metadata, and the same check under onnxruntime.
"""

from __future__ import annotations

import copy
import io
import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .arch import ArchGraph, check_order
from .arch.builder import ArchModule, build
from .data.preprocess import METADATA_KEY, Preprocess
from .errors import FitnasError

__all__ = [
    "ONNX_OPSET",
    "TOLERANCE",
    "ExportError",
    "Normalize",
    "check_onnx",
    "check_torchscript",
    "export_module_onnx",
    "export_onnx",
    "export_torchscript",
    "onnx_bytes",
]

#: ONNX opset of exported models (onnxruntime >= 1.12 runs it).
ONNX_OPSET = 17
#: Largest absolute difference allowed between an export's outputs and torch's.
TOLERANCE = 1e-4


class ExportError(FitnasError):
    """An export failed, or its outputs do not match torch's."""


class Normalize(nn.Module):
    """``(x - mean[c]) / std[c]`` per channel of an ``N x C x H x W`` input: a
    :class:`Preprocess` as a layer (the first one of a model exported with the normalization)."""

    mean: Tensor
    std: Tensor

    def __init__(self, preprocess: Preprocess):
        super().__init__()
        shape = (1, preprocess.channels, 1, 1)
        self.register_buffer("mean", torch.tensor(preprocess.mean, dtype=torch.float32).view(shape))
        self.register_buffer("std", torch.tensor(preprocess.std, dtype=torch.float32).view(shape))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


class _Runner(nn.Module):
    """Runs ``module`` in ``order`` (what tracing records), after ``normalize`` if given."""

    def __init__(self, module: ArchModule, order: Sequence[str], inplace: bool,
                 normalize: Preprocess | None = None):
        super().__init__()
        self.module = module
        self.order = tuple(order)
        self.inplace = inplace
        self.normalize = Normalize(normalize) if normalize is not None else None

    def forward(self, x: Tensor) -> Any:
        if self.normalize is not None:
            x = self.normalize(x)
        return self.module.execute([x], self.order, self.inplace)


def _normalization(preprocess: Preprocess | None, include: bool, graph: ArchGraph
                   ) -> Preprocess | None:
    """The normalization to bake in (``None``: none), checked against the graph's input."""
    if not include:
        return None
    if preprocess is None:
        raise ExportError("cannot include the input normalization: none is recorded for this "
                          "model (a run made before fitnas recorded it, or one without a dataset)")
    if tuple(preprocess.input_shape[1:]) != tuple(graph.input_shape[1:]):
        raise ExportError(f"the recorded normalization is for input "
                          f"{'x'.join(map(str, preprocess.input_shape))}, the model takes "
                          f"{'x'.join(map(str, graph.input_shape))}")
    return preprocess


def _check_input(shape: Sequence[int], seed: int, normalize: Preprocess | None) -> Tensor:
    """The seeded input an export is checked on: standard normal, or for a model that
    normalizes its input, raw values drawn uniformly in the input range (else around the
    mean, one std wide)."""
    if normalize is None:
        return _random_input(shape, seed)
    gen = torch.Generator().manual_seed(seed)
    if normalize.input_range is not None:
        low, high = normalize.input_range
        return low + (high - low) * torch.rand(tuple(shape), generator=gen)
    c = normalize.channels
    mean = torch.tensor(normalize.mean).view(1, c, 1, 1)
    std = torch.tensor(normalize.std).view(1, c, 1, 1)
    return mean + std * torch.randn(tuple(shape), generator=gen)


def _prepare(
    graph: ArchGraph, module: ArchModule | None, order: Sequence[str] | None
) -> tuple[ArchModule, tuple[str, ...]]:
    if module is None:
        module = build(graph)
    elif not isinstance(module, ArchModule):
        raise ExportError(f"module must be an ArchModule built from the graph (fitnas.arch.build), "
                          f"got {type(module).__name__}")
    elif module.graph.fingerprint() != graph.fingerprint():
        raise ExportError("module was built from a different graph than the one given "
                          f"(fingerprints {module.graph.fingerprint()[:12]} and "
                          f"{graph.fingerprint()[:12]})")
    order = tuple(order) if order is not None else module.order
    check_order(graph, order)
    if any(t.device.type != "cpu" for t in (*module.parameters(), *module.buffers())):
        module = copy.deepcopy(module).cpu()  # export and compare on the CPU, leave the original
    return module, order


def _outputs(value: Any) -> list[np.ndarray]:
    values = value if isinstance(value, (tuple, list)) else (value,)
    return [v.detach().cpu().numpy() for v in values]


def _output_names(graph: ArchGraph) -> list[str]:
    n = len(graph.outputs)
    return ["output"] if n == 1 else [f"output{k}" for k in range(n)]


def _random_input(shape: Sequence[int], seed: int) -> Tensor:
    return torch.randn(tuple(shape), generator=torch.Generator().manual_seed(seed))


def _reference(module: ArchModule, x: Tensor, order: Sequence[str], inplace: bool,
               normalize: Preprocess | None = None) -> list[np.ndarray]:
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            x = Normalize(normalize)(x) if normalize is not None else x.clone()
            return _outputs(module.execute([x], tuple(order), inplace))
    finally:
        module.train(was_training)


def _max_diff(got: Sequence[np.ndarray], want: Sequence[np.ndarray], what: str) -> float:
    if len(got) != len(want):
        raise ExportError(f"{what} gives {len(got)} output(s), torch gives {len(want)}")
    worst = 0.0
    for a, b in zip(got, want):
        if tuple(a.shape) != tuple(b.shape):
            raise ExportError(f"{what} output shape {tuple(a.shape)} differs from torch's "
                              f"{tuple(b.shape)}")
        if a.size:
            worst = max(worst, float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))))
    return worst


def _traced_onnx(runner: nn.Module, example: Tensor, output_names: Sequence[str],
                 metadata: Mapping[str, str], what: str, dynamic_batch: bool = False) -> bytes:
    """The one ONNX export of fitnas: trace ``runner`` on ``example`` (eval mode, no grad) at
    :data:`ONNX_OPSET`, input ``input``, and add ``metadata`` (``fitnas.*`` keys)."""
    was_training = runner.training
    runner.eval()
    buffer = io.BytesIO()
    axes = None
    if dynamic_batch:
        axes = {name: {0: "batch"} for name in ("input", *output_names)}
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                runner, (example,), buffer,  # type: ignore[arg-type]
                dynamo=False, opset_version=ONNX_OPSET, input_names=["input"],
                output_names=list(output_names), do_constant_folding=True, dynamic_axes=axes,
            )
    except Exception as err:  # the exporter raises many kinds; report them as one
        raise ExportError(f"ONNX export of {what} failed: {type(err).__name__}: "
                          f"{str(err).splitlines()[0] if str(err) else ''}") from err
    finally:
        runner.train(was_training)
    import onnx

    model = onnx.load_from_string(buffer.getvalue())
    model.producer_name = "fitnas"
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return bytes(model.SerializeToString())


def onnx_bytes(
    module: ArchModule, order: Sequence[str] | None = None, inplace: bool = True,
    metadata: bool = True, preprocess: Preprocess | None = None,
    include_normalization: bool = False,
) -> bytes:
    """The ONNX model of ``module`` (traced in eval mode, nodes in ``order``), as bytes; with
    ``preprocess`` its JSON in the metadata (``fitnas.preprocess``), and with
    ``include_normalization`` the normalization as the model's first layer."""
    graph = module.graph
    order = tuple(order) if order is not None else module.order
    normalize = _normalization(preprocess, include_normalization, graph)
    extra: dict[str, str] = {}
    if metadata:
        extra = {"fitnas.fingerprint": graph.fingerprint(),
                 "fitnas.order": json.dumps(list(order)),
                 "fitnas.input_shape": json.dumps(list(graph.input_shape)),
                 "fitnas.inplace": json.dumps(inplace)}
        if preprocess is not None:
            shipped = preprocess.included() if normalize is not None else preprocess
            extra[METADATA_KEY] = json.dumps(shipped.to_dict())
    return _traced_onnx(_Runner(module, order, inplace, normalize),
                        _check_input(graph.input_shape, 0, normalize),
                        _output_names(graph), extra,
                        f"graph {graph.name or graph.fingerprint()[:12]}")


def export_module_onnx(
    module: nn.Module,
    input_shape: Sequence[int],
    path: str | Path,
    metadata: Mapping[str, str] | None = None,
    dynamic_batch: bool = True,
    check_batch: int = 8,
    seed: int = 0,
    reference: Callable[[Tensor], Tensor] | None = None,
    preprocess: Preprocess | None = None,
) -> Path:
    """Write any single-input, single-output ``module`` as ONNX (batch dimension dynamic by
    default) and check it under onnxruntime against torch on a seeded random batch of
    ``check_batch`` (``reference(x)``: torch's outputs, default ``module(x)``); the outputs'
    argmax must agree too. ``preprocess`` goes into the metadata (``fitnas.preprocess``).
    Returns the path."""
    shape = tuple(input_shape)
    example = _random_input((1, *shape[1:]) if dynamic_batch else shape, seed)
    extra = {"fitnas.input_shape": json.dumps(list(shape)), **dict(metadata or {})}
    if preprocess is not None:
        extra[METADATA_KEY] = json.dumps(preprocess.to_dict())
    data = _traced_onnx(module, example, ["output"], extra, type(module).__name__, dynamic_batch)
    path = _write(path, data)
    x = _random_input((check_batch, *shape[1:]) if dynamic_batch else shape, seed)
    session = _ort_session(path)
    got = np.asarray(session.run(None, {"input": x.numpy()})[0])
    module.eval()
    with torch.no_grad():
        want = (reference or module)(x.clone()).detach().cpu().numpy()
    diff = _max_diff([got], [want], f"the ONNX model {str(path)!r}")
    _require_close(diff, f"the ONNX model {str(path)!r}", " under onnxruntime")
    if got.ndim == 2 and not (got.argmax(1) == want.argmax(1)).all():
        raise ExportError(f"the ONNX model {str(path)!r} picks other classes than torch")
    return path


def _write(path: str | Path, data: bytes | None = None) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if data is not None:
            path.write_bytes(data)
    except OSError as err:
        raise ExportError(f"cannot write {str(path)!r}: {err.strerror or err}") from None
    return path


def export_onnx(
    graph: ArchGraph,
    path: str | Path,
    module: ArchModule | None = None,
    order: Sequence[str] | None = None,
    inplace: bool = True,
    seed: int = 0,
    preprocess: Preprocess | None = None,
    include_normalization: bool = False,
) -> Path:
    """Write ``graph`` (with ``module``'s weights; a freshly built module if ``None``) as ONNX
    to ``path``, its nodes in ``order`` (default: the module's), and check it under
    onnxruntime against torch on a random input (``seed``); returns the path. A module on a GPU
    is copied to the CPU for the export; the original is left where it is. ``preprocess``
    goes into the metadata; ``include_normalization`` bakes it in as the first layer (the
    check then compares with torch on normalized raw input)."""
    module, order = _prepare(graph, module, order)
    normalize = _normalization(preprocess, include_normalization, graph)
    path = _write(path, onnx_bytes(module, order, inplace, preprocess=preprocess,
                                   include_normalization=include_normalization))
    _require_close(check_onnx(path, module, graph.input_shape, order=order, seed=seed,
                              normalize=normalize),
                   f"the ONNX model {str(path)!r}", " under onnxruntime")
    return path


def _require_close(diff: float, what: str, where: str = "") -> None:
    """Raise unless an exported model agrees with torch within ``TOLERANCE``."""
    if not diff <= TOLERANCE:  # also catches NaN
        raise ExportError(f"{what} differs from torch by {diff:.3g} (allowed {TOLERANCE:g}){where}")


def _ort_session(path: str | Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:
        raise ExportError(f"onnxruntime cannot load {str(path)!r}: "
                          f"{str(err).splitlines()[0] if str(err) else type(err).__name__}") from err


def check_onnx(
    path: str | Path,
    module: ArchModule,
    input_shape: Sequence[int],
    order: Sequence[str] | None = None,
    seed: int = 0,
    normalize: Preprocess | None = None,
) -> float:
    """Largest absolute difference between the ONNX model at ``path`` run by onnxruntime and
    ``module`` run by torch (eval mode, in ``order``), on one seeded random input; with
    ``normalize`` (a model that normalizes its input) the input is raw and torch's module gets
    it normalized."""
    session = _ort_session(path)
    x = _check_input(input_shape, seed, normalize)
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    want = _reference(module, x, order if order is not None else module.order, True, normalize)
    return _max_diff([np.asarray(g) for g in got], want, f"the ONNX model {str(path)!r}")


def export_torchscript(
    graph: ArchGraph,
    path: str | Path,
    module: ArchModule | None = None,
    order: Sequence[str] | None = None,
    inplace: bool = True,
    seed: int = 0,
    preprocess: Preprocess | None = None,
    include_normalization: bool = False,
) -> Path:
    """Write ``graph`` as a traced TorchScript module (``torch.jit.load`` reads it), its nodes
    in ``order``, then reload it and check it against torch; returns the path. With
    ``include_normalization`` the module normalizes its raw input first (``preprocess``)."""
    module, order = _prepare(graph, module, order)
    normalize = _normalization(preprocess, include_normalization, graph)
    runner = _Runner(module, order, inplace, normalize)
    was_training = module.training
    module.eval()
    path = _write(path)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(runner, (_check_input(graph.input_shape, 0, normalize),),
                                     check_trace=False)
            traced.save(str(path))
    except OSError as err:
        raise ExportError(f"cannot write {str(path)!r}: {err.strerror or err}") from None
    except Exception as err:
        raise ExportError(f"TorchScript export failed: {type(err).__name__}: "
                          f"{str(err).splitlines()[0] if str(err) else ''}") from err
    finally:
        module.train(was_training)
    _require_close(check_torchscript(path, module, graph.input_shape, order=order, seed=seed,
                                     normalize=normalize),
                   f"the TorchScript model {str(path)!r}")
    return path


def check_torchscript(
    path: str | Path,
    module: ArchModule,
    input_shape: Sequence[int],
    order: Sequence[str] | None = None,
    seed: int = 0,
    normalize: Preprocess | None = None,
) -> float:
    """Largest absolute difference between the TorchScript file at ``path`` and ``module``
    (with ``normalize``: the file takes raw input, ``module`` the normalized one)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            loaded = torch.jit.load(str(path))
    except Exception as err:
        raise ExportError(f"torch.jit.load cannot read {str(path)!r}: {type(err).__name__}") from err
    x = _check_input(input_shape, seed, normalize)
    with torch.no_grad():
        got = _outputs(loaded(x.clone()))
    want = _reference(module, x, order if order is not None else module.order, True, normalize)
    return _max_diff(got, want, f"the TorchScript model {str(path)!r}")
