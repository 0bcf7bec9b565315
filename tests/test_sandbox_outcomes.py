"""Structured outcomes of a run (issue 20): an "error" result carries the exception class's
true identity and where it was raised, both determined inside the sandbox, and the determinism
check compares them across the two hash seeds."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import azr.sandbox
from azr.sandbox import ExecRequest, ExecResult, Executor, SandboxConfig
from azr.sandbox._run_state import combine
from azr.sandbox.validate import validate_triplets

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")

# Programs that raise something, with the identity the sandbox must report.
RIGGED_METACLASS = (
    "class M(type):\n"
    "    @property\n"
    "    def __name__(cls):\n"
    "        return 'ValueError'\n"
    "class E(Exception, metaclass=M):\n"
    "    __module__ = 'builtins'\n"
    "    __qualname__ = 'ValueError'\n"
    "def f(x):\n"
    "    raise E(x)"
)
IDENTITIES = [
    ("def f(x):\n    return 1 // x", "0", "ZeroDivisionError"),
    ("def f(x):\n    return {}[x]", "'k'", "KeyError"),
    ("import json\ndef f(x):\n    return json.loads(x)", "'{'", "json.decoder.JSONDecodeError"),
    # the program's own class named like a builtin is not the builtin
    ("class ValueError(Exception):\n    pass\ndef f(x):\n    raise ValueError(x)", "1",
     "<program>.ValueError"),
    # a class whose name reads like "ValueError: ..." in the error text
    ("E = type('ValueError: x', (Exception,), {})\ndef f(x):\n    raise E(x)", "1",
     "<program>.ValueError: x"),
    # a builtin re-bound to another name is still what it is
    ("ValueError = KeyError\ndef f(x):\n    raise ValueError(x)", "1", "KeyError"),
    # a class that prints another name
    ("class E(Exception):\n    def __str__(self):\n        return 'ValueError'\n"
     "def f(x):\n    raise E()", "1", "<program>.E"),
]  # fmt: skip

PLACES = [
    ("def f(x):\n    return 1 // x", "0", "f"),
    ("def f(x):\n    return x", "1 // 0", "input"),
    ("def f(x):\n    return x", "f(1 // 0)", "input"),  # an inner call of f is the input's
    ("def g():\n    raise KeyError('g')\ndef f(x):\n    return x", "g()", "input"),
    ("def f(x):\n    return x", "1, 2", "call"),  # wrong arguments: f never ran
    ("f = len", "1", "call"),
    ("raise KeyError('top')\ndef f(x):\n    return x", "1", "program"),
    ("def f(x, y=2):\n    return x[y]", "[1], y=5", "f"),
    ("def f(*a):\n    return a[3]", "*[1]", "f"),
    ("class f:\n    def __init__(self, x):\n        raise KeyError(x)", "1", "f"),
    ("def f(x):\n    return sorted(x)", "[1, 'a']", "f"),  # a builtin called by f
    ("def f(x):\n    return x()", "lambda: 1 // 0", "f"),  # the input's code, called by f
]


@pytest.fixture(scope="module")
def ex() -> Iterator[Executor]:
    with Executor(SandboxConfig(workers=2, timeout_s=2.0, memory_mb=512)) as executor:
        yield executor


@pytest.fixture(scope="module")
def jobs() -> object:
    """The sandbox's job module, imported here to test its pure helpers directly."""
    sys.path.insert(0, str(Path(azr.sandbox.__file__).parent))
    try:
        import _jobs  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    return _jobs


@needs_bwrap
@pytest.mark.parametrize(("program", "input_text", "identity"), IDENTITIES)
def test_the_exception_type_is_the_class_identity(
    ex: Executor, program: str, input_text: str, identity: str
) -> None:
    [check] = validate_triplets(ex, [(program, input_text)])
    assert (check.status, check.exc_type, check.where) == ("error", identity, "f")
    assert not check.valid and check.reason.startswith("error: ")


@needs_bwrap
def test_a_metaclass_name_does_not_pass_for_a_builtin(ex: Executor) -> None:
    # The static policy allows a metaclass property `__name__`: the error text then reads
    # "ValueError: 1", as the builtin's would; the identity does not. (With forged `__module__`
    # and `__qualname__` too, the policy refuses the program.)
    rigged = RIGGED_METACLASS.replace("    __module__ = 'builtins'\n", "").replace(
        "    __qualname__ = 'ValueError'\n", "    pass\n"
    )
    [check] = validate_triplets(ex, [(rigged, "1")])
    assert (check.status, check.exc_type, check.reason) == (
        "error",
        "<program>.E",
        "error: ValueError: 1",
    )
    [forged] = validate_triplets(ex, [(RIGGED_METACLASS, "1")])
    assert forged.status == "policy"


def test_the_local_class_prefix_is_the_api_s(jobs: object) -> None:
    from azr.sandbox.api import LOCAL_CLASS

    assert jobs.LOCAL == LOCAL_CLASS  # type: ignore[attr-defined]


def test_exception_type_reads_no_forgeable_name(jobs: object) -> None:
    """The helper itself, in this process: a metaclass property, a forged `__module__` and
    `__qualname__`, a renamed class and a str subclass as the name fool none of it."""
    exception_type = jobs.exception_type  # type: ignore[attr-defined]
    g: dict[str, object] = {}
    exec(RIGGED_METACLASS, g)  # trusted test text, not model output
    assert exception_type(g["E"]) == "<program>.E"

    class Sly(str):
        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = str.__hash__

    renamed = type("Mine", (Exception,), {})
    renamed.__name__ = Sly("ValueError")
    assert exception_type(renamed) == "<program>.ValueError"
    assert type(exception_type(renamed)) is str
    assert exception_type(ValueError) == "ValueError"
    assert exception_type(OSError) == "OSError"  # not its aliases IOError / EnvironmentError
    import json

    assert exception_type(json.JSONDecodeError) == "json.decoder.JSONDecodeError"
    fake = type("JSONDecodeError", (ValueError,), {"__module__": "json.decoder"})
    assert exception_type(fake) == "<program>.JSONDecodeError"


@needs_bwrap
@pytest.mark.parametrize(("program", "input_text", "where"), PLACES)
def test_where_the_exception_was_raised(
    ex: Executor, program: str, input_text: str, where: str
) -> None:
    [check] = validate_triplets(ex, [(program, input_text)])
    assert (check.status, check.where) == ("error", where)


@needs_bwrap
def test_a_result_keeps_its_value_and_an_error_keeps_its_text(ex: Executor) -> None:
    ok, none, err = validate_triplets(
        ex,
        [
            ("def f(x):\n    return [x]", "1"),
            ("def f(x):\n    return None", "1"),
            ("def f(x):\n    raise ValueError('no ' + str(x))", "1"),
        ],
    )
    assert (ok.status, ok.output, ok.valid, ok.exc_type, ok.where) == (
        "ok",
        "[1]",
        True,
        None,
        None,
    )
    assert (none.status, none.output, none.valid, none.reason) == (
        "ok",
        "None",
        False,
        "returned None",
    )
    assert err.reason == "error: ValueError: no 1" and err.output is None
    [bad] = validate_triplets(ex, [("def f(x):\n    return x", "1) or (2")])
    assert bad.status == "input" and not bad.valid and bad.exc_type is None


@needs_bwrap
def test_a_seed_dependent_exception_class_is_nondeterministic(ex: Executor) -> None:
    # hash('a') is even under PYTHONHASHSEED 11 and odd under 22: the builtin ValueError under
    # one seed, the program's own class of the same name under the other. The error texts
    # agree ("ValueError: 1"); only the class identity tells them apart.
    assert ex.config.hash_seeds == (11, 22)
    program = (
        "class Mine(Exception):\n    pass\n"
        "Mine.__name__ = 'ValueError'\n"
        "def f(x):\n    raise (Mine if hash('a') % 2 else ValueError)(x)"
    )
    [res] = ex.run([ExecRequest(program, "f(1)", True)])
    assert res.status == "nondeterministic", res
    assert res.error == "ValueError under one hash seed, <program>.ValueError under the other"
    [check] = validate_triplets(ex, [(program, "1")])
    assert check.status == "nondeterministic" and check.reason.startswith("nondeterministic")


def test_combine_compares_identity_and_place() -> None:
    def err(exc_type: str, where: str = "f", text: str = "ValueError: x") -> ExecResult:
        return ExecResult("error", None, text, 0.1, exc_type, where)

    same = combine(err("ValueError"), err("ValueError", text="ValueError: y"))
    assert (same.status, same.exc_type, same.where, same.error) == (
        "error",
        "ValueError",
        "f",
        "ValueError: x",
    )
    forged = combine(err("ValueError"), err("<program>.ValueError"))
    assert forged.status == "nondeterministic"
    assert forged.error == "ValueError under one hash seed, <program>.ValueError under the other"
    moved = combine(err("KeyError", "f"), err("KeyError", "input"))
    assert moved.status == "nondeterministic"
    assert moved.error == "KeyError raised in f under one hash seed, in input under the other"
