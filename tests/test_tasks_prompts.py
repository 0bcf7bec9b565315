"""The prompts end with a worked reply that itself passes the strict format check."""

from __future__ import annotations

import ast

import pytest

from azr.tasks.model import InductionTask, Role, TaskType, Triplet
from azr.tasks.parsing import extract_solver_answer, parse_for
from azr.tasks.prompts import REPLY_NOW, forbidden_modules, proposer_prompt, solver_prompt
from azr.tasks.types.induction import extract_induction_proposal
from azr.tasks.types.triplet import EXAMPLE_PROPOSAL, extract_triplet_proposal

MARK = "Example of a complete reply (for a different task):\n"
ID = Triplet("def f(x):\n    return x", "'Hello world'", "'Hello world'")
TASK = Triplet("def f(s):\n    return s[::-1]", "'abc'", "'cba'")
ITASK = InductionTask(TASK.program, "reverses a string", [("'ab'", "'ba'")], [("'xyz'", "'zyx'")])


def _example(prompt: str) -> str:
    """The worked reply, which ends the prompt (closest to generation) but for one last line."""
    assert prompt.count(MARK) == 1 and prompt.endswith("\n\n" + REPLY_NOW)
    reply = prompt.split(MARK, 1)[1].removesuffix("\n\n" + REPLY_NOW)
    assert reply.startswith("<think>") and reply.endswith("</answer>")
    return reply


def _prompts() -> list[tuple[TaskType, Role, str]]:
    out: list[tuple[TaskType | str, Role, str]] = [
        (tt, Role.PROPOSER, proposer_prompt(tt, [ID, ID]))
        for tt in (TaskType.DEDUCTION, TaskType.ABDUCTION)
    ]
    out.append(
        (
            TaskType.INDUCTION,
            Role.PROPOSER,
            proposer_prompt(TaskType.INDUCTION, [], n_inputs=4, program_for_induction=TASK),
        )
    )
    out += [(tt, Role.SOLVER, solver_prompt(tt, TASK)) for tt in (TaskType.DEDUCTION, "abduction")]
    out.append((TaskType.INDUCTION, Role.SOLVER, solver_prompt(TaskType.INDUCTION, ITASK)))
    return [(TaskType(t), r, p) for t, r, p in out]


@pytest.mark.parametrize("task_type,role,prompt", _prompts())
def test_worked_reply_is_well_formed(task_type: TaskType, role: Role, prompt: str) -> None:
    parsed = parse_for(_example(prompt), task_type, role, primed_think=False)
    assert parsed.format_ok, parsed.errors


def test_worked_replies_carry_usable_payloads() -> None:
    for tt in (TaskType.DEDUCTION, TaskType.ABDUCTION):
        parsed = parse_for(_example(proposer_prompt(tt, [ID])), tt, Role.PROPOSER, False)
        prop = extract_triplet_proposal(parsed)
        assert prop is not None
        tree = ast.parse(prop.program)
        assert any(isinstance(n, ast.FunctionDef) and n.name == "f" for n in tree.body)
        ast.parse(f"f({prop.input})")
    ded = parse_for(_example(solver_prompt(TaskType.DEDUCTION, TASK)), "deduction", "solver", False)
    assert ast.literal_eval(extract_solver_answer(ded, "deduction") or "") == [2, 10]
    # The solver's worked reply is for another task: it never gives away this task's answer.
    assert "'cba'" not in _example(solver_prompt(TaskType.DEDUCTION, TASK))
    assert "'abc'" not in _example(solver_prompt(TaskType.ABDUCTION, TASK))


@pytest.mark.parametrize("n_inputs", [1, 4, 10, 12])
def test_induction_reply_shows_as_many_inputs_as_asked(n_inputs: int) -> None:
    prompt = proposer_prompt(TaskType.INDUCTION, [], n_inputs=n_inputs, program_for_induction=TASK)
    assert f"{n_inputs} different inputs" in prompt
    parsed = parse_for(_example(prompt), TaskType.INDUCTION, Role.PROPOSER, False)
    prop = extract_induction_proposal(parsed)
    assert prop is not None and len(prop.inputs) == n_inputs and prop.message


def test_proposer_prompt_keeps_the_spec_requirements() -> None:
    text = proposer_prompt(TaskType.DEDUCTION, [ID, TASK], timeout_s=5)
    assert "Reference 1:" in text and "Reference 2:" in text and "s[::-1]" in text
    assert "within 5 seconds" in text and "deterministic" in text
    assert all(mod in text for mod in forbidden_modules())
    # The requirements come before the references, and the reply format comes last.
    assert text.index("Code requirements") < text.index("Reference 1:") < text.index(MARK)


def test_example_proposal_constant_is_the_worked_proposal() -> None:
    parsed = parse_for(_example(proposer_prompt("abduction", [ID])), "abduction", "proposer", False)
    prop = extract_triplet_proposal(parsed)
    assert prop is not None and (prop.program, prop.input) == EXAMPLE_PROPOSAL
