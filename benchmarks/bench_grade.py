"""Grade 1,000 solver completions built from CRUXEval through the batch API and time it.

    python3 benchmarks/bench_grade.py [--n 1000] [--data ../shared/data/cruxeval/cruxeval.jsonl]

One third each of deduction, abduction and induction tasks, half with a correct answer and half
with a wrong one, all graded by a single `grade_mixed` call (one sandbox batch). Prints JSON.
Every job is distinct (no cache can help). `executor_run_calls` counts `Executor.run` calls
(one per grading pass).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from azr.jsonl import read_jsonl
from azr.tasks import InductionTask, TaskType, Triplet
from azr.tasks.engine import grade_mixed

DEFAULT_DATA = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "cruxeval" / "cruxeval.jsonl"
)


def _wrap(block: str, body: str) -> str:
    return f"I trace the code.</think>\n<answer>\n```{block}\n{body}\n```\n</answer>"


def build(rows: list[dict[str, str]], n: int) -> list[tuple[TaskType, object, str]]:
    """n (task type, task, completion) items cycling through the three types."""
    items: list[tuple[TaskType, object, str]] = []
    k = 0
    while len(items) < n:
        row = rows[k % len(rows)]
        other = rows[(k + 1) % len(rows)]
        t = Triplet(row["code"], row["input"], row["output"])
        good = (k // 3) % 2 == 0
        kind = k % 3
        if kind == 0:
            items.append(
                (TaskType.DEDUCTION, t, _wrap("output", t.output if good else other["output"]))
            )
        elif kind == 1:
            items.append(
                (TaskType.ABDUCTION, t, _wrap("input", t.input if good else other["input"]))
            )
        else:
            task = InductionTask(t.program, "", [], [(t.input, t.output)])
            answer = t.program if good else other["code"]
            items.append((TaskType.INDUCTION, task, _wrap("python", answer)))
        k += 1
    return items


def main() -> None:
    """Run the benchmark and print its figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args()
    from azr.sandbox import Executor, SandboxConfig

    rows = read_jsonl(args.data)
    items = build(rows, args.n)
    t0 = time.perf_counter()
    with Executor(SandboxConfig(timeout_s=args.timeout, isolation="auto")) as ex:
        startup = time.perf_counter() - t0
        calls = 0
        real_run = ex.run

        def counting(requests, *a, **kw):  # type: ignore[no-untyped-def]
            nonlocal calls
            calls += 1
            return real_run(requests, *a, **kw)

        ex.run = counting  # type: ignore[method-assign]
        t1 = time.perf_counter()
        results = grade_mixed(ex, items)  # type: ignore[arg-type]
        grade_s = time.perf_counter() - t1
        # A batch lasts as long as its slowest job: one wrong answer that loops costs the whole
        # timeout. Re-grade without those to show the throughput of everything else.
        timeouts = [k for k, r in enumerate(results) if "timeout" in r.reason]
        rest = [it for k, it in enumerate(items) if k not in set(timeouts)]
        t2 = time.perf_counter()
        grade_mixed(ex, rest)  # type: ignore[arg-type]
        rest_s = time.perf_counter() - t2
    by_type: dict[str, dict[str, int]] = {}
    for (tt, _, _), res in zip(items, results, strict=True):
        d = by_type.setdefault(tt.value, {"n": 0, "correct": 0, "format_ok": 0})
        d["n"] += 1
        d["correct"] += int(res.correct)
        d["format_ok"] += int(res.format_ok)
    print(
        json.dumps(
            {
                "completions": len(items),
                "executor_startup_s": round(startup, 3),
                "grade_s": round(grade_s, 3),
                "completions_per_s": round(len(items) / grade_s, 1),
                "timeouts": len(timeouts),
                "timeout_s": args.timeout,
                "without_timeouts": {
                    "completions": len(rest),
                    "grade_s": round(rest_s, 3),
                    "completions_per_s": round(len(rest) / rest_s, 1),
                },
                "executor_run_calls": calls,
                "by_type": by_type,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
