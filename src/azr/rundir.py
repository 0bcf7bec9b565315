"""The run directory: layout, creation, opening for resume, JSONL logs and checkpoints.

Layout::

    RUN/config.yaml          the full resolved config
    RUN/buffers.sqlite       task buffers + step and checkpoint records (azr.buffers)
    RUN/metrics.jsonl        one line per step
    RUN/samples.jsonl        every generation, chain of thought included
    RUN/checkpoints/step-NNNNNN/  policy.save() output + loop_state.json (the newest one has the
                                  optimiser state too; older ones only weights)
    RUN/tb/                  TensorBoard events (when tensorboard is installed)
    RUN/tracking.json        W&B / MLflow run ids for --resume (azr.tracking; --report-to)
    RUN/.lock                held while a trainer uses the directory

Crash consistency: JSONL lines of a step are appended and fsynced BEFORE the step's SQLite
transaction, which records the files' byte lengths. Resume truncates both files to the lengths
recorded at the durable step, so lines of a step that never became durable vanish.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from azr.buffers import CorruptStore, TaskStore
from azr.config import TrainConfig, build_config
from azr.errors import UserError

CONFIG = "config.yaml"
STORE = "buffers.sqlite"
METRICS = "metrics.jsonl"
SAMPLES = "samples.jsonl"
CHECKPOINTS = "checkpoints"
# Files of a policy checkpoint (azr.policy.checkpoint) that only resuming from it needs.
RESUME_ONLY = ("optimizer.pt",)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, text: str) -> None:
    """Write a small file via a temporary name and rename (never half-written)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class RunDir:
    """An open run directory (locked for this process)."""

    def __init__(self, path: Path, store: TaskStore, lock: IO[str]) -> None:
        self.path = path
        self.store = store
        self._lock = lock
        self._files: dict[str, IO[str]] = {}

    # ----------------------------------------------------------------- opening

    @staticmethod
    def _acquire(path: Path) -> IO[str]:
        lock = open(path / ".lock", "a")  # noqa: SIM115 - held for the run's lifetime
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise UserError(f"run directory {path} is in use by another azr process") from None
        return lock

    @staticmethod
    def check_new(path: Path) -> None:
        """Refuse a run directory that exists and is not empty (never overwrite a run)."""
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise UserError(
                f"run directory {path} already exists and is not empty "
                "(pass --resume to continue it, or choose another --run-dir)"
            )

    @classmethod
    def create(cls, path: Path, config: TrainConfig) -> RunDir:
        """A fresh run directory, built under a temporary name and renamed into place, so a
        crash during creation never leaves a half-made run behind."""
        cls.check_new(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.creating-", dir=path.parent))
        except OSError as exc:
            raise UserError(f"cannot create run directory {path}: {exc.strerror}") from None
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700; a run dir is an ordinary dir
        write_atomic(tmp / CONFIG, config.to_yaml())
        TaskStore(tmp / STORE, cap=config.selfplay.buffer_cap).close()
        (tmp / CHECKPOINTS).mkdir()
        for name in (METRICS, SAMPLES):
            (tmp / name).touch()
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        lock = cls._acquire(path)
        store = TaskStore(path / STORE, cap=config.selfplay.buffer_cap, create=False)
        return cls(path, store, lock)

    @staticmethod
    def read_config(path: Path) -> dict[str, Any]:
        """The raw config mapping stored in a run directory (for resume)."""
        import yaml

        if not path.is_dir():
            raise UserError(f"run directory not found: {path}")
        cfg_path = path / CONFIG
        if not cfg_path.is_file() or not (path / STORE).is_file():
            raise UserError(f"{path} is not an azr run directory (no {CONFIG} or {STORE})")
        try:
            data = yaml.safe_load(cfg_path.read_text())
        except yaml.YAMLError:
            raise UserError(f"{cfg_path} is corrupt (not valid YAML)") from None
        if not isinstance(data, dict):
            raise UserError(f"{cfg_path} is corrupt (not a mapping)")
        return data

    @classmethod
    def open_existing(cls, path: Path, config: TrainConfig) -> RunDir:
        """Open a run directory for resume; the caller then calls `rollback_to_durable`."""
        cls.read_config(path)
        lock = cls._acquire(path)
        try:
            store = TaskStore(path / STORE, cap=config.selfplay.buffer_cap, create=False)
            store.durable_step()
        except (CorruptStore, Exception) as exc:
            lock.close()
            raise UserError(f"{path / STORE} is corrupt: {str(exc).splitlines()[0]}") from None
        problem = None
        for name in (METRICS, SAMPLES):
            if not (path / name).is_file():
                problem = f"{name} is missing"
        for step, rel in store.checkpoints():
            if not (path / rel / "policy").is_dir():
                problem = f"checkpoint of step {step} ({rel}) is missing"
        if problem is not None:
            store.close()
            lock.close()
            raise UserError(f"run directory {path} is corrupt: {problem}")
        return cls(path, store, lock)

    def save_config(self, config: TrainConfig) -> None:
        """Record the (possibly overridden) config of this run."""
        write_atomic(self.path / CONFIG, config.to_yaml())

    def close(self) -> None:
        """Close logs and the store and release the lock."""
        for fh in self._files.values():
            fh.close()
        self._files.clear()
        self.store.close()
        self._lock.close()

    # ----------------------------------------------------------------- logs

    def _file(self, name: str) -> IO[str]:
        if name not in self._files:
            self._files[name] = open(self.path / name, "a")  # noqa: SIM115 - kept open
        return self._files[name]

    def append(self, name: str, records: Iterable[dict[str, Any]]) -> None:
        """Append JSON lines and fsync them."""
        fh = self._file(name)
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())

    def offsets(self) -> dict[str, int]:
        """Current byte lengths of the JSONL logs (recorded with each committed step)."""
        for fh in self._files.values():
            fh.flush()
        return {name: (self.path / name).stat().st_size for name in (METRICS, SAMPLES)}

    def truncate_logs(self, offsets: dict[str, int]) -> None:
        """Cut the JSONL logs back to recorded lengths (dropping uncommitted steps' lines)."""
        for fh in self._files.values():
            fh.close()
        self._files.clear()
        for name in (METRICS, SAMPLES):
            target = int(offsets.get(name, 0))
            size = (self.path / name).stat().st_size
            if size < target:
                raise UserError(
                    f"{self.path / name} is shorter than its committed length "
                    f"({size} < {target} bytes): the run directory is corrupt"
                )
            if size > target:
                os.truncate(self.path / name, target)

    # ----------------------------------------------------------------- checkpoints

    def checkpoint_dir(self, step: int) -> Path:
        """Where the checkpoint of `step` lives."""
        return self.path / CHECKPOINTS / f"step-{step:06d}"

    def begin_checkpoint(self, step: int) -> Path:
        """A fresh temporary directory to write the checkpoint of `step` into."""
        tmp = self.path / CHECKPOINTS / f".tmp-step-{step:06d}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        return tmp

    def finish_checkpoint(self, step: int, tmp: Path, keep: int, keep_every: int = 0) -> Path:
        """Move a written checkpoint into place, record it, and prune old ones.

        The newest `keep` stay, and so does every step that is a multiple of `keep_every`
        (milestones for evaluation; 0 = none)."""
        final = self.checkpoint_dir(step)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(final.parent)
        self.store.commit_checkpoint(step, str(final.relative_to(self.path)))
        for old_step, rel in self.store.checkpoints()[:-keep]:
            if keep_every and old_step % keep_every == 0:
                continue
            self.store.forget_checkpoint(old_step)
            shutil.rmtree(self.path / rel, ignore_errors=True)
        for _, rel in self.store.checkpoints()[:-1]:
            # Resume starts from the newest checkpoint only: older ones keep their weights (for
            # evaluation, `RUN@STEP`) but not the optimiser state, twice the weights' size.
            for name in RESUME_ONLY:
                (self.path / rel / "policy" / name).unlink(missing_ok=True)
        return final

    def remove_stale_checkpoints(self) -> None:
        """Delete checkpoint directories that are temporary or newer than the durable step."""
        root = self.path / CHECKPOINTS
        if not root.is_dir():
            root.mkdir()
            return
        recorded = {rel for _, rel in self.store.checkpoints()}
        for entry in root.iterdir():
            rel = str(entry.relative_to(self.path))
            if rel not in recorded:
                shutil.rmtree(entry, ignore_errors=True)


def resume_config(path: Path, overrides: list[dict[str, Any]]) -> TrainConfig:
    """The config stored in `path` with the given overrides applied."""
    stored = RunDir.read_config(path)
    try:
        return build_config([stored, *overrides])
    except UserError as exc:
        raise UserError(f"{path / CONFIG}: {exc}") from None


def run_checkpoint(name: str) -> Path | None:
    """The policy checkpoint that a model name `RUN_DIR` or `RUN_DIR@N` stands for.

    `RUN_DIR` is the newest checkpoint of a run directory, `RUN_DIR@N` the checkpoint of step
    N. None when `name` is not a run directory (then it is some other kind of model name).
    Only complete checkpoints count (their `policy.json` is written last).
    """
    from azr.policy.models import CHECKPOINT_META

    match = re.fullmatch(r"(.+)@(\d+)", name)
    base, step = (match.group(1), int(match.group(2))) if match else (name, None)
    run = Path(base).expanduser()
    if not ((run / CONFIG).is_file() and (run / STORE).is_file()):
        if step is not None and run.is_dir():
            raise UserError(f"{name}: {run} is not an azr run directory (no {CONFIG})")
        return None
    found: dict[int, Path] = {}
    root = run / CHECKPOINTS
    for entry in root.glob("step-*") if root.is_dir() else []:
        digits = entry.name[len("step-") :]
        if digits.isdigit() and (entry / "policy" / CHECKPOINT_META).is_file():
            found[int(digits)] = entry / "policy"
    if not found:
        raise UserError(f"run directory {run} has no checkpoint yet")
    if step is None:
        return found[max(found)]
    if step not in found:
        kept = ", ".join(str(s) for s in sorted(found))
        raise UserError(
            f"run directory {run} has no checkpoint of step {step} (kept: {kept}; "
            "run.keep_checkpoints and run.keep_every set which are kept)"
        )
    return found[step]
