"""`azr train` from the command line: the tiny-random integration run and bad inputs."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def azr(
    *args: str, timeout: float = 300, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "azr.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
    )


def _has_sandbox() -> bool:
    try:
        from azr.sandbox import Executor  # noqa: F401
    except ImportError:
        return False
    return True


def snapshot(path: Path) -> dict[str, str]:
    """Content hashes of every file under `path` (to prove nothing was overwritten)."""
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("azr: error: ")]
    assert len(errors) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


@pytest.mark.skipif(not _has_sandbox(), reason="needs the sandbox (azr.sandbox.Executor)")
def test_tiny_random_two_steps_then_resume_to_three(tmp_path: Path) -> None:
    run = tmp_path / "D"
    first = azr(
        "train", "--model", "tiny-random", "--preset", "test", "--steps", "2", "--run-dir", str(run)
    )
    assert first.returncode == 0, first.stderr[-3000:]
    assert "seeding stopped" in first.stderr  # garbage model: seeding gives up, run goes on
    assert first.stdout.strip().splitlines()[-1].startswith("trained steps 1..2")
    second = azr("train", "--run-dir", str(run), "--resume", "--steps", "3")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resuming" in second.stderr
    metrics = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2, 3]
    samples = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]
    groups = {(s["task_type"], s["role"]) for s in samples if s["purpose"] in ("propose", "solve")}
    assert len(groups) == 6
    assert all(s["completion"] is not None and "prompt_id" in s for s in samples)
    from azr.buffers import TaskStore

    store = TaskStore(run / "buffers.sqlite", create=False)
    assert all(n >= 1 for n in store.sizes().values())
    assert store.committed_steps() == [0, 1, 2, 3]
    assert "steps: 3" in (run / "config.yaml").read_text()  # the override is recorded


def test_existing_run_dir_without_resume_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "D"
    run.mkdir()
    (run / "precious.txt").write_text("keep me")
    before = snapshot(run)
    proc = azr("train", "--preset", "test", "--run-dir", str(run))
    assert_one_line_error(proc, "already exists and is not empty", "--resume")
    assert snapshot(run) == before


def test_resume_of_missing_run_dir(tmp_path: Path) -> None:
    proc = azr("train", "--resume", "--run-dir", str(tmp_path / "nope"))
    assert_one_line_error(proc, "run directory not found")
    proc = azr("train", "--resume")
    assert_one_line_error(proc, "--resume needs --run-dir")


def _fake_run(run: Path) -> None:
    """A minimal but well-formed run directory (seeded, no steps) without running a model."""
    from azr.config import resolve_config
    from azr.rundir import RunDir

    rd = RunDir.create(run, resolve_config("test"))
    rd.store.commit_step(0, [], {"offsets": rd.offsets(), "rng": {}})
    rd.close()


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        ("config", "config.yaml is corrupt"),
        ("store", "buffers.sqlite is corrupt"),
        ("metrics", "metrics.jsonl is missing"),
        ("checkpoint", "checkpoint of step 1"),
        ("unknown-key", "unknown key 'run.bogus'"),
    ],
)
def test_corrupt_run_dir_is_refused_untouched(tmp_path: Path, damage: str, needle: str) -> None:
    run = tmp_path / "D"
    _fake_run(run)
    if damage == "config":
        (run / "config.yaml").write_text("model: [broken\n")
    elif damage == "store":
        (run / "buffers.sqlite").write_bytes(b"garbage" * 1000)
    elif damage == "metrics":
        (run / "metrics.jsonl").unlink()
    elif damage == "checkpoint":
        from azr.buffers import TaskStore

        store = TaskStore(run / "buffers.sqlite", create=False)
        store.commit_step(1, [], {"offsets": {}, "rng": {}})
        store.commit_checkpoint(1, "checkpoints/step-000001")
        store.close()
    else:
        (run / "config.yaml").write_text((run / "config.yaml").read_text() + "  bogus: 1\n")
    before = snapshot(run)
    proc = azr("train", "--resume", "--run-dir", str(run))
    assert_one_line_error(proc, needle)
    assert snapshot(run) == before


def test_unloadable_model_creates_nothing(tmp_path: Path) -> None:
    run = tmp_path / "D"
    proc = azr(
        "train",
        "--preset",
        "test",
        "--model",
        str(tmp_path / "no-such-model"),
        "--run-dir",
        str(run),
    )
    assert_one_line_error(proc, "no-such-model")
    assert not run.exists()
    proc = azr("train", "--preset", "test", "--model", "not-a-model", "--run-dir", str(run))
    assert_one_line_error(proc, "unknown model 'not-a-model'")
    assert not run.exists()


def test_bad_config_values_are_one_line_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("selfplay:\n  batchsize: 4\n")

    def train(*args: str) -> subprocess.CompletedProcess[str]:
        return azr("train", *args, cwd=tmp_path)  # the default run dir would be tmp_path/runs

    assert_one_line_error(
        train("--config", str(cfg)), "unknown key 'selfplay.batchsize'", "allowed:"
    )
    assert_one_line_error(train("--preset", "huge"), "unknown preset 'huge'", "cpu-demo")
    assert_one_line_error(
        train("--solve-from", "tomorrow"), "selfplay.solve_tasks_from", "same-step"
    )
    assert_one_line_error(train("--advantage", "ppo"), "selfplay.advantage")
    assert_one_line_error(train("--zero-reward-penalty", "0.5"), "selfplay.zero_reward_penalty")
    assert_one_line_error(train("--set", "run.steps=-1"), "run.steps")
    assert not (tmp_path / "runs").exists()  # nothing above reached run creation


def test_missing_sandbox_is_one_line_and_creates_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty)}  # no bwrap to be found
    run = tmp_path / "D"
    proc = azr(
        "train", "--preset", "test", "--model", "tiny-random", "--run-dir", str(run), env=env
    )
    assert_one_line_error(proc, "bubblewrap (bwrap) is not available")
    assert not run.exists()


def test_resume_with_other_model_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "D"
    _fake_run(run)
    before = snapshot(run)
    proc = azr("train", "--resume", "--run-dir", str(run), "--model", "smollm2-135m")
    assert_one_line_error(proc, "different model")
    assert snapshot(run) == before


def test_help_is_fast_and_lists_flags() -> None:
    proc = azr("train", "--help")
    assert proc.returncode == 0
    for flag in (
        "--config",
        "--preset",
        "--model",
        "--steps",
        "--run-dir",
        "--resume",
        "--device",
        "--seed",
        "--solve-from",
        "--reward",
        "--zero-reward-penalty",
        "--advantage",
        "--set",
    ):
        assert flag in proc.stdout


def test_a_run_dir_is_used_by_one_trainer_at_a_time(tmp_path: Path) -> None:
    from azr.config import resolve_config
    from azr.errors import UserError
    from azr.rundir import RunDir

    run = tmp_path / "D"
    _fake_run(run)
    first = RunDir.open_existing(run, resolve_config("test"))
    try:
        with pytest.raises(UserError, match="in use by another azr process"):
            RunDir.open_existing(run, resolve_config("test"))
    finally:
        first.close()
    RunDir.open_existing(run, resolve_config("test")).close()  # free again
