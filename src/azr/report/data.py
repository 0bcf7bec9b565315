"""Reading a run directory for the report: metrics, config, samples (streamed), buffer diversity.

Everything here tolerates a run that is still going or that crashed: a truncated last JSONL
line, a missing samples file or an unreadable SQLite store become notes in the report, not
errors. Only a missing directory or a run without a single readable metrics line is the user's
mistake (`UserError`).
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azr.errors import UserError
from azr.jsonl import iter_jsonl
from azr.report.results import Results, find_results
from azr.tasks.normalize import normalize_program

# Per-group metric names look like "<task type>/proposer/reward" (a type is any identifier).
_GROUP_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)/(proposer|solver)/([A-Za-z_]+)$")
# Purposes whose samples are trained on; learnability attempts and seeding are shown only
# when a group has nothing better.
_MAIN_PURPOSES = ("propose", "solve")
# A chain of thought longer than this is cut in the report (the full text stays in the file).
MAX_COMPLETION_CHARS = 20_000


@dataclass
class Sample:
    """One generation chosen for display."""

    step: int | None
    purpose: str
    task_type: str
    role: str
    completion: str
    prompt: str | None
    reward: Any
    format_ok: Any
    valid: Any
    correct: Any
    reason: Any
    tokens: Any
    task: Any
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class SampleScan:
    """What one pass over samples.jsonl found."""

    latest: dict[tuple[str, str], Sample] = field(default_factory=dict)
    latest_good: dict[tuple[str, str], Sample] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    lines: int = 0
    bad_lines: int = 0
    note: str | None = None


@dataclass
class Diversity:
    """Distinct programs per task type in buffers.sqlite (live and ever stored)."""

    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    note: str | None = None


@dataclass
class RunData:
    """Everything the report shows, read from one run directory."""

    path: Path
    metrics: list[dict[str, Any]]
    config: dict[str, Any] | None
    config_note: str | None
    metrics_notes: list[str]
    samples: SampleScan
    diversity: Diversity
    results: Results = field(default_factory=Results)  # azr eval / learning.py results here

    @property
    def configured_types(self) -> list[str]:
        """The run's task types as its config lists them (`selfplay.task_types`), if it does."""
        return configured_types(self.config)

    @property
    def groups(self) -> list[tuple[str, str]]:
        """(task type, role) pairs seen in the metrics, task types in the run's order."""
        seen: set[tuple[str, str]] = set()
        for row in self.metrics:
            for key in row:
                m = _GROUP_KEY.match(key)
                if m:
                    seen.add((m.group(1), m.group(2)))
        return sorted(seen, key=lambda g: (*type_rank(g[0], self.configured_types), g[1]))

    @property
    def task_types(self) -> list[str]:
        """Task types seen in the metrics, canonical order first."""
        out: list[str] = []
        for task_type, _ in self.groups:
            if task_type not in out:
                out.append(task_type)
        return out


def _number(value: Any) -> float | None:
    """A finite-or-NaN float for a metric value, None for anything that is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def series(metrics: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """(steps, values) of one metric, skipping steps where it is absent or not a number."""
    xs: list[float] = []
    ys: list[float] = []
    for row in metrics:
        y = _number(row.get(key))
        x = _number(row.get("step"))
        if y is not None and x is not None and not math.isinf(y):
            xs.append(x)
            ys.append(y)
    return xs, ys


def read_metrics(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Step records from metrics.jsonl, last record per step, in step order, plus notes."""
    try:
        lines = list(iter_jsonl(path, errors="replace"))
    except FileNotFoundError:
        raise UserError(f"{path.parent} is not a run directory: no {path.name}") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    notes: list[str] = []
    by_step: dict[int, dict[str, Any]] = {}
    bad = 0
    for line in lines:
        row = line.row
        if row is None:
            if line.terminated:
                bad += 1
            else:
                # A trainer killed mid-append leaves a partial last line; --resume truncates it.
                notes.append("the last line of metrics.jsonl is incomplete and was skipped")
            continue
        step = row.get("step")
        if not isinstance(step, int) or isinstance(step, bool):
            bad += 1
            continue
        by_step[step] = row  # a redone step (after a resume) replaces the earlier one
    if bad:
        notes.append(f"{bad} unreadable line(s) in metrics.jsonl were skipped")
    if not by_step:
        raise UserError(f"{path} holds no step records (has the run finished a step yet?)")
    return [by_step[s] for s in sorted(by_step)], notes


def read_config(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The resolved config as a dict, or None and a note saying why not."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, "config.yaml is missing"
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, f"config.yaml is unreadable: {first}"
    if not isinstance(data, dict):
        return None, "config.yaml is not a mapping"
    return data, None


def _is_good(row: dict[str, Any]) -> bool:
    """A valid proposal or a correct answer: the samples worth showing beside the latest."""
    return bool(row.get("valid")) if row.get("role") == "proposer" else bool(row.get("correct"))


def _sample(row: dict[str, Any]) -> Sample:
    step = row.get("step")
    prompt = row.get("prompt")
    return Sample(
        step=step if isinstance(step, int) else None,
        purpose=str(row.get("purpose", "")),
        task_type=str(row.get("task_type", "")),
        role=str(row.get("role", "")),
        completion=str(row.get("completion") or ""),
        prompt=prompt if isinstance(prompt, str) else None,
        reward=row.get("reward"),
        format_ok=row.get("format_ok"),
        valid=row.get("valid"),
        correct=row.get("correct"),
        reason=row.get("reason"),
        tokens=row.get("tokens"),
        task=row.get("task"),
        # Shown when the trainer logged them: learnability estimate, advantage, why it stopped.
        extra={k: row[k] for k in ("solve_rate", "advantage", "finish_reason") if k in row},
    )


def scan_samples(path: Path) -> SampleScan:
    """One streaming pass: latest (and latest good) sample per task type x role, counts."""
    scan = SampleScan()
    # Seed and learnability samples stand in only until a propose/solve sample shows up.
    fallback: dict[tuple[str, str], Sample] = {}
    try:
        for line in iter_jsonl(path, errors="replace"):
            row = line.row
            scan.lines += 1
            if row is None:
                scan.bad_lines += 1
                continue
            purpose = str(row.get("purpose", "?"))
            scan.counts[purpose] = scan.counts.get(purpose, 0) + 1
            group = (str(row.get("task_type", "?")), str(row.get("role", "?")))
            if purpose in _MAIN_PURPOSES:
                scan.latest[group] = _sample(row)
            else:
                fallback[group] = _sample(row)
            if purpose in _MAIN_PURPOSES and _is_good(row):
                scan.latest_good[group] = _sample(row)
    except FileNotFoundError:
        scan.note = "samples.jsonl is missing"
    except OSError as exc:
        scan.note = f"samples.jsonl is unreadable: {exc.strerror or exc}"
    for group, sample in fallback.items():
        scan.latest.setdefault(group, sample)
    return scan


def configured_types(config: dict[str, Any] | None) -> list[str]:
    """`selfplay.task_types` of a resolved config, or [] when it has none."""
    selfplay = (config or {}).get("selfplay")
    listed = selfplay.get("task_types") if isinstance(selfplay, dict) else None
    if not isinstance(listed, list):
        return []
    return [t for t in listed if isinstance(t, str)]


def type_rank(task_type: str, order: Sequence[str]) -> tuple[int, str]:
    """Sort key of a task type: the run's order first, then any other by name."""
    return (order.index(task_type), "") if task_type in order else (len(order), task_type)


def read_diversity(path: Path, order: Sequence[str] = ()) -> Diversity:
    """Distinct programs per task type (in `order`, the run's, then by name), read-only, so a
    running trainer is never disturbed."""
    div = Diversity()
    if not path.is_file():
        div.note = "buffers.sqlite is missing"
        return div
    programs: dict[str, dict[str, set[str]]] = {}
    counts: dict[str, dict[str, int]] = {}
    try:
        # With no -wal beside it, no trainer has the database open and every change is in the
        # main file: read it as immutable, which creates no -wal/-shm files to leave behind.
        # Otherwise read it like any WAL reader (those files exist already).
        live = path.with_name(path.name + "-wal").exists()
        mode = "mode=ro" if live else "immutable=1"
        db = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True, timeout=5)
        try:
            rows = db.execute("SELECT task_type, payload, evicted_step FROM tasks")
            for task_type, payload, evicted in rows:
                try:
                    program = str(json.loads(payload).get("program", ""))
                except (json.JSONDecodeError, AttributeError, TypeError):
                    continue
                kind = "live" if evicted is None else "evicted"
                per = programs.setdefault(str(task_type), {"live": set(), "all": set()})
                norm = normalize_program(program)
                per["all"].add(norm)
                if kind == "live":
                    per["live"].add(norm)
                c = counts.setdefault(str(task_type), {"live": 0, "evicted": 0})
                c[kind] += 1
        finally:
            db.close()
    except sqlite3.Error as exc:
        div.note = f"buffers.sqlite is unreadable: {exc}"
        return div
    for task_type in sorted(programs, key=lambda t: type_rank(t, order)):
        div.rows[task_type] = {
            "tasks": counts[task_type]["live"],
            "distinct_programs": len(programs[task_type]["live"]),
            "evicted_tasks": counts[task_type]["evicted"],
            "distinct_programs_ever": len(programs[task_type]["all"]),
        }
    return div


def load_run(run_dir: Path) -> RunData:
    """Read a run directory; UserError if it is missing or has no readable metrics."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise UserError(f"no such run directory: {run_dir}")
    if not run_dir.is_dir():
        raise UserError(f"not a run directory (a file): {run_dir}")
    metrics, notes = read_metrics(run_dir / "metrics.jsonl")
    config, config_note = read_config(run_dir / "config.yaml")
    return RunData(
        path=run_dir,
        metrics=metrics,
        config=config,
        config_note=config_note,
        metrics_notes=notes,
        samples=scan_samples(run_dir / "samples.jsonl"),
        diversity=read_diversity(run_dir / "buffers.sqlite", configured_types(config)),
        results=find_results(run_dir),
    )
