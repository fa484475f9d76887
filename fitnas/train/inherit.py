"""Weight inheritance: a child network starts from its parent's weights where they match.

Paper 000 section 4 fine-tunes every trimmed candidate "based on the previous model" for 20
epochs instead of training it from scratch for 60. The paper does not say how weights map
from parent to child; here a layer is shared when both graphs have a node of that name
(the position in the architecture) with the same op and every tensor of its state (weights,
biases, batch-norm statistics) has the same name and shape in both. Such a layer is copied
whole; any other layer with state keeps its fresh initialization. A layer is never
half-copied, so a widened convolution is fresh rather than partly inherited.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..arch import ArchGraph
from ..arch.builder import ArchModule, build
from .config import TrainError

__all__ = ["InheritReport", "Parent", "inherit_weights"]

#: A parent: its module, its (graph, state_dict), or a state_dict laid out like the child's.
Parent = ArchModule | tuple[ArchGraph, Mapping[str, Tensor]] | Mapping[str, Tensor]


@dataclass(frozen=True)
class InheritReport:
    """Which layers (node names) were copied from the parent and which start fresh."""

    inherited: tuple[str, ...]
    fresh: tuple[str, ...]
    tensors_inherited: int
    tensors_total: int
    elements_inherited: int
    elements_total: int

    @property
    def complete(self) -> bool:
        """Every tensor of the child came from the parent."""
        return self.tensors_inherited == self.tensors_total

    def to_dict(self) -> dict[str, Any]:
        return {"inherited": list(self.inherited), "fresh": list(self.fresh),
                "tensors_inherited": self.tensors_inherited, "tensors_total": self.tensors_total,
                "elements_inherited": self.elements_inherited,
                "elements_total": self.elements_total}


def _parent_layers(
    parent: Parent, child: ArchModule
) -> tuple[ArchGraph, dict[str, dict[str, Tensor]]]:
    """The parent's graph and the state of each of its nodes, keyed by node name."""
    if isinstance(parent, ArchModule):
        module = parent
    elif isinstance(parent, tuple) and len(parent) == 2 and isinstance(parent[0], ArchGraph):
        module = build(parent[0])
        try:
            module.load_state_dict(dict(parent[1]))
        except RuntimeError as err:
            raise TrainError(f"the parent state_dict does not fit the parent graph: "
                             f"{str(err).splitlines()[0]}") from None
    elif isinstance(parent, Mapping):
        state = dict(parent)
        layers: dict[str, dict[str, Tensor]] = {}
        for node in child.graph.nodes:
            own = child.layer(node.name).state_dict()
            prefix = _prefix(child, node.name)
            found = {k: state[prefix + k] for k in own if prefix + k in state}
            if found:
                layers[node.name] = found
        return child.graph, layers
    else:
        raise TrainError(f"a parent must be an ArchModule, a (ArchGraph, state_dict) pair or a "
                         f"state_dict, got {type(parent).__name__}")
    return module.graph, {n.name: module.layer(n.name).state_dict() for n in module.graph.nodes}


def _prefix(module: ArchModule, name: str) -> str:
    layer = module.layer(name)
    for key, sub in module.layers.items():
        if sub is layer:
            return f"layers.{key}."
    raise TrainError(f"node {name!r} has no layer")  # unreachable for a built module


@torch.no_grad()
def inherit_weights(child: ArchModule, parent: Parent) -> InheritReport:
    """Copy into ``child`` every layer it shares with ``parent`` by node name, op and shapes."""
    parent_graph, parent_layers = _parent_layers(parent, child)
    parent_ops = {n.name: n.op for n in parent_graph.nodes}
    inherited: list[str] = []
    fresh: list[str] = []
    t_in = t_all = e_in = e_all = 0
    for node in child.graph.nodes:
        own = child.layer(node.name).state_dict(keep_vars=True)
        if not own:
            continue
        size = sum(t.numel() for t in own.values())
        t_all += len(own)
        e_all += size
        theirs = parent_layers.get(node.name, {})
        same = (parent_ops.get(node.name, node.op) == node.op and set(theirs) == set(own)
                and all(theirs[k].shape == v.shape for k, v in own.items()))
        if not same:
            fresh.append(node.name)
            continue
        for k, v in own.items():
            v.copy_(theirs[k].to(device=v.device, dtype=v.dtype))
        inherited.append(node.name)
        t_in += len(own)
        e_in += size
    return InheritReport(tuple(inherited), tuple(fresh), t_in, t_all, e_in, e_all)
