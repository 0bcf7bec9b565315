"""The documentation is self-contained (issue 18): every relative markdown link and every
`*.md` name mentioned in the README, the docs, docstrings, comments and configs points at a
file of this repository, so a clone never sends its reader to a file it lacks."""

from __future__ import annotations

import ast
import io
import re
import subprocess
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCANNED = (".md", ".py", ".yaml", ".yml", ".sh", ".toml", ".txt")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
MD_NAME = re.compile(r"(?<![\w./-])((?:[\w.-]+/)*[\w.-]*\w\.md)\b")


def repo_files(root: Path) -> list[Path]:
    """The files git tracks (or, outside a git checkout, every file) under `root`."""
    proc = subprocess.run(
        ["git", "ls-files", "-z"], cwd=root, capture_output=True, text=True, check=False
    )
    if proc.returncode == 0 and proc.stdout:
        return [root / p for p in proc.stdout.split("\0") if p]
    return [p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts]


def prose(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of what a reader reads in `path`: every line of a markdown file;
    docstrings and comments of Python; comments of YAML, shell, TOML and text files. (Strings
    in code, such as the name of a file a program writes, are not references.)"""
    text = path.read_text(errors="replace")
    if path.suffix == ".md":
        yield from enumerate(text.splitlines(), 1)
        return
    if path.suffix != ".py":
        for lineno, line in enumerate(text.splitlines(), 1):
            if "#" in line:
                yield lineno, line.split("#", 1)[1]
        return
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                yield tok.start[0], tok.string
        tree = ast.parse(text)
    except (SyntaxError, tokenize.TokenError):
        yield from enumerate(text.splitlines(), 1)
        return
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            doc = body[0].value.value
            if isinstance(doc, str):
                for offset, line in enumerate(doc.splitlines()):
                    yield body[0].lineno + offset, line


def broken_references(root: Path, files: list[Path]) -> list[str]:
    """`file:line: what` for each relative link whose target is missing and each `*.md` name
    that names no file of the repository."""
    present = {p.relative_to(root).as_posix() for p in files}
    names = {Path(p).name for p in present}
    problems = []
    for path in files:
        if path.suffix not in SCANNED or not path.is_file():
            continue
        rel = path.relative_to(root)
        for lineno, line in prose(path):
            where = f"{rel}:{lineno}"
            if path.suffix == ".md":
                for target in LINK.findall(line):
                    if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                        continue  # a URL (http:, mailto:) or an anchor in the same page
                    file_part = target.split("#", 1)[0]
                    resolved = (path.parent / file_part).resolve()
                    if not resolved.exists() or root.resolve() not in resolved.parents:
                        problems.append(f"{where}: link to missing {target}")
            for name in MD_NAME.findall(line):
                if "/" in name:
                    candidates = [(path.parent / name).resolve(), (root / name).resolve()]
                    found = any(
                        c.relative_to(root.resolve()).as_posix() in present
                        for c in candidates
                        if c.is_relative_to(root.resolve())
                    )
                else:
                    found = name in names
                if not found:
                    problems.append(f"{where}: names missing {name}")
    return problems


def test_every_link_and_md_name_points_inside_the_repository() -> None:
    problems = broken_references(REPO, repo_files(REPO))
    assert not problems, "\n".join(problems)


def test_the_algorithm_and_design_notes_are_in_the_repository() -> None:
    for name in ("docs/algorithm.md", "docs/design.md"):
        text = (REPO / name).read_text()
        assert len(text) > 3000, name
    algorithm = (REPO / "docs" / "algorithm.md").read_text()
    # The sections the code cites by number.
    for number in range(1, 10):
        assert f"\n## {number}. " in algorithm, number


# ------------------------------------------------------------------ the checker itself


@pytest.fixture
def fixture_repo(tmp_path: Path) -> Path:
    """A small repository: the names of missing files are built at run time, so this test file
    itself names none."""
    missing = "GONE" + ".md"
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "there.md").write_text("# There\n")
    (tmp_path / "README.md").write_text(
        "See [the page](docs/there.md), [a section](docs/there.md#there),\n"
        "[the web](https://example.org/x.md) and [here](#top).\n"
        f"Also [a lost page](docs/{missing}) and the notes in {missing}.\n"
    )
    (tmp_path / "mod.py").write_text(
        f'"""Rules follow docs/there.md, section 2, and DESIGN_{missing}."""\n'
    )
    return tmp_path


def test_the_checker_finds_a_broken_link_and_a_missing_md_name(fixture_repo: Path) -> None:
    problems = broken_references(fixture_repo, repo_files(fixture_repo))
    missing = "GONE" + ".md"
    assert problems == [
        f"README.md:3: link to missing docs/{missing}",
        f"README.md:3: names missing docs/{missing}",
        f"README.md:3: names missing {missing}",
        f"mod.py:1: names missing DESIGN_{missing}",
    ], problems


def test_the_checker_passes_the_fixed_example(fixture_repo: Path) -> None:
    readme = fixture_repo / "README.md"
    readme.write_text(readme.read_text().replace("GONE" + ".md", "there.md"))
    (fixture_repo / "mod.py").write_text('"""Rules follow docs/there.md, section 2."""\n')
    assert broken_references(fixture_repo, repo_files(fixture_repo)) == []
