"""The prompts show no reply a model could copy as is (issue 16).

Solver prompts show one solved example task (its own program, then its reply) before the real
task; the example's answer is well-formed and is never a correct answer to the real task.
Proposer prompts show the reply's shape with placeholders only, and a proposal that copies a
placeholder is refused.
"""

from __future__ import annotations

import ast
import re

import pytest

from azr.tasks.model import InductionTask, Role, TaskType, Triplet
from azr.tasks.parsing import extract_solver_answer, parse_for
from azr.tasks.prompts import (
    REPLY_INTRO,
    forbidden_modules,
    proposer_prompt,
    shows_placeholder,
    solver_prompt,
)
from azr.tasks.types import get
from azr.tasks.types.induction import MESSAGE_PLACEHOLDER, input_placeholder
from azr.tasks.types.triplet import PROPOSAL_PLACEHOLDERS

ID = Triplet("def f(x):\n    return x", "'Hello world'", "'Hello world'")
TASK = Triplet("def f(s):\n    return s[::-1]", "'abc'", "'cba'")
ITASK = InductionTask(TASK.program, "reverses a string", [("'ab'", "'ba'")], [("'xyz'", "'zyx'")])
EXAMPLE_MARK = "Example (a different task):\n"
# Tasks whose gold answers a careless example could match: list, number, string, dict outputs.
TASKS = [
    TASK,
    Triplet(
        "def f(words):\n    return [w.upper() for w in words]", "['cat', 'dog']", "['CAT', 'DOG']"
    ),
    Triplet("def f(n):\n    return n * 2", "9", "18"),
    Triplet("def f(n):\n    return n + 9", "0", "9"),
    Triplet("def f(d):\n    return dict(d)", "{'a': 2, 'b': 2}", "{'a': 2, 'b': 2}"),
]


def _fences(text: str, name: str) -> list[str]:
    return re.findall(rf"```{name}\n(.*?)\n```", text, flags=re.S)


def _solver_parts(prompt: str) -> tuple[str, str]:
    """(the worked example's reply, the real task) of a solver prompt."""
    assert prompt.count(EXAMPLE_MARK) == 1 and prompt.count("Your task:") == 1
    example, task = prompt.split(EXAMPLE_MARK, 1)[1].split("Your task:")
    reply = example.split("Reply:\n", 1)[1].strip()
    assert reply.startswith("<think>") and reply.endswith("</answer>")
    return reply, task


@pytest.mark.parametrize("task_type", ["deduction", "abduction", "induction"])
def test_solver_prompt_shows_a_well_formed_example_then_the_task(task_type: str) -> None:
    task = ITASK if task_type == "induction" else TASK
    prompt = solver_prompt(task_type, task)
    reply, real = _solver_parts(prompt)
    parsed = parse_for(reply, task_type, Role.SOLVER, primed_think=False)
    assert parsed.format_ok, parsed.errors
    assert extract_solver_answer(parsed, task_type) is not None
    # The real task (its program or hint) comes after the example, the closing line last.
    shown = task.message if isinstance(task, InductionTask) else task.program
    assert shown in real and shown not in prompt.split("Your task:")[0]
    assert prompt.rstrip().endswith("then </answer>.")


@pytest.mark.parametrize("task", TASKS)
def test_no_deduction_prompt_contains_its_tasks_answer(task: Triplet) -> None:
    """Every ```output block the prompt shows grades wrong for its task (the task in TASKS
    whose output is the first example's answer gets the second example)."""
    prompt = solver_prompt(TaskType.DEDUCTION, task)
    spec = get("deduction")
    shown = _fences(prompt, "output")
    assert len(shown) == 1 and shown[0] in spec.example_answers
    verdict = spec.plan_grade(task, shown[0]).verdict
    assert verdict is not None and verdict[0] is False


@pytest.mark.parametrize("task", TASKS)
def test_no_abduction_prompt_contains_an_input_that_solves_it(task: Triplet) -> None:
    """The example's input, run through the task's program, never gives the task's output."""
    prompt = solver_prompt(TaskType.ABDUCTION, task)
    (shown,) = _fences(prompt, "input")
    assert shown in get("abduction").example_answers
    namespace: dict[str, object] = {}
    exec(task.program, namespace)  # our own trusted test programs
    try:
        value = eval(f"f({shown})", namespace)
    except Exception:  # noqa: BLE001 - a crash is a wrong answer
        return
    assert value != ast.literal_eval(task.output)


def test_first_examples_are_the_ones_learning_counts_as_copies() -> None:
    for name in ("deduction", "abduction"):
        spec = get(name)
        assert spec.example_answer == spec.example_answers[0]
        assert len(set(spec.example_answers)) == len(spec.example_answers)


def test_induction_example_program_differs_from_the_task() -> None:
    prompt = solver_prompt(TaskType.INDUCTION, ITASK)
    (program,) = _fences(prompt, "python")
    namespace: dict[str, object] = {}
    exec(program, namespace)
    assert all(
        repr(namespace["f"](ast.literal_eval(i))) != o for i, o in ITASK.visible + ITASK.hidden
    )


def _proposer_prompts() -> list[tuple[TaskType, str]]:
    out = [(tt, proposer_prompt(tt, [ID, ID])) for tt in (TaskType.DEDUCTION, TaskType.ABDUCTION)]
    out.append(
        (
            TaskType.INDUCTION,
            proposer_prompt(TaskType.INDUCTION, [], n_inputs=4, program_for_induction=TASK),
        )
    )
    return out


@pytest.mark.parametrize("task_type,prompt", _proposer_prompts())
def test_proposer_prompts_show_only_placeholders(task_type: TaskType, prompt: str) -> None:
    """The reply format ends the prompt and none of its blocks is a usable payload."""
    fmt = prompt.split(REPLY_INTRO, 1)[1]
    assert prompt.count(REPLY_INTRO) == 1 and fmt.rstrip().endswith("</answer>")
    parsed = parse_for(fmt.strip(), task_type, Role.PROPOSER, primed_think=False)
    assert parsed.format_ok, parsed.errors  # the shape itself is the required one
    for body in _fences(fmt, "python"):
        with pytest.raises(SyntaxError):
            ast.parse(body)
    for body in _fences(fmt, "input"):
        with pytest.raises(SyntaxError):
            ast.parse(f"f({body})")
    for body in _fences(fmt, "message"):
        assert shows_placeholder(body, [MESSAGE_PLACEHOLDER])


def test_placeholder_copies_are_recognised_through_whitespace() -> None:
    program, inp = PROPOSAL_PLACEHOLDERS
    assert shows_placeholder("  " + program.replace(" ", "\n "), PROPOSAL_PLACEHOLDERS)
    assert shows_placeholder(f"x = 1  # {inp}", PROPOSAL_PLACEHOLDERS)
    assert not shows_placeholder("def f(x):\n    return [x]", PROPOSAL_PLACEHOLDERS)
    assert input_placeholder(1) != input_placeholder(2)


@pytest.mark.parametrize("n_inputs", [1, 4, 10, 12])
def test_induction_reply_shows_as_many_inputs_as_asked(n_inputs: int) -> None:
    prompt = proposer_prompt(TaskType.INDUCTION, [], n_inputs=n_inputs, program_for_induction=TASK)
    assert f"{n_inputs} different inputs" in prompt
    fmt = prompt.split(REPLY_INTRO, 1)[1]
    assert len(_fences(fmt, "input")) == n_inputs and len(_fences(fmt, "message")) == 1


def test_proposer_prompt_keeps_the_spec_requirements() -> None:
    text = proposer_prompt(TaskType.DEDUCTION, [ID, TASK], timeout_s=5)
    assert "Reference 1:" in text and "Reference 2:" in text and "s[::-1]" in text
    assert "within 5 seconds" in text and "deterministic" in text
    assert all(mod in text for mod in forbidden_modules())
    # The requirements come before the references, and the reply format comes last.
    assert text.index("Code requirements") < text.index("Reference 1:") < text.index(REPLY_INTRO)
