"""Abduction: given a program and an output, find an input that produces it (graded by
running the program on the answer in the sandbox)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from azr.literals import same_literal_text
from azr.tasks.model import Task, Triplet
from azr.tasks.normalize import normalize_input
from azr.tasks.prompts import same_form
from azr.tasks.types.base import Check, DocExample, Plan, short_text
from azr.tasks.types.triplet import DOC_REFERENCES, DOC_TASK, ExampleTask, TripletSpec

# Solved examples with their own programs, then the real task (see deduction.py for why).
# (program, output, reasoning, answer): the first three that cannot fit the task are shown. One
# example alone was copied in 10-15 % of greedy answers; three varied ones were not (measured).
EXAMPLES = (
    ExampleTask(
        "def f(words):\n    return [w.upper() for w in words if len(w) > 2]",
        "['CAT', 'DOG']",
        "f keeps the words longer than 2 letters and upper-cases them. The list ['cat', 'dog'] "
        "gives ['CAT', 'DOG'].",
        "['cat', 'dog']",
    ),
    ExampleTask(
        "def f(n):\n    total = 0\n    for i in range(1, n + 1):\n        if i % 3 == 0:\n"
        "            total += i\n    return total",
        "18",
        "f adds up the multiples of 3 from 1 to n. 3 + 6 + 9 = 18, so n = 9 gives 18.",
        "9",
    ),
    ExampleTask(
        "def f(s, c):\n    d = {}\n    for ch in s:\n        if ch != c:\n"
        "            d[ch] = d.get(ch, 0) + 1\n    return d",
        "{'a': 2, 'b': 2}",
        "f counts the letters of s except c. s = 'abab' has 'a' twice and 'b' twice; c can be "
        "any other letter, say 'z'.",
        "'abab', 'z'",
    ),
    ExampleTask(
        "def f(s, n):\n    return s[n:] + s[:n]",
        "'cdeab'",
        "f moves the first n letters to the end. 'abcde' with n = 2 gives 'cde' + 'ab' = 'cdeab'.",
        "'abcde', 2",
    ),
)
EXAMPLE_ANSWER = EXAMPLES[0].answer

SOLVE_ABDUCTION = """\
Find an input for which a Python program returns a given output. Write the input as the \
arguments of one call to `f`, as Python literals. Any input that produces the output is accepted.

{example}

Your task:
```python
{program}
```
```output
{output}
```

{reply}"""
SOLVE_ABDUCTION_REPLY = same_form("one ```input block")


class Abduction(TripletSpec):
    """Program + output -> an input."""

    name = "abduction"
    short = "abd"
    default_enabled = True
    summary = "shows a program and an output and asks for an input that produces it."
    grading_note = (
        "the answer must be the argument list of one call `f(...)`; it runs in the sandbox "
        "(two hash seeds, separate processes) and is correct when the sandbox's canonical "
        "literal of the result equals the gold output. Any input that works counts."
    )
    solver_blocks: ClassVar[dict[str, int]] = {"input": 1}
    answer_block = "input"
    example_answer = EXAMPLE_ANSWER
    examples = EXAMPLES
    shown_block = "output"
    examples_shown = 3
    solve_template = SOLVE_ABDUCTION
    solve_reply = SOLVE_ABDUCTION_REPLY
    goal = (
        "Write a program and one input for it. Someone will be shown the program and its "
        "output and will have to find an input that produces that output."
    )

    def example_fits(self, example: ExampleTask, task: Task) -> bool:
        """Whether the example could answer this task: same output or same input. (Whether its
        input gives the task's output needs the sandbox; the copy rate is measured instead.)"""
        assert isinstance(task, Triplet)
        return same_literal_text(example.shown, task.output) or normalize_input(
            example.answer
        ) == normalize_input(task.input)

    def plan_grade(self, task: Task, answer: str) -> Plan:
        """Run the program on the answer; correct when it returns the gold output."""
        assert isinstance(task, Triplet)
        gold = task.output

        def finish(checks: Sequence[Check]) -> tuple[bool, str]:
            (check,) = checks
            if not check.valid or check.output is None:
                return False, check.reason or "execution failed"
            if not same_literal_text(check.output, gold):
                return False, f"wrong: got {short_text(check.output)}, expected {short_text(gold)}"
            return True, "correct"

        return Plan.run([(task.program, answer)], finish)

    def doc_example(self) -> DocExample:
        """The docs' references, task and a correct reply (another input than the task's)."""
        return DocExample(
            list(DOC_REFERENCES),
            DOC_TASK,
            " I need a 3 times and n 2 times, every other letter at most once: 'anana' works."
            "</think>\n<answer>\n```input\n'anana'\n```\n</answer>",
        )
