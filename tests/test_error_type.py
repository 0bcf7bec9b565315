"""Error prediction (`error`, issue 20): validation needs a deterministic outcome raised inside
`f`; the gold answer is the raised class's true identity from the sandbox, so a rigged class
name cannot fool grading; NoError tasks work; the type trains when enabled and is off by
default."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from azr.config import parse_assignment, resolve_config
from azr.policy.scripted import ScriptedPolicy
from azr.sandbox import Executor, SandboxConfig
from azr.selfplay import train
from azr.selfplay.progress import Progress
from azr.tasks import engine, types
from azr.tasks.types.base import ProposalSettings
from azr.tasks.types.error import (
    EXAMPLE_OUTPUTS,
    EXAMPLE_PROPOSALS,
    EXAMPLES,
    NO_ERROR,
    ErrorTask,
)
from test_selfplay_helpers import Oracle, _answer, _fences

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")

# hash('a') is even under PYTHONHASHSEED 11 and odd under 22 (the default hash seeds).
SEED_DEPENDENT = "def f(x):\n    raise (KeyError if hash('a') % 2 else ValueError)(x)"
OWN_VALUE_ERROR = "class ValueError(Exception):\n    pass\ndef f(x):\n    raise ValueError(x)"
RIGGED_METACLASS = (
    "class M(type):\n    @property\n    def __name__(cls):\n        return 'ValueError'\n"
    "class E(Exception, metaclass=M):\n    pass\ndef f(x):\n    raise E(x)"
)

# (program, input, valid, the task's gold answer or the reason it is refused)
CASES = [
    ("def f(nums):\n    return nums[3]", "[1, 2]", True, "IndexError"),
    ("def f(x):\n    return x + 1", "1", True, NO_ERROR),
    ("def f(x):\n    x.append(1)", "[]", True, NO_ERROR),  # returns None: no error either
    ("class Oops(Exception):\n    pass\ndef f(x):\n    raise Oops(x)", "1", True, "Oops"),
    ("import json\ndef f(s):\n    return json.loads(s)", "'{'", True,
     "json.decoder.JSONDecodeError"),
    ("def f(x):\n    raise SystemExit(x)", "1", True, "SystemExit"),
    (RIGGED_METACLASS, "1", True, "E"),  # prints as ValueError; its true name is E
    (SEED_DEPENDENT, "1", False, "nondeterministic"),
    ("def f(x):\n    return x", "1 // 0", False,
     "error raised while evaluating the input, not inside f"),
    ("def g():\n    raise KeyError('g')\ndef f(x):\n    return x", "g()", False,
     "error raised while evaluating the input, not inside f"),
    ("raise KeyError('at import')\ndef f(x):\n    return x", "1", False,
     "error raised at the program's top level, not inside f"),
    ("def f(x):\n    return x", "1, 2", False,
     "error raised by the call of f itself (its arguments), not inside f"),
    (OWN_VALUE_ERROR, "1", False, "exception class <program>.ValueError is the program's own"),
    ("E = type('ValueError: x', (Exception,), {})\ndef f(x):\n    raise E(x)", "1", False,
     "exception class <program>.ValueError: x is the program's own"),
    ("class NoError(Exception):\n    pass\ndef f(x):\n    raise NoError()", "1", False,
     "exception class <program>.NoError is the program's own"),
    ("def f(x):\n    while True:\n        pass", "1", False, "timeout"),
    ("def f(x):\n    return lambda: x", "1", False, "output is not a literal"),
]  # fmt: skip


@pytest.fixture(scope="module")
def ex() -> Iterator[Executor]:
    with Executor(SandboxConfig(workers=2, timeout_s=2.0, memory_mb=512)) as executor:
        yield executor


def _proposal(program: str, inp: str) -> str:
    return _answer("a task", [("python", program), ("input", inp)])


def _reply(name: str) -> str:
    return _answer("so", [("error", name)])


def test_error_is_registered_but_off_by_default() -> None:
    assert "error" in types.names()
    assert "error" not in types.default_enabled()
    assert "error" not in resolve_config("test", None, []).selfplay.task_types
    cfg = resolve_config("test", None, [parse_assignment("selfplay.task_types=[error]")])
    assert cfg.selfplay.task_types == ["error"]
    assert types.get("error").offers_programs is False  # induction never takes its programs


@needs_bwrap
@pytest.mark.parametrize(("program", "inp", "valid", "expected"), CASES)
def test_validation(ex: Executor, program: str, inp: str, valid: bool, expected: str) -> None:
    [res] = engine.validate_batch(
        ex, "error", [_proposal(program, inp)], [[]], ProposalSettings(timeout_s=2.0)
    )
    assert res.valid is valid, res.reason
    if valid:
        assert res.task == ErrorTask(program, inp, expected)
    else:
        assert res.reason.startswith(expected), res.reason


def test_grading_compares_names_without_running_anything() -> None:
    """No executor: grading runs no code. The gold is what the sandbox found, so a class that
    only prints like ValueError is answered by its own name."""
    rigged = ErrorTask(RIGGED_METACLASS, "1", "E")
    plain = ErrorTask("def f(x):\n    return [][x]", "0", "IndexError")
    none = ErrorTask("def f(x):\n    return x", "1", NO_ERROR)
    module = ErrorTask("import json\ndef f(s):\n    return json.loads(s)", "'{'",
                       "json.decoder.JSONDecodeError")  # fmt: skip
    items = [
        (rigged, "ValueError", False),  # the name it prints is not its class
        (rigged, "E", True),
        (plain, "IndexError", True),
        (plain, "LookupError", False),  # a base class is not the class
        (plain, "indexerror", False),
        (plain, NO_ERROR, False),
        (none, NO_ERROR, True),
        (none, "None", False),
        (module, "json.decoder.JSONDecodeError", True),
        (module, "ValueError", False),
    ]
    results = engine.grade_mixed(None, [("error", t, _reply(a)) for t, a, _ in items])
    assert [(r.format_ok, r.correct) for r in results] == [(True, ok) for *_, ok in items]
    assert results[0].reason == "wrong: ValueError != E"
    [missing] = engine.grade_mixed(None, [("error", plain, _answer("x", [("output", "1")]))])
    assert not missing.format_ok and "missing ```error block" in missing.reason


@needs_bwrap
def test_a_rigged_name_cannot_make_a_gold_answer(ex: Executor) -> None:
    """End to end: whatever name a program makes its class show, the validated task's gold
    is the class's identity, and the answer the error text suggests is graded wrong."""
    [res] = engine.validate_batch(
        ex, "error", [_proposal(RIGGED_METACLASS, "1")], [[]], ProposalSettings()
    )
    assert res.valid and res.task is not None
    suggested = engine.run_pairs(ex, [(RIGGED_METACLASS, "1")])[0].reason
    assert suggested == "error: ValueError: 1"  # what a reason string would have said
    [graded] = engine.grade_mixed(ex, [("error", res.task, _reply("ValueError"))])
    assert graded.format_ok and not graded.correct


@needs_bwrap
def test_examples_are_what_the_sandbox_says(ex: Executor) -> None:
    """The proposer's example proposals raise what the copy check assumes, and the solver's
    worked examples answer right."""
    spec = types.get("error")
    checks = engine.run_pairs(ex, [(p, i) for _, p, i in EXAMPLE_PROPOSALS])
    assert [spec.outcome(c)[0] for c in checks] == list(EXAMPLE_OUTPUTS)  # type: ignore[attr-defined]
    checks = engine.run_pairs(ex, [(e.program, e.shown) for e in EXAMPLES])
    assert [spec.outcome(c)[0] for c in checks] == [e.answer for e in EXAMPLES]  # type: ignore[attr-defined]
    _, program, inp = EXAMPLE_PROPOSALS[0]
    [copy] = engine.validate_batch(ex, "error", [_proposal(program, inp)], [[]], ProposalSettings())
    assert not copy.valid and copy.reason == "copy of the prompt's worked example"
    doc = spec.doc_example()
    assert doc is not None
    [check] = engine.run_pairs(ex, [(doc.task.program, doc.task.input)])  # type: ignore[attr-defined]
    assert spec.outcome(check)[0] == doc.task.error  # type: ignore[attr-defined]


def test_prompts_and_task_json() -> None:
    spec = types.get("error")
    task = ErrorTask("def f(x):\n    return x[0]", "[]", "IndexError")
    assert ErrorTask.from_dict(json.loads(json.dumps(task.to_dict()))) == task
    assert spec.dedup_key(task.to_dict()) == types.get("deduction").dedup_key(task.to_dict())
    solve = spec.solver_prompt(task)
    assert "IndexError" not in solve.rsplit("Your task:", 1)[1]  # the answer is not shown
    assert "NoError" in solve and "```error" in solve
    propose = spec.proposer_prompt([task], ProposalSettings())
    assert "```error\nIndexError\n```" in propose  # a reference shows its answer
    assert "may raise an exception" in propose and "returns a value (not None)" not in propose


class ErrorOracle(Oracle):
    """The loop's oracle, plus answers to error prompts: its programs never raise, so NoError
    is right; it answers wrong about half the time."""

    def __call__(self, prompt: str, k: int) -> str:
        if "raises an exception. Answer" in prompt:
            return _reply(NO_ERROR if self._coin(prompt) else "KeyError")
        return super().__call__(prompt, k)


@needs_bwrap
def test_error_trains_end_to_end_when_enabled(tmp_path: Path) -> None:
    layers = [
        {"run": {"steps": 2}},
        {"sampling": {"proposer_max_new_tokens": 1024, "solver_max_new_tokens": 1024}},
        parse_assignment("selfplay.task_types=[deduction,induction,error]"),
        parse_assignment("selfplay.batch_size=3"),
    ]
    cfg = resolve_config("test", None, layers)
    run = tmp_path / "run"
    policy = ScriptedPolicy(ErrorOracle())
    train(cfg, run, progress=Progress(quiet=True), policy_factory=lambda _c: policy)
    metrics = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    last = metrics[-1]
    assert last["error/proposer/valid_rate"] == 1.0  # the oracle's programs return: NoError
    assert last["buffer/error"] > 1 and "buffer/abduction" not in last
    samples = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]
    solved = [s for s in samples if s["task_type"] == "error" and s["purpose"] == "solve"]
    assert {s["correct"] for s in solved} == {True, False}
    assert all(s["task"]["error"] == NO_ERROR for s in solved if s["task"])
    # induction drew its programs from deduction only (error does not offer programs)
    induction = [s for s in samples if s["task_type"] == "induction" and "source_program" in s]
    assert induction and all("return x" in s["source_program"] for s in induction)


@needs_bwrap
def test_azr_validate_checks_error_tasks(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "task_type": "error", "program": "def f(x):\n    return [][x]",
         "input": "0", "error": "IndexError"},
        {"id": "b", "task_type": "error", "program": "def f(x):\n    return x",
         "input": "1", "error": "ValueError"},
        {"id": "c", "task_type": "error", "program": SEED_DEPENDENT, "input": "1"},
    ]  # fmt: skip
    data = tmp_path / "e.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    done = subprocess.run(
        [sys.executable, "-m", "azr.cli", "validate", str(data), "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = [json.loads(x) for x in done.stdout.splitlines()[:-1]]
    assert done.stdout.splitlines()[-1] == "1 passed, 2 failed", done.stderr
    assert out[0] == {"id": "a", "valid": True, "output": "IndexError", "reason": "ok",
                      "matches": True}  # fmt: skip
    assert out[1]["output"] == NO_ERROR and out[1]["matches"] is False
    assert not out[2]["valid"] and out[2]["reason"].startswith("nondeterministic")


def test_the_oracle_prompt_marker_is_in_the_prompt() -> None:
    task = ErrorTask("def f(x):\n    return x", "1", NO_ERROR)
    assert "raises an exception. Answer" in types.get("error").solver_prompt(task)
    assert _fences(types.get("error").solver_prompt(task), "input")[-1] == "1"
