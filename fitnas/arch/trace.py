"""Turn any ``nn.Module`` into an :class:`ArchGraph` through ``torch.fx``.

The module is traced symbolically, shapes are propagated with an example input (on the ``meta``
device when the module lives there, so large models cost no memory), and every fx node is mapped
to a catalogue op. A module or function the catalogue does not know becomes an ``opaque`` node
with its measured output shape, the parameters of that module, and no MACs; the result lists
those nodes, so nothing is silently dropped. fx nodes whose value is not a tensor (shape
arithmetic such as ``x.size(0)``) carry no data and are listed in ``non_tensor_nodes``.
"""

from __future__ import annotations

import contextlib
import io
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from ..errors import FitnasError
from .builder import ChannelShuffle, LearnedGroupConv
from .graph import INPUT, ArchGraph, Node

__all__ = ["TraceResult", "trace"]


@dataclass(frozen=True)
class TraceResult:
    """The traced graph, the opaque nodes in it and the fx nodes that carried no tensor."""

    graph: ArchGraph
    opaque_nodes: tuple[str, ...]
    non_tensor_nodes: tuple[str, ...]
    #: For nodes made from a submodule or a weight of the traced model: its dotted path, so the
    #: model's weights can be copied into the built module (``ArchModule.load_weights``).
    source_paths: dict[str, str]
    #: Parameters of modules the traced forward pass never reads (e.g. auxiliary classifiers
    #: that run only in training), by module path; they are not in ``graph``.
    unused_parameters: dict[str, int]


Mapped = tuple[str, dict[str, Any], list[Any]]


def _conv_attrs(m: nn.Conv2d) -> dict[str, Any] | None:
    if isinstance(m.padding, str) or m.padding_mode != "zeros":
        return None
    return {"out_channels": m.out_channels, "kernel": m.kernel_size, "stride": m.stride,
            "padding": m.padding, "dilation": m.dilation, "groups": m.groups,
            "bias": m.bias is not None}


def _pool_args(kernel: Any, stride: Any, padding: Any) -> dict[str, Any]:
    return {"kernel": kernel, "stride": stride if stride not in (None, ()) else None,
            "padding": padding}


def _map_module(m: nn.Module, args: Sequence[Any]) -> Mapped | None:
    """Catalogue op and attributes for a call of leaf module ``m``, or None if unknown."""
    simple: dict[type, str] = {
        nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Hardswish: "hardswish", nn.Sigmoid: "sigmoid",
        nn.Hardsigmoid: "hardsigmoid", nn.SiLU: "silu", nn.Tanh: "tanh", nn.Identity: "identity",
    }
    if type(m) in simple:
        return simple[type(m)], {}, list(args[:1])
    if isinstance(m, nn.Conv2d):
        attrs = _conv_attrs(m)
        return ("conv2d", attrs, list(args[:1])) if attrs else None
    if isinstance(m, nn.Linear):
        return "linear", {"out_features": m.out_features, "bias": m.bias is not None}, list(args)
    if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
        return "batchnorm", {"eps": m.eps, "momentum": m.momentum or 0.1, "affine": m.affine}, list(args)
    if isinstance(m, nn.MaxPool2d) and not m.return_indices:
        return "maxpool", {**_pool_args(m.kernel_size, m.stride, m.padding),
                           "dilation": m.dilation, "ceil_mode": m.ceil_mode}, list(args)
    if isinstance(m, nn.AvgPool2d) and m.divisor_override is None:
        return "avgpool", {**_pool_args(m.kernel_size, m.stride, m.padding),
                           "ceil_mode": m.ceil_mode,
                           "count_include_pad": m.count_include_pad}, list(args)
    if isinstance(m, nn.AdaptiveAvgPool2d):
        return _adaptive(m.output_size, args)
    if isinstance(m, nn.Dropout):
        return "dropout", {"p": m.p}, list(args)
    if isinstance(m, nn.Flatten) and m.end_dim == -1:
        return "flatten", {"start_dim": m.start_dim}, list(args)
    if isinstance(m, (nn.ChannelShuffle, ChannelShuffle)):
        return "channel_shuffle", {"groups": int(m.groups)}, list(args[:1])
    if isinstance(m, LearnedGroupConv):
        return "learned_group_conv", {"out_channels": m.out_channels, "groups": m.groups,
                                      "condense_factor": m.condense_factor}, list(args[:1])
    return None


def _adaptive(size: Any, args: Sequence[Any]) -> Mapped | None:
    size = (size, size) if isinstance(size, int) else tuple(size)
    if None in size:
        return None
    if size == (1, 1):
        return "global_avgpool", {}, list(args[:1])
    return "adaptive_avgpool", {"output_size": size}, list(args[:1])


def _activation_fn(op: str) -> Callable[[Sequence[Any], dict[str, Any]], Mapped | None]:
    return lambda args, kwargs: (op, {}, list(args[:1]))


def _binary(op: str) -> Callable[[Sequence[Any], dict[str, Any]], Mapped | None]:
    def mapper(args: Sequence[Any], kwargs: dict[str, Any]) -> Mapped | None:
        if len(args) == 2 and all(isinstance(a, fx.Node) for a in args) and not kwargs:
            return op, {}, list(args)
        return None

    return mapper


def _flatten(args: Sequence[Any], kwargs: dict[str, Any]) -> Mapped | None:
    start = args[1] if len(args) > 1 else kwargs.get("start_dim", 0)
    end = args[2] if len(args) > 2 else kwargs.get("end_dim", -1)
    return ("flatten", {"start_dim": start}, [args[0]]) if end == -1 and start >= 1 else None


def _cat(args: Sequence[Any], kwargs: dict[str, Any]) -> Mapped | None:
    tensors = args[0]
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    if not isinstance(tensors, (list, tuple)) or not all(isinstance(t, fx.Node) for t in tensors):
        return None
    return ("concat", {"dim": dim}, list(tensors)) if dim >= 1 else None


def _channel_shuffle(args: Sequence[Any], kwargs: dict[str, Any]) -> Mapped | None:
    a = _bind(("input", "groups"), args, kwargs, {})
    if a is None or not isinstance(a["groups"], int):
        return None
    return "channel_shuffle", {"groups": a["groups"]}, [a["input"]]


def _dropout(args: Sequence[Any], kwargs: dict[str, Any]) -> Mapped | None:
    p = args[1] if len(args) > 1 else kwargs.get("p", 0.5)
    return "dropout", {"p": p}, [args[0]]


def _max_pool(args: Sequence[Any], kwargs: dict[str, Any]) -> Mapped | None:
    names = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
    a = _bind(names, args, kwargs, {"stride": None, "padding": 0, "dilation": 1,
                                     "ceil_mode": False, "return_indices": False})
    if a is None or a["return_indices"]:
        return None
    return "maxpool", {**_pool_args(a["kernel_size"], a["stride"], a["padding"]),
                       "dilation": a["dilation"], "ceil_mode": a["ceil_mode"]}, [a["input"]]


def _avg_pool(args: Sequence[Any], kwargs: dict[str, Any]) -> Mapped | None:
    names = ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
             "divisor_override")
    a = _bind(names, args, kwargs, {"stride": None, "padding": 0, "ceil_mode": False,
                                     "count_include_pad": True, "divisor_override": None})
    if a is None or a["divisor_override"] is not None:
        return None
    return "avgpool", {**_pool_args(a["kernel_size"], a["stride"], a["padding"]),
                       "ceil_mode": a["ceil_mode"],
                       "count_include_pad": a["count_include_pad"]}, [a["input"]]


def _mean(args: Sequence[Any], kwargs: dict[str, Any]) -> Mapped | None:
    a = _bind(("input", "dim", "keepdim"), args, kwargs, {"dim": None, "keepdim": False})
    if a is None or a["dim"] is None or kwargs.get("dtype") is not None:
        return None
    dims = {int(d) for d in (a["dim"] if isinstance(a["dim"], (list, tuple)) else [a["dim"]])}
    if dims not in ({2, 3}, {-2, -1}):
        return None
    return "global_avgpool", {"keepdim": bool(a["keepdim"])}, [a["input"]]


def _bind(
    names: Sequence[str], args: Sequence[Any], kwargs: dict[str, Any], defaults: dict[str, Any]
) -> dict[str, Any] | None:
    """Positional and keyword arguments by parameter name, or None if some are unknown."""
    if len(args) > len(names) or set(kwargs) - set(names):
        return None
    bound = {**defaults, **dict(zip(names, args)), **kwargs}
    return bound if all(n in bound for n in names) else None


_FUNCTIONS: dict[Any, Callable[[Sequence[Any], dict[str, Any]], Mapped | None]] = {
    torch.relu: _activation_fn("relu"), F.relu: _activation_fn("relu"),
    torch.sigmoid: _activation_fn("sigmoid"), F.hardswish: _activation_fn("hardswish"),
    F.hardsigmoid: _activation_fn("hardsigmoid"), F.silu: _activation_fn("silu"),
    F.relu6: _activation_fn("relu6"), torch.tanh: _activation_fn("tanh"),
    operator.add: _binary("add"), operator.iadd: _binary("add"), torch.add: _binary("add"),
    operator.mul: _binary("mul"), operator.imul: _binary("mul"), torch.mul: _binary("mul"),
    torch.flatten: _flatten, torch.cat: _cat, torch.concat: _cat,
    F.channel_shuffle: _channel_shuffle, torch.channel_shuffle: _channel_shuffle,
    torch.native_channel_shuffle: _channel_shuffle,
    F.dropout: _dropout, F.max_pool2d: _max_pool, F.avg_pool2d: _avg_pool, torch.mean: _mean,
    F.adaptive_avg_pool2d: lambda args, kwargs: _adaptive(
        args[1] if len(args) > 1 else kwargs["output_size"], args),
}

def _stochastic_depth(args: Sequence[Any], kwargs: dict[str, Any]) -> Mapped | None:
    training = args[3] if len(args) > 3 else kwargs.get("training", True)
    return ("identity", {}, [args[0]]) if training is False else None


try:  # torchvision wraps stochastic depth as an fx leaf; at inference it is the identity
    from torchvision.ops import stochastic_depth as _tv_stochastic_depth

    _FUNCTIONS[_tv_stochastic_depth] = _stochastic_depth
except ImportError:  # pragma: no cover - torchvision is a dependency
    pass

_METHODS: dict[str, Callable[[Sequence[Any], dict[str, Any]], Mapped | None]] = {
    "relu": _activation_fn("relu"), "relu_": _activation_fn("relu"),
    "sigmoid": _activation_fn("sigmoid"), "flatten": _flatten, "mean": _mean,
    "add": _binary("add"), "add_": _binary("add"), "mul": _binary("mul"), "mul_": _binary("mul"),
}


def _tensor_meta(node: fx.Node) -> Any:
    return node.meta.get("tensor_meta")


def _is_tensor(node: fx.Node) -> bool:
    meta = _tensor_meta(node)
    return meta is not None and hasattr(meta, "shape")


def _shape_of(node: fx.Node) -> tuple[int, ...]:
    meta = _tensor_meta(node)
    if hasattr(meta, "shape"):
        return tuple(int(d) for d in meta.shape)
    total = sum(int(torch.Size(m.shape).numel()) for m in meta if hasattr(m, "shape"))
    return (total,)


def _target_name(node: fx.Node, module: nn.Module | None) -> str:
    if module is not None:
        return f"{type(module).__module__}.{type(module).__qualname__}"
    target = node.target
    if isinstance(target, str):
        return f"Tensor.{target}"
    return str(getattr(target, "__qualname__", None) or getattr(target, "__name__", str(target)))


def _tensor_inputs(node: fx.Node, produced: dict[str, str]) -> list[str]:
    seen: list[str] = []
    for arg in node.all_input_nodes:
        if arg.name in produced and produced[arg.name] not in seen:
            seen.append(produced[arg.name])
    return seen


def trace(model: nn.Module, input_shape: Sequence[int], name: str = "") -> TraceResult:
    """Trace ``model`` on an input of ``input_shape`` into an :class:`ArchGraph`."""
    model.eval()
    try:
        tracer = _Tracer()
        traced = tracer.trace(model)
        gm = fx.GraphModule(tracer.root, traced, type(model).__name__)
    except Exception as err:  # torch.fx raises many kinds of errors on dynamic control flow
        raise FitnasError(
            f"cannot trace {type(model).__name__} with torch.fx ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else 'no message'})"
        ) from None
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    example = torch.zeros(tuple(input_shape), device=device)
    propagation = _ShapeProp(gm)
    try:
        # ShapeProp prints the whole traceback of a failing node itself; keep it for the message
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
            propagation.propagate(example)
    except Exception as err:
        cause = err.__cause__ or err
        first = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        current = propagation.current
        where = f" at {current.target}" if current is not None else ""
        raise FitnasError(
            f"{type(model).__name__} does not run on an input of shape {tuple(input_shape)}"
            f"{where}: {first}"
        ) from None

    modules = dict(gm.named_modules())
    produced: dict[str, str] = {}
    nodes: list[Node] = []
    opaque: list[str] = []
    non_tensor: list[str] = []
    outputs: list[str] = []
    paths: dict[str, str] = {}
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if produced:
                raise FitnasError("only models with one tensor input can be traced")
            produced[node.name] = INPUT
            continue
        if node.op == "output":
            outputs = [produced[n.name] for n in node.all_input_nodes if n.name in produced]
            continue
        if not _is_tensor(node) and not (node.op == "call_module" and _tensor_meta(node)):
            non_tensor.append(node.name)
            continue
        mapped: Mapped | None = None
        module = modules.get(node.target) if node.op == "call_module" else None
        if node.op == "get_attr":
            value = _fetch_attr(gm, str(node.target))
            nodes.append(Node(node.name, "parameter", (), {
                "shape": tuple(value.shape), "trainable": isinstance(value, nn.Parameter)}))
            produced[node.name] = node.name
            paths[node.name] = str(node.target)
            continue
        if module is not None:
            mapped = _map_module(module, node.args)
        elif node.op == "call_function" and node.target in _FUNCTIONS:
            mapped = _FUNCTIONS[node.target](node.args, dict(node.kwargs))
        elif node.op == "call_method" and node.target in _METHODS:
            mapped = _METHODS[node.target](node.args, dict(node.kwargs))
        if mapped is not None and all(
            isinstance(a, fx.Node) and a.name in produced for a in mapped[2]
        ):
            op, attrs, args = mapped
            nodes.append(Node(node.name, op, tuple(produced[a.name] for a in args), attrs))
            if module is not None:
                paths[node.name] = str(node.target)
        else:
            params = sum(p.numel() for p in module.parameters()) if module is not None else 0
            nodes.append(Node(node.name, "opaque", tuple(_tensor_inputs(node, produced)), {
                "target": _target_name(node, module), "out_shape": _shape_of(node),
                "params": int(params)}))
            opaque.append(node.name)
        produced[node.name] = node.name
    graph = ArchGraph(tuple(input_shape), nodes, outputs or None, name=name)
    return TraceResult(graph, tuple(opaque), tuple(non_tensor), paths,
                       _unused_parameters(model, gm))


def _unused_parameters(model: nn.Module, gm: fx.GraphModule) -> dict[str, int]:
    used: set[int] = set()
    for node in gm.graph.nodes:
        if node.op == "call_module":
            used |= {id(p) for p in gm.get_submodule(node.target).parameters()}
        elif node.op == "get_attr":
            used.add(id(_fetch_attr(gm, str(node.target))))
    unused: dict[str, int] = {}
    seen: set[int] = set()
    for path, param in model.named_parameters():
        if id(param) in used or id(param) in seen:
            continue
        seen.add(id(param))
        owner = path.rsplit(".", 1)[0] if "." in path else path
        unused[owner.split(".")[0]] = unused.get(owner.split(".")[0], 0) + param.numel()
    return unused


class _Tracer(fx.Tracer):
    """fx's tracer, keeping the builder's group modules whole (they map to one op each)."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return isinstance(m, (ChannelShuffle, LearnedGroupConv)) or super().is_leaf_module(
            m, module_qualified_name)


class _ShapeProp(ShapeProp):
    """ShapeProp that remembers the node it is running, to name it when a shape fails."""

    current: fx.Node | None = None

    def run_node(self, n: fx.Node) -> Any:
        self.current = n
        return super().run_node(n)


def _fetch_attr(gm: fx.GraphModule, target: str) -> torch.Tensor:
    value: Any = gm
    for part in target.split("."):
        value = getattr(value, part)
    return value
