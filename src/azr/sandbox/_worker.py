"""The sandbox worker. Runs inside the jail as a top-level module (stdlib + sibling modules).

Process layout inside one sandbox:
  W0, the supervisor: never runs untrusted code. It imports the preloaded modules, builds
      read-only module proxies and the restricted builtins, then forks executors from that
      clean state, kills an executor whose job overruns its time limit, and reports losses.
  E, an executor: installs a seccomp filter (no fork, exec, kill, sockets), reads batches of
      jobs from the protocol pipe and runs them one after another, each in fresh globals with
      its own copy of the builtins. After a job that could have changed shared state (a
      "dirty" job), after a MemoryError or when it grew too big, E hands its unfinished jobs
      back to W0 and exits; W0 forks a fresh one (about 2 ms).

Protocol: the parent sends length-prefixed JSON batches
``[[seq, program, expr, timeout, mode, code, profile], ...]`` (mode 0: compile and run; 1: also
export the compiled code, marshalled, for the other hash seed's sandbox; 2: run the given code,
compiled and checked by that sandbox; profile: the policy profile, "strict" or "benchmark",
see rules.py); the sandbox answers with JSON lines
``[seq, status, value_repr, error, elapsed, code, exc_type, where]`` (the last two: the
raised exception's class and where it was raised, only with status "error") and notices
``{"ready": ...}``, ``{"timeout": seq}``, ``{"crash": seq, "running": 0|1, "code": n}``.
"""

from __future__ import annotations

import gc
import json
import mmap
import os
import resource
import select
import signal
import struct
import sys
import time
from collections import deque
from typing import Any

from _jobs import State, run_job  # type: ignore[import-not-found]

try:
    import _seccomp  # type: ignore[import-not-found]
except Exception:  # pragma: no cover - only on odd builds without ctypes
    _seccomp = None

RECYCLE = 3
_SHM = struct.Struct("qqdd")  # last started seq, running flag, start time, timeout


# ---------------------------------------------------------------------------- executor process


def _read_exact(fd: int, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def executor_main(
    st: State, pending: deque[list[Any]], fds: dict[str, int], shm: mmap.mmap, filt: bytes | None
) -> None:
    """Body of an executor process; never returns."""
    budget = int(st.cfg["cpu_budget_s"])
    resource.setrlimit(resource.RLIMIT_CPU, (budget, budget + 5))
    if filt is not None:
        _seccomp.install(filt)
    rows: list[list[Any]] = []
    last_flush = time.monotonic()
    max_rss_kb = int(st.cfg["recycle_rss_mb"]) * 1024
    in_fd, out_fd = fds["in"], fds["out"]
    flush_every = float(st.cfg.get("flush_s", 0.005))
    pack, monotonic = _SHM.pack_into, time.monotonic
    done = 0

    def flush() -> None:
        nonlocal last_flush
        if rows:  # one line for all results held: one encode, one write
            _write_all(out_fd, json.dumps(rows).encode() + b"\n")
            rows.clear()
        last_flush = monotonic()

    while True:
        if not pending:
            flush()
            header = _read_exact(in_fd, 4)
            if header is None:
                os._exit(0)
            body = _read_exact(in_fd, struct.unpack("<I", header)[0])
            if body is None:
                os._exit(0)
            pending.extend(json.loads(body))
            continue
        seq, program, expr, timeout, mode, blob, profile = pending.popleft()
        now = monotonic()
        if rows and now - last_flush > flush_every:
            flush()
            now = last_flush
        pack(shm, 0, seq, 1, now, timeout)
        status, value, error, dirty, needs_gc, code, exc_type, where = run_job(
            st, program, expr, blob, mode == 1, profile
        )
        if needs_gc:
            gc.collect()
            # What survives is the executor's own state: frozen, later collections skip it.
            gc.freeze()
        end = monotonic()
        pack(shm, 0, seq, 0, now, timeout)
        rows.append([seq, status, value, error, round(end - now, 6), code, exc_type, where])
        done += 1
        if dirty or (done % 64 == 0 and _rss_kb() > max_rss_kb):
            flush()
            _write_all(fds["handoff"], json.dumps(list(pending)).encode())
            os._exit(RECYCLE)


# ---------------------------------------------------------------------------- supervisor


def _rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _set_limits(cfg: dict[str, Any]) -> None:
    mem = int(cfg["memory_mb"]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 20, 16 << 20))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _seccomp_filter() -> bytes | None:
    """The filter if it installs here (tested in a throwaway child), else None."""
    if _seccomp is None or not _seccomp.supported():
        return None
    filt = _seccomp.build_filter()
    pid = os.fork()
    if pid == 0:
        try:
            _seccomp.install(filt)
            try:
                os.fork()
            except PermissionError:
                os._exit(0)
            os._exit(1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    return filt if os.waitstatus_to_exitcode(status) == 0 else None


def _emit(fd: int, obj: object) -> None:
    _write_all(fd, b"\n" + json.dumps(obj).encode() + b"\n")


def main(config_json: str) -> None:
    """Entry point of the supervisor process."""
    cfg = json.loads(config_json)
    fds = {"in": os.dup(0), "out": os.dup(1)}
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)  # print() and stray writes go nowhere, not into the protocol
    os.close(devnull)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    _set_limits(cfg)
    st = State(cfg)
    filt = _seccomp_filter()
    sys.setrecursionlimit(int(cfg.get("recursion_limit", 1000)))
    gc.collect()
    gc.freeze()  # the prepared state stays out of later collections: cheap gc in executors
    # Lane 0 talks over stdin/stdout; more lanes (parallel workers of the same hash seed in
    # this jail) get pipes of their own. Each lane is a supervisor forked from this prepared
    # state, so a jail with several lanes pays the interpreter start-up once.
    lanes = [(fds["in"], fds["out"])] + [(int(a), int(b)) for a, b in cfg.get("lanes", [])]
    for i in range(1, len(lanes)):
        if os.fork() == 0:
            try:
                for j, (a, b) in enumerate(lanes):
                    if j != i:
                        os.close(a)
                        os.close(b)
                _serve(st, filt, *lanes[i])
            finally:
                os._exit(70)
    for a, b in lanes[1:]:
        os.close(a)
        os.close(b)
    _serve(st, filt, *lanes[0])


def _serve(st: State, filt: bytes | None, in_fd: int, out_fd: int) -> None:
    """One lane: report ready, then fork executors one after another and watch them."""
    fds = {"in": in_fd, "out": out_fd}
    shm = mmap.mmap(-1, _SHM.size)
    _SHM.pack_into(shm, 0, -1, 0, 0.0, 0.0)
    _emit(
        out_fd,
        {
            "ready": True,
            "uid": os.getuid(),
            "seccomp": filt is not None,
            "hash_seed": os.environ.get("PYTHONHASHSEED"),
            "env": sorted(os.environ),
            "net": _interfaces(),
        },
    )
    pending: deque[list[Any]] = deque()
    while True:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(r)
                executor_main(st, pending, {**fds, "handoff": w}, shm, filt)
            finally:
                os._exit(70)
        os.close(w)
        code, data, killed = _supervise(pid, r, shm)
        os.close(r)
        if code == 0:
            os._exit(0)
        pending = deque()
        if code == RECYCLE and killed is None:
            try:
                pending = deque(json.loads(data))
                continue
            except ValueError:
                pass
        seq, running, _, _ = _SHM.unpack_from(shm, 0)
        if killed is not None:
            _emit(out_fd, {"timeout": killed})  # the overdue job, even if E moved on
        else:
            _emit(out_fd, {"crash": seq, "running": running, "code": code})
        _SHM.pack_into(shm, 0, -1, 0, 0.0, 0.0)


def _supervise(pid: int, r: int, shm: mmap.mmap) -> tuple[int, bytes, int | None]:
    """Wait for executor `pid`, killing it when its job overruns.

    Returns (exit code, handoff data, seq of the overdue job it was killed for or None).
    """
    pidfd = os.pidfd_open(pid)
    data = bytearray()
    watch = [pidfd, r]
    killed: int | None = None
    while True:
        seq, running, start, timeout = _SHM.unpack_from(shm, 0)
        wait = 0.25
        if running:
            left = start + timeout - time.monotonic()
            if left <= 0 and killed is None:
                os.kill(pid, signal.SIGKILL)  # uncatchable; the job's own handlers never run
                killed = seq
            wait = max(0.005, min(wait, left))
        ready, _, _ = select.select(watch, [], [], wait)
        if r in ready:
            chunk = os.read(r, 1 << 16)
            if chunk:
                data += chunk
            else:
                watch = [pidfd]
        if pidfd in ready:
            break
    while r in watch:
        chunk = os.read(r, 1 << 16)
        if not chunk:
            break
        data += chunk
    os.close(pidfd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), bytes(data), killed


def _interfaces() -> list[str]:
    try:
        with open("/proc/net/dev") as fh:
            return [line.split(":")[0].strip() for line in fh.readlines()[2:]]
    except OSError:
        return []
