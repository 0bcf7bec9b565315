"""Small helpers shared by seeding and the step: the identity seed, task (de)serialisation."""

from __future__ import annotations

from collections.abc import Sequence

from azr.buffers import StoredTask
from azr.tasks.model import Task, Triplet
from azr.tasks.types import get

IDENTITY_PROGRAM = "def f(x):\n    return x"
# Inputs of the identity seeds, outputs computed by the sandbox: the triplet seeds use the
# first, the induction seed the first `selfplay.induction_inputs`.
IDENTITY_INDUCTION_INPUTS = (
    "'Hello world'",
    "42",
    "[1, 2, 3]",
    "{'a': 1, 'b': 2}",
    "(3, 'x')",
    "-2.5",
    "True",
    "'abc'",
    "[[1], [2, 3]]",
    "{1, 2}",
    "''",
    "(None, 0)",
    "b'xyz'",
    "[True, 1.5, 'q']",
    "{'k': [1, {'z': 2}]}",
    "'Absolute Zero'",
    "7",
    "[]",
    "{}",
    "0.125",
)


def stored_tasks(rows: Sequence[StoredTask]) -> list[Task]:
    """Stored rows back as their task types' task objects."""
    return [get(r.task_type).from_dict(r.payload) for r in rows]


def as_triplet(task: Task) -> Triplet:
    """A triplet view of a task (induction tasks only provide their program)."""
    if isinstance(task, Triplet):
        return task
    first = task.visible[0] if task.visible else ("", "")
    return Triplet(program=task.program, input=first[0], output=first[1])
