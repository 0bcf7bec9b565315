"""The one JSONL reader: rows, line numbers, one-line errors, unterminated last lines."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from azr.errors import UserError
from azr.jsonl import iter_jsonl, read_jsonl


def test_rows_in_order_blank_lines_skipped_but_counted(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1}\n\n  \n{"a": 2}\r\n{"a": 3}')
    assert read_jsonl(path) == [{"a": 1}, {"a": 2}, {"a": 3}]
    lines = list(iter_jsonl(path))
    assert [line.lineno for line in lines] == [1, 4, 5]
    assert [line.terminated for line in lines] == [True, True, False]
    # The same text given directly reads the same.
    assert list(iter_jsonl(path.read_text())) == lines


def test_text_source_is_text_not_a_file_name() -> None:
    assert read_jsonl('{"x": "y"}\n') == [{"x": "y"}]
    with pytest.raises(ValueError, match=r"^<text>:1: not JSON"):
        read_jsonl("data.jsonl")


def test_only_newline_splits_records() -> None:
    # U+2028 and U+0085 are legal unescaped inside JSON strings (json.dumps with
    # ensure_ascii=False writes them as is); str.splitlines would cut the record there.
    text = '{"s": "a\u2028b\x85c"}\n'
    assert read_jsonl(text) == [{"s": "a\u2028b\x85c"}]


@pytest.mark.parametrize(
    "text,message",
    [
        ('{"a": 1}\n{"a": \n', r"^f\.jsonl:2: not JSON \(Expecting value\)$"),
        ('{"a": 1}\n\n[1, 2]\n', r"^f\.jsonl:3: not a JSON object$"),
        ('"just a string"', r"^f\.jsonl:1: not a JSON object$"),
    ],
)
def test_first_bad_line_is_one_line_naming_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_jsonl(text, name="f.jsonl")


def test_the_callers_error_class(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    path.write_text("nope\n")
    with pytest.raises(UserError, match=r"b\.jsonl:1: not JSON"):
        read_jsonl(path, error=UserError)


def test_unreadable_files_are_the_same_kind_of_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such file"):
        read_jsonl(tmp_path / "missing.jsonl")
    with pytest.raises(ValueError, match="is a directory"):
        read_jsonl(tmp_path)
    binary = tmp_path / "c.jsonl"
    binary.write_bytes(b'{"a": "\xff"}\n')
    with pytest.raises(ValueError, match="not UTF-8"):
        read_jsonl(binary)
    # Tolerant readers can still read such a file.
    [line] = iter_jsonl(binary, errors="replace")
    assert line.row == {"a": "\ufffd"}


def test_iter_reports_bad_lines_without_raising() -> None:
    lines = list(iter_jsonl('{"a": 1}\n{oops\n7\n{"a": 2, "cut'))
    assert [(x.lineno, x.row, x.problem) for x in lines[:3]] == [
        (1, {"a": 1}, None),
        (2, None, "not JSON (Expecting property name enclosed in double quotes)"),
        (3, None, "not a JSON object"),
    ]
    last = lines[3]
    assert last.row is None and last.problem is not None and not last.terminated


def test_gzipped_files(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write('{"a": 1}\n{"a": 2}\n')
    assert read_jsonl(path) == [{"a": 1}, {"a": 2}]
    path.write_bytes(b"not gzip")
    with pytest.raises(ValueError, match=r"cannot read .*d\.jsonl\.gz"):
        read_jsonl(path)
