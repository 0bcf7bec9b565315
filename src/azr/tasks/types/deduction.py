"""Deduction: given a program and an input, predict the output (graded as a literal)."""

from __future__ import annotations

from typing import ClassVar

from azr.tasks.literals import NotALiteral, literals_equal, parse_literal
from azr.tasks.model import Task, Triplet
from azr.tasks.prompts import reply_with_example
from azr.tasks.types.base import Plan, short_text
from azr.tasks.types.triplet import TripletSpec

SOLVE_DEDUCTION = """\
Work out what this Python program returns for the given input.

```python
{program}
```
```input
{input}
```

Give the exact return value as a Python literal (a number, a string in quotes, a list, a dict), \
not an expression. {reply}"""

EXAMPLE_ANSWER = "[2, 10]"
SOLVE_DEDUCTION_REPLY = reply_with_example(
    "one ```output block",
    "f doubles every number, so [1, 5] becomes [2, 10].",
    f"```output\n{EXAMPLE_ANSWER}\n```",
)


class Deduction(TripletSpec):
    """Program + input -> output."""

    name = "deduction"
    short = "ded"
    solver_blocks: ClassVar[dict[str, int]] = {"output": 1}
    answer_block = "output"
    example_answer = EXAMPLE_ANSWER
    grading_runs_code = False
    solve_template = SOLVE_DEDUCTION
    solve_reply = SOLVE_DEDUCTION_REPLY
    goal = (
        "Write a program and one input for it. Someone will be shown the program and the "
        "input and will have to work out the output without running the code."
    )

    def plan_grade(self, task: Task, answer: str) -> Plan:
        """Compared with the gold output as strict literals, in this process (never run)."""
        assert isinstance(task, Triplet)
        try:
            value = parse_literal(answer)
        except NotALiteral as exc:
            return Plan.now(False, f"answer is {exc}")
        try:
            expected = parse_literal(task.output)
        except NotALiteral:
            return Plan.now(False, "gold output is not a literal (bad task)")
        if literals_equal(value, expected):
            return Plan.now(True, "correct")
        return Plan.now(False, f"wrong: {short_text(answer)} != {short_text(task.output)}")
