"""`azr train`: run Absolute Zero self-play and write a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from azr.commands import ISOLATION_HELP


def _overrides(
    model: str | None,
    steps: int | None,
    device: str | None,
    seed: int | None,
    solve_from: str | None,
    reward: str | None,
    zero_reward_penalty: float | None,
    advantage: str | None,
    sets: list[str] | None,
) -> list[dict[str, Any]]:
    """Flags as config layers (later layers win)."""
    from azr.config import parse_assignment

    layers = [parse_assignment(s) for s in sets or []]
    flat: dict[str, dict[str, Any]] = {
        "model": {"name": model, "device": device},
        "run": {"steps": steps, "seed": seed},
        "selfplay": {
            "solve_tasks_from": solve_from,
            "reward": reward,
            "zero_reward_penalty": zero_reward_penalty,
            "advantage": advantage,
        },
    }
    flags = {sec: {k: v for k, v in vals.items() if v is not None} for sec, vals in flat.items()}
    layers.append({sec: vals for sec, vals in flags.items() if vals})
    return layers


def _stopped(summary: Any, size: str) -> None:
    """Ctrl-C ended the run after a finished step (or seeding round): say what was kept and how
    to continue, and exit with status 130 as an interrupted command does."""
    import sys

    done = summary.last_step - summary.first_step + 1
    trained = (
        f"trained steps {summary.first_step}..{summary.last_step} ({done} this run)"
        if done > 0
        else "trained no steps"
    )
    print(
        f"stopped by Ctrl-C after {summary.stopped} (saved); {trained} in "
        f"{summary.seconds:.0f}s; run directory {summary.run_dir} ({size})"
    )
    print(f"continue with: azr train --run-dir {summary.run_dir} --resume", file=sys.stderr)
    raise typer.Exit(130)


def register(app: typer.Typer) -> None:
    """Add the command to the `azr` app."""

    @app.command("train")
    def _cmd(
        config: Annotated[
            Path | None, typer.Option("--config", help="YAML config file (overrides the preset)")
        ] = None,
        preset: Annotated[
            str | None,
            typer.Option(
                help="preset: cpu-qwen (default), cpu-demo, test, gpu-0.5b, gpu-3b, gpu-7b"
            ),
        ] = None,
        model: Annotated[
            str | None,
            typer.Option(
                help="qwen2.5-coder-0.5b, smollm2-135m, tiny-random, RUN[@N], a directory or a hub id"
            ),
        ] = None,
        steps: Annotated[int | None, typer.Option(help="train until this step")] = None,
        run_dir: Annotated[
            Path | None, typer.Option("--run-dir", help="run directory (default runs/<time>)")
        ] = None,
        resume: Annotated[
            bool, typer.Option("--resume", help="continue the run in --run-dir")
        ] = False,
        from_step: Annotated[
            int | None,
            typer.Option(
                "--from-step",
                help="with --resume: go back to this step's checkpoint and train on from there "
                "(later steps are dropped; e.g. after a run diverged)",
            ),
        ] = None,
        device: Annotated[str | None, typer.Option(help="cpu, cuda, cuda:N or auto")] = None,
        seed: Annotated[int | None, typer.Option(help="random seed")] = None,
        solve_from: Annotated[
            str | None,
            typer.Option(
                "--solve-from", help="same-step (paper, default) or previous-step (reference)"
            ),
        ] = None,
        reward: Annotated[
            str | None,
            typer.Option(help="paper (Eq. 6, default) or legacy (ablations)"),
        ] = None,
        zero_reward_penalty: Annotated[
            float | None,
            typer.Option(help="legacy reward only: reward of a well-formed zero-reward response"),
        ] = None,
        advantage: Annotated[
            str | None, typer.Option(help="trr++ (default), token_whiten (reference) or grpo")
        ] = None,
        sets: Annotated[
            list[str] | None,
            typer.Option("--set", help="any config value, e.g. --set selfplay.batch_size=8"),
        ] = None,
        isolation: Annotated[
            str | None,
            typer.Option(help=f"sandbox: {ISOLATION_HELP}"),
        ] = None,
        report_to: Annotated[
            list[str] | None,
            typer.Option(
                "--report-to",
                metavar="NAMES",
                help="experiment tracking: none, tensorboard (default), wandb, mlflow; repeat "
                "or comma-separate (wandb and mlflow are the azr[wandb] / azr[mlflow] extras)",
            ),
        ] = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="only warnings")] = False,
    ) -> None:
        """Self-play training. With no arguments: Qwen2.5-Coder-0.5B on CPU, preset cpu-qwen."""
        import sys
        import time

        from azr.commands.train_checks import (
            announcing_executor,
            dir_size,
            human_size,
            is_run_dir,
            resume_with_flags,
        )
        from azr.config import resolve_config
        from azr.deps import require_model_backend
        from azr.errors import UserError
        from azr.interrupts import StopRequest
        from azr.selfplay import train
        from azr.selfplay.progress import Progress
        from azr.selfplay.trainer import default_executor

        layers = _overrides(
            model, steps, device, seed, solve_from, reward, zero_reward_penalty, advantage, sets
        )
        if isolation is not None:
            layers.append({"executor": {"isolation": isolation}})
        if report_to is not None:
            from azr.tracking import parse_report_to

            trackers = parse_report_to(report_to)
            layers.append(
                {"run": {"report_to": trackers, "tensorboard": "tensorboard" in trackers}}
            )
        if from_step is not None and not resume:
            raise UserError("--from-step needs --resume --run-dir DIR (the run to go back in)")
        if from_step is not None and from_step < 1:
            raise UserError(f"--from-step must be a trained step (1 or more), not {from_step}")
        if resume:
            if run_dir is None:
                raise UserError("--resume needs --run-dir DIR (the run to continue)")
            cfg = resume_with_flags(run_dir, preset, config, layers)
            from azr.rundir import RunDir

            stored = RunDir.read_config(run_dir).get("model", {})
            if isinstance(stored, dict) and stored.get("name") != cfg.model.name:
                raise UserError(
                    f"cannot resume with a different model ({cfg.model.name!r}; "
                    f"the run trains {stored.get('name')!r})"
                )
        else:
            cfg = resolve_config(preset, config, layers)
            if run_dir is None:
                run_dir = Path("runs") / time.strftime("%Y%m%d-%H%M%S")
        require_model_backend("azr train")
        from azr.tracking import check_installed

        check_installed(cfg.run.report_to, "azr train")  # before anything loads or is written
        from azr.policy.models import check_model_name

        check_model_name(cfg.model.name)  # a wrong name fails before the header names a run
        try:  # transformers' own bars (e.g. when saving checkpoints) would break up ours
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        except ImportError:
            pass
        progress = Progress(quiet=quiet)
        header = f"azr train: model {cfg.model.name} on {cfg.model.device}, run directory {run_dir}"
        # Printed once the sandbox is up (a second) and before the model loads (minutes the
        # first time), so a missing sandbox never announces a directory that will not exist.
        executor = announcing_executor(default_executor, lambda: progress.info(header))
        stop = StopRequest(progress.info)
        try:
            summary = train(
                cfg,
                run_dir,
                resume=resume,
                from_step=from_step,
                progress=progress,
                executor_factory=executor,
                stop=stop,
            )
        except KeyboardInterrupt:
            if is_run_dir(run_dir):
                print(f"continue with: azr train --run-dir {run_dir} --resume", file=sys.stderr)
            raise
        size = human_size(dir_size(summary.run_dir))
        if summary.stopped:
            _stopped(summary, size)
        steps_done = max(0, summary.last_step - summary.first_step + 1)
        if steps_done == 0 and not resume:
            print(
                f"seeded the buffers, trained no steps (--steps {summary.last_step}); run "
                f"directory {summary.run_dir} ({size}); train with: azr train --run-dir "
                f"{summary.run_dir} --resume --steps N"
            )
            return
        if steps_done == 0:
            print(
                f"nothing to train: {summary.run_dir} is already at step "
                f"{summary.first_step - 1} (>= --steps {summary.last_step}); {size}"
            )
            return
        print(
            f"trained steps {summary.first_step}..{summary.last_step} ({steps_done} this run) "
            f"in {summary.seconds:.0f}s; run directory {summary.run_dir} ({size})"
        )
