"""Held-out self-play tasks from a run directory's buffers (`--data RUN_DIR[@STEP]`).

A run's buffers (`buffers.sqlite`, see `azr.buffers`) hold every valid task with the step that
proposed it. Tasks proposed after step STEP were never seen by a checkpoint saved at STEP, so
they are held out for it (and for the base model). STEP defaults to 0: every task proposed during
training, without the seed tasks made before it. Grading is the self-play grader itself
(`azr.tasks.engine`, docs/algorithm.md, section 5, strict): deduction answers are literals,
abduction inputs and induction programs run in the sandbox.
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
    take,
)


def _split_step(data: Path) -> tuple[Path, int]:
    text = str(data)
    if "@" in text:
        head, _, tail = text.rpartition("@")
        try:
            return Path(head), int(tail)
        except ValueError:
            raise ValueError(f"selfplay --data expects RUN_DIR[@STEP], got {text!r}") from None
    return data, 0


def _task(problem: Problem) -> Any:
    from azr.tasks.types import get

    return get(problem.fields["task_type"]).from_dict(problem.fields["task"])


class SelfPlayBenchmark(Benchmark):
    """Held-out deduction, abduction and induction tasks of one run."""

    name = "selfplay"
    description = "held-out self-play tasks from a run directory"
    timeout_s = 10.0
    max_new_tokens = 512

    def load(self, data: Path | None = None, limit: int | None = None) -> list[Problem]:
        """Tasks proposed after STEP, per task type, from RUN_DIR/buffers.sqlite."""
        if data is None:
            raise ValueError("selfplay needs --data RUN_DIR[@STEP] (a run directory)")
        from azr.buffers import CorruptStore, TaskStore

        root, after = _split_step(data)
        db = root / "buffers.sqlite" if root.is_dir() else root
        if not db.exists():
            raise ValueError(f"{db} does not exist (selfplay needs a run directory)")
        try:
            store = TaskStore(db, create=False)
        except CorruptStore as exc:
            raise ValueError(f"{db}: {exc}") from None
        try:
            per_type = {
                tt: [t for t in store.all_tasks(tt) if t.step > after] for tt in store.task_types()
            }
        finally:
            store.close()
        # Interleave the types so --limit keeps every type represented.
        problems: list[Problem] = []
        longest = max((len(v) for v in per_type.values()), default=0)
        for i in range(longest):
            for tt in per_type:
                if i < len(per_type[tt]):
                    t = per_type[tt][i]
                    fields = {"task_type": tt, "task": t.payload, "step": t.step}
                    problems.append(Problem(id=f"{tt}-{t.id}", fields=fields))
        if not problems:
            raise ValueError(f"{db}: no tasks proposed after step {after}")
        return take(problems, limit)

    def prompt(self, problem: Problem, style: PromptStyle = "benchmark") -> str:
        """The self-play solver prompt in either style: it is this task's own."""
        from azr.tasks.prompts import solver_prompt

        return solver_prompt(problem.fields["task_type"], _task(problem))

    def reasoning_prompt(self, style: PromptStyle = "benchmark") -> bool:
        """Always rendered like training's prompts (its own prompt is a reasoning prompt)."""
        return True

    def answer_block(self, problem: Problem, style: PromptStyle = "benchmark") -> str | None:
        """The task type's answer block (its solver prompts are used in either style)."""
        from azr.tasks.types import get

        return str(get(problem.fields["task_type"]).answer_block)

    def stop(self, style: PromptStyle = "benchmark") -> tuple[str, ...]:
        """Self-play prompts end answers with `</answer>`."""
        return ("</answer>",)

    def extract(self, problem: Problem, text: str, style: PromptStyle = "benchmark") -> str:
        """The answer payload (output literal, argument list, or program)."""
        from azr.tasks.parsing import extract_solver_answer, parse_completion

        answer = extract_solver_answer(parse_completion(text), problem.fields["task_type"])
        return "" if answer is None else answer

    def score(
        self,
        problems: Sequence[Problem],
        generations: Sequence[Sequence[str]],
        executor: ExecutorLike | None,
        scoring: str = "official",
        progress: ProgressCallback | None = None,
    ) -> list[list[bool]]:
        """Grade payloads with the self-play grader (wrapped as well-formed completions)."""
        self.check_scoring(scoring)
        from azr.tasks.engine import grade_mixed
        from azr.tasks.types import get

        items = []
        for problem, gens in zip(problems, generations, strict=True):
            tt = problem.fields["task_type"]
            task = _task(problem)
            block = get(tt).answer_block
            for gen in gens:
                text = f"</think>\n<answer>\n```{block}\n{gen}\n```\n</answer>"
                items.append((tt, task, text))
        results = grade_mixed(executor, items)  # type: ignore[arg-type]
        if progress is not None:
            progress(len(items))
        it = iter(results)
        return [[bool(next(it).correct) for _ in gens] for gens in generations]


register("selfplay", SelfPlayBenchmark)
