"""Every command in the README runs (issue 18), so the README cannot drift from the program.

Each shell block of README.md carries a marker on the line before it: `<!-- runnable -->`
(optionally `<!-- runnable: note -->`) or `<!-- not run: reason -->` for what a test cannot do
(installing packages, hours of training with the real model, a GPU or a cluster). The runnable
blocks run in order, as written, in one scratch directory with `bash -euo pipefail`, so later
blocks see what earlier ones made (`runs/t`, `eval/`). Blocks that use `cruxeval.jsonl` get
CRUXEval copied there from the developers' shared data; without it they are skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from azr.datapaths import cruxeval_path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SHELL = ("bash", "sh", "shell", "console")
MODEL = re.compile(r"--model[ =](\S+)")
MARKER = re.compile(r"^<!--\s*(runnable|not run)\b\s*(?::\s*(.*?))?\s*-->$")


@dataclass
class Block:
    """One fenced shell block: where it starts, its marker ("runnable", "not run" or ""), and
    its text."""

    line: int
    marker: str
    code: str


def shell_blocks(text: str) -> list[Block]:
    """The README's shell blocks with the marker on the nearest non-blank line before each."""
    lines = text.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        fence = re.match(r"^```\s*(\w+)?\s*$", lines[i])
        if not fence:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), len(lines))
        if (fence.group(1) or "") in SHELL:
            before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            found = MARKER.match(before.strip())
            marker = found.group(1) if found else ""
            blocks.append(Block(i + 1, marker, "\n".join(lines[i + 1 : end]) + "\n"))
        i = end + 1
    return blocks


def unmarked(blocks: list[Block]) -> list[str]:
    """Shell blocks that say neither `runnable` nor `not run`."""
    return [f"README.md:{b.line}: shell block without a marker" for b in blocks if not b.marker]


def tool_dir(tmp: Path) -> Path:
    """A directory with an `azr` that is this interpreter's azr (whatever PATH holds)."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    azr = bin_dir / "azr"
    azr.write_text(f'#!/bin/sh\nexec {sys.executable} -m azr.cli "$@"\n')
    azr.chmod(0o755)
    return bin_dir


def run_blocks(blocks: list[Block], cwd: Path, timeout: float = 600) -> list[str]:
    """Run the runnable blocks in order in `cwd`; one message per block that failed."""
    env = {
        **os.environ,
        "PATH": f"{tool_dir(cwd.parent)}:{os.environ['PATH']}",
        "PYTHONWARNINGS": "ignore",
    }
    failures = []
    for b in blocks:
        if b.marker != "runnable":
            continue
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", b.code],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0:
            failures.append(
                f"README.md:{b.line}: exit status {proc.returncode}\n{b.code}"
                f"--- stderr (end) ---\n{proc.stderr[-2500:]}"
            )
    return failures


def _has_sandbox() -> bool:
    try:
        from azr.sandbox import Executor  # noqa: F401
    except ImportError:
        return False
    return shutil.which("bwrap") is not None


def test_every_shell_block_of_the_readme_is_marked() -> None:
    blocks = shell_blocks(README.read_text())
    assert len(blocks) >= 6
    assert not unmarked(blocks), unmarked(blocks)
    assert sum(b.marker == "runnable" for b in blocks) >= 2


@pytest.mark.timeout(1500)
@pytest.mark.skipif(not _has_sandbox(), reason="needs the sandbox (bubblewrap)")
def test_the_readmes_runnable_commands_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    from azr.policy.engine import resolve_engine

    blocks = [b for b in shell_blocks(README.read_text()) if b.marker == "runnable"]
    work = tmp_path / "work"
    work.mkdir()
    data = cruxeval_path()
    skipped = []
    if data is not None and data.is_file():
        shutil.copy(data, work / "cruxeval.jsonl")
    else:
        skipped = [b for b in blocks if "cruxeval.jsonl" in b.code]
        blocks = [b for b in blocks if b not in skipped]
    failures: list[str] = []
    for block in blocks:
        # A test never starts the vLLM engine: every model a block samples from must resolve
        # to the embedded sampler (random test models and runs trained from them do).
        with monkeypatch.context() as m:
            m.chdir(work)
            engines = {n: resolve_engine("auto", n) for n in MODEL.findall(block.code)}
        assert all(e == "hf" for e in engines.values()), engines
        failures += run_blocks([block], work)
    assert not failures, "\n\n".join(failures)
    # What the blocks promise is there: the run at step 5 with step 3 kept, the report, and
    # (with CRUXEval) the evaluation of both models.
    run = work / "runs" / "t"
    assert (run / "checkpoints" / "step-000005").is_dir()
    assert (run / "checkpoints" / "step-000003" / "policy").is_dir()
    assert (run / "report.html").is_file()
    if not skipped:
        assert (work / "eval" / "summary.json").is_file()
    else:
        pytest.skip(f"CRUXEval data absent: {len(skipped)} README block(s) not run")


# ------------------------------------------------------------------ the test's own machinery

BROKEN = """# A README

<!-- runnable -->
```bash
echo made > made.txt
```

```bash
echo nobody marked me
```

<!-- not run: installs packages -->
```bash
pip install something
```

<!-- runnable -->
```bash
azr train --no-such-flag
```
"""


def test_a_broken_readme_fails_both_checks(tmp_path: Path) -> None:
    """An unmarked block is reported, and a runnable command that fails fails the run (with
    its block and stderr); the blocks before it ran, the not-run block did not."""
    blocks = shell_blocks(BROKEN)
    assert [b.marker for b in blocks] == ["runnable", "", "not run", "runnable"]
    assert unmarked(blocks) == ["README.md:8: shell block without a marker"]
    work = tmp_path / "work"
    work.mkdir()
    failures = run_blocks(blocks, work, timeout=120)
    assert len(failures) == 1, failures
    assert failures[0].startswith("README.md:18: exit status 2")
    assert "No such option: --no-such-flag" in failures[0]
    assert (work / "made.txt").read_text() == "made\n"
