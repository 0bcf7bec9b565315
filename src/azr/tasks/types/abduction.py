"""Abduction: given a program and an output, find an input that produces it (graded by
running the program on the answer in the sandbox)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from azr.tasks.literals import same_literal_text
from azr.tasks.model import Task, Triplet
from azr.tasks.prompts import reply_with_example
from azr.tasks.types.base import Check, Plan, short_text
from azr.tasks.types.triplet import TripletSpec

SOLVE_ABDUCTION = """\
Find an input for which this Python program returns the given output.

```python
{program}
```
```output
{output}
```

Write the input as the arguments of one call to `f`, e.g. `'John', {{'age': 20}}` for \
`f('John', {{'age': 20}})`. Any input that produces the output is accepted. {reply}"""

EXAMPLE_ANSWER = "7"
SOLVE_ABDUCTION_REPLY = reply_with_example(
    "one ```input block",
    "f adds 3 to x; to get 10, x must be 7.",
    f"```input\n{EXAMPLE_ANSWER}\n```",
)


class Abduction(TripletSpec):
    """Program + output -> an input."""

    name = "abduction"
    short = "abd"
    solver_blocks: ClassVar[dict[str, int]] = {"input": 1}
    answer_block = "input"
    example_answer = EXAMPLE_ANSWER
    solve_template = SOLVE_ABDUCTION
    solve_reply = SOLVE_ABDUCTION_REPLY
    goal = (
        "Write a program and one input for it. Someone will be shown the program and its "
        "output and will have to find an input that produces that output."
    )

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
