"""CRUXEval output prediction (`cruxeval-o`) and input prediction (`cruxeval-i`).

Official scoring (the CRUXEval harness): run `assert <gold output> == <generation>` after the
program. Output generations may be any expression (`'a' + 'b'` counts) but may not call
`f(<the input>)`; input generations are calls `f(...)`. All model text runs in the sandbox; the
parent only parses (`ast`) to check that the assertion is one statement.

Strict scoring (docs/algorithm.md, section 5): an output generation must be a literal equal to
the gold output with the same types (no execution at all); an input generation must be a call
`f(...)` whose arguments are literals, and the value it returns (made a literal inside the
sandbox) must equal the gold output strictly.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from azr.evaluate.execution import Job, run_jobs, without_preloads
from azr.evaluate.problems import (
    Benchmark,
    ExecutorLike,
    Problem,
    ProgressCallback,
    PromptStyle,
    register,
    resolve_records,
    take,
)

_OUTPUT_PROMPT = """You are given a Python function and an assertion containing an input to the \
function. Complete the assertion with a literal (no unsimplified expressions, no function calls) \
containing the output when executing the provided code on the given input, even if the function \
is incorrect or incomplete. Do NOT output any extra information. Provide the full assertion with \
the correct output in [ANSWER] and [/ANSWER] tags, following the examples.

[PYTHON]
def f(n):
    return n
assert f(17) == ??
[/PYTHON]
[ANSWER]
assert f(17) == 17
[/ANSWER]

[PYTHON]
def f(s):
    return s + "a"
assert f("x9j") == ??
[/PYTHON]
[ANSWER]
assert f("x9j") == "x9ja"
[/ANSWER]

[PYTHON]
{code}
assert f({input}) == ??
[/PYTHON]
[ANSWER]
"""

_INPUT_PROMPT = """You will be given a function f and an output in the form f(??) == output. \
Find any input such that executing f on the input leads to the given output. There may be \
multiple answers, but you should only output one. In [ANSWER] and [/ANSWER] tags, complete the \
assertion with one such input that will produce the output when executing the function.

[PYTHON]
def f(my_list):
    count = 0
    for i in my_list:
        if len(i) % 2 == 0:
            count += 1
    return count
assert f(??) == 3
[/PYTHON]
[ANSWER]
assert f(["mq", "px", "zy"]) == 3
[/ANSWER]

[PYTHON]
def f(s1, s2):
    return s1 + s2
assert f(??) == "banana"
[/PYTHON]
[ANSWER]
assert f("ba", "nana") == "banana"
[/ANSWER]

[PYTHON]
{code}
assert f(??) == {output}
[/PYTHON]
[ANSWER]
"""


def default_path() -> Path | None:
    """The CRUXEval file used without `--data`: `$AZR_CRUXEVAL` or the shared data folder
    (see `azr.datapaths`); None when neither has it."""
    from azr.datapaths import cruxeval_path

    return cruxeval_path()


def _official_test(gold: str, generation: str) -> str | None:
    """The test expression of `assert <gold> == <generation>`, or None if that is not one assert."""
    source = f"assert {gold} == {generation}"
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert) or tree.body[0].msg:
        return None
    segment = ast.get_source_segment(source, tree.body[0].test)
    return None if segment is None else f"bool(({segment}\n))"


def _strict_call(generation: str) -> str | None:
    """`f(<literal args>)` normalised, or None when the generation is not such a call."""
    try:
        tree = ast.parse(generation.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    call = tree.body
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "f"):
        return None
    try:
        for arg in call.args:
            if isinstance(arg, ast.Starred):
                return None
            ast.literal_eval(arg)
        for kw in call.keywords:
            if kw.arg is None:
                return None
            ast.literal_eval(kw.value)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        return None
    return ast.unparse(call)


class CruxEval(Benchmark):
    """CRUXEval (Gu et al. 2024): 800 short Python functions with an input and an output."""

    scorings = ("official", "strict")
    timeout_s = 3.0
    max_new_tokens = 256

    def __init__(self, mode: str) -> None:
        if mode not in ("output", "input"):
            raise ValueError(f"CRUXEval mode must be 'output' or 'input', not {mode!r}")
        self.mode = mode
        self.name = "cruxeval-o" if mode == "output" else "cruxeval-i"
        self.description = f"CRUXEval {mode} prediction"

    @property
    def task_type(self) -> str:
        """The self-play task type whose solver prompt asks our form of the question."""
        return "deduction" if self.mode == "output" else "abduction"

    def load(self, data: Path | None = None, limit: int | None = None) -> list[Problem]:
        """CRUXEval records (`code`, `input`, `output`, `id`) from `data` or `default_path()`."""
        default = default_path()
        if data is None and (default is None or not default.is_file()):
            from azr.datapaths import cruxeval_missing

            raise ValueError(cruxeval_missing())
        records = resolve_records(data, default, "CRUXEval")
        problems = []
        for i, rec in enumerate(records):
            missing = [k for k in ("code", "input", "output") if not isinstance(rec.get(k), str)]
            if missing:
                raise ValueError(f"CRUXEval record {i}: missing string field(s) {missing}")
            pid = str(rec.get("id", f"sample_{i}"))
            fields = {"code": rec["code"], "input": rec["input"], "output": rec["output"]}
            problems.append(Problem(id=pid, fields=fields))
        return take(problems, limit)

    def prompt(self, problem: Problem, style: PromptStyle = "benchmark") -> str:
        """CRUXEval's direct (few-shot, [ANSWER] tags) prompt, or our self-play solver prompt."""
        f = problem.fields
        if style == "ours":
            from azr.tasks.model import Triplet
            from azr.tasks.prompts import solver_prompt

            triplet = Triplet(program=f["code"], input=f["input"], output=f["output"])
            return solver_prompt(self.task_type, triplet)
        if self.mode == "output":
            return _OUTPUT_PROMPT.replace("{code}", f["code"]).replace("{input}", f["input"])
        return _INPUT_PROMPT.replace("{code}", f["code"]).replace("{output}", f["output"])

    def answer_block(self, problem: Problem, style: PromptStyle = "benchmark") -> str | None:
        """Our prompt's answer block (the task type's: ```output for -O, ```input for -I)."""
        if style != "ours":
            return None
        from azr.tasks.types import get

        return str(get(self.task_type).answer_block)

    def stop(self, style: PromptStyle = "benchmark") -> tuple[str, ...]:
        """`[/ANSWER]` for CRUXEval's prompt, `</answer>` for ours."""
        return ("</answer>",) if style == "ours" else ("[/ANSWER]",)

    def extract(self, problem: Problem, text: str, style: PromptStyle = "benchmark") -> str:
        """The output expression (or the `f(...)` call) from a completion."""
        if style == "ours":
            from azr.tasks.parsing import extract_solver_answer, parse_completion

            answer = extract_solver_answer(parse_completion(text), self.task_type)
            if answer is None:
                return ""
            return answer if self.mode == "output" else f"f({answer})"
        # CRUXEval's own post-processing of direct-prompt generations.
        gen = text.split("[/ANSWER]")[0]
        if "[ANSWER]" in gen:
            gen = gen.split("[ANSWER]")[1]
        if self.mode == "output":
            if "==" in gen:
                gen = gen.split("==", 1)[1]
            return gen.strip()
        if "==" in gen:
            gen = gen.split("==")[0].strip()
        if "assert" in gen:
            gen = gen.split("assert", 1)[1]
        return gen.strip()

    def _job(self, problem: Problem, generation: str, scoring: str) -> Job | bool:
        """The sandbox job deciding `generation`, or the verdict when no execution is needed."""
        f = problem.fields
        if scoring == "strict":
            if self.mode == "output":
                from azr.literals import same_literal_text

                return same_literal_text(generation, f["output"])
            call = _strict_call(generation)
            return False if call is None else Job(program=f["code"], expr=call)
        # Official protocol's guards: input answers must call f, output answers must not.
        if self.mode == "input" and "f(" not in generation:
            return False
        if self.mode == "output" and f"f({f['input']})" in generation:
            return False
        test = _official_test(f["output"], generation)
        return False if test is None else Job(program=without_preloads(f["code"]), expr=test)

    def score(
        self,
        problems: Sequence[Problem],
        generations: Sequence[Sequence[str]],
        executor: ExecutorLike | None,
        scoring: str = "official",
        progress: ProgressCallback | None = None,
    ) -> list[list[bool]]:
        """Score every generation by the official or the strict protocol."""
        self.check_scoring(scoring)
        verdicts: list[list[Any]] = []
        jobs: list[Job] = []
        where: list[tuple[int, int]] = []
        for i, (problem, gens) in enumerate(zip(problems, generations, strict=True)):
            row: list[Any] = []
            for j, gen in enumerate(gens):
                decided = self._job(problem, gen, scoring)
                if isinstance(decided, Job):
                    jobs.append(decided)
                    where.append((i, j))
                    row.append(None)
                else:
                    row.append(decided)
            verdicts.append(row)
        if progress is not None:
            progress(sum(len(g) for g in generations) - len(jobs))
        if jobs:
            if executor is None:
                raise ValueError(f"scoring {self.name} needs the sandbox executor")
            outcomes = run_jobs(executor, jobs, progress)
            for (i, j), outcome in zip(where, outcomes, strict=True):
                verdicts[i][j] = self._passed(problems[i], outcome, scoring)
        return [[bool(v) for v in row] for row in verdicts]

    def _passed(self, problem: Problem, outcome: Any, scoring: str) -> bool:
        if not outcome.ok or outcome.value_repr is None:
            return False
        if scoring == "official":
            return bool(outcome.value_repr == "True")
        from azr.literals import same_literal_text

        return same_literal_text(outcome.value_repr, problem.fields["output"])


register("cruxeval-o", lambda: CruxEval("output"))
register("cruxeval-i", lambda: CruxEval("input"))
