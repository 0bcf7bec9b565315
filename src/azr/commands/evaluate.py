"""`azr eval` (sample and score models on benchmarks) and `azr eval score` (score a file)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from azr.commands import ISOLATION_HELP, check_isolation

eval_app = typer.Typer(
    help=(
        "pass@k of models on benchmarks with each benchmark's official scoring. "
        "`azr eval --model M --benchmark B` samples and scores; "
        "`azr eval score --benchmark B --generations FILE` scores generations made elsewhere."
    ),
    rich_markup_mode=None,
)


def _data_map(data: list[str] | None, benchmarks: list[str]) -> dict[str, Path]:
    """`--data PATH` (one benchmark) or `--data NAME=PATH` (repeatable)."""
    from azr.errors import UserError

    out: dict[str, Path] = {}
    for item in data or []:
        name, sep, path = item.partition("=")
        if sep and name in benchmarks:
            out[name] = Path(path)
        elif len(set(benchmarks)) == 1:
            out[benchmarks[0]] = Path(item)
        else:
            raise UserError("with several benchmarks, write --data NAME=PATH")
    return out


REPORT_TO_HELP = (
    "Experiment tracking: none, tensorboard (default; OUT/tb, needs --out), wandb, mlflow; "
    "repeat or comma-separate (wandb and mlflow are the azr[wandb] / azr[mlflow] extras)."
)


def _trackers(report_to: list[str] | None) -> list[str]:
    """--report-to, parsed and checked before any model loads."""
    from azr.tracking import check_installed, parse_report_to

    kinds = parse_report_to(report_to)
    check_installed(kinds, "azr eval")
    return kinds


def _emit(
    results: list[Any],
    out: Path | None,
    trackers: list[str] | None = None,
    tracked: dict[str, Any] | None = None,
) -> None:
    from azr.evaluate.runner import summary_line, write_outputs

    if out is not None:
        paths = write_outputs(out, results)
        for key, path in paths.items():
            print(f"azr: wrote {key}: {path}", file=sys.stderr)
    if trackers:
        from azr.tracking import track_eval

        track_eval(trackers, out, results, tracked or {})
    for res in results:
        print(json.dumps(summary_line(res)), flush=True)
    from azr.evaluate.paired import against_first

    for pair in against_first(results):
        # Several models: each later one against the first on the same problems.
        print(json.dumps({"paired": pair.to_dict()}), flush=True)


@eval_app.callback(invoke_without_command=True)
def eval_main(
    ctx: typer.Context,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model", "-m", help="Model name or checkpoint dir (repeat to compare models)."
        ),
    ] = None,
    benchmark: Annotated[
        list[str] | None,
        typer.Option(
            "--benchmark",
            "-b",
            help="cruxeval-o|cruxeval-i|humaneval|codeio|math500|aime24|aime25|selfplay (repeatable).",
        ),
    ] = None,
    n: Annotated[int, typer.Option("--n", help="Samples per problem.")] = 1,
    k: Annotated[
        str | None, typer.Option("--k", help="pass@k values to report, e.g. 1,8,64 (<= n).")
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Evaluate only the first N problems.")
    ] = None,
    sample: Annotated[
        int | None,
        typer.Option(
            "--sample",
            help="Evaluate N problems drawn at random (with --sample-seed; the same N for every "
            "model), e.g. a fixed subset for comparing checkpoints.",
        ),
    ] = None,
    sample_seed: Annotated[
        int, typer.Option("--sample-seed", help="Seed of the --sample draw.")
    ] = 16,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Directory for per-problem JSONL, summary and plot."),
    ] = None,
    data: Annotated[
        list[str] | None,
        typer.Option(
            "--data", help="Benchmark data: PATH, NAME=PATH with several benchmarks, or a hub id."
        ),
    ] = None,
    temperature: Annotated[
        float | None, typer.Option(help="Sampling temperature (default: 0 for n=1, else 0.6).")
    ] = None,
    top_p: Annotated[
        float | None,
        typer.Option("--top-p", help="Nucleus sampling (default: 0.95 when sampling)."),
    ] = None,
    max_new_tokens: Annotated[
        int | None, typer.Option("--max-new-tokens", help="Default: per benchmark.")
    ] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1, ...")] = "cpu",
    prompt_style: Annotated[
        str, typer.Option("--prompt-style", help="benchmark (its own prompt) or ours (R1 wrapper).")
    ] = "benchmark",
    chat: Annotated[
        bool,
        typer.Option(
            "--chat",
            help="Use the model's chat template: benchmark prompts go through it; with "
            "--prompt-style ours prompts are rendered exactly as in training.",
        ),
    ] = False,
    answer_prefill: Annotated[
        bool,
        typer.Option(
            "--answer-prefill",
            help="With --prompt-style ours: start each reply up to its answer block, as "
            "training does with selfplay.solver_prefill (the model answers without reasoning).",
        ),
    ] = False,
    scoring: Annotated[
        str | None, typer.Option("--scoring", help="official (default) or strict (CRUXEval).")
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size", help="Prompts per generate call (default: 64 on vLLM, else 8)."
        ),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="What samples: vllm, hf (the embedded sampler) or auto (vllm when installed).",
        ),
    ] = "auto",
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    workers: Annotated[
        int | None, typer.Option(help="Sandbox workers (default: the sandbox's).")
    ] = None,
    isolation: Annotated[
        str, typer.Option("--isolation", help=f"Sandbox for scoring: {ISOLATION_HELP}.")
    ] = "auto",
    report_to: Annotated[
        list[str] | None, typer.Option("--report-to", metavar="NAMES", help=REPORT_TO_HELP)
    ] = None,
) -> None:
    """Sample n answers per problem from each model and report pass@k (unbiased)."""
    if ctx.invoked_subcommand is not None:
        return
    from azr.errors import UserError

    if not model or not benchmark:
        raise UserError("azr eval needs --model and --benchmark (or: azr eval score --help)")
    trackers = _trackers(report_to)
    from azr.evaluate.problems import PROMPT_STYLES
    from azr.policy.engine import ENGINES

    if engine not in ENGINES:
        raise UserError(f"--engine must be one of: {', '.join(ENGINES)}")
    if batch_size is not None and batch_size < 1:
        raise UserError("--batch-size must be >= 1")
    if sample is not None and sample < 1:
        raise UserError("--sample must be >= 1")
    if sample is not None and limit is not None:
        raise UserError("--sample and --limit both choose the problems: give one")
    if prompt_style not in PROMPT_STYLES:
        raise UserError(f"--prompt-style must be one of: {', '.join(PROMPT_STYLES)}")
    if answer_prefill and prompt_style != "ours" and "selfplay" not in benchmark:
        raise UserError("--answer-prefill starts our reply format: use it with --prompt-style ours")
    from azr.deps import quiet_transformers, require_model_backend

    require_model_backend("azr eval")
    quiet_transformers()
    from azr.evaluate.app import run_eval
    from azr.evaluate.runner import SampleSettings

    settings = SampleSettings(
        n=n,
        temperature=temperature,
        top_p=top_p,
        max_new_tokens=max_new_tokens,
        style=prompt_style,  # type: ignore[arg-type]
        chat=chat,
        answer_prefill=answer_prefill,
        batch_size=batch_size or 0,
        seed=seed,
    )
    try:
        results = run_eval(
            model,
            benchmark,
            settings,
            k_text=k,
            limit=limit,
            subset=sample,
            subset_seed=sample_seed,
            data=_data_map(data, benchmark),
            scoring=scoring,
            device=device,
            workers=workers,
            isolation=check_isolation(isolation),
            engine=engine,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    tracked = {
        "models": model,
        "benchmarks": benchmark,
        "k": k,
        "limit": limit,
        "sample": sample,
        "sample_seed": sample_seed,
        "scoring": scoring,
        "engine": engine,
        "settings": asdict(settings),
    }
    _emit(results, out, trackers, tracked)


@eval_app.command("score")
def eval_score(
    benchmark: Annotated[str, typer.Option("--benchmark", "-b", help="Benchmark name.")],
    generations: Annotated[
        Path,
        typer.Option(
            "--generations",
            "-g",
            help='CRUXEval {"sample_0": [...]} JSON, or JSONL {id, generations}.',
        ),
    ],
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Benchmark data file (CRUXEval is not shipped: this, or $AZR_CRUXEVAL; "
            "the others read their installed packages).",
        ),
    ] = None,
    k: Annotated[
        str | None,
        typer.Option("--k", help="pass@k values, e.g. 1,5 (<= generations per problem)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Directory for per-problem JSONL, summary and plot."),
    ] = None,
    scoring: Annotated[
        str | None, typer.Option("--scoring", help="official (default) or strict (CRUXEval).")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Label for these generations (default: file name).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Sandbox workers (default: the sandbox's).")
    ] = None,
    isolation: Annotated[
        str, typer.Option("--isolation", help=f"Sandbox for scoring: {ISOLATION_HELP}.")
    ] = "auto",
    report_to: Annotated[
        list[str] | None, typer.Option("--report-to", metavar="NAMES", help=REPORT_TO_HELP)
    ] = None,
) -> None:
    """Score generations made elsewhere with the benchmark's official scoring."""
    from azr.errors import UserError
    from azr.evaluate.app import run_score

    trackers = _trackers(report_to)

    try:
        result = run_score(
            benchmark,
            generations,
            data=data,
            k_text=k,
            scoring=scoring,
            workers=workers,
            model=name,
            isolation=check_isolation(isolation),
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    tracked = {"benchmark": benchmark, "generations": str(generations), "k": k, "scoring": scoring}
    _emit([result], out, trackers, tracked)


def register(app: typer.Typer) -> None:
    """Add the `eval` group (with its `score` subcommand) to the `azr` app."""
    app.add_typer(
        eval_app, name="eval", short_help="pass@k of models on benchmarks (official scoring)."
    )
