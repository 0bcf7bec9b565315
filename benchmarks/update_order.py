"""How much work the update's micro-batch order saves, estimated on a real run's steps.

For each step of RUN (its `samples.jsonl`: the proposer and solver responses, which are what the
update trains on, less those with zero advantage, which this file cannot tell apart), the
prompts are tokenized with the run's tokenizer and cut into micro-batches two ways: by prompt
(what `HFPolicy._micro_batches` does when the prompt is read without gradient) and the cheapest
of three orders (by prompt; by prompt template, i.e. the first 64 tokens, then completion
length; by completion length alone). Printed per step window: the estimated work (`split_cost`:
each micro-batch's shared prompt prefix once, its padded prompt rests, three times its padded
completion columns, as forward plus backward) and the padding in the gradient part. An
estimate of matmul work, not a timing.

    python3 benchmarks/update_order.py /work/runs/long1 --tokenizer DIR [--micro-batch 4]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from azr.policy.base import Completion, UpdateSample
from azr.policy.hf import _common_prefix

TEMPLATE_TOKENS = 64


def chunks(order: list[UpdateSample], size: int) -> list[list[UpdateSample]]:
    return [order[i : i + size] for i in range(0, len(order), size)]


def split_cost(mbs: list[list[UpdateSample]]) -> int:
    """Estimated work of these micro-batches with the prompt read without gradient."""
    cost = 0
    for mb in mbs:
        heads = [list(s.completion.prompt_token_ids[:-1]) for s in mb]
        common = _common_prefix(heads)
        width = max(len(h) for h in heads) - common
        c_max = max(len(s.completion.token_ids) for s in mb)
        cost += common + len(mb) * width + 3 * len(mb) * c_max
    return cost


def cheapest(samples: list[UpdateSample], size: int) -> list[list[UpdateSample]]:
    """The cheapest by `split_cost` of the three orders."""
    orders = [
        sorted(samples, key=lambda s: list(s.completion.prompt_token_ids)),
        sorted(
            samples,
            key=lambda s: (
                list(s.completion.prompt_token_ids[:TEMPLATE_TOKENS]),
                len(s.completion.token_ids),
                list(s.completion.prompt_token_ids),
            ),
        ),
        sorted(samples, key=lambda s: len(s.completion.token_ids)),
    ]
    return min((chunks(o, size) for o in orders), key=split_cost)


def step_samples(run: Path, tokenizer: Any) -> dict[int, list[UpdateSample]]:
    """The trained responses of every step, as update samples with real token ids."""
    steps: dict[int, list[UpdateSample]] = {}
    with open(run / "samples.jsonl", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if r["step"] < 1 or r["purpose"] not in ("propose", "solve"):
                continue
            ids = tokenizer(r["prompt"])["input_ids"]
            comp = Completion(r["prompt"], "", ids, [0] * int(r["tokens"]), [])
            steps.setdefault(r["step"], []).append(UpdateSample(comp, 1.0))
    return steps


def padding(mbs: list[list[UpdateSample]]) -> tuple[int, int]:
    """(padded gradient columns, real completion tokens)."""
    cols = sum(len(mb) * max(len(s.completion.token_ids) for s in mb) for mb in mbs)
    return cols, sum(len(s.completion.token_ids) for mb in mbs for s in mb)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--tokenizer", type=Path, required=True, help="directory with tokenizer.json")
    ap.add_argument("--micro-batch", type=int, default=4)
    ap.add_argument("--window", type=int, default=20)
    args = ap.parse_args()
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(args.tokenizer)
    rows = []
    for step, samples in sorted(step_samples(args.run, tok).items()):
        old = chunks(sorted(samples, key=lambda s: s.completion.prompt_token_ids), args.micro_batch)
        new = cheapest(samples, args.micro_batch)
        rows.append((step, split_cost(old), split_cost(new), padding(old), padding(new)))
    print(
        "| steps | work by prompt | work, cheapest order | saved | grad padding by prompt | cheapest |"
    )
    print("|---|---|---|---|---|---|")
    for i in range(0, len(rows), args.window):
        part = rows[i : i + args.window]
        wo, wn = sum(r[1] for r in part), sum(r[2] for r in part)
        po = sum(r[3][0] for r in part), sum(r[3][1] for r in part)
        pn = sum(r[4][0] for r in part), sum(r[4][1] for r in part)
        print(
            f"| {part[0][0]}-{part[-1][0]} | {wo:,} | {wn:,} | {1 - wn / wo:.1%} "
            f"| {1 - po[1] / po[0]:.1%} | {1 - pn[1] / pn[0]:.1%} |"
        )


if __name__ == "__main__":
    main()
