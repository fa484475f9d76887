"""The lifetime model of ``fitnas.costs.lifetime`` as a function of the SET of scheduled nodes.

The exact scheduler (``schedule_dp``) is a dynamic programme over sets of scheduled nodes, in the
spirit of SERENITY (Ahn et al., MLSys 2020, section 3.1). It is only correct if the memory alive
after a set of nodes has run, and the cost of running one more node, depend on the set and not on
the order that produced it. This module states the lifetime model (paper 000, section 3.4, as
``plan_buffers`` implements it) in that form, and says why it is the same model.

Groups. Follow ``identity``/``flatten``/``dropout`` (alias ops) from a tensor back to the first
tensor that is not an alias: its *writer*. A tensor's *group* is its writer's; it is static (a
property of the graph, not of the order). ``plan_buffers`` puts every alias in its input's
buffer, so a group always lives in one buffer. A buffer holds several groups over time only by
in-place reuse, and an op ``v`` writes in place into the buffer of its input ``src`` only when no
member of that buffer is read after ``v``'s step and none is an output: every group that lived
in the buffer before is dead after ``v``. So after any step the live tensors of a buffer are all
in the group of the buffer's latest writer, and the bytes alive are the sum, over groups with a
live member, of the group's size: ``numel(writer)`` bytes, or 0 for a weight (``parameter``)
group. In-place reuse needs equal shapes, so the group of an in-place writer has the size of the
buffer it reuses.

Liveness. After the set ``S`` has run (``input`` always counts as run), tensor ``t`` is live iff
``t`` was produced and ``t`` is an output or some consumer of ``t`` is not in ``S``: exactly
``birth <= k <= last_read`` of ``plan_buffers`` at the step ``k`` that follows ``S``. Hence

    M(S) = sum of size(g) over groups g with a live member after S       (a function of S).

Cost of a step. Running ``v`` after ``S`` costs ``T(S, v) = M(S) + alloc(S, v) + workspace(v)``:
the buffers alive before (which include ``v``'s inputs, since ``v`` reads them), plus ``v``'s new
buffer unless ``v`` is an alias or writes in place. ``plan_buffers`` writes in place when ``v``
may (``spec.inplace`` and ``inplace=True``) and some input ``src`` has ``v``'s shape, its buffer
is neither the network input's nor a weight, and every member of that buffer has
``last_read <= step`` and is no output. Members of dead groups satisfy this trivially; for the
live group ``g`` of ``src`` it says: every produced member of ``g`` is no output and has all its
consumers in ``S | {v}``. That is a function of ``(S, v)``; so is ``alloc``. Which operand is
overwritten when several qualify changes buffer identities only, never a byte count.

Step 0 holds the input alone (``numel(input)`` bytes, alive even if nothing reads it), so the
peak of an order is ``max(input_bytes, max_k T(S_k, v_k))``. :meth:`SetModel.peak` evaluates an
order this way; tests check it equals ``peak_activation_bytes`` on random graphs, and
``best_order`` checks the two agree on every order it returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..arch import INPUT, ArchGraph, create_op
from ..arch.ops import numel
from .dtypes import bytes_per_element

__all__ = ["SetModel", "bits"]


def bits(mask: int) -> Iterable[int]:
    """Indices of the set bits of ``mask``, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


class SetModel:
    """Per-set memory of one graph: node ``i`` of ``graph.order`` is bit ``i``, the input bit ``n``.

    All tables are lists indexed by tensor (``0..n-1`` nodes, ``n`` the input); sizes are bytes.
    """

    def __init__(self, graph: ArchGraph, dtype: str = "fp32", inplace: bool = True) -> None:
        self.graph = graph
        self.names: tuple[str, ...] = graph.order
        n = self.n = len(self.names)
        index = {name: i for i, name in enumerate(self.names)}
        index[INPUT] = n
        self.index = index
        bpe = bytes_per_element(dtype)
        self.input_bit = 1 << n
        self.input_bytes = graph.numel(INPUT) * bpe
        outputs = set(graph.outputs)

        self.consumers: list[int] = [0] * (n + 1)
        self.is_output: list[bool] = [False] * (n + 1)
        self.preds: list[int] = [0] * n  # nodes (not the input) a node reads
        self.inputs: list[tuple[int, ...]] = []  # distinct input tensors, in operand order
        self.alloc: list[int] = [0] * n  # bytes of a new buffer for the node's output
        self.workspace: list[int] = [0] * n
        self.alias: list[bool] = [False] * n
        self.inplace_srcs: list[tuple[int, ...]] = []  # operands it may overwrite (static part)
        self.group: list[int] = [n] * (n + 1)
        group_size: list[int] = [0] * (n + 1)
        group_size[n] = self.input_bytes
        for i, name in enumerate(self.names):
            node = graph.node(name)
            spec = create_op(node.op)
            ins = tuple(dict.fromkeys(index[t] for t in node.inputs))
            self.inputs.append(ins)
            for t in ins:
                self.consumers[t] |= 1 << i
                if t != n:
                    self.preds[i] |= 1 << t
            self.is_output[i] = name in outputs
            self.workspace[i] = sum(
                numel(s) for s in spec.workspace(node.attrs, graph.input_shapes(name))) * bpe
            if spec.alias:
                self.alias[i] = True
                self.group[i] = self.group[ins[0]]
            else:
                self.group[i] = i
                group_size[i] = graph.numel(name) * bpe if spec.activation else 0
                self.alloc[i] = group_size[i]
            weight = [not create_op(graph.node(self.names[self.group[t]]).op).activation
                      if self.group[t] != n else True for t in ins]
            self.inplace_srcs.append(tuple(
                t for t, w in zip(ins, weight)
                if spec.inplace and inplace and not spec.alias and not w
                and graph.shape(self.names[t] if t != n else INPUT) == graph.shape(name)
            ) if not spec.alias else ())
        self.group_size = group_size
        members: dict[int, list[int]] = {}
        for t in range(n + 1):
            members.setdefault(self.group[t], []).append(t)
        self.members: list[tuple[int, ...]] = [tuple(members.get(g, ())) for g in range(n + 1)]
        # per group: the consumers of all its members, and its members that are outputs. A
        # member is produced only after the member it aliases, so for a produced writer "some
        # produced member has a consumer outside S" is "some member does" (bit tests below).
        self.group_cons = [0] * (n + 1)
        self.group_out = [0] * (n + 1)
        for g in range(n + 1):
            for t in self.members[g]:
                self.group_cons[g] |= self.consumers[t]
                if self.is_output[t]:
                    self.group_out[g] |= 1 << t
        self.all_nodes = (1 << n) - 1
        # per node: the groups it reads, the groups whose liveness its step may change, the
        # groups it may overwrite, and every reader of the groups it reads (static parts of
        # ``step`` and of the "last reader" test of ``schedule_dp``)
        self.read_groups: list[tuple[int, ...]] = []
        self.touched: list[tuple[int, ...]] = []
        self.inplace_groups: list[tuple[int, ...]] = []
        self.read_cons: list[int] = []
        for v in range(n):
            reads = tuple(dict.fromkeys(self.group[t] for t in self.inputs[v]))
            self.read_groups.append(reads)
            self.touched.append(tuple(dict.fromkeys((*reads, self.group[v]))))
            self.inplace_groups.append(tuple(self.group[t] for t in self.inplace_srcs[v]))
            cons = 0
            for g in reads:
                cons |= self.group_cons[g]
            self.read_cons.append(cons)

    # ------------------------------------------------------------------ set functions
    def group_live(self, g: int, done: int) -> bool:
        """Some member of group ``g`` is alive after ``done`` (input bit included)."""
        return bool(done >> g & 1) and bool(self.group_out[g] & done
                                            or self.group_cons[g] & ~done)

    def memory(self, done: int) -> int:
        """``M(S)``: bytes alive after the set ``done`` has run."""
        done |= self.input_bit
        return sum(self.group_size[g] for g in {self.group[t] for t in bits(done)}
                   if self.group_live(g, done))

    def consumed_by(self, g: int, done: int) -> bool:
        """Every produced member of the produced group ``g`` has all its consumers in ``done``."""
        return not self.group_cons[g] & ~done

    def allocates(self, done: int, v: int) -> int:
        """``alloc(S, v)``: bytes of the buffer ``v`` allocates after ``done`` (0 in place)."""
        alloc = self.alloc[v]
        if alloc:
            after = done | 1 << v
            cons, out = self.group_cons, self.group_out
            for g in self.inplace_groups[v]:
                if not cons[g] & ~after and not out[g] & done:
                    return 0
        return alloc

    def step(self, done: int, mem: int, v: int) -> tuple[int, int]:
        """``(T(S, v), M(S | {v}))`` given ``mem == M(S)``; ``done`` includes the input bit."""
        after = done | 1 << v
        cons, out = self.group_cons, self.group_out
        alloc = self.alloc[v]
        if alloc:
            for g in self.inplace_groups[v]:
                if not cons[g] & ~after and not out[g] & done:
                    alloc = 0
                    break
        cost = mem + alloc + self.workspace[v]
        new = mem
        for g in self.touched[v]:
            before = done >> g & 1 and (out[g] & done or cons[g] & ~done)
            now = out[g] & after or cons[g] & ~after
            if bool(before) != bool(now):
                new += self.group_size[g] if now else -self.group_size[g]
        return cost, new

    # ------------------------------------------------------------------ orders
    def peak(self, order: Sequence[int], done: int | None = None) -> int:
        """Peak bytes of running ``order`` (node indices) after ``done`` (default: nothing)."""
        done = self.input_bit if done is None else done | self.input_bit
        mem = self.memory(done)
        peak = self.input_bytes if done == self.input_bit else 0
        for v in order:
            cost, mem = self.step(done, mem, v)
            peak = max(peak, cost)
            done |= 1 << v
        return peak

    def order_indices(self, order: Sequence[str]) -> list[int]:
        return [self.index[name] for name in order]
