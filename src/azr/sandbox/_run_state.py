"""Bookkeeping of one `Executor.run` call: jobs, queues, the two-phase determinism check.

A request with ``check_determinism`` runs twice, in sandboxes with different hash seeds. The
first run compiles the program and exports the marshalled code; the second run, in the other
group, loads that code instead of compiling again (compiling is most of the cost of a job).
Results that cannot change under another seed (syntax errors, policy refusals) and limits hit
on the first run (timeout, memory, crash) end the request without a second run.
"""

from __future__ import annotations

import ast
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from azr.sandbox.api import ExecRequest, ExecResult

MAX_TRIES = 3  # a job that kills its executor this many times (each time alone) is "crashed"
# A job that lost its executor to a batch-mate is re-run without blame; this only bounds the
# (impossible by construction: every loss blames or finishes one job) case of endless losses.
MAX_LOST = 100
MAX_SOURCE_CHARS = 1_000_000
MODE_RUN, MODE_EXPORT, MODE_IMPORT = 0, 1, 2
_FINAL_AFTER_FIRST = frozenset({"syntax_error", "policy", "timeout", "memory", "crashed"})


@dataclass(slots=True)
class Batch:
    """Jobs sent to a sandbox in one message; `left` counts the unanswered ones."""

    seqs: list[int]
    left: int


@dataclass(slots=True)
class Job:
    """One execution in one sandbox."""

    seq: int
    index: int  # position in the caller's request list
    group: int | None  # hash-seed group; None = any sandbox
    mode: int
    timeout: float
    code: str | None = None
    tries: int = 0  # times this job was blamed for the death of its executor
    lost: int = 0  # times it was re-run because a batch-mate took the executor down
    solo: bool = False  # blamed once: from then on it runs in a batch of its own
    batch: Batch | None = None
    last_error: str = "the job lost its worker repeatedly"

    def wire(self, requests: Sequence[ExecRequest]) -> list[object]:
        """The job as the worker protocol wants it."""
        if self.mode == MODE_IMPORT:  # the code carries everything the second run needs
            # (the profile still travels: it picks the builtins the code runs with)
            profile = requests[self.index].policy_profile
            return [self.seq, "", "", self.timeout, self.mode, self.code, profile]
        req = requests[self.index]
        return [self.seq, req.program, req.expr, self.timeout, self.mode, None, req.policy_profile]


@dataclass
class RunState:
    """Queues and partial results of one run."""

    requests: Sequence[ExecRequest]
    default_timeout: float
    next_seq: int
    results: list[ExecResult | None] = field(default_factory=list)
    first: dict[int, ExecResult] = field(default_factory=dict)
    # queues per hash-seed group: second runs first (they finish requests), then new work
    second: tuple[deque[Job], deque[Job]] = field(default_factory=lambda: (deque(), deque()))
    fresh: tuple[deque[Job], deque[Job], deque[Job]] = field(
        default_factory=lambda: (deque(), deque(), deque())
    )
    # blamed jobs, sent one per batch so a second death cannot take innocent jobs with it
    solo: tuple[deque[Job], deque[Job], deque[Job]] = field(
        default_factory=lambda: (deque(), deque(), deque())
    )
    remaining: int = 0

    def __post_init__(self) -> None:
        self.results = [None] * len(self.requests)
        self.remaining = len(self.requests)
        for index, req in enumerate(self.requests):
            timeout = float(req.timeout_s if req.timeout_s is not None else self.default_timeout)
            if len(req.program) + len(req.expr) > MAX_SOURCE_CHARS:
                self._done(index, ExecResult("policy", error="program too long"))
            elif req.check_determinism:
                group = index % 2  # alternate which group compiles, to balance the load
                self.fresh[group].append(Job(self._seq(), index, group, MODE_EXPORT, timeout))
            else:
                self.fresh[2].append(Job(self._seq(), index, None, MODE_RUN, timeout))

    def _seq(self) -> int:
        self.next_seq += 1
        return self.next_seq

    def take(self, group: int, size: int) -> list[Job]:
        """Up to `size` jobs for a sandbox of `group`; a blamed job always goes alone."""
        for queue in (self.solo[group], self.solo[2]):
            if queue:
                return [queue.popleft()]
        batch: list[Job] = []
        for queue in (self.second[group], self.fresh[group], self.fresh[2]):
            while queue and len(batch) < size:
                batch.append(queue.popleft())
        return batch

    def requeue(self, job: Job, blame: bool = True) -> None:
        """Put back a job whose executor died before answering.

        `blame`: the job may have caused the death (it was running, or the culprit is not
        known); it counts towards MAX_TRIES and from now on runs alone. An innocent batch-mate
        (`blame=False`) is simply run again.
        """
        job.batch = None
        if blame:
            job.tries += 1
            job.solo = True
        else:
            job.lost += 1
        if job.tries >= MAX_TRIES or job.lost >= MAX_LOST:
            self.finish(job, ExecResult("crashed", error=job.last_error))
        elif job.solo:
            self.solo[2 if job.group is None else job.group].append(job)
        elif job.mode == MODE_IMPORT and job.group is not None:
            self.second[job.group].appendleft(job)
        else:
            self.fresh[2 if job.group is None else job.group].appendleft(job)

    def finish(self, job: Job, res: ExecResult, code: str | None = None) -> None:
        """Record a job's result; may schedule the second run of a determinism check."""
        if job.mode == MODE_RUN:
            self._done(job.index, res)
        elif job.mode == MODE_EXPORT:
            if res.status in _FINAL_AFTER_FIRST:
                self._done(job.index, res)
                return
            self.first[job.index] = res
            # the same Job object becomes the second run, in the other group
            job.seq = self._seq()
            job.group = other = 1 - (job.group or 0)
            job.mode = MODE_IMPORT if code is not None else MODE_RUN
            job.code, job.tries, job.lost, job.solo, job.batch = code, 0, 0, False, None
            self.second[other].append(job)
        else:
            first = self.first.pop(job.index, None)
            self._done(job.index, res if first is None else combine(first, res))

    def _done(self, index: int, res: ExecResult) -> None:
        if self.results[index] is None:
            self.results[index] = finalize(res)
            self.remaining -= 1


def combine(a: ExecResult, b: ExecResult) -> ExecResult:
    """One verdict from the runs under the two hash seeds."""
    elapsed = max(a.elapsed_s, b.elapsed_s)
    if a.status == "ok" and b.status == "ok":
        if a.value_repr == b.value_repr:
            return ExecResult("ok", a.value_repr, None, elapsed)
        detail = f"{_short(a.value_repr)} != {_short(b.value_repr)} under two hash seeds"
        return ExecResult("nondeterministic", None, detail, elapsed)
    for status in ("crashed", "timeout", "memory"):
        for r in (a, b):
            if r.status == status:
                return ExecResult(status, None, r.error, elapsed)
    if a.status != b.status:
        detail = f"{a.status} under one hash seed, {b.status} under the other"
        return ExecResult("nondeterministic", None, detail, elapsed)
    if a.status == "error" and _outcome(a) != _outcome(b):
        # Which exception a program raises, and where, is part of its outcome: one that depends
        # on the hash seed is as nondeterministic as a value that does. (Messages may differ:
        # they can print a set or a dict; the type is what an answer about the error names.)
        (ta, wa), (tb, wb) = _outcome(a), _outcome(b)
        if ta != tb:
            detail = f"{ta} under one hash seed, {tb} under the other"
        else:
            detail = f"{ta} raised in {wa} under one hash seed, in {wb} under the other"
        return ExecResult("nondeterministic", None, detail, elapsed)
    return ExecResult(a.status, None, a.error, elapsed, a.exc_type, a.where)


def _outcome(res: ExecResult) -> tuple[str, str | None]:
    """An "error" result's exception type (its true identity from the sandbox; the name in
    the error text only for a result made without one) and where it was raised."""
    return res.exc_type or _exception_name(res.error), res.where


def _exception_name(error: str | None) -> str:
    """The exception's class name from an "error" result's text ("Name: message" or "Name")."""
    return (error or "").split(":", 1)[0].strip()


# A fast, exact test for the common outputs: scalar tokens (with the escapes `repr` writes) are
# replaced by 0 (hashable), then innermost containers are folded (tuples of hashables to 0,
# lists, dicts, sets and other tuples to 1) until one symbol is left. Dict keys and set items
# must be 0, so whatever folds to one symbol is something `ast.literal_eval` accepts. Texts it
# cannot fold (complex numbers, odd spacing, deep nesting) go through `ast.literal_eval`.
_ESC = r"""\\[\\'"abfnrtv]|\\x[0-9a-f]{2}"""
_TOKEN = re.compile(
    "|".join(
        (
            # ints within the digit limit of int(str) (4300 by default)
            r"-?(?:0|[1-9][0-9]{0,4000})(?:\.[0-9]+)?(?:e[+-][0-9]+)?|True|False|None",
            r"'(?:[^'\\\n\r\x00\ud800-\udfff]|" + _ESC + r"|\\u[0-9a-f]{4}|\\U[0-9a-f]{8})*'",
            r'"(?:[^"\\\n\r\x00\ud800-\udfff]|' + _ESC + r'|\\u[0-9a-f]{4}|\\U[0-9a-f]{8})*"',
            r"b'(?:[ -&(-\[\]-~]|" + _ESC + r")*'",  # printable ASCII but the quote
            r'b"(?:[ !#-\[\]-~]|' + _ESC + r')*"',
        )
    )
)
_HASHABLE_TUPLE = re.compile(r"\((?:0, )*(?:0,?)?\)")
_CONTAINER = re.compile(
    r"\[(?:[01], )*[01]?\]|\((?:[01], )*(?:[01],?)?\)|\{(?:0: [01], )*(?:0: [01])?\}|\{(?:0, )*0\}"
)
_MAX_FOLDS = 24


def plain_literal(text: str) -> bool:
    """True when `text` certainly parses with `ast.literal_eval` (False: not known)."""
    skeleton = _TOKEN.sub("0", text).replace("set()", "1")
    for _ in range(_MAX_FOLDS):
        if len(skeleton) == 1:
            return skeleton in "01"
        folded = _CONTAINER.sub("1", _HASHABLE_TUPLE.sub("0", skeleton))
        if folded == skeleton:
            return False
        skeleton = folded
    return False


def finalize(res: ExecResult) -> ExecResult:
    """The parent's own check that an accepted value is a literal."""
    if res.status == "ok" and not (
        res.value_repr is not None
        and len(res.value_repr) < 100_000
        and plain_literal(res.value_repr)
    ):
        try:
            ast.literal_eval(res.value_repr or "")
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return ExecResult("not_literal", None, "value does not parse back", res.elapsed_s)
    return res


def _short(text: str | None, n: int = 80) -> str:
    text = text or ""
    return text if len(text) <= n else text[:n] + "..."
