"""`azr grade`: JSONL in, one result per line, summary last, exit status, bad lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

PROG = "def f(n):\n    return n % 2 == 0"


def done(block: str, body: str) -> str:
    return f"ok</think>\n<answer>\n```{block}\n{body}\n```\n</answer>"


def run_grade(tmp_path: Path, rows: list[Any], *extra: str) -> tuple[int, list[str], str]:
    src = tmp_path / "in.jsonl"
    src.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows) + "\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "azr.cli", "grade", str(src), "--timeout", "3", *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, proc.stdout.splitlines(), proc.stderr


def test_deduction_only_and_bad_lines(tmp_path: Path) -> None:
    base = {"task_type": "deduction", "program": PROG, "input": "3", "output": "False"}
    rows: list[Any] = [
        {**base, "id": "right", "completion": done("output", "False")},
        {**base, "id": "typed", "completion": done("output", "0")},
        {**base, "id": "expr", "completion": done("output", "1 == 2")},
        {**base, "id": "fmt", "completion": "False"},
        "{not json",
        {"id": "type", "task_type": "translation", "completion": "x"},
        {"id": "nofield", "task_type": "abduction", "program": PROG, "completion": "x"},
        {"id": "nocompletion", **base},
        [1, 2],
    ]
    rc, out, err = run_grade(tmp_path, rows)
    assert rc == 1, err
    assert out[-1] == "1 passed, 8 failed"
    res = [json.loads(x) for x in out[:-1]]
    assert [r["id"] for r in res[:4]] == ["right", "typed", "expr", "fmt"]
    assert res[0] == {
        "id": "right",
        "format_ok": True,
        "correct": True,
        "reward": 1.0,
        "reason": "correct",
    }
    # Eq. 6: a well-formed wrong answer earns -0.5
    assert res[1]["format_ok"] and not res[1]["correct"] and res[1]["reward"] == -0.5
    assert "literal" in res[2]["reason"]
    assert res[3]["format_ok"] is False and res[3]["reward"] == -1.0
    assert res[4]["id"] == "line 5" and "not JSON" in res[4]["reason"]
    assert "unknown task_type" in res[5]["reason"] and res[5]["id"] == "type"
    assert "missing field 'input'" in res[6]["reason"]
    assert "completion" in res[7]["reason"]
    assert "not a JSON object" in res[8]["reason"]
    assert "Traceback" not in err


def test_reference_penalty_and_out_file(tmp_path: Path) -> None:
    row = {"id": 7, "task_type": "deduction", "program": PROG, "input": "3", "output": "False"}
    out_file = tmp_path / "out.jsonl"
    rc, out, _ = run_grade(
        tmp_path,
        [{**row, "completion": done("output", "True")}],
        "--reward",
        "legacy",
        "--zero-reward-penalty",
        "-0.25",
        "--out",
        str(out_file),
    )
    assert rc == 1 and out == ["0 passed, 1 failed"]
    (line,) = out_file.read_text().splitlines()
    assert json.loads(line)["reward"] == -0.25 and json.loads(line)["id"] == 7


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "azr.cli", "grade", str(tmp_path / "absent.jsonl")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("azr: error: no such file")


def test_all_types_through_the_sandbox(tmp_path: Path) -> None:
    pytest.importorskip("azr.sandbox.validate")
    abd = {"task_type": "abduction", "program": PROG, "input": "4", "output": "True"}
    ind = {
        "task_type": "induction",
        "message": "is it even",
        "visible": [["4", "True"]],
        "hidden": [["3", "False"], ["10", "True"]],
    }
    rows = [
        {**abd, "id": "a1", "completion": done("input", "12")},
        {**ind, "id": "i1", "completion": done("python", "def f(n):\n    return not n & 1")},
    ]
    rc, out, err = run_grade(tmp_path, rows)
    assert rc == 0, (out, err)
    assert out[-1] == "2 passed, 0 failed"
    rows.append({**abd, "id": "a2", "completion": done("input", "0) or (1")})
    rc, out, _ = run_grade(tmp_path, rows)
    assert rc == 1 and out[-1] == "2 passed, 1 failed"
    assert json.loads(out[2])["correct"] is False


def test_bad_isolation_is_a_user_error(tmp_path: Path) -> None:
    row = {"id": 1, "task_type": "abduction", "program": PROG, "input": "4", "output": "True"}
    rc, out, err = run_grade(
        tmp_path, [{**row, "completion": done("input", "2")}], "--isolation", "bogus"
    )
    assert rc == 2 and out == [] and err.startswith("azr: error: --isolation")
