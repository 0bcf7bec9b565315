"""Measured results kept in a run directory: what `azr eval --out DIR` and
`benchmarks/learning.py eval --out DIR` wrote, when DIR is the run directory or one folder in it.

`find_results(run_dir)` looks at RUN/ and its direct subfolders (never inside checkpoints or
tracker folders) for `summary.json` files of `azr eval` (pass@k per model and benchmark) and
`eval-*.json` files of `benchmarks/learning.py` (held-out solver and proposer rates, CRUXEval-O,
one file per evaluated checkpoint). The report (`render.py`) and the model card of `azr export`
show them as tables. Nothing here imports torch or matplotlib; unreadable files become notes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Folders of a run directory that never hold results (and can be large).
SKIP_DIRS = frozenset({"checkpoints", "tb", "wandb", "mlruns", "__pycache__"})
# Plots the two tools write beside their JSON, in the order the report shows them.
EVAL_PLOTS = ("passk.png",)
STUDY_PLOTS = ("rates.png", "passk.png", "train-rewards.png")
# The measures of a learning study, in the order its table lists them (role, metric).
STUDY_MEASURES = (
    ("solver", "solve_rate"),
    ("solver", "format_rate"),
    ("proposer", "valid_rate"),
    ("proposer", "format_rate"),
)


@dataclass
class EvalRun:
    """One `azr eval --out` directory: its summary rows and pass@k plot."""

    path: Path
    rows: list[dict[str, Any]]  # summary.json "results": benchmark, model, n, pass@k, ci95
    plots: list[Path] = field(default_factory=list)


@dataclass
class Study:
    """One `benchmarks/learning.py` study directory: its evaluations, by step."""

    path: Path
    evals: list[dict[str, Any]]  # eval-*.json without their samples, sorted by step
    plots: list[Path] = field(default_factory=list)


@dataclass
class Results:
    """Everything measured that sits in a run directory."""

    evals: list[EvalRun] = field(default_factory=list)
    studies: list[Study] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.evals or self.studies)


def _candidates(run_dir: Path) -> list[Path]:
    folders = [run_dir]
    try:
        children = sorted(run_dir.iterdir())
    except OSError:
        return folders
    folders += [c for c in children if c.is_dir() and c.name not in SKIP_DIRS]
    return folders


def _read_json(path: Path, notes: list[str]) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        notes.append(f"{path.name} in {path.parent} is unreadable ({type(exc).__name__}); skipped")
        return None


def find_results(run_dir: Path) -> Results:
    """The `azr eval` summaries and learning studies in `run_dir` and its direct subfolders."""
    found = Results()
    for folder in _candidates(Path(run_dir)):
        summary = folder / "summary.json"
        if summary.is_file():
            data = _read_json(summary, found.notes)
            rows = data.get("results") if isinstance(data, dict) else None
            if isinstance(rows, list) and rows:
                rows = [
                    r for r in rows if isinstance(r, dict) and isinstance(r.get("pass@k"), dict)
                ]
                if rows:
                    plots = [folder / p for p in EVAL_PLOTS if (folder / p).is_file()]
                    found.evals.append(EvalRun(folder, rows, plots))
        evals = []
        for path in sorted(folder.glob("eval-*.json")):
            data = _read_json(path, found.notes)
            if isinstance(data, dict) and isinstance(data.get("solver"), dict):
                data.pop("samples", None)  # every answer: large, and the report shows none
                data.setdefault("label", path.stem[len("eval-") :])
                evals.append(data)
        if evals:
            evals.sort(key=lambda e: (_step_key(e.get("step")), str(e.get("label"))))
            plots = [folder / p for p in STUDY_PLOTS if (folder / p).is_file()]
            found.studies.append(Study(folder, evals, plots))
    return found


def _step_key(step: Any) -> float:
    return float(step) if isinstance(step, int | float) and not isinstance(step, bool) else math.inf


# ----------------------------------------------------------------- tables (text cells)


def percent(value: Any) -> str:
    """A rate as a percentage with one decimal ('–' when missing or NaN)."""
    if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
        return "–"
    return f"{100 * value:.1f} %"


def _with_ci(value: Any, lo: Any, hi: Any) -> str:
    """'12.5 % [8.0, 17.0]': a rate and its 95 % CI, in percent."""
    text = percent(value)
    if text != "–" and percent(lo) != "–" and percent(hi) != "–":
        text += f" [{100 * lo:.1f}, {100 * hi:.1f}]"
    return text


def eval_table(run: EvalRun) -> tuple[list[str], list[list[str]]]:
    """Header and rows of an `azr eval` summary: pass@k with its 95 % CI per model x benchmark."""
    ks: list[str] = []
    for row in run.rows:
        for k in row["pass@k"]:
            if k not in ks:
                ks.append(k)
    ks.sort(key=lambda k: int(k) if str(k).isdigit() else 0)
    header = ["model", "benchmark", "problems", "n", *(f"pass@{k} (95 % CI)" for k in ks)]
    rows = []
    for row in run.rows:
        cells = [str(row.get("model", "?")), str(row.get("benchmark", "?"))]
        cells += [str(row.get("problems", "–")), str(row.get("n", "–"))]
        ci = row.get("ci95") or {}
        for k in ks:
            bounds = ci.get(k)
            lo, hi = bounds if isinstance(bounds, list) and len(bounds) == 2 else (None, None)
            cells.append(_with_ci(row["pass@k"].get(k), lo, hi))
        rows.append(cells)
    return header, rows


def _rate_cell(entry: Any) -> str:
    if not isinstance(entry, dict) or not entry.get("items"):
        return "–"
    text = _with_ci(entry.get("value"), entry.get("lo"), entry.get("hi"))
    return text + f" ({entry['items']})"


def study_table(study: Study) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a learning study: each measure (95 % CI, items) at each evaluated step."""
    header = ["measure"]
    for e in study.evals:
        step = e.get("step")
        header.append(f"step {step}" if step is not None else str(e.get("label")))
    keys: dict[str, list[str]] = {"solver": [], "proposer": []}
    for e in study.evals:
        for role in keys:
            for key in e.get(role) or {}:
                if key not in keys[role]:
                    keys[role].append(key)
    rows = []
    for role, metric in STUDY_MEASURES:
        for key in keys[role]:
            cells = [
                _rate_cell(((e.get(role) or {}).get(key) or {}).get(metric)) for e in study.evals
            ]
            if any(c != "–" for c in cells):
                rows.append([f"{role} {key} {metric.replace('_', ' ')}", *cells])
    return header, rows


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table (pipes in cells escaped)."""

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), "|" + "---|" * len(header), *(line(r) for r in rows)])
