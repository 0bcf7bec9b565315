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


def load_lines(
    path: Path,
) -> tuple[list[dict[str, Any] | None], list[tuple[int, str, str, str | None]]]:
    """Results pre-filled for malformed lines (None elsewhere) and (slot, program, input, output)."""
    from azr.errors import UserError
    from azr.jsonl import iter_jsonl

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
    items: list[tuple[int, str, str, str | None]] = []
    for line in lines:
        lineno, row = line.lineno, line.row
        if row is None:
            results.append(_bad(f"line {lineno}", f"malformed line: {line.problem}", False))
            continue
        item_id = row.get("id", f"line {lineno}")
        program = row.get("program", row.get("code"))
        input_text = row.get("input")
        expected = row.get("output")
        has_expected = "output" in row
        if not isinstance(program, str):
            reason = "malformed line: missing field 'program' (or 'code'), a string"
            results.append(_bad(item_id, reason, has_expected))
            continue
        if not isinstance(input_text, str):
            reason = "malformed line: missing field 'input', a string"
            results.append(_bad(item_id, reason, has_expected))
            continue
        if has_expected and not isinstance(expected, str):
            reason = "malformed line: field 'output' must be a string (a Python literal)"
            results.append(_bad(item_id, reason, True))
            continue
        slot = len(results)
        results.append({"id": item_id})
        items.append((slot, program, input_text, expected if has_expected else None))
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
    ) -> None:
        """Validate proposals; last stdout line `N passed, M failed`; exit 0 iff all pass."""
        from rich.console import Console
        from rich.progress import Progress as RichProgress

        from azr.errors import UserError
        from azr.sandbox import Executor, SandboxConfig
        from azr.sandbox.validate import validate_triplets
        from azr.sandbox.values import literals_match

        if timeout <= 0:
            raise UserError("--timeout must be positive")
        if workers < 0:
            raise UserError("--workers must be 0 (automatic) or positive")
        if memory < 64:
            raise UserError("--memory must be at least 64 (MiB)")
        check_isolation(isolation)
        results, items = load_lines(file)
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
                    checks = validate_triplets(executor, [(p, i) for _, p, i, _ in chunk])
                    for (slot, _, _, expected), check in zip(chunk, checks, strict=True):
                        row = results[slot]
                        assert row is not None
                        output = check.output if check.valid else None
                        row.update(valid=check.valid, output=output, reason=check.reason)
                        if expected is not None:
                            row["matches"] = output is not None and literals_match(expected, output)
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
