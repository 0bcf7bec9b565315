"""Error prediction (`error`, the reference's `code_e`): given a program and an input, name the
exception the call raises, or `NoError` when it returns.

Proposed like deduction, as a program and one input (the call may raise), and validated by
running it under two hash seeds: the outcome must be the same under both (the same returned
literal, or the same exception class raised in the same place), and an exception must be
raised inside `f`, not at the program's top level, not while the input is evaluated and not by
the call itself (wrong arguments). The gold answer is the exception class's identity as the
sandbox found it (`azr.sandbox.api.ExecResult.exc_type`), never a name read from the error
text, named as a traceback's last line names it: `ValueError` for a builtin,
`json.decoder.JSONDecodeError` for a module's class, the bare name for a class the program
defines. A program's own class that takes a builtin exception's name (or `NoError`, or a name
that is not an identifier) is refused: its name would not say which class it is. Grading
compares the answer with the gold name in this process; no model code runs. Off by default
(the paper trains three types): enable it with `selfplay.task_types`.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from azr.sandbox.api import LOCAL_CLASS
from azr.tasks.model import Task
from azr.tasks.prompts import code_requirements, same_form
from azr.tasks.types.base import Check, DocExample, Plan, ProposalSettings, short_text
from azr.tasks.types.triplet import ExampleTask, TripletSpec

NO_ERROR = "NoError"
BUILTIN_EXCEPTIONS = frozenset(
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
)
# Why an exception raised elsewhere than inside `f` does not make a task (`Check.where`).
PLACES = {
    "program": "error raised at the program's top level, not inside f",
    "input": "error raised while evaluating the input, not inside f",
    "call": "error raised by the call of f itself (its arguments), not inside f",
    "output": "error raised while rendering the returned value",
}

ENTRY = (
    "Define an entry function named `f` that takes at least one argument. Calling `f` on your "
    "input may raise an exception (raised inside `f` or code it calls, not while the input "
    "itself is evaluated) or return normally."
)
RESULT = (
    "If it returns, the return value must be a plain Python literal (numbers, strings, bytes, "
    "booleans, None, and lists/tuples/dicts/sets of those). Raise builtin exceptions or your "
    "own classes with new names (not a builtin exception's name)."
)

# The proposer prompt's example replies (one shown per prompt) and what each raises.
EXAMPLE_PROPOSALS = (
    (
        "I will read the k-th item of a list, doubled; k is past the end of the list.",
        "def f(nums, k):\n    return nums[k] * 2",
        "[1, 2, 3], 5",
    ),
    (
        "I will add up the numbers written in a string; one of its words is not a number.",
        "def f(text):\n    return sum(int(w) for w in text.split())",
        "'1 2 x 4'",
    ),
)
EXAMPLE_OUTPUTS = ("IndexError", "ValueError")

# Solved examples with their own programs, shown before the real task (see deduction.py).
EXAMPLES = (
    ExampleTask(
        "def f(d, key):\n    return d[key] + 1",
        "{'a': 1}, 'b'",
        "d has no key 'b', so d[key] raises KeyError before anything is added.",
        "KeyError",
    ),
    ExampleTask(
        "def f(s):\n    return s.upper()[:3]",
        "'hello'",
        "s.upper() is 'HELLO' and a slice never raises: f returns 'HEL', no exception.",
        NO_ERROR,
    ),
)

SOLVE_ERROR = """\
Work out whether calling a Python program's `f` on a given input raises an exception. Answer \
with the exception's class name as the last line of a traceback would write it (e.g. \
`ValueError`, `KeyError`, `json.decoder.JSONDecodeError`, or the name of a class the program \
defines), or `NoError` if the call returns normally.

{example}

Your task:
```python
{program}
```
```input
{input}
```

{reply}"""


@dataclass(frozen=True)
class ErrorTask:
    """A program, an input and what the call raises (`error`: a traceback name or NoError)."""

    program: str
    input: str
    error: str

    def to_dict(self) -> dict[str, str]:
        """Plain JSON-able dict."""
        return {"program": self.program, "input": self.input, "error": self.error}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ErrorTask:
        """Inverse of `to_dict`; accepts `code` as an alias of `program`."""
        program, inp, error = (
            data.get("program", data.get("code")),
            data.get("input"),
            data.get("error"),
        )
        if not (isinstance(program, str) and isinstance(inp, str) and isinstance(error, str)):
            raise ValueError("error task: fields 'program', 'input' and 'error' must be strings")
        return cls(program, inp, error)


def exception_name(identity: str | None) -> str | None:
    """The answer that names the class of sandbox identity `identity`, or None when no name
    says which class it is (a program's class named like a builtin, `NoError` or oddly)."""
    if not identity:
        return None
    if not identity.startswith(LOCAL_CLASS):
        return identity  # a builtin's name, or module.QualName verified by the sandbox
    name = identity[len(LOCAL_CLASS) :]
    if not name.isidentifier() or name in BUILTIN_EXCEPTIONS or name == NO_ERROR:
        return None
    return name


class ErrorPrediction(TripletSpec):
    """Program + input -> the exception raised, or NoError."""

    name = "error"
    short = "err"
    task_class: ClassVar[type] = ErrorTask
    offers_programs: ClassVar[bool] = False  # its programs may raise: not for induction
    solver_blocks: ClassVar[dict[str, int]] = {"error": 1}
    answer_block = "error"
    result_block = "error"
    result_field = "error"
    # Two programs that both return on the same input are different tasks: NoError (or one
    # exception name) says too little to call a proposal a rewrite of a reference.
    dedup_by_behaviour = False
    example_answer = EXAMPLES[0].answer
    examples = EXAMPLES
    shown_block = "input"
    example_proposals = EXAMPLE_PROPOSALS
    example_outputs = EXAMPLE_OUTPUTS
    grading_runs_code = False
    solve_template = SOLVE_ERROR
    solve_reply = same_form("one ```error block")
    summary = (
        "shows a program and an input and asks which exception the call raises, or `NoError` "
        "(off by default: `selfplay.task_types` enables it)."
    )
    grading_note = (
        "the answer is compared, in the parent, with the gold name: the raised class's "
        "identity as the sandbox found it (a builtin by object identity, a module's class "
        "verified by identity), named as a traceback names it, or `NoError`. A task is valid "
        "only when both hash seeds give the same outcome and the exception comes from inside "
        "`f` (not the top level, the input or the call's arguments); a program's own class "
        "named like a builtin exception is refused."
    )
    goal = (
        "Write a program and one input for it; calling `f` on the input may raise an exception "
        "or return. Someone will be shown the program and the input and will have to say which "
        "exception the call raises, or that it raises none, without running the code."
    )

    def requirements(self, settings: ProposalSettings) -> str:
        """The code rules, with `f` allowed to raise."""
        return code_requirements(settings.timeout_s, ENTRY, RESULT)

    def outcome(self, check: Check) -> tuple[str | None, str]:
        """NoError for a returned literal; the exception's name when it is raised inside `f`
        and its name says which class it is."""
        if check.status == "ok":
            return NO_ERROR, "ok"
        if check.status != "error":
            return None, check.reason or "invalid"
        if check.where != "f":
            return None, PLACES.get(check.where or "", f"error raised in {check.where}")
        name = exception_name(check.exc_type)
        if name is None:
            kind = short_text(check.exc_type)
            return None, f"exception class {kind} is the program's own with a misleading name"
        return name, "ok"

    def make_task(self, program: str, inp: str, result: str) -> Task:
        """An `ErrorTask`."""
        return ErrorTask(program, inp, result)

    def result_of(self, task: Task) -> str:
        """The gold answer."""
        assert isinstance(task, ErrorTask)
        return task.error

    def same_result(self, stated: str, result: str) -> bool:
        """Names compare as text."""
        return stated.strip() == result

    def from_dict(self, payload: dict[str, Any]) -> Task:
        """An `ErrorTask`."""
        return ErrorTask.from_dict(payload)

    def example_fits(self, example: ExampleTask, task: Task) -> bool:
        """Whether the example's answer is this task's."""
        return example.answer == self.result_of(task)

    def plan_grade(self, task: Task, answer: str) -> Plan:
        """The answer names the gold class (or NoError): compared as text, nothing runs."""
        gold = self.result_of(task)
        if answer == gold:
            return Plan.now(True, "correct")
        return Plan.now(False, f"wrong: {short_text(answer)} != {short_text(gold)}")

    def identity_seed(
        self, program: str, pairs: Sequence[tuple[str, str]], settings: ProposalSettings
    ) -> Task:
        """The identity program on its first input: it returns, so NoError."""
        return ErrorTask(program, pairs[0][0], NO_ERROR)

    def doc_example(self) -> DocExample:
        """Two references, a task whose call raises, and a correct reply."""
        refs: list[Task] = [
            ErrorTask("def f(x):\n    return x", "'Hello world'", NO_ERROR),
            ErrorTask("def f(a, b):\n    return a // b", "7, 0", "ZeroDivisionError"),
        ]
        task = ErrorTask(
            "def f(words):\n    counts = {}\n    for w in words:\n        counts[w] += 1\n"
            "    return counts",
            "['a', 'b', 'a']",
            "KeyError",
        )
        reply = (
            " counts starts empty, so counts['a'] += 1 reads a missing key first.</think>\n"
            "<answer>\n```error\nKeyError\n```\n</answer>"
        )
        return DocExample(refs, task, reply)
