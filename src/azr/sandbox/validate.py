"""Proposal validation (docs/algorithm.md, section 4) for (program, input) pairs, on top of the
executor."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass

from azr.sandbox.api import ExecRequest, ExecResult
from azr.sandbox.executor import Executor

_REASONS = {
    "timeout": "timeout",
    "memory": "memory",
    "not_literal": "output is not a literal",
    "too_large": "output too large",
    "nondeterministic": "nondeterministic",
}


@dataclass(frozen=True)
class RunCheck:
    """The sandbox's structured verdict on one (program, input), run under two hash seeds.

    `status` is the executor's (`ok`, `error`, `timeout`, `nondeterministic`, ...) or `input`
    when the input is not one call's argument list (then nothing ran). `output` is the
    canonical literal `f` returned (status `ok`; `"None"` included). With status `error`,
    `exc_type` is the exception class's true identity and `where` where it was raised
    (`azr.sandbox.api.ExecResult`): the same under both hash seeds, or the status is
    `nondeterministic`. `reason` is the one-line validation reason.
    """

    status: str
    output: str | None
    reason: str
    exc_type: str | None = None
    where: str | None = None

    @property
    def valid(self) -> bool:
        """Whether the program returned a literal other than None (a valid triplet)."""
        return self.status == "ok" and self.output is not None and self.output != "None"


def argument_error(text: str, func: str = "f") -> str | None:
    """Why `text` is not the argument list of exactly one call `f(...)`; None when it is."""
    if not isinstance(text, str):
        return "input is not a string"
    if ")" not in text and "\\" not in text:
        # Without a ')' the text cannot close the call early, so `f(\n<text>\n)` is one call
        # or a syntax error, which the sandbox reports when it compiles the expression.
        return None
    # newlines around the text end any comment in it and make indentation irrelevant
    source = f"{func}(\n{text}\n)"
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return f"input is not an argument list: {getattr(exc, 'msg', exc)}"
    call = tree.body
    if not (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and call.func.id == func
        and call.func.col_offset == 0
        and call.func.lineno == 1
        and call.end_lineno == source.count("\n") + 1
        and call.end_col_offset == 1
    ):
        return "input is not an argument list: it is not the arguments of a single call"
    return None


def parse_arguments(text: str, func: str = "f") -> str | None:
    """The call expression `f(<text>)` when `text` is one call's argument list, else None."""
    if argument_error(text, func) is not None:
        return None
    return f"{func}(\n{text}\n)"


def reason_for(result: ExecResult) -> str:
    """The validation reason text for an executor result that is not a valid output."""
    if result.status == "ok":
        return "returned None" if result.value_repr == "None" else "ok"
    if result.status in _REASONS:
        return _REASONS[result.status]
    if result.status == "syntax_error":
        error = result.error or ""
        if error.startswith("input: "):
            return f"input is not an argument list: {error[7:]}"
        return f"syntax error: {result.error}"
    if result.status == "policy":
        return f"policy: {result.error}"
    if result.status == "crashed":
        return f"crashed: {result.error}"
    return f"error: {result.error}"


def validate_triplets(executor: Executor, items: Sequence[tuple[str, str]]) -> list[RunCheck]:
    """Validate (program, input) pairs: parse, policy, run under two hash seeds, check output."""
    checks: list[RunCheck | None] = [None] * len(items)
    requests: list[ExecRequest] = []
    positions: list[int] = []
    for i, (program, input_text) in enumerate(items):
        expr = parse_arguments(input_text)
        if expr is None:
            checks[i] = RunCheck("input", None, argument_error(input_text) or "invalid input")
            continue
        requests.append(ExecRequest(program=program, expr=expr, check_determinism=True))
        positions.append(i)
    for i, res in zip(positions, executor.run(requests), strict=True):
        checks[i] = RunCheck(res.status, res.value_repr, reason_for(res), res.exc_type, res.where)
    return [c for c in checks if c is not None]
