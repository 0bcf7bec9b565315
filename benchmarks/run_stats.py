"""What a run's samples say, window by window: is the solver's pass rate on its own tasks
spread between 0 and 1 (what RL learns from), and does it move?

    python3 benchmarks/run_stats.py RUN_DIR [--window 10] [--json OUT.json]

Reads RUN_DIR/samples.jsonl (every response of every step, written by `azr train`). Per window
of steps and task type:

* the **per-task solve-rate distribution**: each valid proposal's task was attempted n times
  by the solver (the learnability attempts, `selfplay.learnability_samples`); its solve rate is
  the share of correct attempts. Counted: tasks never solved (0), solved sometimes (strictly
  between 0 and 1: the only ones whose learnability reward is not 0), always solved (1);
* the solver's well-formed and correct rates on its training batch (role solver, purpose
  solve), and the proposer's well-formed and valid rates.

Step 0 is seeding (proposals only, no attempts).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any


def load(run: Path) -> list[dict[str, Any]]:
    path = run / "samples.jsonl"
    if not path.is_file():
        sys.exit(f"run_stats: {path} not found (is {run} an azr run directory?)")
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def window_of(step: int, window: int) -> tuple[int, int]:
    if step == 0:
        return (0, 0)
    start = (step - 1) // window * window + 1
    return (start, start + window - 1)


def stats(rows: list[dict[str, Any]], window: int) -> dict[str, Any]:
    by: dict[tuple[tuple[int, int], str], dict[str, Any]] = defaultdict(
        lambda: {
            "rates": [],
            "solve": [0, 0, 0],
            "propose": [0, 0, 0],
            "steps": set(),
        }
    )
    for r in rows:
        key = (window_of(int(r["step"]), window), r["task_type"])
        cell = by[key]
        cell["steps"].add(int(r["step"]))
        if r["role"] == "proposer" and r["purpose"] in ("propose", "seed"):
            cell["propose"][0] += 1
            cell["propose"][1] += bool(r.get("format_ok"))
            cell["propose"][2] += bool(r.get("valid"))
            if r.get("valid") and r.get("solve_rate") is not None:
                cell["rates"].append(float(r["solve_rate"]))
        elif r["role"] == "solver" and r["purpose"] == "solve":
            cell["solve"][0] += 1
            cell["solve"][1] += bool(r.get("format_ok"))
            cell["solve"][2] += bool(r.get("correct"))
    out = {}
    for (win, tt), cell in sorted(by.items()):
        rates = cell["rates"]
        zero = sum(1 for x in rates if x == 0)
        one = sum(1 for x in rates if x == 1)
        n_solve, f_solve, c_solve = cell["solve"]
        n_prop, f_prop, v_prop = cell["propose"]
        out[f"{win[0]}-{win[1]}/{tt}"] = {
            "steps": [win[0], win[1]],
            "task_type": tt,
            "tasks_attempted": len(rates),
            "solve_rate_0": zero,
            "solve_rate_between": len(rates) - zero - one,
            "solve_rate_1": one,
            "solve_rate_histogram": _histogram(rates),
            "solver_responses": n_solve,
            "solver_well_formed": f_solve / n_solve if n_solve else None,
            "solver_correct": c_solve / n_solve if n_solve else None,
            "proposals": n_prop,
            "proposer_well_formed": f_prop / n_prop if n_prop else None,
            "proposer_valid": v_prop / n_prop if n_prop else None,
        }
    return out


def _histogram(rates: list[float]) -> dict[str, int]:
    hist: dict[str, int] = defaultdict(int)
    for x in rates:
        hist[f"{x:g}"] += 1
    return dict(sorted(hist.items(), key=lambda kv: float(kv[0])))


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.0f}"


def table(out: dict[str, Any]) -> str:
    lines = [
        "| steps | task type | tasks attempted | solve rate 0 / between / 1 | histogram | "
        "solver well-formed % | solver correct % | proposer well-formed % | proposer valid % |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for v in out.values():
        hist = ", ".join(f"{k}: {n}" for k, n in v["solve_rate_histogram"].items())
        lines.append(
            f"| {v['steps'][0]}-{v['steps'][1]} | {v['task_type']} | {v['tasks_attempted']} | "
            f"{v['solve_rate_0']} / {v['solve_rate_between']} / {v['solve_rate_1']} | {hist} | "
            f"{_pct(v['solver_well_formed'])} | {_pct(v['solver_correct'])} | "
            f"{_pct(v['proposer_well_formed'])} | {_pct(v['proposer_valid'])} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("run", type=Path, help="run directory")
    ap.add_argument("--window", type=int, default=10, help="steps per row")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = ap.parse_args(argv)
    if args.window < 1:
        ap.error("--window must be at least 1")
    out = stats(load(args.run), args.window)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    print(table(out))


if __name__ == "__main__":
    main()
