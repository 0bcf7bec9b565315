"""The update of a real training step, replayed: time `HFPolicy.update` on what a run trained.

Reads step STEP of RUN's `samples.jsonl` (the proposer and solver responses of that step, the
ones the update trains on; learnability attempts and seeds are left out), tokenizes prompt and
reply with the preset's model (a solver reply that starts with the answer prefill has it moved
to the prompt, as training does), gives the responses alternating advantages +1/-1 (the
recorded advantages are not in samples.jsonl; the work does not depend on their values) and
runs the update REPEATS times for each variant, alternating, in one process. Each variant is
a list of `--set`-style assignments applied to the policy's config between updates (e.g.
`optim.kl_coef=0`), so two settings are timed side by side on the same weights and samples.
`--profile` adds a torch profiler table (top operators by self CPU time) of one update of the
first variant.

    python3 benchmarks/update_replay.py /work/runs/long4 --step 1 \
        --variant base= --variant nokl=optim.kl_coef=0 [--repeats 2] [--profile]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any


def step_samples(run: Path, step: int) -> list[dict[str, Any]]:
    out = []
    with (run / "samples.jsonl").open() as fh:
        for line in fh:
            r = json.loads(line)
            if r.get("step") == step and r.get("purpose") in ("propose", "solve"):
                out.append(r)
    if not out:
        raise SystemExit(f"no proposer or solver responses for step {step} in {run}")
    return out


def split_prefill(record: dict[str, Any]) -> tuple[str, str]:
    """(prompt + prefill, generated part) of a recorded response: a solver reply that starts
    with its task type's answer prefill (`selfplay.solver_prefill`) has it moved to the prompt."""
    from azr.tasks.prompts import answer_prefill
    from azr.tasks.types import get

    prompt, reply = record["prompt"], record["completion"]
    if record.get("role") == "solver":
        prefill = answer_prefill(str(get(record["task_type"]).answer_block))
        if reply.startswith(prefill):
            return prompt + prefill, reply[len(prefill) :]
    return prompt, reply


def build_batch(policy: Any, records: list[dict[str, Any]]) -> Any:
    from azr.policy.base import Completion, UpdateBatch, UpdateSample

    samples = []
    for i, r in enumerate(records):
        prompt, reply = split_prefill(r)
        ids = policy.tokenizer(reply, add_special_tokens=False)["input_ids"]
        if not ids:
            continue
        c = Completion(
            prompt=prompt,
            text=reply,
            prompt_token_ids=policy.encode(prompt),
            token_ids=list(ids),
        )
        samples.append(UpdateSample(c, 1.0 if i % 2 == 0 else -1.0))
    return UpdateBatch(samples)


def apply(policy: Any, assignments: list[str]) -> None:
    """Set `section.key=value` assignments on the policy's config (only the key matters)."""
    import dataclasses

    from azr.config import parse_assignment

    values: dict[str, Any] = {}
    for a in assignments:
        for section in parse_assignment(a).values():
            values.update(section)
    policy.config = dataclasses.replace(policy.config, **values)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--step", type=int, default=1)
    ap.add_argument("--preset", default="cpu-qwen")
    ap.add_argument("--set", dest="sets", action="append", default=[])
    ap.add_argument("--variant", action="append", default=[], help="NAME=k=v,k=v (may be empty)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()

    import torch

    from azr.config import parse_assignment, resolve_config
    from azr.policy.factory import build_policy

    layers = [parse_assignment(s) for s in args.sets]
    cfg = resolve_config(args.preset, None, layers)
    random.seed(0)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    policy: Any = build_policy(cfg)  # the embedded HFPolicy (its config is changed below)
    load_s = time.perf_counter() - t0
    batch = build_batch(policy, step_samples(args.run, args.step))
    variants = []
    for spec in args.variant or ["shipped="]:
        name, _, rest = spec.partition("=")
        variants.append((name, [a for a in rest.split(",") if a]))
    shipped = policy.config
    results: dict[str, list[dict[str, float]]] = {n: [] for n, _ in variants}
    for _ in range(args.repeats):
        for name, assignments in variants:
            policy.config = shipped
            apply(policy, assignments)
            t1 = time.perf_counter()
            m = policy.update(batch)
            m["wall_s"] = time.perf_counter() - t1
            results[name].append(m)
    print(
        json.dumps(
            {
                "run": str(args.run),
                "step": args.step,
                "responses": len(batch.samples),
                "load_s": round(load_s, 1),
                "threads": torch.get_num_threads(),
                "variants": {
                    n: {
                        "assignments": a,
                        "wall_s": [round(m["wall_s"], 2) for m in results[n]],
                        "metrics": {k: round(v, 4) for k, v in results[n][-1].items()},
                    }
                    for n, a in variants
                },
            },
            indent=1,
        )
    )
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        policy.config = shipped
        apply(policy, variants[0][1])
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            policy.update(batch)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30))


if __name__ == "__main__":
    main()
