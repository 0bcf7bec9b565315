"""Helpers of `azr train` that keep its command line forgiving and its output honest."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from azr.config import TrainConfig, resolve_config
from azr.errors import UserError
from azr.rundir import CONFIG, STORE, resume_config


def _first_difference(a: Any, b: Any, prefix: str = "") -> tuple[str, Any, Any] | None:
    """The first dotted key whose values differ between two nested mappings."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            found = _first_difference(a.get(key), b.get(key), f"{prefix}{key}.")
            if found is not None:
                return found
        return None
    return None if a == b else (prefix.rstrip("."), a, b)


def resume_with_flags(
    run_dir: Path, preset: str | None, config_file: Path | None, layers: list[dict[str, Any]]
) -> TrainConfig:
    """The config of a resumed run: its own config.yaml plus `layers`.

    `--preset`/`--config` are accepted when they resolve to the run's own config, so adding
    `--resume` to the command that started a run works; when they differ, one line names the
    first differing key.
    """
    cfg = resume_config(run_dir, layers)
    if preset is None and config_file is None:
        return cfg
    fresh = resolve_config(preset, config_file, layers)
    diff = _first_difference(fresh.model_dump(mode="json"), cfg.model_dump(mode="json"))
    if diff is not None:
        key, given, stored = diff
        flags = " ".join(
            f for f, v in (("--preset", preset), ("--config", config_file)) if v is not None
        )
        raise UserError(
            f"--resume: {flags} gives {key}={given!r} but {run_dir / CONFIG} has {stored!r}; "
            f"drop {flags} to continue with the run's own config (change values with --set)"
        )
    return cfg


def is_run_dir(path: Path) -> bool:
    """Whether `path` holds a run directory (so `--resume` can continue it)."""
    return (path / CONFIG).is_file() and (path / STORE).is_file()


def announcing_executor(
    factory: Callable[[TrainConfig], contextlib.AbstractContextManager[Any]],
    announce: Callable[[], None],
) -> Callable[[TrainConfig], contextlib.AbstractContextManager[Any]]:
    """Wrap an executor factory so `announce()` runs once the sandbox is up.

    The trainer loads the model, then starts the sandbox, then creates the run directory; a
    header naming the run directory printed from here is never followed by a failure that
    leaves no run directory behind (a wrong model name or a missing sandbox fail earlier).
    """

    @contextlib.contextmanager
    def wrapped(cfg: TrainConfig) -> Iterator[Any]:
        with factory(cfg) as executor:
            announce()
            yield executor

    return wrapped


def dir_size(path: Path) -> int:
    """Bytes of every regular file under `path` (symlinks not followed)."""
    total = 0
    for entry in path.rglob("*"):
        with contextlib.suppress(OSError):
            if entry.is_file() and not entry.is_symlink():
                total += entry.stat().st_size
    return total


def human_size(n: int) -> str:
    """`1.6 GB`, `540 MB`, `12 kB`, `800 B` (powers of 1000, as du --si)."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" or value >= 100 else f"{value:.3g} {unit}"
        value /= 1000
    raise AssertionError("unreachable")
