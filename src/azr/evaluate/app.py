"""What `azr eval` and `azr eval score` do, with progress bars on stderr.

Kept apart from the typer layer so scripts and tests can call `run_eval` / `run_score` directly
(with any `Policy`, e.g. a scripted one).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from azr.evaluate.generations import align, read_generations
from azr.evaluate.passk import parse_ks
from azr.evaluate.problems import Benchmark, Problem, get_benchmark
from azr.evaluate.runner import BenchmarkResult, SampleSettings, sample, summarize
from azr.policy.base import Policy


@contextlib.contextmanager
def progress_bar(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr; yields an `advance(count)` callback."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as RichProgress

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    from rich.markup import escape

    with RichProgress(*columns, console=Console(stderr=True)) as bar:
        # Model names such as "[tiny-random]" would otherwise be read as rich markup.
        task = bar.add_task(escape(description), total=total)
        yield lambda count: bar.advance(task, count)


@contextlib.contextmanager
def maybe_executor(
    benchmark: Benchmark, workers: int | None, isolation: str = "auto"
) -> Iterator[Any]:
    """A sandbox executor when the benchmark needs one, else None."""
    if not benchmark.needs_executor:
        yield None
        return
    from azr.evaluate.execution import LazyExecutor

    with LazyExecutor(benchmark.timeout_s, workers, isolation) as ex:
        yield ex


def load_problems(
    benchmark: Benchmark,
    data: Path | None,
    limit: int | None,
    workers: int | None,
    isolation: str = "auto",
    subset: int | None = None,
    subset_seed: int = 16,
) -> list[Problem]:
    """Load (and, where needed, prepare in the sandbox) a benchmark's problems: all, the first
    `limit`, or `subset` of them drawn at random with `subset_seed` (kept in file order; the
    draw is `random.Random(subset_seed).sample(range(len(all)), subset)`)."""
    problems = benchmark.load(data, limit)
    if type(benchmark).prepare is not Benchmark.prepare:
        with maybe_executor(benchmark, workers, isolation) as ex:
            problems = benchmark.prepare(problems, ex)
    if not problems:
        raise ValueError(f"benchmark {benchmark.name} has no problems to evaluate")
    if subset is not None:
        if subset > len(problems):
            raise ValueError(
                f"--sample {subset}: benchmark {benchmark.name} has {len(problems)} problems"
            )
        chosen = sorted(random.Random(subset_seed).sample(range(len(problems)), subset))
        problems = [problems[i] for i in chosen]
    return problems


def score_and_summarize(
    model: str,
    benchmark: Benchmark,
    problems: Sequence[Problem],
    generations: Sequence[Sequence[str]],
    scoring: str,
    ks: Sequence[int],
    workers: int | None = None,
    raws: Sequence[Sequence[str]] | None = None,
    settings: dict[str, Any] | None = None,
    isolation: str = "auto",
) -> BenchmarkResult:
    """Score generations (progress bar) and compute pass@k."""
    total = sum(len(g) for g in generations)
    with (
        maybe_executor(benchmark, workers, isolation) as ex,
        progress_bar(f"scoring {benchmark.name} [{model}]", total) as advance,
    ):
        passed = benchmark.score(problems, generations, ex, scoring, advance)
    return summarize(model, benchmark, scoring, problems, generations, passed, ks, raws, settings)


def run_eval(
    models: Sequence[str | Policy],
    benchmarks: Sequence[str],
    settings: SampleSettings,
    *,
    k_text: str | None = None,
    limit: int | None = None,
    subset: int | None = None,
    subset_seed: int = 16,
    data: dict[str, Path] | None = None,
    scoring: str | None = None,
    device: str = "cpu",
    workers: int | None = None,
    isolation: str = "auto",
    engine: str = "auto",
) -> list[BenchmarkResult]:
    """Sample every model on every benchmark and score; results per (model, benchmark).
    `engine` picks what samples a model given by name (see `policy.engine.resolve_engine`)."""
    if settings.n < 1:
        raise ValueError("--n must be >= 1")
    ks = parse_ks(k_text, settings.n)
    benches = [get_benchmark(b) for b in dict.fromkeys(benchmarks)]
    chosen = {b.name: scoring or b.scorings[0] for b in benches}
    for b in benches:
        b.check_scoring(chosen[b.name])
    problem_sets = {
        b.name: load_problems(
            b, (data or {}).get(b.name), limit, workers, isolation, subset, subset_seed
        )
        for b in benches
    }
    results: list[BenchmarkResult] = []
    for model in models:
        policy, name, owned = _open_policy(model, device, engine)
        try:
            for b in benches:
                problems = problem_sets[b.name]
                with progress_bar(f"sampling {b.name} [{name}]", len(problems)) as advance:
                    raws, gens = sample(policy, b, problems, settings, advance)
                info = {**asdict(settings.sampling(b)), "style": settings.style, "n": settings.n}
                if settings.answer_prefill:
                    info["answer_prefill"] = True
                info["stop"] = list(info["stop"])
                results.append(
                    score_and_summarize(
                        name, b, problems, gens, chosen[b.name], ks, workers, raws, info, isolation
                    )
                )
        finally:
            if owned:
                policy.close()
    return results


def _open_policy(model: str | Policy, device: str, engine: str) -> tuple[Any, str, bool]:
    """What samples `model` (a generator; closing it closes the policy under it), its name,
    and whether it is ours to close."""
    if isinstance(model, Policy):
        return model, getattr(model, "name", "policy"), False
    from azr.policy.factory import generator_for_model

    return generator_for_model(model, device=device, engine=engine), model, True


def run_score(
    benchmark_name: str,
    generations_file: Path,
    *,
    data: Path | None = None,
    k_text: str | None = None,
    scoring: str | None = None,
    workers: int | None = None,
    model: str | None = None,
    isolation: str = "auto",
) -> BenchmarkResult:
    """Score a generations file made elsewhere; BadGenerations (a ValueError) when it is wrong."""
    benchmark = get_benchmark(benchmark_name)
    chosen = scoring or benchmark.scorings[0]
    benchmark.check_scoring(chosen)
    by_id = read_generations(generations_file)
    chosen_problems, gens = align(by_id, benchmark.load(data, None), benchmark.name)
    if type(benchmark).prepare is not Benchmark.prepare:
        with maybe_executor(benchmark, workers, isolation) as ex:
            prepared = benchmark.prepare(chosen_problems, ex)
        if len(prepared) != len(chosen_problems):
            raise ValueError(
                f"{len(chosen_problems) - len(prepared)} problem(s) of the file could not be "
                "built in the sandbox"
            )
        chosen_problems = prepared
    ks = parse_ks(k_text, len(gens[0]))
    name = model or generations_file.stem
    return score_and_summarize(
        name,
        benchmark,
        chosen_problems,
        gens,
        chosen,
        ks,
        workers,
        None,
        {"source": str(generations_file)},
        isolation,
    )
