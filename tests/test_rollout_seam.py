"""The rollout/learner seam: a loop with a separate generator and learner, and the typed
rollouts it produces."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from azr.buffers import TaskStore
from azr.config import resolve_config
from azr.policy.base import Completion, Generator, Learner, SamplingParams, UpdateBatch
from azr.policy.scripted import ScriptedPolicy
from azr.sandbox import Executor, SandboxConfig
from azr.selfplay import Purpose, SelfPlay
from azr.tasks.model import Role
from test_selfplay_helpers import oracle_policy


class SamplerOnly:
    """A generator that is not a learner (as a vLLM engine would be): it samples from the
    oracle and records every weight sync."""

    def __init__(self) -> None:
        self.inner: ScriptedPolicy = oracle_policy()
        self.synced: list[Any] = []

    def generate(
        self, prompts: Sequence[str], n: int = 1, sampling: SamplingParams | None = None
    ) -> list[list[Completion]]:
        return self.inner.generate(prompts, n, sampling)

    def format_prompt(self, user_text: str) -> str:
        return f"<user>{user_text}</user>"

    def sync_from(self, learner: Learner) -> None:
        self.synced.append(learner)


class LearnerOnly:
    """A learner that cannot generate (as a veRL actor would be)."""

    def __init__(self) -> None:
        self.batches: list[UpdateBatch] = []

    def update(self, batch: UpdateBatch) -> dict[str, float]:
        self.batches.append(batch)
        return {"loss": 0.0}

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)

    def load(self, directory: Path) -> None:
        pass


def test_protocols_describe_the_shipped_policies() -> None:
    policy = ScriptedPolicy(["x"])
    assert isinstance(policy, Generator) and isinstance(policy, Learner)
    assert isinstance(SamplerOnly(), Generator) and not isinstance(SamplerOnly(), Learner)
    assert isinstance(LearnerOnly(), Learner) and not isinstance(LearnerOnly(), Generator)
    policy.sync_from(policy)  # a Policy samples from what it trains: nothing to do
    with pytest.raises(NotImplementedError):
        policy.sync_from(LearnerOnly())


def test_a_separate_generator_and_learner_run_a_step(tmp_path: Path) -> None:
    layers: list[dict[str, Any]] = [
        {"sampling": {"proposer_max_new_tokens": 1024, "solver_max_new_tokens": 1024}},
        {"selfplay": {"batch_size": 2, "advantage": "grpo"}},
    ]
    cfg = resolve_config("test", None, layers)
    gen, learner = SamplerOnly(), LearnerOnly()
    store = TaskStore(tmp_path / "b.sqlite")
    with pytest.raises(TypeError, match="pass a generator"):
        SelfPlay(cfg, learner, None, store, np.random.default_rng(0))
    with Executor(SandboxConfig(workers=2, timeout_s=5)) as ex:
        loop = SelfPlay(cfg, learner, ex, store, np.random.default_rng(0), generator=gen)
        seeded = loop.seed()
        store.commit_step(0, [(n.task_type, n.payload) for n in seeded.new_tasks], {})
        result = loop.step(1)
    assert gen.synced == [learner]  # one update, one sync
    assert len(learner.batches) == 1
    rollouts = result.rollouts
    assert all(r.prompt.startswith("<user>") and r.prompt.endswith("<think>") for r in rollouts)
    proposals = [r for r in rollouts if r.role is Role.PROPOSER]
    attempts = [r for r in rollouts if r.purpose is Purpose.LEARNABILITY]
    assert proposals and all(r.valid and r.task is not None for r in proposals)
    # Each attempt is linked to its proposal and shares its prompt group with its siblings.
    assert all(a.owner in proposals and a.task is a.owner.task for a in attempts)
    assert {a.group for a in attempts} == {f"{p.prompt_id}:l0" for p in proposals}
    # GRPO trains on the attempts too: every trained rollout has an advantage.
    trained = [r for r in rollouts if r.advantage is not None]
    assert len(learner.batches[0].samples) == len(trained) == len(rollouts)
    assert [r.record(1)["prompt"] is None for r in attempts].count(True) == len(attempts) // 2
