"""`azr train --resume --from-step N`: go back to a kept checkpoint after a run went wrong.

A tiny-random run of 3 steps keeps every step's weights (the test preset), but the optimiser
state only in the newest checkpoint. Going back to step 1 drops steps 2-3 (logs, tasks,
checkpoints), warns that the optimiser restarts, and trains steps 2-3 again; the logs then hold
each step once and the buffer store matches them. Bad requests are one-line errors.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from azr.buffers import TaskStore


def azr(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "azr.cli", *args], capture_output=True, text=True, timeout=600
    )


def steps_logged(run: Path) -> list[int]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["step"] for line in lines]


def test_from_step_goes_back_to_a_kept_checkpoint_and_trains_on(tmp_path: Path) -> None:
    run = tmp_path / "run"
    base = ["train", "--preset", "test", "--model", "tiny-random", "--run-dir", str(run)]
    first = azr(*base, "--steps", "3")
    assert first.returncode == 0, first.stderr[-2000:]
    assert steps_logged(run) == [1, 2, 3]
    kept = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert kept == ["step-000001", "step-000002", "step-000003"]
    assert not (run / "checkpoints/step-000001/policy/optimizer.pt").exists()
    store = TaskStore(run / "buffers.sqlite", create=False)
    try:
        tasks_at_1 = {t: len([x for x in store.all_tasks(t) if x.step <= 1]) for t in store.sizes()}
    finally:
        store.close()

    # Bad requests: one line, no traceback, nothing changed.
    for args, message in (
        (["--steps", "3", "--from-step", "1"], "--from-step needs --resume"),
        (["--resume", "--steps", "3", "--from-step", "7"], "has no checkpoint of step 7"),
        (["--resume", "--steps", "3", "--from-step", "0"], "--from-step must be a trained step"),
    ):
        bad = azr(*base, *args)
        assert bad.returncode != 0 and message in bad.stderr, bad.stderr[-2000:]
        assert "Traceback" not in bad.stderr
    assert steps_logged(run) == [1, 2, 3]

    again = azr(*base, "--resume", "--steps", "3", "--from-step", "1")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "--from-step 1: steps 2..3 and their checkpoints are dropped" in again.stderr
    assert "the optimiser's moments restart from zero" in again.stderr
    assert "resuming" in again.stderr and "after step 1" in again.stderr
    # Each step once; the steps after 1 were trained again and the buffers follow the logs.
    assert steps_logged(run) == [1, 2, 3]
    samples = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]
    assert [s["step"] for s in samples] == sorted(s["step"] for s in samples)
    store = TaskStore(run / "buffers.sqlite", create=False)
    try:
        assert store.committed_steps() == [0, 1, 2, 3]
        now_at_1 = {t: len([x for x in store.all_tasks(t) if x.step <= 1]) for t in store.sizes()}
        assert now_at_1 == tasks_at_1
    finally:
        store.close()
