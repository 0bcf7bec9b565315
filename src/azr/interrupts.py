"""Ctrl-C that keeps work.

`StopRequest` turns the first SIGINT of a training run into a request: the trainer finishes
the step (or seeding round) in flight, commits and checkpoints it, and stops. A second SIGINT
raises `KeyboardInterrupt` at once, as the default handler would; the step in flight is then
lost and `--resume` continues from the last durable step, exactly as after `kill -9`.

`sigint_blocked()` starts helper processes with SIGINT blocked: a blocked signal stays blocked
across fork, so a Ctrl-C at the terminal, which the kernel sends to every process of the
foreground group, cannot kill them under a step that is being finished. That is not enough for
processes that Python's multiprocessing *spawns* (vLLM's engine on a CPU): the interpreter they
exec installs its own SIGINT handling, and vLLM's engine shuts down on SIGINT (measured: a
terminal Ctrl-C killed the engine, EngineDeadError). `own_process_group()` starts them in a
process group of their own, which a terminal's Ctrl-C does not reach. The trainer stops such
helpers itself (and a watchdog does when the trainer is killed).

`signal_point` is a test hook like `azr.selfplay.trainer.crash_point`: `AZR_SIGINT_AT=<name>[:<n>]`
(several separated by commas) makes the process send itself SIGINT at that point.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType


class StopRequest:
    """The first Ctrl-C asks to stop after the work in flight; the second stops at once."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self.requested = False
        self.doing = "the current step"  # what the trainer is working on, for the message
        self.stopped = ""  # what was finished when the run stopped early ("step 3")
        self.last_step = -1  # the last step committed then (0: seeding)

    def finish(self, what: str, step: int) -> None:
        """Record that the run stops early after `what` (step `step` is its last)."""
        self.stopped, self.last_step = what, step

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        message = (
            f"Ctrl-C: finishing {self.doing} and saving it, then stopping "
            "(Ctrl-C again stops at once and loses it)"
        )
        # Said from a thread: the handler may have interrupted this thread in the middle of a
        # print, and printing here would repeat that print's half-flushed buffer.
        threading.Thread(target=self.say, args=(message,), daemon=True).start()

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopRequest]:
        """Handle SIGINT this way inside the block (main thread only; elsewhere a no-op)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = signal.signal(signal.SIGINT, self._handle)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread inside the block, so processes started here inherit the
    block; a SIGINT that arrives meanwhile is delivered to this process when the block ends."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


# The interpreter multiprocessing spawns inside `own_process_group`: it leaves the terminal's
# process group, then execs the real interpreter with the same arguments (same pid).
_OWN_GROUP = (
    "import os, sys; os.setpgrp(); os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


@contextlib.contextmanager
def own_process_group(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Processes that multiprocessing spawns inside the block start in their own process
    group (a small launcher written to `folder` is the spawn executable meanwhile), so a
    terminal's Ctrl-C does not reach them. Forked children are not affected. POSIX only."""
    import multiprocessing.spawn as mp_spawn

    if os.name != "posix":
        yield
        return
    launcher = os.path.join(os.fspath(folder), "python-own-group")
    with open(launcher, "w", encoding="utf-8") as fh:
        python, code = shlex.quote(sys.executable), shlex.quote(_OWN_GROUP)
        fh.write(f'#!/bin/sh\nexec {python} -c {code} "$@"\n')
    os.chmod(launcher, 0o755)
    old = mp_spawn.get_executable()
    mp_spawn.set_executable(launcher)
    try:
        yield
    finally:
        mp_spawn.set_executable(old)


def signal_point(name: str, n: int) -> None:
    """Test hook: `AZR_SIGINT_AT=<name>[:<n>][,...]` sends this process SIGINT here."""
    for spec in filter(None, os.environ.get("AZR_SIGINT_AT", "").split(",")):
        want, _, at = spec.partition(":")
        if want == name and (not at or int(at) == n):
            os.kill(os.getpid(), signal.SIGINT)
