"""`azr validate`: proposal validation (docs/algorithm.md, section 4) of a JSONL file, one result
per line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from azr.commands import ISOLATION_HELP, PlainUsage, check_isolation

# Lines are validated in chunks so the progress bar moves; each chunk is one executor call.
CHUNK = 512


def _bad(item_id: Any, reason: str, expected: bool) -> dict[str, Any]:
    row: dict[str, Any] = {"id": item_id, "valid": False, "output": None, "reason": reason}
    if expected:
        row["matches"] = False
    return row


Item = tuple[int, Any, dict[str, Any], Any]  # (slot, spec, payload, plan)


def load_lines(
    path: Path, task_type: str, settings: Any
) -> tuple[list[dict[str, Any] | None], list[Item]]:
    """Results pre-filled for malformed lines (None elsewhere) and (slot, spec, payload, plan)
    for the others: each line is checked as a task of its own `task_type` field, else of
    `task_type`."""
    from azr.errors import UserError
    from azr.jsonl import iter_jsonl
    from azr.tasks.types import get

    try:
        lines = list(iter_jsonl(path))
    except FileNotFoundError:
        raise UserError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a directory, not a JSONL file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    if not lines:
        raise UserError(f"{path} is empty: no JSONL lines to validate")
    results: list[dict[str, Any] | None] = []
    items: list[Item] = []
    for line in lines:
        lineno, row = line.lineno, line.row
        if row is None:
            results.append(_bad(f"line {lineno}", f"malformed line: {line.problem}", False))
            continue
        item_id = row.get("id", f"line {lineno}")
        try:
            spec = get(row.get("task_type", task_type))
            plan = spec.plan_check(row, settings)
        except ValueError as exc:
            stated = any(k in row for k in ("output", "error", "visible", "hidden"))
            results.append(_bad(item_id, f"malformed line: {exc}", stated))
            continue
        slot = len(results)
        results.append({"id": item_id})
        items.append((slot, spec, row, plan))
    return results, items


def register(app: typer.Typer) -> None:
    """Add the command to the `azr` app."""

    @app.command(
        "validate",
        cls=PlainUsage,
        short_help="Validate proposals (program + input) in the sandbox.",
    )
    def validate(
        file: Annotated[
            Path,
            typer.Argument(
                metavar="FILE", help="JSONL: program (or code), input, optional output and id."
            ),
        ],
        out: Annotated[
            Path | None, typer.Option("--out", help="Write results here, not stdout.")
        ] = None,
        workers: Annotated[
            int, typer.Option("--workers", help="Sandbox workers (0 = one per CPU core).")
        ] = 0,
        timeout: Annotated[float, typer.Option("--timeout", help="Seconds per execution.")] = 10.0,
        memory: Annotated[
            int, typer.Option("--memory", help="Address-space limit per worker, in MiB.")
        ] = 2048,
        isolation: Annotated[
            str,
            typer.Option("--isolation", help=f"Sandbox isolation: {ISOLATION_HELP}."),
        ] = "auto",
        task_type: Annotated[
            str | None,
            typer.Option(
                "--task-type",
                help="Task type of lines without a task_type field (any registered type; "
                "default: the first one a run trains by default, deduction).",
            ),
        ] = None,
    ) -> None:
        """Validate proposals; last stdout line `N passed, M failed`; exit 0 iff all pass."""
        from rich.console import Console
        from rich.progress import Progress as RichProgress

        from azr.errors import UserError
        from azr.sandbox import Executor, SandboxConfig
        from azr.tasks.engine import run_plans
        from azr.tasks.types import ProposalSettings, get

        if timeout <= 0:
            raise UserError("--timeout must be positive")
        if workers < 0:
            raise UserError("--workers must be 0 (automatic) or positive")
        if memory < 64:
            raise UserError("--memory must be at least 64 (MiB)")
        check_isolation(isolation)
        from azr.tasks.types import default_enabled

        task_type = task_type or default_enabled()[0]
        try:
            get(task_type)
        except ValueError as exc:
            raise UserError(f"--task-type: {exc}") from None
        results, items = load_lines(file, task_type, ProposalSettings(timeout_s=timeout))
        config = SandboxConfig(
            workers=workers or None, timeout_s=timeout, memory_mb=memory, isolation=isolation
        )
        executor = Executor(config) if items else None  # SandboxUnavailable is a UserError
        try:
            console = Console(stderr=True)
            # A bar only on a terminal: elsewhere it would leave a blank line on stderr.
            quiet = not items or not console.is_terminal
            with RichProgress(console=console, transient=True, disable=quiet) as progress:
                bar = progress.add_task("validating", total=len(items))
                for start in range(0, len(items), CHUNK):
                    chunk = items[start : start + CHUNK]
                    assert executor is not None
                    verdicts = run_plans(executor, [plan for *_, plan in chunk])
                    for (slot, spec, payload, _), verdict in zip(chunk, verdicts, strict=True):
                        row = results[slot]
                        assert row is not None
                        valid, reason, task = verdict
                        report = spec.check_report(payload, task if valid else None)
                        row.update(valid=valid, output=report.get("output"), reason=reason)
                        if "matches" in report:
                            row["matches"] = report["matches"]
                    progress.advance(bar, len(chunk))
        finally:
            if executor is not None:
                executor.close()
        passed = sum(
            1 for r in results if r is not None and r.get("valid") and r.get("matches", True)
        )
        failed = len(results) - passed
        lines = [json.dumps(r, ensure_ascii=False) for r in results]
        if out is not None:
            try:
                out.write_text("".join(x + "\n" for x in lines), encoding="utf-8")
            except OSError as exc:
                raise UserError(f"cannot write {out}: {exc}") from None
        else:
            sys.stdout.write("".join(x + "\n" for x in lines))
        print(f"{passed} passed, {failed} failed")
        sys.stdout.flush()
        raise typer.Exit(0 if failed == 0 else 1)
