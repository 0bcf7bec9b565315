"""The self-play loop end to end with a scripted policy that writes valid tasks.

Uses the real sandbox when `azr.sandbox.Executor` exists, else a pattern-based fake of the
engine's sandbox calls (the oracle's programs have two known shapes).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from azr.buffers import TaskStore
from azr.config import parse_assignment, resolve_config
from azr.policy.scripted import ScriptedPolicy
from azr.selfplay import train
from azr.selfplay.progress import Progress
from test_selfplay_helpers import Oracle, fake_executor, fake_run_pairs, oracle_policy

GROUPS = {(t, r) for t in ("deduction", "abduction", "induction") for r in ("proposer", "solver")}


def _real_sandbox() -> bool:
    try:
        from azr.sandbox import Executor  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture
def executor_factory(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The real executor when the sandbox is installed, else the fake."""
    if _real_sandbox():
        return None  # train() builds the real one from the config
    from azr.tasks import engine

    monkeypatch.setattr(engine, "run_pairs", fake_run_pairs)
    return fake_executor


def cfg_for(*sets: str, steps: int = 3) -> Any:
    layers = [parse_assignment(s) for s in sets]
    # Scripted token ids are bytes: allow whole answers.
    sampling = {"proposer_max_new_tokens": 1024, "solver_max_new_tokens": 1024}
    layers.insert(0, {"run": {"steps": steps}, "sampling": sampling})
    return resolve_config("test", None, layers)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_scripted_run_grows_buffers_and_rewards(tmp_path: Path, executor_factory: Any) -> None:
    policy = oracle_policy()
    cfg = cfg_for(
        "selfplay.batch_size=3", "selfplay.seed_buffer_size=3", "selfplay.seed_max_rounds=3"
    )
    run = tmp_path / "run"
    summary = train(
        cfg,
        run,
        progress=Progress(quiet=True),
        policy_factory=lambda _c: policy,
        executor_factory=executor_factory,
    )
    assert (summary.first_step, summary.last_step) == (1, 3)
    metrics = read_jsonl(run / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [1, 2, 3]
    last = metrics[-1]
    for t in ("deduction", "abduction", "induction"):
        assert last[f"{t}/proposer/valid_rate"] == 1.0
        assert (
            0.0 < last[f"{t}/solver/solve_rate"] < 1.0 or metrics[0][f"{t}/solver/solve_rate"] > 0
        )
        assert last[f"buffer/{t}"] > 3  # seeds plus new tasks
    assert any(m[f"{t}/proposer/reward"] > 0 for m in metrics for t in ("deduction", "abduction"))
    for key in ("time/generation", "time/execution", "time/update", "time/step"):
        assert key in last
    # One update per step on all six groups, batch_size samples each.
    assert len(policy.batches) == 3
    assert len(policy.batches[0].samples) == 6 * 3
    assert any(abs(s.advantage) > 0 for s in policy.batches[-1].samples)
    # Each trained response is labelled with its role (the update reports entropy per role).
    assert {s.group for s in policy.batches[0].samples} == {"proposer", "solver"}
    assert sum(s.group == "proposer" for s in policy.batches[0].samples) == 3 * 3
    samples = read_jsonl(run / "samples.jsonl")
    trained = {(s["task_type"], s["role"]) for s in samples if s["purpose"] in ("propose", "solve")}
    assert trained == GROUPS
    assert (
        Counter(s["purpose"] for s in samples)["learnability"] == 3 * 3 * 3 * 2
    )  # steps*types*B*n
    assert all("</think>" in s["completion"] for s in samples if s["purpose"] == "solve")
    store = TaskStore(run / "buffers.sqlite", create=False)
    sizes = store.sizes()
    assert sizes == {t: last[f"buffer/{t}"] for t in sizes}
    assert store.committed_steps() == [0, 1, 2, 3]
    # Every stored task is unique and came from a valid proposal or the identity seed.
    assert len(store.all_tasks("deduction")) == sizes["deduction"]
    assert (run / "config.yaml").read_text().startswith("model:")
    assert (run / "checkpoints" / "step-000003" / "policy" / "scripted.json").is_file()


def test_garbage_policy_still_runs_with_identity_seeds(
    tmp_path: Path, executor_factory: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = ScriptedPolicy(["no tags at all"])
    run = tmp_path / "run"
    train(
        cfg_for(steps=2),
        run,
        progress=Progress(),
        policy_factory=lambda _c: policy,
        executor_factory=executor_factory,
    )
    err = capsys.readouterr().err
    assert "seeding stopped after 1 round(s)" in err
    metrics = read_jsonl(run / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [1, 2]
    assert metrics[0]["deduction/proposer/reward"] == -1.0
    assert metrics[0]["deduction/proposer/valid_rate"] == 0.0
    # Solver batches were filled from the identity seeds for all three types.
    assert all(
        metrics[0][f"{t}/solver/count"] == 2 for t in ("deduction", "abduction", "induction")
    )
    store = TaskStore(run / "buffers.sqlite", create=False)
    assert store.sizes() == {"deduction": 1, "abduction": 1, "induction": 1}


def test_previous_step_solving_leads_with_last_steps_tasks(
    tmp_path: Path, executor_factory: Any
) -> None:
    policy = oracle_policy()
    cfg = cfg_for("selfplay.solve_tasks_from=previous-step", steps=2)
    run = tmp_path / "run"
    train(
        cfg,
        run,
        progress=Progress(quiet=True),
        policy_factory=lambda _c: policy,
        executor_factory=executor_factory,
    )
    samples = read_jsonl(run / "samples.jsonl")
    store = TaskStore(run / "buffers.sqlite", create=False)
    step1 = {json.dumps(t.payload, sort_keys=True) for t in store.tasks_of_step("deduction", 1)}
    solved2 = [
        json.dumps(s["task"], sort_keys=True)
        for s in samples
        if s["step"] == 2 and s["purpose"] == "solve" and s["task_type"] == "deduction"
    ]
    assert step1 and set(solved2) <= step1 | {
        json.dumps(t.payload, sort_keys=True) for t in store.all_tasks("deduction")
    }
    assert solved2[0] in step1


def test_resume_after_exception_continues_without_repeats(
    tmp_path: Path, executor_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    policy = oracle_policy()
    real_update = policy.update
    calls = {"n": 0}

    def flaky(batch: Any) -> dict[str, float]:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("simulated crash inside step 2")
        return real_update(batch)

    monkeypatch.setattr(policy, "update", flaky)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(
            cfg_for(steps=3),
            run,
            progress=Progress(quiet=True),
            policy_factory=lambda _c: policy,
            executor_factory=executor_factory,
        )
    assert [m["step"] for m in read_jsonl(run / "metrics.jsonl")] == [1]
    policy2 = oracle_policy()
    train(
        cfg_for(steps=3),
        run,
        resume=True,
        progress=Progress(quiet=True),
        policy_factory=lambda _c: policy2,
        executor_factory=executor_factory,
    )
    assert [m["step"] for m in read_jsonl(run / "metrics.jsonl")] == [1, 2, 3]
    steps = [s["step"] for s in read_jsonl(run / "samples.jsonl")]
    assert steps == sorted(steps) and set(steps) == {0, 1, 2, 3}
    assert TaskStore(run / "buffers.sqlite", create=False).committed_steps() == [0, 1, 2, 3]


def test_tensorboard_events_when_installed(tmp_path: Path, executor_factory: Any) -> None:
    pytest.importorskip("torch.utils.tensorboard")
    run = tmp_path / "run"
    cfg = cfg_for("run.tensorboard=true", steps=1)
    train(
        cfg,
        run,
        progress=Progress(quiet=True),
        policy_factory=lambda _c: oracle_policy(),
        executor_factory=executor_factory,
    )
    assert list((run / "tb").glob("events.out.tfevents.*"))


def test_grpo_trains_on_learnability_samples_with_nonzero_advantages(
    tmp_path: Path, executor_factory: Any
) -> None:
    policy = oracle_policy()
    cfg = cfg_for("selfplay.advantage=grpo", "selfplay.learnability_samples=4", steps=2)
    train(
        cfg,
        tmp_path / "run",
        progress=Progress(quiet=True),
        policy_factory=lambda _c: policy,
        executor_factory=executor_factory,
    )
    samples = read_jsonl(tmp_path / "run" / "samples.jsonl")
    attempts = [s for s in samples if s["purpose"] == "learnability" and s["step"] >= 1]
    assert attempts and all("advantage" in s for s in attempts)
    # The oracle solves some attempts of a task and not others: a per-prompt baseline gives
    # them non-zero advantages, and the update sees them.
    assert any(abs(s["advantage"]) > 0 for s in attempts)
    n_trained = sum(1 for s in samples if s["step"] >= 1)
    assert sum(len(b.samples) for b in policy.batches) == n_trained


def test_skip_zero_advantage_keeps_the_token_mean_denominator(
    tmp_path: Path, executor_factory: Any
) -> None:
    policy = ScriptedPolicy(["no tags at all"])  # every reward -1: every advantage 0
    train(
        cfg_for("selfplay.skip_zero_advantage=true", steps=1),
        tmp_path / "run",
        progress=Progress(quiet=True),
        policy_factory=lambda _c: policy,
        executor_factory=executor_factory,
    )
    (batch,) = policy.batches
    assert batch.samples == []
    assert batch.norm_tokens is not None and batch.norm_tokens > 0
    metrics = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert metrics[0]["update/skipped_zero_advantage"] == 12.0


class _NoCloseOracle:
    """The oracle, but its solver replies end right after the answer's fence (no </answer>),
    as Qwen2.5-Coder-0.5B often ends them with its end-of-sequence token."""

    def __init__(self) -> None:
        self.oracle = Oracle()

    def __call__(self, prompt: str, k: int) -> str:
        text = self.oracle(prompt, k)
        if "Design a new Python" in prompt or "Here is a Python program. Write" in prompt:
            return text
        return text.removesuffix("</answer>")


@pytest.mark.parametrize("closes", [True, False])
def test_a_reply_ended_by_the_model_closes_its_answer(
    tmp_path: Path, executor_factory: Any, closes: bool
) -> None:
    policy = ScriptedPolicy(_NoCloseOracle())
    cfg = cfg_for(f"selfplay.end_closes_answer={str(closes).lower()}", steps=1)
    run = tmp_path / "run"
    train(
        cfg,
        run,
        progress=Progress(quiet=True),
        policy_factory=lambda _c: policy,
        executor_factory=executor_factory,
    )
    (m,) = read_jsonl(run / "metrics.jsonl")
    rates = [m[f"{t}/solver/format_rate"] for t in ("deduction", "abduction", "induction")]
    if closes:
        assert rates == [1.0, 1.0, 1.0]
        assert all(m[f"{t}/solver/reward"] >= -0.5 for t in ("deduction", "abduction"))
    else:
        assert rates == [0.0, 0.0, 0.0]
        assert all(m[f"{t}/solver/reward"] == -1.0 for t in ("deduction", "abduction"))
    # What is stored and trained is the reply as written; only grading reads it closed.
    samples = read_jsonl(run / "samples.jsonl")
    assert all(
        not s["completion"].rstrip().endswith("</answer>")
        for s in samples
        if s["purpose"] == "solve"
    )


class _PrefilledOracle:
    """The oracle for prompts that end with the start of the reply (`selfplay.solver_prefill`):
    a solver prompt must end with its answer block's opening fence, and the reply continues
    from there (only the answer, the closing fence and </answer>)."""

    def __init__(self) -> None:
        self.oracle = Oracle()
        self.solver_prompts: list[str] = []

    def __call__(self, prompt: str, k: int) -> str:
        text = self.oracle(prompt, k)
        if "Design a new Python" in prompt or "Here is a Python program. Write" in prompt:
            return text
        self.solver_prompts.append(prompt)
        start = text.index("<answer>\n```")
        opened = text.index("\n", start + len("<answer>\n")) + 1
        assert prompt.endswith(text[text.index("</think>") : opened])
        return text[opened:]


def test_solver_prefill_starts_the_reply_and_grades_the_whole_reply(
    tmp_path: Path, executor_factory: Any
) -> None:
    from azr.tasks.prompts import answer_prefill

    oracle = _PrefilledOracle()
    policy = ScriptedPolicy(oracle)
    run = tmp_path / "run"
    train(
        cfg_for("selfplay.solver_prefill=true", steps=1),
        run,
        progress=Progress(quiet=True),
        policy_factory=lambda _c: policy,
        executor_factory=executor_factory,
    )
    blocks = {"deduction": "output", "abduction": "input", "induction": "python"}
    assert oracle.solver_prompts
    assert all(
        p.endswith(tuple(answer_prefill(b) for b in blocks.values())) for p in oracle.solver_prompts
    )
    (m,) = read_jsonl(run / "metrics.jsonl")
    # Replies that begin mid-answer are well formed once the prefill is put back in front.
    assert [m[f"{t}/solver/format_rate"] for t in blocks] == [1.0, 1.0, 1.0]
    assert any(m[f"{t}/solver/solve_rate"] > 0 for t in blocks)
    samples = [s for s in read_jsonl(run / "samples.jsonl") if s["role"] == "solver"]
    assert samples
    for s in samples:  # the logs show the whole reply, the prompt ends with the prefill
        pre = answer_prefill(blocks[s["task_type"]])
        assert s["completion"].startswith(pre)
        assert s["prompt"] is None or s["prompt"].endswith(pre)
    proposals = [s for s in read_jsonl(run / "samples.jsonl") if s["role"] == "proposer"]
    assert all("</think>\n<answer>\n```" not in (s["prompt"] or "")[-40:] for s in proposals)
