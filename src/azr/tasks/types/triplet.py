"""What deduction and abduction share: a (program, input, output) triplet proposed as a
program and one input, validated by running it, deduplicated by program and input.

`TripletSpec` is also the base of any type whose task is proposed as a program and one input
and whose result comes from running it: the hooks `requirements`, `outcome`, `make_task`,
`result_of` and `result_block` say what the program must do, what a run makes of it and how a
task shows its result; the proposer prompt, the reference tasks, the copy and duplicate checks
and dedup are shared.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from azr.literals import same_literal_text
from azr.tasks.model import Task, Triplet
from azr.tasks.normalize import normalize_input, normalize_program
from azr.tasks.parsing import ParsedCompletion
from azr.tasks.prompts import code_requirements, fence, worked_example
from azr.tasks.types.base import Check, Plan, ProposalSettings, TaskSpec

PROPOSE_TRIPLET = """\
Design a new Python programming task. {goal}

{requirements}

Existing tasks (yours must be different from all of them: a new idea, not a renamed or slightly \
edited copy):

{references}

Keep it small: a short program whose result a careful reader can work out step by step, \
without a computer.

{reply}"""

# The difficulty sentence asks for small tasks since step 79 of the long run: with "hard enough to
# need careful step-by-step reasoning" 32 of 43 deduction tasks of steps 49-64 were never solved
# in 4 attempts (no contrast for the learnability reward).
# One complete example reply (the program and input of another task) after the explicit order of
# the reply's parts. Measured with benchmarks/prompt_variants.py (docs/results.md, "Prompts at
# step 0"), Qwen2.5-Coder-0.5B at temperature 1: one example reply gave 29-50 % valid proposals
# (two runs of 24, 1-3 copies of the example each); a [placeholder] skeleton gave none, two example
# replies in one prompt 8-25 %. So each prompt shows ONE example, but which one varies with the
# prompt's references: with a single example the long run's proposals anchored on its input (45 of
# 56 valid proposals in steps 37-48 used [3, 4, 5, 6]). A proposal whose program is any example's
# (after normalisation), or that gives an example's output on its input, is refused. (A 3n + 1
# example, tried in steps 52-67, drew `while n != 1` rewrites that never ended: 12 timeouts, 10-20 s
# of a step's execution; the bounded loop below replaced it.)
ExampleProposal = tuple[str, str, str]  # (reasoning, program, input) of an example reply
EXAMPLE_PROPOSALS: tuple[ExampleProposal, ...] = (
    (
        "I will keep the even numbers of a list and add up their squares.",
        "def f(nums):\n    return sum(n * n for n in nums if n % 2 == 0)",
        "[3, 4, 5, 6]",
    ),
    (
        "I will repeat each letter of a string 1, 2 or 3 times depending on its position.",
        "def f(s):\n    out = ''\n    for i, ch in enumerate(s):\n        out += ch * (i % 3 + 1)\n"
        "    return out",
        "'abcd'",
    ),
    (
        "I will drop one key from a dictionary and sort the remaining values.",
        "def f(d, k):\n    return sorted(v for key, v in d.items() if key != k)",
        "{'a': 3, 'b': 1, 'c': 2}, 'b'",
    ),
    (
        "I will count the numbers from 1 to n that divide n.",
        "def f(n):\n    count = 0\n    for i in range(1, n + 1):\n        if n % i == 0:\n"
        "            count += 1\n    return count",
        "12",
    ),
)
# What each example proposal returns on its input (checked against the sandbox by a test).
EXAMPLE_OUTPUTS = ("52", "'abbcccd'", "[2, 3]", "6")


def triplet_reply(index: int, proposals: tuple[ExampleProposal, ...] = EXAMPLE_PROPOSALS) -> str:
    """The proposer prompt's closing part: the reply's order and example proposal `index`."""
    think, program, inp = proposals[index % len(proposals)]
    return (
        "Reply in this order: your short reasoning, then </think>, then <answer>, then one "
        "```python block (the program) and one ```input block (the arguments of one call), then "
        "</answer>. Nothing comes after </answer>. Example of a complete reply (for a different "
        f"task):\n<think>\n{think}\n</think>\n<answer>\n{fence('python', program)}\n"
        f"{fence('input', inp)}\n</answer>"
        "\n\nNow write your own reply for the task above, in the same shape."
    )


def example_index(context: Sequence[Task], count: int = len(EXAMPLE_PROPOSALS)) -> int:
    """Which of `count` example proposals a prompt with these references shows: a stable hash
    of the references (the same prompt every time; different prompts spread over the
    examples)."""
    text = "\0".join(f"{r.program}\0{_input_of(r)}" for r in context)
    return zlib.crc32(text.encode("utf-8")) % count


def example_program_keys(
    proposals: tuple[ExampleProposal, ...] = EXAMPLE_PROPOSALS,
) -> frozenset[str]:
    """The normalised programs of the example proposals a proposer prompt shows."""
    return _program_keys(proposals)


def example_behaviour_keys(
    proposals: tuple[ExampleProposal, ...] = EXAMPLE_PROPOSALS,
    outputs: tuple[str, ...] = EXAMPLE_OUTPUTS,
) -> frozenset[tuple[str, str]]:
    """(normalised input, result) of each example proposal: a proposal that gives the
    example's result on the example's input is the example's task whatever its text."""
    return _behaviour_keys(proposals, outputs)


@functools.cache
def _program_keys(proposals: tuple[ExampleProposal, ...]) -> frozenset[str]:
    return frozenset(normalize_program(program) for _, program, _ in proposals)


@functools.cache
def _behaviour_keys(
    proposals: tuple[ExampleProposal, ...], outputs: tuple[str, ...]
) -> frozenset[tuple[str, str]]:
    return frozenset(
        (normalize_input(inp), out) for (_, _, inp), out in zip(proposals, outputs, strict=True)
    )


# The tasks docs/tasks.md shows (`doc_example`): two references for the proposer prompts and
# the task the deduction and abduction examples solve (induction's uses its program).
DOC_REFERENCES = [
    Triplet("def f(x):\n    return x", "'Hello world'", "'Hello world'"),
    Triplet("def f(nums, k):\n    return sorted(nums)[-k:]", "[5, 1, 4, 2], 2", "[4, 5]"),
]
DOC_TASK = Triplet(
    "def f(text):\n    counts = {}\n    for ch in text:\n        counts[ch] = counts.get(ch, 0) + 1\n"
    "    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:2]",
    "'banana'",
    "[('a', 3), ('n', 2)]",
)


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


def triplet_key(program: str, inp: str) -> tuple[str, str]:
    """What two triplet tasks share when they are the same task: normalised program and input."""
    return normalize_program(program), normalize_input(inp)


class TripletSpec(TaskSpec):
    """Base of the task types whose task is proposed as a program and one input and whose
    result comes from running it: a (program, input, output) triplet for the shipped types."""

    proposer_blocks: ClassVar[dict[str, int]] = {"python": 1, "input": 1}
    task_class: ClassVar[type] = Triplet
    offers_programs: ClassVar[bool] = True
    goal: ClassVar[str]  # the proposer prompt's sentence on what the solver will be shown
    solve_template: ClassVar[
        str
    ]  # the solver prompt; fields example, program, input, output, reply
    solve_reply: ClassVar[str]  # its closing format instruction
    examples: ClassVar[tuple[ExampleTask, ...]]  # worked examples, in order of preference
    examples_shown: ClassVar[int] = 1  # how many of them a solver prompt shows
    shown_block: ClassVar[str]  # the block the solver is given: "input" or "output"
    # The proposer prompt's example replies (one shown per prompt) and what each gives on its
    # input (a proposal with an example's program, or its input and result, is a copy).
    example_proposals: ClassVar[tuple[ExampleProposal, ...]] = EXAMPLE_PROPOSALS
    example_outputs: ClassVar[tuple[str, ...]] = EXAMPLE_OUTPUTS
    result_block: ClassVar[str] = "output"  # the block a reference task shows its result in
    result_field: ClassVar[str] = "output"  # the JSON field of a task's result
    # A proposal with a reference's input and result is a rewrite of that reference (False
    # for a type with too few distinct results for them to tell tasks apart).
    dedup_by_behaviour: ClassVar[bool] = True

    # ------------------------------------------------------------------ hooks

    def requirements(self, settings: ProposalSettings) -> str:
        """The code rules of the proposer prompt."""
        return code_requirements(settings.timeout_s)

    def proposal_reply(self, context: Sequence[Task]) -> str:
        """The proposer prompt's closing part, with the example proposal these references
        select."""
        proposals = self.example_proposals
        return triplet_reply(example_index(context, len(proposals)), proposals)

    def outcome(self, check: Check) -> tuple[str | None, str]:
        """A proposal's result from its sandbox run (the output literal), or None and why the
        proposal is invalid."""
        if not (check.valid and check.output is not None):
            return None, check.reason or "invalid"
        return check.output, "ok"

    def make_task(self, program: str, inp: str, result: str) -> Task:
        """The task of a valid proposal."""
        return Triplet(program, inp, result)

    def result_of(self, task: Task) -> str:
        """What running the task's program on its input gives (compared across tasks to find
        rewrites of a shown task)."""
        assert isinstance(task, Triplet)
        return task.output

    def same_result(self, stated: str, result: str) -> bool:
        """Whether a result stated in a payload is the one the sandbox found."""
        return same_literal_text(stated, result)

    # ------------------------------------------------------------------ azr validate

    def plan_check(self, payload: dict[str, Any], settings: ProposalSettings) -> Plan:
        """Run the program on the input (CRUXEval's `code` is accepted for `program`)."""
        program, inp = payload.get("program", payload.get("code")), payload.get("input")
        if not isinstance(program, str):
            raise ValueError("missing field 'program' (or 'code'), a string")
        if not isinstance(inp, str):
            raise ValueError("missing field 'input', a string")
        stated = payload.get(self.result_field)
        if self.result_field in payload and not isinstance(stated, str):
            raise ValueError(f"field '{self.result_field}' must be a string")

        def finish(checks: Sequence[Check]) -> tuple[bool, str, Task | None]:
            result, reason = self.outcome(checks[0])
            if result is None:
                return False, reason, None
            return True, "ok", self.make_task(program, inp, result)

        return Plan.run([(program, inp)], finish)

    def check_report(self, payload: dict[str, Any], task: Task | None) -> dict[str, Any]:
        """The result found (the output), and whether the payload's agrees."""
        result = None if task is None else self.result_of(task)
        out: dict[str, Any] = {"output": result}
        if self.result_field in payload:
            stated = payload[self.result_field]
            out["matches"] = result is not None and self.same_result(stated, result)
        return out

    # ------------------------------------------------------------------ data

    def from_dict(self, payload: dict[str, Any]) -> Task:
        """A `Triplet` (accepts CRUXEval's `code` for `program`)."""
        return Triplet.from_dict(payload)

    def dedup_parts(self, payload: dict[str, Any]) -> list[str]:
        """Program and input."""
        return list(triplet_key(str(payload.get("program", "")), str(payload.get("input", ""))))

    # ------------------------------------------------------------------ proposing

    def context_sources(self, settings: ProposalSettings) -> tuple[tuple[str, ...], int]:
        """K references of the same type."""
        return (self.name,), settings.references

    def reference_block(self, refs: Sequence[Task]) -> str:
        """The reference tasks shown to a proposer: program, input and result."""
        if not refs:
            return "(no reference tasks yet)"
        parts = []
        for k, ref in enumerate(refs, 1):
            items = [f"Reference {k}:", fence("python", ref.program)]
            items += [fence("input", _input_of(ref)), fence(self.result_block, self.result_of(ref))]
            parts.append("\n".join(items))
        return "\n\n".join(parts)

    def proposer_prompt(self, context: Sequence[Task], settings: ProposalSettings) -> str:
        """Propose a program and an input, shown K references."""
        return PROPOSE_TRIPLET.format(
            goal=self.goal,
            requirements=self.requirements(settings),
            references=self.reference_block(context),
            reply=self.proposal_reply(context),
        )

    def context_record(self, context: Sequence[Task]) -> dict[str, Any]:
        """The references, as JSON."""
        return {"references": [r.to_dict() for r in context]}

    def plan_proposals(
        self,
        parsed: Sequence[ParsedCompletion],
        contexts: Sequence[Sequence[Task]],
        settings: ProposalSettings,
    ) -> list[Plan]:
        """Reject duplicates of any reference in the batch and copies of the worked examples;
        run the rest to get their results."""
        refs = [r for c in contexts for r in c]
        seen = {triplet_key(r.program, _input_of(r)) for r in refs}
        behaviour = {(normalize_input(_input_of(r)), self.result_of(r)) for r in refs}
        if not self.dedup_by_behaviour:
            behaviour = set()
        return [self._plan_one(p, seen, behaviour) for p in parsed]

    def _plan_one(
        self,
        parsed: ParsedCompletion,
        seen: set[tuple[str, str]],
        behaviour: set[tuple[str, str]],
    ) -> Plan:
        prop = extract_triplet_proposal(parsed)
        if prop is None:
            return Plan.now(False, "format: missing ```python or ```input block", None)
        key = triplet_key(prop.program, prop.input)
        if key in seen:
            return Plan.now(False, "duplicate of a reference", None)
        if key[0] in example_program_keys(self.example_proposals):
            # Small models copy the prompt's example replies; a copy must not earn reward.
            return Plan.now(False, "copy of the prompt's worked example", None)

        def finish(checks: Sequence[Check]) -> tuple[bool, str, Task | None]:
            (check,) = checks
            result, reason = self.outcome(check)
            if result is None:
                return False, reason, None
            # A rewrite of a shown program (other names, a loop for a comprehension) on the
            # same input gives the same result: the same task for a solver, so no new task.
            # Qwen2.5-Coder-0.5B drifted to rewrites of the worked example within 20 steps.
            io = (key[1], result)
            if io in example_behaviour_keys(self.example_proposals, self.example_outputs):
                return False, "copy of the prompt's worked example (same input and output)", None
            if io in behaviour:
                return False, "duplicate of a reference (same input and output)", None
            return True, "valid", self.make_task(prop.program, prop.input, result)

        return Plan.run([(prop.program, prop.input)], finish)

    # ------------------------------------------------------------------ solving

    def solver_prompt(self, task: Task) -> str:
        """The solver template filled with the task (each type shows what it shows)."""
        self.check_task(task)
        return self.solve_template.format(
            example=self.example_for(task),
            program=task.program.strip("\n"),
            input=_input_of(task),
            output=self.result_of(task),
            reply=self.solve_reply,
        )

    @property
    def example_answers(self) -> tuple[str, ...]:
        """Every example answer a solver prompt may show (an answer equal to one is a copy)."""
        return tuple(e.answer for e in self.examples)

    def example_fits(self, example: ExampleTask, task: Task) -> bool:
        """Whether `example`'s answer could be `task`'s (then another example is shown)."""
        return False

    def example_for(self, task: Task) -> str:
        """The worked examples shown with `task`: the first `examples_shown` whose answers do
        not fit it (fewer only when more examples than the spare ones fit)."""
        chosen = [e for e in self.examples if not self.example_fits(e, task)]
        return "\n\n".join(
            worked_example(
                [("python", e.program), (self.shown_block, e.shown)],
                e.think,
                fence(self.answer_block, e.answer),
            )
            for e in chosen[: self.examples_shown]
        )

    def identity_seed(
        self, program: str, pairs: Sequence[tuple[str, str]], settings: ProposalSettings
    ) -> Task:
        """The identity program on its first input."""
        return self.make_task(program, pairs[0][0], pairs[0][1])


def _input_of(task: Task) -> str:
    """The input of a program-and-input task (every task class of a `TripletSpec` has one)."""
    inp = getattr(task, "input", None)
    if not isinstance(inp, str):
        raise TypeError(f"a {type(task).__name__} has no input: not a program-and-input task")
    return inp
