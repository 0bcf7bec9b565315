"""Small helpers shared by seeding and the step: the identity seed, task deserialisation."""

from __future__ import annotations

from collections.abc import Sequence

from azr.buffers import StoredTask
from azr.tasks.model import Task
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
