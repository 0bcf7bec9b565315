"""The training run: open or create the run directory, seed, step, commit, checkpoint, resume.

Durability protocol (see docs/training.md):
1. a step computes everything in memory (generation, validation, grading, update);
2. its samples and metrics lines are appended to the JSONL logs and fsynced;
3. ONE SQLite transaction inserts its new tasks, applies the buffer cap and records the step
   (with the JSONL byte lengths and the loop's RNG state);
4. every `checkpoint_every` steps the policy is saved to a temporary directory, renamed into
   place, and recorded in SQLite: that step becomes *durable*.
On `--resume`, everything after the last durable step is rolled back (tasks, evictions, step
records, log lines, stray checkpoint directories), the policy and RNG are restored from it, and
training continues with the next step. A crash at any instant therefore loses no committed step
and repeats none in the logs; steps after the last checkpoint are recomputed.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from azr.config import TrainConfig
from azr.policy.base import Generator, Learner, Policy
from azr.rundir import METRICS, SAMPLES, RunDir, write_atomic
from azr.selfplay.loop import SelfPlay
from azr.selfplay.progress import Progress
from azr.selfplay.records import IDENTITY_PROGRAM
from azr.selfplay.rollout import StepResult
from azr.tasks.types import names as task_type_names

PolicyFactory = Callable[[TrainConfig], Policy]
ExecutorFactory = Callable[[TrainConfig], Any]


def crash_point(name: str, step: int) -> None:
    """Test hook: `AZR_CRASH_AT=<name>[:<step>]` kills the process here (like kill -9)."""
    import os
    import signal

    spec = os.environ.get("AZR_CRASH_AT", "")
    want, _, at = spec.partition(":")
    if want == name and (not at or int(at) == step):
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class RunSummary:
    """What a finished `train` call reports."""

    run_dir: Path
    first_step: int
    last_step: int
    seconds: float


def default_policy(cfg: TrainConfig) -> Policy:
    """The policy the config names (`azr.policy.factory.build_policy`)."""
    from azr.policy.factory import build_policy

    return build_policy(cfg)


def default_generator(cfg: TrainConfig, policy: Policy, progress: Progress) -> Generator:
    """What samples for `policy` (`azr.policy.factory.build_generator`): a vLLM engine serving
    its weights, or the policy itself."""
    from azr.policy.factory import build_generator

    return build_generator(cfg, policy, say=progress.info)


def _close_both(generator: Generator, policy: Policy) -> None:
    from azr.policy.factory import close_both

    close_both(generator, policy)


@contextlib.contextmanager
def default_executor(cfg: TrainConfig) -> Iterator[Any]:
    """The sandboxed executor the config describes."""
    from azr.sandbox import Executor, SandboxConfig

    e = cfg.executor
    with Executor(
        SandboxConfig(
            workers=e.workers, timeout_s=e.timeout_s, memory_mb=e.memory_mb, isolation=e.isolation
        )
    ) as ex:
        yield ex


class _TensorBoard:
    """Optional TensorBoard writer; silently absent when tensorboard is not installed."""

    def __init__(self, directory: Path, enabled: bool) -> None:
        self.writer: Any = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(directory))
            except Exception:
                self.writer = None

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        if self.writer is None:
            return
        for key, value in metrics.items():
            if isinstance(value, (int, float)) and key != "step":
                self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def prepare_resume(run: RunDir) -> int:
    """Roll a run directory back to its last durable step and return that step (-1: none)."""
    store = run.store
    durable = store.durable_step()
    record = store.step_record(durable) if durable >= 0 else None
    offsets = (record or {}).get("offsets", {METRICS: 0, SAMPLES: 0})
    store.rollback_to(durable)
    run.truncate_logs(offsets)
    run.remove_stale_checkpoints()
    return durable


def train(
    cfg: TrainConfig,
    run_dir: Path,
    *,
    resume: bool = False,
    progress: Progress | None = None,
    policy_factory: PolicyFactory | None = None,
    executor_factory: Callable[[TrainConfig], contextlib.AbstractContextManager[Any]] | None = None,
) -> RunSummary:
    """Run (or resume) self-play in `run_dir` until step `cfg.run.steps`."""
    progress = progress or Progress()
    t_start = time.perf_counter()
    # Everything that can fail on user input (run dir, model, sandbox) fails before anything
    # is written.
    if resume:
        run = RunDir.open_existing(run_dir, cfg)
    else:
        RunDir.check_new(run_dir)
    with contextlib.ExitStack() as stack:
        try:
            policy = (policy_factory or default_policy)(cfg)
            executor = stack.enter_context((executor_factory or default_executor)(cfg))
            generator = default_generator(cfg, policy, progress)
            stack.callback(_close_both, generator, policy)
        except BaseException:
            if resume:
                run.close()
            raise
        if not resume:
            run = RunDir.create(run_dir, cfg)
        try:
            start = restore(run, cfg, policy, progress, resume)
            loop = SelfPlay(
                cfg, policy, executor, run.store, start.rng, progress, generator=generator
            )
            first = run_steps(loop, run, start.durable, cfg, progress)
            return RunSummary(run.path, first, cfg.run.steps, time.perf_counter() - t_start)
        finally:
            run.close()


@dataclass
class ResumePoint:
    """Where a run (re)starts: the last durable step (-1: none), the loop's RNG, and whether
    the policy was loaded from that step's checkpoint."""

    durable: int
    rng: np.random.Generator
    loaded: bool


def restore(
    run: RunDir, cfg: TrainConfig, policy: Learner, progress: Progress, resume: bool
) -> ResumePoint:
    """Roll a resumed run back to its last durable step and restore the loop's RNG and the
    policy from it; a new run starts from the seed."""
    durable = -1
    if resume:
        durable = prepare_resume(run)
        run.save_config(cfg)
        progress.info(
            f"resuming {run.path} after step {durable}"
            if durable >= 0
            else f"resuming {run.path} from the start (seeding never finished)"
        )
    rng = np.random.default_rng(cfg.run.seed)
    loaded = False
    if durable >= 0:
        record = run.store.step_record(durable) or {}
        rng.bit_generator.state = record["rng"]
        ckpts = run.store.checkpoints()
        if ckpts and ckpts[-1][0] == durable:
            policy.load(run.path / ckpts[-1][1] / "policy")
            loaded = True
    return ResumePoint(durable, rng, loaded)


def run_steps(
    loop: SelfPlay, run: RunDir, durable: int, cfg: TrainConfig, progress: Progress
) -> int:
    """Seed (when nothing is durable yet), then every step up to `cfg.run.steps`, each
    committed durably; returns the first step this call ran."""
    tb = _TensorBoard(run.path / "tb", cfg.run.tensorboard)
    if durable < 0:
        _seed(loop, run, progress)
    first = max(durable, 0) + 1
    for step in range(first, cfg.run.steps + 1):
        result = loop.step(step)
        _commit(loop, run, step, result, cfg, progress, tb)
    tb.close()
    return first


def _seed(loop: SelfPlay, run: RunDir, progress: Progress) -> None:
    progress.info("seeding the buffers from the identity triplet (no updates)")
    result = loop.seed()
    run.append(SAMPLES, [r.record(0) for r in result.rollouts])
    crash_point("seed-before-commit", 0)
    record = {"offsets": run.offsets(), "rng": loop.rng.bit_generator.state, **result.metrics}
    _store_step(run, 0, result, record)
    sizes = run.store.sizes()
    progress.info("seeded: " + ", ".join(f"{t} {n}" for t, n in sizes.items()) + " tasks")


def _commit(
    loop: SelfPlay,
    run: RunDir,
    step: int,
    result: StepResult,
    cfg: TrainConfig,
    progress: Progress,
    tb: _TensorBoard,
) -> None:
    """Write a finished step durably (logs, one SQLite transaction, maybe a checkpoint)."""
    metrics: dict[str, Any] = {"step": step, **result.metrics, **_buffer_metrics(run, result)}
    metrics.update(loop.timer.summary())
    run.append(SAMPLES, [r.record(step) for r in result.rollouts])
    crash_point("step-after-samples", step)
    run.append(METRICS, [metrics])
    crash_point("step-before-commit", step)
    record = {"offsets": run.offsets(), "rng": loop.rng.bit_generator.state}
    _store_step(run, step, result, record)
    crash_point("step-after-commit", step)
    if step % cfg.run.checkpoint_every == 0 or step == cfg.run.steps:
        t0 = time.perf_counter()
        tmp = run.begin_checkpoint(step)
        (tmp / "policy").mkdir()
        loop.policy.save(tmp / "policy")
        write_atomic(tmp / "loop_state.json", json.dumps({"step": step, **record}))
        crash_point("checkpoint-before-record", step)
        run.finish_checkpoint(step, tmp, cfg.run.keep_checkpoints, cfg.run.keep_every)
        metrics["time/checkpoint"] = round(time.perf_counter() - t0, 3)
    progress.step_done(step, cfg.run.steps, metrics)
    tb.log(step, metrics)


def _store_step(run: RunDir, step: int, result: StepResult, record: dict[str, Any]) -> None:
    """The step's ONE SQLite transaction: its new tasks, the cap, its record."""
    new = result.new_tasks
    run.store.commit_step(
        step, [(n.task_type, n.payload) for n in new], record, keys=[n.key for n in new]
    )


def _buffer_metrics(run: RunDir, result: StepResult) -> dict[str, int]:
    """Per task type: the buffer size after this step (before it commits) and its new tasks."""
    store = run.store
    new = result.new_tasks
    known = store.known([(n.task_type, n.payload) for n in new], keys=[n.key for n in new])
    fresh: dict[str, set[str]] = {}
    for n, was_known in zip(new, known, strict=True):
        if not was_known:
            fresh.setdefault(n.task_type, set()).add(n.key)
    sizes = store.sizes()
    out: dict[str, int] = {}
    for t in task_type_names():
        count = len(fresh.get(t, ()))
        out[f"buffer/{t}"] = min(store.cap, sizes[t] + count)
        out[f"buffer/{t}_new"] = count
    return out


__all__ = [
    "IDENTITY_PROGRAM",
    "ResumePoint",
    "RunSummary",
    "crash_point",
    "prepare_resume",
    "restore",
    "run_steps",
    "train",
]
