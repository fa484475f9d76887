"""Resolve a MODEL argument into an :class:`ArchGraph`.

A MODEL is one of:

* ``torchvision:NAME``: a torchvision classification model, built with ``weights=None`` (nothing
  is downloaded), on the ``meta`` device when it allows so that even the largest costs no memory;
* ``path/to/file.py:FACTORY``: a function in that file returning an ``nn.Module``;
* ``path/to/arch.json``: an :class:`ArchGraph` saved with ``to_json()``;
* ``SPACE:ENCODING``: an encoding of a registered search space (``fitnas.spaces.list_spaces``),
  e.g. ``nb201:CELLSTR`` (a NAS-Bench-201 ``cellstr``) or ``cells:'{"blocks": [...]}'``
  (the space's JSON); ``input_shape`` and ``classes`` build the space for that input and number
  of classes, else each space uses its defaults (1x3x32x32 and 10 classes);
* ``PREFIX:TEXT`` for any prefix added with :func:`register_model_source`.

The resolver asks the space registry itself (``fitnas.spaces.create_space``); spaces know
nothing of this module.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .arch import ArchGraph
from .errors import FitnasError, ModelSpecError
from .jsonio import loads

__all__ = [
    "LoadedModel",
    "load_graph",
    "load_module",
    "load_space_model",
    "model_forms",
    "register_model_source",
]

#: Input shapes of torchvision models whose default is not 1x3x224x224.
_TORCHVISION_INPUTS = {"inception_v3": (1, 3, 299, 299)}


@dataclass(frozen=True)
class LoadedModel:
    """A resolved MODEL: its graph and what the user should know about how it was read."""

    graph: ArchGraph
    source: str
    unused_parameters: dict[str, int] = field(default_factory=dict)
    non_tensor_nodes: tuple[str, ...] = ()


Source = Callable[[str, "tuple[int, ...] | None", "int | None"], LoadedModel]
_SOURCES: dict[str, tuple[Source, str]] = {}


def register_model_source(prefix: str, loader: Source, example: str) -> None:
    """Accept ``PREFIX:TEXT`` as a MODEL; ``loader(text, input_shape, classes)`` resolves it."""
    _SOURCES[prefix] = (loader, example)


_SPACE_EXAMPLES = {
    "nb201": "nb201:CELLSTR (e.g. nb201:'|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...|')",
}


def model_forms() -> str:
    """One line listing the accepted MODEL forms, for error messages and help."""
    from .spaces import list_spaces

    forms = ["torchvision:NAME (e.g. torchvision:mobilenet_v2)", "path/to/file.py:FACTORY",
             "path/to/arch.json"]
    forms += [_SPACE_EXAMPLES.get(name, f"{name}:JSON (an encoding of the {name!r} search space)")
              for name in list_spaces()]
    forms += [example for _, example in _SOURCES.values()]
    return "; ".join(forms)


def load_space_model(name: str, text: str, input_shape: tuple[int, ...] | None,
                     classes: int | None) -> LoadedModel:
    """The network of encoding ``text`` of search space ``name``."""
    from .spaces import create_space

    space = create_space(name, input_shape=input_shape, classes=classes)
    enc = space.parse(text)
    return LoadedModel(space.decode(enc), f"{name}:{space.format(enc)}")


def load_module(spec: str, meta: bool = False) -> tuple[Any, tuple[int, ...] | None]:
    """The ``nn.Module`` of a ``torchvision:`` or ``file.py:`` MODEL and its default input."""
    if spec.startswith("torchvision:"):
        return _torchvision_module(spec.split(":", 1)[1], meta)
    path, sep, factory = spec.rpartition(":")
    if sep and path.endswith(".py"):
        module = _factory_module(Path(path), factory)
        shape = getattr(module, "input_shape", None)
        return module, tuple(int(d) for d in shape) if isinstance(shape, (tuple, list)) else None
    raise ModelSpecError(f"{spec!r} does not name a module; use {model_forms()}")


def load_graph(
    spec: str, input_shape: Sequence[int] | None = None, classes: int | None = None
) -> LoadedModel:
    """The :class:`ArchGraph` of a MODEL, on ``input_shape`` when given."""
    from .spaces import list_spaces

    shape = tuple(input_shape) if input_shape is not None else None
    prefix, sep, rest = spec.partition(":")
    if sep and prefix in list_spaces():
        return load_space_model(prefix, rest, shape, classes)
    if sep and prefix in _SOURCES:
        return _SOURCES[prefix][0](rest, shape, classes)
    if spec.endswith(".json"):
        return _json_graph(Path(spec), shape)
    if spec.startswith("torchvision:") or (sep and spec.rpartition(":")[0].endswith(".py")):
        from .arch.trace import trace

        module, default = load_module(spec, meta=True)
        shape = shape or default
        if shape is None:
            raise ModelSpecError(f"give the input shape of {spec!r} with --input, e.g. 1x3x32x32")
        result = trace(module, shape, name=spec)
        return LoadedModel(result.graph, spec, result.unused_parameters, result.non_tensor_nodes)
    raise ModelSpecError(f"cannot read MODEL {spec!r}; use {model_forms()}")


def _torchvision_module(name: str, meta: bool) -> tuple[Any, tuple[int, ...]]:
    import torch
    import torchvision

    known = torchvision.models.list_models(module=torchvision.models)
    if name not in known:
        raise ModelSpecError(
            f"torchvision has no classification model {name!r}; known: {', '.join(known[:12])}, "
            f"... ({len(known)} in all, see torchvision.models.list_models())"
        )
    kwargs: dict[str, Any] = {"weights": None}
    if name in ("googlenet", "inception_v3"):
        kwargs["init_weights"] = False
    if meta:
        try:
            with torch.device("meta"):
                return torchvision.models.get_model(name, **kwargs), _default_input(name)
        except (NotImplementedError, RuntimeError):
            pass  # some initialisers copy data; build on the CPU instead
    return torchvision.models.get_model(name, **kwargs), _default_input(name)


def _default_input(name: str) -> tuple[int, ...]:
    return _TORCHVISION_INPUTS.get(name, (1, 3, 224, 224))


def _factory_module(path: Path, factory: str) -> Any:
    if not path.is_file():
        raise ModelSpecError(f"model file {str(path)!r} does not exist")
    module_name = f"_fitnas_user_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ModelSpecError(f"cannot import {str(path)!r} as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        raise ModelSpecError(f"importing {str(path)!r} failed: {type(err).__name__}: {err}") from None
    fn = getattr(module, factory, None)
    if not callable(fn):
        names = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise ModelSpecError(f"{str(path)!r} has no function {factory!r}; it defines {names[:10]}")
    try:
        model = fn()
    except Exception as err:
        raise ModelSpecError(f"{factory}() in {str(path)!r} raised {type(err).__name__}: {err}") from None
    import torch

    if not isinstance(model, torch.nn.Module):
        raise ModelSpecError(f"{factory}() returned {type(model).__name__}, not a torch.nn.Module")
    return model


def _json_graph(path: Path, shape: tuple[int, ...] | None) -> LoadedModel:
    if not path.is_file():
        raise ModelSpecError(f"architecture file {str(path)!r} does not exist")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ModelSpecError(f"{str(path)!r} is not a readable JSON file: {err}") from None
    data = loads(text, repr(str(path)), ModelSpecError)
    try:
        graph = ArchGraph.from_dict(data)
    except FitnasError as err:
        raise ModelSpecError(f"{str(path)!r}: {err}") from None
    if shape is not None and shape != graph.input_shape:
        graph = graph.with_input_shape(shape)
    return LoadedModel(graph, str(path))
