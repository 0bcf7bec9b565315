"""What deduction and abduction share: a (program, input, output) triplet proposed as a
program and one input, validated by running it, deduplicated by program and input."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from azr.tasks.model import Task, Triplet
from azr.tasks.normalize import normalize_input, normalize_program
from azr.tasks.parsing import ParsedCompletion
from azr.tasks.prompts import (
    code_requirements,
    fence,
    placeholder,
    reply_format,
    shows_placeholder,
    worked_example,
)
from azr.tasks.types.base import Check, Plan, ProposalSettings, TaskSpec

PROPOSE_TRIPLET = """\
Design a new Python programming task. {goal}

{requirements}

Existing tasks (yours must be different from all of them: a new idea, not a renamed or slightly \
edited copy):

{references}

Make the task hard enough to need careful step-by-step reasoning, but solvable by a careful \
reader.

{reply}"""

# The proposer's reply format: placeholders only, no complete example proposal (a 0.5B model
# copies a shown proposal; docs/results.md, "Prompts at step 0"). A proposal that copies a
# placeholder is refused as a copy of the format.
PROGRAM_PLACEHOLDER = placeholder("your program: imports and helpers first, then def f(...)")
INPUT_PLACEHOLDER = placeholder("the arguments of one call to f")
PROPOSE_TRIPLET_REPLY = reply_format(
    [("python", PROGRAM_PLACEHOLDER), ("input", INPUT_PLACEHOLDER)],
    think=placeholder("your reasoning: the idea of your program"),
)
PROPOSAL_PLACEHOLDERS = (PROGRAM_PLACEHOLDER, INPUT_PLACEHOLDER)


@dataclass(frozen=True)
class ExampleTask:
    """A solved example a solver prompt shows before the real task: the program, what the
    solver is given (an input or an output), the reasoning and the answer block's payload."""

    program: str
    shown: str
    think: str
    answer: str


@dataclass(frozen=True)
class TripletProposal:
    """The payload of a deduction/abduction proposer answer."""

    program: str
    input: str


def extract_triplet_proposal(parsed: ParsedCompletion) -> TripletProposal | None:
    """Program and input of a deduction/abduction proposal (last blocks), if present."""
    program, inp = parsed.last("python"), parsed.last("input")
    if program is None or inp is None:
        return None
    return TripletProposal(program=program, input=inp.strip())


def reference_block(refs: Sequence[Triplet], show_output: bool) -> str:
    """The reference tasks shown to a proposer."""
    if not refs:
        return "(no reference tasks yet)"
    parts = []
    for k, ref in enumerate(refs, 1):
        items = [f"Reference {k}:", fence("python", ref.program), fence("input", ref.input)]
        if show_output:
            items.append(fence("output", ref.output))
        parts.append("\n".join(items))
    return "\n\n".join(parts)


def triplet_key(program: str, inp: str) -> tuple[str, str]:
    """What two triplet tasks share when they are the same task: normalised program and input."""
    return normalize_program(program), normalize_input(inp)


class TripletSpec(TaskSpec):
    """Base of the task types whose task is one (program, input, output) triplet."""

    proposer_blocks: ClassVar[dict[str, int]] = {"python": 1, "input": 1}
    task_class: ClassVar[type] = Triplet
    goal: ClassVar[str]  # the proposer prompt's sentence on what the solver will be shown
    solve_template: ClassVar[
        str
    ]  # the solver prompt; fields example, program, input, output, reply
    solve_reply: ClassVar[str]  # its closing format instruction
    examples: ClassVar[tuple[ExampleTask, ...]]  # worked examples, in order of preference
    shown_block: ClassVar[str]  # the block the solver is given: "input" or "output"

    def from_dict(self, payload: dict[str, Any]) -> Task:
        """A `Triplet` (accepts CRUXEval's `code` for `program`)."""
        return Triplet.from_dict(payload)

    def dedup_parts(self, payload: dict[str, Any]) -> list[str]:
        """Program and input."""
        return list(triplet_key(str(payload.get("program", "")), str(payload.get("input", ""))))

    def context_sources(self, settings: ProposalSettings) -> tuple[tuple[str, ...], int]:
        """K references of the same type."""
        return (self.name,), settings.references

    def proposer_prompt(self, context: Sequence[Triplet], settings: ProposalSettings) -> str:
        """Propose a program and an input, shown K references."""
        return PROPOSE_TRIPLET.format(
            goal=self.goal,
            requirements=code_requirements(settings.timeout_s),
            references=reference_block(context, show_output=True),
            reply=PROPOSE_TRIPLET_REPLY,
        )

    def context_record(self, context: Sequence[Triplet]) -> dict[str, Any]:
        """The references, as JSON."""
        return {"references": [r.to_dict() for r in context]}

    def plan_proposals(
        self,
        parsed: Sequence[ParsedCompletion],
        contexts: Sequence[Sequence[Triplet]],
        settings: ProposalSettings,
    ) -> list[Plan]:
        """Reject duplicates of any reference in the batch and copies of the reply format;
        run the rest to get their outputs."""
        seen = {triplet_key(r.program, r.input) for c in contexts for r in c}
        return [self._plan_one(p, seen) for p in parsed]

    def _plan_one(self, parsed: ParsedCompletion, seen: set[tuple[str, str]]) -> Plan:
        prop = extract_triplet_proposal(parsed)
        if prop is None:
            return Plan.now(False, "format: missing ```python or ```input block", None)
        key = triplet_key(prop.program, prop.input)
        if key in seen:
            return Plan.now(False, "duplicate of a reference", None)
        if shows_placeholder(prop.program + "\n" + prop.input, PROPOSAL_PLACEHOLDERS):
            # Small models copy the prompt's reply format; a copy must not earn reward.
            return Plan.now(False, "copy of the prompt's reply format", None)

        def finish(checks: Sequence[Check]) -> tuple[bool, str, Task | None]:
            (check,) = checks
            if check.valid and check.output is not None:
                return True, "valid", Triplet(prop.program, prop.input, check.output)
            return False, check.reason or "invalid", None

        return Plan.run([(prop.program, prop.input)], finish)

    def solver_prompt(self, task: Task) -> str:
        """The solver template filled with the triplet (each type shows what it shows)."""
        self.check_task(task)
        assert isinstance(task, Triplet)
        return self.solve_template.format(
            example=self.example_for(task),
            program=task.program.strip("\n"),
            input=task.input,
            output=task.output,
            reply=self.solve_reply,
        )

    @property
    def example_answers(self) -> tuple[str, ...]:
        """Every example answer a solver prompt may show (an answer equal to one is a copy)."""
        return tuple(e.answer for e in self.examples)

    def example_fits(self, example: ExampleTask, task: Triplet) -> bool:
        """Whether `example`'s answer could be `task`'s (then another example is shown)."""
        return False

    def example_for(self, task: Triplet) -> str:
        """The worked example shown with `task`: the first whose answer does not fit it."""
        chosen = next((e for e in self.examples if not self.example_fits(e, task)), None)
        e = chosen or self.examples[-1]
        return worked_example(
            [("python", e.program), (self.shown_block, e.shown)],
            e.think,
            fence(self.answer_block, e.answer),
        )

    def identity_seed(
        self, program: str, pairs: Sequence[tuple[str, str]], settings: ProposalSettings
    ) -> Task:
        """The identity program on its first input."""
        return Triplet(program, pairs[0][0], pairs[0][1])
