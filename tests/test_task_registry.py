"""Adding a task type is one module: a fourth type defined here (not shipped) trains end to end.

The example type, `output_type`, shows a program and an input and asks for the *type name* of
what the program returns. It reuses the triplet proposer (program + input, validated by running
it) and grades in this process. Nothing outside this file mentions it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from azr.buffers import TaskStore
from azr.config import parse_assignment, resolve_config
from azr.errors import UserError
from azr.literals import NotALiteral, parse_literal
from azr.policy.scripted import ScriptedPolicy
from azr.selfplay import train
from azr.selfplay.progress import Progress
from azr.tasks import TaskType, Triplet, engine, types
from azr.tasks.model import Task
from azr.tasks.prompts import fence, same_form, worked_example
from azr.tasks.types.base import Plan
from azr.tasks.types.triplet import TripletSpec
from test_selfplay_helpers import Oracle, _answer, _fences

SOLVE = "Name the type of the value this Python program returns.\n\n{program}\n{input}\n\n{reply}"


class OutputType(TripletSpec):
    """Program + input -> the Python type name of the output."""

    name = "output_type"
    short = "typ"
    solver_blocks: ClassVar[dict[str, int]] = {"type": 1}
    answer_block = "type"
    example_answer = "int"
    grading_runs_code = False
    goal = "Write a program and one input. Someone will name the type of what it returns."

    def solver_prompt(self, task: Task) -> str:
        assert isinstance(task, Triplet)
        example = worked_example(
            [("python", "def f(a, b):\n    return a + b"), ("input", "1, 2")],
            "A sum of ints.",
            fence("type", "int"),
        )
        reply = example + "\n\n" + same_form("one ```type block")
        return SOLVE.format(
            program=fence("python", task.program), input=fence("input", task.input), reply=reply
        )

    def plan_grade(self, task: Task, answer: str) -> Plan:
        assert isinstance(task, Triplet)
        try:
            gold = type(parse_literal(task.output)).__name__
        except NotALiteral:
            return Plan.now(False, "gold output is not a literal (bad task)")
        if answer == gold:
            return Plan.now(True, "correct")
        return Plan.now(False, f"wrong: {answer} != {gold}")


@pytest.fixture
def output_type() -> Iterator[OutputType]:
    spec = types.register(OutputType())
    try:
        yield spec
    finally:
        types.unregister(spec.name)


class TypeOracle(Oracle):
    """The loop's oracle, plus answers to `output_type` prompts (right about half the time)."""

    def __call__(self, prompt: str, k: int) -> str:
        if "Name the type of the value" in prompt:
            right = self._coin(prompt)
            inp = _fences(prompt, "input")[0]
            gold = type(parse_literal(inp)).__name__  # the oracle's programs keep the type
            return _answer("types", [("type", gold if right else "bytes")])
        return super().__call__(prompt, k)


def test_the_registry_lists_the_shipped_types_and_refuses_unknown_ones() -> None:
    assert types.names() == ("deduction", "abduction", "induction", "error")
    assert types.default_enabled() == ("deduction", "abduction", "induction")
    assert TaskType("deduction") is TaskType.DEDUCTION
    with pytest.raises(ValueError, match="unknown task type 'output_type'"):
        TaskType("output_type")
    with pytest.raises(ValueError, match="already registered"):
        types.register(types.get("deduction"))


def test_a_registered_type_is_known_everywhere(output_type: OutputType) -> None:
    assert TaskType("output_type").value == "output_type"
    assert types.names()[-1] == "output_type"
    cfg = resolve_config("test", None, [parse_assignment("selfplay.task_types=[output_type]")])
    assert cfg.selfplay.task_types == ["output_type"]
    task = Triplet("def f(x):\n    return [x]", "3", "[3]")
    good = "...</think>\n<answer>\n```type\nlist\n```\n</answer>"
    bad = "...</think>\n<answer>\n```type\ntuple\n```\n</answer>"
    missing = "...</think>\n<answer>\n```output\n[3]\n```\n</answer>"
    results = engine.grade_mixed(None, [("output_type", task, t) for t in (good, bad, missing)])
    assert [(r.format_ok, r.correct) for r in results] == [
        (True, True),
        (True, False),
        (False, False),
    ]
    assert results[1].reason == "wrong: tuple != list"
    assert "missing ```type block" in results[2].reason


def test_an_unregistered_type_is_a_config_error() -> None:
    with pytest.raises(UserError, match="unknown task type"):
        resolve_config("test", None, [parse_assignment("selfplay.task_types=[output_type]")])


def test_a_fourth_type_trains_end_to_end(tmp_path: Path, output_type: OutputType) -> None:
    layers: list[dict[str, Any]] = [
        {"run": {"steps": 2}, "sampling": {"proposer_max_new_tokens": 1024}},
        parse_assignment("sampling.solver_max_new_tokens=1024"),
        parse_assignment("selfplay.task_types=[deduction,abduction,induction,output_type]"),
        parse_assignment("selfplay.batch_size=3"),
    ]
    cfg = resolve_config("test", None, layers)
    policy = ScriptedPolicy(TypeOracle())
    run = tmp_path / "run"
    train(cfg, run, progress=Progress(quiet=True), policy_factory=lambda _c: policy)
    metrics = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    last = metrics[-1]
    assert last["output_type/proposer/valid_rate"] == 1.0
    assert last["output_type/solver/count"] == 3
    assert last["buffer/output_type"] > 1  # the identity seed plus valid proposals
    rewards = [m["output_type/solver/reward"] for m in metrics]
    assert all(-0.5 <= r <= 1.0 for r in rewards)
    samples = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]
    solved = [s for s in samples if s["task_type"] == "output_type" and s["purpose"] == "solve"]
    assert {s["correct"] for s in solved} == {True, False}  # graded by the spec, both ways
    assert all(s["prompt_id"].split(":")[1] == "typ" for s in solved)
    store = TaskStore(run / "buffers.sqlite", create=False)
    assert store.sizes()["output_type"] == last["buffer/output_type"]
    store.close()


def test_induction_takes_programs_from_the_run_s_types_that_offer_them() -> None:
    from azr.tasks.types import ProposalSettings

    induction = types.get("induction")
    every = ProposalSettings(task_types=("deduction", "abduction", "induction", "error"))
    assert induction.context_sources(every) == (("deduction", "abduction"), 1)
    alone = ProposalSettings(task_types=("induction",))
    assert induction.context_sources(alone) == (("induction",), 1)  # its own programs
    assert induction.context_sources(ProposalSettings(task_types=("abduction", "induction"))) == (
        ("abduction",),
        1,
    )
