"""CRUXEval loaders, extraction and scoring: hand-built generations with known official scores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from azr.evaluate import get_benchmark
from azr.evaluate.problems import Problem
from azr.tasks.model import Triplet
from azr.tasks.prompts import solver_prompt

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "cruxeval" / "cruxeval.jsonl"

PROBLEMS = [
    {
        "id": "sample_0",
        "code": "def f(a, b):\n    return a + b",
        "input": "'a', 'b'",
        "output": "'ab'",
    },
    {
        "id": "sample_1",
        "code": "def f(nums):\n    return [n * 2 for n in nums]",
        "input": "[1, 2]",
        "output": "[2, 4]",
    },
    {"id": "sample_2", "code": "def f(x):\n    return x > 3", "input": "5", "output": "True"},
    # Uses `re` without importing it, as some CRUXEval programs do: CRUXEval's harness raises
    # NameError when f runs (our strict mode, like self-play, provides `re`).
    {
        "id": "sample_3",
        "code": "def f(s):\n    return re.sub('a', 'b', s)",
        "input": "'aa'",
        "output": "'bb'",
    },
]

# (generation, official verdict, strict verdict) for output prediction.
OUTPUT_CASES = {
    "sample_0": [
        ("'ab'", True, True),
        ("'a' + 'b'", True, False),  # an expression: official yes, strict no
        ('"ab"', True, True),
        ("'ba'", False, False),
        ("f('a', 'b')", False, False),  # calling f on the input is refused officially
    ],
    "sample_1": [
        ("[2, 4]", True, True),
        ("(2, 4)", False, False),
        ("[1 * 2, 2 * 2]", True, False),
        ("[2, 4", False, False),  # does not parse
        ("1 / 0", False, False),  # raises in the sandbox
    ],
    "sample_2": [
        ("True", True, True),
        ("1", True, False),  # True == 1 in Python; strict types differ
        ("(__import__('os') is not None)", False, False),  # blocked by the sandbox policy
        ("'True'", False, False),
        ("True) or (True", False, False),  # would escape the assert if pasted blindly
    ],
    "sample_3": [("'bb'", True, True), ("'b' * 2", True, False)],
}

INPUT_CASES = {
    "sample_0": [
        ("f('a', 'b')", True, True),
        ("f('ab', '')", True, True),  # any input that works counts
        ("f('a' + 'b', '')", True, False),  # non-literal argument
        ("('a', 'b')", False, False),  # not a call of f
        ("f('x', 'y')", False, False),
    ],
    "sample_1": [
        ("f([1, 2])", True, True),
        ("f((1, 2))", True, True),  # a tuple input also gives [2, 4]
        ("f([1, 1 + 1])", True, False),
        ("f(*[[1, 2]])", True, False),
        ("f([])", False, False),
    ],
    "sample_2": [
        ("f(4)", True, True),
        ("f(10)", True, True),
        ("f(3)", False, False),
        ("f(4.5)", True, True),
        ("g(4)", False, False),
    ],
    "sample_3": [("f('aa')", False, True), ("f('bb')", False, True), ("f('x')", False, False)],
}


def _sandbox_available() -> bool:
    try:
        from azr.sandbox import ExecRequest, Executor, SandboxConfig  # noqa: F401
    except ImportError:
        return False
    return True


needs_sandbox = pytest.mark.skipif(not _sandbox_available(), reason="azr.sandbox not available")


@pytest.fixture()
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "crux.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in PROBLEMS))
    return path


def _verdicts(name: str, data: Path, cases: dict, scoring: str) -> list[list[bool]]:
    from azr.evaluate.execution import open_executor

    bench = get_benchmark(name)
    problems = bench.load(data)
    gens = [[g for g, _, _ in cases[p.id]] for p in problems]
    with open_executor(bench.timeout_s) as ex:
        return bench.score(problems, gens, ex, scoring)


def _expected(problems: list[dict], cases: dict, col: int) -> list[list[bool]]:
    return [[case[col] for case in cases[p["id"]]] for p in problems]


def test_loader_reads_data_and_limit(data_file: Path) -> None:
    bench = get_benchmark("cruxeval-o")
    problems = bench.load(data_file, limit=2)
    assert [p.id for p in problems] == ["sample_0", "sample_1"]
    assert problems[0].fields["output"] == "'ab'"


@pytest.mark.skipif(not SHARED.exists(), reason="shared CRUXEval data absent")
def test_bundled_cruxeval_has_800_problems() -> None:
    problems = get_benchmark("cruxeval-i").load()
    assert len(problems) == 800
    assert problems[0].id == "sample_0"


def test_benchmark_style_prompt_and_extraction() -> None:
    bench = get_benchmark("cruxeval-o")
    problem = Problem("p", {"code": "def f(x):\n    return x", "input": "3", "output": "3"})
    prompt = bench.prompt(problem)
    assert prompt.endswith(
        "[PYTHON]\ndef f(x):\n    return x\nassert f(3) == ??\n[/PYTHON]\n[ANSWER]\n"
    )
    assert bench.extract(problem, "assert f(3) == 3\n[/ANSWER]\nmore") == "3"
    inp = get_benchmark("cruxeval-i")
    assert "assert f(??) == 3" in inp.prompt(problem)
    assert inp.extract(problem, "assert f(1 + 2) == 3\n") == "f(1 + 2)"


def test_ours_style_prompt_and_extraction() -> None:
    problem = Problem("p", {"code": "def f(x):\n    return x", "input": "3", "output": "3"})
    out = get_benchmark("cruxeval-o")
    triplet = Triplet("def f(x):\n    return x", "3", "3")
    assert out.prompt(problem, "ours") == solver_prompt("deduction", triplet)
    assert out.reasoning_prompt("ours") and not out.reasoning_prompt("benchmark")
    text = " reasoning </think>\n<answer>\n```output\n3\n```\n</answer>"
    assert out.extract(problem, text, "ours") == "3"
    inp = get_benchmark("cruxeval-i")
    text = " x </think>\n<answer>\n```input\n3\n```\n</answer>"
    assert inp.extract(problem, text, "ours") == "f(3)"


def test_strict_output_scoring_needs_no_sandbox(data_file: Path) -> None:
    bench = get_benchmark("cruxeval-o")
    problems = bench.load(data_file)
    gens = [[g for g, _, _ in OUTPUT_CASES[p.id]] for p in problems]
    assert bench.score(problems, gens, None, "strict") == _expected(PROBLEMS, OUTPUT_CASES, 2)


@needs_sandbox
@pytest.mark.parametrize("scoring,col", [("official", 1), ("strict", 2)])
def test_output_prediction_scores(data_file: Path, scoring: str, col: int) -> None:
    got = _verdicts("cruxeval-o", data_file, OUTPUT_CASES, scoring)
    assert got == _expected(PROBLEMS, OUTPUT_CASES, col)


@needs_sandbox
@pytest.mark.parametrize("scoring,col", [("official", 1), ("strict", 2)])
def test_input_prediction_scores(data_file: Path, scoring: str, col: int) -> None:
    got = _verdicts("cruxeval-i", data_file, INPUT_CASES, scoring)
    assert got == _expected(PROBLEMS, INPUT_CASES, col)


@needs_sandbox
@pytest.mark.skipif(not SHARED.exists(), reason="shared CRUXEval data absent")
def test_gold_answers_pass_on_the_real_file() -> None:
    """Every gold output (and every gold input as a call) passes official scoring."""
    from azr.evaluate.execution import open_executor

    out_b, in_b = get_benchmark("cruxeval-o"), get_benchmark("cruxeval-i")
    problems = out_b.load()[:200]
    with open_executor(3.0) as ex:
        outs = out_b.score(problems, [[p.fields["output"]] for p in problems], ex)
        ins = in_b.score(problems, [[f"f({p.fields['input']})"] for p in problems], ex)
    assert sum(v[0] for v in outs) == 200
    assert sum(v[0] for v in ins) == 200


def _record_prompts(policy: Any) -> list[str]:
    """The list every prompt `policy.generate` is given is appended to, from now on."""
    seen: list[str] = []
    real = policy.generate

    def spy(prompts: Any, n: int = 1, sampling: Any = None) -> Any:
        seen.extend(prompts)
        return real(prompts, n, sampling)

    policy.generate = spy
    return seen


@pytest.mark.parametrize("chat", [False, True])
def test_evaluation_renders_prompts_as_training_does(chat: bool) -> None:
    """One renderer: `--prompt-style ours` (with or without --chat) sends the model exactly
    what training would, and a benchmark's own prompt goes through the chat template only."""
    from azr.evaluate.runner import SampleSettings, sample
    from azr.policy.scripted import ScriptedPolicy
    from azr.tasks.prompts import PromptRenderer

    problem = Problem("p", {"code": "def f(x):\n    return x", "input": "3", "output": "3"})
    bench = get_benchmark("cruxeval-o")
    policy = ScriptedPolicy(["x"], template="<user>{}</user>")
    seen = _record_prompts(policy)
    renderer = PromptRenderer("chat" if chat else "base", policy.format_prompt)
    sample(policy, bench, [problem], SampleSettings(style="ours", chat=chat))
    triplet = Triplet("def f(x):\n    return x", "3", "3")
    assert seen[-1] == renderer.render(solver_prompt("deduction", triplet))
    assert seen[-1].endswith("<think>")
    sample(policy, bench, [problem], SampleSettings(style="benchmark", chat=chat))
    own = bench.prompt(problem)
    assert seen[-1] == (f"<user>{own}</user>" if chat else own)


@pytest.mark.parametrize("mode", ["output", "input"])
def test_answer_prefill_starts_our_reply_and_is_graded_with_it(mode: str) -> None:
    """`--answer-prefill`: the prompt ends with the reply's start up to the answer block (as
    training's `selfplay.solver_prefill` renders it); the raw text and the extracted answer
    read the whole reply; the benchmark's own prompt is left alone."""
    from azr.evaluate.runner import SampleSettings, sample
    from azr.policy.scripted import ScriptedPolicy
    from azr.tasks.prompts import answer_prefill

    problem = Problem("p", {"code": "def f(x):\n    return x + 1", "input": "3", "output": "4"})
    bench = get_benchmark(f"cruxeval-{mode[0]}")
    answer = "4" if mode == "output" else "3"
    policy = ScriptedPolicy([f"{answer}\n```\n</answer>"])
    seen = _record_prompts(policy)
    raws, gens = sample(policy, bench, [problem], SampleSettings(style="ours", answer_prefill=True))
    pre = answer_prefill(mode)
    assert seen[-1].endswith("<think>" + pre)
    assert raws == [[pre + f"{answer}\n```\n</answer>"]]
    assert gens == [[answer if mode == "output" else f"f({answer})"]]
    sample(policy, bench, [problem], SampleSettings(style="benchmark", answer_prefill=True))
    assert seen[-1] == bench.prompt(problem)
