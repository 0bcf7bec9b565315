"""Probe how often the policy writes well-formed answers to the trainer's prompts.

Builds a fixed set of prompts the way the self-play loop does (the current templates of
`azr.tasks.prompts`, rendered with the policy's chat template and primed inside `<think>`):
2 proposer and 2 solver prompts per task type, samples once per prompt with a fixed seed, and
prints one JSON line: the format-ok rate per role, the valid-proposal rate and the solve rate
(judged by the sandbox), plus two finer signs of progress (`</think>` written; `<answer>` written
after it). Run it from the repository root with PYTHONPATH=src so the working tree's templates
are the ones measured (the JSON names the module it used):

    PYTHONPATH=src python3 benchmarks/probe_format.py --temperature 0.7 --top-p 0.9 --label t07

Measured 2026-11-22, SmolLM2-135M-Instruct, CPU, max_new_tokens 192, 12 completions per probe
(6 proposer, 6 solver); format / valid are counts over the 6 proposer prompts, solver format and
solve rate were 0/6 in every probe; think = `</think>` written, ans = `<answer>` after it (/12):

    prompts                         T / top_p   seed  prop. format  prop. valid  think  ans
    old ("Answer format:" block)    1.0 / 1.0   1234      0/6           0/6       0/12   0/12
    old                             0.7 / 0.9   1234      0/6           0/6       1/12   0/12
    worked example, last            1.0 / 1.0   1234      0/6           0/6       2/12   0/12
    worked example, last            0.7 / 0.9   1234      0/6           0/6       5/12   0/12
    + explicit order, multi-line    1.0 / 1.0   1234      0/6           0/6       2/12   0/12
    + explicit order, multi-line    0.7 / 0.9   1234      1/6           1/6       4/12   1/12
    + explicit order, multi-line    0.5 / 0.9   1234      1/6           1/6       4/12   1/12
    + explicit order, multi-line    0.7 / 0.9      7      1/6           1/6       2/12   1/12
    placeholder skeleton instead    0.7 / 0.9   1234      0/6           0/6       3/12   2/12
    placeholder skeleton instead    0.7 / 0.9      7      0/6           0/6       2/12   2/12
    + "Now write your own reply"    0.7 / 0.9   1234      2/6           2/6       4/12   3/12
    + "Now write your own reply"    0.7 / 0.9      7      1/6           1/6       5/12   2/12

Adopted: the worked example with the explicit order and the closing "Now write your own reply"
line (the current templates), and temperature 0.7 / top_p 0.9 in the cpu-demo preset. Of the 6
well-formed proposals above, 5 are verbatim copies of the worked example (`EXAMPLE_PROPOSAL`) and
one an edit of it; the skeleton variant is copied literally too ("(your python)"): the 135M model
copies rather than follows the format. No solver completion was well-formed in any probe.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import azr.tasks.prompts as prompts_module
from azr.tasks.model import InductionTask, TaskType, Triplet
from azr.tasks.prompts import THINK_PRIMER, proposer_prompt, solver_prompt

IDENTITY = Triplet(program="def f(x):\n    return x", input="'Hello world'", output="'Hello world'")
# Small CRUXEval-like triplets, written for this probe.
SMALL = [
    Triplet(
        program="def f(nums):\n    return [n * 2 for n in nums if n % 2 == 0]",
        input="[1, 2, 3, 4]",
        output="[4, 8]",
    ),
    Triplet(
        program="def f(s):\n    return s[::-1].upper()",
        input="'abc'",
        output="'CBA'",
    ),
    Triplet(
        program="def f(a, b):\n    return a * b + 1",
        input="3, 4",
        output="13",
    ),
]
INDUCTION_TASKS = [
    InductionTask(
        program=SMALL[2].program,
        message="Multiply the two numbers and add one.",
        visible=[("3, 4", "13"), ("2, 5", "11")],
        hidden=[("0, 7", "1"), ("6, 6", "37")],
    ),
    InductionTask(
        program=SMALL[1].program,
        message="Reverse the string and make it upper case.",
        visible=[("'abc'", "'CBA'"), ("'hi'", "'IH'")],
        hidden=[("'xyz'", "'ZYX'"), ("'a'", "'A'")],
    ),
]


def build_prompts(induction_inputs: int) -> list[dict[str, Any]]:
    """The fixed probe set: 2 proposer and 2 solver prompts per task type."""
    items: list[dict[str, Any]] = []
    for tt in (TaskType.DEDUCTION, TaskType.ABDUCTION):
        for refs in ([IDENTITY, IDENTITY], [IDENTITY, SMALL[0]]):
            items.append(
                {"type": tt, "role": "proposer", "refs": refs, "text": proposer_prompt(tt, refs)}
            )
    for prog in (SMALL[0], SMALL[1]):
        text = proposer_prompt(
            TaskType.INDUCTION, [], n_inputs=induction_inputs, program_for_induction=prog
        )
        items.append({"type": TaskType.INDUCTION, "role": "proposer", "prog": prog, "text": text})
    for tt in (TaskType.DEDUCTION, TaskType.ABDUCTION):
        for task in (SMALL[1], SMALL[2]):
            items.append(
                {"type": tt, "role": "solver", "task": task, "text": solver_prompt(tt, task)}
            )
    for itask in INDUCTION_TASKS:
        items.append(
            {
                "type": TaskType.INDUCTION,
                "role": "solver",
                "task": itask,
                "text": solver_prompt(TaskType.INDUCTION, itask),
            }
        )
    return items


def judge(items: list[dict[str, Any]], texts: list[str], induction_inputs: int) -> dict[str, Any]:
    """Format, validity and correctness of every completion, through the sandbox."""
    from azr.sandbox import Executor, SandboxConfig
    from azr.tasks.engine import grade_solutions, validate_proposals

    out: dict[str, Any] = {}
    with Executor(SandboxConfig(timeout_s=5)) as ex:
        for role in ("proposer", "solver"):
            fmt = good = total = 0
            for tt in (TaskType.DEDUCTION, TaskType.ABDUCTION, TaskType.INDUCTION):
                idx = [i for i, it in enumerate(items) if it["role"] == role and it["type"] is tt]
                comps = [texts[i] for i in idx]
                if role == "proposer":
                    if tt is TaskType.INDUCTION:
                        res = validate_proposals(
                            ex,
                            tt,
                            comps,
                            n_inputs=induction_inputs,
                            n_visible=2,
                            induction_programs=[items[i]["prog"] for i in idx],
                        )
                    else:
                        res = [
                            validate_proposals(ex, tt, [c], items[i]["refs"])[0]
                            for i, c in zip(idx, comps, strict=True)
                        ]
                    flags = [(r.format_ok, r.valid) for r in res]
                else:
                    graded = grade_solutions(ex, tt, [items[i]["task"] for i in idx], comps)
                    flags = [(g.format_ok, g.correct) for g in graded]
                fmt += sum(f for f, _ in flags)
                good += sum(g for _, g in flags)
                total += len(flags)
                out[f"{role}_{tt.value}_format"] = sum(f for f, _ in flags)
            out[f"{role}_format_rate"] = round(fmt / total, 3)
            out[f"{role}_{'valid' if role == 'proposer' else 'solve'}_rate"] = round(
                good / total, 3
            )
            out[f"{role}_n"] = total
    return out


def main(argv: list[str] | None = None) -> int:
    """Run one probe and print its JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--top-p", type=float, default=1.0)
    ap.add_argument("--max-new-tokens", type=int, default=192)
    ap.add_argument("--samples", type=int, default=1, help="completions per prompt")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--induction-inputs", type=int, default=4)
    ap.add_argument("--label", default="")
    ap.add_argument("--dump", type=Path, help="write prompts and completions here (JSONL)")
    args = ap.parse_args(argv)

    from azr.policy.base import SamplingParams
    from azr.policy.hf import create_policy

    t0 = time.monotonic()
    policy = create_policy(args.model, "cpu")
    items = build_prompts(args.induction_inputs)
    prompts = [policy.format_prompt(it["text"]) for it in items]
    prompts = [p if p.endswith(THINK_PRIMER) else p + THINK_PRIMER for p in prompts]
    params = SamplingParams(
        temperature=args.temperature,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
    )
    outs = policy.generate(prompts, n=args.samples, sampling=params)
    gen_s = time.monotonic() - t0
    # Flatten the samples: each sample of a prompt is judged against that prompt's task.
    flat_items = [it for it, per in zip(items, outs, strict=True) for _ in per]
    texts = [c.text for per in outs for c in per]
    result: dict[str, Any] = {"label": args.label, "temperature": args.temperature}
    result["top_p"] = args.top_p
    result.update(judge(flat_items, texts, args.induction_inputs))
    # Partial progress towards the format, finer than format_ok on a dozen samples.
    result["close_think_rate"] = round(sum("</think>" in t for t in texts) / len(texts), 3)
    result["think_then_answer_rate"] = round(
        sum("<answer>" in t.partition("</think>")[2] for t in texts) / len(texts), 3
    )
    result["prompt_tokens_mean"] = round(
        sum(len(policy.encode(p)) for p in prompts) / len(prompts), 1
    )
    # Which templates were measured (the editable install may point at another checkout).
    result["prompts_module"] = prompts_module.__file__
    result["seconds"] = round(time.monotonic() - t0, 1)
    result["generate_seconds"] = round(gen_s, 1)
    if args.dump:
        with args.dump.open("w") as fh:
            for it, text in zip(flat_items, texts, strict=True):
                row = {"type": it["type"].value, "role": it["role"], "completion": text}
                fh.write(json.dumps(row) + "\n")
    print(json.dumps(result), flush=True)
    policy.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
