"""Deduction: given a program and an input, predict the output (graded as a literal)."""

from __future__ import annotations

from typing import ClassVar

from azr.literals import NotALiteral, literals_equal, parse_literal
from azr.tasks.model import Task, Triplet
from azr.tasks.prompts import same_form
from azr.tasks.types.base import DocExample, Plan, short_text
from azr.tasks.types.triplet import DOC_REFERENCES, DOC_TASK, ExampleTask, TripletSpec

# One solved example with its own program, then the real task. Measured with
# benchmarks/prompt_variants.py (docs/results.md, "Prompts at step 0"): a worked reply shown
# without its program was copied by every greedy answer of Qwen2.5-Coder-0.5B; a format skeleton
# with placeholders was filled with the placeholder's words; one example task with its program
# keeps the model on the real task.
# (program, input, reasoning, answer); the first is shown unless its answer is the task's.
EXAMPLES = (
    ExampleTask(
        "def f(words):\n    return [w.upper() for w in words if len(w) > 2]",
        "['ab', 'cat', 'dog', 'x']",
        "The words longer than 2 letters are 'cat' and 'dog'; upper-cased they are 'CAT' and "
        "'DOG'.",
        "['CAT', 'DOG']",
    ),
    ExampleTask(
        "def f(s, c):\n    d = {}\n    for ch in s:\n        if ch != c:\n"
        "            d[ch] = d.get(ch, 0) + 1\n    return d",
        "'abcab', 'c'",
        "Skipping 'c', the letters are a, b, a, b: 'a' twice and 'b' twice, in that order.",
        "{'a': 2, 'b': 2}",
    ),
)
EXAMPLE_ANSWER = EXAMPLES[0].answer

SOLVE_DEDUCTION = """\
Work out what a Python program returns for a given input. Give the exact return value as a \
Python literal (a number, a string in quotes, a list, a dict), not an expression.

{example}

Your task:
```python
{program}
```
```input
{input}
```

{reply}"""
SOLVE_DEDUCTION_REPLY = same_form("one ```output block")


class Deduction(TripletSpec):
    """Program + input -> output."""

    name = "deduction"
    short = "ded"
    default_enabled = True
    summary = "shows a program and an input and asks for the output."
    grading_note = (
        "`ast.literal_eval` of the answer in the parent, compared with the gold literal with "
        "exact types at every level (`1`, `1.0` and `True` differ; `[1]` is not `(1,)`)."
    )
    solver_blocks: ClassVar[dict[str, int]] = {"output": 1}
    answer_block = "output"
    example_answer = EXAMPLE_ANSWER
    examples = EXAMPLES
    shown_block = "input"
    grading_runs_code = False
    solve_template = SOLVE_DEDUCTION
    solve_reply = SOLVE_DEDUCTION_REPLY
    goal = (
        "Write a program and one input for it. Someone will be shown the program and the "
        "input and will have to work out the output without running the code."
    )

    def example_fits(self, example: ExampleTask, task: Task) -> bool:
        """Whether the example's answer would be this task's output."""
        assert isinstance(task, Triplet)
        try:
            return literals_equal(parse_literal(example.answer), parse_literal(task.output))
        except NotALiteral:
            return False

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

    def doc_example(self) -> DocExample:
        """The docs' references, task and a correct reply."""
        return DocExample(
            list(DOC_REFERENCES),
            DOC_TASK,
            " 'banana' has a:3, n:2, b:1. Sorted by count descending, then letter: a, n."
            "</think>\n<answer>\n```output\n[('a', 3), ('n', 2)]\n```\n</answer>",
        )
