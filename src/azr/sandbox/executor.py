"""The batched executor: a pool of sandboxes, each a bubblewrap jail around a worker.

The parent (this module) never runs untrusted code. Its work per job is small: it frames jobs
into batches, reads JSON result lines, combines the two hash-seed runs of a determinism check
and re-parses accepted values with ``ast.literal_eval``. Compilation, the static policy and
execution all happen in the workers (see ``_worker.py`` for the process layout).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import struct
import subprocess
import sys
import threading
import time
import warnings
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from azr.sandbox._jail import HERE, bwrap_command, precompile_worker, python_command, usable_cpus
from azr.sandbox._run_state import Batch, Job, RunState
from azr.sandbox.api import (
    ISOLATION_MODES,
    OPT_OUT_HINT,
    PLACES,
    STATUSES,
    ExecRequest,
    ExecResult,
    SandboxConfig,
    SandboxUnavailable,
)

_BACKSTOP_GRACE_S = 5.0
_MAX_LINE_BYTES = 64 << 20


@dataclass(eq=False)  # compared by identity
class _Sandbox:
    """One lane: a worker's protocol pipes. The lanes of one jail share its process."""

    group: int
    proc: subprocess.Popen[bytes]
    wfd: int
    rfd: int
    lane: int = 0  # lane 0 uses the process's stdin/stdout; others pipes of their own
    jail: list[_Sandbox] = field(default_factory=list)  # all lanes of the jail, this one too
    closed: bool = False
    rbuf: bytearray = field(default_factory=bytearray)
    wbuf: bytearray = field(default_factory=bytearray)
    outstanding: dict[int, Job] = field(default_factory=dict)
    batches: deque[Batch] = field(default_factory=deque)
    last_progress: float = field(default_factory=time.monotonic)
    info: dict[str, Any] | None = None


class Executor:
    """A pool of sandboxed workers that runs batches of jobs; results come back in order."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = cfg = config or SandboxConfig()
        if cfg.isolation not in ISOLATION_MODES:
            raise ValueError(f"isolation must be 'auto', 'bwrap' or 'none', not {cfg.isolation!r}")
        self._lock = threading.Lock()
        self._seq = 0
        self._closed = False
        # "auto" and "bwrap" both mean bubblewrap today (see ISOLATION_MODES); neither ever
        # falls back to running without an OS boundary.
        self._bwrap = shutil.which("bwrap")
        if cfg.isolation != "none" and (
            self._bwrap is None or not sys.platform.startswith("linux")
        ):
            raise SandboxUnavailable(
                "bubblewrap (bwrap) is not available: install it (apt-get install bubblewrap), "
                + OPT_OUT_HINT
            )
        if cfg.isolation == "none":
            warnings.warn(
                "azr sandbox: isolation='none' runs untrusted code without an OS boundary "
                "(only rlimits, seccomp and the static policy)",
                RuntimeWarning,
                stacklevel=2,
            )
        precompile_worker()
        workers = cfg.workers or usable_cpus()
        self._count = max(2, workers)
        self._worker_config = {
            "memory_mb": cfg.memory_mb,
            "max_output_chars": cfg.max_output_chars,
            "cpu_budget_s": cfg.cpu_budget_s,
            "recycle_rss_mb": cfg.recycle_rss_mb,
            "recursion_limit": cfg.recursion_limit,
            "policy": cfg.policy,
            "flush_s": cfg.flush_s,
            "code_cache": cfg.code_cache,
        }
        self._sandboxes: list[_Sandbox] = []
        self._finalizer = weakref.finalize(self, _shutdown, self._sandboxes)
        try:
            # one jail per hash-seed group; its workers are lanes forked inside it
            for group, lanes in enumerate(((self._count + 1) // 2, self._count // 2)):
                self._sandboxes.extend(self._spawn(group, lanes))
            self._await_ready(time.monotonic() + cfg.start_timeout_s)
        except BaseException:
            self.close()
            raise
        infos = [sb.info or {} for sb in self._sandboxes]
        self.seccomp = all(info.get("seccomp") for info in infos)
        layers = ["bwrap"] if cfg.isolation != "none" else ["none"]
        if self.seccomp:
            layers.append("seccomp")
        layers += ["rlimits", "policy"] if cfg.policy else ["rlimits", "NO-POLICY"]
        self.isolation_level = "+".join(layers)

    # ------------------------------------------------------------------ lifecycle

    def _spawn(self, group: int, lanes: int) -> list[_Sandbox]:
        """Start one jail with `lanes` workers of hash-seed `group`."""
        seed = self.config.hash_seeds[group]
        pipes = [os.pipe() + os.pipe() for _ in range(lanes - 1)]  # (in_r, in_w, out_r, out_w)
        config = {**self._worker_config, "lanes": [[p[0], p[3]] for p in pipes]}
        if self.config.isolation == "none":
            cmd = python_command(str(HERE), config)
            env: dict[str, str] | None = {"PYTHONHASHSEED": str(seed)}
        else:
            assert self._bwrap is not None
            cmd = bwrap_command(seed, config, self._bwrap)
            env = {}
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
                close_fds=True,
                pass_fds=[fd for p in pipes for fd in (p[0], p[3])],
                start_new_session=True,
                cwd="/",
            )
        except BaseException:
            for p in pipes:
                for fd in p:
                    os.close(fd)
            raise
        for p in pipes:  # the jail's ends
            os.close(p[0])
            os.close(p[3])
        assert proc.stdin is not None and proc.stdout is not None
        ends = [(proc.stdin.fileno(), proc.stdout.fileno())] + [(p[1], p[2]) for p in pipes]
        jail: list[_Sandbox] = []
        for lane, (wfd, rfd) in enumerate(ends):
            os.set_blocking(wfd, False)
            jail.append(_Sandbox(group=group, proc=proc, wfd=wfd, rfd=rfd, lane=lane, jail=jail))
        return jail

    def _await_ready(self, deadline: float) -> None:
        waiting = {sb.rfd: sb for sb in self._sandboxes}
        while waiting:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SandboxUnavailable(self._diagnose("the sandbox did not start in time"))
            ready, _, _ = select.select(list(waiting), [], [], left)
            for fd in ready:
                sb = waiting[fd]
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise SandboxUnavailable(self._diagnose("the sandbox exited at start-up"))
                sb.rbuf += chunk
                while b"\n" in sb.rbuf:
                    line, _, rest = bytes(sb.rbuf).partition(b"\n")
                    sb.rbuf = bytearray(rest)
                    if line.strip():
                        try:
                            msg = json.loads(line)
                        except ValueError:
                            raise SandboxUnavailable(
                                "the sandbox sent garbage at start-up"
                            ) from None
                        if isinstance(msg, dict) and msg.get("ready"):
                            sb.info = msg
                            self._check_info(msg)
                            waiting.pop(fd, None)

    def _check_info(self, info: dict[str, Any]) -> None:
        if self.config.isolation == "none":
            return
        problems = []
        if info.get("uid") != 65534:
            problems.append(f"uid is {info.get('uid')}, not nobody")
        if any(name != "lo" for name in info.get("net", [])):
            problems.append(f"network interfaces visible: {info.get('net')}")
        if set(info.get("env", [])) - {"PYTHONHASHSEED", "PWD", "LC_CTYPE"}:
            problems.append("environment not empty")
        if problems:
            raise SandboxUnavailable("sandbox isolation check failed: " + "; ".join(problems))

    def _diagnose(self, what: str) -> str:
        if self.config.isolation == "none":
            return f"{what} (isolation='none')"
        probe = bwrap_command(0, self._worker_config, self._bwrap or "bwrap")
        idx = probe.index(os.path.realpath(sys.executable))
        probe = probe[:idx] + ["/usr/bin/true"]
        try:
            done = subprocess.run(probe, capture_output=True, timeout=10, env={})
            detail = " ".join(done.stderr.decode(errors="replace").split())  # one line
            detail = detail or f"exit {done.returncode}"
            if done.returncode == 0:
                return f"{what}: bubblewrap works, but the Python worker inside it did not start"
        except (OSError, subprocess.TimeoutExpired) as exc:
            detail = str(exc)
        return f"{what}: bubblewrap failed ({detail}); fix that, {OPT_OUT_HINT}"

    def close(self) -> None:
        """Stop every worker and wait for them; safe to call twice."""
        self._closed = True
        self._finalizer()

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _restart(self, sb: _Sandbox, state: RunState | None = None) -> None:
        """Replace the jail of `sb`, all its lanes; the other lanes' jobs are run again."""
        jail = sb.jail
        _kill(sb)
        fresh = self._spawn(sb.group, len(jail))
        for old, new in zip(jail, fresh, strict=True):
            self._sandboxes[self._sandboxes.index(old)] = new
            if old is not sb and state is not None:
                for job in old.outstanding.values():
                    state.requeue(job, blame=False)  # lost with the jail, not its cause
            old.outstanding.clear()

    # ------------------------------------------------------------------ running

    def run(self, requests: Sequence[ExecRequest]) -> list[ExecResult]:
        """Run all requests (in parallel, batched); results are in the same order."""
        if self._closed:
            raise RuntimeError("executor is closed")
        with self._lock:
            try:
                return self._run(requests)
            except BaseException:
                # Interrupted (Ctrl-C, a bug): sandboxes still busy with this call's jobs are
                # replaced, so no stale result can reach a later call.
                for sb in list(self._sandboxes):
                    if sb in self._sandboxes and (sb.outstanding or sb.wbuf):
                        sb.outstanding.clear()
                        self._restart(sb)
                raise

    def _run(self, requests: Sequence[ExecRequest]) -> list[ExecResult]:
        state = RunState(requests, self.config.timeout_s, self._seq)
        next_check = time.monotonic() + 0.5
        while state.remaining:
            for sb in self._sandboxes:
                self._dispatch(sb, state)
            by_rfd = {sb.rfd: sb for sb in self._sandboxes if sb.outstanding}
            by_wfd = {sb.wfd: sb for sb in self._sandboxes if sb.wbuf}
            readable, writable, _ = select.select(list(by_rfd), list(by_wfd), [], 0.5)
            for fd in writable:
                sb = by_wfd[fd]
                if sb not in self._sandboxes:  # its jail was replaced in this round
                    continue
                try:
                    del sb.wbuf[: os.write(fd, sb.wbuf)]
                except BlockingIOError:
                    pass
                except OSError:
                    self._lost(sb, state)
            for fd in readable:
                sb = by_rfd[fd]
                if sb in self._sandboxes:
                    self._receive(sb, state)
            now = time.monotonic()
            if now >= next_check:  # not every round: the scan costs more than a round
                next_check = now + 0.5
                for sb in list(self._sandboxes):
                    if sb in self._sandboxes and sb.outstanding:
                        limit = max(job.timeout for job in sb.outstanding.values())
                        if now - sb.last_progress > limit + _BACKSTOP_GRACE_S:
                            self._lost(sb, state)  # the supervisor should have acted
        self._seq = state.next_seq
        return [r for r in state.results if r is not None]

    def _receive(self, sb: _Sandbox, state: RunState) -> None:
        try:
            chunk = os.read(sb.rfd, 1 << 20)
        except OSError:
            chunk = b""
        if not chunk:
            self._lost(sb, state)
            return
        sb.last_progress = time.monotonic()
        sb.rbuf += chunk
        if b"\n" not in chunk:
            if len(sb.rbuf) > _MAX_LINE_BYTES:  # no honest worker writes such a line
                self._lost(sb, state)
            return
        end = sb.rbuf.rindex(b"\n")
        lines = [line for line in bytes(sb.rbuf[:end]).split(b"\n") if line]
        del sb.rbuf[: end + 1]
        try:  # one parse for all complete lines; line by line only if one is broken
            messages = json.loads(b"[" + b",".join(lines) + b"]")
        except ValueError:
            messages = []
            for line in lines:
                # a line cut short by a dying executor is dropped; its jobs are re-run
                with contextlib.suppress(ValueError):
                    messages.append(json.loads(line))
        for msg in messages:
            self._handle(sb, msg, state)

    def _dispatch(self, sb: _Sandbox, state: RunState) -> None:
        size = self.config.batch_size
        while len(sb.outstanding) < 2 * size:
            jobs = state.take(sb.group, size)
            if not jobs:
                return
            payload = json.dumps([job.wire(state.requests) for job in jobs]).encode()
            if not sb.outstanding:
                sb.last_progress = time.monotonic()
            batch = Batch([job.seq for job in jobs], len(jobs))
            for job in jobs:
                job.batch = batch
                sb.outstanding[job.seq] = job
            sb.batches.append(batch)
            sb.wbuf += struct.pack("<I", len(payload)) + payload
            try:
                del sb.wbuf[: os.write(sb.wfd, sb.wbuf)]
            except BlockingIOError:
                pass
            except OSError:
                return

    def _handle(self, sb: _Sandbox, msg: Any, state: RunState) -> None:
        if type(msg) is list:  # a list of results
            outstanding = sb.outstanding
            for row in msg:
                if type(row) is not list or len(row) != 8:
                    continue
                seq, status, value, error, elapsed, code, exc_type, where = row
                job = outstanding.pop(seq, None) if type(seq) is int else None
                if job is None:
                    continue
                self._answered(sb, job)
                if status not in STATUSES:
                    status, value, error = "crashed", None, "malformed result from the worker"
                failed = status == "error"
                res = ExecResult(
                    status,
                    value if type(value) is str else None,
                    error if type(error) is str else None,
                    float(elapsed) if type(elapsed) in (int, float) else 0.0,
                    exc_type if failed and type(exc_type) is str else None,
                    where if failed and where in PLACES else None,
                )
                state.finish(job, res, code if type(code) is str else None)
            return
        if type(msg) is not dict:
            return
        seq = msg.get("timeout", msg.get("crash"))
        if type(seq) is not int:
            return
        lost = self._lost_seqs(sb, seq)
        job = sb.outstanding.get(seq)
        if job is not None and "timeout" in msg:
            sb.outstanding.pop(seq)
            self._answered(sb, job)
            state.finish(job, ExecResult("timeout", error=f"timed out after {job.timeout:g}s"))
        elif job is not None and msg.get("running"):
            # Killed from outside or crashed by the job itself: run it again; a job that keeps
            # killing its executor ends as "crashed" after MAX_TRIES.
            sb.outstanding.pop(seq)
            self._answered(sb, job)
            job.last_error = f"the worker died while running it (exit status {msg.get('code')})"
            state.requeue(job)
        # The batch-mates it held die with it. When the notice names the job that was running
        # (a timeout, or a crash during a job), they are innocent: run again without blame.
        # Otherwise (it died between jobs) nobody is known to be innocent.
        known = "timeout" in msg or (job is not None and bool(msg.get("running")))
        for s in lost:
            lost_job = sb.outstanding.pop(s, None)
            if lost_job is not None:
                self._answered(sb, lost_job)
                state.requeue(lost_job, blame=not known)

    @staticmethod
    def _answered(sb: _Sandbox, job: Job) -> None:
        if job.batch is not None:
            job.batch.left -= 1
        while sb.batches and sb.batches[0].left <= 0:
            sb.batches.popleft()

    @staticmethod
    def _lost_seqs(sb: _Sandbox, seq: int) -> list[int]:
        """Outstanding jobs an executor held in memory when it died at job `seq`."""
        lost: list[int] = []
        for batch in sb.batches:
            lost.extend(s for s in batch.seqs if s in sb.outstanding)
            if seq in batch.seqs:
                return lost
        # it died between jobs: it may have read the first unanswered batch already
        for batch in sb.batches:
            first = [s for s in batch.seqs if s in sb.outstanding]
            if first:
                return first
        return []

    def _lost(self, sb: _Sandbox, state: RunState) -> None:
        jobs = list(sb.outstanding.values())
        sb.outstanding.clear()
        self._restart(sb, state)
        for job in jobs:
            state.requeue(job)


def _close_lanes(jail: list[_Sandbox]) -> None:
    """Close the parent's ends of every lane of a jail (once)."""
    for lane in jail:
        if lane.lane and not lane.closed:
            for fd in (lane.wfd, lane.rfd):
                with contextlib.suppress(OSError):
                    os.close(fd)
        lane.closed = True


def _kill(sb: _Sandbox) -> None:
    """Kill the jail of `sb` (every lane) and wait for it."""
    _close_lanes(sb.jail)
    for pipe in (sb.proc.stdin, sb.proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
    with contextlib.suppress(OSError):
        sb.proc.kill()  # bwrap dies; --die-with-parent and the pid namespace take the rest
    with contextlib.suppress(subprocess.TimeoutExpired):
        sb.proc.wait(timeout=5)


def _shutdown(sandboxes: list[_Sandbox]) -> None:
    """Close stdin so workers exit cleanly, then make sure every process is gone."""
    for sb in sandboxes:
        try:
            if sb.lane == 0 and sb.proc.stdin is not None:
                sb.proc.stdin.close()
            elif sb.lane and not sb.closed:
                os.close(sb.wfd)
                sb.wfd = -1
        except OSError:
            pass
    deadline = time.monotonic() + 1.0
    for sb in sandboxes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            sb.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        _kill(sb)
    sandboxes.clear()
