"""The training run: open or create the run directory, seed, step, commit, checkpoint, resume.

Durability protocol (see docs/training.md):
1. a step computes everything in memory (generation, validation, grading, update);
2. its samples and metrics lines are appended to the JSONL logs and fsynced;
3. ONE SQLite transaction inserts its new tasks, applies the buffer cap and records the step
   (with the JSONL byte lengths and the loop's RNG state);
4. every `checkpoint_every` steps the policy is saved to a temporary directory, renamed into
   place, and recorded in SQLite: that step becomes *durable*.
Seeding (step 0) commits round by round in the same way: each round's samples, then one
transaction with its tasks and the seeding state (log lengths, RNG); its last round records
step 0. On `--resume`, everything after the last durable step (or, while seeding, after the
last committed round) is rolled back (tasks, evictions, step records, log lines, stray
checkpoint directories), the policy and RNG are restored from it, and training continues. A
crash at any instant therefore loses no committed step and repeats none in the logs; steps
after the last checkpoint are recomputed.

Ctrl-C (`azr.interrupts.StopRequest`, when `train` is given one): the first finishes the step
or seeding round in flight, commits and checkpoints it, and stops; a second stops at once,
like a crash.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from azr.config import TrainConfig
from azr.errors import UserError
from azr.interrupts import StopRequest
from azr.policy.base import Generator, Learner, Policy
from azr.policy.models import CHECKPOINT_META
from azr.rundir import METRICS, SAMPLES, RunDir, write_atomic
from azr.selfplay.loop import SelfPlay
from azr.selfplay.progress import Progress
from azr.selfplay.records import IDENTITY_PROGRAM
from azr.selfplay.rollout import StepResult
from azr.tracking import Tracking, finish_run, for_run

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
    stopped: str = ""  # set when Ctrl-C stopped the run early: what was finished ("step 3")


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


def prepare_resume(run: RunDir) -> int:
    """Roll a run directory back to its last durable step and return that step (-1: none);
    while seeding is unfinished, back to its last committed round (whose tasks stay)."""
    store = run.store
    durable = store.durable_step()
    seeding = store.seed_state() if durable < 0 else None
    if seeding is not None:
        offsets = seeding["offsets"]
        store.rollback_to(0)  # the committed rounds are step 0's tasks
    else:
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
    stop: StopRequest | None = None,
    from_step: int | None = None,
) -> RunSummary:
    """Run (or resume) self-play in `run_dir` until step `cfg.run.steps`. With `stop`, the
    first Ctrl-C ends the run after the step in flight (see the module doc)."""
    progress = progress or Progress()
    t_start = time.perf_counter()
    # Everything that can fail on user input (run dir, model, sandbox) fails before anything
    # is written.
    if resume:
        run = RunDir.open_existing(run_dir, cfg)
        if from_step is not None:
            _check_rewind(run, from_step)
    else:
        RunDir.check_new(run_dir)
    with contextlib.ExitStack() as stack:
        try:
            # The sandbox first: it starts in a second, and the caller's announcement of the
            # run directory (azr train's header) then comes before the slow model load.
            executor = stack.enter_context((executor_factory or default_executor)(cfg))
            policy = (policy_factory or default_policy)(cfg)
            generator = default_generator(cfg, policy, progress)
            stack.callback(_close_both, generator, policy)
        except BaseException:
            if resume:
                run.close()
            raise
        if not resume:
            run = RunDir.create(run_dir, cfg)
        try:
            if from_step is not None:
                rewind(run, from_step, progress)
            start = restore(run, cfg, policy, progress, resume)
            loop = SelfPlay(
                cfg, policy, executor, run.store, start.rng, progress, generator=generator
            )
            first = run_steps(loop, run, start.durable, cfg, progress, stop)
            seconds = time.perf_counter() - t_start
            if stop is not None and stop.stopped:
                return RunSummary(run.path, first, stop.last_step, seconds, stop.stopped)
            return RunSummary(run.path, first, cfg.run.steps, seconds)
        finally:
            run.close()


def _check_rewind(run: RunDir, step: int) -> None:
    """`--from-step`: the step must have a checkpoint in the run (fails before any loading)."""
    kept = [s for s, _ in run.store.checkpoints()]
    if step not in kept:
        run.close()
        listed = ", ".join(map(str, kept)) or "none"
        raise UserError(
            f"--from-step {step}: {run.path} has no checkpoint of step {step} (it has: {listed})"
        )


def rewind(run: RunDir, step: int, progress: Progress) -> None:
    """Make checkpoint `step` the newest: later checkpoints are forgotten, so the resume below
    rolls the logs and buffers back to it and trains the later steps again."""
    later = [s for s, _ in run.store.checkpoints() if s > step]
    for s in later:
        run.store.forget_checkpoint(s)
    if later:
        progress.warn(
            f"--from-step {step}: steps {step + 1}..{later[-1]} and their checkpoints are "
            "dropped and will be trained again"
        )


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
    rng = np.random.default_rng(cfg.run.seed)
    if resume:
        durable = prepare_resume(run)
        run.save_config(cfg)
        seeding = run.store.seed_state() if durable < 0 else None
        if durable >= 0:
            progress.info(f"resuming {run.path} after step {durable}")
        elif seeding is not None:
            rng.bit_generator.state = seeding["rng"]
            progress.info(f"resuming {run.path}: seeding continues after round {seeding['round']}")
        else:
            progress.info(f"resuming {run.path} from the start (no seeding round was committed)")
    loaded = False
    if durable >= 0:
        record = run.store.step_record(durable) or {}
        rng.bit_generator.state = record["rng"]
        ckpts = run.store.checkpoints()
        if ckpts and ckpts[-1][0] == durable:
            home = run.path / ckpts[-1][1] / "policy"
            if not (home / "optimizer.pt").is_file() and (home / CHECKPOINT_META).is_file():
                progress.warn(
                    f"step {durable}'s checkpoint keeps weights only (older checkpoints drop the "
                    "optimiser state): the optimiser's moments restart from zero"
                )
            policy.load(home)
            loaded = True
    return ResumePoint(durable, rng, loaded)


def run_steps(
    loop: SelfPlay,
    run: RunDir,
    durable: int,
    cfg: TrainConfig,
    progress: Progress,
    stop: StopRequest | None = None,
) -> int:
    """Seed (until seeding is over), then every step up to `cfg.run.steps`, each committed
    durably; returns the first step this call ran. With `stop`, SIGINT is handled by it: after
    a first Ctrl-C the run stops once the step (or seeding round) in flight is saved."""
    with stop.installed() if stop is not None else contextlib.nullcontext():
        tracking = for_run(run.path, cfg)  # --report-to: TensorBoard, W&B, MLflow
        try:
            first = max(durable, 0) + 1
            if durable < 0 and not _seed(loop, run, progress, stop):
                return first
            for step in range(first, cfg.run.steps + 1):
                if stop is not None:
                    stop.doing = f"step {step}"
                result = loop.step(step)
                saved = _commit(loop, run, step, result, cfg, progress, tracking)
                if stop is not None and stop.requested and step < cfg.run.steps:
                    if not saved:
                        _checkpoint(loop, run, step, cfg)
                    stop.finish(f"step {step}", step)
                    progress.info(f"stopped after step {step}: committed and checkpointed")
                    break
            finish_run(tracking, run.path)  # the report, as an artefact of the trackers
        finally:
            tracking.close()
    return first


def _seed(loop: SelfPlay, run: RunDir, progress: Progress, stop: StopRequest | None) -> bool:
    """Seed round by round, committing each; False when Ctrl-C stopped it after a round."""
    state = run.store.seed_state()
    after = None if state is None else int(state["round"])
    if after is None:
        progress.info("seeding the buffers from the identity triplet (no updates)")
    for rnd in loop.seed_rounds(after):
        run.append(SAMPLES, [r.record(0) for r in rnd.rollouts])
        crash_point("seed-before-commit", rnd.number)
        record: dict[str, Any] = {"offsets": run.offsets(), "rng": loop.rng.bit_generator.state}
        new = rnd.new_tasks
        if rnd.last:
            _store_step(run, 0, StepResult(new_tasks=new), {**record, **rnd.metrics})
        else:
            tasks = [(n.task_type, n.payload) for n in new]
            run.store.commit_seed_round(
                tasks, {**record, "round": rnd.number}, [n.key for n in new]
            )
        crash_point("seed-after-commit", rnd.number)
        if stop is not None and stop.requested:
            what = "seeding" if rnd.last else f"seeding round {rnd.number}"
            stop.finish(what, 0)
            progress.info(f"stopped after {what}: committed")
            return False
        if stop is not None:
            stop.doing = f"seeding round {rnd.number + 1}"
    sizes = run.store.sizes(loop.types)
    progress.info("seeded: " + ", ".join(f"{t} {n}" for t, n in sizes.items()) + " tasks")
    return True


def _commit(
    loop: SelfPlay,
    run: RunDir,
    step: int,
    result: StepResult,
    cfg: TrainConfig,
    progress: Progress,
    tracking: Tracking,
) -> bool:
    """Write a finished step durably (logs, one SQLite transaction, maybe a checkpoint);
    returns whether it was checkpointed."""
    metrics: dict[str, Any] = {
        "step": step,
        **result.metrics,
        **_buffer_metrics(run, result, loop.types),
    }
    metrics.update(loop.timer.summary())
    records = [r.record(step) for r in result.rollouts]
    run.append(SAMPLES, records)
    crash_point("step-after-samples", step)
    run.append(METRICS, [metrics])
    crash_point("step-before-commit", step)
    record = {"offsets": run.offsets(), "rng": loop.rng.bit_generator.state}
    _store_step(run, step, result, record)
    crash_point("step-after-commit", step)
    saved = step % cfg.run.checkpoint_every == 0 or step == cfg.run.steps
    if saved:
        t0 = time.perf_counter()
        _checkpoint(loop, run, step, cfg)
        metrics["time/checkpoint"] = round(time.perf_counter() - t0, 3)
    progress.step_done(step, cfg.run.steps, metrics, loop.types)
    tracking.log_step(step, metrics, records)
    return saved


def _checkpoint(loop: SelfPlay, run: RunDir, step: int, cfg: TrainConfig) -> None:
    """Save the policy and the loop state of committed step `step`: it becomes durable."""
    record = run.store.step_record(step) or {}
    tmp = run.begin_checkpoint(step)
    (tmp / "policy").mkdir()
    loop.policy.save(tmp / "policy")
    write_atomic(tmp / "loop_state.json", json.dumps({"step": step, **record}))
    crash_point("checkpoint-before-record", step)
    run.finish_checkpoint(step, tmp, cfg.run.keep_checkpoints, cfg.run.keep_every)


def _store_step(run: RunDir, step: int, result: StepResult, record: dict[str, Any]) -> None:
    """The step's ONE SQLite transaction: its new tasks, the cap, its record."""
    new = result.new_tasks
    run.store.commit_step(
        step, [(n.task_type, n.payload) for n in new], record, keys=[n.key for n in new]
    )


def _buffer_metrics(run: RunDir, result: StepResult, types: Sequence[str]) -> dict[str, int]:
    """Per task type of the run: the buffer size after this step (before it commits) and its
    new tasks."""
    store = run.store
    new = result.new_tasks
    known = store.known([(n.task_type, n.payload) for n in new], keys=[n.key for n in new])
    fresh: dict[str, set[str]] = {}
    for n, was_known in zip(new, known, strict=True):
        if not was_known:
            fresh.setdefault(n.task_type, set()).add(n.key)
    sizes = store.sizes(types)
    out: dict[str, int] = {}
    for t in types:
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
