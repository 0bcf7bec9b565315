"""Live progress on stderr (rich): the current phase, and a summary table per step."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.table import Table

from azr.tasks.types import names


def group_order() -> list[tuple[str, str]]:
    """(task type, role) rows of the step table, in registry order."""
    return [(t, r) for t in names() for r in ("proposer", "solver")]


class PhaseTimer:
    """Accumulates wall time per phase (generation, execution, update, sync (weights to a separate
    generator), checkpoint, other)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.totals: dict[str, float] = defaultdict(float)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the enclosed block under `name`."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.totals[name] += time.perf_counter() - t0

    def summary(self) -> dict[str, float]:
        """Seconds per phase, `other` (bookkeeping) and the total `step`."""
        total = time.perf_counter() - self.start
        out = {f"time/{k}": round(v, 3) for k, v in self.totals.items()}
        out["time/other"] = round(max(0.0, total - sum(self.totals.values())), 3)
        out["time/step"] = round(total, 3)
        return out


class Progress:
    """What the trainer shows while it runs; quiet=True prints only warnings."""

    def __init__(self, quiet: bool = False) -> None:
        # Wider than rich's 80-column default when not on a terminal (logs, CI), so lines of
        # the step table and warnings are not hard-wrapped.
        self.console = Console(stderr=True, highlight=False)
        if not self.console.is_terminal:
            self.console = Console(stderr=True, highlight=False, width=120)
        self.quiet = quiet
        self._status: Any = None

    def info(self, text: str) -> None:
        """A line of information."""
        if not self.quiet:
            self.console.print(text, soft_wrap=True)

    def warn(self, text: str) -> None:
        """A warning line (always shown)."""
        self.console.print(f"[yellow]warning:[/yellow] {text}", soft_wrap=True)

    @contextmanager
    def phase(self, label: str) -> Iterator[None]:
        """Show `label` as the current phase (a spinner on terminals) while the block runs."""
        if self.quiet:
            yield
            return
        if not self.console.is_terminal:  # logs and pipes: one line per phase, no spinner
            self.console.print(f"  {label}", soft_wrap=True)
            yield
            return
        with self.console.status(label):
            yield

    def step_done(self, step: int, total: int, metrics: dict[str, Any]) -> None:
        """Print the summary table of a finished step."""
        if self.quiet:
            return
        # The headline is printed on its own: a table title would wrap at the table's width.
        self.console.print(
            f"step {step}/{total}  {metrics['time/step']:.1f}s: "
            f"generation {metrics.get('time/generation', 0):.1f}s, "
            f"execution {metrics.get('time/execution', 0):.1f}s, "
            f"update {metrics.get('time/update', 0):.1f}s"
            + (f", weight sync {metrics['time/sync']:.1f}s" if metrics.get("time/sync") else ""),
            soft_wrap=True,
        )
        table = Table(box=None, pad_edge=False)
        for col in ("group", "reward", "valid", "solve", "tokens"):
            table.add_column(col, justify="left" if col == "group" else "right")
        for task_type, role in group_order():
            key = f"{task_type}/{role}"
            if f"{key}/reward" not in metrics:
                continue
            solve = metrics.get(f"{key}/solve_rate")
            table.add_row(
                f"{task_type[:3]}.{role[:4]}",
                f"{metrics[f'{key}/reward']:+.2f}",
                f"{metrics[f'{key}/valid_rate']:.0%}",
                "-" if solve is None else f"{solve:.0%}",
                f"{metrics[f'{key}/response_tokens']:.0f}",
            )
        self.console.print(table)
        sizes = " ".join(
            f"{t[:3]}={metrics[f'buffer/{t}']}" for t in names() if f"buffer/{t}" in metrics
        )
        self.console.print(f"  buffers: {sizes}")
