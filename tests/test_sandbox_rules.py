"""The static policy: what it refuses, and that it lets every CRUXEval program through."""

from __future__ import annotations

import ast
import hashlib
import json
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from azr.sandbox.rules import FORBIDDEN_MODULES, check_expression, check_program

CRUXEVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "cruxeval" / "cruxeval.jsonl"


def test_reference_forbidden_modules_are_listed() -> None:
    reference = [
        "logging",
        "random",
        "multiprocessing",
        "pebble",
        "subprocess",
        "threading",
        "datetime",
        "time",
        "hashlib",
        "hmac",
        "bcrypt",
        "calendar",
        "os",
        "sys",
        "shutil",
        "socket",
        "ctypes",
        "signal",
        "importlib",
        "builtins",
        "io",
        "pathlib",
        "gc",
        "inspect",
    ]
    assert set(reference) <= set(FORBIDDEN_MODULES)


@pytest.mark.skipif(not CRUXEVAL.is_file(), reason="CRUXEval data not present")
def test_every_cruxeval_program_and_input_passes() -> None:
    rows = [json.loads(line) for line in CRUXEVAL.read_text().splitlines() if line.strip()]
    assert len(rows) == 800
    for row in rows:
        assert check_program(row["code"]) == [], row["id"]
        assert check_expression(f"f({row['input']})") == [], row["id"]


@pytest.mark.parametrize(
    "program",
    [
        "def f(input):\n    return input",
        "def f(x):\n    input = x\n    return input",
        "from collections import Counter, deque\nimport math, re, string\ndef f(x):\n    return x",
        "import collections.abc\nfrom typing import List\ndef f(x: List[int]):\n    return x",
        "class A:\n    def __init__(self, v):\n        self.v = v\n    def __eq__(self, o):\n        return True\ndef f(x):\n    return A(x).v",
        "def f(x):\n    return getattr(x, 'real')",
        "def f(x):\n    return '{0}-{1:>3}'.format(x, x)",
        "if __name__ == '__main__':\n    pass\ndef f(x):\n    return x",
    ],
)
def test_allowed(program: str) -> None:
    assert check_program(program) == []


@pytest.mark.parametrize(
    ("program", "fragment"),
    [
        ("import os\ndef f(x):\n    return 1", "forbidden module 'os'"),
        ("import random\ndef f(x):\n    return 1", "forbidden module 'random'"),
        ("from datetime import date\ndef f(x):\n    return 1", "forbidden module 'datetime'"),
        ("import numpy\ndef f(x):\n    return 1", "module 'numpy' is not allowed"),
        ("from . import x\ndef f(x):\n    return 1", "relative imports"),
        ("def f(x):\n    return open('a')", "builtin 'open'"),
        ("def f(x):\n    return eval('1')", "builtin 'eval'"),
        ("def f(x):\n    return id(x)", "builtin 'id'"),
        ("def f(x):\n    return input()", "builtin 'input'"),
        ("def f(x):\n    return x.__class__.__base__", "'__base__'"),
        ("def f(x):\n    return x.__subclasses__()", "'__subclasses__'"),
        ("def f(x):\n    return __builtins__", "'__builtins__'"),
        ("def f(x):\n    return f.__globals__", "'__globals__'"),
        ("def f(x):\n    return (i for i in x).gi_frame", "'gi_frame'"),
        ("def f(x):\n    return getattr(x, y)", "constant attribute name"),
        ("def f(x):\n    return getattr(x, '__dict__')", "'__dict__'"),
        ("def f(x):\n    return '{0.__class__}'.format(x)", "format strings"),
        ("def f(x):\n    setattr(x, 'a', 1)", "builtin 'setattr'"),
    ],
)
def test_refused(program: str, fragment: str) -> None:
    violations = check_program(program)
    assert any(fragment in v for v in violations), violations


def test_expression_uses_names_bound_by_the_program() -> None:
    assert check_expression("f(input)") != []
    assert check_expression("f(input)", bound={"input"}) == []
    assert check_expression("f(__import__('os'))") != []


def test_syntax_errors_are_reported_not_raised() -> None:
    assert check_program("def f(:")[0].startswith("syntax error")
    assert check_expression("f(")[0].startswith("syntax error")


# ----------------------------------------------------------------------------- profiles

_BENCHMARK_NEEDS = [
    "import random\ndef f(x):\n    return random.randint(0, len(x))",
    "import hashlib\ndef f(x):\n    return hashlib.md5(x.encode()).hexdigest()",
    "from random import choice\ndef f(x):\n    return choice(x)",
    "def f(x):\n    return eval(x)",
    "def f(x):\n    return x == 'Yellow_Yellow__Dirty__Fellow'",
]


@pytest.mark.parametrize("program", _BENCHMARK_NEEDS)
def test_strict_profile_still_refuses_what_benchmarks_need(program: str) -> None:
    assert check_program(program) != []
    assert check_program(program, profile="strict") != []
    assert check_program(program, profile="benchmark") == []


@pytest.mark.parametrize(
    "program",
    [
        "import os\ndef f(x):\n    return 1",
        "import hmac\ndef f(x):\n    return 1",
        "def f(x):\n    return exec('1')",
        "def f(x):\n    return open('a')",
        "def f(x):\n    return x.__class__.__base__",
        "def f(x):\n    return getattr(x, '__dict__')",
        "def f(x):\n    return '{0.__class__}'.format(x)",
        "def f(x):\n    return __import__('os')",
    ],
)
def test_benchmark_profile_keeps_the_other_rules(program: str) -> None:
    assert check_program(program, profile="benchmark") != []


def test_unknown_profile_is_rejected_by_the_request() -> None:
    from azr.sandbox import ExecRequest

    assert ExecRequest("x = 1", "x").policy_profile == "strict"
    with pytest.raises(ValueError, match="policy_profile"):
        ExecRequest("x = 1", "x", policy_profile="loose")


needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")


@pytest.fixture(scope="module")
def ex() -> Iterator[Any]:
    from azr.sandbox import Executor, SandboxConfig

    with Executor(SandboxConfig(workers=2, timeout_s=5.0, memory_mb=512)) as executor:
        yield executor


def _run(ex: Any, jobs: list[tuple[str, str]], profile: str) -> list[Any]:
    from azr.sandbox import ExecRequest

    return ex.run([ExecRequest(p, e, policy_profile=profile) for p, e in jobs])


@needs_bwrap
def test_profiles_in_the_sandbox(ex: Any) -> None:
    jobs = [(p, "f('ab')") for p in _BENCHMARK_NEEDS[:2]] + [
        ("def f(x):\n    return eval('len(x) * 2')", "f('ab')"),
        ("def f(x):\n    return x == 'Yellow_Yellow__Dirty__Fellow'", "f('ab')"),
    ]
    strict = _run(ex, jobs, "strict")
    assert [r.status for r in strict] == ["policy"] * 4
    bench = _run(ex, jobs, "benchmark")
    assert [r.status for r in bench] == ["ok"] * 4, [r.error for r in bench]
    assert bench[1].value_repr == repr(hashlib.md5(b"ab").hexdigest())
    assert bench[2].value_repr == "4" and bench[3].value_repr == "False"


@needs_bwrap
@pytest.mark.parametrize(
    "source",
    [
        "().__class__.__base__.__subclasses__()",
        "__import__('os')",
        "open('/etc/passwd')",
        "exec('1')",
        "getattr(1, '__class__')",
    ],
)
def test_benchmark_eval_checks_its_string(ex: Any, source: str) -> None:
    [res] = _run(ex, [("def f(s):\n    return eval(s)", f"f({source!r})")], "benchmark")
    assert res.status == "policy", (res.status, res.error)


@needs_bwrap
def test_benchmark_eval_never_gets_the_real_builtins(ex: Any) -> None:
    # a globals dict without __builtins__ would get the real ones from CPython's eval
    jobs = [
        ("def f():\n    return eval('len([1, 2])', {})", "f()"),
        ("def f():\n    return eval('open', {'open': 3})", "f()"),
        ("def f():\n    return eval('compile', {})", "f()"),
        ("import random\ndef f():\n    return random.__spec__", "f()"),
    ]
    res = _run(ex, jobs, "benchmark")
    assert [(r.status, r.value_repr) for r in res[:2]] == [("ok", "2"), ("ok", "3")]
    assert res[2].status == "policy"
    assert res[3].status == "policy"


@needs_bwrap
def test_benchmark_jobs_cannot_affect_each_other(ex: Any) -> None:
    seeded = random.Random(1).random()
    fresh = random.Random(5).random()
    polluter = [
        ("import random\nrandom.seed(1)", "True"),
        ("import random\nrandom.Random.random = lambda self: 0.5", "True"),
        ("import random\nrandom.random = lambda: 0.5", "True"),  # read-only module proxy
    ]
    victim = ("import random\nx = (random.random(), random.Random(5).random())", "x")
    # each polluter directly followed by a victim, in one batch (so in one executor, unless
    # the polluter's executor is thrown away)
    jobs = [job for _ in range(4) for p in polluter for job in (p, victim)]
    res = _run(ex, jobs, "benchmark")
    assert [r.status for r in res[0:6:2]] == ["ok", "ok", "error"]
    victims = res[1::2]
    for r in victims:
        assert r.status == "ok", r.error
        first, second = ast.literal_eval(r.value_repr)
        assert first not in (seeded, 0.5) and second == fresh
    # and a strict job after benchmark ones still has no way to `random`
    [after] = _run(ex, [("import random", "1")], "strict")
    assert after.status == "policy"


@needs_bwrap
def test_benchmark_profile_with_the_determinism_check(ex: Any) -> None:
    # the second run loads the peer's compiled code: the profile must still reach it
    from azr.sandbox import ExecRequest

    reqs = [
        ExecRequest(p, e, check_determinism=True, policy_profile="benchmark")
        for p, e in [
            ("def f(x):\n    return eval('x + 1')", "f(1)"),
            ("import random\ndef f(x):\n    return random.Random(x).random()", "f(3)"),
        ]
    ]
    res = ex.run(reqs)
    assert [(r.status, r.value_repr) for r in res] == [
        ("ok", "2"),
        ("ok", repr(random.Random(3).random())),
    ]
