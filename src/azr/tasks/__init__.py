"""The Absolute Zero task domain: triplets, the three task types, prompts, parsing and grading.

Submodules: `model` (data), `types` (the task-type registry: one spec per type with its
prompts, answer blocks, validation, grading and dedup key), `prompts` (the prompt renderer and
shared prompt pieces), `parsing` (completions -> blocks), `normalize` (program and argument
normal forms), `engine` (validation and grading through the sandbox, batched over any mix of
types). Strict literal equality is `azr.literals`, shared with the sandbox.
"""

from __future__ import annotations

from azr.tasks.engine import (
    GradeResult,
    ProposalResult,
    grade_mixed,
    grade_solutions,
    validate_proposals,
)
from azr.tasks.model import InductionTask, Role, Task, TaskType, Triplet
from azr.tasks.parsing import ParsedCompletion, parse_completion, parse_for
from azr.tasks.prompts import PromptRenderer, proposer_prompt, solver_prompt, wrap

__all__ = [
    "GradeResult",
    "InductionTask",
    "ParsedCompletion",
    "PromptRenderer",
    "ProposalResult",
    "Role",
    "Task",
    "TaskType",
    "Triplet",
    "grade_mixed",
    "grade_solutions",
    "parse_completion",
    "parse_for",
    "proposer_prompt",
    "solver_prompt",
    "validate_proposals",
    "wrap",
]
