"""The small things a new user met in the first hour (issue 18): empty input files, a blank
stderr line, help text cut short or oddly written, checkpoint file modes, one-step plots."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest


def azr(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "azr.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


@pytest.mark.parametrize("command", ["validate", "grade"])
@pytest.mark.parametrize("content", ["", "\n\n"])
def test_an_empty_input_file_is_a_one_line_error(
    tmp_path: Path, command: str, content: str
) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text(content)
    proc = azr(command, str(empty))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.splitlines() == [
        f"azr: error: {empty} is empty: no JSONL lines to {command}"
    ]
    assert proc.stdout == ""


def _has_sandbox() -> bool:
    try:
        from azr.sandbox import Executor  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _has_sandbox(), reason="needs the sandbox")
def test_validate_writes_nothing_to_stderr_when_all_goes_well(tmp_path: Path) -> None:
    one = tmp_path / "one.jsonl"
    one.write_text('{"program": "def f(x):\\n    return x", "input": "1"}\n')
    proc = azr("validate", str(one))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no progress bar off a terminal, and no blank line
    assert proc.stdout.splitlines()[-1] == "1 passed, 0 failed"


def test_help_is_whole_and_usage_lines_read_plainly() -> None:
    top = azr("--help").stdout
    commands = top.split("Commands:", 1)[1]
    assert "..." not in commands, commands
    for name in ("train", "validate", "grade", "report", "eval", "bench"):
        assert f"  {name} " in commands
    for command, argument in (("validate", "FILE"), ("grade", "FILE"), ("report", "RUN_DIR")):
        usage = azr(command, "--help").stdout.splitlines()[0]
        assert usage == f"Usage: azr {command} [OPTIONS] {argument}"
    score = " ".join(azr("eval", "score", "--help").stdout.split())
    assert "bundled" not in score
    assert "CRUXEval is not shipped" in score


def test_every_checkpoint_file_gets_an_ordinary_mode(tmp_path: Path) -> None:
    """peft writes its adapter through a private temporary file (0600); the checkpoint's
    files all get the mode of a new file here (0644 under umask 022)."""
    pytest.importorskip("torch")
    pytest.importorskip("peft")
    from azr.policy.hf import create_policy

    policy = create_policy("tiny-random", device="cpu", lora_rank=2)
    policy.save(tmp_path / "ck")
    umask = os.umask(0)
    os.umask(umask)
    modes = {
        str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode)
        for p in (tmp_path / "ck").rglob("*")
        if p.is_file()
    }
    assert any("adapter" in name for name in modes), modes
    assert set(modes.values()) == {0o666 & ~umask}, modes


def test_a_one_step_plot_shows_that_step() -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from azr.report.plots import _finish

    fig, ax = plt.subplots()
    ax.plot([0.95, 1.05], [0.2, 0.4], marker="o")  # one step, dodged
    _finish(ax, "reward")
    assert ax.get_xlim() == (0.5, 1.5)
    assert [t for t in ax.get_xticks() if 0.5 <= t <= 1.5] == [1.0]
    plt.close(fig)
