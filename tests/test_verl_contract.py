"""veRL integration contracts that need no shims: advantage registration and equality with
azr's compute_advantages, the solver reward path on a DataProto, and config composition of
every shipped preset with veRL's validate_config. Skipped when veRL is not installed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("verl", reason="veRL is not installed (optional extra azr[verl])")

import torch  # noqa: E402

from azr.advantages import compute_advantages  # noqa: E402
from azr.rewards import answer_reward  # noqa: E402

GROUPS = [
    f"{t}/{r}" for t in ("deduction", "abduction", "induction") for r in ("proposer", "solver")
]


def test_estimators_registered_and_equal_to_compute_advantages() -> None:
    from verl.trainer.ppo.core_algos import get_adv_estimator_fn

    from azr.integrations.verl.advantage import ESTIMATORS

    rng = np.random.default_rng(0)
    n, width = 36, 7
    rewards = rng.choice([-1.0, -0.5, 0.0, 0.25, 1.0], size=n)
    groups = np.array([GROUPS[i % 6] for i in range(n)], dtype=object)
    lengths = rng.integers(1, width + 1, size=n)
    mask = torch.zeros(n, width)
    scores = torch.zeros(n, width)
    for i, length in enumerate(lengths):
        mask[i, :length] = 1
        scores[i, length - 1] = rewards[i]
    for name, method in ESTIMATORS.items():
        fn = get_adv_estimator_fn(name)
        adv, _ = fn(token_level_rewards=scores, response_mask=mask, index=groups, config=None)
        want = compute_advantages(
            rewards.tolist(),
            groups.tolist(),
            method=method,
            lengths=lengths.tolist(),
            prompt_ids=groups.tolist(),
        )
        for i in range(n):
            row = adv[i, : lengths[i]]
            assert torch.allclose(row, torch.full_like(row, want[i]), atol=1e-5), (name, i)
            assert float(adv[i, lengths[i] :].abs().sum()) == 0.0


def test_compute_advantage_dispatches_to_azr() -> None:
    from verl import DataProto
    from verl.trainer.ppo.ray_trainer import compute_advantage

    import azr.integrations.verl.advantage  # noqa: F401

    rewards = [1.0, -0.5, 0.25, -1.0, 1.0, 1.0]
    groups = ["deduction/solver"] * 3 + ["abduction/proposer"] * 3
    mask = torch.ones(6, 3)
    scores = torch.zeros(6, 3)
    scores[:, -1] = torch.tensor(rewards)
    data = DataProto.from_dict(
        tensors={"token_level_rewards": scores, "response_mask": mask},
        non_tensors={"uid": np.array(groups, dtype=object)},
    )
    out = compute_advantage(data, adv_estimator="azr_trr++")
    got = out.batch["advantages"][:, 0].tolist()
    assert got == pytest.approx(compute_advantages(rewards, groups), abs=1e-6)


def _row(tokenizer, prompt: str, response: str, extra: dict) -> object:
    from verl import DataProto

    p = tokenizer.encode(prompt, add_special_tokens=False)
    r = tokenizer.encode(response, add_special_tokens=False)
    width = len(r) + 3
    responses = torch.zeros(1, width, dtype=torch.long)
    responses[0, : len(r)] = torch.tensor(r)
    attention = torch.cat([torch.ones(1, len(p)), torch.zeros(1, width)], dim=1).long()
    attention[0, len(p) : len(p) + len(r)] = 1
    return DataProto.from_dict(
        tensors={
            "prompts": torch.tensor([p]),
            "responses": responses,
            "attention_mask": attention,
        },
        non_tensors={
            "data_source": np.array(["azr"], dtype=object),
            "reward_model": np.array([{"ground_truth": None}], dtype=object),
            "extra_info": np.array([extra], dtype=object),
        },
    )


def test_reward_manager_grades_a_dataproto_with_the_sandbox() -> None:
    from omegaconf import OmegaConf
    from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls

    import azr.integrations.verl.reward  # noqa: F401 - registers reward manager 'azr'
    from azr.policy.models import smollm2_tokenizer
    from azr.sandbox import Executor, SandboxConfig

    tokenizer = smollm2_tokenizer(fallback=True)
    program = "def f(x):\n    return x * 3 + 1"
    task = {"program": program, "input": "4", "output": "13"}
    cases = [
        ("abduction", " ok\n</think>\n<answer>\n```input\n4\n```\n</answer>", True, True),
        ("abduction", " ok\n</think>\n<answer>\n```input\n5\n```\n</answer>", True, False),
        ("deduction", " ok\n</think>\n<answer>\n```output\n13\n```\n</answer>", True, True),
        ("deduction", "no answer block at all", False, False),
    ]
    with Executor(SandboxConfig(workers=2, timeout_s=5)) as ex:

        async def grade() -> list[dict]:
            cls = get_reward_manager_cls("azr")
            manager = cls(OmegaConf.create({}), tokenizer, None, executor=ex)
            out = []
            for task_type, response, _, _ in cases:
                extra = {"azr_task_type": task_type, "azr_task": task}
                out.append(await manager.run_single(_row(tokenizer, "P", response, extra)))
            return out

        results = asyncio.run(grade())
    for (_, _, format_ok, correct), res in zip(cases, results, strict=True):
        info = res["reward_extra_info"]
        assert (info["format_ok"], info["correct"]) == (format_ok, correct), info
        assert res["reward_score"] == answer_reward(format_ok, correct)


CONFIG_DIR = Path(__file__).resolve().parents[1] / "src/azr/integrations/verl/config/preset"


@pytest.mark.parametrize("preset", [None, *sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))])
def test_every_preset_composes_and_validates(preset: str | None, tmp_path: Path) -> None:
    from azr.integrations.verl.settings import (
        azr_train_config,
        check,
        compose,
        preset_names,
        validate_with_verl,
    )

    assert set(preset_names()) >= {"1xgpu", "8xgpu", "multinode"}
    cfg = compose(preset, [f"azr.run_dir={tmp_path / 'run'}"])
    check(cfg)
    validate_with_verl(cfg)
    tcfg = azr_train_config(cfg)
    # the reference's hyperparameters (docs/algorithm.md, section 6)
    assert tcfg.selfplay.batch_size == 64 and tcfg.selfplay.references == 6
    assert tcfg.selfplay.learnability_samples == 8 and tcfg.optim.lr == 1e-6
    assert cfg.actor_rollout_ref.rollout.name == "vllm" and cfg.actor_rollout_ref.rollout.n == 1
    assert cfg.algorithm.adv_estimator == "azr_trr++"
    assert cfg.actor_rollout_ref.actor.ppo_mini_batch_size == 6 * tcfg.selfplay.batch_size
    assert "Qwen2.5-Coder" in cfg.actor_rollout_ref.model.path
    assert Path(cfg.actor_rollout_ref.rollout.agent.agent_loop_config_path).is_file()


def test_launcher_rejects_a_bad_estimator(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from azr.integrations.verl.__main__ import main

    rc = main([f"azr.run_dir={tmp_path}", "algorithm.adv_estimator=gae"])
    assert rc == 2
    assert "adv_estimator" in capsys.readouterr().err
