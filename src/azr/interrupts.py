"""Ctrl-C that keeps work.

`StopRequest` turns the first SIGINT of a training run into a request: the trainer finishes
the step (or seeding round) in flight, commits and checkpoints it, and stops. A second SIGINT
raises `KeyboardInterrupt` at once, as the default handler would; the step in flight is then
lost and `--resume` continues from the last durable step, exactly as after `kill -9`.

`sigint_blocked()` starts helper processes (the vLLM engine) with SIGINT blocked: a blocked
signal stays blocked across fork and exec, so a Ctrl-C at the terminal, which the kernel sends
to every process of the foreground group, cannot kill the engine under a step that is being
finished. The trainer stops such helpers itself.

`signal_point` is a test hook like `azr.selfplay.trainer.crash_point`: `AZR_SIGINT_AT=<name>[:<n>]`
(several separated by commas) makes the process send itself SIGINT at that point.
"""

from __future__ import annotations

import contextlib
import os
import signal
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


def signal_point(name: str, n: int) -> None:
    """Test hook: `AZR_SIGINT_AT=<name>[:<n>][,...]` sends this process SIGINT here."""
    for spec in filter(None, os.environ.get("AZR_SIGINT_AT", "").split(",")):
        want, _, at = spec.partition(":")
        if want == name and (not at or int(at) == n):
            os.kill(os.getpid(), signal.SIGINT)
