"""`azr report RUN_DIR`: a self-contained HTML report (plots, tables, samples) of a run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from azr.commands import PlainUsage


def register(app: typer.Typer) -> None:
    """Add the command to the `azr` app."""

    @app.command(
        "report", cls=PlainUsage, short_help="Write RUN_DIR/report.html: plots, tables, samples."
    )
    def report(
        run_dir: Annotated[
            Path,
            typer.Argument(metavar="RUN_DIR", help="A run directory written by `azr train`."),
        ],
        out: Annotated[
            Path | None,
            typer.Option("--out", help="Write the HTML here (default RUN_DIR/report.html)."),
        ] = None,
    ) -> None:
        """Write RUN_DIR/report.html: run summary, per-step plots, last-step table, samples.

        The last stdout line is a JSON summary whose `report` field is the path written.
        """
        # Imported here so `azr --help` does not pay for the report's imports.
        from azr.report import write_report

        summary = write_report(run_dir, out)
        print(json.dumps(summary))
