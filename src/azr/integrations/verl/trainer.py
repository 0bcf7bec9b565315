"""The Absolute Zero trainer on veRL.

One step is azr's own step (`azr.selfplay.loop.SelfPlay.step`): proposer prompts with K
references from azr's buffers, validation in the sandbox, solver batches and n learnability
attempts, grading, and rewards by `azr.rewards`. What changes is where the work runs:

- generation: `VerlPolicy.generate` sends azr's rendered prompts through veRL's agent loop
  (`azr_text`) to the rollout servers (vLLM on GPUs) and keeps each row's veRL tensors;
- execution: the sandbox runs in one Ray actor per node (`executor.RayExecutor`);
- update: `VerlSelfPlay.update` puts azr's rewards on the rows' last tokens, the six
  task x role groups in `uid`, computes advantages with veRL's `compute_advantage` and the
  registered azr estimator (`azr_trr++` -> `azr.advantages.compute_advantages`), then veRL's
  FSDP actor recomputes old log-probs and takes the update; weights go back to the rollout.

The run directory, buffers, logs, commit protocol and `--resume` are azr's
(`azr.selfplay.trainer`); a checkpoint holds veRL's actor checkpoint (weights, optimiser, RNG).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from azr.advantages import get_adv_estimator
from azr.config import TrainConfig
from azr.integrations.verl import advantage as _advantage  # noqa: F401 - registers estimators
from azr.integrations.verl.rollout import AGENT_NAME
from azr.integrations.verl.settings import azr_train_config, check
from azr.policy.base import (
    Completion,
    GenerationProgress,
    Policy,
    ProgressFn,
    SamplingParams,
    UpdateBatch,
)
from azr.rundir import RunDir, write_atomic
from azr.selfplay.loop import SelfPlay
from azr.selfplay.progress import Progress
from azr.selfplay.rollout import Rollout
from azr.selfplay.trainer import RunSummary, restore, run_steps

VERL_CONFIG = "verl_config.yaml"


@dataclass
class RolloutCompletion(Completion):
    """A completion with its row of veRL tensors (prompt, response, masks, positions)."""

    row: Any = field(default=None, repr=False)


class _Placeholder(torch.utils.data.Dataset):
    """veRL's trainer wants a dataset; azr builds its batches from its buffers instead."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"azr_placeholder": torch.tensor(i)}


def _collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"azr_placeholder": torch.stack([x["azr_placeholder"] for x in items])}


def build_trainer(cfg: DictConfig) -> Any:
    """veRL's RayPPOTrainer with its worker groups started (actor + rollout, no critic)."""
    from verl.single_controller.ray import RayWorkerGroup
    from verl.trainer.main_ppo_v0 import BaseTaskRunner
    from verl.trainer.ppo.ray_trainer import RayPPOTrainer
    from verl.utils.config import omega_conf_to_dataclass
    from verl.workers.config import HFModelConfig

    OmegaConf.resolve(cfg)
    runner = BaseTaskRunner()
    runner.add_actor_rollout_worker(cfg)
    runner.add_reward_model_resource_pool(cfg)
    pools = runner.init_resource_pool_mgr(cfg)
    model_config: HFModelConfig = omega_conf_to_dataclass(cfg.actor_rollout_ref.model)
    size = int(cfg.data.train_batch_size)
    trainer = RayPPOTrainer(
        config=cfg,
        tokenizer=model_config.tokenizer,
        processor=model_config.processor,
        role_worker_mapping=runner.role_worker_mapping,
        resource_pool_manager=pools,
        ray_worker_group_cls=RayWorkerGroup,
        train_dataset=_Placeholder(size),
        val_dataset=_Placeholder(1),
        collate_fn=_collate,
    )
    trainer.init_workers()
    return trainer


class VerlPolicy(Policy):
    """azr's Policy interface over veRL's worker groups (rollout servers + FSDP actor)."""

    name = "verl"

    def __init__(self, trainer: Any, cfg: TrainConfig) -> None:
        self.trainer = trainer
        self.cfg = cfg
        self.tokenizer = trainer.tokenizer
        self.step = 0

    def format_prompt(self, user_text: str) -> str:
        """The tokenizer's chat template (as the embedded backend), else the text as is."""
        if getattr(self.tokenizer, "chat_template", None):
            messages = [{"role": "user", "content": user_text}]
            return str(
                self.tokenizer.apply_chat_template(
                    messages, tokenize=False, add_generation_prompt=True
                )
            )
        return user_text

    def generate(
        self,
        prompts: Sequence[str],
        n: int = 1,
        sampling: SamplingParams | None = None,
        *,
        progress: ProgressFn | None = None,
    ) -> list[list[Completion]]:
        """Sample through veRL's rollout; row i*n+j is prompt i's j-th completion. veRL
        returns the batch whole, so `progress` hears once, at the end."""
        from verl import DataProto

        sampling = sampling or SamplingParams()
        texts = [p for p in prompts for _ in range(n)]
        if not texts:
            return [[] for _ in prompts]
        base = sampling.seed if sampling.seed is not None else 0
        count = len(texts)
        batch = DataProto.from_dict(
            tensors={"azr_row": torch.arange(count)},
            non_tensors={
                "raw_prompt": np.array(texts, dtype=object),
                "agent_name": np.array([AGENT_NAME] * count, dtype=object),
                "azr_max_tokens": np.array([sampling.max_new_tokens] * count, dtype=object),
                "azr_temperature": np.array([sampling.temperature] * count, dtype=object),
                "azr_top_p": np.array([sampling.top_p] * count, dtype=object),
                "azr_seed": np.array(
                    [(base + i) % (2**31 - 1) for i in range(count)], dtype=object
                ),
            },
            meta_info={"global_steps": self.step, "validate": False},
        )
        out = self.trainer.async_rollout_manager.generate_sequences(batch)
        out.meta_info = {}
        prompt_width = out.batch["prompts"].shape[1]
        results: list[list[Completion]] = [[] for _ in prompts]
        for i in range(count):
            row = out[i : i + 1]
            mask = out.batch["attention_mask"][i]
            p_ids = out.batch["prompts"][i][mask[:prompt_width].bool()].tolist()
            r_len = int(mask[prompt_width:].sum())
            r_ids = out.batch["responses"][i][:r_len].tolist()
            text = self.tokenizer.decode(r_ids, skip_special_tokens=True)
            stopped = (
                "</answer>" in text
                or (r_ids and r_ids[-1] == self.tokenizer.eos_token_id)
                or r_len < sampling.max_new_tokens
            )
            results[i // n].append(
                RolloutCompletion(
                    prompt=texts[i],
                    text=text,
                    prompt_token_ids=p_ids,
                    token_ids=r_ids,
                    finish_reason="stop" if stopped else "length",
                    row=row,
                )
            )
        if progress is not None:
            progress(GenerationProgress(count, count))
        return results

    def update(self, batch: UpdateBatch) -> dict[str, float]:
        """An update with advantages given per completion (not used by the trainer's step,
        which computes them through veRL's estimator registry: `update_rows`)."""
        rows = [s.completion for s in batch.samples if isinstance(s.completion, RolloutCompletion)]
        adv = [s.advantage for s in batch.samples if isinstance(s.completion, RolloutCompletion)]
        data = _concat(rows)
        mask = data.batch["response_mask"].float()
        data.batch["advantages"] = torch.tensor(adv, dtype=torch.float32).unsqueeze(-1) * mask
        return self.update_rows(data)

    def update_rows(self, data: Any) -> dict[str, float]:
        """Old log-probs, the actor update, then the new weights to the rollout servers."""
        from verl.utils.metric import reduce_metrics

        t = self.trainer
        data.meta_info["global_token_num"] = torch.sum(
            data.batch["attention_mask"], dim=-1
        ).tolist()
        data.meta_info["images_seqlens"] = []
        data.meta_info["temperature"] = float(t.config.actor_rollout_ref.rollout.temperature)
        t.checkpoint_manager.sleep_replicas()
        old, _mfu = t._compute_old_log_prob(data)
        entropy = old.batch.pop("entropys")
        data = data.union(old)
        out = t._update_actor(data)
        self.step += 1
        t.checkpoint_manager.update_weights(self.step)
        metrics = {k: float(v) for k, v in reduce_metrics(out.meta_info["metrics"]).items()}
        mask = data.batch["response_mask"].float()
        metrics["actor/entropy"] = float((entropy * mask).sum() / mask.sum().clamp(min=1))
        return metrics

    def save(self, directory: Path) -> None:
        """veRL's actor checkpoint (model, optimiser, extra state) under `directory/actor`."""
        path = str(Path(directory).resolve() / "actor")
        self.trainer.actor_rollout_wg.save_checkpoint(path, None, self.step, max_ckpt_to_keep=None)
        write_atomic(Path(directory) / "verl_step.txt", str(self.step))

    def load(self, directory: Path) -> None:
        """Restore what `save` wrote and push the weights to the rollout servers."""
        path = str(Path(directory).resolve() / "actor")
        self.trainer.actor_rollout_wg.load_checkpoint(path, del_local_after_load=False)
        step_file = Path(directory) / "verl_step.txt"
        self.step = int(step_file.read_text()) if step_file.is_file() else self.step
        self.trainer.checkpoint_manager.update_weights(self.step)


def _concat(rows: Sequence[RolloutCompletion]) -> Any:
    from verl import DataProto

    parts = []
    for c in rows:
        part = c.row
        part.meta_info = {}
        parts.append(part)
    return DataProto.concat(parts)


class VerlSelfPlay(SelfPlay):
    """azr's step with the update routed through veRL (advantage registry + FSDP actor)."""

    def __init__(self, *args: Any, verl_config: DictConfig, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.verl_config = verl_config
        self.last_update: dict[str, Any] = {}

    def update(self, trained: list[Rollout], step: int) -> dict[str, float]:
        """Rewards on the last response token, groups in `uid`, veRL's compute_advantage."""
        from verl.trainer.ppo.ray_trainer import compute_advantage

        assert isinstance(self.policy, VerlPolicy)
        kept = [g for g in trained if isinstance(g.completion, RolloutCompletion)]
        rewards = [float(g.reward or 0.0) for g in kept]
        groups = [f"{g.task_type}/{g.role}" for g in kept]
        prompt_ids = [g.group for g in kept]
        method = self.cfg.selfplay.advantage
        data = _concat([g.completion for g in kept])  # type: ignore[misc]
        mask = data.batch["response_mask"]
        scores = torch.zeros_like(mask, dtype=torch.float32)
        last = (mask.sum(dim=-1) - 1).clamp(min=0)
        scores[torch.arange(len(kept)), last] = torch.tensor(rewards, dtype=torch.float32)
        scores = scores * (mask.sum(dim=-1, keepdim=True) > 0)
        data.batch["token_level_scores"] = scores
        data.batch["token_level_rewards"] = scores
        index = prompt_ids if get_adv_estimator(method).uses_prompt_groups else groups
        data.non_tensor_batch["uid"] = np.array(index, dtype=object)
        algo = self.verl_config.algorithm
        data = compute_advantage(data, adv_estimator=algo.adv_estimator, config=algo)
        adv_tok = data.batch["advantages"]
        counts = mask.sum(dim=-1).clamp(min=1)
        adv = ((adv_tok * mask).sum(dim=-1) / counts).tolist()
        for g, a in zip(kept, adv, strict=True):
            g.advantage = float(a)
        self.last_update = {
            "step": step,
            "rewards": rewards,
            "groups": groups,
            "prompt_ids": prompt_ids,
            "lengths": mask.sum(dim=-1).tolist(),
            "advantages": adv,
        }
        with (
            self.progress.phase(f"step {step}: updating on {len(kept)} responses (veRL actor)"),
            self.timer.phase("update"),
        ):
            metrics = self.policy.update_rows(data)
        return {f"update/{k}": float(v) for k, v in metrics.items()}


def _ray_init(cfg: DictConfig) -> None:
    import ray
    from verl.trainer.constants_ppo import get_ppo_ray_runtime_env

    if ray.is_initialized():
        return
    kwargs = OmegaConf.to_container(cfg.ray_kwargs.get("ray_init", {}), resolve=True) or {}
    env = get_ppo_ray_runtime_env(cfg)
    env = OmegaConf.to_container(OmegaConf.merge(env, kwargs.pop("runtime_env", {}) or {}))
    ray.init(runtime_env=env, **kwargs)


@dataclass
class VerlRun:
    """What `run` hands back: azr's summary and the loop (tests read its last update)."""

    summary: RunSummary
    loop: VerlSelfPlay


def run(cfg: DictConfig, progress: Progress | None = None) -> VerlRun:
    """Run (or resume) Absolute Zero on veRL until `azr.run.steps` (see the module doc)."""
    from azr.integrations.verl.executor import RayExecutor
    from azr.sandbox import SandboxConfig

    check(cfg)
    tcfg = azr_train_config(cfg)
    progress = progress or Progress()
    run_dir = Path(str(cfg.azr.run_dir))
    resume = bool(cfg.azr.resume)
    t_start = time.perf_counter()
    if resume:
        run_obj = RunDir.open_existing(run_dir, tcfg)
    else:
        RunDir.check_new(run_dir)
    _ray_init(cfg)
    with contextlib.ExitStack() as stack:
        try:
            e = tcfg.executor
            executor = stack.enter_context(
                RayExecutor(
                    SandboxConfig(
                        workers=e.workers,
                        timeout_s=e.timeout_s,
                        memory_mb=e.memory_mb,
                        isolation=e.isolation,
                    )
                )
            )
            trainer = build_trainer(cfg)
        except BaseException:
            if resume:
                run_obj.close()
            raise
        policy = VerlPolicy(trainer, tcfg)
        if not resume:
            run_obj = RunDir.create(run_dir, tcfg)
        try:
            write_atomic(run_obj.path / VERL_CONFIG, OmegaConf.to_yaml(cfg))
            start = restore(run_obj, tcfg, policy, progress, resume)
            if not start.loaded:
                trainer.checkpoint_manager.update_weights(policy.step)
            loop = VerlSelfPlay(
                tcfg, policy, executor, run_obj.store, start.rng, progress, verl_config=cfg
            )
            first = run_steps(loop, run_obj, start.durable, tcfg, progress)
            summary = RunSummary(run_obj.path, first, tcfg.run.steps, time.perf_counter() - t_start)
            return VerlRun(summary, loop)
        finally:
            run_obj.close()
