"""One real self-play step of a preset, timed per phase, with and without the CPU savings.

    python3 benchmarks/step_phases.py --variant after  [--preset cpu-qwen] [--set k=v ...]
    python3 benchmarks/step_phases.py --variant before
    python3 benchmarks/step_phases.py --variant after --set model.generator=hf   # no engine

`after` is the preset as shipped. `before` turns off what issue 9 added for CPU steps: the bf16
generation copy (`model.generation_dtype`), the bf16-autocast update (`model.cpu_autocast`),
reading the prompt without gradient (`optim.prompt_grad`) and skipping zero-advantage responses
(`selfplay.skip_zero_advantage`). The prefill of identical prompts once has no switch and is on
in both. Both variants use the same seed; the buffers hold the identity seeds only
(`seed_max_rounds=0`), so both steps start from the same state. Prints one JSON line: the phase
times of the step from `metrics.jsonl`, tokens, and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from azr.config import parse_assignment, resolve_config
from azr.jsonl import read_jsonl
from azr.selfplay import train
from azr.selfplay.progress import Progress

BEFORE = {
    "model": {"generation_dtype": None, "cpu_autocast": False},
    "optim": {"prompt_grad": True},
    "selfplay": {"skip_zero_advantage": False},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--variant", choices=("before", "after"), required=True)
    ap.add_argument("--preset", default="cpu-qwen")
    ap.add_argument("--set", dest="sets", action="append", default=[])
    args = ap.parse_args()
    layers = [{"selfplay": {"seed_max_rounds": 0}, "run": {"steps": 1, "tensorboard": False}}]
    if args.variant == "before":
        layers.append(BEFORE)
    layers += [parse_assignment(s) for s in args.sets]
    cfg = resolve_config(args.preset, None, layers)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="azr-step-") as tmp:
        run = Path(tmp) / "run"
        train(cfg, run, progress=Progress(quiet=True))
        m = read_jsonl(run / "metrics.jsonl")[-1]
    out = {
        "variant": args.variant,
        "preset": args.preset,
        **{k: m[k] for k in sorted(m) if k.startswith("time/")},
        "update_tokens": m.get("update/tokens"),
        "update_samples": m.get("update/samples"),
        "skipped_zero_advantage": m.get("update/skipped_zero_advantage"),
        "mean_response_tokens": round(
            sum(v for k, v in m.items() if k.endswith("/response_tokens")) / 6, 1
        ),
        "generator": cfg.model.generator,
        # The update against the matmul limit: positions read, estimated work and its rate.
        **{
            f"update_{k}": m.get(f"update/{k}")
            for k in ("read_nograd", "read_grad", "sequence_tokens", "gflop", "gflop_per_s")
        },
        "sampler_ratio_dev_mean": m.get("update/sampler_ratio_dev_mean"),
        "sampler_ratio_dev_max": m.get("update/sampler_ratio_dev_max"),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        # The vLLM engine core is a child process (stopped, hence counted, by now).
        "peak_rss_engine_gb": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20, 2
        ),
        "process_s": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
