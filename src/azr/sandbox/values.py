"""Trusted helpers for literal values, for the sandbox's callers (validation, benchmarks).

One definition of "the same literal" serves the whole project: `azr.literals` (type-exact
at every level; `-0.0` differs from `0.0`, a NaN equals itself). These names are kept for the
validate command and tests.
"""

from __future__ import annotations

from typing import Any

from azr.literals import NotALiteral, literals_equal, same_literal_text
from azr.literals import parse_literal as _parse


def parse_literal(text: str) -> Any:
    """`ast.literal_eval` of `text`; raises ValueError when it is not a plain literal."""
    try:
        return _parse(text)
    except NotALiteral as exc:
        raise ValueError(f"not a literal: {exc}") from None


def strict_equal(a: Any, b: Any) -> bool:
    """Equality that also requires equal types everywhere (1 != 1.0 != True, [1] != (1,))."""
    return literals_equal(a, b)


def literals_match(expected: str, actual: str) -> bool:
    """Whether two literal reprs parse to strictly equal values (False if either does not parse)."""
    return same_literal_text(expected, actual)
