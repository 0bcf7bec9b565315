"""Generation throughput: the vLLM engine against the embedded sampler, on training's prompts,
and a check that the engine serves the learner's weights after an update.

    python3 benchmarks/generation_engine.py [--preset cpu-qwen] [--batches 8,32,64]
        [--hf-batches 8,32,64] [--max-new-tokens 256] [--data PATH] [--out FILE.json]

Workload: CRUXEval-O problems rendered exactly as training renders a deduction solver prompt
(`--prompt-style ours --chat`), temperature 1.0, up to `--max-new-tokens` new tokens, one
generate call per batch size (batch = that many prompts). `hf` is `HFPolicy.generate` as the
preset configures it (on CPU presets: the bf16 generation copy); `vllm` is `VLLMGenerator` on
the same policy. Both run in this one process; for each batch size the two run back to back
(the engine idles meanwhile), so on a shared machine both sides of a ratio see the same load.

Then the weight-sync check: one real LoRA update (random advantages on the engine's samples),
a sync, and greedy decoding of 8 prompts by the engine and by the torch model (the learner's
bf16 generation copy, the same weights and dtype); for each prompt either the outputs are equal
or the first differing position is reported with the torch model's top-2 log-prob margin there
(a near tie that bf16 arithmetic can flip). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from azr.config import resolve_config
from azr.policy.base import SamplingParams, UpdateBatch, UpdateSample


def _prompts(data: Path | None, count: int, policy: Any) -> list[str]:
    """`count` CRUXEval-O prompts as training renders a deduction solver prompt."""
    from azr.datapaths import cruxeval_path
    from azr.evaluate.problems import get_benchmark
    from azr.tasks.prompts import PromptRenderer

    bench = get_benchmark("cruxeval-o")
    path = data or cruxeval_path()
    if path is None:
        sys.exit("generation_engine: pass --data PATH (CRUXEval JSONL) or set AZR_CRUXEVAL")
    problems = bench.load(path, None)
    random.Random(0).shuffle(problems)
    renderer = PromptRenderer("chat", policy.format_prompt)
    return [renderer.render(bench.prompt(p, "ours")) for p in problems[:count]]


def _tree_cpu_s() -> float:
    """CPU seconds (user + system) used so far by this process and all its descendants (the
    engine's processes included)."""
    import psutil

    me = psutil.Process()
    total = 0.0
    for p in [me, *me.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _timed(gen: Any, prompts: list[str], sp: SamplingParams) -> dict[str, float]:
    """Tokens per wall second, and per CPU second of the whole process tree: on a shared
    machine other jobs stretch the wall time, much less the CPU time a sampler itself uses."""
    c0, t0 = _tree_cpu_s(), time.perf_counter()
    outs = gen.generate(prompts, n=1, sampling=sp)
    wall, cpu = time.perf_counter() - t0, _tree_cpu_s() - c0
    tokens = sum(len(c.token_ids) for row in outs for c in row)
    return {
        "prompts": len(prompts),
        "tokens": tokens,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "tokens_per_s": round(tokens / wall, 1),
        "tokens_per_cpu_s": round(tokens / cpu, 1),
    }


def _first_diff(a: list[int], b: list[int]) -> int | None:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def _margin(policy: Any, prompt_ids: list[int], prefix: list[int]) -> float:
    """The torch generation model's top-1 minus top-2 log-prob after prompt + prefix."""
    import torch

    model = policy.generation_model()
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt_ids + prefix])).logits[0, -1].float()
    top = logits.log_softmax(-1).topk(2).values
    return float(top[0] - top[1])


def sync_check(policy: Any, engine: Any, prompts: list[str]) -> dict[str, Any]:
    """One LoRA update on the engine's samples, a sync, and greedy engine vs torch."""
    rng = random.Random(0)
    sp = SamplingParams(temperature=1.0, max_new_tokens=64)
    outs = engine.generate(prompts, n=2, sampling=sp)
    samples = [UpdateSample(c, rng.choice((-1.0, 1.0))) for row in outs for c in row]
    metrics = policy.update(UpdateBatch(samples))
    t0 = time.perf_counter()
    engine.sync_from(policy)
    sync_s = time.perf_counter() - t0
    greedy = SamplingParams(temperature=0.0, max_new_tokens=64)
    ours = engine.generate(prompts, n=1, sampling=greedy)
    out: dict[str, Any] = {
        "update": {
            k: metrics[k]
            for k in ("loss", "grad_norm", "sampler_ratio_dev_mean", "sampler_ratio_dev_max")
            if k in metrics
        },
        "sync_s": round(sync_s, 2),
    }
    # Against the bf16 copy (same dtype as the engine), then the fp32 learner (LoRA unmerged).
    out["vs_bf16_copy"] = _compare(policy, ours, policy.generate(prompts, n=1, sampling=greedy))
    policy.drop_generation_copy()
    out["vs_fp32_learner"] = _compare(policy, ours, policy.generate(prompts, n=1, sampling=greedy))
    return out


def _compare(policy: Any, ours: list[Any], theirs: list[Any]) -> dict[str, Any]:
    rows = []
    for a, b in zip(ours, theirs, strict=True):
        e, t = a[0], b[0]
        k = _first_diff(e.token_ids, t.token_ids)
        row: dict[str, Any] = {"equal": k is None, "tokens": len(t.token_ids)}
        if k is not None and k < min(len(e.token_ids), len(t.token_ids)):
            row.update(
                first_diff=k,
                torch_margin=round(_margin(policy, t.prompt_token_ids, t.token_ids[:k]), 4),
            )
        rows.append(row)
    return {"equal": sum(r["equal"] for r in rows), "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--preset", default="cpu-qwen")
    ap.add_argument("--batches", default="8,32,64", help="batch sizes for the engine")
    ap.add_argument("--hf-batches", default="8,32,64", help="batch sizes for the embedded sampler")
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--data", type=Path, default=None, help="CRUXEval JSONL (or $AZR_CRUXEVAL)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    from azr.policy.engine import EngineSettings, VLLMGenerator
    from azr.policy.factory import build_policy

    cfg = resolve_config(args.preset, None, [])
    policy: Any = build_policy(cfg)
    batches = [int(b) for b in args.batches.split(",") if b]
    hf_batches = [int(b) for b in args.hf_batches.split(",") if b]
    prompts = _prompts(args.data, max(batches + hf_batches + [8]), policy)
    sp = SamplingParams(temperature=1.0, max_new_tokens=args.max_new_tokens)
    result: dict[str, Any] = {
        "preset": args.preset,
        "model": cfg.model.name,
        "max_new_tokens": args.max_new_tokens,
        "cpus": os.cpu_count(),
    }
    t0 = time.perf_counter()
    settings = EngineSettings(seed=cfg.run.seed, kv_cache_gb=cfg.model.engine_kv_cache_gb)
    engine = VLLMGenerator(policy, settings)
    result["engine_start_s"] = round(time.perf_counter() - t0, 1)
    policy.own_logprobs = False
    try:
        _timed(engine, prompts[:4], SamplingParams(temperature=1.0, max_new_tokens=16))  # warm
        result["hf"], result["vllm"] = {}, {}
        # Pairs run back to back (the engine idles while the embedded sampler runs), so both
        # sides of a ratio see the same load on a shared machine.
        for b in sorted(set(batches) | set(hf_batches)):
            for name, gen, wanted in (("hf", policy, hf_batches), ("vllm", engine, batches)):
                if b in wanted:
                    result[name][b] = _timed(gen, prompts[:b], sp)
                    print(f"{name} batch {b}: {result[name][b]}", file=sys.stderr)
        result["speedup"] = {
            b: {
                key: round(result["vllm"][b][key] / result["hf"][b][key], 1)
                for key in ("tokens_per_s", "tokens_per_cpu_s")
            }
            for b in batches
            if b in result["hf"]
        }
        result["sync"] = sync_check(policy, engine, prompts[:8])
    finally:
        engine.close()
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
