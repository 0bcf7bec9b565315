"""Every prompt template of the six (task type x role) prompts, and the two wrappers.

All templates live in this one module so they can be read and edited side by side. The text is
written after SPEC.md section 3: the model reasons inside <think>...</think> and answers inside
<answer>...</answer>, with fenced blocks (```python, ```input, ```output, ```message) as payload.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from azr.tasks.model import InductionTask, TaskType, Triplet


def forbidden_modules() -> list[str]:
    """The forbidden-module list the prompts repeat (from the sandbox's static policy)."""
    from azr.sandbox.rules import FORBIDDEN_MODULES

    return sorted(FORBIDDEN_MODULES)


def allowed_modules() -> list[str]:
    """Modules a program may import (the sandbox refuses every other import)."""
    from azr.sandbox.rules import ALLOWED_MODULES

    return sorted(m for m in ALLOWED_MODULES if not m.startswith("_"))


# --------------------------------------------------------------------------- wrappers

BASE_WRAPPER = (
    "A conversation between User and Assistant. The User gives a task; the Assistant first "
    "thinks about it step by step and then answers. The reasoning goes inside <think> </think> "
    "and the answer inside <answer> </answer>, i.e. <think> reasoning here </think> "
    "<answer> answer here </answer>.\n"
    "User: {prompt}\n"
    "Assistant: <think>"
)

THINK_PRIMER = "<think>"


def wrap(text: str, style: Literal["base", "chat"] = "base", tokenizer: Any | None = None) -> str:
    """Wrap a user message for generation; the result ends primed inside `<think>`."""
    if style == "base":
        return BASE_WRAPPER.format(prompt=text)
    if style == "chat":
        if tokenizer is None or not hasattr(tokenizer, "apply_chat_template"):
            raise ValueError("wrap(style='chat') needs a tokenizer with apply_chat_template")
        rendered = tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
        )
        return str(rendered) + THINK_PRIMER
    raise ValueError(f"unknown wrapper style {style!r} (expected 'base' or 'chat')")


# --------------------------------------------------------------------------- shared pieces

# Every prompt ends with the reply format and one complete worked reply (for a different task),
# placed last so it is closest to the generation: measured with benchmarks/probe_format.py, small
# models (SmolLM2-135M) copy a full example reply far more reliably than a described format.
REPLY_RULES = (
    "Reply in this order: your short reasoning, then </think>, then <answer>, then {blocks}, "
    "then </answer>. Nothing comes after </answer>."
)


# A last line after the example: measured to help a little (3/12 well-formed proposals instead of
# 2/12 over two seeds, one of them not a verbatim copy of the example).
REPLY_NOW = "Now write your own reply for the task above, in the same shape."


def _reply(blocks: str, example_think: str, example_answer: str) -> str:
    """The closing format instruction plus one complete example reply."""
    return (
        REPLY_RULES.format(blocks=blocks)
        + " Example of a complete reply (for a different task):\n"
        + f"<think>\n{example_think}\n</think>\n<answer>\n{example_answer}\n</answer>"
        + "\n\n"
        + REPLY_NOW
    )


def code_requirements(timeout_s: float = 10.0) -> str:
    """The code rules every proposer prompt states (SPEC.md section 3)."""
    mods = ", ".join(forbidden_modules())
    allowed = ", ".join(allowed_modules())
    return (
        "Code requirements:\n"
        "- Define an entry function named `f` that takes at least one argument and returns a "
        "value (not None).\n"
        "- Put imports and any helper functions or classes at the top, before `f`.\n"
        "- It must be deterministic: no randomness, no date or time, no file or network I/O, no "
        "printing, no reading of external state.\n"
        f"- It must finish within {timeout_s:g} seconds.\n"
        "- The return value must be a plain Python literal (numbers, strings, bytes, booleans, "
        "None, and lists/tuples/dicts/sets of those).\n"
        f"- Do not use these modules: {mods}.\n"
        + (f"- Only these modules may be imported: {allowed}.\n" if allowed else "")
        + "- Inputs are written as the arguments of one call, e.g. `'John', {'age': 20}` for "
        "`f('John', {'age': 20})`."
    )


def _fence(name: str, body: str) -> str:
    return f"```{name}\n{body.strip(chr(10))}\n```"


def _reference_block(refs: Sequence[Triplet], show_output: bool) -> str:
    if not refs:
        return "(no reference tasks yet)"
    parts = []
    for k, ref in enumerate(refs, 1):
        items = [f"Reference {k}:", _fence("python", ref.program), _fence("input", ref.input)]
        if show_output:
            items.append(_fence("output", ref.output))
        parts.append("\n".join(items))
    return "\n\n".join(parts)


# --------------------------------------------------------------------------- proposers

PROPOSE_TRIPLET = """\
Design a new Python programming task. {goal}

{requirements}

Existing tasks (yours must be different from all of them: a new idea, not a renamed or slightly \
edited copy):

{references}

Make the task hard enough to need careful step-by-step reasoning, but solvable by a careful \
reader. {reply}"""

GOALS = {
    TaskType.DEDUCTION: (
        "Write a program and one input for it. Someone will be shown the program and the "
        "input and will have to work out the output without running the code."
    ),
    TaskType.ABDUCTION: (
        "Write a program and one input for it. Someone will be shown the program and its "
        "output and will have to find an input that produces that output."
    ),
}

# The worked proposal. Small models sometimes copy it verbatim; callers that want to reject such
# copies can treat it like a reference in the duplicate check.
EXAMPLE_PROPOSAL = (
    "def f(nums):\n    return sum(n * n for n in nums if n % 2 == 0)",
    "[3, 4, 5, 6]",
)

PROPOSE_TRIPLET_REPLY = _reply(
    "one ```python block (the program) and one ```input block (the arguments of one call)",
    "I will keep the even numbers of a list and add up their squares.",
    f"```python\n{EXAMPLE_PROPOSAL[0]}\n```\n```input\n{EXAMPLE_PROPOSAL[1]}\n```",
)

PROPOSE_INDUCTION = """\
Here is a Python program. Write {n_inputs} different inputs for it, and a message. Someone will \
see your message and the outputs of the program on some of your inputs, but not the program, \
and will have to write the program. The inputs should together reveal what the program does; \
the message is a short hint in plain words about what the function computes and must not \
contain the code.

```python
{program}
```

Each input is written as the arguments of one call to `f`, e.g. `'John', {{'age': 20}}`. \
{reply}"""


# Example inputs for the induction worked reply: as many blocks as the prompt asks for.
_VOWEL_WORDS = [
    "'apple'",
    "'sky'",
    "'banana'",
    "''",
    "'queue'",
    "'rhythm'",
    "'aeiou'",
    "'tree'",
    "'io'",
    "'x'",
]


def _induction_reply(n_inputs: int) -> str:
    shown = [_VOWEL_WORDS[k % len(_VOWEL_WORDS)] for k in range(max(1, n_inputs))]
    return _reply(
        f"{n_inputs} ```input blocks (one call each) followed by one ```message block",
        "f counts the vowels of a word, so I use words with different numbers of vowels.",
        "\n".join(f"```input\n{x}\n```" for x in shown)
        + "\n```message\nCounts the vowels in the word.\n```",
    )


def proposer_prompt(
    task_type: TaskType | str,
    references: Sequence[Triplet],
    *,
    n_inputs: int = 10,
    program_for_induction: Triplet | None = None,
    timeout_s: float = 10.0,
) -> str:
    """User message asking the model to propose a task of `task_type`."""
    task_type = TaskType(task_type)
    if task_type is TaskType.INDUCTION:
        if program_for_induction is None:
            raise ValueError("the induction proposer prompt needs program_for_induction")
        return PROPOSE_INDUCTION.format(
            n_inputs=n_inputs,
            program=program_for_induction.program.strip("\n"),
            reply=_induction_reply(n_inputs),
        )
    return PROPOSE_TRIPLET.format(
        goal=GOALS[task_type],
        requirements=code_requirements(timeout_s),
        references=_reference_block(references, show_output=True),
        reply=PROPOSE_TRIPLET_REPLY,
    )


# --------------------------------------------------------------------------- solvers

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

SOLVE_DEDUCTION_REPLY = _reply(
    "one ```output block",
    "f doubles every number, so [1, 5] becomes [2, 10].",
    "```output\n[2, 10]\n```",
)

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

SOLVE_ABDUCTION_REPLY = _reply(
    "one ```input block",
    "f adds 3 to x; to get 10, x must be 7.",
    "```input\n7\n```",
)

SOLVE_INDUCTION = """\
Write the Python function `f` that produces these outputs from these inputs.

Hint: {message}

{examples}

Your program must define `f`; helper functions, classes and imports at the top are allowed. It \
will be tested on further inputs that you do not see. {reply}"""

SOLVE_INDUCTION_REPLY = _reply(
    "one ```python block",
    "Every output is the input times 3.",
    "```python\ndef f(x):\n    return x * 3\n```",
)


def _examples_block(pairs: Sequence[tuple[str, str]]) -> str:
    return "\n".join(
        f"Example {k}:\n{_fence('input', i)}\n{_fence('output', o)}"
        for k, (i, o) in enumerate(pairs, 1)
    )


def solver_prompt(task_type: TaskType | str, task: Triplet | InductionTask) -> str:
    """User message asking the model to solve `task` as a `task_type` task."""
    task_type = TaskType(task_type)
    if task_type is TaskType.INDUCTION:
        if not isinstance(task, InductionTask):
            raise TypeError("an induction solver prompt needs an InductionTask")
        return SOLVE_INDUCTION.format(
            message=task.message.strip(),
            examples=_examples_block(task.visible),
            reply=SOLVE_INDUCTION_REPLY,
        )
    if not isinstance(task, Triplet):
        raise TypeError(f"a {task_type.value} solver prompt needs a Triplet")
    if task_type is TaskType.DEDUCTION:
        template, reply = SOLVE_DEDUCTION, SOLVE_DEDUCTION_REPLY
    else:
        template, reply = SOLVE_ABDUCTION, SOLVE_ABDUCTION_REPLY
    return template.format(
        program=task.program.strip("\n"), input=task.input, output=task.output, reply=reply
    )
