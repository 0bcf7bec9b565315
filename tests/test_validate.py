"""Proposal validation: argument-list parsing, reasons, and the `azr validate` command."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from azr.sandbox import Executor, SandboxConfig
from azr.sandbox.validate import argument_error, parse_arguments, validate_triplets
from azr.sandbox.values import literals_match, strict_equal

CRUXEVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "cruxeval" / "cruxeval.jsonl"
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("1, 2", True),
        ("'John', {'age': 20}", True),
        ("", True),
        ("x=1, *[2]", True),
        ("(1, ), (1, ), (1, 2)", True),
        ("' (a) '", True),
        ("0) or (1", False),
        ("1)(2", False),
        ("1) #", False),
        ("1), f(2", False),
        ("1,\n2", True),
    ],
)
def test_argument_lists(text: str, ok: bool) -> None:
    assert (argument_error(text) is None) is ok
    assert (parse_arguments(text) is not None) is ok


def test_strict_literal_equality() -> None:
    assert strict_equal([1, (2, "a")], [1, (2, "a")])
    assert not strict_equal(1, 1.0)
    assert not strict_equal(1, True)
    assert not strict_equal([1], (1,))
    assert not strict_equal({1: "a"}, {True: "a"})
    assert strict_equal({1, 2}, {2, 1})
    assert not strict_equal({1, 2}, {1.0, 2})
    assert literals_match("[1, 2]", " [1,2] ")
    assert not literals_match("1+1", "2")


@pytest.fixture(scope="module")
def ex() -> Iterator[Executor]:
    with Executor(SandboxConfig(workers=2, timeout_s=1.0, memory_mb=256)) as executor:
        yield executor


@needs_bwrap
@pytest.mark.parametrize(
    ("program", "input_text", "valid", "reason"),
    [
        ("def f(x):\n    return x + 1", "1", True, "ok"),
        ("def f(x):\n    return None", "1", False, "returned None"),
        ("def f(x):\n    pass", "1", False, "returned None"),
        ("def f(x):\n    return 1 / x", "0", False, "error: ZeroDivisionError: division by zero"),
        ("def f(x:\n    return 1", "0", False, "syntax error: "),
        ("def f(x):\n    return x", "0) or (1", False, "input is not an argument list: "),
        ("def f(x):\n    return x", "1 +", False, "input is not an argument list: "),
        (
            "import os\ndef f(x):\n    return 1",
            "0",
            False,
            "policy: import of forbidden module 'os'",
        ),
        ("def f(x):\n    while True:\n        pass", "0", False, "timeout"),
        ("def f(x):\n    return 'a' * 10 ** 10", "0", False, "memory"),
        ("def f(x):\n    return object()", "0", False, "output is not a literal"),
        ("def f(x):\n    return 'a' * 200000", "0", False, "output too large"),
        ("def f(x):\n    return list({'a', 'b', 'c', 'd'})", "0", False, "nondeterministic"),
    ],
)
def test_reasons(ex: Executor, program: str, input_text: str, valid: bool, reason: str) -> None:
    [check] = validate_triplets(ex, [(program, input_text)])
    assert check.valid is valid
    assert check.reason.startswith(reason), check.reason
    # the output is what f returned: a literal when valid, "None" for "returned None"
    assert (check.output is not None) is (valid or reason == "returned None")


def _azr(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "azr.cli", *args], capture_output=True, text=True, timeout=120
    )


@needs_bwrap
def test_cli_reports_each_line(tmp_path: Path) -> None:
    lines = [
        json.dumps(
            {"id": "a", "program": "def f(x):\n    return x * 2", "input": "2", "output": "4"}
        ),
        json.dumps(
            {"id": "b", "code": "def f(x):\n    return x * 2", "input": "2", "output": "4.0"}
        ),
        json.dumps({"id": "c", "code": "def f(x):\n    return [x]", "input": "'q'"}),
        "{not json",
        json.dumps({"id": "e", "input": "1"}),
        json.dumps(["a list"]),
        json.dumps({"id": "g", "program": "def f(x):\n    return x", "input": "0) or (1"}),
    ]
    data = tmp_path / "in.jsonl"
    data.write_text("\n".join(lines) + "\n\n")
    done = _azr("validate", str(data), "--workers", "2", "--timeout", "2")
    assert done.returncode == 1, done.stderr
    out = done.stdout.splitlines()
    assert out[-1] == "2 passed, 5 failed"
    rows = [json.loads(x) for x in out[:-1]]
    assert [r["id"] for r in rows] == ["a", "b", "c", "line 4", "e", "line 6", "g"]
    assert rows[0] == {"id": "a", "valid": True, "output": "4", "reason": "ok", "matches": True}
    assert rows[1]["valid"] and rows[1]["matches"] is False  # 4 is not 4.0
    assert rows[2]["output"] == "['q']" and "matches" not in rows[2]
    assert rows[3]["reason"].startswith("malformed line: not JSON")
    assert "'input'" in rows[4]["reason"] or "'program'" in rows[4]["reason"]
    assert rows[6]["reason"].startswith("input is not an argument list")
    out_file = tmp_path / "out.jsonl"
    done = _azr("validate", str(data), "--out", str(out_file))
    assert done.stdout.strip() == "2 passed, 5 failed"
    assert len(out_file.read_text().splitlines()) == 7


@needs_bwrap
def test_cli_validates_every_task_type(tmp_path: Path) -> None:
    """A line's `task_type` (or --task-type) picks its spec's check: induction tasks run every
    input and report the outputs; the stated pairs are compared."""
    double = "def f(x):\n    return x * 2"
    lines = [
        {"id": "i", "task_type": "induction", "program": double, "inputs": ["1", "'a'"]},
        {"id": "p", "task_type": "induction", "program": double, "message": "Doubles.",
         "visible": [["1", "2"]], "hidden": [["3", "7"]]},
        {"id": "x", "task_type": "induction", "program": double, "inputs": ["1", "None"]},
        {"id": "m", "task_type": "induction", "program": double, "inputs": ["1"],
         "message": "def f(x): return x * 2"},
        {"id": "a", "task_type": "abduction", "program": double, "input": "2", "output": "4"},
        {"id": "u", "task_type": "no_such_type", "program": double, "input": "2"},
    ]  # fmt: skip
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps(x) + "\n" for x in lines))
    done = _azr("validate", str(data), "--workers", "2", "--timeout", "2")
    rows = {r["id"]: r for r in map(json.loads, done.stdout.splitlines()[:-1])}
    assert done.stdout.splitlines()[-1] == "2 passed, 4 failed", done.stderr
    assert rows["i"] == {"id": "i", "valid": True, "output": ["2", "'aa'"], "reason": "ok"}
    assert rows["p"]["valid"] and rows["p"]["output"] == ["2", "6"] and not rows["p"]["matches"]
    assert rows["x"]["reason"].startswith("input 2 invalid: error: TypeError")
    assert rows["m"]["reason"] == "message contains the program"
    assert rows["a"]["matches"] is True
    assert "unknown task type 'no_such_type'" in rows["u"]["reason"]
    inputs_only = tmp_path / "ind.jsonl"
    inputs_only.write_text(json.dumps({"program": double, "inputs": ["5"]}) + "\n")
    done = _azr("validate", str(inputs_only), "--task-type", "induction")
    assert done.returncode == 0 and json.loads(done.stdout.splitlines()[0])["output"] == ["10"]
    done = _azr("validate", str(inputs_only), "--task-type", "nope")
    assert done.returncode == 2 and "azr: error: --task-type: unknown task type" in done.stderr


def test_cli_user_errors(tmp_path: Path) -> None:
    done = _azr("validate", str(tmp_path / "missing.jsonl"))
    assert done.returncode == 2
    assert "azr: error: no such file" in done.stderr
    assert "Traceback" not in done.stderr
    done = _azr("validate", str(tmp_path), "--isolation", "docker")
    assert done.returncode == 2


@pytest.mark.parametrize("mode", [[], ["--isolation", "auto"], ["--isolation", "bwrap"]])
def test_cli_without_bubblewrap_refuses_in_one_line(tmp_path: Path, mode: list[str]) -> None:
    # The default ("auto") refuses like "bwrap" does, and names the way out.
    data = tmp_path / "a.jsonl"
    data.write_text(json.dumps({"program": "def f(x):\n    return x", "input": "1"}) + "\n")
    empty = tmp_path / "empty-path"
    empty.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "azr.cli", "validate", str(data), *mode],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": str(empty)},  # no bwrap to be found
    )
    assert done.returncode == 2 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("azr: error: bubblewrap (bwrap) is not available")
    assert "--isolation none" in line


@needs_bwrap
@pytest.mark.skipif(not CRUXEVAL.is_file(), reason="CRUXEval data not present")
def test_cruxeval_all_pass() -> None:
    done = _azr("validate", str(CRUXEVAL))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == "800 passed, 0 failed"


def test_plain_literal_fast_path_only_accepts_real_literals() -> None:
    # The parent's shortcut for re-checking outputs: whatever it accepts must parse back.
    from azr.sandbox._run_state import plain_literal

    values: list[object] = [
        0, -12, 1.5e-07, "a'b", 'x"', "é\u2028", b"\x00'", True, None, [], (), {}, set(),
        [1, [2, (3,)]], {(1, "a"): {2}}, {"k": [None, b""]}, (1, (2, 3)),
    ]  # fmt: skip
    for value in values:
        text = repr(value)
        if plain_literal(text):
            assert ast.literal_eval(text) == value
    for text in ["[1, 2]", "{1: (2, 3)}", "{(1, 2)}", "'\\x00\\n'", "set()", "[[[[1]]]]"]:
        assert plain_literal(text)
    for text in [
        "{[1]: 2}", "{[1], 2}", "{(1, [2]): 3}", "{set(): 1}", "'a''b'", "1 2", "f(1)",
        "1" * 5000, "[1,2]", "b'é'", "'\ud800'", "(1", "__import__('os')", "1j",
    ]:  # fmt: skip
        assert not plain_literal(text), text


def test_one_definition_of_the_same_literal() -> None:
    # Validation and grading agree on signed zeros and NaN (they used to disagree).
    from azr.literals import same_literal_text

    for a, b in [("0.0", "-0.0"), ("0j", "-0j"), ("[1]", "(1,)"), ("float('nan')", "nan")]:
        assert literals_match(a, b) is same_literal_text(a, b)
    assert not literals_match("0.0", "-0.0") and literals_match("-0.0", "-0.0")
    assert strict_equal(float("nan"), float("nan"))
