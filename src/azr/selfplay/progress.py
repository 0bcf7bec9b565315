"""Live progress on stderr (rich): the current phase with its elapsed time, done/total
responses and an estimate of the time left for generation, and a summary table per step.

On a terminal the phase is a spinner line updated every second; in a log file or a pipe it is
a line when the phase starts, one every `interval` seconds while it runs (`AZR_PROGRESS_INTERVAL`,
default 20) and, for generation, one when it ends, so `tail -f` on a log answers "how long?".
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.table import Table

from azr.policy.base import GenerationProgress, ProgressFn

DEFAULT_INTERVAL = 20.0  # seconds between progress lines in a log (not on a terminal)


def group_order(task_types: Sequence[str]) -> list[tuple[str, str]]:
    """(task type, role) rows of the step table, in the run's order of task types."""
    return [(t, r) for t in task_types for r in ("proposer", "solver")]


def _short(task_type: str) -> str:
    """A task type's short name (unique among the registered types) for the step table."""
    from azr.tasks.types import get

    try:
        return get(task_type).short
    except ValueError:
        return task_type[:3]


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


def duration(seconds: float) -> str:
    """`45s`, `3m05s`, `1h02m`: short and readable in a log line."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def estimate_left(
    elapsed: float,
    done: int,
    total: int,
    worst_case: float | None = None,
    rate: float | None = None,
) -> str:
    """The time left of a generation call, in words ("" when nothing is known yet).

    `rate`: seconds per response of the previous call of the same kind (the best guess once
    there is one); else the pace of the responses done so far. `worst_case` (the share of the
    call's worst case done, from a sampler that counts decoding steps) bounds either from above.
    Without a bound, the last tenth of the responses is named, not timed.
    """
    guess = None
    if rate is not None:
        guess = max(0.0, rate * total - elapsed)
    elif done > 0:
        guess = elapsed * (total - done) / done
    bound = None
    if worst_case is not None and worst_case > 0:
        bound = elapsed * (1.0 - min(worst_case, 1.0)) / worst_case
    if bound is None and 0 < total - done <= max(1, total // 10) and done > 0:
        # The last few replies are the long ones (a batch ends with its longest): a time from
        # the pace so far read "about 1s left" for half a minute. Say what is known instead.
        return f"last {total - done} running"
    if guess is not None and (bound is None or guess <= bound):
        return "about done" if guess < 1 else f"about {duration(guess)} left"
    if bound is not None:
        return "about done" if bound < 1 else f"at most {duration(bound)} left"
    return ""


class _Running:
    """One phase in flight: its clock and, for generation, the counts the generator reports."""

    def __init__(self, label: str, total: int | None, rate: float | None) -> None:
        self.label = label
        self.total = total
        self.rate = rate
        self.done = 0
        self.worst_case: float | None = None
        self.t0 = time.monotonic()

    def report(self, p: GenerationProgress) -> None:
        """The generator's callback: plain attribute stores, cheap enough per decoding step."""
        self.done, self.total, self.worst_case = p.done, p.total, p.worst_case

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def line(self) -> str:
        """`label: 5/12 responses, 3m10s, about 4m05s left` (or `label, 3m10s`)."""
        elapsed = self.elapsed()
        if self.total is None:
            return f"{self.label}, {duration(elapsed)}"
        parts = [f"{self.done}/{self.total} responses", duration(elapsed)]
        left = estimate_left(elapsed, self.done, self.total, self.worst_case, self.rate)
        return f"{self.label}: " + ", ".join(parts + ([left] if left else []))


class Progress:
    """What the trainer shows while it runs; quiet=True prints only warnings."""

    def __init__(self, quiet: bool = False, interval: float | None = None) -> None:
        # Wider than rich's 80-column default when not on a terminal (logs, CI), so lines of
        # the step table and warnings are not hard-wrapped.
        self.console = Console(stderr=True, highlight=False)
        if not self.console.is_terminal:
            self.console = Console(stderr=True, highlight=False, width=120)
        self.quiet = quiet
        if interval is None:
            try:
                interval = float(os.environ.get("AZR_PROGRESS_INTERVAL", DEFAULT_INTERVAL))
            except ValueError:
                interval = DEFAULT_INTERVAL
        self.interval = max(0.05, interval)
        # Seconds per response of the last generation call of each kind (proposing, solving):
        # the next call's first estimate.
        self.rates: dict[str, float] = {}

    def info(self, text: str) -> None:
        """A line of information."""
        if not self.quiet:
            self.console.print(text, soft_wrap=True)

    def warn(self, text: str) -> None:
        """A warning line (always shown)."""
        self.console.print(f"[yellow]warning:[/yellow] {text}", soft_wrap=True)

    @contextmanager
    def phase(self, label: str) -> Iterator[None]:
        """Show `label` as the current phase, with its elapsed time, while the block runs."""
        with self._running(_Running(label, None, None), f"  {label}"):
            yield

    @contextmanager
    def generation(self, label: str, total: int, kind: str = "") -> Iterator[ProgressFn]:
        """A generation phase of `total` responses; yields the callback the generator feeds.
        Its elapsed time, done/total and an estimate of the time left are shown while it runs,
        and its duration when it ends."""
        run = _Running(label, total, self.rates.get(kind) if kind else None)
        with self._running(run, f"  {label}: generating {total} responses"):
            yield run.report
        took = run.elapsed()
        if kind and total:
            self.rates[kind] = took / total
        self.info(f"  {label}: {total} responses in {duration(took)}")

    @contextmanager
    def _running(self, run: _Running, first_line: str) -> Iterator[None]:
        """Print `first_line`, then keep the phase's line fresh from a background thread: a
        spinner on a terminal (every second), a line every `interval` seconds in a log."""
        if self.quiet:
            yield
            return
        terminal = self.console.is_terminal
        status: Any = None
        if terminal:
            status = self.console.status(first_line.strip())
            status.start()
        else:
            self.console.print(first_line, soft_wrap=True)
        stop = threading.Event()

        def tick() -> None:
            last = time.monotonic()
            while not stop.wait(1.0 if terminal else min(1.0, self.interval)):
                if terminal:
                    status.update(run.line())
                elif time.monotonic() - last >= self.interval:
                    last = time.monotonic()
                    self.console.print(f"  {run.line()}", soft_wrap=True)

        thread = threading.Thread(target=tick, name="azr-progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            if status is not None:
                status.stop()

    def step_done(
        self, step: int, total: int, metrics: dict[str, Any], task_types: Sequence[str]
    ) -> None:
        """Print the summary table of a finished step (rows: the run's `task_types`)."""
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
        for task_type, role in group_order(task_types):
            key = f"{task_type}/{role}"
            if f"{key}/reward" not in metrics:
                continue
            solve = metrics.get(f"{key}/solve_rate")
            table.add_row(
                f"{_short(task_type)}.{role[:4]}",
                f"{metrics[f'{key}/reward']:+.2f}",
                f"{metrics[f'{key}/valid_rate']:.0%}",
                "-" if solve is None else f"{solve:.0%}",
                f"{metrics[f'{key}/response_tokens']:.0f}",
            )
        self.console.print(table)
        sizes = " ".join(
            f"{_short(t)}={metrics[f'buffer/{t}']}" for t in task_types if f"buffer/{t}" in metrics
        )
        self.console.print(f"  buffers: {sizes}")
