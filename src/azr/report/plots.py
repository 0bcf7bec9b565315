"""Per-step plots of a run as base64 PNGs (matplotlib, Agg, no pyplot global state).

matplotlib is imported inside `render_plots` only: it is an optional dependency (the `train`
and `eval` extras) and costs ~0.3 s to import, which `azr --help` must not pay.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from azr.report.data import RunData, series

# One colour per task type, one line style per role, so the six groups read at a glance.
# Task-type colours in registry order (deduction, abduction, induction, then any others).
_TYPE_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")
_STYLES = {"proposer": "-", "solver": "--"}
_PHASES = ("generation", "execution", "update", "sync", "other")
_PHASE_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8c8c8c")


@dataclass
class Plot:
    """One embedded figure: a title, a caption and the PNG bytes base64-encoded."""

    title: str
    caption: str
    png_base64: str


# Beyond this many steps markers clutter the lines and bars turn into a smear.
_DENSE = 60


def smooth(ys: list[float], window: int) -> list[float]:
    """Trailing mean over `window` points, NaNs ignored (NaN where a window has none)."""
    out: list[float] = []
    total, count = 0.0, 0
    for i, y in enumerate(ys):
        if y == y:
            total, count = total + y, count + 1
        if i >= window and ys[i - window] == ys[i - window]:
            total, count = total - ys[i - window], count - 1
        out.append(total / count if count else float("nan"))
    return out


def dodge(series: list[list[float]], gap: float) -> list[list[float]]:
    """Lines that share a value at a step are drawn `gap` apart there, centred on the value.

    Six groups with equal rewards would otherwise be one visible line. Values that no other
    line shares are left exact; NaNs stay NaN.
    """
    out = [list(ys) for ys in series]
    length = max((len(ys) for ys in series), default=0)
    for i in range(length):
        same: dict[float, list[int]] = {}
        for j, ys in enumerate(series):
            if i < len(ys) and ys[i] == ys[i]:
                same.setdefault(round(ys[i], 9), []).append(j)
        for members in same.values():
            for rank, j in enumerate(members):
                out[j][i] = series[j][i] + gap * (rank - (len(members) - 1) / 2)
    return out


def _span(values: list[float], floor: float) -> float:
    """The range of `values` (NaNs ignored), at least `floor`."""
    finite = [v for v in values if v == v]
    return max(floor, max(finite) - min(finite)) if finite else floor


_DODGE = 0.02  # of the y-axis span, between lines that share a value
_APART = "lines with equal values are drawn slightly apart"


def _line(
    ax: Any, xs: list[float], ys: list[float], colour: str, label: str | None, style: str = "-"
) -> None:
    """A metric line; on long runs the raw values fade and a moving average carries the label."""
    if len(xs) <= _DENSE:
        ax.plot(xs, ys, style, color=colour, label=label, marker="o", markersize=3)
        return
    ax.plot(xs, ys, style, color=colour, alpha=0.2, linewidth=0.6)
    ax.plot(xs, smooth(ys, max(5, len(ys) // 40)), style, color=colour, label=label)


def _colour(task_type: str, order: Sequence[str] = ()) -> str:
    at = order.index(task_type) if task_type in order else len(order)
    return _TYPE_COLOURS[at % len(_TYPE_COLOURS)]


def _to_png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _finish(ax: Any, ylabel: str, *, legend: bool = True) -> None:
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    # Steps are integers; matplotlib would otherwise label 1.5, 2.5 ... on short runs.
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    lo, hi = ax.get_xlim()
    if hi - lo < 1:  # one step (its dodged points only): show that step, not 0.945..1.05
        step = round((lo + hi) / 2)
        ax.set_xlim(step - 0.5, step + 0.5)
        ax.set_xticks([step])
    if legend and ax.get_legend_handles_labels()[0]:
        # Beside the plot, never over its lines (savefig's tight bbox keeps it in the image).
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def _aligned(run: RunData, keys: list[str]) -> tuple[list[float], list[list[float]]]:
    """The steps where any of `keys` has a value, and each key's values there (NaN if none)."""
    per = [dict(zip(*series(run.metrics, key), strict=True)) for key in keys]
    steps = sorted({x for values in per for x in values})
    return steps, [[values.get(x, float("nan")) for x in steps] for values in per]


def _dodged_lines(
    ax: Any,
    run: RunData,
    lines: Sequence[tuple[str, str, str | None, str]],
    limits: tuple[float, float] | None = None,
) -> bool:
    """Draw `(metric key, colour, label, style)` lines, equal values drawn apart (`dodge`).

    `limits`: fixed y-limits (a metric with a known range); otherwise the data range, padded
    so a constant series does not get a magnified axis.
    """
    present = [line for line in lines if series(run.metrics, line[0])[0]]
    if not present:
        return False
    steps, values = _aligned(run, [key for key, _, _, _ in present])
    flat = [v for ys in values for v in ys]
    if limits is not None:
        span = limits[1] - limits[0]
    else:
        span = _span(flat, 1.0) * 1.2
        finite = [v for v in flat if v == v]
        middle = (max(finite) + min(finite)) / 2
        limits = (middle - span / 2, middle + span / 2)
    for (_, colour, label, style), ys in zip(present, dodge(values, _DODGE * span), strict=True):
        _line(ax, steps, ys, colour, label, style)
    ax.set_ylim(*limits)
    return True


def _group_lines(
    ax: Any, run: RunData, metric: str, limits: tuple[float, float] | None = None
) -> bool:
    """Plot `T/R/metric` for every group; True if anything was drawn."""
    lines = [
        (f"{t}/{r}/{metric}", _colour(t, run.task_types), f"{t}/{r}", _STYLES.get(r, ":"))
        for t, r in run.groups
    ]
    return _dodged_lines(ax, run, lines, limits)


def _role_lines(ax: Any, run: RunData, role: str, metric: str, title: str) -> bool:
    lines = [(f"{t}/{role}/{metric}", _colour(t, run.task_types), t, "-") for t in run.task_types]
    drawn = _dodged_lines(ax, run, lines, (-0.05, 1.05))
    ax.set_title(title, fontsize=10)
    ax.set_ylim(-0.05, 1.05)
    return drawn


def render_plots(run: RunData) -> list[Plot]:
    """All plots the run's metrics allow; a plot with no data is left out."""
    from matplotlib.figure import Figure

    plots: list[Plot] = []

    dense = len(run.metrics) > _DENSE

    def add(fig: Any, title: str, caption: str) -> None:
        if dense and "stacked" not in caption and "buffer" not in caption:
            caption += "; faint: per step, bold: moving average"
        plots.append(Plot(title, caption, _to_png(fig)))

    fig = Figure(figsize=(8, 4))
    ax = fig.add_subplot()
    if _group_lines(ax, run, "reward", (-1.1, 1.1)):
        _finish(ax, "mean reward")
        add(fig, "Mean reward per task type x role", f"solid: proposer, dashed: solver; {_APART}")

    fig = Figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2)
    drawn_left = _role_lines(left, run, "proposer", "valid_rate", "valid-proposal rate")
    drawn_right = _role_lines(right, run, "solver", "solve_rate", "solver solve rate")
    if drawn_left or drawn_right:
        _finish(left, "fraction", legend=False)  # the right panel's legend names both
        _finish(right, "fraction")
        add(
            fig,
            "Valid proposals and solve rate per task type",
            "left: fraction of proposals that became tasks; right: fraction of solver answers "
            f"that were correct; {_APART}",
        )

    fig = Figure(figsize=(8, 4))
    ax = fig.add_subplot()
    if _group_lines(ax, run, "response_tokens"):
        _finish(ax, "mean response tokens")
        add(
            fig,
            "Response length per task type x role",
            f"solid: proposer, dashed: solver; {_APART}",
        )

    fig = Figure(figsize=(8, 4))
    ax = fig.add_subplot()
    if _phase_stack(ax, run):
        _finish(ax, "seconds")
        add(fig, "Time per phase", "stacked: generation, execution (sandbox), update, other")

    fig = Figure(figsize=(8, 4))
    ax = fig.add_subplot()
    types = run.task_types or run.configured_types
    lines = [(f"buffer/{t}", _colour(t, types), t, "-") for t in types]
    if _dodged_lines(ax, run, lines):
        ax.set_ylim(bottom=min(0.0, ax.get_ylim()[0]))
        _finish(ax, "live tasks")
        add(fig, "Buffer sizes", f"live tasks per buffer after each step; {_APART}")

    update_keys = [k for k in ("loss", "grad_norm", "entropy", "approx_kl") if _has(run, k)]
    if update_keys:
        fig = Figure(figsize=(4 * len(update_keys), 3.2))
        axes = fig.subplots(1, len(update_keys), squeeze=False)[0]
        for ax, key in zip(axes, update_keys, strict=True):
            xs, ys = series(run.metrics, f"update/{key}")
            _line(ax, xs, ys, "#444444", None)
            ax.set_title(key, fontsize=10)
            _finish(ax, "", legend=False)
        add(fig, "Policy update", "what policy.update reported per step")
    return plots


def _phase_stack(ax: Any, run: RunData) -> bool:
    """Stacked time per phase: bars for short runs, a filled stack for long ones."""
    steps = sorted({x for p in _PHASES for x in series(run.metrics, f"time/{p}")[0]})
    if not steps:
        return False
    stack: list[tuple[str, str, list[float]]] = []
    for phase, colour in zip(_PHASES, _PHASE_COLOURS, strict=True):
        xs, ys = series(run.metrics, f"time/{phase}")
        if xs:
            # A missing or NaN phase adds nothing to the stack at that step.
            value = {x: y for x, y in zip(xs, ys, strict=True) if y == y}
            stack.append((phase, colour, [value.get(x, 0.0) for x in steps]))
    if len(steps) > _DENSE:
        ax.stackplot(
            steps,
            *(v for _, _, v in stack),
            labels=[p for p, _, _ in stack],
            colors=[c for _, c, _ in stack],
        )
        return True
    bottom = [0.0] * len(steps)
    for phase, colour, values in stack:
        ax.bar(steps, values, bottom=bottom, color=colour, label=phase, width=0.8)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    return True


def _has(run: RunData, key: str) -> bool:
    return bool(series(run.metrics, f"update/{key}")[0])
