"""The lifetime table (paper 000 Table 1) as a rich table, and the bytes-alive chart."""

from __future__ import annotations

from typing import Any

from ..costs.lifetime import LifetimeTable
from ..units import format_bytes

__all__ = ["lifetime_rich_table", "plot_lifetime"]


def lifetime_rich_table(table: LifetimeTable) -> Any:
    """One column per step, one row per buffer with its size where alive, totals last."""
    from rich.table import Table

    t = Table(title=f"data lifetime ({table.dtype}); peak {format_bytes(table.peak_bytes)} "
                    f"at step {table.peak_step} ({table.peak_node})")
    t.add_column("tensor", no_wrap=True)
    t.add_column("bytes", justify="right")
    for step, name in enumerate(table.steps):
        t.add_column(f"{step}\n{name}", justify="right",
                     style="bold red" if step == table.peak_step else None)
    for buffer in table.rows:
        label = buffer.name if len(buffer.tensors) == 1 else f"{buffer.name} (+{len(buffer.tensors) - 1})"
        size = table.buffer_bytes(buffer)
        t.add_row(label, f"{size:,}",
                  *(f"{size:,}" if buffer.alive_at(s) else "" for s in range(len(table.steps))))
    if any(table.plan.workspace_elements):
        t.add_row("(workspace)", "", *(
            f"{table.workspace_bytes(s):,}" if table.plan.workspace_elements[s] else ""
            for s in range(len(table.steps))))
    t.add_row("#ALIVE", "", *(f"{v:,}" for v in table.totals), style="bold")
    return t


def plot_lifetime(table: LifetimeTable, path: str, title: str = "") -> None:
    """Write a PNG of the bytes alive at each step, the peak marked and its node named."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = range(len(table.totals))
    fig, ax = plt.subplots(figsize=(max(6.0, min(18.0, len(table.totals) * 0.08)), 4.0))
    ax.fill_between(steps, table.totals, step="mid", alpha=0.35)
    ax.step(steps, table.totals, where="mid", linewidth=1.2)
    peak = table.peak_step
    ax.plot([peak], [table.peak_bytes], "o", color="crimson")
    ax.annotate(f"peak {format_bytes(table.peak_bytes)}\nat {table.peak_node}",
                (peak, table.peak_bytes), textcoords="offset points", xytext=(8, -4),
                va="top", color="crimson", fontsize=9)
    ax.set_xlabel("step (0 = input)")
    ax.set_ylabel(f"activation bytes alive ({table.dtype})")
    ax.set_ylim(0, table.peak_bytes * 1.15 + 1)
    ax.set_title(title or "data lifetime")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
