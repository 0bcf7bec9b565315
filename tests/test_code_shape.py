"""Code-shape rules of the packages a newcomer reads first (issue 10): no function in
`selfplay/`, `tasks/` or `policy/` is over 60 lines, and every list of task types outside the
registry is derived from it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import azr

SRC = Path(azr.__file__).parent


def test_no_function_over_60_lines_in_the_core_packages() -> None:
    long = [
        f"{path.relative_to(SRC)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for package in ("selfplay", "tasks", "policy")
        for path in sorted((SRC / package).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > 60
    ]
    assert not long, long


def test_task_type_names_appear_only_where_they_are_defined_or_are_data() -> None:
    """A quoted task-type name outside `tasks/types/` is a hard-coded list in waiting; the
    allowed places are the TaskType constants, documentation examples and CRUXEval's mapping
    of its two modes."""
    allowed = {
        "tasks/model.py",
        "tasks/showcase.py",
        "evaluate/cruxeval.py",
        "evaluate/learning.py",
    }
    # a quoted name, or one inside a metric key such as "buffer/deduction"
    pattern = re.compile(r"[\"'/](deduction|abduction|induction)[\"'/]")
    found = [
        f"{path.relative_to(SRC)}:{n}"
        for path in sorted(SRC.rglob("*.py"))
        if "types" not in path.relative_to(SRC).parts and str(path.relative_to(SRC)) not in allowed
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not found, found


def test_the_sandbox_does_not_depend_on_the_task_domain() -> None:
    """The security boundary sits below the task domain: nothing in `azr.sandbox` imports
    `azr.tasks` (literal parsing and comparison, which both need, live in `azr.literals`), and
    `azr.literals` imports neither."""

    def imports(path: Path) -> set[str]:
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        return found

    upward = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in sorted((SRC / "sandbox").rglob("*.py"))
        for name in imports(path)
        if name == "azr.tasks" or name.startswith("azr.tasks.")
    ]
    assert not upward, upward
    leaf = imports(SRC / "literals.py")
    assert not [n for n in leaf if n.startswith("azr")], leaf
    assert "azr.literals" in imports(SRC / "sandbox" / "values.py")
