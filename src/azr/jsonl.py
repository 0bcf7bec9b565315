"""Reading JSONL (one JSON object per line) with errors that name the file and the line.

Two entry points, for the two kinds of caller:

- `read_jsonl(source)`: every row as a list of dicts, or one exception at the first bad line,
  worded `"<file>:<line>: not JSON (Expecting value)"` or `"<file>:<line>: not a JSON object"`.
  For inputs that must be entirely well formed (benchmark data, generation files).
- `iter_jsonl(source)`: every non-blank line as a `JsonlLine` (its number, the row or the
  reason it has none, and whether it ended with a newline), streamed. For callers that report
  bad lines one by one (`azr grade`, `azr validate`) or skip and count them (the report, which
  reads runs a trainer may still be appending to: a writer killed mid-line leaves a last line
  without its newline).

`source` is a `Path` (a file, read as UTF-8; `.gz` files are decompressed), a `str` (the JSONL
text itself, never a file name), or any other iterable of lines (an open text file).

Lines are split on "\\n" only, so a JSON string holding U+2028 or U+0085 (legal unescaped in
JSON, and written as is by `json.dumps(..., ensure_ascii=False)`) never cuts a record in two,
and line numbers are what an editor shows (blank lines count, and are skipped).
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

__all__ = ["JsonlLine", "iter_jsonl", "read_jsonl"]

NOT_AN_OBJECT = "not a JSON object"


@dataclass(frozen=True)
class JsonlLine:
    """One non-blank line: `row` when it holds a JSON object, else `problem` says why not."""

    lineno: int  # 1-based; blank lines count
    row: dict[str, Any] | None
    problem: str | None  # "not JSON (<decoder message>)" or "not a JSON object"
    terminated: bool  # False only for a last line without "\n" (perhaps cut short)


def _parse(lineno: int, line: str, terminated: bool) -> JsonlLine:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        return JsonlLine(lineno, None, f"not JSON ({exc.msg})", terminated)
    if not isinstance(value, dict):
        return JsonlLine(lineno, None, NOT_AN_OBJECT, terminated)
    return JsonlLine(lineno, value, None, terminated)


def _open(path: Path, errors: str) -> IO[str]:
    # newline="\n": split on "\n" only (a "\r" before it is whitespace to the JSON parser).
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors=errors, newline="\n")
    return open(path, encoding="utf-8", errors=errors, newline="\n")


def _lines(source: Path | str | Iterable[str], errors: str) -> Iterator[str]:
    if isinstance(source, str):
        # Every piece but the last had a "\n" after it; give them back with it.
        pieces = source.split("\n")
        for piece in pieces[:-1]:
            yield piece + "\n"
        if pieces[-1]:
            yield pieces[-1]
    elif isinstance(source, os.PathLike):
        with _open(Path(source), errors) as fh:
            yield from fh
    else:
        yield from source


def iter_jsonl(
    source: Path | str | Iterable[str], *, errors: str = "strict"
) -> Iterator[JsonlLine]:
    """Every non-blank line of `source`, parsed, in order; never raises for a bad line.

    Reading a file can still raise `OSError` (missing, unreadable, a directory, bad gzip) or,
    with `errors="strict"`, `UnicodeDecodeError`; `errors="replace"` reads any bytes.
    """
    for lineno, line in enumerate(_lines(source, errors), 1):
        if line.strip():
            yield _parse(lineno, line, line.endswith("\n"))


def read_jsonl(
    source: Path | str | Iterable[str],
    *,
    name: str | None = None,
    error: type[Exception] = ValueError,
) -> list[dict[str, Any]]:
    """Every row of `source`; `error` with a one-line message at the first bad line.

    `name` is how messages call the source (default: the path, or "<text>"). A file that cannot
    be read is reported the same way (`error`, one line), not as an `OSError`.
    """
    if name is None:
        name = str(source) if isinstance(source, os.PathLike) else "<text>"
    rows: list[dict[str, Any]] = []
    try:
        for line in iter_jsonl(source):
            if line.row is None:
                raise error(f"{name}:{line.lineno}: {line.problem}")
            rows.append(line.row)
    except FileNotFoundError:
        raise error(f"{name}: no such file") from None
    except IsADirectoryError:
        raise error(f"{name} is a directory, not a JSONL file") from None
    except UnicodeDecodeError as exc:
        raise error(f"{name}: not UTF-8 text ({exc.reason})") from None
    except (OSError, EOFError) as exc:
        raise error(f"cannot read {name}: {getattr(exc, 'strerror', None) or exc}") from None
    return rows
