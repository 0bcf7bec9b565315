"""Proposal validation and grading through the real sandbox, including every known reward hack
(docs/algorithm.md, sections 4, 5 and 8), each next to a correct case that must pass."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from azr.tasks import InductionTask, Task, TaskType, Triplet
from azr.tasks.engine import grade_mixed, grade_solutions, message_leak, validate_proposals

pytest.importorskip("azr.sandbox.validate")
import azr.sandbox as sandbox  # noqa: E402

# Twenty distinct strings: a set of them iterates in a different order under another hash seed
# with overwhelming probability, which is what the cross-process determinism check must catch.
WORDS = repr([f"w{k}x" for k in range(20)])
ALWAYS_EQUAL = "class A:\n    def __eq__(self, other):\n        return True\n    __hash__ = None\n"


@pytest.fixture(scope="module")
def ex() -> Iterator[Any]:
    with sandbox.Executor(sandbox.SandboxConfig(timeout_s=2.0, isolation="auto")) as executor:
        yield executor


def propose(program: str, inp: str) -> str:
    return f"plan</think>\n<answer>\n```python\n{program}\n```\n```input\n{inp}\n```\n</answer>"


def answer(block: str, body: str) -> str:
    return f"reasoning</think>\n<answer>\n```{block}\n{body}\n```\n</answer>"


# --------------------------------------------------------------------------- proposals

REF = Triplet("def f(x):\n    return x", "'Hello world'", "'Hello world'")

PROPOSALS: list[tuple[str, str, bool, str]] = [
    # (program, input, valid, reason fragment)
    ("def f(a, b):\n    return [a] * b", "'x', 3", True, "valid"),
    ("def f(d):\n    return sorted(d.items())", "dict(did=0)", True, "valid"),
    (
        "def helper(s):\n    return s[::-1]\n\nclass Box:\n    def __init__(self, v):\n"
        "        self.v = v\n\ndef f(s):\n    return helper(Box(s).v)",
        "'abc'",
        True,
        "valid",
    ),
    ("def f(x):\n    return x +", "1", False, "syntax"),
    ("import os\ndef f(x):\n    return os.getcwd()", "1", False, "polic"),
    ("def f(x):\n    while True:\n        pass", "1", False, "time"),
    ("def f(x):\n    x.append(1)", "[]", False, "none"),
    ("def f(x):\n    return lambda: x", "1", False, "literal"),
    (ALWAYS_EQUAL + "def f(x):\n    return A()", "1", False, "literal"),
    (
        "class I(int):\n    def __eq__(s, o):\n        return True\ndef f(x):\n    return I(x)",
        "1",
        False,
        "literal",
    ),
    ("def f(x):\n    return x", "0) or (1", False, "input"),
    ("def f(x):\n    raise KeyboardInterrupt", "1", False, "KeyboardInterrupt"),
    ("def f(x):\n    raise SystemExit(0)", "1", False, "SystemExit"),
    ("class E(BaseException):\n    pass\ndef f(x):\n    raise E()", "1", False, "error: E"),
    ("def f(xs):\n    return list(set(xs))", WORDS, False, "determin"),
    ("def f(x):\n    return x\n", "'Hello world'", False, "duplicate"),
]


def test_validate_triplet_proposals(ex: Any) -> None:
    texts = [propose(p, i) for p, i, _, _ in PROPOSALS] + ["no format at all"]
    results = validate_proposals(ex, TaskType.DEDUCTION, texts, [REF])
    assert len(results) == len(texts)
    for (program, inp, valid, fragment), res in zip(PROPOSALS, results, strict=False):
        assert res.format_ok
        assert res.valid is valid, (program, inp, res.reason)
        assert fragment.lower() in res.reason.lower(), (program, res.reason)
        if valid:
            assert isinstance(res.task, Triplet) and res.task.program == program
        else:
            assert res.task is None
    assert results[0].task is not None and results[0].task.output == "['x', 'x', 'x']"
    assert results[1].task is not None and results[1].task.output == "[('did', 0)]"
    assert results[2].task is not None and results[2].task.output == "'cba'"
    last = results[-1]
    assert not last.format_ok and not last.valid and last.reason.startswith("format")


def test_validation_is_one_batch(ex: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = ex.run

    def counting(requests: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(requests))
        return real(requests, *args, **kwargs)

    monkeypatch.setattr(ex, "run", counting)
    texts = [propose(f"def f(x):\n    return x * {k}", str(k)) for k in range(12)]
    results = validate_proposals(ex, "abduction", texts, [])
    assert all(r.valid for r in results)
    assert results[5].task is not None and results[5].task.output == "25"
    assert len(calls) <= 2 and sum(calls) >= 12  # batched, not one call per job


def induction_text(inputs: list[str], message: str) -> str:
    body = "".join(f"```input\n{i}\n```\n" for i in inputs)
    return f"plan</think>\n<answer>\n{body}```message\n{message}\n```\n</answer>"


def test_validate_induction_proposals(ex: Any) -> None:
    prog = Triplet("def f(s, k):\n    return s[k:] + s[:k]", "'abc', 1", "'bca'")
    good = [f"'rotate{k}', {k}" for k in range(10)]
    texts = [
        induction_text(good, "Rotates a string left by k places."),
        induction_text(good[:9] + [good[0]], "Rotates."),  # a repeated input is not new
        induction_text(good, "It is `return s[k:] + s[:k]` basically"),
        induction_text(good, "def f(s, k): rotate it"),
        induction_text(good[:9] + ["'x', 'y'"], "Rotates."),  # one input fails
        induction_text(good[:9] + ["0) or (1"], "Rotates."),
        induction_text(good + ["'extra', 2"], "Rotates."),  # extra inputs are dropped
    ]
    res = validate_proposals(
        ex, TaskType.INDUCTION, texts, [], n_inputs=10, n_visible=5, induction_programs=[prog] * 7
    )
    assert res[0].valid, res[0].reason
    task = res[0].task
    assert isinstance(task, InductionTask) and len(task.visible) == 5 and len(task.hidden) == 5
    assert task.visible[1] == ("'rotate1', 1", "'otate1r'") and task.program == prog.program
    assert not res[1].valid and "too few inputs" in res[1].reason
    assert not res[2].valid and "program" in res[2].reason
    assert not res[3].valid and "code" in res[3].reason
    assert not res[4].valid and "input 10 invalid" in res[4].reason
    assert not res[5].valid and "input 10 invalid" in res[5].reason
    assert res[6].valid and isinstance(res[6].task, InductionTask) and len(res[6].task.hidden) == 5


def test_message_leak_rules() -> None:
    program = "def f(xs):\n    total = sum(x * x for x in xs)\n    return total % 7"
    assert message_leak("Sums the squares, modulo seven.", program) is None
    assert message_leak("total = sum(x * x for x in xs) then mod", program) is not None
    assert message_leak(program, program) == "message contains the program"
    assert message_leak("use lambda x: x*x", program) == "message contains code"


# --------------------------------------------------------------------------- grading

ID_PROG = "def f(x):\n    return x"
PARITY = Triplet("def f(n):\n    return n % 2 == 0", "4", "True")


def test_deduction_grading_strict_literals(ex: Any) -> None:
    t = Triplet("def f(a):\n    return [a, a + 1.0, (a,)]", "1", "[1, 2.0, (1,)]")
    cases = [
        ("[1, 2.0, (1,)]", True),
        ("[1,2.0,(1,)]", True),
        ("[1, 2, (1,)]", False),  # 2 is not 2.0
        ("[True, 2.0, (1,)]", False),  # True is not 1
        ("[1, 2.0, [1]]", False),  # a list is not a tuple
        ("[1, 1 + 1.0, (1,)]", False),  # an expression is not a literal
        ("type('A', (), {'__eq__': lambda s, o: True})()", False),  # always-equal object
        ("__import__('os').system('echo hacked')", False),
    ]
    results = grade_solutions(
        ex, "deduction", [t] * len(cases), [answer("output", a) for a, _ in cases]
    )
    for (text, correct), res in zip(cases, results, strict=True):
        assert res.format_ok and res.correct is correct, (text, res.reason)
    assert "literal" in results[5].reason and "literal" in results[6].reason


def test_abduction_grading(ex: Any) -> None:
    words = Triplet("def f(xs):\n    return sorted(xs)", "['b', 'a']", "['a', 'b']")
    cases: list[tuple[Triplet, str, bool]] = [
        (PARITY, "4", True),
        (PARITY, "10", True),  # another input that also works
        (PARITY, "3", False),
        (Triplet(ID_PROG, "1", "1"), "0) or (1", False),  # injection into f(...)
        (Triplet(ID_PROG, "1", "1"), "1, 2", False),  # wrong arity raises inside f
        (Triplet(ID_PROG, "1", "1"), "True", False),  # True is not 1
        (Triplet(ID_PROG, "1", "1"), "type('A', (), {'__eq__': lambda s, o: True})()", False),
        (Triplet(ID_PROG, "1", "1"), "__import__('os').getpid() * 0 + 1", False),
        (Triplet(ID_PROG, "3", "3"), "1 + 2", True),  # inputs are evaluated, as in validation
        (words, "('b', 'a')", True),
        (words, "{'b', 'a'}", True),  # a set is sorted deterministically
        (Triplet("def f(x):\n    return x()", "int", "0"), "exit", False),  # SystemExit
    ]
    results = grade_solutions(
        ex, TaskType.ABDUCTION, [c[0] for c in cases], [answer("input", c[1]) for c in cases]
    )
    for (task, text, correct), res in zip(cases, results, strict=True):
        assert res.format_ok and res.correct is correct, (task.program, text, res.reason)


HELPERS = """\
from collections import Counter

class Tally:
    def __init__(self, items):
        self.counts = Counter(items)

    def top(self):
        return max(sorted(self.counts), key=lambda k: self.counts[k])

def f(s):
    return Tally(s).top()
"""


def test_induction_grading(ex: Any) -> None:
    task = InductionTask(
        program="def f(s):\n    return max(sorted(set(s)), key=s.count)",
        message="most common character",
        visible=[("'aab'", "'a'"), ("'abb'", "'b'")],
        hidden=[("'xyzzy'", "'y'"), ("'hello'", "'l'"), ("'ccab'", "'c'")],
    )
    fits_visible_only = "def f(s):\n    return {'aab': 'a', 'abb': 'b'}.get(s, 'a')"
    cases = [
        (HELPERS, True),
        (
            "def f(s):\n    best = None\n    for c in sorted(set(s)):\n        if best is None or "
            "s.count(c) > s.count(best):\n            best = c\n    return best",
            True,
        ),
        (fits_visible_only, False),
        (ALWAYS_EQUAL + "def f(s):\n    return A()", False),
        (
            "class S(str):\n    def __eq__(self, o):\n        return True\n"
            "def f(s):\n    return S('y')",
            False,
        ),
        ("def f(s):\n    raise KeyboardInterrupt", False),
        ("def f(s):\n    raise SystemExit", False),
        ("import os\ndef f(s):\n    return os.environ.get('X', 'y')", False),
        ("def helper(s):\n    return s\n", False),  # no entry point f
        ("def f(s):\n    return list(set(" + WORDS + "))[0]", False),  # hash-order dependent
    ]
    results = grade_solutions(
        ex, "induction", [task] * len(cases), [answer("python", c) for c, _ in cases]
    )
    for (program, correct), res in zip(cases, results, strict=True):
        assert res.format_ok and res.correct is correct, (program, res.reason)
    assert results[2].reason.startswith("hidden test 1/3: wrong")
    assert "not a literal" in results[3].reason and "not a literal" in results[4].reason
    assert "KeyboardInterrupt" in results[5].reason and "SystemExit" in results[6].reason
    assert "policy" in results[7].reason and "not defined" in results[8].reason
    assert "nondeterministic" in results[9].reason


def test_grade_mixed_format_and_one_batch(ex: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = ex.run

    def counting(requests: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(requests))
        return real(requests, *args, **kwargs)

    monkeypatch.setattr(ex, "run", counting)
    ind = InductionTask("", "doubles", [("1", "2")], [("2", "4"), ("5", "10")])
    items = [
        (TaskType.DEDUCTION, PARITY, answer("output", "True")),
        (TaskType.ABDUCTION, PARITY, answer("input", "8")),
        (TaskType.INDUCTION, ind, answer("python", "def f(x):\n    return 2 * x")),
        (TaskType.ABDUCTION, PARITY, "no think close <answer>```input\n8\n```</answer>"),
        (TaskType.DEDUCTION, PARITY, answer("input", "True")),  # wrong block for the type
    ]
    res = grade_mixed(ex, items)
    assert [r.correct for r in res] == [True, True, True, False, False]
    assert [r.format_ok for r in res] == [True, True, True, False, False]
    assert len(calls) <= 2 and sum(calls) >= 3  # abduction + 2 hidden tests, one batch


def test_task_of_the_wrong_kind_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        grade_mixed(None, [(TaskType.INDUCTION, PARITY, answer("python", "def f(x): return x"))])


CRUXEVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "cruxeval" / "cruxeval.jsonl"


@pytest.mark.skipif(not CRUXEVAL.exists(), reason="CRUXEval data not present")
def test_cruxeval_gold_answers_grade_correct(ex: Any) -> None:
    """Every CRUXEval gold output, gold input and program is graded correct on its own task."""
    rows = [json.loads(x) for x in CRUXEVAL.read_text().splitlines() if x.strip()]
    items: list[tuple[TaskType, Task, str]] = []
    for r in rows:
        t = Triplet(r["code"], r["input"], r["output"])
        hidden = InductionTask("", "", [], [(r["input"], r["output"])])
        items.append((TaskType.DEDUCTION, t, answer("output", r["output"])))
        items.append((TaskType.ABDUCTION, t, answer("input", r["input"])))
        items.append((TaskType.INDUCTION, hidden, answer("python", r["code"])))
    results = grade_mixed(ex, items)
    wrong = [
        (it[0].value, res.reason) for it, res in zip(items, results, strict=True) if not res.correct
    ]
    assert len(rows) == 800 and wrong == []


def test_copy_of_the_prompts_worked_examples_is_rejected(ex: Any) -> None:
    from azr.tasks.types.triplet import EXAMPLE_PROPOSALS

    (_, first, inp1) = EXAMPLE_PROPOSALS[0]
    reformatted = first.replace("return ", "return  ") + "  # mine"
    own = "def f(nums):\n    return sum(n * n for n in nums if n % 2 == 1)"
    texts = [
        propose(first, inp1),
        propose(first, "[7]"),  # same program, another input: still a copy
        propose(reformatted, "[1, 2]"),
        propose(own, "[3, 4, 5, 6]"),
    ]
    results = validate_proposals(ex, TaskType.ABDUCTION, texts, [REF])
    for res in results[:3]:
        assert res.format_ok and not res.valid and res.task is None
        assert res.reason == "copy of the prompt's worked example"
    assert results[3].valid and results[3].task is not None and results[3].task.output == "34"


def test_rewrites_of_a_shown_program_on_its_input_are_refused(ex: Any) -> None:
    from azr.tasks.types.triplet import EXAMPLE_OUTPUTS, EXAMPLE_PROPOSALS

    (_, example, inp) = EXAMPLE_PROPOSALS[0]
    # Every example's recorded output is what it really returns (the sandbox says so), and each
    # example program is refused as a copy, whichever example a prompt showed.
    ran = ex.run([sandbox.ExecRequest(p, f"f({i})", True) for _, p, i in EXAMPLE_PROPOSALS])
    assert [r.value_repr for r in ran] == list(EXAMPLE_OUTPUTS)
    copies = [propose(p, i) for _, p, i in EXAMPLE_PROPOSALS]
    shown = validate_proposals(ex, TaskType.DEDUCTION, copies, [REF])
    assert {r.reason for r in shown} == {"copy of the prompt's worked example"}
    # A rewrite of another example on its input: same input and output, refused.
    divisors = "def f(m):\n    return len([d for d in range(1, m + 1) if m % d == 0])"
    (rewrite,) = validate_proposals(ex, TaskType.ABDUCTION, [propose(divisors, "12")], [REF])
    assert rewrite.reason == "copy of the prompt's worked example (same input and output)"
    # The rewrites Qwen2.5-Coder-0.5B drifted to: other names and a loop, the example's input.
    loop = (
        "def f(nums):\n    total = 0\n    for num in nums:\n        if num % 2 == 0:\n"
        "            total += num ** 2\n    return total"
    )
    other_input = "def f(nums):\n    return sum(x ** 2 for x in nums if x % 2 == 0)"
    ref = Triplet("def f(a):\n    return a * 2", "21", "42")
    texts = [
        propose(loop, "[3, 4, 5, 6]"),
        propose(loop, "[3,4,5,6]"),  # the same input, written differently
        propose(other_input, "[1, 2, 3, 4]"),  # the example's behaviour on a new input: new
        propose("def f(b):\n    return b + b", "21"),  # a reference's input and output
        propose("def f(b):\n    return b + b", "20"),
    ]
    res = validate_proposals(ex, TaskType.DEDUCTION, texts, [REF, ref])
    copy = "copy of the prompt's worked example (same input and output)"
    assert [r.reason for r in res] == [
        copy,
        copy,
        "valid",
        "duplicate of a reference (same input and output)",
        "valid",
    ]
    assert [r.valid for r in res] == [False, False, True, False, True]
    assert res[2].task is not None and res[2].task.output == "20"


def test_induction_proposal_copying_the_example_message_is_rejected(ex: Any) -> None:
    from azr.tasks.types.induction import PROPOSER_EXAMPLE_MESSAGE

    def induction(inputs: list[str], message: str) -> str:
        blocks = "".join(f"```input\n{i}\n```\n" for i in inputs)
        return f"plan</think>\n<answer>\n{blocks}```message\n{message}\n```\n</answer>"

    good = [str(k) for k in range(4)]
    texts = [
        induction(good, PROPOSER_EXAMPLE_MESSAGE),
        induction(good, "  " + PROPOSER_EXAMPLE_MESSAGE.upper()),
        induction(good, "Gives back what it gets."),
    ]
    results = validate_proposals(
        ex, TaskType.INDUCTION, texts, n_inputs=4, n_visible=2, induction_programs=[REF] * 3
    )
    assert [r.reason for r in results[:2]] == ["copy of the prompt's worked example"] * 2
    assert results[2].valid, results[2].reason
