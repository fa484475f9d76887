"""``fitnas report DIR``: a self-contained ``report.html`` and its PNG charts.

Charts: the Pareto front (accuracy against each constrained cost, every trial shown, the front
joined) with its hypervolume and reference point (:func:`fitnas.study.pareto.hypervolume`),
accuracy and best-so-far over the trials, and the data-lifetime chart of the best
model (bytes alive at each step of its memory plan, the peak marked). The HTML embeds the PNGs
(base64), so the one file can be mailed or archived.

Accuracies are shown as percent with two decimals (``fitnas.report.formats``): the validation
accuracy the search ranked on, and beside it the held-out test accuracy scored once at the end
of the search (``fitnas.study.holdout``; "-" for a trial not scored).
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from ..states import TrialState
from ..study.run import RunRecord
from ..units import format_bytes, format_count
from .formats import format_accuracy

__all__ = ["write_report"]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _pareto_png(study: RunRecord, path: Path, objectives: list[str]) -> None:
    plt = _plt()
    trials = [t for t in study.trials((TrialState.COMPLETE,)) if t.accuracy is not None]
    front = {t.number for t in study.pareto_front(objectives)}
    fig, axes = plt.subplots(1, len(objectives), figsize=(5.0 * len(objectives), 4.0),
                             squeeze=False)
    for ax, cost in zip(axes[0], objectives):
        feasible = [t for t in trials if t.feasible]
        ax.scatter([t.costs.get(cost, 0) for t in feasible], [t.accuracy for t in feasible],
                   s=18, alpha=0.5, label="trials")
        on_front = [t for t in feasible if t.number in front]
        ax.scatter([t.costs.get(cost, 0) for t in on_front], [t.accuracy for t in on_front],
                   s=36, color="crimson", label="Pareto front (all objectives)", zorder=3)
        stair, top = [], -1.0  # the front of this projection: the best accuracy at each cost
        for t in sorted(feasible, key=lambda t: (t.costs.get(cost, 0), -(t.accuracy or 0))):
            if (t.accuracy or 0) > top:
                top = t.accuracy or 0
                stair.append(t)
        ax.step([t.costs.get(cost, 0) for t in stair], [t.accuracy for t in stair], where="post",
                color="crimson", alpha=0.6, label=f"best accuracy for its {cost}")
        ax.set_xlabel(cost)
        ax.set_ylabel("validation accuracy")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle("accuracy against cost")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _progress_png(study: RunRecord, path: Path) -> None:
    plt = _plt()
    trials = [t for t in study.trials() if t.state in (TrialState.COMPLETE, TrialState.FAILED)]
    xs, accs, best, top = [], [], [], None
    for t in trials:
        if t.accuracy is not None:
            xs.append(t.number)
            accs.append(t.accuracy)
            if t.feasible and (top is None or t.accuracy > top):
                top = t.accuracy
            best.append(top if top is not None else float("nan"))
    fig, ax = plt.subplots(figsize=(7.0, 3.8))
    ax.scatter(xs, accs, s=14, alpha=0.5, label="trial accuracy")
    ax.step(xs, best, where="post", color="crimson", label="best feasible so far")
    ax.set_xlabel("trial")
    ax.set_ylabel("validation accuracy")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _embed(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in columns)
                   + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_DEVICE_COLUMNS = {"latency_ms": ("latency", "{:.4g} ms"), "energy_uj": ("energy", "{:.4g} uJ"),
                   "avg_power_mw": ("avg power", "{:.4g} mW"),
                   "peak_power_mw": ("peak power", "{:.4g} mW")}


def _hypervolume_html(study: RunRecord, objectives: list[str]) -> str:
    """The front's hypervolume over accuracy and ``objectives`` and its reference point, where
    each reference value came from (the limit, else the largest feasible value)."""
    from ..constraints import LIMIT_COSTS
    from ..study.pareto import hypervolume

    limits = study.constraints.limits
    limited = {LIMIT_COSTS[n] for n in limits.active()}
    hv = hypervolume(study.trials((TrialState.COMPLETE,)), objectives, limits)
    parts = []
    for name in hv.objectives:
        value = hv.reference[name]
        source = ("" if name == "accuracy" else " (its limit)" if name in limited
                  else " (the largest among the feasible trials)")
        parts.append(f"{name} {'-' if value is None else f'{value:.6g}'}{source}")
    units = " x ".join(("accuracy", *objectives))
    return (f"<p>Hypervolume: <b>{hv.value:.6g}</b> ({html.escape(units)}, raw units), the "
            f"volume the front dominates up to the reference point {html.escape('; '.join(parts))}"
            ".</p>")


def _device_label(key: str) -> str:
    """``latency_ms@stm32f746-disco`` -> ``latency on stm32f746-disco``."""
    cost, _, device = key.partition("@")
    return f"{_DEVICE_COLUMNS.get(cost, (cost, ''))[0]} on {device}" if device else cost


def _device_value(key: str, value: float) -> str:
    return _DEVICE_COLUMNS.get(key.partition("@")[0], ("", "{:.4g}"))[1].format(value)


def _device_fronts_png(fronts: dict[str, list[Any]], trials: list[Any], objectives: list[str],
                       path: Path) -> None:
    """Per device: accuracy against that device's latency (or its first objective), every
    feasible trial shown, the device's front joined, the Panacea starred."""
    from ..costs.objectives import split_objective
    from ..study.pareto import panacea

    plt = _plt()
    both = {t.number for t in panacea(fronts)}
    fig, axes = plt.subplots(1, len(fronts), figsize=(5.0 * len(fronts), 4.0), squeeze=False)
    feasible = [t for t in trials if t.feasible and t.accuracy is not None]
    for ax, (device, front) in zip(axes[0], fronts.items()):
        own = [c for c in objectives if split_objective(c)[1] == device]
        key = next((c for c in own if c.startswith("latency_ms@")), own[0])
        ax.scatter([t.costs.get(key, 0) for t in feasible], [t.accuracy for t in feasible],
                   s=18, alpha=0.4, label="trials")
        ordered = sorted(front, key=lambda t: t.costs.get(key, 0))
        ax.plot([t.costs.get(key, 0) for t in ordered], [t.accuracy for t in ordered], "o",
                color="crimson", ms=5, label=f"front on {device}")
        stars = [t for t in front if t.number in both]
        if stars:
            ax.scatter([t.costs.get(key, 0) for t in stars], [t.accuracy for t in stars],
                       marker="*", s=220, color="gold", edgecolors="black", zorder=4,
                       label="on every device's front (Panacea)")
        ax.set_xlabel(_device_label(key))
        ax.set_ylabel("validation accuracy")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle("per-device fronts")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _device_fronts_html(study: RunRecord, objectives: list[str], png: Path | None) -> str:
    """The per-device fronts (DPP-Net, paper 003 section 4.2): each device's front over
    accuracy, the objectives naming no device and that device's own; the trials on every
    front marked (the Panacea). Empty when no objective names a device."""
    from ..study.holdout import holdout_accuracies
    from ..study.pareto import device_fronts, panacea

    fronts = device_fronts(study.judged(), objectives)
    if not fronts:
        return ""
    if png is not None:
        _device_fronts_png(fronts, study.trials((TrialState.COMPLETE,)), objectives, png)
    both = {t.number for t in panacea(fronts)}
    tests = holdout_accuracies(study)
    keys = [c for c in objectives if "@" in c]
    seen: dict[int, Any] = {}
    for front in fronts.values():
        for t in front:
            seen.setdefault(t.number, t)
    rows = []
    for t in sorted(seen.values(), key=lambda t: (-(t.accuracy or 0.0), t.number)):
        row = {"trial": t.number, "val accuracy": format_accuracy(t.accuracy),
               "test accuracy": format_accuracy(tests.get(t.number)),
               "on the front of": ", ".join(d for d, f in fronts.items()
                                            if any(o.number == t.number for o in f))
               + ("  (Panacea)" if t.number in both else "")}
        for key in keys:
            row[_device_label(key)] = _device_value(key, t.costs[key]) if key in t.costs else "-"
        rows.append(row)
    sizes = ", ".join(f"{html.escape(d)}: {len(f)}" for d, f in fronts.items())
    if len(fronts) < 2:
        verdict = ""
    elif both:
        verdict = (" On every device's front (DPP-Net's <i>Panacea</i>): <b>"
                   + ", ".join(f"trial {n}" for n in sorted(both)) + "</b>.")
    else:
        verdict = " No trial is on every device's front."
    return (f"<h2>Per-device fronts</h2><p>Each device's front over accuracy, the objectives "
            f"that name no device and that device's own (trials per front: {sizes}).{verdict}</p>"
            + _table(rows, ["trial", "val accuracy", "test accuracy",
                            *[_device_label(k) for k in keys], "on the front of"])
            + (_embed(png) if png is not None and png.exists() else ""))


def write_report(study: RunRecord, folder: Path | None = None,
                 objectives: list[str] | None = None) -> Path:
    """Write ``report.html`` and the PNGs into ``folder`` (default: the run folder), from the
    run's record (``fitnas.study.load_run``): no dataset or search space is needed.
    ``objectives``: the costs of the Pareto front (default: the run's own, see
    ``RunRecord.cost_objectives``); every completed trial must have them."""
    from ..costs import lifetime_table
    from ..study.holdout import holdout_accuracies
    from ..study.outputs import summary
    from .lifetime import plot_lifetime

    if folder is None and study.directory is None:
        raise ValueError("an in-memory study has no folder; give the report a folder")
    folder = Path(folder or study.directory)  # type: ignore[arg-type]
    folder.mkdir(parents=True, exist_ok=True)
    objectives = objectives or study.cost_objectives()
    done = study.trials((TrialState.COMPLETE,))
    for cost in objectives:
        if done and not any(cost in t.costs for t in done):
            from ..errors import FitnasError

            raise FitnasError(f"no trial of {study.name} has the cost {cost!r}; its trials have "
                              f"{', '.join(sorted(done[0].costs))}")
    pngs = {"pareto": folder / "pareto.png", "progress": folder / "progress.png"}
    devices_html = _device_fronts_html(study, objectives, folder / "device_fronts.png")
    _pareto_png(study, pngs["pareto"], objectives)
    _progress_png(study, pngs["progress"])
    data = summary(study)
    best = data["best"]
    if best is not None:
        graph, order = study.graph(best["trial"]), study.order(best["trial"])
        dtype = study.constraints.limits.dtype
        pngs["lifetime"] = folder / "lifetime.png"
        plot_lifetime(lifetime_table(graph, order, dtype), str(pngs["lifetime"]),
                      title=f"best model (trial {best['trial']}): bytes alive per step")
    front_rows = []
    tests = holdout_accuracies(study)
    front = study.pareto_front(objectives)
    device_columns = [k for k in _DEVICE_COLUMNS if any(k in t.costs for t in front)]
    per_device = [c for c in objectives if "@" in c]
    for t in front:
        row = {"trial": t.number, "val accuracy": format_accuracy(t.accuracy),
               "test accuracy": format_accuracy(tests.get(t.number)),
               "params": format_count(int(t.costs.get("params", 0))),
               "param memory": format_bytes(int(t.costs.get("param_bytes", 0))),
               "peak activations": format_bytes(int(t.costs.get("peak_activation_bytes", 0))),
               "MACs": format_count(int(t.costs.get("macs", 0)))}
        for key in device_columns:
            label, form = _DEVICE_COLUMNS[key]
            row[label] = form.format(t.costs[key]) if key in t.costs else "-"
        for key in per_device:
            row[_device_label(key)] = _device_value(key, t.costs[key]) if key in t.costs else "-"
        front_rows.append(row)
    counts = ", ".join(f"{n} {s.lower()}" for s, n in data["counts"].items())
    limits: list[str] = study.constraints.describe()
    best_html = "<p>No trial met every limit and trained successfully.</p>" if best is None else (
        f"<p><b>Trial {best['trial']}</b>: validation accuracy "
        f"{format_accuracy(best['accuracy'])}, test accuracy "
        f"{format_accuracy(best.get('test_accuracy'), 'not measured')}, "
        f"{format_count(best['params'])} parameters ({format_bytes(best['param_bytes'])}), "
        f"peak activation memory {format_bytes(best['peak_activation_bytes'])}, "
        f"{format_count(best['macs'])} MACs"
        + "".join(f", {_DEVICE_COLUMNS[k][0]} {_DEVICE_COLUMNS[k][1].format(best[k])}"
                  for k in _DEVICE_COLUMNS if best.get(k) is not None) + ".</p>")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>fitnas report: {html.escape(str(folder))}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
img{{max-width:100%;display:block;margin:1em 0}}</style></head><body>
<h1>fitnas search report</h1>
<p>Run folder: <code>{html.escape(str(study.directory))}</code>. Trials: {html.escape(counts)}.</p>
<h2>Limits</h2><ul>{"".join(f"<li>{html.escape(x)}</li>" for x in limits) or "<li>none</li>"}</ul>
<h2>Best model</h2>{best_html}
<h2>Pareto front</h2><p>Objectives: accuracy, {html.escape(", ".join(objectives))}.</p>
{_hypervolume_html(study, objectives)}
{_table(front_rows, ["trial", "val accuracy", "test accuracy", "params", "param memory",
                     "peak activations", "MACs", *[_DEVICE_COLUMNS[k][0] for k in device_columns],
                     *[_device_label(k) for k in per_device]])}
{_embed(pngs["pareto"])}
{devices_html}
<h2>Accuracy over the search</h2>{_embed(pngs["progress"])}
{"<h2>Memory of the best model</h2>" + _embed(pngs["lifetime"]) if "lifetime" in pngs else ""}
</body></html>
"""
    out = folder / "report.html"
    out.write_text(page)
    return out
