"""Report plots stay readable when groups coincide, and `azr report` leaves no SQLite side files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("matplotlib")

GROUPS = [(t, r) for t in ("deduction", "abduction", "induction") for r in ("proposer", "solver")]


def _run(tmp_path: Path, steps: int = 3) -> Path:
    """A run whose six groups have identical rewards and whose buffers have equal sizes."""
    from azr.buffers import TaskStore

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("model:\n  name: tiny-random\n")
    rows = []
    for step in range(1, steps + 1):
        row: dict[str, Any] = {"step": step}
        for t, r in GROUPS:
            row[f"{t}/{r}/reward"] = -1.0
            row[f"{t}/{r}/response_tokens"] = 24.0
            row[f"{t}/{r}/valid_rate"] = 0.0
            row[f"{t}/{r}/solve_rate"] = 0.0
        for t in ("deduction", "abduction", "induction"):
            row[f"buffer/{t}"] = 1
        rows.append(row)
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "samples.jsonl").write_text("")
    TaskStore(run / "buffers.sqlite").close()
    return run


def test_dodge_separates_only_shared_values() -> None:
    from azr.report.plots import dodge

    out = dodge([[1.0, 0.0, 5.0], [1.0, 2.0, float("nan")], [1.0, 3.0, 5.0]], 0.1)
    assert [ys[0] for ys in out] == pytest.approx([0.9, 1.0, 1.1])  # three equal: spread
    assert [out[0][1], out[1][1], out[2][1]] == [0.0, 2.0, 3.0]  # distinct: exact
    assert out[0][2] == pytest.approx(4.95) and out[2][2] == pytest.approx(5.05)
    assert out[1][2] != out[1][2]  # NaN stays NaN


def _axes() -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4))
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def test_equal_groups_stay_visible_and_the_legend_covers_no_line(tmp_path: Path) -> None:
    from azr.report.data import load_run
    from azr.report.plots import _finish, _group_lines

    run = load_run(_run(tmp_path))
    fig, ax = _axes()
    assert _group_lines(ax, run, "reward", (-1.1, 1.1))
    _finish(ax, "mean reward")
    heights = {tuple(line.get_ydata()) for line in ax.get_lines()}
    assert len(ax.get_lines()) == 6 and len(heights) == 6  # six lines, none hidden
    assert ax.get_ylim() == (-1.1, 1.1)  # the reward range, not -1.04 ... -0.96
    fig.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    assert legend.x0 >= ax.get_window_extent().x1  # beside the plot, not over it


def test_equal_buffer_sizes_stay_visible(tmp_path: Path) -> None:
    from azr.report.data import load_run
    from azr.report.plots import render_plots

    run = load_run(_run(tmp_path))
    titles = [p.title for p in render_plots(run)]
    assert "Buffer sizes" in titles
    from azr.report.plots import _dodged_lines

    fig, ax = _axes()
    lines = [(f"buffer/{t}", "k", t, "-") for t in ("deduction", "abduction", "induction")]
    assert _dodged_lines(ax, run, lines)
    assert len({tuple(line.get_ydata()) for line in ax.get_lines()}) == 3
    low, high = ax.get_ylim()
    assert high - low >= 1.0  # a constant series gets an ordinary axis, not a magnified one


def test_report_leaves_no_sqlite_side_files(tmp_path: Path) -> None:
    from azr.report import write_report

    run = _run(tmp_path)
    write_report(run, None)
    assert sorted(p.name for p in run.iterdir() if "sqlite" in p.name) == ["buffers.sqlite"]


def test_report_reads_a_database_a_trainer_holds_open(tmp_path: Path) -> None:
    from azr.buffers import TaskStore
    from azr.report.data import read_diversity

    run = _run(tmp_path)
    store = TaskStore(run / "buffers.sqlite", create=False)  # as a running trainer would
    try:
        store.commit_step(
            1,
            [("deduction", {"program": "def f(x):\n    return x", "input": "1", "output": "1"})],
            {"offsets": {}},
        )
        div = read_diversity(run / "buffers.sqlite")
        assert div.rows["deduction"]["tasks"] == 1
    finally:
        store.close()
