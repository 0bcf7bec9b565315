"""The bubblewrap command line of a sandbox, and what the jail must see of this machine."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
JAIL_CODE_DIR = "/opt/azr-sandbox"
_BOOT = "import sys; sys.path.insert(0, {path!r}); import _worker; _worker.main(sys.argv[1])"


def usable_cpus() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def precompile_worker() -> None:
    """Write the worker's bytecode caches beside the sources, so a sandbox start (read-only,
    -B) does not compile them again; done even when this process runs with
    PYTHONDONTWRITEBYTECODE."""
    import py_compile

    tag = sys.implementation.cache_tag
    for name in ("_worker", "_jobs", "_canon", "_seccomp", "rules"):
        source = HERE / f"{name}.py"
        cached = HERE / "__pycache__" / f"{name}.{tag}.pyc"
        with contextlib.suppress(OSError, py_compile.PyCompileError):
            if not cached.exists() or cached.stat().st_mtime < source.stat().st_mtime:
                py_compile.compile(str(source), cfile=str(cached), doraise=True)


def _python_roots() -> list[str]:
    """Directories of the Python installation the jail must see (read-only)."""
    roots = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    roots.add(os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))))
    keep: list[str] = []
    for root in sorted(roots, key=len):
        if root == "/usr" or root.startswith("/usr/"):
            continue
        if not any(root == k or root.startswith(k + "/") for k in keep):
            keep.append(root)
    return keep


def bwrap_command(seed: int, config: dict[str, Any], bwrap: str = "bwrap") -> list[str]:
    """The bubblewrap command line that starts one sandboxed worker."""
    cmd = [
        bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
        "--ro-bind", "/usr", "/usr",
    ]  # fmt: skip
    for top in ("lib", "lib64", "lib32", "bin"):
        path = "/" + top
        if os.path.islink(path):
            cmd += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            cmd += ["--ro-bind", path, path]
    for root in _python_roots():
        cmd += ["--ro-bind", root, root]
    cmd += [
        "--ro-bind", str(HERE), JAIL_CODE_DIR,
        "--proc", "/proc", "--dev", "/dev",
        "--size", str(16 << 20), "--tmpfs", "/tmp",
        "--uid", "65534", "--gid", "65534", "--hostname", "sandbox",
        "--remount-ro", "/",
        "--clearenv", "--setenv", "PYTHONHASHSEED", str(seed), "--chdir", "/tmp",
    ]  # fmt: skip
    return cmd + python_command(JAIL_CODE_DIR, config)


def python_command(code_dir: str, config: dict[str, Any]) -> list[str]:
    flags = ["-S", "-s", "-B"] + (["-P"] if sys.version_info >= (3, 11) else [])
    exe = os.path.realpath(sys.executable)
    return [exe, *flags, "-c", _BOOT.format(path=code_dir), json.dumps(config)]
