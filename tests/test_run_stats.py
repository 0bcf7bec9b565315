"""benchmarks/run_stats.py: the per-task solve-rate distribution of a run's samples."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "run_stats.py"


def _module() -> Any:
    spec = importlib.util.spec_from_file_location("run_stats", SCRIPT)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _row(step: int, role: str, purpose: str, **kw: Any) -> dict[str, Any]:
    return {"step": step, "task_type": "deduction", "role": role, "purpose": purpose, **kw}


def test_solve_rate_distribution_per_window(tmp_path: Path, capsys: Any) -> None:
    rows = [
        _row(0, "proposer", "seed", format_ok=True, valid=True, solve_rate=None),
        _row(1, "proposer", "propose", format_ok=True, valid=True, solve_rate=0.0),
        _row(1, "proposer", "propose", format_ok=True, valid=True, solve_rate=0.5),
        _row(2, "proposer", "propose", format_ok=False, valid=False, solve_rate=None),
        _row(2, "proposer", "propose", format_ok=True, valid=True, solve_rate=1.0),
        _row(3, "proposer", "propose", format_ok=True, valid=True, solve_rate=0.25),
        _row(1, "solver", "solve", format_ok=True, correct=True),
        _row(2, "solver", "solve", format_ok=False, correct=False),
        _row(1, "solver", "learnability", format_ok=True, correct=True),  # not the batch
    ]
    (tmp_path / "samples.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    mod = _module()
    mod.main([str(tmp_path), "--window", "2", "--json", str(tmp_path / "s.json")])
    out = json.loads((tmp_path / "s.json").read_text())
    first = out["1-2/deduction"]
    assert (first["solve_rate_0"], first["solve_rate_between"], first["solve_rate_1"]) == (1, 1, 1)
    assert first["solve_rate_histogram"] == {"0": 1, "0.5": 1, "1": 1}
    assert first["solver_responses"] == 2 and first["solver_correct"] == pytest.approx(0.5)
    assert first["proposals"] == 4 and first["proposer_valid"] == pytest.approx(0.75)
    assert out["3-4/deduction"]["solve_rate_between"] == 1
    assert out["0-0/deduction"]["tasks_attempted"] == 0
    assert "| 1-2 | deduction | 3 | 1 / 1 / 1 |" in capsys.readouterr().out


def test_missing_run_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="samples.jsonl not found"):
        _module().main([str(tmp_path)])
