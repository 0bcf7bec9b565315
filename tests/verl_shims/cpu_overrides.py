"""Hydra overrides and environment for running azr's veRL trainer on this CPU (tests only)."""

from __future__ import annotations

import os
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def cpu_env(scripted: bool = True) -> dict[str, str]:
    """Environment for a process that runs veRL on CPU with the shims."""
    env = dict(os.environ)
    env.update(
        {
            "VERL_PLATFORM": "cpu",
            "VERL_USE_EXTERNAL_MODULES": "verl_shims",
            "VERL_ENGINE_DEVICE": "cuda",
            "PYTHONPATH": os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")]).rstrip(
                os.pathsep
            ),
            "OMP_NUM_THREADS": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "RAY_DEDUP_LOGS": "0",
            "AZR_TEST_SCRIPTED": "1" if scripted else "0",
        }
    )
    return env


def cpu_overrides(model_dir: Path, run_dir: Path, *, batch: int = 2, steps: int = 2) -> list[str]:
    """A two-step tiny run: azr's `test` preset sizes, one logical GPU, HF rollout."""
    rows = 6 * batch
    return [
        f"azr.run_dir={run_dir}",
        f"actor_rollout_ref.model.path={model_dir}",
        "actor_rollout_ref.model.use_remove_padding=false",
        "actor_rollout_ref.model.enable_gradient_checkpointing=false",
        "+actor_rollout_ref.model.override_config.attn_implementation=sdpa",
        "actor_rollout_ref.actor.strategy=fsdp2",
        "actor_rollout_ref.ref.strategy=fsdp2",
        "actor_rollout_ref.actor.use_dynamic_bsz=false",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={rows}",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2",
        "actor_rollout_ref.actor.optim.lr=1e-4",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=2",
        "actor_rollout_ref.rollout.name=hf",
        "actor_rollout_ref.rollout.agent.num_workers=1",
        "data.max_prompt_length=1536",
        "data.max_response_length=384",
        f"data.train_batch_size={rows}",
        "trainer.n_gpus_per_node=1",
        "trainer.nnodes=1",
        "trainer.device=cpu",
        "+ray_kwargs.ray_init.num_cpus=32",
        "+ray_kwargs.ray_init.num_gpus=1",
        "+ray_kwargs.ray_init.include_dashboard=false",
        "azr.model.prompt_style=chat",
        "azr.sampling.proposer_max_new_tokens=384",
        "azr.sampling.solver_max_new_tokens=384",
        f"azr.selfplay.batch_size={batch}",
        "azr.selfplay.references=2",
        "azr.selfplay.learnability_samples=2",
        "azr.selfplay.induction_inputs=4",
        "azr.selfplay.induction_visible=2",
        "azr.selfplay.seed_buffer_size=2",
        "azr.selfplay.seed_max_rounds=1",
        "azr.selfplay.buffer_cap=64",
        "azr.executor.workers=2",
        "azr.executor.timeout_s=5",
        f"azr.run.steps={steps}",
        "azr.run.checkpoint_every=1",
        "azr.run.keep_checkpoints=1",
    ]


if __name__ == "__main__":
    import sys

    print(" ".join(cpu_overrides(Path(sys.argv[1]), Path(sys.argv[2]))))
