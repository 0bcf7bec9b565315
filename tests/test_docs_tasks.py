"""docs/tasks.md is generated (`python3 -m azr.tasks.showcase > docs/tasks.md`): it must be
what the generator writes now, every registered type included."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from azr.tasks import showcase
from azr.tasks.types import specs

DOC = Path(__file__).resolve().parents[1] / "docs" / "tasks.md"


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="grades its examples in the sandbox")
def test_docs_tasks_md_is_current() -> None:
    text = showcase.render()
    assert DOC.read_text() == text, "regenerate: python3 -m azr.tasks.showcase > docs/tasks.md"
    for spec in specs():
        assert f"**{spec.name.replace('_', ' ').capitalize()}** " in text
