"""`azr eval` and `azr eval score`: generation files, outputs, summaries, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from azr.evaluate.app import run_eval, run_score
from azr.evaluate.generations import BadGenerations, align, read_generations
from azr.evaluate.passk import pass_at_k
from azr.evaluate.problems import Problem
from azr.evaluate.runner import SampleSettings, write_outputs
from azr.policy.scripted import ScriptedPolicy

PROBLEMS = [
    {
        "id": "sample_0",
        "code": "def f(a, b):\n    return a + b",
        "input": "'a', 'b'",
        "output": "'ab'",
    },
    {"id": "sample_1", "code": "def f(x):\n    return x * 2", "input": "3", "output": "6"},
]


def _sandbox_available() -> bool:
    try:
        from azr.sandbox import ExecRequest, Executor, SandboxConfig  # noqa: F401
    except ImportError:
        return False
    return True


needs_sandbox = pytest.mark.skipif(not _sandbox_available(), reason="azr.sandbox not available")


def azr(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "azr.cli", *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture()
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "crux.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in PROBLEMS))
    return path


def test_reads_cruxeval_and_jsonl_and_human_eval_formats(tmp_path: Path) -> None:
    crux = tmp_path / "g.json"
    crux.write_text(json.dumps({"sample_0": ["'ab'"], "sample_1": ["6"]}, indent=4))
    assert read_generations(crux) == {"sample_0": ["'ab'"], "sample_1": ["6"]}
    jl = tmp_path / "g.jsonl"
    jl.write_text('{"id": "sample_1", "generations": ["6", "7"]}\n')
    assert read_generations(jl) == {"sample_1": ["6", "7"]}
    he = tmp_path / "he.jsonl"
    he.write_text(
        '{"task_id": "HumanEval/0", "completion": "a"}\n{"task_id": "HumanEval/0", "completion": "b"}\n'
    )
    assert read_generations(he) == {"HumanEval/0": ["a", "b"]}


@pytest.mark.parametrize(
    "content,message",
    [
        ('{"sample_0": "\'ab\'"}', "list of strings"),
        ('{"sample_0": [1, 2]}', "list of strings"),
        ('{"sample_9": ["1"]}', "not in benchmark"),
        ('{"sample_0": ["1"], "sample_1": ["1", "2"]}', "same number"),
        ('{"sample_0": []}', "at least one"),
        ("[1, 2", "not JSON"),
        (
            '{"id": "sample_0", "generations": ["1"]}\n{"id": "sample_0", "generations": ["1"]}\n',
            "twice",
        ),
        ('{"foo": 1}\n{"bar": 2}\n', "expected keys"),
        ("", "empty"),
    ],
)
def test_bad_generation_files_are_one_clear_error(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    problems = [Problem(p["id"], p) for p in PROBLEMS]
    with pytest.raises(BadGenerations, match=message):
        align(read_generations(path), problems, "cruxeval-o")


def test_cli_bad_generations_exit_2_without_traceback(tmp_path: Path, data_file: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"sample_0": ["1"], "nope": ["2"]}')
    proc = azr(
        "eval",
        "score",
        "--benchmark",
        "cruxeval-o",
        "--generations",
        str(path),
        "--data",
        str(data_file),
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("azr: error:") and "not in benchmark" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_unknown_benchmark_and_bad_k(tmp_path: Path, data_file: Path) -> None:
    gens = tmp_path / "g.json"
    gens.write_text(json.dumps({"sample_0": ["'ab'"]}))
    proc = azr("eval", "score", "--benchmark", "nope", "--generations", str(gens))
    assert proc.returncode == 2 and "unknown benchmark" in proc.stderr
    proc = azr(
        "eval", "score", "-b", "cruxeval-o", "-g", str(gens), "--data", str(data_file), "--k", "1,5"
    )
    assert proc.returncode == 2 and "larger than" in proc.stderr


def test_cli_strict_score_prints_summary_last(tmp_path: Path, data_file: Path) -> None:
    gens = tmp_path / "g.json"
    gens.write_text(json.dumps({"sample_0": ["'ab'", "'a' + 'b'"], "sample_1": ["5", "7"]}))
    out = tmp_path / "out"
    proc = azr(
        "eval", "score", "-b", "cruxeval-o", "-g", str(gens), "--data", str(data_file),
        "--scoring", "strict", "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["benchmark"] == "cruxeval-o" and summary["n"] == 2
    # sample_0: 1 of 2 (strict refuses the expression); sample_1: 0 of 2.
    assert summary["pass@k"] == {"1": 0.25, "2": 0.5}
    assert (out / "summary.json").exists() and (out / "passk.png").stat().st_size > 1000
    rows = [json.loads(x) for x in (out / "g__cruxeval-o.jsonl").read_text().splitlines()]
    assert [r["passed"] for r in rows] == [[True, False], [False, False]]


@needs_sandbox
def test_cli_official_score_counts_expressions(tmp_path: Path, data_file: Path) -> None:
    gens = tmp_path / "g.json"
    gens.write_text(
        json.dumps({"sample_0": ["'ab'", "'a' + 'b'", "'ba'"], "sample_1": ["3 * 2", "5", "7"]})
    )
    proc = azr("eval", "score", "-b", "cruxeval-o", "-g", str(gens), "--data", str(data_file))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    # sample_0: c=2 of 3; sample_1: c=1 of 3.
    expect = {k: (pass_at_k(3, 2, k) + pass_at_k(3, 1, k)) / 2 for k in (1, 2, 3)}
    assert summary["pass@k"] == {str(k): pytest.approx(v) for k, v in expect.items()}


def _answer_script(prompt: str, k: int) -> str:
    # Correct for the 'ab' problem on even samples; always wrong on the other problem.
    if "assert f('a', 'b') == ??" in prompt:
        return (
            "assert f('a', 'b') == 'ab'\n[/ANSWER]" if k % 2 == 0 else "assert f('a', 'b') == 'x'"
        )
    return "assert f(3) == 5\n[/ANSWER]"


def test_run_eval_with_two_policies_writes_everything(tmp_path: Path, data_file: Path) -> None:
    good = ScriptedPolicy(_answer_script)
    good.name = "good"
    bad = ScriptedPolicy(["assert f(x) == None"])
    bad.name = "bad"
    results = run_eval(
        [good, bad],
        ["cruxeval-o"],
        SampleSettings(n=4),
        k_text="1,2,4",
        data={"cruxeval-o": data_file},
        scoring="strict",
    )
    assert [(r.model, r.benchmark, r.n) for r in results] == [
        ("good", "cruxeval-o", 4),
        ("bad", "cruxeval-o", 4),
    ]
    good_res, bad_res = results
    assert good_res.pass_at_k[1] == pytest.approx((0.5 + 0.0) / 2)
    assert good_res.pass_at_k[4] == pytest.approx(0.5)
    assert bad_res.pass_at_k == {1: 0.0, 2: 0.0, 4: 0.0}
    assert good_res.records[0]["generations"][:2] == ["'ab'", "'x'"]
    assert good_res.settings["temperature"] == pytest.approx(0.6)
    paths = write_outputs(tmp_path / "out", results)
    assert paths["plot"].exists() and paths["summary"].exists()
    summary = json.loads(paths["summary"].read_text())
    assert [r["model"] for r in summary["results"]] == ["good", "bad"]
    assert set(summary["results"][0]["curve"]) == {"1", "2", "3", "4"}
    # The later model against the first, on the same problems (4 samples: paired bootstrap).
    (paired,) = summary["paired"]
    assert (paired["first"], paired["second"], paired["problems"]) == ("good", "bad", 2)
    assert (paired["first_only"], paired["second_only"]) == (1, 0)
    assert paired["diff"] == pytest.approx(-0.25) and paired["test"] == "paired-bootstrap"


def test_greedy_samples_once_and_repeats(data_file: Path) -> None:
    policy = ScriptedPolicy(_answer_script)
    results = run_eval(
        [policy],
        ["cruxeval-o"],
        SampleSettings(n=3, temperature=0.0),
        data={"cruxeval-o": data_file},
        scoring="strict",
    )
    assert policy.calls == 2  # one completion per problem
    assert results[0].records[0]["passed"] == [True, True, True]


def test_run_score_rejects_unknown_scoring(tmp_path: Path, data_file: Path) -> None:
    gens = tmp_path / "g.json"
    gens.write_text(json.dumps({"sample_0": ["'ab'"]}))
    with pytest.raises(ValueError, match="offers scoring"):
        run_score("cruxeval-o", gens, data=data_file, scoring="lenient")


@needs_sandbox
def test_scoring_sandbox_isolation_is_a_choice(
    tmp_path: Path, data_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`azr eval` refuses without bubblewrap (naming --isolation none, which it accepts)."""
    import shutil

    from azr.errors import UserError

    gens = tmp_path / "g.json"
    gens.write_text(json.dumps({"sample_0": ["'ab'"], "sample_1": ["6"]}))
    proc = azr("eval", "score", "-b", "cruxeval-o", "-g", str(gens), "--isolation", "jail")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--isolation must be one of auto, bwrap, none" in proc.stderr
    monkeypatch.setattr(shutil, "which", lambda name: None)  # no bubblewrap on this "machine"
    with pytest.raises(UserError, match="--isolation none"):
        run_score("cruxeval-o", gens, data=data_file)
    result = run_score("cruxeval-o", gens, data=data_file, isolation="none")
    assert result.pass_at_k[1] == 1.0


def test_sample_draws_a_fixed_random_subset(tmp_path: Path) -> None:
    import random

    from azr.evaluate.app import load_problems
    from azr.evaluate.problems import get_benchmark

    path = tmp_path / "crux.jsonl"
    rows = [
        {"id": f"sample_{i}", "code": "def f(x):\n    return x", "input": str(i), "output": str(i)}
        for i in range(30)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    bench = get_benchmark("cruxeval-o")
    picked = load_problems(bench, path, None, None, subset=7, subset_seed=16)
    expected = sorted(random.Random(16).sample(range(30), 7))  # as prompt_variants draws
    assert [p.id for p in picked] == [f"sample_{i}" for i in expected]
    again = load_problems(bench, path, None, None, subset=7, subset_seed=16)
    assert [p.id for p in again] == [p.id for p in picked]
    other = load_problems(bench, path, None, None, subset=7, subset_seed=1)
    assert [p.id for p in other] != [p.id for p in picked]
    with pytest.raises(ValueError, match="has 30 problems"):
        load_problems(bench, path, None, None, subset=31)


def test_cli_sample_and_limit_conflict(data_file: Path) -> None:
    proc = azr(
        "eval", "-m", "tiny-random", "-b", "cruxeval-o", "--data", str(data_file),
        "--sample", "1", "--limit", "1",
    )  # fmt: skip
    assert proc.returncode == 2
    assert "--sample and --limit" in proc.stderr and "Traceback" not in proc.stderr


def test_answer_prefill_needs_our_prompt_style() -> None:
    res = azr("eval", "--model", "tiny-random", "-b", "cruxeval-o", "--answer-prefill")
    assert res.returncode != 0
    assert "--answer-prefill" in res.stderr and "--prompt-style ours" in res.stderr
    assert "Traceback" not in res.stderr
