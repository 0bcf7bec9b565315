"""The prompt renderer and the pieces every task type's prompts share.

The six (task type x role) templates live with their task types (`azr.tasks.types`); this
module holds what they share (worked examples, the closing order of a reply, the code rules,
fenced blocks), the two public entry points `proposer_prompt` / `solver_prompt`, and
`PromptRenderer`, the one way a user message becomes model input: training, evaluation and
the learning benchmark all render through it. The model reasons inside <think>...</think> and
answers inside <answer>...</answer>, with fenced blocks (```python, ```input, ```output,
```message) as payload (docs/algorithm.md, section 3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from azr.tasks.model import Task, TaskType

THINK_PRIMER = "<think>"

BASE_WRAPPER = (
    "A conversation between User and Assistant. The User gives a task; the Assistant first "
    "thinks about it step by step and then answers. The reasoning goes inside <think> </think> "
    "and the answer inside <answer> </answer>, i.e. <think> reasoning here </think> "
    "<answer> answer here </answer>.\n"
    "User: {prompt}\n"
    "Assistant: " + THINK_PRIMER
)

PromptStyleName = Literal["chat", "base"]


class PromptRenderer:
    """Turns a user message into the model's input.

    `render` is for reasoning prompts (every self-play prompt and the evaluations' own "ours"
    prompts): with style "base" the R1 wrapper, with "chat" the model's chat template
    (`chat_template`, e.g. `policy.format_prompt`); both end primed inside `<think>`, so a
    completion starts with the model's reasoning. `render_plain` is for a benchmark's own
    prompt (no think priming): the chat template with style "chat", the text as is otherwise.
    """

    def __init__(
        self, style: PromptStyleName = "base", chat_template: Callable[[str], str] | None = None
    ) -> None:
        if style not in ("chat", "base"):
            raise ValueError(f"unknown prompt style {style!r} (expected 'chat' or 'base')")
        if style == "chat" and chat_template is None:
            raise ValueError("the chat prompt style needs a chat template")
        self.style = style
        self.chat_template = chat_template

    def render(self, user_text: str) -> str:
        """The full reasoning prompt for `user_text`, primed inside `<think>`."""
        if self.style == "base" or self.chat_template is None:
            return BASE_WRAPPER.format(prompt=user_text)
        text = self.chat_template(user_text)
        return text if text.endswith(THINK_PRIMER) else text + THINK_PRIMER

    def render_plain(self, text: str) -> str:
        """A benchmark's own prompt: through the chat template with style chat, else as is."""
        if self.style == "chat" and self.chat_template is not None:
            return self.chat_template(text)
        return text


def wrap(text: str, style: PromptStyleName = "base", tokenizer: Any | None = None) -> str:
    """`PromptRenderer(style).render(text)` with a tokenizer's chat template for style chat."""
    template = None
    if style == "chat":
        if tokenizer is None or not hasattr(tokenizer, "apply_chat_template"):
            raise ValueError("wrap(style='chat') needs a tokenizer with apply_chat_template")

        def template(user_text: str) -> str:
            messages = [{"role": "user", "content": user_text}]
            return str(
                tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            )

    return PromptRenderer(style, template).render(text)


# --------------------------------------------------------------------------- shared pieces


def forbidden_modules() -> list[str]:
    """The forbidden-module list the prompts repeat (from the sandbox's static rules)."""
    from azr.sandbox.rules import FORBIDDEN_MODULES

    return sorted(FORBIDDEN_MODULES)


def allowed_modules() -> list[str]:
    """Modules a program may import (the sandbox refuses every other import)."""
    from azr.sandbox.rules import ALLOWED_MODULES

    return sorted(m for m in ALLOWED_MODULES if not m.startswith("_"))


# No prompt shows a reply that could be copied as is. Measured with benchmarks/prompt_variants.py
# (docs/results.md, "Prompts at step 0"): Qwen2.5-Coder-0.5B copied a worked reply shown without
# its task in every greedy answer (0/100 CRUXEval-O), and filled a skeleton with [placeholders]
# with the placeholders' own words. A whole example task (its program, then its reply) placed
# before the real task, whose answer is not the real task's, keeps the model on the real task.
def worked_example(task_blocks: Sequence[tuple[str, str]], think: str, answer: str) -> str:
    """One solved example task, shown before the real one: the example's own blocks (so the
    model sees that its reply belongs to another program), then its complete reply."""
    shown = "\n".join(fence(name, body) for name, body in task_blocks)
    return (
        f"Example (a different task):\n{shown}\nReply:\n"
        f"<think>\n{think}\n</think>\n<answer>\n{answer}\n</answer>"
    )


def answer_prefill(block: str) -> str:
    """The start of a solver reply written for the model, after the priming `<think>`: an empty
    reasoning, `<answer>` and the opening fence of the answer block, so the model writes only the
    answer (`selfplay.solver_prefill`; measured in docs/results.md, "Fourth session")."""
    return f"\n</think>\n<answer>\n```{block}\n"


def same_form(blocks: str) -> str:
    """The closing instruction after the real task: the order of the reply's parts. (Measured:
    this explicit order doubled the well-formed replies of the 0.5B model over "Reply in the
    same form", at the same solve rate.)"""
    return (
        f"Reply in this order: your short reasoning, then </think>, then <answer>, then {blocks}, "
        "then </answer>. Nothing comes after </answer>."
    )


# The two rules of `code_requirements` about what `f` gives back; a task type whose program may
# do something else (raise, for error prediction) states its own.
ENTRY_RETURNS = (
    "Define an entry function named `f` that takes at least one argument and returns a "
    "value (not None)."
)
RESULT_LITERAL = (
    "The return value must be a plain Python literal (numbers, strings, bytes, booleans, "
    "None, and lists/tuples/dicts/sets of those)."
)


def code_requirements(
    timeout_s: float = 10.0, entry: str = ENTRY_RETURNS, result: str = RESULT_LITERAL
) -> str:
    """The code rules every program-writing proposer prompt states (docs/algorithm.md,
    section 3); `entry` and `result` are the rules on what `f` takes and gives back."""
    mods = ", ".join(forbidden_modules())
    allowed = ", ".join(allowed_modules())
    return (
        "Code requirements:\n"
        f"- {entry}\n"
        "- Put imports and any helper functions or classes at the top, before `f`.\n"
        "- It must be deterministic: no randomness, no date or time, no file or network I/O, no "
        "printing, no reading of external state.\n"
        f"- It must finish within {timeout_s:g} seconds.\n"
        f"- {result}\n"
        f"- Do not use these modules: {mods}.\n"
        + (f"- Only these modules may be imported: {allowed}.\n" if allowed else "")
        + "- Inputs are written as the arguments of one call, e.g. `'John', {'age': 20}` for "
        "`f('John', {'age': 20})`."
    )


def fence(name: str, body: str) -> str:
    """A fenced block called `name`."""
    return f"```{name}\n{body.strip(chr(10))}\n```"


# --------------------------------------------------------------------------- entry points


def proposer_prompt(
    task_type: TaskType | str,
    references: Sequence[Task],
    *,
    n_inputs: int = 10,
    program_for_induction: Task | None = None,
    timeout_s: float = 10.0,
) -> str:
    """User message asking the model to propose a task of `task_type`.

    `references` are the context tasks (K references); for induction, the program to write
    inputs for may be given as `program_for_induction` instead.
    """
    from azr.tasks.types import ProposalSettings, get

    context = [program_for_induction] if program_for_induction is not None else references
    settings = ProposalSettings(
        references=len(references), induction_inputs=n_inputs, timeout_s=timeout_s
    )
    return get(task_type).proposer_prompt(list(context), settings)


def solver_prompt(task_type: TaskType | str, task: Task) -> str:
    """User message asking the model to solve `task` as a `task_type` task."""
    from azr.tasks.types import get

    return get(task_type).solver_prompt(task)
