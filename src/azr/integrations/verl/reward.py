"""Solver rewards on veRL data: azr's sandbox grading and reward rules behind veRL's interfaces.

Two entry points for a plain veRL run (e.g. `main_ppo` training a solver on azr tasks):

- `compute_score(data_source, solution_str, ground_truth, extra_info)`: a custom reward
  function (`reward.custom_reward_function.path=<this file> ...name=compute_score`);
- `AZRRewardManager`, registered as reward manager `azr`
  (`reward.reward_manager.name=azr`), whose `run_single` grades one row of a `DataProto`.

A row names its task in `extra_info`: `azr_task_type` (deduction, abduction, induction) and
`azr_task` (the task as `Triplet.to_dict()` / `InductionTask.to_dict()`, or its JSON);
`ground_truth` may carry the task JSON instead. Grading is `azr.tasks.engine.grade_mixed` on
the node's sandbox actor; the reward is `azr.rewards.answer_reward` (paper Eq. 6 unless
`azr_reward_scheme` says `legacy`). Proposer rewards need n solver rollouts per proposal, so
they come from the Absolute Zero trainer (`azr.integrations.verl.trainer`), not from here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from azr.rewards import answer_reward
from azr.tasks import engine
from azr.tasks.model import Task, TaskType
from azr.tasks.types import get

DATA_SOURCE = "azr"


@dataclass(frozen=True)
class SolverRow:
    """One solver answer to grade."""

    task_type: TaskType
    task: Task
    completion: str
    primed_think: bool = True
    scheme: str = "paper"
    zero_reward_penalty: float = 0.0


def _task_of(task_type: TaskType, raw: Any) -> Task:
    data = json.loads(raw) if isinstance(raw, str) else dict(raw)
    return get(task_type).from_dict(data)


def row_from_fields(
    solution_str: str, ground_truth: Any, extra_info: dict[str, Any] | None
) -> SolverRow:
    """A `SolverRow` from veRL's per-row fields (see the module docstring)."""
    info = dict(extra_info or {})
    if "azr_task_type" not in info:
        raise ValueError("an azr reward row needs extra_info['azr_task_type']")
    task_type = TaskType(str(info["azr_task_type"]))
    raw = info.get("azr_task", ground_truth)
    if raw is None:
        raise ValueError("an azr reward row needs extra_info['azr_task'] or a ground_truth task")
    return SolverRow(
        task_type,
        _task_of(task_type, raw),
        solution_str,
        primed_think=bool(info.get("azr_primed_think", True)),
        scheme=str(info.get("azr_reward_scheme", "paper")),
        zero_reward_penalty=float(info.get("azr_zero_reward_penalty", 0.0)),
    )


def score_rows(executor: Any, rows: Sequence[SolverRow]) -> list[dict[str, Any]]:
    """Grade rows in sandbox batches (one per priming) and apply azr's reward rules."""
    out: list[dict[str, Any] | None] = [None] * len(rows)
    for primed in (True, False):
        idx = [i for i, r in enumerate(rows) if r.primed_think is primed]
        if not idx:
            continue
        items = [(rows[i].task_type, rows[i].task, rows[i].completion) for i in idx]
        for i, grade in zip(idx, engine.grade_mixed(executor, items, primed), strict=True):
            r = rows[i]
            reward = answer_reward(
                grade.format_ok,
                grade.correct,
                scheme=r.scheme,  # type: ignore[arg-type]
                zero_reward_penalty=r.zero_reward_penalty,
            )
            out[i] = {
                "score": float(reward),
                "format_ok": bool(grade.format_ok),
                "correct": bool(grade.correct),
                "reason": grade.reason,
            }
    return [o for o in out if o is not None]


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: dict[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """veRL custom reward function: azr's reward of one solver answer, with grading details."""
    from azr.integrations.verl.executor import node_executor

    row = row_from_fields(solution_str, ground_truth, extra_info)
    return score_rows(node_executor(), [row])[0]


def _decode_response(tokenizer: Any, item: Any) -> str:
    response_ids = item.batch["responses"]
    length = int(item.batch["attention_mask"][-response_ids.shape[-1] :].sum())
    return tokenizer.decode(response_ids[:length], skip_special_tokens=True)


def _register_manager() -> type | None:
    try:
        from verl.experimental.reward_loop.reward_manager import register
        from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase
    except ImportError:  # pragma: no cover - veRL without the reward loop
        return None

    @register("azr")
    class AZRRewardManager(RewardManagerBase):
        """veRL reward manager: grades a solver row with azr's sandbox and reward rules."""

        def __init__(self, config: Any, tokenizer: Any, compute_score: Any = None, **kwargs: Any):
            super().__init__(config, tokenizer, compute_score)
            self.executor = kwargs.get("executor")

        def _executor(self) -> Any:
            if self.executor is None:
                from azr.integrations.verl.executor import node_executor

                self.executor = node_executor()
            return self.executor

        async def run_single(self, data: Any) -> dict[str, Any]:
            item = data[-1:][0]
            text = await self.loop.run_in_executor(
                None, lambda: _decode_response(self.tokenizer, item)
            )
            nt = item.non_tensor_batch
            ground_truth = (nt.get("reward_model") or {}).get("ground_truth")
            row = row_from_fields(text, ground_truth, nt.get("extra_info"))
            executor = self._executor()
            [result] = await self.loop.run_in_executor(None, lambda: score_rows(executor, [row]))
            return {"reward_score": result["score"], "reward_extra_info": result}

    return AZRRewardManager


AZRRewardManager = _register_manager()
