"""How much our sampling loop costs beyond the model's own forward passes.

    python3 benchmarks/sampler_overhead.py [--model qwen2.5-coder-0.5b] [--batch 8] [--tokens 64]

Alternates, `--rounds` times, (a) `generation.sample_batch` (temperature 1, top-p 1, stop-string
checks, log-prob bookkeeping, one host sync a step) with (b) a bare loop of the same forward
passes (prefill, then one decode forward a token, feeding argmax) on the same bf16 generation
copy, same prompts and lengths (EOS ignored in both). Prints each one's best time and the ratio.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from azr.policy.generation import cache_kwarg, left_pad, make_stop_fn, sample_batch
from azr.policy.hf import create_policy

PROMPT = "def f(xs):\n    return sorted(x * 2 for x in xs if x % 3)\n\nPredict f([5, 1, 9, 4]). "


@torch.inference_mode()
def bare(model, prompts, tokens, pad_id):  # type: ignore[no-untyped-def]
    from transformers import DynamicCache

    ids, mask, pos = left_pad(prompts, pad_id, "cpu")
    cache = DynamicCache(config=model.config)
    kw = cache_kwarg(model)
    out = model(
        input_ids=ids,
        attention_mask=mask,
        position_ids=pos,
        use_cache=True,
        logits_to_keep=1,
        **{kw: cache},
    )
    nxt, p = out.logits[:, -1].argmax(-1), pos[:, -1:] + 1
    for _ in range(tokens - 1):
        mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
        out = model(
            input_ids=nxt[:, None],
            attention_mask=mask,
            position_ids=p,
            use_cache=True,
            **{kw: cache},
        )
        nxt, p = out.logits[:, -1].argmax(-1), p + 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    pol = create_policy(args.model, gen_dtype="bfloat16")
    model = pol.generation_model()
    prompts = [pol.encode(PROMPT + "#" * i) for i in range(args.batch)]
    stop = make_stop_fn(pol.tokenizer, ("</answer>",))
    best = {"sampler": float("inf"), "bare": float("inf")}
    for r in range(args.rounds + 1):  # round 0 warms up
        t0 = time.perf_counter()
        sample_batch(
            model,
            prompts,
            max_new_tokens=args.tokens,
            eos_ids=[],
            pad_id=pol.pad_id,
            stop_fn=stop,
            generator=torch.Generator().manual_seed(r),
        )
        t1 = time.perf_counter()
        bare(model, prompts, args.tokens, pol.pad_id)
        t2 = time.perf_counter()
        if r:
            best["sampler"] = min(best["sampler"], t1 - t0)
            best["bare"] = min(best["bare"], t2 - t1)
    print(
        json.dumps(
            {
                **{k: round(v, 2) for k, v in best.items()},
                "ratio": round(best["sampler"] / best["bare"], 3),
                "batch": args.batch,
                "tokens": args.tokens,
                "threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
