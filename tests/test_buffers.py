"""Task buffers on SQLite: dedup, sampling, the newest-wins cap, step commits and rollback."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from azr.buffers import CorruptStore, TaskStore, dedup_key


def trip(i: int, program: str = "def f(x):\n    return x + {i}") -> dict[str, str]:
    return {"program": program.format(i=i), "input": str(i), "output": str(2 * i)}


def test_dedup_ignores_formatting_and_comments(tmp_path: Path) -> None:
    a = {"program": "def f(x):\n    return x+1", "input": "1,  2", "output": "2"}
    b = {"program": "def f(x):  # add one\n\n    return (x + 1)", "input": "1,2", "output": "2"}
    c = {"program": "def f(x):\n    return x+1", "input": "1, 3", "output": "2"}
    assert dedup_key("deduction", a) == dedup_key("deduction", b)
    assert dedup_key("deduction", a) != dedup_key("deduction", c)
    store = TaskStore(tmp_path / "b.sqlite")
    inserted = store.commit_step(1, [("deduction", a), ("deduction", b), ("abduction", a)], {})
    assert inserted == [True, False, True]  # same task in another buffer is fine
    assert store.sizes() == {"deduction": 1, "abduction": 1}  # the types stored
    assert store.sizes(["induction", "deduction"]) == {"induction": 0, "deduction": 1}
    assert store.task_types() == ["deduction", "abduction"]  # in order of their first task
    assert store.known([("deduction", b), ("deduction", c)]) == [True, False]


def test_cap_keeps_the_newest(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "b.sqlite", cap=3)
    for step in range(1, 4):
        store.commit_step(step, [("deduction", trip(10 * step + k)) for k in range(2)], {})
    kept = [t.payload["input"] for t in store.all_tasks("deduction")]
    assert kept == ["21", "30", "31"]
    assert store.size("deduction") == 3


def test_rollback_undoes_inserts_evictions_and_records(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "b.sqlite", cap=2)
    store.commit_step(0, [("deduction", trip(0)), ("deduction", trip(1))], {"s": 0})
    store.commit_checkpoint(0, "checkpoints/step-000000")
    store.commit_step(1, [("deduction", trip(2))], {"s": 1})  # evicts trip(0)
    store.commit_step(2, [("deduction", trip(3))], {"s": 2})  # evicts trip(1)
    assert [t.payload["input"] for t in store.all_tasks("deduction")] == ["2", "3"]
    store.rollback_to(0)
    assert [t.payload["input"] for t in store.all_tasks("deduction")] == ["0", "1"]
    assert store.committed_steps() == [0]
    # The rolled-back tasks can be inserted again (no stale dedup keys).
    assert store.commit_step(1, [("deduction", trip(2))], {}) == [True]


def test_checkpoint_purges_evictions_and_sets_durable_step(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "b.sqlite", cap=1)
    assert store.durable_step() == -1
    store.commit_step(0, [("abduction", trip(0))], {})
    assert store.durable_step() == 0
    store.commit_step(1, [("abduction", trip(1))], {})
    assert store.durable_step() == 0  # no checkpoint yet: step 1 can still be undone
    store.commit_checkpoint(1, "c1")
    assert store.durable_step() == 1
    n = store.db.execute("SELECT COUNT(*) FROM tasks").fetchone()[0]
    assert n == 1  # evicted row dropped once its eviction is durable


def test_uniform_sampling_covers_the_buffer(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "b.sqlite")
    store.commit_step(0, [("deduction", trip(i)) for i in range(10)], {})
    rng = np.random.default_rng(0)
    picks = store.sample_uniform("deduction", 6, rng)
    assert len({p.id for p in picks}) == 6  # without replacement
    counts = Counter(
        p.payload["input"] for _ in range(300) for p in store.sample_uniform("deduction", 1, rng)
    )
    assert len(counts) == 10 and min(counts.values()) > 10
    assert len(store.sample_uniform("deduction", 25, rng)) == 25  # more than held: replacement
    assert store.sample_uniform("induction", 3, rng) == []
    union = store.sample_uniform(["deduction", "abduction"], 3, rng)
    assert all(p.task_type == "deduction" for p in union)


def test_recency_sampling_prefers_new_tasks(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "b.sqlite")
    store.commit_step(0, [("deduction", trip(i)) for i in range(20)], {})
    store.commit_step(10, [("deduction", trip(100 + i)) for i in range(20)], {})
    rng = np.random.default_rng(1)
    recent = [
        p.step
        for _ in range(50)
        for p in store.sample_recent("deduction", 2, rng, current_step=10, halflife=1.0)
    ]
    assert sum(s == 10 for s in recent) > 0.95 * len(recent)
    uniform = [
        p.step
        for _ in range(100)
        for p in store.sample_recent("deduction", 2, rng, current_step=10, halflife=0.0)
    ]
    assert 0.3 < sum(s == 10 for s in uniform) / len(uniform) < 0.7


def test_step_records_and_previous_step_tasks(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite"
    store = TaskStore(path)
    store.commit_step(
        3,
        [
            (
                "induction",
                {
                    "program": "def f(x):\n    return x",
                    "message": "m",
                    "visible": [["1", "1"]],
                    "hidden": [["2", "2"]],
                },
            )
        ],
        {"rng": {"a": 1}},
    )
    store.close()
    again = TaskStore(path, create=False)
    assert again.step_record(3) == {"rng": {"a": 1}}
    assert again.step_record(4) is None
    assert [t.step for t in again.tasks_of_step("induction", 3)] == [3]
    with pytest.raises(sqlite3.IntegrityError):  # a step is committed once
        again.commit_step(3, [], {})
    assert again.committed_steps() == [3]


def test_corrupt_or_missing_store(tmp_path: Path) -> None:
    with pytest.raises(CorruptStore):
        TaskStore(tmp_path / "missing.sqlite", create=False)
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CorruptStore):
        TaskStore(bad, create=False)
