"""pass@k curves as a PNG: one panel per benchmark, one line per model, the requested k on a
log scale."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azr.evaluate.runner import BenchmarkResult


def plot_curves(results: Sequence[BenchmarkResult], path: Path) -> Path | None:
    """Draw every result's pass@k curve into `path`; None (with a note) without matplotlib."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("azr: note: matplotlib is not installed; no pass@k plot written", file=sys.stderr)
        return None
    fig = build_figure(results)
    if fig is None:
        return None
    fig.savefig(path, dpi=120, bbox_inches="tight")  # a long model name's legend stays whole
    return path


def build_figure(results: Sequence[BenchmarkResult]) -> Any:
    """The pass@k figure (matplotlib, no pyplot state): the requested k values (`--k`) of
    each result, with their bootstrap CIs shaded; None when there is nothing to draw."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    benchmarks = list(dict.fromkeys(r.benchmark for r in results))
    if not benchmarks:
        return None
    fig = Figure(figsize=(4.8 * len(benchmarks), 3.8))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(benchmarks), squeeze=False)
    for ax, bench in zip(axes[0], benchmarks, strict=True):
        ax.set_xscale("log", base=2)
        asked: set[int] = set()
        for res in (r for r in results if r.benchmark == bench):
            ks = sorted(res.pass_at_k)
            asked.update(ks)
            if not ks:
                continue
            ax.plot(ks, [res.pass_at_k[k] for k in ks], marker="o", markersize=3, label=res.model)
            ci_ks = sorted(k for k in res.ci95 if k in res.pass_at_k)
            ax.fill_between(
                ci_ks,
                [res.ci95[k][0] for k in ci_ks],
                [res.ci95[k][1] for k in ci_ks],
                alpha=0.12,
            )
        ax.set_xticks(sorted(asked), [str(k) for k in sorted(asked)])
        ax.minorticks_off()
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("k (samples)")
        ax.set_ylabel("pass@k")
        n = max((r.n for r in results if r.benchmark == bench), default=0)
        count = max((r.num_problems for r in results if r.benchmark == bench), default=0)
        ax.set_title(f"{bench} (n={n}, {count} problems)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
