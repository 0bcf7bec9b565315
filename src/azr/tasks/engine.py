"""Validate proposals and grade solver answers through the sandbox, in batches.

Every program or input written by the model runs only inside the sandbox (`azr.sandbox`). The
parent only parses text (`ast`) and compares literals that the sandbox produced, so a rigged
object (an always-equal `__eq__`, an exception that is not an `Exception`) cannot pass.
What differs per task type is each type's spec (`azr.tasks.types`): it turns a response into
a `Plan` (a verdict now, or sandbox jobs and how to conclude from them). This module collects
the jobs of a whole batch, of any mix of types, into ONE sandbox call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from azr.tasks.model import Role, Task, TaskType
from azr.tasks.parsing import ParsedCompletion, parse_for
from azr.tasks.types import Plan, ProposalSettings, get
from azr.tasks.types.induction import message_leak

if TYPE_CHECKING:
    from azr.sandbox import Executor
    from azr.sandbox.validate import RunCheck


@dataclass
class ProposalResult:
    """Outcome of validating one proposer completion."""

    format_ok: bool
    valid: bool
    reason: str
    task: Task | None = None
    parsed: ParsedCompletion | None = field(default=None, repr=False)


@dataclass
class GradeResult:
    """Outcome of grading one solver completion."""

    format_ok: bool
    correct: bool
    reason: str
    answer: str | None = None


def run_pairs(executor: Executor, pairs: Sequence[tuple[str, str]]) -> list[RunCheck]:
    """Validate (program, input) pairs in one batch: the checks of docs/algorithm.md, section 4,
    and canonical outputs."""
    if not pairs:
        return []
    from azr.sandbox.validate import validate_triplets

    return validate_triplets(executor, list(pairs))


def format_reason(parsed: ParsedCompletion) -> str:
    """The reason line of an ill-formed response."""
    return "format: " + "; ".join(parsed.errors)


def run_plans(executor: Executor | None, plans: Sequence[Plan | None]) -> list[Any]:
    """Every plan's verdict (None for a None plan), with all their jobs in one sandbox call."""
    jobs = [job for p in plans if p is not None for job in p.jobs]
    if jobs and executor is None:
        raise ValueError("this grading needs an executor (it runs programs)")
    checks = run_pairs(executor, jobs) if jobs else []  # type: ignore[arg-type]
    out: list[Any] = []
    at = 0
    for plan in plans:
        if plan is None:
            out.append(None)
        elif plan.finish is None:
            out.append(plan.verdict)
        else:
            out.append(plan.finish(checks[at : at + len(plan.jobs)]))
            at += len(plan.jobs)
    return out


def validate_batch(
    executor: Executor,
    task_type: TaskType | str,
    completions: Sequence[str],
    contexts: Sequence[Sequence[Task]],
    settings: ProposalSettings,
) -> list[ProposalResult]:
    """Parse and validate proposer completions of one type (one context each), one batch."""
    spec = get(task_type)
    parsed = [parse_for(text, spec.name, Role.PROPOSER) for text in completions]
    ok = [i for i, p in enumerate(parsed) if p.format_ok]
    plans: list[Plan | None] = [None] * len(parsed)
    made = spec.plan_proposals([parsed[i] for i in ok], [contexts[i] for i in ok], settings)
    for i, plan in zip(ok, made, strict=True):
        plans[i] = plan
    results = []
    for p, verdict in zip(parsed, run_plans(executor, plans), strict=True):
        if verdict is None:
            results.append(ProposalResult(False, False, format_reason(p), parsed=p))
        else:
            valid, reason, task = verdict
            results.append(ProposalResult(True, valid, reason, task if valid else None, p))
    return results


def validate_proposals(
    executor: Executor,
    task_type: TaskType | str,
    completions: Sequence[str],
    references: Sequence[Task] = (),
    *,
    n_inputs: int = 10,
    n_visible: int = 5,
    induction_programs: Sequence[Task] | None = None,
) -> list[ProposalResult]:
    """`validate_batch` with the same references for every completion (or, for induction,
    one program per completion in `induction_programs`)."""
    settings = ProposalSettings(
        references=len(references), induction_inputs=n_inputs, induction_visible=n_visible
    )
    if induction_programs is not None:
        if len(induction_programs) != len(completions):
            raise ValueError("induction proposals need one induction program per completion")
        contexts: list[Sequence[Task]] = [[p] for p in induction_programs]
    else:
        contexts = [references] * len(completions)
    return validate_batch(executor, task_type, completions, contexts, settings)


def grade_solutions(
    executor: Executor | None,
    task_type: TaskType | str,
    tasks: Sequence[Task],
    completions: Sequence[str],
    *,
    primed_think: bool = True,
) -> list[GradeResult]:
    """Grade solver completions of one task type (docs/algorithm.md, section 5) with one sandbox
    batch."""
    if len(tasks) != len(completions):
        raise ValueError("grade_solutions needs one task per completion")
    tt = TaskType(task_type)
    items = [(tt, t, c) for t, c in zip(tasks, completions, strict=True)]
    return grade_mixed(executor, items, primed_think)


def grade_mixed(
    executor: Executor | None,
    items: Sequence[tuple[TaskType | str, Task, str]],
    primed_think: bool = True,
) -> list[GradeResult]:
    """Grade (task type, task, completion) items of any types with one sandbox batch.

    Deduction needs no executor (answers are compared as literals in this process).
    `primed_think`: the completions began right after a `<think>` the prompt ended with.
    """
    results: list[GradeResult] = []
    plans: list[Plan | None] = []
    for task_type, task, text in items:
        spec = get(task_type)
        parsed = parse_for(text, spec.name, Role.SOLVER, primed_think)
        answer = spec.extract_answer(parsed) if parsed.format_ok else None
        if answer is None:
            results.append(GradeResult(False, False, format_reason(parsed)))
            plans.append(None)
            continue
        spec.check_task(task)
        results.append(GradeResult(True, False, "pending", answer))
        plans.append(spec.plan_grade(task, answer))
    for res, verdict in zip(results, run_plans(executor, plans), strict=True):
        if verdict is not None:
            res.correct, res.reason = verdict
    return results


__all__ = [
    "GradeResult",
    "ProposalResult",
    "format_reason",
    "grade_mixed",
    "grade_solutions",
    "message_leak",
    "run_pairs",
    "run_plans",
    "validate_batch",
    "validate_proposals",
]
