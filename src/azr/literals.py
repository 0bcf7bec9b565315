"""Strict comparison of Python literals (trusted code: only `ast.literal_eval`, never `eval`).

A leaf module: the sandbox (`azr.sandbox.values`) and the task domain (`azr.tasks`) both import
it, and it imports neither.

`1`, `1.0` and `True` compare equal in Python but are different answers; so are `[1]` and
`(1,)`, `{1: 'a'}` and `{True: 'a'}`. `literal_key` maps a literal to a hashable structure
that records every nested type, and two literals are the same answer when their keys are equal.
"""

from __future__ import annotations

import ast
from typing import Any

# Answers longer than this are not parsed (a literal this long is never a sensible answer and
# literal_eval of huge nested text is slow).
MAX_LITERAL_CHARS = 1_000_000


class NotALiteral(ValueError):
    """The text is not a single Python literal."""


def parse_literal(text: str) -> Any:
    """`ast.literal_eval` with clear failures: expressions such as `1+1` are rejected."""
    if len(text) > MAX_LITERAL_CHARS:
        raise NotALiteral(f"answer longer than {MAX_LITERAL_CHARS} characters")
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise NotALiteral(f"not a Python literal ({type(exc).__name__})") from exc


def literal_key(value: Any) -> Any:
    """Hashable, type-exact structural key of a literal value."""
    kind = type(value)
    if kind in (int, bool, str, bytes) or value is None:
        return (kind.__name__, value)
    if kind in (float, complex):
        # repr keeps -0.0 apart from 0.0 and makes nan equal to itself.
        return (kind.__name__, repr(value))
    if kind in (list, tuple):
        return (kind.__name__, tuple(literal_key(v) for v in value))
    if kind in (set, frozenset):
        return (kind.__name__, frozenset(literal_key(v) for v in value))
    if kind is dict:
        return ("dict", frozenset((literal_key(k), literal_key(v)) for k, v in value.items()))
    raise NotALiteral(f"value of type {kind.__name__} is not a literal")


def literals_equal(a: Any, b: Any) -> bool:
    """True when two literal values are equal with identical types at every level."""
    try:
        return bool(literal_key(a) == literal_key(b))
    except (NotALiteral, RecursionError):
        return False


def same_literal_text(answer: str, gold: str) -> bool:
    """True when two literal texts denote the same value with the same types."""
    try:
        return literals_equal(parse_literal(answer), parse_literal(gold))
    except NotALiteral:
        return False
