"""`azr grade`: grade solver completions (docs/algorithm.md, section 5) from JSONL, one result
per line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from azr.commands import ISOLATION_HELP, PlainUsage, check_isolation

# Lines are graded in chunks, one sandbox batch per chunk, so the progress bar moves.
CHUNK = 256


def _bad(item_id: Any, reason: str) -> dict[str, Any]:
    return {"id": item_id, "format_ok": False, "correct": False, "reward": None, "reason": reason}


def _load(path: Path) -> tuple[list[dict[str, Any] | None], list[tuple[Any, Any, Any, str]]]:
    """Results pre-filled for bad lines (None elsewhere) and (slot, type, task, completion)."""
    from azr.errors import UserError
    from azr.jsonl import iter_jsonl
    from azr.tasks import TaskType
    from azr.tasks.types import get

    try:
        lines = list(iter_jsonl(path))
    except FileNotFoundError:
        raise UserError(f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    if not lines:
        raise UserError(f"{path} is empty: no JSONL lines to grade")
    results: list[dict[str, Any] | None] = []
    items: list[tuple[Any, Any, Any, str]] = []
    for line in lines:
        lineno, row = line.lineno, line.row
        slot = len(results)
        if row is None:
            results.append(_bad(f"line {lineno}", f"bad line: {line.problem}"))
            continue
        item_id = row.get("id", f"line {lineno}")
        try:
            task_type = TaskType(row.get("task_type"))
        except ValueError:
            results.append(_bad(item_id, f"bad line: unknown task_type {row.get('task_type')!r}"))
            continue
        completion = row.get("completion")
        if not isinstance(completion, str):
            results.append(_bad(item_id, "bad line: missing field 'completion' (a string)"))
            continue
        try:
            task: Any = get(task_type).from_dict(row)
        except ValueError as exc:
            results.append(_bad(item_id, f"bad line: {exc}"))
            continue
        results.append(None)
        items.append((slot, task_type, task, completion))
        results[slot] = {"id": item_id}
    return results, items


def register(app: typer.Typer) -> None:
    """Add the command to the `azr` app."""

    @app.command(
        "grade", cls=PlainUsage, short_help="Grade solver completions against their tasks."
    )
    def grade(
        file: Annotated[
            Path,
            typer.Argument(metavar="FILE", help="JSONL: id, task_type, the task, completion."),
        ],
        out: Annotated[
            Path | None, typer.Option("--out", help="Write results here, not stdout.")
        ] = None,
        workers: Annotated[
            int, typer.Option("--workers", help="Sandbox workers (0 = automatic).")
        ] = 0,
        timeout: Annotated[float, typer.Option("--timeout", help="Seconds per execution.")] = 10.0,
        isolation: Annotated[
            str, typer.Option("--isolation", help=f"Sandbox isolation: {ISOLATION_HELP}.")
        ] = "auto",
        reward: Annotated[
            str,
            typer.Option(
                "--reward",
                help="paper (Eq. 6: format error -1, wrong -0.5, correct 1) or legacy.",
            ),
        ] = "paper",
        zero_reward_penalty: Annotated[
            float,
            typer.Option(
                "--zero-reward-penalty",
                help="Legacy scheme only: reward of a well-formed wrong answer.",
            ),
        ] = 0.0,
        primed: Annotated[
            bool, typer.Option("--primed/--unprimed", help="Completions start inside <think>.")
        ] = True,
    ) -> None:
        """Grade solver completions; last stdout line `N passed, M failed`; exit 0 iff all pass."""
        from rich.progress import Progress as RichProgress

        from azr.errors import UserError
        from azr.rewards import SCHEMES, answer_reward
        from azr.tasks.engine import grade_mixed
        from azr.tasks.types import get

        if reward not in SCHEMES:
            raise UserError(f"--reward must be one of: {', '.join(SCHEMES)} (got {reward!r})")
        if timeout <= 0:
            raise UserError("--timeout must be positive")
        if workers < 0:
            raise UserError("--workers must be 0 (automatic) or positive")
        results, items = _load(file)
        needs_sandbox = any(get(tt).grading_runs_code for _, tt, _, _ in items)
        executor = _make_executor(workers, timeout, isolation) if needs_sandbox else None
        try:
            console = _stderr_console()
            # A bar only on a terminal: elsewhere it would leave a blank line on stderr.
            quiet = not items or not console.is_terminal
            with RichProgress(console=console, transient=True, disable=quiet) as progress:
                bar = progress.add_task("grading", total=len(items))
                for start in range(0, len(items), CHUNK):
                    chunk = items[start : start + CHUNK]
                    graded = grade_mixed(
                        executor, [(tt, task, text) for _, tt, task, text in chunk], primed
                    )
                    for (slot, _, _, _), res in zip(chunk, graded, strict=True):
                        row = results[slot]
                        assert row is not None
                        row.update(
                            format_ok=res.format_ok,
                            correct=res.correct,
                            reward=answer_reward(
                                res.format_ok,
                                res.correct,
                                scheme=reward,  # type: ignore[arg-type]
                                zero_reward_penalty=zero_reward_penalty,
                            ),
                            reason=res.reason,
                        )
                    progress.advance(bar, len(chunk))
        finally:
            if executor is not None:
                executor.close()
        passed = sum(1 for r in results if r is not None and r.get("correct"))
        failed = len(results) - passed
        lines = [json.dumps(r, ensure_ascii=False) for r in results]
        if out is not None:
            try:
                out.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
            except OSError as exc:
                raise UserError(f"cannot write {out}: {exc}") from None
        else:
            for line in lines:
                print(line)
        print(f"{passed} passed, {failed} failed")
        sys.stdout.flush()
        raise typer.Exit(0 if failed == 0 else 1)


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _make_executor(workers: int, timeout: float, isolation: str) -> Any:
    from azr.errors import UserError
    from azr.sandbox import Executor, SandboxConfig, SandboxUnavailable

    kwargs: dict[str, Any] = {"timeout_s": timeout, "isolation": check_isolation(isolation)}
    if workers:
        kwargs["workers"] = workers
    try:
        config = SandboxConfig(**kwargs)
    except (ValueError, TypeError) as exc:
        raise UserError(f"bad sandbox option: {exc}") from None
    try:
        return Executor(config)
    except (ValueError, SandboxUnavailable) as exc:
        raise UserError(f"cannot start the sandbox: {exc}") from None
