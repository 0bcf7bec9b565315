"""What a task type is: the `TaskSpec` every type module implements.

A spec owns everything that differs between task types: the proposer and solver prompts, the
answer blocks each role must write, how a proposal becomes a task (the sandbox jobs that
validate it), how an answer is graded (an immediate verdict or sandbox jobs), the exact-dedup
key and the task's JSON form. The engine (`azr.tasks.engine`) runs the jobs of a whole batch
in one sandbox call; the specs never touch the sandbox themselves.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from azr.tasks.model import Role, Task, TaskType
from azr.tasks.parsing import ParsedCompletion


class Check(Protocol):
    """The sandbox's structured verdict on one (program, input) job, run under two hash seeds
    (`azr.sandbox.validate.RunCheck`): `status` (`ok`, `error`, `timeout`, `nondeterministic`,
    ..., or `input` for an input that is not one call's argument list), `output` (the literal
    `f` returned, with `ok`), `exc_type` and `where` (with `error`: the exception class's true
    identity and where it was raised: `program`, `input`, `call`, `f` or `output`), `reason`,
    and `valid` (returned a literal other than None)."""

    @property
    def status(self) -> str: ...
    @property
    def output(self) -> str | None: ...
    @property
    def reason(self) -> str: ...
    @property
    def exc_type(self) -> str | None: ...
    @property
    def where(self) -> str | None: ...
    @property
    def valid(self) -> bool: ...


Job = tuple[str, str]  # (program, input) for the sandbox
ProposalVerdict = tuple[bool, str, "Task | None"]  # valid, reason, task
GradeVerdict = tuple[bool, str]  # correct, reason


def _registered() -> tuple[str, ...]:
    from azr.tasks.types import names

    return names()


@dataclass(frozen=True)
class ProposalSettings:
    """The config values proposing and validating need (from `selfplay` and `executor`).

    `task_types` are the types the run trains (`selfplay.task_types`; default: every registered
    one): a spec that draws context tasks from other types' buffers picks among these.
    """

    references: int = 6
    induction_inputs: int = 10
    induction_visible: int = 5
    timeout_s: float = 10.0
    task_types: tuple[str, ...] = field(default_factory=_registered)


@dataclass
class Plan:
    """How to conclude on one response: at once (`verdict`) or after running `jobs`."""

    verdict: Any = None
    jobs: list[Job] = field(default_factory=list)
    finish: Callable[[Sequence[Check]], Any] | None = None

    @classmethod
    def now(cls, *verdict: Any) -> Plan:
        """A verdict that needs no sandbox."""
        return cls(verdict=tuple(verdict))

    @classmethod
    def run(cls, jobs: list[Job], finish: Callable[[Sequence[Check]], Any]) -> Plan:
        """Run `jobs` in the sandbox, then `finish(checks)` gives the verdict."""
        return cls(jobs=jobs, finish=finish)


@dataclass(frozen=True)
class DocExample:
    """What the generated docs (`azr.tasks.showcase`, docs/tasks.md) show of a task type: its
    proposer prompt for `context`, its solver prompt for `task`, and `completion` (a solver
    reply to `task`) parsed and graded live."""

    context: list[Task]
    task: Task
    completion: str


def dedup_hash(parts: Sequence[str]) -> str:
    """The stored exact-dedup key: a hash of a task's normalised parts."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def short_text(text: str | None, limit: int = 80) -> str:
    """`text` cut to `limit` characters for a reason line."""
    text = "" if text is None else text
    return text if len(text) <= limit else text[: limit - 3] + "..."


class TaskSpec(ABC):
    """One task type. Subclass, fill in the class attributes and methods, then `register`.

    The task class is the spec's own (`task_class`, anything satisfying `azr.tasks.model.Task`).
    Registering makes a type known (to `azr grade`, the docs, the config); a run trains the
    types its config enables (`selfplay.task_types`), by default those with `default_enabled`.
    """

    name: ClassVar[str]  # the task type's name, as stored and logged (a Python identifier)
    short: ClassVar[str]  # three letters for prompt ids and tables (an identifier too)
    default_enabled: ClassVar[bool] = False  # trained when the config does not list types
    summary: ClassVar[str] = ""  # one sentence for the docs: what the solver is shown and asked
    grading_note: ClassVar[str] = ""  # the docs' note on how an answer is graded
    # Whether other types may take programs from this type's buffer (induction proposes inputs
    # for them): its programs return a literal on the inputs they are given.
    offers_programs: ClassVar[bool] = False
    proposer_blocks: ClassVar[dict[str, int]]  # block name -> minimum count, proposer answers
    solver_blocks: ClassVar[dict[str, int]]  # the same for solver answers
    answer_block: ClassVar[str]  # the block that holds a solver's answer (the last one counts)
    task_class: ClassVar[type]  # the class of this type's tasks (Triplet, InductionTask, ...)
    grading_runs_code: ClassVar[bool] = True  # False: answers are judged in this process
    # The answer of the solver prompt's (first) worked example: an answer equal to it copied it.
    example_answer: ClassVar[str]

    @property
    def task_type(self) -> TaskType:
        """This spec's `TaskType`."""
        return TaskType(self.name)

    @property
    def example_answers(self) -> tuple[str, ...]:
        """Every answer a solver prompt of this type may show (an answer equal to one, to a task
        it does not solve, is a copy)."""
        return (self.example_answer,)

    def required_blocks(self, role: Role | str) -> dict[str, int]:
        """The blocks an answer of `role` must contain."""
        return self.proposer_blocks if Role(role) is Role.PROPOSER else self.solver_blocks

    # ------------------------------------------------------------------ data

    @abstractmethod
    def from_dict(self, payload: dict[str, Any]) -> Task:
        """The task from its stored JSON form."""

    @abstractmethod
    def dedup_parts(self, payload: dict[str, Any]) -> list[str]:
        """The normalised parts two tasks of this type must share to be duplicates."""

    def dedup_key(self, payload: dict[str, Any]) -> str:
        """The exact-dedup key stored with the task."""
        return dedup_hash(self.dedup_parts(payload))

    # ------------------------------------------------------------------ proposing

    @abstractmethod
    def context_sources(self, settings: ProposalSettings) -> tuple[tuple[str, ...], int]:
        """Which buffers a proposer prompt draws its context tasks from (among the run's
        `settings.task_types`, or this type's own), and how many."""

    @abstractmethod
    def proposer_prompt(self, context: Sequence[Task], settings: ProposalSettings) -> str:
        """The user message asking for a new task, given its context tasks."""

    @abstractmethod
    def context_record(self, context: Sequence[Task]) -> dict[str, Any]:
        """How a proposal's context appears in samples.jsonl."""

    @abstractmethod
    def plan_proposals(
        self,
        parsed: Sequence[ParsedCompletion],
        contexts: Sequence[Sequence[Task]],
        settings: ProposalSettings,
    ) -> list[Plan]:
        """One plan per well-formed proposal; its verdict is `ProposalVerdict`."""

    # ------------------------------------------------------------------ solving

    @abstractmethod
    def solver_prompt(self, task: Task) -> str:
        """The user message asking to solve `task`."""

    def extract_answer(self, parsed: ParsedCompletion) -> str | None:
        """The solver's answer payload: the last answer block, stripped."""
        found = parsed.last(self.answer_block)
        return None if found is None else found.strip()

    @abstractmethod
    def plan_grade(self, task: Task, answer: str) -> Plan:
        """How to grade `answer` to `task`; the verdict is `GradeVerdict`."""

    def check_task(self, task: Task) -> None:
        """Raise TypeError when `task` is not a task of this type."""
        if not isinstance(task, self.task_class):
            raise TypeError(f"a {self.name} task must not be a {type(task).__name__}")

    # ------------------------------------------------------------------ azr validate

    def plan_check(self, payload: dict[str, Any], settings: ProposalSettings) -> Plan:
        """How `azr validate` checks a task given in JSON form (what a proposal supplies; the
        results may be absent): the sandbox checks a proposal of this type must pass, without
        the checks against references and worked examples. The verdict is `ProposalVerdict`;
        ValueError names a malformed payload."""
        raise ValueError(
            f"azr validate cannot check {self.name} tasks (its spec has no plan_check)"
        )

    def check_report(self, payload: dict[str, Any], task: Task | None) -> dict[str, Any]:
        """What `azr validate` reports of a checked task: `output` (what running it gave, None
        when invalid) and, when the payload states it, `matches` (whether it agrees)."""
        return {"output": None}

    def doc_example(self) -> DocExample | None:
        """What docs/tasks.md shows of this type; None: only its description."""
        return None

    # ------------------------------------------------------------------ seeding

    @abstractmethod
    def identity_seed(
        self, program: str, pairs: Sequence[tuple[str, str]], settings: ProposalSettings
    ) -> Task:
        """The seed task built from the identity program and its sandbox-computed pairs."""
