"""Parse raw completions: the <think>/<answer> envelope and the fenced blocks inside the answer.

Parsing is lenient (it extracts whatever it can and records what was wrong) while `format_ok` is
strict (docs/algorithm.md, section 5): exactly one think block followed by exactly one answer
block, nothing but whitespace around them, every fence closed, and the blocks the (task type,
role) requires (each task type's spec in `azr.tasks.types` says which).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from azr.tasks.model import Role, TaskType

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"

# Aliases a model may plausibly write for a block name; everything else keeps its own name.
_ALIASES = {"py": "python", "python3": "python", "inputs": "input", "outputs": "output"}

_FENCE_OPEN = re.compile(r"^[ \t]*```[ \t]*([A-Za-z][\w+-]*)?[ \t]*$", re.MULTILINE)
# A closing fence may end a content line (`5```), a common slip that loses nothing.
_FENCE_CLOSE = re.compile(r"```[ \t]*$", re.MULTILINE)


@dataclass
class ParsedCompletion:
    """What a completion contains: its reasoning, answer text, fenced blocks and format errors."""

    think: str | None
    answer: str | None
    blocks: dict[str, list[str]] = field(default_factory=dict)
    format_ok: bool = False
    errors: list[str] = field(default_factory=list)

    def last(self, name: str) -> str | None:
        """The last block called `name` (solver answers take the last one), or None."""
        found = self.blocks.get(name)
        return found[-1] if found else None

    def all(self, name: str) -> list[str]:
        """Every block called `name`, in order."""
        return list(self.blocks.get(name, []))


def parse_blocks(answer: str) -> tuple[dict[str, list[str]], list[str]]:
    """Fenced blocks of `answer` by name, plus errors (unterminated fences)."""
    blocks: dict[str, list[str]] = {}
    errors: list[str] = []
    pos = 0
    while True:
        opening = _FENCE_OPEN.search(answer, pos)
        if opening is None:
            break
        raw_name = (opening.group(1) or "").lower()
        body_start = opening.end() + 1  # skip the newline after the opening fence
        closing = _FENCE_CLOSE.search(answer, body_start)
        if closing is None:
            # Keep the content for diagnostics, but an open fence is a format error.
            body, pos = answer[body_start:], len(answer)
            errors.append(f"unterminated ```{raw_name} block")
        else:
            body, pos = answer[body_start : closing.start()], closing.end()
        if not raw_name:
            continue  # unnamed blocks carry no payload; the format only requires the named ones
        name = _ALIASES.get(raw_name, raw_name)
        blocks.setdefault(name, []).append(body.strip("\n").rstrip())
    return blocks, errors


def parse_completion(text: str, primed_think: bool = True) -> ParsedCompletion:
    """Parse a raw completion; with `primed_think` the text began right after `<think>`."""
    body = text
    if primed_think and not body.lstrip().startswith(THINK_OPEN):
        body = THINK_OPEN + body
    errors: list[str] = []
    for tag in (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE):
        count = body.count(tag)
        if count != 1:
            errors.append(f"{tag} appears {count} times (expected once)")

    think: str | None = None
    answer: str | None = None
    t_open, t_close = body.find(THINK_OPEN), body.find(THINK_CLOSE)
    if t_open != -1 and t_close > t_open:
        think = body[t_open + len(THINK_OPEN) : t_close].strip()
    # The answer is searched after the end of thinking so a tag mentioned while thinking is skipped.
    search_from = t_close + len(THINK_CLOSE) if t_close != -1 else 0
    a_open = body.find(ANSWER_OPEN, search_from)
    if a_open != -1:
        a_close = body.rfind(ANSWER_CLOSE)
        if a_close > a_open:
            answer = body[a_open + len(ANSWER_OPEN) : a_close]
        else:
            answer = body[a_open + len(ANSWER_OPEN) :]  # unclosed answer: keep what is there
    if not errors:
        shape = re.fullmatch(
            r"\s*<think>.*</think>\s*<answer>.*</answer>\s*", body, flags=re.DOTALL
        )
        if shape is None:
            errors.append("expected <think>...</think><answer>...</answer> and nothing else")

    blocks: dict[str, list[str]] = {}
    if answer is not None:
        blocks, block_errors = parse_blocks(answer)
        errors.extend(block_errors)
    else:
        errors.append("no <answer> block")
    return ParsedCompletion(
        think=think, answer=answer, blocks=blocks, format_ok=not errors, errors=errors
    )


def close_answer_at_end(text: str) -> str:
    """`text` with an open answer closed at its end, for a reply the model ended itself.

    A model that writes its answer and then its end-of-sequence token has finished the answer
    as surely as one that writes `</answer>` (which is a stop string: nothing can follow either).
    Only a reply that ended by the model's own choice may be passed here, never one cut off by
    the token limit. Nothing else is relaxed: the think block, the one answer block and every
    fence must still be there, so a reply ending inside an open fence stays ill-formed.
    """
    if ANSWER_CLOSE in text or text.count(ANSWER_OPEN) != 1:
        return text
    t_close = text.find(THINK_CLOSE)
    if t_close == -1 or text.find(ANSWER_OPEN) < t_close:
        return text
    return text.rstrip() + "\n" + ANSWER_CLOSE


def check_required(
    parsed: ParsedCompletion, task_type: TaskType | str, role: Role | str
) -> ParsedCompletion:
    """Mark `parsed` ill-formed unless it has the blocks this (task type, role) requires."""
    from azr.tasks.types import get

    for name, minimum in get(task_type).required_blocks(role).items():
        have = len(parsed.blocks.get(name, []))
        if have < minimum:
            parsed.errors.append(f"missing ```{name} block")
        elif name != "input" and not any(b.strip() for b in parsed.blocks[name]):
            # An empty input block is the call `f()`, which grading may judge; other blocks
            # are empty only when the model wrote nothing.
            parsed.errors.append(f"empty ```{name} block")
    parsed.format_ok = not parsed.errors
    return parsed


def parse_for(
    text: str, task_type: TaskType | str, role: Role | str, primed_think: bool = True
) -> ParsedCompletion:
    """Parse a completion and check the blocks required for this (task type, role)."""
    return check_required(parse_completion(text, primed_think), task_type, role)


def extract_solver_answer(parsed: ParsedCompletion, task_type: TaskType | str) -> str | None:
    """The solver's answer payload (the task type's answer block; the last one counts)."""
    from azr.tasks.types import get

    return get(task_type).extract_answer(parsed)
