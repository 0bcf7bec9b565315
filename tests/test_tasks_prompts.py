"""The prompts show no reply a model could copy as is (issue 16).

Solver prompts show solved example tasks (their own program, then their reply) before the real
task; each example's answer is well-formed and never a correct answer to the real task.
Proposer prompts show a whole example reply (the triplet proposers after the references, the
induction proposer with its own program), and a proposal copying one is refused (the engine
tests check the refusal; here: the examples are well-formed and usable).
"""

from __future__ import annotations

import ast
import re

import pytest

from azr.tasks.model import InductionTask, Role, TaskType, Triplet
from azr.tasks.parsing import extract_solver_answer, parse_for
from azr.tasks.prompts import forbidden_modules, proposer_prompt, solver_prompt
from azr.tasks.types import get
from azr.tasks.types.induction import extract_induction_proposal
from azr.tasks.types.triplet import (
    EXAMPLE_OUTPUTS,
    EXAMPLE_PROPOSALS,
    example_index,
    extract_triplet_proposal,
    triplet_reply,
)

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
    Triplet("def f(s, n):\n    return s[n:] + s[:n]", "'abcde', 2", "'cdeab'"),
    Triplet("def f(d):\n    return dict(d)", "{'a': 2, 'b': 2}", "{'a': 2, 'b': 2}"),
]


def _fences(text: str, name: str) -> list[str]:
    return re.findall(rf"```{name}\n(.*?)\n```", text, flags=re.S)


def _solver_parts(prompt: str) -> tuple[list[str], str]:
    """(the worked examples' replies, the real task) of a solver prompt."""
    assert prompt.count("Your task:") == 1
    examples, task = prompt.split("Your task:")
    replies = [e.split("Reply:\n", 1)[1].strip() for e in examples.split(EXAMPLE_MARK)[1:]]
    assert replies
    for reply in replies:
        assert reply.startswith("<think>") and reply.endswith("</answer>")
    return replies, task


@pytest.mark.parametrize("task_type", ["deduction", "abduction", "induction"])
def test_solver_prompt_shows_a_well_formed_example_then_the_task(task_type: str) -> None:
    task = ITASK if task_type == "induction" else TASK
    prompt = solver_prompt(task_type, task)
    replies, real = _solver_parts(prompt)
    assert len(replies) == (3 if task_type == "abduction" else 1)
    for reply in replies:
        parsed = parse_for(reply, task_type, Role.SOLVER, primed_think=False)
        assert parsed.format_ok, parsed.errors
        assert extract_solver_answer(parsed, task_type) is not None
    # The real task (its program or hint) comes after the example, the closing line last.
    shown = task.message if isinstance(task, InductionTask) else task.program
    assert shown in real and shown not in prompt.split("Your task:")[0]
    assert prompt.rstrip().endswith("Nothing comes after </answer>.")


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
    shown = _fences(prompt, "input")
    assert len(shown) == 3 and set(shown) <= set(get("abduction").example_answers)
    namespace: dict[str, object] = {}
    exec(task.program, namespace)  # our own trusted test programs
    for args in shown:
        try:
            value = eval(f"f({args})", namespace)
        except Exception:  # noqa: BLE001 - a crash is a wrong answer
            continue
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


TRIPLET_MARK = "Example of a complete reply (for a different task):"


def _triplet_example_replies(prompt: str) -> list[str]:
    body = prompt.split(TRIPLET_MARK, 1)[1].split("\n\nNow write your own reply", 1)[0]
    return ["<think>" + r for r in body.split("<think>")[1:]]


@pytest.mark.parametrize("task_type", [TaskType.DEDUCTION, TaskType.ABDUCTION])
def test_triplet_proposer_examples_are_well_formed_runnable_proposals(task_type: TaskType) -> None:
    prompt = proposer_prompt(task_type, [ID, TASK])
    (reply,) = _triplet_example_replies(prompt)  # one example reply per prompt
    assert reply.strip() in {
        _triplet_example_replies(triplet_reply(i))[0].strip() for i in range(len(EXAMPLE_PROPOSALS))
    }
    for index, (_, program, inp) in enumerate(EXAMPLE_PROPOSALS):
        (reply,) = _triplet_example_replies(triplet_reply(index))
        parsed = parse_for(reply.strip(), task_type, Role.PROPOSER, primed_think=False)
        assert parsed.format_ok, parsed.errors
        prop = extract_triplet_proposal(parsed)
        assert prop is not None and (prop.program, prop.input) == (program, inp)
        namespace: dict[str, object] = {}
        exec(prop.program, namespace)  # our own example programs
        assert repr(eval(f"f({prop.input})", namespace)) == EXAMPLE_OUTPUTS[index]
    # The example comes after the references, one closing line last.
    assert prompt.index("Reference 2:") < prompt.index(TRIPLET_MARK)
    assert prompt.rstrip().endswith(
        "Now write your own reply for the task above, in the same shape."
    )


def test_triplet_proposer_example_varies_with_the_references() -> None:
    """Prompts with different references spread over every example proposal (one example
    anchored the long run's proposals on its input); the same references, the same example."""
    contexts = [[Triplet(f"def f(x):\n    return x + {k}", str(k), str(2 * k))] for k in range(40)]
    shown = [_triplet_example_replies(proposer_prompt(TaskType.DEDUCTION, c))[0] for c in contexts]
    assert {example_index(c) for c in contexts} == set(range(len(EXAMPLE_PROPOSALS)))
    for c, reply in zip(contexts, shown, strict=True):
        assert reply == _triplet_example_replies(triplet_reply(example_index(c)))[0]
        assert reply == _triplet_example_replies(proposer_prompt(TaskType.DEDUCTION, c))[0]
    assert len(set(shown)) == len(EXAMPLE_PROPOSALS) >= 4


@pytest.mark.parametrize("n_inputs", [1, 4, 10, 12])
def test_induction_proposer_example_shows_as_many_inputs_as_asked(n_inputs: int) -> None:
    prompt = proposer_prompt(TaskType.INDUCTION, [], n_inputs=n_inputs, program_for_induction=TASK)
    assert f"{n_inputs} different inputs" in prompt and f"then {n_inputs} ```input" in prompt
    example, real = prompt.split("Your program:")
    reply = example.split("Reply:\n", 1)[1].strip()
    parsed = parse_for(reply, TaskType.INDUCTION, Role.PROPOSER, primed_think=False)
    prop = extract_induction_proposal(parsed)
    assert parsed.format_ok and prop is not None and len(prop.inputs) == n_inputs
    assert TASK.program in real and TASK.program not in example


def test_proposer_prompt_keeps_the_spec_requirements() -> None:
    text = proposer_prompt(TaskType.DEDUCTION, [ID, TASK], timeout_s=5)
    assert "Reference 1:" in text and "Reference 2:" in text and "s[::-1]" in text
    assert "within 5 seconds" in text and "deterministic" in text
    assert all(mod in text for mod in forbidden_modules())
    # The requirements come before the references, and the examples come last.
    assert text.index("Code requirements") < text.index("Reference 1:") < text.index(TRIPLET_MARK)
