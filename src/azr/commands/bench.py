"""`azr bench executor|step`: throughput figures as JSON."""

from __future__ import annotations

import typer

from azr.commands import ISOLATION_HELP, check_isolation

bench_app = typer.Typer(
    help="Throughput benchmarks; each prints one JSON object.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@bench_app.command("executor")
def bench_executor(
    data: str = typer.Option("", help="CRUXEval-style JSONL (default: $AZR_CRUXEVAL)"),
    repeat: int = typer.Option(10, help="how many times the programs are repeated"),
    rounds: int = typer.Option(5, help="alternating rounds of ours and the reference"),
    workers: int = typer.Option(0, help="sandbox workers (0: one per CPU core)"),
    isolation: str = typer.Option("auto", help=ISOLATION_HELP),
) -> None:
    """Sandboxed executor throughput versus a reference-style executor, measured in one run."""
    import json
    from pathlib import Path

    from azr.errors import UserError
    from azr.sandbox import SandboxConfig
    from azr.sandbox.bench import bench_executor as run_bench
    from azr.sandbox.bench import default_data_path

    if repeat < 1 or rounds < 1 or workers < 0:
        raise UserError("--repeat and --rounds must be at least 1, --workers at least 0")
    check_isolation(isolation)
    path = Path(data) if data else default_data_path()
    if path is None or not path.is_file():
        if data:
            raise UserError(f"no data file: {data}")
        from azr.datapaths import cruxeval_missing

        raise UserError(cruxeval_missing("--data PATH"))
    config = SandboxConfig(workers=workers or None, isolation=isolation)
    result = run_bench(path, repeat=repeat, rounds=rounds, config=config)
    print(json.dumps(result))


@bench_app.command("step")
def bench_step(
    model: str = typer.Option("smollm2-135m", help="model name, local directory or hub id"),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:N or auto"),
    batch: int = typer.Option(8, help="batch size B for generation and the update"),
    prompt_len: int = typer.Option(128, help="prompt tokens per sequence"),
    gen_tokens: int = typer.Option(64, help="new tokens per sequence when generating"),
    update_tokens: int = typer.Option(256, help="completion tokens per sequence in the update"),
    dtype: str = typer.Option("auto", help="weights: auto (fp32; bf16 autocast on CUDA), bfloat16"),
    repeats: int = typer.Option(2, help="generation rounds (ours and model.generate alternate)"),
    update_steps: int = typer.Option(2, help="update steps timed (the first includes warm-up)"),
    micro_batch: int = typer.Option(0, help="sequences per micro-batch in the update (0: B)"),
    grad_ckpt: bool = typer.Option(False, help="gradient checkpointing in the update"),
    lora_rank: int = typer.Option(0, help="train LoRA adapters of this rank (0: full)"),
) -> None:
    """Policy generation (ours vs model.generate) and update throughput, peak memory."""
    import json

    from azr.errors import UserError

    for label, value in (("batch", batch), ("gen-tokens", gen_tokens), ("repeats", repeats)):
        if value < 1:
            raise UserError(f"--{label} must be at least 1")
    if prompt_len < 1 or update_tokens < 1:
        raise UserError("--prompt-len and --update-tokens must be at least 1")
    from azr.deps import quiet_transformers, require_model_backend

    require_model_backend("azr bench step")
    quiet_transformers()
    from azr.policy.bench import run_step_bench

    result = run_step_bench(
        model=model,
        device=device,
        batch=batch,
        prompt_len=prompt_len,
        gen_tokens=gen_tokens,
        update_tokens=update_tokens,
        dtype=dtype,
        repeats=repeats,
        update_steps=update_steps,
        micro_batch_size=micro_batch or None,
        gradient_checkpointing=grad_ckpt,
        lora_rank=lora_rank,
    )
    print(json.dumps(result))


def register(app: typer.Typer) -> None:
    """Add the `bench` group to the `azr` app."""
    app.add_typer(bench_app, name="bench")
