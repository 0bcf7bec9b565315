"""Two Absolute Zero steps through veRL's trainer on this CPU, then a resume to step 3.

A tiny random Llama (azr's `tiny` architecture) is trained by veRL's FSDP2 actor; rollouts go
through veRL's agent loop to the test-only HF rollout (tests/verl_shims), which answers from the
test oracle so that tasks are valid and rewards non-trivial; the sandbox is azr's, in a Ray actor.
Checks: real sandbox rewards, TRR++ advantages equal to azr's compute_advantages on the same
batch, buffers that grow, a checkpoint that resumes. Slow (about 4 minutes on 2 cores).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

pytest.importorskip("verl", reason="veRL is not installed (optional extra azr[verl])")

from azr.advantages import compute_advantages  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from verl_shims.cpu_overrides import cpu_env, cpu_overrides  # noqa: E402


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _launch(args: list[str], timeout: int = 540) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "azr.integrations.verl", *args],
        cwd=ROOT,
        env=cpu_env(scripted=True),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_two_steps_through_verl_then_resume(tmp_path: Path) -> None:
    import torch

    from azr.policy.models import random_model

    model_dir = tmp_path / "tiny"
    model, tok = random_model("tiny")
    model.save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    del model, torch
    run = tmp_path / "run"
    args = cpu_overrides(model_dir, run, steps=2)
    done = _launch(args)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    assert "trained steps 1..2 on veRL" in done.stdout

    metrics = _jsonl(run / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [1, 2]
    for t in ("deduction", "abduction", "induction"):
        assert (
            metrics[-1][f"buffer/{t}"] > metrics[0][f"buffer/{t}"] - metrics[0][f"buffer/{t}_new"]
        )
        assert metrics[-1][f"buffer/{t}"] >= 4
    assert all("update/actor/pg_loss" in m for m in metrics)

    samples = _jsonl(run / "samples.jsonl")
    trained = [s for s in samples if s["purpose"] in ("propose", "solve")]
    # real sandbox verdicts: grading reasons come from the executor
    assert any(s["correct"] for s in samples if s["role"] == "solver")
    assert any(s["correct"] is False and "wrong" in s["reason"] for s in samples)
    for step in (1, 2):
        batch = [s for s in trained if s["step"] == step]
        assert len(batch) == 12
        groups = [f"{s['task_type']}/{s['role']}" for s in batch]
        want = compute_advantages([s["reward"] for s in batch], groups)
        got = [s["advantage"] for s in batch]
        assert got == pytest.approx(want, abs=2e-4)
    assert any(abs(s["advantage"]) > 0.1 for s in trained)
    rewards_by_group: dict[str, set] = defaultdict(set)
    for s in trained:
        rewards_by_group[s["role"]].add(s["reward"])
    assert len(rewards_by_group["solver"]) > 1

    assert (run / "checkpoints" / "step-000002" / "policy" / "actor").is_dir()
    resumed = _launch([*cpu_overrides(model_dir, run, steps=3), "azr.resume=true"])
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-5000:]
    assert "trained steps 3..3 on veRL" in resumed.stdout
    assert "resuming" in resumed.stderr
    metrics = _jsonl(run / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [1, 2, 3]
    assert (run / "checkpoints" / "step-000003").is_dir()
