"""One module per `azr` subcommand; each exposes `register(app)` and imports lazily."""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand

# `--isolation` of every command that runs model-written code (azr.sandbox.api.ISOLATION_MODES).
ISOLATION_HELP = (
    "auto (default) or bwrap: a bubblewrap jail, refusing to start without one; "
    "none: no OS boundary (unsafe)"
)


def check_isolation(value: str) -> str:
    """`value` when it is an isolation mode, else a UserError naming the valid ones."""
    from azr.errors import UserError
    from azr.sandbox.api import ISOLATION_MODES

    if value not in ISOLATION_MODES:
        raise UserError(f"--isolation must be one of {', '.join(ISOLATION_MODES)}, not {value!r}")
    return value


class PlainUsage(TyperCommand):
    """A command whose usage line names its arguments as `FILE`, not typer's `{FILE}`."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces: list[str] = super().collect_usage_pieces(ctx)
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]
