"""Data model round trips, the six prompts, and completion parsing."""

from __future__ import annotations

import json

import pytest

from azr.literals import literals_equal, parse_literal, same_literal_text
from azr.tasks import InductionTask, Role, TaskType, Triplet
from azr.tasks.parsing import extract_solver_answer, parse_completion, parse_for
from azr.tasks.prompts import forbidden_modules, proposer_prompt, solver_prompt, wrap
from azr.tasks.types.induction import extract_induction_proposal
from azr.tasks.types.triplet import extract_triplet_proposal

ID = Triplet("def f(x):\n    return x", "'Hello world'", "'Hello world'")


def test_round_trip_json() -> None:
    t = Triplet("def f(a, b):\n    return {a: b}", "1, [2]", "{1: [2]}")
    assert Triplet.from_dict(json.loads(json.dumps(t.to_dict()))) == t
    it = InductionTask(
        "def f(x):\n    return x * 2", "doubles", [("1", "2")], [("3", "6"), ("'a'", "'aa'")]
    )
    back = InductionTask.from_dict(json.loads(json.dumps(it.to_dict())))
    assert back == it and back.hidden[1] == ("'a'", "'aa'")
    assert Triplet.from_dict({"code": "def f(x): return x", "input": "1", "output": "1"}).program
    with pytest.raises(ValueError, match="missing field 'output'"):
        Triplet.from_dict({"program": "x", "input": "1"})
    with pytest.raises(ValueError, match="pair"):
        InductionTask.from_dict({"message": "m", "visible": [["1"]], "hidden": []})
    assert InductionTask.from_dict({"visible": [], "hidden": [["1", "1"]]}).message == ""
    with pytest.raises(ValueError, match="missing field 'hidden'"):
        InductionTask.from_dict({"message": "m", "visible": []})
    assert TaskType("induction") is TaskType.INDUCTION and Role("solver") is Role.SOLVER


def test_proposer_prompts_state_the_rules() -> None:
    for tt in (TaskType.DEDUCTION, TaskType.ABDUCTION):
        text = proposer_prompt(tt, [ID, Triplet("def f(n):\n    return n + 1", "3", "4")])
        assert "Reference 2:" in text and "return n + 1" in text and "```input" in text
        for mod in ("random", "datetime", "subprocess", "os"):
            assert mod in forbidden_modules() and mod in text
        assert "`f`" in text and "deterministic" in text
    ind = proposer_prompt(TaskType.INDUCTION, [], n_inputs=7, program_for_induction=ID)
    assert "7 different inputs" in ind and "```message" in ind and "return x" in ind
    with pytest.raises(ValueError):
        proposer_prompt(TaskType.INDUCTION, [])


def test_solver_prompts_show_the_task_not_the_answer() -> None:
    t = Triplet("def f(s):\n    return s[::-1]", "'abc'", "'cba'")
    ded = solver_prompt(TaskType.DEDUCTION, t)
    assert "'abc'" in ded and "'cba'" not in ded and "```output" in ded
    abd = solver_prompt("abduction", t)
    assert "'cba'" in abd and "'abc'" not in abd and "```input" in abd
    it = InductionTask(t.program, "reverses a string", [("'ab'", "'ba'")], [("'xyz'", "'zyx'")])
    ind = solver_prompt(TaskType.INDUCTION, it)
    assert "reverses a string" in ind and "'ba'" in ind and "'zyx'" not in ind
    assert "s[::-1]" not in ind  # the program is never shown to the induction solver
    with pytest.raises(TypeError):
        solver_prompt(TaskType.INDUCTION, t)


def test_wrappers() -> None:
    base = wrap("Solve it.", "base")
    assert base.endswith("Assistant: <think>") and "User: Solve it." in base

    class Tok:
        def apply_chat_template(self, msgs, tokenize, add_generation_prompt):  # type: ignore[no-untyped-def]
            assert not tokenize and add_generation_prompt
            return f"<|user|>{msgs[0]['content']}<|assistant|>"

    assert wrap("Q", "chat", Tok()) == "<|user|>Q<|assistant|><think>"
    with pytest.raises(ValueError):
        wrap("Q", "chat")


def test_parse_well_formed_primed() -> None:
    text = "I compute.</think>\n<answer>\n```output\n[1, 2]\n```\n</answer>"
    p = parse_for(text, TaskType.DEDUCTION, Role.SOLVER)
    assert p.format_ok, p.errors
    assert p.think == "I compute." and extract_solver_answer(p, "deduction") == "[1, 2]"
    # The model re-emitting <think> itself is fine as well.
    assert parse_completion("<think>x</think><answer>a</answer>").format_ok


@pytest.mark.parametrize(
    "text",
    [
        "no tags at all",
        "thinking</think> ```output\n1\n```",  # missing answer
        "t</think><answer>```output\n1\n```",  # unclosed answer
        "t</think><answer>```output\n1\n```</answer> trailing chatter",
        "t</think><answer>1</answer><answer>2</answer>",
        "t</think>\n<answer>\n```output\n1\n</answer>",  # unterminated fence
        "t</think>\n<answer>\n```input\n1\n```\n</answer>",  # wrong block
        "t</think>\n<answer>\n```output\n\n```\n</answer>",  # empty block
    ],
)
def test_parse_ill_formed(text: str) -> None:
    p = parse_for(text, TaskType.DEDUCTION, Role.SOLVER)
    assert not p.format_ok and p.errors


def test_parse_takes_last_solver_block_and_tolerates_whitespace() -> None:
    text = (
        "  I think <answer> is the tag.  </think>  \n\n<answer>\n ```output \n1\n```\n"
        "```py\nignored\n```\n```output\n'final'```\n</answer>\n\n"
    )
    p = parse_for(text, TaskType.DEDUCTION, Role.SOLVER)
    assert not p.format_ok  # <answer> mentioned while thinking: two opening tags
    text = text.replace("<answer> is", "the answer is")
    p = parse_for(text, TaskType.DEDUCTION, Role.SOLVER)
    assert p.format_ok, p.errors
    assert (
        p.all("output") == ["1", "'final'"] and extract_solver_answer(p, "deduction") == "'final'"
    )
    assert p.last("python") == "ignored"


def test_extract_proposals() -> None:
    text = (
        "plan</think><answer>```python\ndef f(a):\n    return a * 2\n```\n"
        "```input\n 'ab' \n```</answer>"
    )
    tp = extract_triplet_proposal(parse_for(text, "abduction", "proposer"))
    assert tp is not None and tp.input == "'ab'" and tp.program.startswith("def f(a):")
    ind = "p</think><answer>" + "".join(f"```input\n{i}\n```\n" for i in range(3))
    ind += "```message\nDoubles it.\n```</answer>"
    p = parse_for(ind, TaskType.INDUCTION, Role.PROPOSER)
    got = extract_induction_proposal(p)
    assert p.format_ok and got is not None and got.inputs == ["0", "1", "2"]
    assert got.message == "Doubles it."
    assert not parse_for(
        "p</think><answer>```input\n1\n```</answer>", "induction", "proposer"
    ).format_ok


def test_strict_literals() -> None:
    assert same_literal_text("[1, (2, 'a')]", "[1, (2, 'a')]")
    assert same_literal_text("{'b': 1, 'a': {1, 2}}", "{'a': {2, 1}, 'b': 1}")
    for a, b in [
        ("1", "1.0"),
        ("1", "True"),
        ("[1]", "(1,)"),
        ("{1: 0}", "{True: 0}"),
        ("0.0", "-0.0"),
        ("{1}", "frozenset({1})"),
        ("'1'", "1"),
        ("b'a'", "'a'"),
        ("[1, [1]]", "[1, [True]]"),
    ]:
        assert not same_literal_text(a, b), (a, b)
    assert not same_literal_text("1+1", "2")  # an expression is not a literal
    assert not same_literal_text("__import__('os')", "0")
    assert same_literal_text("set()", "set()") and literals_equal(parse_literal("-3"), -3)


def test_end_of_reply_closes_an_open_answer_and_nothing_else() -> None:
    from azr.tasks.parsing import close_answer_at_end

    open_answer = "f adds one.</think>\n<answer>\n```output\n3\n```\n"
    closed = close_answer_at_end(open_answer)
    assert closed.endswith("```\n</answer>")
    assert not parse_for(open_answer, "deduction", "solver").format_ok
    parsed = parse_for(closed, "deduction", "solver")
    assert parsed.format_ok and extract_solver_answer(parsed, "deduction") == "3"
    # Written as it should be: unchanged.
    whole = open_answer + "</answer>"
    assert close_answer_at_end(whole) == whole
    # Nothing else is relaxed: no </think>, an answer opened while thinking, two answers,
    # or an open fence stay as they are and stay ill-formed.
    for text in (
        "f adds one.\n<answer>\n```output\n3\n```\n",
        "<answer> maybe</think>\nso 3",
        "x</think>\n<answer>\n```output\n3\n```\n<answer>\n```output\n4\n```\n",
        "x</think>\n<answer>\n```output\n3\n",
    ):
        assert not parse_for(close_answer_at_end(text), "deduction", "solver").format_ok
