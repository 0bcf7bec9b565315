"""Evaluate models on benchmarks: sample through a `Policy`, score officially, compute pass@k.

`evaluate_policy` and `score_generations` return `BenchmarkResult`s; `write_outputs` writes the
per-problem JSONL, `summary.json` and the pass@k plot; `summary_line` is the JSON object the CLI
prints last on stdout.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from azr.evaluate.passk import bootstrap_ci, mean_pass_at_k, pass_at_k
from azr.evaluate.problems import Benchmark, ExecutorLike, Problem, ProgressCallback, PromptStyle
from azr.policy.base import Generator, SamplingParams
from azr.tasks.prompts import PromptRenderer

# Yue et al. (2025) sample with these when estimating pass@k at large k.
DEFAULT_SAMPLING_TEMPERATURE = 0.6
DEFAULT_SAMPLING_TOP_P = 0.95


@dataclass
class SampleSettings:
    """How to sample: n per problem; temperature None means greedy for n=1, else 0.6."""

    n: int = 1
    temperature: float | None = None
    top_p: float | None = None
    max_new_tokens: int | None = None
    style: PromptStyle = "benchmark"
    chat: bool = False
    answer_prefill: bool = False  # reasoning prompts: the reply written up to its answer block
    batch_size: int = 8  # prompts per generate call; 0: 64 on an inference engine, else 8
    seed: int = 0

    def sampling(self, benchmark: Benchmark) -> SamplingParams:
        """The SamplingParams for `benchmark`."""
        temperature = self.temperature
        if temperature is None:
            temperature = 0.0 if self.n == 1 else DEFAULT_SAMPLING_TEMPERATURE
        top_p = self.top_p
        if top_p is None:
            top_p = 1.0 if temperature == 0.0 else DEFAULT_SAMPLING_TOP_P
        return SamplingParams(
            temperature=temperature,
            top_p=top_p,
            max_new_tokens=self.max_new_tokens or benchmark.max_new_tokens,
            stop=benchmark.stop(self.style),
            seed=self.seed,
        )


@dataclass
class BenchmarkResult:
    """One model on one benchmark: per-problem records and pass@k with confidence intervals."""

    model: str
    benchmark: str
    scoring: str
    n: int
    ks: list[int]
    pass_at_k: dict[int, float]
    ci95: dict[int, tuple[float, float]]
    curve: dict[int, float]
    records: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def num_problems(self) -> int:
        """How many problems were scored."""
        return len(self.records)


def sample(
    policy: Generator,
    benchmark: Benchmark,
    problems: Sequence[Problem],
    settings: SampleSettings,
    progress: ProgressCallback | None = None,
) -> tuple[list[list[str]], list[list[str]]]:
    """Raw completions and extracted generations, n per problem."""
    sp = settings.sampling(benchmark)
    # Greedy decoding gives the same text every time: sample once and repeat it.
    draws = 1 if sp.temperature == 0.0 else settings.n
    raws: list[list[str]] = []
    renderer = PromptRenderer("chat" if settings.chat else "base", policy.format_prompt)
    render = (
        renderer.render if benchmark.reasoning_prompt(settings.style) else renderer.render_plain
    )
    size = settings.batch_size or (64 if getattr(policy, "name", "") == "vllm" else 8)
    for start in range(0, len(problems), size):
        chunk = problems[start : start + size]
        prefills = [_prefill(benchmark, p, settings) for p in chunk]
        prompts = [
            render(benchmark.prompt(p, settings.style)) + pre
            for p, pre in zip(chunk, prefills, strict=True)
        ]
        # A fresh seed per chunk: reproducible, without repeating one random stream per chunk.
        chunk_sp = replace(sp, seed=None if sp.seed is None else sp.seed + start)
        outs = policy.generate(prompts, n=draws, sampling=chunk_sp)
        for row, pre in zip(outs, prefills, strict=True):
            texts = [pre + c.text for c in row]
            raws.append(texts * settings.n if draws == 1 else texts)
        if progress is not None:
            progress(len(chunk))
    generations = [
        [benchmark.extract(p, t, settings.style) for t in row]
        for p, row in zip(problems, raws, strict=True)
    ]
    return raws, generations


def _prefill(benchmark: Benchmark, problem: Problem, settings: SampleSettings) -> str:
    """The reply's start written for the model (`--answer-prefill`, reasoning prompts only)."""
    if not (settings.answer_prefill and benchmark.reasoning_prompt(settings.style)):
        return ""
    block = benchmark.answer_block(problem, settings.style)
    if block is None:
        return ""
    from azr.tasks.prompts import answer_prefill

    return answer_prefill(block)


def summarize(
    model: str,
    benchmark: Benchmark,
    scoring: str,
    problems: Sequence[Problem],
    generations: Sequence[Sequence[str]],
    passed: Sequence[Sequence[bool]],
    ks: Sequence[int],
    raws: Sequence[Sequence[str]] | None = None,
    settings: dict[str, Any] | None = None,
) -> BenchmarkResult:
    """Per-problem records and benchmark pass@k (every k <= n in `curve`, `ks` with CIs)."""
    ns = [len(row) for row in passed]
    n = min(ns) if ns else 0
    cs = [sum(row) for row in passed]
    every = list(range(1, n + 1))
    records = []
    for i, problem in enumerate(problems):
        rec: dict[str, Any] = {
            "id": problem.id,
            "model": model,
            "benchmark": benchmark.name,
            "n": ns[i],
            "correct": cs[i],
            "pass@k": {str(k): pass_at_k(ns[i], cs[i], k) for k in every},
            "passed": list(passed[i]),
            "generations": list(generations[i]),
        }
        if raws is not None:
            rec["completions"] = list(raws[i])
        records.append(rec)
    ci = bootstrap_ci(ns, cs, ks)
    return BenchmarkResult(
        model=model,
        benchmark=benchmark.name,
        scoring=scoring,
        n=n,
        ks=list(ks),
        pass_at_k=mean_pass_at_k(ns, cs, ks),
        ci95=ci,
        curve=mean_pass_at_k(ns, cs, every),
        records=records,
        settings=dict(settings or {}),
    )


def score(
    benchmark: Benchmark,
    problems: Sequence[Problem],
    generations: Sequence[Sequence[str]],
    executor: ExecutorLike | None,
    scoring: str,
    progress: ProgressCallback | None = None,
) -> list[list[bool]]:
    """Official (or strict) verdicts for every generation."""
    return benchmark.score(problems, generations, executor, scoring, progress)


def summary_line(result: BenchmarkResult) -> dict[str, Any]:
    """The stdout summary object: benchmark, model, n, pass@k fractions, CIs."""
    return {
        "benchmark": result.benchmark,
        "model": result.model,
        "n": result.n,
        "problems": result.num_problems,
        "scoring": result.scoring,
        "pass@k": {str(k): round(v, 6) for k, v in result.pass_at_k.items()},
        "ci95": {str(k): [round(a, 6), round(b, 6)] for k, (a, b) in result.ci95.items()},
    }


def slug(text: str) -> str:
    """A file-name-safe version of a model name or path."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text.strip("/")).strip("_.")
    return cleaned[-80:] or "model"


def write_outputs(out_dir: Path, results: Sequence[BenchmarkResult]) -> dict[str, Path]:
    """Write `<model>__<benchmark>.jsonl`, `summary.json` (with the paired comparison of
    every later model against the first) and `passk.png`; return their paths."""
    from azr.evaluate.paired import against_first

    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for res in results:
        path = out_dir / f"{slug(res.model)}__{res.benchmark}.jsonl"
        with open(path, "w", encoding="utf-8") as fh:
            for rec in res.records:
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        paths[f"{res.model}/{res.benchmark}"] = path
    summary = {
        "results": [
            {
                **summary_line(r),
                "curve": {str(k): v for k, v in r.curve.items()},
                "settings": r.settings,
                "per_problem": str(paths[f"{r.model}/{r.benchmark}"].name),
            }
            for r in results
        ],
        "paired": [p.to_dict() for p in against_first(results)],
    }
    summary_path = out_dir / "summary.json"
    summary_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    paths["summary"] = summary_path
    from azr.evaluate.plot import plot_curves

    plot = plot_curves(results, out_dir / "passk.png")
    if plot is not None:
        paths["plot"] = plot
    return paths
