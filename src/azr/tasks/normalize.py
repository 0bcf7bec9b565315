"""The one normal form of programs and argument lists (parsed with `ast`, never executed).

Used wherever two tasks must be recognised as the same: the buffers' exact-dedup key, the
proposer's duplicate-of-a-reference and copy-of-the-example checks, and the report.
Formatting and comments do not matter; anything that does not parse falls back to its text
with whitespace normalised.
"""

from __future__ import annotations

import ast

_PARSE_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError)


def normalize_program(text: str) -> str:
    """Program text with formatting and comments removed."""
    try:
        return ast.unparse(ast.parse(text))
    except _PARSE_ERRORS:
        return "\n".join(line.rstrip() for line in text.strip().splitlines())


def normalize_input(args: str) -> str:
    """An argument list rendered canonically via the AST of the call `f(<args>)`."""
    try:
        return ast.unparse(ast.parse(f"f({args})", mode="eval"))
    except _PARSE_ERRORS:
        return " ".join(args.split())
