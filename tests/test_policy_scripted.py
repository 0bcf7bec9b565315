"""ScriptedPolicy: canned completions with stop strings, recorded updates, save/load."""

from __future__ import annotations

from pathlib import Path

from azr.policy.base import SamplingParams, UpdateBatch, UpdateSample
from azr.policy.scripted import ScriptedPolicy


def test_list_script_cycles_and_cuts_at_stop() -> None:
    pol = ScriptedPolicy(["<answer>1</answer> trailing", "plain"])
    out = pol.generate(["p", "q"], n=2)
    texts = [[c.text for c in row] for row in out]
    assert texts == [["<answer>1</answer>", "plain"], ["<answer>1</answer>", "plain"]]
    c = out[0][0]
    assert c.finish_reason == "stop" and c.token_ids == list(c.text.encode())
    assert len(c.logprobs) == len(c.token_ids) and c.prompt_token_ids == list(b"p")
    assert pol.prompts == ["p", "q"]


def test_callable_script_and_length_limit() -> None:
    pol = ScriptedPolicy(lambda prompt, k: f"{prompt}-{k}" * 10)
    c = pol.generate(["ab"], n=2, sampling=SamplingParams(max_new_tokens=5))[0]
    assert [x.text for x in c] == ["ab-0a", "ab-1a"]
    assert all(x.finish_reason == "length" for x in c)


def test_update_records_batches_and_save_load(tmp_path: Path) -> None:
    pol = ScriptedPolicy(["abc"], template="<u>{}</u>")
    c = pol.generate(["p"])[0][0]
    m = pol.update(UpdateBatch([UpdateSample(c, 1.0), UpdateSample(c, -0.5)]))
    assert m["samples"] == 2 and m["tokens"] == 6 and m["mean_advantage"] == 0.25
    assert len(pol.batches) == 1 and pol.format_prompt("x") == "<u>x</u>"
    pol.save(tmp_path)
    other = ScriptedPolicy(["abc", "def"])
    other.load(tmp_path)
    assert other.calls == 1 and other.generate(["p"])[0][0].text == "def"


def _policy_sources() -> list[Path]:
    import azr.policy

    return sorted(Path(azr.policy.__file__).parent.glob("*.py"))


def test_checkpointing_reaches_into_no_private_attribute() -> None:
    import ast

    [path] = [p for p in _policy_sources() if p.name == "checkpoint.py"]
    private = [
        node.attr
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
    ]
    assert not private, private
