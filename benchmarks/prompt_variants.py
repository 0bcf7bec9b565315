"""Step-0 prompt study (issue 16, section 1): can the base model follow our prompts?

Measures, with one vLLM engine session and the project's own rendering and scoring:

* CRUXEval-O and CRUXEval-I on a fixed random subset (seed and size on the command line, the
  same problems for every variant): CRUXEval's direct prompt (as `azr eval` renders it) against
  the training solver prompt (`PromptRenderer` through the model's chat template, primed inside
  `<think>`, exactly as training renders it), plus any experimental variants below; greedy and
  at the training temperature. Official CRUXEval scoring, in the sandbox. For every reasoning
  variant also the well-formed rate, the truncated rate and the copy rate (answers equal to
  an example or placeholder answer the prompt shows).
* The proposers of all task types at the training temperature: format, valid, copy-of-example,
  duplicate-of-reference and duplicate-within-batch rates (validated in the sandbox by the
  engine training uses).

The "training" variant is whatever `azr.tasks` is imported: to measure the prompts of another
commit, put that commit's `src` first on PYTHONPATH (e.g. a `git worktree`); the JSON records
the module path it used.

    PYTHONPATH=src python3 benchmarks/prompt_variants.py --n 200 --seed 16 \\
        --variants direct,training --temperatures 0,1 --proposers 24 \\
        --out docs/results/prompt_variants.json

Needs vLLM (CPU build is fine) and the converted base model (see --model).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azr.evaluate.paired import mcnemar_exact

DEFAULT_MODEL = Path.home() / ".cache/azr/models/qwen2.5-coder-0.5b-instruct-q4_k_m"
DEFAULT_DATA = Path(__file__).resolve().parents[1] / "../shared/data/cruxeval/cruxeval.jsonl"


def log(msg: str) -> None:
    print(f"[prompt_variants] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- variants


@dataclass(frozen=True)
class Variant:
    """One way to ask a CRUXEval question.

    `user_text(mode, fields)` is the user message (None: the benchmark's own direct prompt);
    `copies(mode)` the answers the prompt itself shows (an answer equal to one is a copy).
    """

    name: str
    reasoning: bool
    user_text: Callable[[str, dict[str, str]], str] | None = None
    copies: Callable[[str], tuple[str, ...]] = lambda mode: ()
    style: str = "chat"  # how the user text is rendered: the chat template or the R1 wrapper
    # Text appended to the rendered prompt (the start of the reply, written for the model); it
    # is put back in front of each completion before grading, so the grader sees whole replies.
    prefill: Callable[[str], str] | None = None
    direct_chat: bool = False  # the benchmark's own prompt through the chat template


def _training_text(mode: str, fields: dict[str, str]) -> str:
    from azr.tasks.model import TaskType, Triplet
    from azr.tasks.prompts import solver_prompt

    tt = TaskType.DEDUCTION if mode == "output" else TaskType.ABDUCTION
    return solver_prompt(tt, Triplet(fields["code"], fields["input"], fields["output"]))


def _order_text(mode: str, fields: dict[str, str]) -> str:
    """The training prompt with its closing line replaced by an explicit order of the parts."""
    text = _training_text(mode, fields)
    head = text[: text.rindex("Reply in the same form")]
    block = "output" if mode == "output" else "input"
    return head + (
        f"Reply in this order: your short reasoning, then </think>, then <answer>, then one "
        f"```{block} block, then </answer>. Nothing comes after </answer>."
    )


def _fence_text(mode: str, fields: dict[str, str]) -> str:
    """The training prompt with a closing line that spells out the answer block's lines."""
    text = _training_text(mode, fields)
    head = text[: text.rindex("Reply in this order")]
    block, what = ("output", "the value") if mode == "output" else ("input", "the arguments")
    return head + (
        f"Reply in this order: your short reasoning, then </think>, then <answer>, then a line "
        f"```{block}, then {what}, then a line ```, then </answer>. Nothing comes after "
        "</answer>."
    )


def _two_examples_text(mode: str, fields: dict[str, str]) -> str:
    """The training prompt showing two example tasks (deduction's default shows one)."""
    from azr.tasks.model import Triplet
    from azr.tasks.types import get

    spec: Any = get("deduction" if mode == "output" else "abduction")
    task = Triplet(fields["code"], fields["input"], fields["output"])
    old = spec.examples_shown
    spec.examples_shown = 2
    try:
        return _training_text(mode, fields) if task else ""
    finally:
        spec.examples_shown = old


def _training_copies(mode: str) -> tuple[str, ...]:
    from azr.tasks.types import get

    spec = get("deduction" if mode == "output" else "abduction")
    shown = getattr(spec, "example_answers", None)
    if shown is None:  # prompts of commits before the example_answers attribute
        shown = (spec.example_answer,)
    return tuple(shown)


def _deduction_think_text(
    think: Callable[[Any], str], closing: str | None = None
) -> Callable[[str, dict[str, str]], str]:
    """The training prompt (CRUXEval-O) with the worked example's reasoning replaced by
    `think(example)` (an `ExampleTask`) and, if given, the closing order line replaced.
    CRUXEval-I questions get the training prompt unchanged."""

    def text(mode: str, fields: dict[str, str]) -> str:
        from azr.tasks.types.deduction import EXAMPLES

        out = _training_text(mode, fields)
        if mode != "output":
            return out
        for ex in EXAMPLES:
            out = out.replace(ex.think, think(ex))
        if closing is not None:
            out = out[: out.rindex("Reply in this order")] + closing
        return out

    return text


_BRIEF_CLOSING = (
    "Reply in this order: one line of reasoning, then </think>, then <answer>, then one "
    "```output block, then </answer>. Nothing comes after </answer>."
)
_SO_CLOSING = (
    "Reply in this order: your short reasoning, ending with f(the input) == the value, then "
    "</think>, then <answer>, then one ```output block, then </answer>. Nothing comes after "
    "</answer>."
)


_TRACES = {
    "['ab', 'cat', 'dog', 'x']": "Going through words: 'ab' has 2 letters, skipped; 'cat' has 3, "
    "kept as 'CAT'; 'dog' has 3, kept as 'DOG'; 'x' has 1, skipped. The list is ['CAT', 'DOG'].",
    "'abcab', 'c'": "d = {}. ch = 'a': d = {'a': 1}. ch = 'b': d = {'a': 1, 'b': 1}. ch = 'c': "
    "skipped. ch = 'a': d = {'a': 2, 'b': 1}. ch = 'b': d = {'a': 2, 'b': 2}. Return d.",
}


def _so_think(example: Any) -> str:
    return f"{example.think} So f({example.shown}) == {example.answer}"


_NONE_CLOSING = {
    "output": "Reply in this order: </think> at once (no reasoning), then <answer>, then one "
    "```output block, then </answer>. Nothing comes after </answer>.",
    "input": "Reply in this order: </think> at once (no reasoning), then <answer>, then one "
    "```input block, then </answer>. Nothing comes after </answer>.",
}


def _none_text(mode: str, fields: dict[str, str]) -> str:
    """The training prompt with every example's reasoning empty and an order to answer at once."""
    from azr.tasks.types import get

    spec: Any = get("deduction" if mode == "output" else "abduction")
    out = _training_text(mode, fields)
    for ex in spec.examples:
        out = out.replace(f"<think>\n{ex.think}\n</think>", "<think>\n</think>")
    return out[: out.rindex("Reply in this order")] + _NONE_CLOSING[mode]


def _answer_prefill(mode: str) -> str:
    """Training's `selfplay.solver_prefill` for the mode's block: the model writes the value."""
    from azr.tasks.prompts import answer_prefill

    return answer_prefill(mode)


# Experimental solver prompts tried while designing the shipped ones (kept so the table in
# docs/results.md can be reproduced). Each is the problem part plus a reply-format part.
_PROBLEM = {
    "output": (
        "Work out what this Python program returns for the given input.\n\n"
        "```python\n{code}\n```\n```input\n{input}\n```\n\n"
    ),
    "input": (
        "Find an input for which this Python program returns the given output.\n\n"
        "```python\n{code}\n```\n```output\n{output}\n```\n\n"
    ),
}
_HOW = {
    "output": "Give the exact return value as a Python literal (a number, a string in quotes, "
    "a list, a dict), not an expression.",
    "input": "Write the input as the arguments of one call to `f`, as Python literals. Any "
    "input that produces the output is accepted.",
}
_SLOT = {
    "output": ("output", "[the return value, as a Python literal]"),
    "input": ("input", "[the arguments of one call to f, as Python literals]"),
}


def _placeholder_text(reasoning_line: str) -> Callable[[str, dict[str, str]], str]:
    def text(mode: str, fields: dict[str, str]) -> str:
        block, slot = _SLOT[mode]
        problem = _PROBLEM[mode].format(**fields)
        return (
            problem
            + f"{reasoning_line} {_HOW[mode]}\n\n"
            + "Write your reply in this form, replacing each part in square brackets with your "
            + "own text:\n"
            + "<think>\n[your reasoning]\n</think>\n<answer>\n"
            + f"```{block}\n{slot}\n```\n</answer>"
        )

    return text


def _placeholder_copies(mode: str) -> tuple[str, ...]:
    return (_SLOT[mode][1],)


# Worked examples for the few-shot variants: each shows its own program, so the model can see
# the reply belongs to another task.
SHOTS = {
    "output": [
        (
            "def f(words):\n    return [w.upper() for w in words if len(w) > 2]",
            "['ab', 'cat', 'dog', 'x']",
            "The words longer than 2 letters are 'cat' and 'dog'; upper-cased they are 'CAT' "
            "and 'DOG'.",
            "['CAT', 'DOG']",
        ),
        (
            "def f(n):\n    total = 0\n    for i in range(1, n + 1):\n        if i % 3 == 0:\n"
            "            total += i\n    return total",
            "10",
            "i goes from 1 to 10. The multiples of 3 are 3, 6 and 9, so total = 3 + 6 + 9 = 18.",
            "18",
        ),
        (
            "def f(s, c):\n    d = {}\n    for ch in s:\n        if ch != c:\n"
            "            d[ch] = d.get(ch, 0) + 1\n    return d",
            "'abcab', 'c'",
            "Skipping 'c', the letters are a, b, a, b: 'a' twice and 'b' twice, in that order.",
            "{'a': 2, 'b': 2}",
        ),
    ],
    "input": [
        (
            "def f(words):\n    return [w.upper() for w in words if len(w) > 2]",
            "['CAT', 'DOG']",
            "f keeps the words longer than 2 letters and upper-cases them. The list ['cat', "
            "'dog'] gives ['CAT', 'DOG'].",
            "['cat', 'dog']",
        ),
        (
            "def f(n):\n    total = 0\n    for i in range(1, n + 1):\n        if i % 3 == 0:\n"
            "            total += i\n    return total",
            "18",
            "f adds the multiples of 3 up to n. 3 + 6 + 9 = 18, so n = 9 works.",
            "9",
        ),
        (
            "def f(s, c):\n    d = {}\n    for ch in s:\n        if ch != c:\n"
            "            d[ch] = d.get(ch, 0) + 1\n    return d",
            "{'a': 2, 'b': 2}",
            "f counts the letters of s except c. s = 'abab' has 'a' twice and 'b' twice; c can "
            "be any other letter, say 'z'.",
            "'abab', 'z'",
        ),
    ],
}
_GIVEN = {"output": "input", "input": "output"}


def _fewshot_text(k: int, skeleton: bool = False) -> Callable[[str, dict[str, str]], str]:
    def text(mode: str, fields: dict[str, str]) -> str:
        block = "output" if mode == "output" else "input"
        given = _GIVEN[mode]
        parts = [_PROBLEM[mode].split("\n")[0] + " " + _HOW[mode], ""]
        for j, (code, shown, why, answer) in enumerate(SHOTS[mode][:k], 1):
            parts += [
                f"Example {j}:",
                f"```python\n{code}\n```\n```{given}\n{shown}\n```",
                "Reply:",
                f"<think>\n{why}\n</think>\n<answer>\n```{block}\n{answer}\n```\n</answer>",
                "",
            ]
        parts += [
            "Your task:",
            f"```python\n{fields['code']}\n```\n```{given}\n{fields[given]}\n```",
            "",
        ]
        if skeleton:
            parts += [
                "Reply in the same form, replacing each part in square brackets with your own "
                "text:",
                f"<think>\n[your reasoning]\n</think>\n<answer>\n```{block}\n{_SLOT[mode][1]}"
                "\n```\n</answer>",
            ]
        else:
            parts.append(
                f"Reply in the same form: your reasoning, then </think>, then <answer> with one "
                f"```{block} block, then </answer>."
            )
        return "\n".join(parts)

    return text


def _fewshot_copies(k: int) -> Callable[[str], tuple[str, ...]]:
    return lambda mode: tuple(a for _, _, _, a in SHOTS[mode][:k]) + _placeholder_copies(mode)


def _explicit_text(mode: str, fields: dict[str, str]) -> str:
    return (
        _placeholder_text("Think step by step.")(mode, fields)
        + "\n\nAfter your reasoning you must write </think> and then the <answer> block exactly "
        + "as shown; the reply is not finished before </answer>."
    )


VARIANTS: dict[str, Variant] = {
    "direct": Variant("direct", reasoning=False),
    "direct-chat": Variant("direct-chat", reasoning=False, direct_chat=True),
    "training": Variant("training", True, _training_text, _training_copies),
    "training-order": Variant("training-order", True, _order_text, _training_copies),
    "training-fence": Variant("training-fence", True, _fence_text, _training_copies),
    "training-2ex": Variant("training-2ex", True, _two_examples_text, _training_copies),
    "training-base": Variant("training-base", True, _training_text, _training_copies, "base"),
    "training-brief": Variant(
        "training-brief",
        True,
        _deduction_think_text(lambda e: e.think, _BRIEF_CLOSING),
        _training_copies,
    ),
    "training-so": Variant(
        "training-so", True, _deduction_think_text(_so_think, _SO_CLOSING), _training_copies
    ),
    "training-trace": Variant(
        "training-trace",
        True,
        _deduction_think_text(lambda e: _TRACES[e.shown]),
        _training_copies,
    ),
    "training-assert": Variant(
        "training-assert",
        True,
        _deduction_think_text(lambda e: f"assert f({e.shown}) == {e.answer}"),
        _training_copies,
    ),
    # No reasoning before the answer (fourth session): the same envelope, an empty think block.
    "training-none": Variant("training-none", True, _none_text, _training_copies),
    # The reply's start written for the model, up to the answer block: it writes the value only.
    "training-prefill": Variant(
        "training-prefill", True, _training_text, _training_copies, prefill=_answer_prefill
    ),
    "training-none-prefill": Variant(
        "training-none-prefill", True, _none_text, _training_copies, prefill=_answer_prefill
    ),
    "training-prefill-base": Variant(
        "training-prefill-base",
        True,
        _training_text,
        _training_copies,
        "base",
        prefill=_answer_prefill,
    ),
    "training-none-prefill-base": Variant(
        "training-none-prefill-base",
        True,
        _none_text,
        _training_copies,
        "base",
        prefill=_answer_prefill,
    ),
    "ph-trace": Variant(
        "ph-trace",
        True,
        _placeholder_text(
            "Go through the code step by step with this input, keeping track of the variables."
        ),
        _placeholder_copies,
    ),
    "ph-brief": Variant(
        "ph-brief",
        True,
        _placeholder_text("Think it through briefly (a few short lines), then answer."),
        _placeholder_copies,
    ),
    "ph-explicit": Variant("ph-explicit", True, _explicit_text, _placeholder_copies),
    "fewshot1": Variant("fewshot1", True, _fewshot_text(1), _fewshot_copies(1)),
    "fewshot2": Variant("fewshot2", True, _fewshot_text(2), _fewshot_copies(2)),
    "fewshot3": Variant("fewshot3", True, _fewshot_text(3), _fewshot_copies(3)),
    "fs1-skel": Variant("fs1-skel", True, _fewshot_text(1, True), _fewshot_copies(1)),
    "fs2-skel": Variant("fs2-skel", True, _fewshot_text(2, True), _fewshot_copies(2)),
}


# --------------------------------------------------------------------------- statistics


def wilson(c: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson 95% interval of a proportion c/n."""
    if n == 0:
        return (0.0, 1.0)
    p = c / n
    d = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / d
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, mid - half), min(1.0, mid + half))


# --------------------------------------------------------------------------- solver study


@dataclass
class Job:
    """One generation request and where its result goes."""

    key: tuple[str, str, float]  # (mode, variant, temperature)
    index: int  # problem index
    prompt: str
    sampling: Any


def load_subset(data: Path, n: int, seed: int) -> tuple[list[Any], list[int]]:
    """The benchmark problems and a fixed random subset of n indices (sorted)."""
    from azr.evaluate.cruxeval import CruxEval

    problems = CruxEval("output").load(data)
    rng = random.Random(seed)
    chosen = sorted(rng.sample(range(len(problems)), min(n, len(problems))))
    return problems, chosen


def solver_jobs(
    args: argparse.Namespace, tokenizer: Any, problems: Sequence[Any], chosen: Sequence[int]
) -> list[Job]:
    from vllm import SamplingParams

    from azr.evaluate.cruxeval import CruxEval
    from azr.tasks.prompts import PromptRenderer, wrap

    direct_chat = PromptRenderer("chat", _chat_template(tokenizer))
    jobs: list[Job] = []
    for mode in args.modes:
        bench = CruxEval(mode)
        for vname in args.variants:
            v = VARIANTS[vname]
            style = "ours" if v.reasoning else "benchmark"
            for temp in args.temperatures:
                draws = 1 if temp == 0 else args.samples
                sp = SamplingParams(
                    n=draws,
                    temperature=temp,
                    top_p=args.top_p,
                    max_tokens=args.solver_max_tokens or bench.max_new_tokens,
                    stop=list(bench.stop(style)),
                    include_stop_str_in_output=True,
                )
                for i in chosen:
                    p = problems[i]
                    if v.user_text is None:
                        text = bench.prompt(p, "benchmark")
                        chat = args.direct_chat or v.direct_chat
                        text = direct_chat.render_plain(text) if chat else text
                    else:
                        text = wrap(v.user_text(mode, p.fields), v.style, tokenizer)
                        text += v.prefill(mode) if v.prefill else ""
                    jobs.append(Job((mode, vname, temp), i, text, sp))
    return jobs


def _chat_template(tokenizer: Any) -> Callable[[str], str]:
    def template(user_text: str) -> str:
        messages = [{"role": "user", "content": user_text}]
        return str(
            tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        )

    return template


def score_solver(
    args: argparse.Namespace,
    jobs: Sequence[Job],
    texts: Sequence[list[tuple[str, bool]]],
    problems: Sequence[Any],
    executor: Any,
) -> dict[str, Any]:
    """Official scoring, format, copy and truncation rates per (mode, variant, temperature)."""
    from azr.evaluate.cruxeval import CruxEval
    from azr.tasks.parsing import close_answer_at_end, parse_for

    groups: dict[tuple[str, str, float], list[int]] = {}
    for k, job in enumerate(jobs):
        groups.setdefault(job.key, []).append(k)
    out: dict[str, Any] = {}
    per_problem: dict[tuple[str, str, float], dict[int, float]] = {}
    for key, ks in groups.items():
        mode, vname, temp = key
        v = VARIANTS[vname]
        bench = CruxEval(mode)
        style = "ours" if v.reasoning else "benchmark"
        probs = [problems[jobs[k].index] for k in ks]
        gens = [
            [bench.extract(p, t, style) for t, _ in texts[k]]
            for p, k in zip(probs, ks, strict=True)
        ]
        passed = bench.score(probs, gens, executor, "official")
        copies = set(v.copies(mode))
        tt = "deduction" if mode == "output" else "abduction"
        n_gen = sum(len(g) for g in gens)
        correct = sum(sum(row) for row in passed)
        fmt = written = copied = trunc = fmt_correct = 0
        records = []
        for k, p, row, ok in zip(ks, probs, gens, passed, strict=True):
            for (raw, truncated), gen, good in zip(texts[k], row, ok, strict=True):
                trunc += truncated
                if v.reasoning:
                    # As training grades: a reply the model ended itself closes an open answer.
                    graded = raw if truncated else close_answer_at_end(raw)
                    well_formed = parse_for(graded, tt, "solver").format_ok
                    written += parse_for(raw, tt, "solver").format_ok
                    fmt += well_formed
                    fmt_correct += well_formed and good
                    answer = gen.removeprefix("f(").removesuffix(")") if mode == "input" else gen
                    # A copy: an example's answer that does not solve this task.
                    copied += answer.strip() in copies and not good
            records.append({"id": p.id, "passed": ok, "generations": row, "raw": texts[k]})
        per_problem[key] = {jobs[k].index: sum(r) / len(r) for k, r in zip(ks, passed, strict=True)}
        name = f"{mode}/{vname}/T={temp:g}"
        out[name] = {
            "mode": mode,
            "variant": vname,
            "temperature": temp,
            "problems": len(ks),
            "generations": n_gen,
            "correct": correct,
            "pass@1": correct / n_gen,
            "ci95_wilson_generations": wilson(correct, n_gen),
            "format_ok": fmt / n_gen if v.reasoning else None,
            # Well-formed as written (a closing </answer> written out, no end-of-reply rule).
            "format_ok_written": written / n_gen if v.reasoning else None,
            # What training rewards: well-formed (answer closed by </answer> or by the model's
            # own end of reply, required block) and correct.
            "correct_and_well_formed": fmt_correct / n_gen if v.reasoning else None,
            "copy_rate": copied / n_gen if v.reasoning else None,
            "truncated": trunc / n_gen,
            "records": records,
        }
        log(f"{name}: {correct}/{n_gen} = {correct / n_gen:.3f}")
    # Paired comparisons against the direct prompt (greedy: McNemar counts).
    for key, rates in per_problem.items():
        mode, vname, temp = key
        ref = per_problem.get((mode, "direct", temp))
        if ref is None or vname == "direct" or temp != 0:
            continue
        only_ref = sum(1 for i in rates if ref[i] > 0 and rates[i] == 0)
        only_var = sum(1 for i in rates if ref[i] == 0 and rates[i] > 0)
        out[f"{mode}/{vname}/T={temp:g}"]["paired_vs_direct"] = {
            "direct_only": only_ref,
            "variant_only": only_var,
            "mcnemar_p": mcnemar_exact(only_ref, only_var),
        }
    return out


# --------------------------------------------------------------------------- proposer study

# Programs the induction proposer writes inputs for, and the references a triplet proposer sees
# at step 0 (the identity seed, as training starts), written for this study.
STEP0_REFERENCE = ("def f(x):\n    return x", "'Hello world'", "'Hello world'")
INDUCTION_PROGRAMS = [
    ("def f(x):\n    return x", "'Hello world'", "'Hello world'"),
    ("def f(nums):\n    return [n * 2 for n in nums if n % 2 == 0]", "[1, 2, 3, 4]", "[4, 8]"),
    ("def f(s):\n    return s[::-1].upper()", "'abc'", "'CBA'"),
    ("def f(a, b):\n    return a * b + 1", "3, 4", "13"),
]


def proposer_jobs(args: argparse.Namespace, tokenizer: Any) -> list[tuple[str, Any, str, Any]]:
    """(task type, context triplet, rendered prompt, sampling) per proposer prompt."""
    from vllm import SamplingParams

    from azr.tasks.model import Triplet
    from azr.tasks.prompts import proposer_prompt, wrap
    from azr.tasks.types import default_enabled

    out = []
    for tt in default_enabled():  # the paper's types, whose contexts are triplets
        for j in range(args.proposer_prompts):
            if tt == "induction":
                ctx = Triplet(*INDUCTION_PROGRAMS[j % len(INDUCTION_PROGRAMS)])
                text = proposer_prompt(tt, [], program_for_induction=ctx)
            else:
                ctx = Triplet(*STEP0_REFERENCE)
                text = proposer_prompt(tt, [ctx])
            sp = SamplingParams(
                n=args.proposers // args.proposer_prompts,
                temperature=args.proposer_temperature,
                top_p=1.0,
                max_tokens=args.proposer_max_tokens,
                stop=["</answer>"],
                include_stop_str_in_output=True,
            )
            out.append((tt, ctx, wrap(text, "chat", tokenizer), sp))
    return out


def score_proposers(
    jobs: Sequence[tuple[str, Any, str, Any]],
    texts: Sequence[list[tuple[str, bool]]],
    executor: Any,
) -> dict[str, Any]:
    from azr.tasks.engine import validate_batch
    from azr.tasks.parsing import close_answer_at_end
    from azr.tasks.types import ProposalSettings, get

    settings = ProposalSettings(references=1)
    by_type: dict[str, list[tuple[Any, str]]] = {}
    for (tt, ctx, _, _), row in zip(jobs, texts, strict=True):
        for raw, truncated in row:
            # As training validates: a reply the model ended itself closes an open answer.
            text = raw if truncated else close_answer_at_end(raw)
            by_type.setdefault(tt, []).append((ctx, text))
    out: dict[str, Any] = {}
    for tt, items in by_type.items():
        results = validate_batch(
            executor, tt, [r for _, r in items], [[c] for c, _ in items], settings
        )
        n = len(results)
        reasons = [r.reason for r in results]
        keys = [get(tt).dedup_key(r.task.to_dict()) for r in results if r.valid and r.task]
        out[tt] = {
            "proposals": n,
            "format_ok": sum(r.format_ok for r in results) / n,
            "valid": sum(r.valid for r in results) / n,
            "copy_of_example": sum("copy of the prompt" in x for x in reasons) / n,
            "duplicate_of_reference": sum("duplicate of a reference" in x for x in reasons) / n,
            "distinct_valid": len(set(keys)),
            "duplicate_within_batch": (len(keys) - len(set(keys))) / n,
            "reasons": reasons,
            "raw": [r for _, r in items],
        }
        log(f"proposer {tt}: valid {sum(r.valid for r in results)}/{n}")
    return out


# --------------------------------------------------------------------------- main


def generate(
    llm: Any, prompts: Sequence[str], params: Sequence[Any]
) -> list[list[tuple[str, bool]]]:
    """Completions (text, truncated) per prompt, in one engine call."""
    outs = llm.generate(list(prompts), list(params), use_tqdm=False)
    return [[(c.text, c.finish_reason == "length") for c in o.outputs] for o in outs]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="HF checkpoint directory")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="cruxeval.jsonl")
    ap.add_argument("--n", type=int, default=200, help="CRUXEval problems in the subset")
    ap.add_argument("--seed", type=int, default=16, help="subset seed and engine seed")
    ap.add_argument("--modes", default="output,input", help="output (CRUXEval-O), input (-I)")
    ap.add_argument("--variants", default="direct,training", help=", ".join(VARIANTS))
    ap.add_argument("--temperatures", default="0,1", help="0 = greedy; 1 = training")
    ap.add_argument("--top-p", type=float, default=1.0, help="solver nucleus (training: 1)")
    ap.add_argument("--samples", type=int, default=1, help="samples per problem when T > 0")
    ap.add_argument(
        "--solver-max-tokens", type=int, default=0, help="0: the benchmark's (azr eval's) 256"
    )
    ap.add_argument("--direct-chat", action="store_true", help="direct prompt via chat template")
    ap.add_argument("--proposers", type=int, default=0, help="proposals per task type (0: none)")
    ap.add_argument("--proposer-prompts", type=int, default=4, help="distinct prompts per type")
    ap.add_argument("--proposer-temperature", type=float, default=1.0)
    ap.add_argument("--proposer-max-tokens", type=int, default=512, help="training's default")
    ap.add_argument("--out", type=Path, help="JSON results file (required unless --report)")
    ap.add_argument(
        "--report", type=Path, nargs="+", help="print markdown tables of result files and exit"
    )
    ap.add_argument(
        "--rescore",
        type=Path,
        nargs="+",
        help="print the well-formed rates of result files as written and with training's "
        "end-of-reply rule, and exit",
    )
    args = ap.parse_args(argv)
    if args.out is None and not (args.report or args.rescore):
        ap.error("--out is required")
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    args.temperatures = [float(t) for t in args.temperatures.split(",")]
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variant(s) {unknown}; known: {', '.join(VARIANTS)}")
    return args


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def report(paths: Sequence[Path]) -> str:
    """Markdown tables (solver, proposer) of result files, one row per measured group."""
    rows = [
        "| file | benchmark | prompt | T | n | pass@1 % [95% CI] | well-formed % (as written) | "
        "well-formed and correct % | copies % | truncated % | paired vs direct (direct-only / "
        "prompt-only, McNemar p) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    prop_rows = [
        "| file | task type | proposals | well-formed % | valid % | copy of example % | "
        "duplicate of reference % | duplicate within batch % |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for path in paths:
        data = json.loads(path.read_text())
        for v in data["solver"].values():
            lo, hi = v["ci95_wilson_generations"]
            bench = "CRUXEval-O" if v["mode"] == "output" else "CRUXEval-I"
            paired = v.get("paired_vs_direct")
            pair = (
                f"{paired['direct_only']} / {paired['variant_only']}, p = {paired['mcnemar_p']:.2f}"
                if paired
                else ""
            )
            opt = [v.get(k) for k in ("format_ok", "correct_and_well_formed", "copy_rate")]
            fmt, fc, cp = ("" if x is None else _pct(x) for x in opt)
            if v.get("format_ok_written") is not None:
                fmt += f" ({_pct(v['format_ok_written'])})"
            rows.append(
                f"| {path.name} | {bench} | {v['variant']} | {v['temperature']:g} | "
                f"{v['generations']} | {_pct(v['pass@1'])} [{_pct(lo)}, {_pct(hi)}] | {fmt} | "
                f"{fc} | {cp} | {_pct(v['truncated'])} | {pair} |"
            )
        for tt, v in data.get("proposer", {}).items():
            prop_rows.append(
                f"| {path.name} | {tt} | {v['proposals']} | {_pct(v['format_ok'])} | "
                f"{_pct(v['valid'])} | {_pct(v['copy_of_example'])} | "
                f"{_pct(v['duplicate_of_reference'])} | {_pct(v['duplicate_within_batch'])} |"
            )
    return "\n".join(rows) + "\n\n" + "\n".join(prop_rows)


def rescore(paths: Sequence[Path]) -> str:
    """Training's well-formed rate of saved answers, as written and with the end-of-reply rule
    (a reply the model ended itself closes an open answer), with no generation."""
    from azr.tasks.parsing import close_answer_at_end, parse_for

    lines = []
    for path in paths:
        data = json.loads(path.read_text())
        for key, v in data["solver"].items():
            if not VARIANTS.get(v["variant"], VARIANTS["training"]).reasoning:
                continue
            tt = "deduction" if v["mode"] == "output" else "abduction"
            n = ended = written = ended_ok = written_ok = 0
            for rec in v["records"]:
                for (raw, truncated), good in zip(rec["raw"], rec["passed"], strict=True):
                    as_written = parse_for(raw, tt, "solver").format_ok
                    closed = raw if truncated else close_answer_at_end(raw)
                    with_rule = parse_for(closed, tt, "solver").format_ok
                    n += 1
                    written += as_written
                    ended += with_rule
                    written_ok += as_written and good
                    ended_ok += with_rule and good
            lines.append(
                f"{path.name} {key}: n={n} pass@1 {_pct(v['pass@1'])} | well-formed as written "
                f"{_pct(written / n)}, with the end-of-reply rule {_pct(ended / n)} | well-formed "
                f"and correct {_pct(written_ok / n)} -> {_pct(ended_ok / n)}"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.report:
        print(report(args.report))
        return
    if args.rescore:
        print(rescore(args.rescore))
        return
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "4")
    from azr.policy.engine import cpu_bind

    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", cpu_bind())  # every CPU, as training
    from vllm import LLM

    import azr.tasks.prompts as prompts_module
    from azr.sandbox import Executor, SandboxConfig

    problems, chosen = load_subset(args.data, args.n, args.seed)
    t0 = time.time()
    llm = LLM(
        model=str(args.model),
        dtype="bfloat16",
        seed=args.seed,
        enable_prefix_caching=True,
        max_model_len=4096,
    )
    tokenizer = llm.get_tokenizer()
    log(f"engine ready in {time.time() - t0:.0f}s")
    sjobs = solver_jobs(args, tokenizer, problems, chosen)
    pjobs = proposer_jobs(args, tokenizer) if args.proposers else []
    prompts = [j.prompt for j in sjobs] + [p for _, _, p, _ in pjobs]
    params = [j.sampling for j in sjobs] + [s for _, _, _, s in pjobs]
    t1 = time.time()
    texts = generate(llm, prompts, params)
    gen_s = time.time() - t1
    for k, job in enumerate(sjobs):  # whole replies: the prefill back in front
        v = VARIANTS[job.key[1]]
        if v.prefill is not None:
            texts[k] = [(v.prefill(job.key[0]) + t, cut) for t, cut in texts[k]]
    log(f"{len(prompts)} prompts generated in {gen_s:.0f}s")
    with Executor(SandboxConfig()) as ex:
        solver = score_solver(args, sjobs, texts[: len(sjobs)], problems, ex)
        proposer = score_proposers(pjobs, texts[len(sjobs) :], ex) if pjobs else {}
    result = {
        "settings": {
            k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "out"
        },
        "prompts_module": prompts_module.__file__,
        "problem_ids": [problems[i].id for i in chosen],
        "generation_seconds": gen_s,
        "solver": solver,
        "proposer": proposer,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    summary = {k: (v["correct"], v["generations"], v["copy_rate"]) for k, v in solver.items()}
    print(json.dumps({"solver": summary, "out": str(args.out)}))


if __name__ == "__main__":
    main()
