"""Split a graph into pieces at single-tensor cut points, to schedule each piece alone.

A node ``c`` is a cut point when every other node is an ancestor or a descendant of it (so every
order runs all ancestors, then ``c``, then all descendants), no tensor before ``c`` (the network
input included) is read after ``c`` by anything but ``c``, and none of them is an output. Then
after ``c`` only ``c``'s group can be alive from the part before it, whatever order that part
ran in; the steps after ``c`` cost the same for any order of the part before, and the steps
before ``c`` do not depend on the order after (``schedule_model``: costs are functions of the
set of nodes run). The best order of the whole is the concatenation of the best orders of the
pieces, and its peak is the largest of their peaks: a network of stacked blocks costs the sum of
its blocks, not their product (SERENITY, Ahn et al. MLSys 2020, section 3.3, "divide and
conquer"). Dead-end nodes and outputs before ``c`` prevent ``c`` from being a cut, as they must.

Cut points are found in ``O(n)`` big-integer operations: in the graph's order, ``c`` at position
``p`` is a cut iff its ancestors are exactly the nodes before ``p``, its descendants exactly the
nodes after ``p``, and no tensor before ``p`` has a reader after ``p`` or is an output.
"""

from __future__ import annotations

from .schedule_model import SetModel, bits

__all__ = ["cut_points", "pieces"]


def cut_points(model: SetModel) -> list[int]:
    """Indices (in the graph's order) of the cut points, in order."""
    n = model.n
    anc = [0] * n
    for v in range(n):
        for u in bits(model.preds[v]):
            anc[v] |= anc[u] | 1 << u
    desc = [0] * n
    for v in range(n - 1, -1, -1):
        for w in bits(model.consumers[v]):
            desc[v] |= desc[w] | 1 << w
    cuts = []
    reach = model.consumers[n].bit_length() - 1  # last reader of anything before position p
    blocked = False  # an output before position p
    for p in range(n):
        before = (1 << p) - 1
        after = model.all_nodes & ~((1 << (p + 1)) - 1)
        if not blocked and reach <= p and anc[p] == before and desc[p] == after:
            cuts.append(p)
        reach = max(reach, model.consumers[p].bit_length() - 1)
        blocked = blocked or model.is_output[p]
    return cuts


def pieces(model: SetModel) -> list[int]:
    """The node sets (bit masks) of the pieces between consecutive cut points, in order."""
    result = []
    start = 0
    for c in cut_points(model):
        result.append(((1 << (c + 1)) - 1) & ~((1 << start) - 1))
        start = c + 1
    if start < model.n:
        result.append(model.all_nodes & ~((1 << start) - 1))
    return [p for p in result if p]
