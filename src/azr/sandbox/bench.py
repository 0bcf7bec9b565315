"""Executor throughput benchmark: the sandbox versus a reference-style executor, same run.

The reference-style executor mirrors how the original code checks proposals: one persistent
worker process without isolation, one round trip per job, `exec` in fresh globals, a SIGALRM
timeout, and determinism by calling `f` twice in the same process. Its verdict means what
validation's does: the input must be one call's argument list (the same parent-side check),
and the output's repr must round-trip through `ast.literal_eval` to an equal value of the same
type (checked in its worker).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from azr.errors import UserError
from azr.jsonl import read_jsonl
from azr.sandbox.api import ExecRequest, SandboxConfig
from azr.sandbox.executor import Executor, usable_cpus
from azr.sandbox.validate import parse_arguments, validate_triplets

_REFERENCE_WORKER = r"""
import ast, json, signal, sys
def _alarm(signum, frame):
    raise TimeoutError("timed out")
signal.signal(signal.SIGALRM, _alarm)
for line in sys.stdin:
    job = json.loads(line)
    out = {"ok": False, "output": None}
    try:
        signal.setitimer(signal.ITIMER_REAL, job["timeout"])
        env = {}
        exec(job["program"], env)
        value = eval(job["expr"], env)
        first = repr(value)
        second = repr(eval(job["expr"], env))
        signal.setitimer(signal.ITIMER_REAL, 0)
        back = ast.literal_eval(first)  # a literal that round-trips, as validation requires
        literal = type(back) is type(value) and back == value
        out = {"ok": literal and first == second and first != "None", "output": first}
    except BaseException as exc:
        signal.setitimer(signal.ITIMER_REAL, 0)
        out = {"ok": False, "output": None, "error": type(exc).__name__}
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
"""


def default_data_path() -> Path | None:
    """CRUXEval's file when no path is given: `$AZR_CRUXEVAL` or the shared data folder."""
    from azr.datapaths import cruxeval_path

    return cruxeval_path()


def load_items(path: Path) -> list[tuple[str, str]]:
    """(program, input) pairs of a CRUXEval-style JSONL file; UserError when it is malformed."""
    pairs = []
    for i, row in enumerate(read_jsonl(path, error=UserError), 1):
        program, input_text = row.get("program", row.get("code")), row.get("input")
        if not isinstance(program, str) or not isinstance(input_text, str):
            raise UserError(f"{path}: record {i} needs strings 'program' (or 'code') and 'input'")
        pairs.append((program, input_text))
    return pairs


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def run_ours(items: Sequence[tuple[str, str]], config: SandboxConfig) -> dict[str, Any]:
    """Whole process: start the pool, validate everything, shut down."""
    t0 = time.perf_counter()
    executor = Executor(config)
    started = time.perf_counter()
    try:
        checks = validate_triplets(executor, items)
    finally:
        executor.close()
    total = time.perf_counter() - t0
    return {
        "seconds": round(total, 3),
        "startup_s": round(started - t0, 3),
        "jobs_per_s": round(len(items) / total, 1),
        "valid": sum(c.valid for c in checks),
        "isolation": executor.isolation_level,
    }


def latency_ours(items: Sequence[tuple[str, str]], config: SandboxConfig, n: int) -> dict[str, Any]:
    """Round trip of one validation (both hash seeds) at a time on a warm pool."""
    with Executor(config) as executor:
        validate_triplets(executor, items[:64])  # warm
        samples = []
        for program, input_text in items[:n]:
            expr = parse_arguments(input_text) or "f()"
            t0 = time.perf_counter()
            executor.run([ExecRequest(program, expr, check_determinism=True)])
            samples.append(time.perf_counter() - t0)
    return {
        "roundtrip_p50_ms": round(1000 * _pct(samples, 0.5), 3),
        "roundtrip_p99_ms": round(1000 * _pct(samples, 0.99), 3),
    }


def run_reference(items: Sequence[tuple[str, str]], timeout_s: float) -> dict[str, Any]:
    """Whole process of the reference-style executor, one round trip per job."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", _REFERENCE_WORKER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    assert proc.stdin is not None and proc.stdout is not None
    samples = []
    valid = 0
    try:
        for program, input_text in items:
            t1 = time.perf_counter()
            expr = parse_arguments(input_text)  # the same input check as validation's
            if expr is None:
                samples.append(time.perf_counter() - t1)
                continue
            job = {"program": program, "expr": expr, "timeout": timeout_s}
            proc.stdin.write(json.dumps(job) + "\n")
            proc.stdin.flush()
            valid += bool(json.loads(proc.stdout.readline())["ok"])
            samples.append(time.perf_counter() - t1)
    finally:
        proc.stdin.close()
        proc.wait()
    total = time.perf_counter() - t0
    return {
        "seconds": round(total, 3),
        "jobs_per_s": round(len(items) / total, 1),
        "valid": valid,
        "roundtrip_p50_ms": round(1000 * _pct(samples, 0.5), 3),
        "roundtrip_p99_ms": round(1000 * _pct(samples, 0.99), 3),
    }


def bench_executor(
    data: Path, repeat: int = 10, rounds: int = 3, config: SandboxConfig | None = None
) -> dict[str, Any]:
    """Run both executors alternately `rounds` times on the data repeated `repeat` times.

    "seconds"/"jobs_per_s" are each side's best round and "ratio" their quotient; the medians
    and "ratio_of_medians" are the figures to trust on a noisy machine.
    """
    config = dataclasses.replace(config or SandboxConfig(), code_cache=0)  # uncached figures
    base = load_items(data)
    items = base * repeat
    ours_runs, ref_runs = [], []
    for _ in range(rounds):
        ours_runs.append(run_ours(items, config))
        ref_runs.append(run_reference(items, config.timeout_s))
    ours = dict(min(ours_runs, key=lambda r: r["seconds"]))
    ref = dict(min(ref_runs, key=lambda r: r["seconds"]))
    for best, runs in ((ours, ours_runs), (ref, ref_runs)):
        median = statistics.median(r["seconds"] for r in runs)
        best["median_seconds"] = round(median, 3)
        best["median_jobs_per_s"] = round(len(items) / median, 1)
    with Executor(config) as executor:
        checks_elapsed = [
            r.elapsed_s
            for r in executor.run(
                [
                    ExecRequest(p, parse_arguments(i) or "f()", check_determinism=True)
                    for p, i in base
                ]
            )
        ]
    ours.update(
        exec_p50_ms=round(1000 * statistics.median(checks_elapsed), 3),
        exec_p99_ms=round(1000 * _pct(checks_elapsed, 0.99), 3),
    )
    ours.update(latency_ours(base, config, min(400, len(base))))
    return {
        "benchmark": "executor",
        "data": str(data),
        "jobs": len(items),
        "cpus": usable_cpus(),
        "workers": max(2, config.workers or usable_cpus()),
        "rounds": rounds,
        "ours": ours,
        "reference": ref,
        "ratio": round(ref["seconds"] / ours["seconds"], 2),
        "ratio_of_medians": round(
            statistics.median(r["seconds"] for r in ref_runs)
            / statistics.median(r["seconds"] for r in ours_runs),
            2,
        ),
        "all_seconds": {
            "ours": [r["seconds"] for r in ours_runs],
            "reference": [r["seconds"] for r in ref_runs],
        },
    }
