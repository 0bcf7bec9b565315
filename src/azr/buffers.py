"""Task buffers on SQLite: exact dedup, uniform and recency-aware sampling, a newest-wins cap,
and the step/checkpoint bookkeeping that makes `--resume` exact.

One database file (`buffers.sqlite`, WAL mode) per run directory. A training step writes all of
its changes (new tasks, evictions, the step record) in ONE transaction (`commit_step`), so a
crash leaves either the whole step or none of it. Evicted tasks are only marked (with the step
that evicted them) until a checkpoint makes that step durable; `rollback_to` can therefore undo
any step after the last checkpoint exactly: delete its inserts, revive its evictions.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from azr.tasks.types import get as get_spec

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_type TEXT NOT NULL,
    step INTEGER NOT NULL,
    key TEXT NOT NULL,
    payload TEXT NOT NULL,
    evicted_step INTEGER,
    UNIQUE (task_type, key)
);
CREATE INDEX IF NOT EXISTS tasks_live ON tasks (task_type, evicted_step, step);
CREATE TABLE IF NOT EXISTS steps (
    step INTEGER PRIMARY KEY,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    step INTEGER PRIMARY KEY,
    path TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

SCHEMA_VERSION = "1"
SEED_STATE = "seed_state"  # meta key: how far an unfinished seeding got (committed rounds)


class CorruptStore(Exception):
    """The file is not a buffer store this version can read."""


def dedup_key(task_type: str, task: dict[str, Any]) -> str:
    """Exact-dedup key of a task: its task type's hash of normalised program and input(s)."""
    return get_spec(task_type).dedup_key(task)


def _keys(tasks: Sequence[tuple[str, dict[str, Any]]], keys: Sequence[str] | None) -> Sequence[str]:
    if keys is None:
        return [dedup_key(t, p) for t, p in tasks]
    if len(keys) != len(tasks):
        raise ValueError(f"{len(tasks)} tasks but {len(keys)} dedup keys")
    return keys


@dataclass(frozen=True)
class StoredTask:
    """A task as stored: row id, type, the step that added it, and its JSON payload."""

    id: int
    task_type: str
    step: int
    payload: dict[str, Any]


class TaskStore:
    """The three task buffers and the run's step/checkpoint records in one SQLite file."""

    def __init__(self, path: Path, *, cap: int = 16384, create: bool = True) -> None:
        self.path = Path(path)
        self.cap = cap
        if not create and not self.path.is_file():
            raise CorruptStore(f"{self.path} does not exist")
        try:
            self.db = sqlite3.connect(str(self.path), isolation_level=None, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            if create:
                self.db.executescript(_SCHEMA)
                self.db.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,)
                )
            row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise CorruptStore(f"{self.path}: {exc}") from None
        if row is None or row[0] != SCHEMA_VERSION:
            raise CorruptStore(f"{self.path}: unknown schema version {row}")

    def close(self) -> None:
        """Close the connection (checkpointing the WAL into the main file)."""
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # ----------------------------------------------------------------- writes

    def _insert(self, task_type: str, payload: dict[str, Any], step: int, key: str) -> bool:
        cur = self.db.execute(
            "INSERT OR IGNORE INTO tasks (task_type, step, key, payload) VALUES (?, ?, ?, ?)",
            (task_type, step, key, json.dumps(payload)),
        )
        return cur.rowcount == 1

    def _enforce_cap(self, step: int) -> int:
        evicted = 0
        for task_type in self.task_types():
            over = self.size(task_type) - self.cap
            if over > 0:
                cur = self.db.execute(
                    "UPDATE tasks SET evicted_step=? WHERE id IN (SELECT id FROM tasks "
                    "WHERE task_type=? AND evicted_step IS NULL ORDER BY id LIMIT ?)",
                    (step, task_type, over),
                )
                evicted += cur.rowcount
        return evicted

    def commit_step(
        self,
        step: int,
        new_tasks: Sequence[tuple[str, dict[str, Any]]],
        record: dict[str, Any],
        keys: Sequence[str] | None = None,
    ) -> list[bool]:
        """Insert a step's tasks, apply the cap and record the step, all in one transaction.

        `keys`: the tasks' dedup keys when the caller has them (else computed here).
        Returns, per task, whether it was new (False = exact duplicate, not inserted).
        """
        keys = _keys(new_tasks, keys)
        with self.transaction():
            inserted = [
                self._insert(t, p, step, k) for (t, p), k in zip(new_tasks, keys, strict=True)
            ]
            self._enforce_cap(step)
            self.db.execute(
                "INSERT INTO steps (step, record) VALUES (?, ?)", (step, json.dumps(record))
            )
            if step == 0:  # seeding is over: its round-by-round state is no longer needed
                self.db.execute("DELETE FROM meta WHERE key=?", (SEED_STATE,))
        return inserted

    def commit_seed_round(
        self,
        new_tasks: Sequence[tuple[str, dict[str, Any]]],
        record: dict[str, Any],
        keys: Sequence[str] | None = None,
    ) -> list[bool]:
        """Insert one seeding round's tasks (as step 0) and record how far seeding got
        (`seed_state`), in one transaction. Seeding's last round is `commit_step(0, ...)`."""
        keys = _keys(new_tasks, keys)
        with self.transaction():
            inserted = [self._insert(t, p, 0, k) for (t, p), k in zip(new_tasks, keys, strict=True)]
            self.db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                (SEED_STATE, json.dumps(record)),
            )
        return inserted

    def commit_checkpoint(self, step: int, path: str) -> None:
        """Mark `step` durable (its checkpoint is on disk) and drop evictions up to it."""
        with self.transaction():
            self.db.execute("INSERT OR REPLACE INTO checkpoints VALUES (?, ?)", (step, path))
            self.db.execute("DELETE FROM tasks WHERE evicted_step <= ?", (step,))

    def forget_checkpoint(self, step: int) -> None:
        """Remove the record of a checkpoint that was deleted from disk."""
        with self.transaction():
            self.db.execute("DELETE FROM checkpoints WHERE step=?", (step,))

    def rollback_to(self, step: int) -> None:
        """Undo every step after `step`: their tasks, evictions, records and checkpoints."""
        with self.transaction():
            self.db.execute("DELETE FROM tasks WHERE step > ?", (step,))
            self.db.execute("UPDATE tasks SET evicted_step=NULL WHERE evicted_step > ?", (step,))
            self.db.execute("DELETE FROM steps WHERE step > ?", (step,))
            self.db.execute("DELETE FROM checkpoints WHERE step > ?", (step,))
            if step < 0:
                self.db.execute("DELETE FROM meta WHERE key=?", (SEED_STATE,))

    # ----------------------------------------------------------------- reads

    def size(self, task_type: str) -> int:
        """Number of live (not evicted) tasks of a type."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM tasks WHERE task_type=? AND evicted_step IS NULL", (task_type,)
        ).fetchone()
        return int(row[0])

    def sizes(self, task_types: Sequence[str] | None = None) -> dict[str, int]:
        """Live task counts of `task_types` (a run's types), or of every type stored."""
        return {t: self.size(t) for t in (self.task_types() if task_types is None else task_types)}

    def task_types(self) -> list[str]:
        """Every task type with a task stored (live or evicted), in order of its first task."""
        rows = self.db.execute(
            "SELECT task_type FROM tasks GROUP BY task_type ORDER BY MIN(id)"
        ).fetchall()
        return [str(r[0]) for r in rows]

    def _live(self, task_types: Sequence[str]) -> list[tuple[int, int]]:
        marks = ",".join("?" * len(task_types))
        rows = self.db.execute(
            f"SELECT id, step FROM tasks WHERE task_type IN ({marks}) "
            "AND evicted_step IS NULL ORDER BY id",
            tuple(task_types),
        ).fetchall()
        return [(int(r[0]), int(r[1])) for r in rows]

    def _fetch(self, ids: Sequence[int]) -> list[StoredTask]:
        out = []
        for i in ids:
            row = self.db.execute(
                "SELECT id, task_type, step, payload FROM tasks WHERE id=?", (int(i),)
            ).fetchone()
            out.append(StoredTask(int(row[0]), row[1], int(row[2]), json.loads(row[3])))
        return out

    def sample_uniform(
        self, task_types: str | Sequence[str], k: int, rng: np.random.Generator
    ) -> list[StoredTask]:
        """k tasks drawn uniformly (without replacement while the buffer is large enough)."""
        types = [task_types] if isinstance(task_types, str) else list(task_types)
        live = self._live(types)
        if not live or k <= 0:
            return []
        idx = rng.choice(len(live), size=k, replace=k > len(live))
        return self._fetch([live[int(i)][0] for i in idx])

    def sample_recent(
        self,
        task_type: str,
        k: int,
        rng: np.random.Generator,
        *,
        current_step: int,
        halflife: float,
    ) -> list[StoredTask]:
        """k tasks with weight 2^(-age/halflife), age in steps; halflife 0 = uniform."""
        live = self._live([task_type])
        if not live or k <= 0:
            return []
        if halflife <= 0:
            return self.sample_uniform(task_type, k, rng)
        ages = np.array([max(0, current_step - s) for _, s in live], dtype=float)
        weights = np.exp2(-ages / halflife)
        weights /= weights.sum()
        replace = k > int(np.count_nonzero(weights))
        idx = rng.choice(len(live), size=k, replace=replace, p=weights)
        return self._fetch([live[int(i)][0] for i in idx])

    def known(
        self, tasks: Sequence[tuple[str, dict[str, Any]]], keys: Sequence[str] | None = None
    ) -> list[bool]:
        """Whether each (type, payload) already has an exact duplicate in the store."""
        out = []
        for (task_type, _), key in zip(tasks, _keys(tasks, keys), strict=True):
            row = self.db.execute(
                "SELECT 1 FROM tasks WHERE task_type=? AND key=?", (task_type, key)
            ).fetchone()
            out.append(row is not None)
        return out

    def tasks_of_step(self, task_type: str, step: int) -> list[StoredTask]:
        """Live tasks a given step added (for previous-step solving)."""
        rows = self.db.execute(
            "SELECT id FROM tasks WHERE task_type=? AND step=? AND evicted_step IS NULL "
            "ORDER BY id",
            (task_type, step),
        ).fetchall()
        return self._fetch([int(r[0]) for r in rows])

    def all_tasks(self, task_type: str) -> list[StoredTask]:
        """Every live task of a type, oldest first."""
        return self._fetch([i for i, _ in self._live([task_type])])

    def step_record(self, step: int) -> dict[str, Any] | None:
        """The record `commit_step` stored for `step`, or None."""
        row = self.db.execute("SELECT record FROM steps WHERE step=?", (step,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def committed_steps(self) -> list[int]:
        """Steps with a record, ascending."""
        return [int(r[0]) for r in self.db.execute("SELECT step FROM steps ORDER BY step")]

    def seed_state(self) -> dict[str, Any] | None:
        """The record of the last seeding round committed while seeding is unfinished; None
        before the first round and once seeding is over (step 0 recorded)."""
        if self.step_record(0) is not None:
            return None
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (SEED_STATE,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def checkpoints(self) -> list[tuple[int, str]]:
        """(step, path) of recorded checkpoints, ascending."""
        rows = self.db.execute("SELECT step, path FROM checkpoints ORDER BY step").fetchall()
        return [(int(s), str(p)) for s, p in rows]

    def durable_step(self) -> int:
        """The last step a resume can continue from: the newest checkpoint, 0 once seeding
        committed (the policy is then still the base model), or -1 before that."""
        ckpts = self.checkpoints()
        if ckpts:
            return ckpts[-1][0]
        return 0 if self.step_record(0) is not None else -1
