"""The typed record of one response in a self-play step, and what a step hands the trainer.

A `Rollout` is created with its prompt, filled by the pipeline stages in order (generation,
validation or grading, reward, advantage) and turned into JSON only when it is written to
samples.jsonl (`record`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from azr.policy.base import Completion
from azr.tasks.model import Role, Task, TaskType
from azr.tasks.parsing import close_answer_at_end
from azr.tasks.types import TaskSpec, get


class Purpose(str, Enum):
    """Why a response was generated."""

    SEED = "seed"  # a proposal while seeding the buffers (never trained)
    PROPOSE = "propose"  # a proposal in a step (trained)
    SOLVE = "solve"  # an answer to a buffer task (trained)
    LEARNABILITY = "learnability"  # one of n attempts that score a proposal (GRPO trains them)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class NewTask:
    """A valid task to add to the buffers, with its exact-dedup key computed once."""

    task_type: TaskType
    task: Task
    key: str

    @property
    def payload(self) -> dict[str, Any]:
        """The stored JSON form."""
        return self.task.to_dict()

    @classmethod
    def of(cls, task_type: TaskType | str, task: Task) -> NewTask:
        """A new task with its dedup key."""
        tt = TaskType(task_type)
        return cls(tt, task, get(tt).dedup_key(task.to_dict()))


def graded_text(completion: Completion, end_closes_answer: bool = True, prefill: str = "") -> str:
    """What grading and validation read of a completion: the reply (`prefill`, the part the
    prompt wrote for the model, then the completion); with `end_closes_answer`, a reply the
    model ended itself (finish reason "stop", not the token limit) has an open `<answer>`
    closed at its end (`selfplay.end_closes_answer`); otherwise the text as written."""
    text = prefill + completion.text
    if end_closes_answer and completion.finish_reason == "stop":
        return close_answer_at_end(text)
    return text


@dataclass
class Rollout:
    """One prompt and its response, and everything the logs and the update need about it.

    `group` is the prompt group: responses to the same prompt share it (the n learnability
    attempts of one proposal); every other response is its own group. `owner` links a
    learnability attempt to the proposal it scores.
    """

    task_type: TaskType
    role: Role
    purpose: Purpose
    prompt_id: str
    prompt: str
    context: list[Task] = field(default_factory=list)  # proposer: tasks its prompt showed
    task: Task | None = None  # proposer: the valid task it made; solver: the task it solves
    group: str = ""
    owner: Rollout | None = None
    completion: Completion | None = None
    format_ok: bool = False
    valid: bool = False
    correct: bool | None = None
    solve_rate: float | None = None
    reward: float | None = None
    advantage: float | None = None
    reason: str = ""
    key: str = ""  # proposer: the new task's dedup key
    # The reply's start that the prompt wrote for the model (its last characters; solvers with
    # `selfplay.solver_prefill`): part of the prompt for generation and the update, part of the
    # reply for grading and the logs.
    prefill: str = ""

    def __post_init__(self) -> None:
        self.group = self.group or self.prompt_id

    @property
    def spec(self) -> TaskSpec:
        """The task type's spec."""
        return get(self.task_type)

    @property
    def text(self) -> str:
        """The reply: the prefill and the completion text ('' before generation)."""
        return "" if self.completion is None else self.prefill + self.completion.text

    def graded_text(self, end_closes_answer: bool = True) -> str:
        """The text grading and validation read (see `graded_text`)."""
        if self.completion is None:
            return ""
        return graded_text(self.completion, end_closes_answer, self.prefill)

    @property
    def n_tokens(self) -> int:
        """Response length in tokens (characters/4 when the policy gives no token ids)."""
        if self.completion is None:
            return 0
        return len(self.completion.token_ids) or len(self.completion.text) // 4

    @property
    def trained(self) -> bool:
        """Whether this is one of the six (task type x role) groups' responses."""
        return self.purpose in (Purpose.PROPOSE, Purpose.SOLVE)

    def record(self, step: int) -> dict[str, Any]:
        """The samples.jsonl line of this rollout."""
        repeated = self.group != self.prompt_id  # the logs store a repeated prompt once
        # A learnability attempt's task is its owner's (logged with the proposal).
        logged_task = None if self.task is None or self.owner is not None else self.task
        rec: dict[str, Any] = {
            "step": step,
            "purpose": self.purpose.value,
            "task_type": self.task_type.value,
            "role": self.role.value,
            "prompt_id": self.prompt_id,
            "completion": self.text,
            "reward": self.reward,
            "format_ok": self.format_ok,
            "valid": self.valid,
            "correct": self.correct,
            "solve_rate": self.solve_rate,
            "reason": self.reason,
            "tokens": self.n_tokens,
            "finish_reason": None if self.completion is None else self.completion.finish_reason,
            "task": None if logged_task is None else logged_task.to_dict(),
            "prompt": None if repeated else self.prompt,
        }
        if self.role is Role.PROPOSER:
            rec.update(self.spec.context_record(self.context))
        if repeated:
            rec["prompt_as"] = self.group
        if self.advantage is not None:
            rec["advantage"] = round(self.advantage, 4)
        return rec


@dataclass
class StepResult:
    """What a step (or seeding) produced, for the trainer to commit."""

    new_tasks: list[NewTask] = field(default_factory=list)
    rollouts: list[Rollout] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else 0.0


def group_metrics(rollouts: Sequence[Rollout]) -> dict[str, float]:
    """Per task x role: mean reward, valid rate, solve rate, format rate, response length.

    Proposer: valid = a valid task; solve rate = mean learnability estimate over valid tasks.
    Solver: valid = well formed; solve rate = fraction correct.
    """
    out: dict[str, float] = {}
    trained = [r for r in rollouts if r.trained]
    keys = sorted({(r.task_type.value, r.role.value) for r in trained})
    for task_type, role in keys:
        grp = [r for r in trained if r.task_type == task_type and r.role.value == role]
        pre = f"{task_type}/{role}"
        out[f"{pre}/reward"] = round(_mean([r.reward or 0.0 for r in grp]), 4)
        out[f"{pre}/format_rate"] = round(_mean([float(r.format_ok) for r in grp]), 4)
        out[f"{pre}/response_tokens"] = round(_mean([float(r.n_tokens) for r in grp]), 1)
        out[f"{pre}/count"] = len(grp)
        if role == Role.PROPOSER.value:
            out[f"{pre}/valid_rate"] = round(_mean([float(r.valid) for r in grp]), 4)
            rates = [r.solve_rate for r in grp if r.valid and r.solve_rate is not None]
            out[f"{pre}/solve_rate"] = round(_mean(rates), 4) if rates else 0.0
        else:
            out[f"{pre}/valid_rate"] = out[f"{pre}/format_rate"]
            out[f"{pre}/solve_rate"] = round(_mean([float(bool(r.correct)) for r in grp]), 4)
    return out
