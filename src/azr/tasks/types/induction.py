"""Induction: given some input/output examples and a hint, write the program (graded by
running the answer on hidden inputs in the sandbox).

The proposer is shown a program from the deduction/abduction buffers and writes the inputs
and the hint; the sandbox computes the outputs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from azr.literals import same_literal_text
from azr.tasks.model import InductionTask, Task
from azr.tasks.normalize import normalize_input, normalize_program
from azr.tasks.parsing import ParsedCompletion
from azr.tasks.prompts import fence, same_form
from azr.tasks.types.base import (
    Check,
    DocExample,
    Plan,
    ProposalSettings,
    TaskSpec,
    short_text,
)
from azr.tasks.types.triplet import DOC_TASK

PROPOSE_INDUCTION = """\
Here is a Python program. Write {n_inputs} different inputs for it, and a message. Someone will \
see your message and the outputs of the program on some of your inputs, but not the program, \
and will have to write the program. The inputs should together reveal what the program does; \
the message is a short hint in plain words about what the function computes and must not \
contain the code. Each input is written as the arguments of one call to `f`, e.g. \
`'John', {{'age': 20}}`.

{example}

Your program:
```python
{program}
```

{reply}"""

# The proposer's worked example: a whole example task (its program, then its reply), as for the
# solvers (see deduction.py). A message equal to the example's is refused as a copy.
PROPOSER_EXAMPLE_PROGRAM = "def f(nums):\n    return max(nums) - min(nums)"
PROPOSER_EXAMPLE_INPUTS = (
    "[3, 9, 4]",
    "[5]",
    "[-2, 7]",
    "[0, 0, 0]",
    "[10, 1, 6, 2]",
    "[8, -8]",
    "[1, 2, 3, 4, 5]",
    "[100, 50]",
    "[-5, -1, -9]",
    "[7, 7, 8]",
    "[2, 20]",
    "[6, 3]",
)
PROPOSER_EXAMPLE_MESSAGE = "The gap between the largest and the smallest number in the list."


# One solved example (its own hint and pairs, then its reply), then the real task: see
# deduction.py for why the solver prompts show a whole example task rather than a bare reply.
EXAMPLE_MESSAGE = "Counts the vowels in a word."
EXAMPLE_PAIRS = (("'apple'", "2"), ("'sky'", "0"), ("'queue'", "4"))
EXAMPLE_ANSWER = "def f(word):\n    return sum(1 for c in word if c in 'aeiou')"


def _example_task() -> str:
    shown = "\n".join(f"{fence('input', i)}\n{fence('output', o)}" for i, o in EXAMPLE_PAIRS)
    return (
        f"Example (a different task):\nHint: {EXAMPLE_MESSAGE}\n{shown}\nReply:\n<think>\n"
        "Each output is the number of vowels in the word: 'apple' has a and e, 'sky' has none."
        f"\n</think>\n<answer>\n{fence('python', EXAMPLE_ANSWER)}\n</answer>"
    )


SOLVE_INDUCTION = (
    "Write the Python function `f` that produces the given outputs from the given inputs. It "
    "must define `f`; helper functions, classes and imports at the top are allowed. It will be "
    "tested on further inputs that you do not see.\n\n"
    + _example_task().replace("{", "{{").replace("}", "}}")
    + "\n\nYour task:\nHint: {message}\n{examples}\n\n{reply}"
)
SOLVE_INDUCTION_REPLY = same_form("one ```python block")


def induction_example(n_inputs: int) -> str:
    """The proposer's worked example with `n_inputs` input blocks (its inputs cycle past 12)."""
    shown = [PROPOSER_EXAMPLE_INPUTS[k % len(PROPOSER_EXAMPLE_INPUTS)] for k in range(n_inputs)]
    blocks = "\n".join(fence("input", x) for x in shown)
    return (
        f"Example (a different program):\n{fence('python', PROPOSER_EXAMPLE_PROGRAM)}\nReply:\n"
        "<think>\nf gives the largest minus the smallest number, so I use lists of different "
        "lengths, with negative numbers and repeated numbers.\n</think>\n<answer>\n"
        f"{blocks}\n{fence('message', PROPOSER_EXAMPLE_MESSAGE)}\n</answer>"
    )


def induction_reply(n_inputs: int) -> str:
    """The closing instruction after the real program."""
    return same_form(f"{n_inputs} ```input blocks (one call each) and one ```message block")


@dataclass(frozen=True)
class InductionProposal:
    """The payload of an induction proposer answer."""

    inputs: list[str]
    message: str


def extract_induction_proposal(parsed: ParsedCompletion) -> InductionProposal | None:
    """All input blocks and the last message block of an induction proposal, if present."""
    message = parsed.last("message")
    if message is None:
        return None
    return InductionProposal(
        inputs=[i.strip() for i in parsed.all("input")], message=message.strip()
    )


def copies_example(prop: InductionProposal) -> bool:
    """Whether a proposal's message is the worked example's (case and spacing aside)."""
    return _squash(prop.message).lower() == _squash(PROPOSER_EXAMPLE_MESSAGE).lower()


def _squash(text: str) -> str:
    return "".join(text.split())


_CODE_MARKERS = re.compile(r"```|\bdef\s+\w+\s*\(|\bclass\s+\w+\s*[:(]|\blambda\b[^:]*:")


def message_leak(message: str, program: str) -> str | None:
    """Why `message` gives the program away (docs/algorithm.md, section 4), or None when it
    does not."""
    squashed = _squash(message)
    if _squash(program) and _squash(program) in squashed:
        return "message contains the program"
    if _CODE_MARKERS.search(message):
        return "message contains code"
    # Lines long enough to be distinctive: copying half of them is copying the program.
    lines = {_squash(x) for x in program.splitlines()}
    lines = {x for x in lines if len(x) >= 12 and not x.startswith("#")}
    if lines:
        copied = sum(1 for x in lines if x in squashed)
        if copied * 2 >= len(lines):
            return f"message copies {copied} of {len(lines)} program lines"
    return None


def distinct_inputs(raw: Sequence[str]) -> list[str]:
    """Non-empty inputs, first of each normal form (repeated inputs reveal nothing new)."""
    keys: set[str] = set()
    out: list[str] = []
    for text in raw:
        key = normalize_input(text)
        if text and key not in keys:
            keys.add(key)
            out.append(text)
    return out


def examples_block(pairs: Sequence[tuple[str, str]]) -> str:
    """The visible examples shown to an induction solver."""
    return "\n".join(
        f"Example {k}:\n{fence('input', i)}\n{fence('output', o)}"
        for k, (i, o) in enumerate(pairs, 1)
    )


def _stated_pairs(payload: dict[str, Any]) -> list[tuple[str, str]] | None:
    """The payload's visible + hidden (input, output) pairs, or None when it has none."""
    if "visible" not in payload and "hidden" not in payload:
        return None
    try:
        task = InductionTask.from_dict({"visible": [], "hidden": [], **payload})
    except ValueError as exc:
        raise ValueError(str(exc).removeprefix("induction task: ")) from None
    return task.visible + task.hidden


class Induction(TaskSpec):
    """Examples + message -> the program."""

    name = "induction"
    short = "ind"
    default_enabled = True
    summary = (
        "shows a message and some input/output pairs and asks for the program, which is then "
        "run on hidden inputs."
    )
    grading_note = (
        "the answered program (helpers, classes and allowed imports welcome, entry `f`) runs on "
        "every hidden input in the sandbox; correct only when all outputs match."
    )
    proposer_blocks: ClassVar[dict[str, int]] = {"input": 1, "message": 1}
    solver_blocks: ClassVar[dict[str, int]] = {"python": 1}
    answer_block = "python"
    example_answer = EXAMPLE_ANSWER
    example_program = EXAMPLE_ANSWER
    task_class: ClassVar[type] = InductionTask

    def from_dict(self, payload: dict[str, Any]) -> Task:
        """An `InductionTask`."""
        return InductionTask.from_dict(payload)

    def dedup_parts(self, payload: dict[str, Any]) -> list[str]:
        """Program and every input, visible and hidden."""
        pairs = list(payload.get("visible", [])) + list(payload.get("hidden", []))
        return [normalize_program(str(payload.get("program", "")))] + [
            normalize_input(str(p[0])) for p in pairs
        ]

    def context_sources(self, settings: ProposalSettings) -> tuple[tuple[str, ...], int]:
        """One program from the buffers of the run's types that offer programs (deduction and
        abduction when trained), else from its own buffer."""
        from azr.tasks.types import get

        sources = tuple(t for t in settings.task_types if get(t).offers_programs)
        return sources or (self.name,), 1

    def proposer_prompt(self, context: Sequence[Task], settings: ProposalSettings) -> str:
        """Write inputs and a hint for the given program."""
        if not context:
            raise ValueError("the induction proposer prompt needs a program")
        return PROPOSE_INDUCTION.format(
            n_inputs=settings.induction_inputs,
            example=induction_example(max(1, settings.induction_inputs)),
            program=context[0].program.strip("\n"),
            reply=induction_reply(settings.induction_inputs),
        )

    def context_record(self, context: Sequence[Task]) -> dict[str, Any]:
        """The source program, as text."""
        return {"source_program": context[0].program}

    def plan_proposals(
        self,
        parsed: Sequence[ParsedCompletion],
        contexts: Sequence[Sequence[Task]],
        settings: ProposalSettings,
    ) -> list[Plan]:
        """Enough distinct inputs and a message that does not leak the program; run them."""
        if any(not c for c in contexts):
            raise ValueError("induction proposals need one induction program per completion")
        return [self._plan_one(p, c[0], settings) for p, c in zip(parsed, contexts, strict=True)]

    def _plan_one(self, parsed: ParsedCompletion, source: Task, settings: ProposalSettings) -> Plan:
        prop = extract_induction_proposal(parsed)
        if prop is None:
            return Plan.now(False, "format: missing ```message block", None)
        if copies_example(prop):
            return Plan.now(False, "copy of the prompt's worked example", None)
        n, visible = settings.induction_inputs, settings.induction_visible
        inputs = distinct_inputs(prop.inputs)
        if len(inputs) < n:
            return Plan.now(False, f"too few inputs: {len(inputs)} distinct, need {n}", None)
        leak = message_leak(prop.message, source.program)
        if leak:
            return Plan.now(False, leak, None)
        inputs = inputs[:n]

        def finish(checks: Sequence[Check]) -> tuple[bool, str, Task | None]:
            for k, check in enumerate(checks):
                if not (check.valid and check.output is not None):
                    return False, f"input {k + 1} invalid: {check.reason or 'invalid'}", None
            pairs = [(i, str(c.output)) for i, c in zip(inputs, checks, strict=True)]
            task = InductionTask(source.program, prop.message, pairs[:visible], pairs[visible:])
            return True, "valid", task

        return Plan.run([(source.program, i) for i in inputs], finish)

    def solver_prompt(self, task: Task) -> str:
        """Show the hint and the visible examples."""
        self.check_task(task)
        assert isinstance(task, InductionTask)
        return SOLVE_INDUCTION.format(
            message=task.message.strip(),
            examples=examples_block(task.visible),
            reply=SOLVE_INDUCTION_REPLY,
        )

    def extract_answer(self, parsed: ParsedCompletion) -> str | None:
        """The last program block, unstripped (indentation matters)."""
        return parsed.last("python")

    def plan_grade(self, task: Task, answer: str) -> Plan:
        """Run the answer on every hidden input; correct when all outputs match."""
        assert isinstance(task, InductionTask)
        if not task.hidden:
            return Plan.now(False, "task has no hidden tests")
        golds = [o for _, o in task.hidden]

        def finish(checks: Sequence[Check]) -> tuple[bool, str]:
            for k, (check, gold) in enumerate(zip(checks, golds, strict=True)):
                where = f"hidden test {k + 1}/{len(golds)}: "
                if not check.valid or check.output is None:
                    return False, f"{where}{check.reason or 'execution failed'}"
                if not same_literal_text(check.output, gold):
                    got, want = short_text(check.output), short_text(gold)
                    return False, f"{where}wrong: got {got}, expected {want}"
            return True, "correct"

        return Plan.run([(answer, i) for i, _ in task.hidden], finish)

    def plan_check(self, payload: dict[str, Any], settings: ProposalSettings) -> Plan:
        """Run the program on every input (`inputs`, or those of `visible` and `hidden`); a
        message, when given, must not give the program away. Visible examples: as many as
        the payload's `visible`, else `settings.induction_visible`."""
        program = payload.get("program", payload.get("code"))
        message = payload.get("message", "")
        if not isinstance(program, str) or not isinstance(message, str):
            raise ValueError("fields 'program' (or 'code') and 'message' must be strings")
        stated = _stated_pairs(payload)
        inputs = payload.get("inputs") if stated is None else [i for i, _ in stated]
        if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
            raise ValueError("give 'inputs' (a list of strings) or 'visible' and 'hidden' pairs")
        leak = message_leak(message, program) if message else None
        if leak:
            return Plan.now(False, leak, None)
        visible = settings.induction_visible if stated is None else len(payload.get("visible", []))

        def finish(checks: Sequence[Check]) -> tuple[bool, str, Task | None]:
            for k, check in enumerate(checks):
                if not (check.valid and check.output is not None):
                    return False, f"input {k + 1} invalid: {check.reason or 'invalid'}", None
            pairs = [(i, str(c.output)) for i, c in zip(inputs, checks, strict=True)]
            return True, "ok", InductionTask(program, message, pairs[:visible], pairs[visible:])

        return Plan.run([(program, i) for i in inputs], finish)

    def check_report(self, payload: dict[str, Any], task: Task | None) -> dict[str, Any]:
        """The outputs found, in input order, and whether the payload's pairs agree."""
        found = None
        if isinstance(task, InductionTask):
            found = [o for _, o in task.visible + task.hidden]
        out: dict[str, Any] = {"output": found}
        stated = _stated_pairs(payload)
        if stated is not None:
            out["matches"] = found is not None and all(
                same_literal_text(o, f) for (_, o), f in zip(stated, found, strict=True)
            )
        return out

    def identity_seed(
        self, program: str, pairs: Sequence[tuple[str, str]], settings: ProposalSettings
    ) -> Task:
        """The identity program with its pairs split into visible and hidden."""
        v = settings.induction_visible
        message = "The function gives back exactly what it receives."
        return InductionTask(program, message, visible=list(pairs[:v]), hidden=list(pairs[v:]))

    def doc_example(self) -> DocExample:
        """The docs' task (its program from the triplet types' example) and a correct reply."""
        task = InductionTask(
            program=DOC_TASK.program,
            message="Counts the characters and returns the two most frequent with their counts.",
            visible=[("'banana'", "[('a', 3), ('n', 2)]"), ("'aab'", "[('a', 2), ('b', 1)]")],
            hidden=[("'mississippi'", "[('i', 4), ('s', 4)]"), ("'xyz'", "[('x', 1), ('y', 1)]")],
        )
        reply = (
            " Count characters, order by count then letter, keep two. A helper keeps it tidy."
            "</think>\n<answer>\n```python\nfrom collections import Counter\n\n"
            "def order(kv):\n    return (-kv[1], kv[0])\n\n"
            "def f(text):\n    return sorted(Counter(text).items(), key=order)[:2]\n```\n</answer>"
        )
        return DocExample([DOC_TASK], task, reply)
