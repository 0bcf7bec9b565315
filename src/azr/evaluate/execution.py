"""Run scoring jobs in the sandbox: deduplicated, batched, with progress.

Samples repeat a lot (greedy-ish sampling, or the same answer written twice), so identical
(program, expression) jobs run once; results are shared by value, never by re-running model text
in this process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from azr.evaluate.problems import ExecutorLike, ProgressCallback

# Jobs per executor call: large enough to keep every worker busy, small enough for a lively
# progress bar.
CHUNK = 256


@dataclass(frozen=True)
class Job:
    """One sandboxed evaluation: run `program`, then evaluate `expr` in its namespace."""

    program: str
    expr: str


@dataclass(frozen=True)
class Outcome:
    """What scoring needs from an execution."""

    status: str
    value_repr: str | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the run finished and produced a value."""
        return self.status == "ok"


def open_executor(timeout_s: float, workers: int | None = None, isolation: str = "auto") -> Any:
    """A started sandbox executor for scoring (use as a context manager)."""
    from azr.sandbox import Executor, SandboxConfig

    return Executor(SandboxConfig(workers=workers, timeout_s=timeout_s, isolation=isolation))


def without_preloads(program: str) -> str:
    """`program` run the way the official harnesses run it: no module names predefined.

    Our sandbox gives every program some modules as globals (`re`, `string`, ...; the reference
    self-play code prepends such imports). CRUXEval's and HumanEval's harnesses do not, so there
    a program that uses `re` without importing it raises NameError; deleting the names first
    reproduces that (the published CRUXEval scores then match exactly).
    """
    try:
        from azr.sandbox.rules import PRELOADED_MODULES
    except ImportError:  # an older sandbox without preloads
        return program
    names = [m for m in PRELOADED_MODULES if m.isidentifier()]
    return f"del {', '.join(names)}\n{program}" if names else program


class LazyExecutor:
    """Starts the sandbox on the first `run` (scoring that needs no execution never pays)."""

    def __init__(
        self, timeout_s: float, workers: int | None = None, isolation: str = "auto"
    ) -> None:
        self.timeout_s = timeout_s
        self.workers = workers
        self.isolation = isolation
        self._executor: Any = None

    def run(self, requests: Sequence[Any]) -> list[Any]:
        """Run requests in the (started on demand) sandbox."""
        if self._executor is None:
            self._executor = open_executor(self.timeout_s, self.workers, self.isolation)
            self._executor.__enter__()
        return list(self._executor.run(requests))

    def close(self) -> None:
        """Stop the sandbox if it was started."""
        if self._executor is not None:
            self._executor.__exit__(None, None, None)
            self._executor = None

    def __enter__(self) -> LazyExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_jobs(
    executor: ExecutorLike,
    jobs: Sequence[Job],
    progress: ProgressCallback | None = None,
    weights: Sequence[int] | None = None,
) -> list[Outcome]:
    """Run `jobs` (deduplicated) and return one outcome per job, in order.

    `weights[i]` is how many generations job i stands for, so progress counts generations.
    """
    from azr.sandbox import ExecRequest

    unique: dict[Job, int] = {}
    order: list[Job] = []
    for job in jobs:
        if job not in unique:
            unique[job] = len(order)
            order.append(job)
    weight_of = [0] * len(order)
    for i, job in enumerate(jobs):
        weight_of[unique[job]] += 1 if weights is None else weights[i]

    outcomes: list[Outcome] = []
    for start in range(0, len(order), CHUNK):
        chunk = order[start : start + CHUNK]
        requests = [
            ExecRequest(program=j.program, expr=j.expr, check_determinism=False) for j in chunk
        ]
        for result in executor.run(requests):
            outcomes.append(
                Outcome(
                    status=str(result.status),
                    value_repr=getattr(result, "value_repr", None),
                    error=getattr(result, "error", None),
                )
            )
        if progress is not None:
            progress(sum(weight_of[start : start + CHUNK]))
    return [outcomes[unique[job]] for job in jobs]
