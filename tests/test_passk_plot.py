"""The pass@k plot shows the k values that were asked for (`--k`), not every k <= n."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("matplotlib")


def _result(model: str) -> object:
    from azr.evaluate.runner import BenchmarkResult

    curve = {k: k / 8 for k in range(1, 9)}  # every k <= n, as the runner computes it
    return BenchmarkResult(
        model=model,
        benchmark="cruxeval-o",
        scoring="official",
        n=8,
        ks=[1, 4],
        pass_at_k={1: 0.125, 4: 0.5},
        ci95={1: (0.0, 0.25), 4: (0.25, 0.75)},
        curve=curve,
    )


def test_only_requested_k_are_drawn(tmp_path: Path) -> None:
    from azr.evaluate.plot import build_figure, plot_curves

    results = [_result("a"), _result("b")]
    fig = build_figure(results)  # type: ignore[arg-type]
    (ax,) = fig.axes
    for line in ax.get_lines():
        assert list(line.get_xdata()) == [1, 4]
        assert list(line.get_ydata()) == [0.125, 0.5]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "4"]
    out = plot_curves(results, tmp_path / "passk.png")  # type: ignore[arg-type]
    assert out is not None and out.stat().st_size > 1000
