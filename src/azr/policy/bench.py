"""`azr bench step`: generation and update throughput of the embedded policy, as one JSON object.

Generation is measured for our sampling loop (`HFPolicy.generate`) and for `model.generate`
with the same settings (same prompts, temperature, top-p, no top-k, fixed number of new tokens:
EOS is ignored by both), alternating the two and keeping each one's best of `repeats` rounds,
so a noisy shared machine penalises neither. The update is one full optimiser step
(forward, backward, clip, AdamW) on `batch` sequences of `update_tokens` completion tokens.
"""

from __future__ import annotations

import copy
import platform
import resource
import time
from typing import Any

import torch

from azr.policy.base import Completion, SamplingParams, UpdateBatch, UpdateSample
from azr.policy.hf import HFPolicy

FILLER = (
    "def f(xs):\n    out = []\n    for i, x in enumerate(xs):\n        if x % 2 == 0:\n"
    "            out.append(x * i)\n    return sorted(out)\n\nPredict f([3, 8, 1, 4]). "
)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_gb(device: torch.device) -> float:
    """Peak memory so far: CUDA allocator peak on GPU, process peak RSS on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _prompt_ids(policy: HFPolicy, n_tokens: int) -> list[int]:
    """Exactly `n_tokens` token ids of code-like text."""
    ids = policy.encode(FILLER)
    while len(ids) < n_tokens:
        ids = ids + ids
    return ids[:n_tokens]


def _time_ours(policy: HFPolicy, prompt: str, batch: int, gen_tokens: int, seed: int) -> float:
    sp = SamplingParams(temperature=1.0, top_p=1.0, max_new_tokens=gen_tokens, stop=(), seed=seed)
    _sync(policy.device)
    t0 = time.perf_counter()
    out = policy.generate([prompt] * batch, 1, sp)
    _sync(policy.device)
    dt = time.perf_counter() - t0
    made = sum(len(row[0].token_ids) for row in out)
    assert made == batch * gen_tokens, f"expected {batch * gen_tokens} tokens, got {made}"
    return dt


def _time_hf(policy: HFPolicy, prompt_ids: list[int], batch: int, gen_tokens: int) -> float:
    model = policy.model
    config = copy.deepcopy(model.generation_config)
    config.update(
        do_sample=True,
        temperature=1.0,
        top_p=1.0,
        top_k=0,
        max_new_tokens=gen_tokens,
        min_new_tokens=None,
        eos_token_id=None,  # generate exactly gen_tokens, like ours with EOS ignored
        pad_token_id=policy.pad_id,
    )
    ids = torch.tensor([prompt_ids] * batch, device=policy.device)
    mask = torch.ones_like(ids)
    _sync(policy.device)
    t0 = time.perf_counter()
    with torch.inference_mode(), policy.autocast():
        out = model.generate(input_ids=ids, attention_mask=mask, generation_config=config)
    _sync(policy.device)
    dt = time.perf_counter() - t0
    made = (out.shape[1] - ids.shape[1]) * batch
    assert made == batch * gen_tokens, f"model.generate made {made} tokens"
    return dt


def _generation(policy: HFPolicy, prompt_ids: list[int], batch: int, gen: int, repeats: int):
    prompt = policy.tokenizer.decode(prompt_ids)
    prompt_ids = policy.encode(prompt)  # exactly what our generate will see
    ours, hf = [], []
    # An untimed full-length round of each first: whoever meets a shape first pays for kernel
    # selection and allocator growth (on a GPU ~40 ms per new KV length), the other does not.
    _time_ours(policy, prompt, batch, gen, seed=0)
    _time_hf(policy, prompt_ids, batch, gen)
    for r in range(repeats):
        ours.append(_time_ours(policy, prompt, batch, gen, seed=r))
        hf.append(_time_hf(policy, prompt_ids, batch, gen))
    tokens = batch * gen
    o, h = tokens / min(ours), tokens / min(hf)
    return {
        "batch": batch,
        "new_tokens": tokens,
        "ours_tok_s": round(o, 2),
        "hf_generate_tok_s": round(h, 2),
        "ratio": round(o / h, 3),
        "ours_s": [round(x, 3) for x in ours],
        "hf_generate_s": [round(x, 3) for x in hf],
    }


def _update_batch(policy: HFPolicy, prompt_ids: list[int], batch: int, tokens: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    vocab = min(len(policy.tokenizer), policy.model.config.vocab_size)
    samples = []
    for i in range(batch):
        ids = torch.randint(0, vocab, (tokens,), generator=gen).tolist()
        c = Completion(prompt="", text="", prompt_token_ids=list(prompt_ids), token_ids=ids)
        samples.append(UpdateSample(c, 1.0 if i % 2 == 0 else -1.0))
    return UpdateBatch(samples)


def _time_generation(
    policy: HFPolicy,
    prompt_ids: list[int],
    batch: int,
    gen_tokens: int,
    repeats: int,
    peaks: dict[str, float],
) -> dict[str, Any]:
    """Generation (ours vs model.generate) at batch 1 and `batch`, with each one's peak memory."""
    policy.generate(["warm up"], 1, SamplingParams(max_new_tokens=2, stop=(), seed=0))
    out = {}
    for b in sorted({1, batch}):
        _reset_peak(policy.device)
        out[f"batch_{b}"] = _generation(policy, prompt_ids, b, gen_tokens, repeats)
        peaks[f"generate_b{b}_gb"] = round(_peak_gb(policy.device), 3)
    return out


def _time_updates(policy: HFPolicy, upd: Any, steps: int) -> dict[str, Any]:
    """Run `steps` updates on the same batch; their wall times and the last grad norm."""
    times, metrics = [], {}
    for _ in range(steps):
        _sync(policy.device)
        t1 = time.perf_counter()
        metrics = policy.update(upd)
        _sync(policy.device)
        times.append(time.perf_counter() - t1)
    return {
        "times": times,
        "step_s": [round(t, 3) for t in times],
        "grad_norm": round(float(metrics.get("grad_norm", 0.0)), 4),
    }


def _device_facts(policy: HFPolicy) -> dict[str, Any]:
    """Where the bench ran: device, threads, weights dtype, autocast, parameters, versions."""
    import transformers

    dev = policy.device
    return {
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev)
        if dev.type == "cuda"
        else platform.processor(),
        "threads": torch.get_num_threads(),
        "weights_dtype": str(policy.params_dtype).replace("torch.", ""),
        "autocast_bf16": dev.type == "cuda"
        and policy.config.amp
        and policy.params_dtype == torch.float32,
        "params_m": round(sum(p.numel() for p in policy.model.parameters()) / 1e6, 2),
        "peak_memory_kind": "cuda max_memory_allocated"
        if dev.type == "cuda"
        else "process max RSS",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }


def _bench_policy(
    model: str,
    device: str,
    dtype: str | None,
    micro_batch_size: int,
    gen_batch_size: int,
    gradient_checkpointing: bool,
    lora_rank: int,
) -> HFPolicy:
    """The embedded policy through the factory: config defaults plus the bench's settings."""
    from azr.config import build_config
    from azr.policy.factory import build_policy

    cfg = build_config(
        [
            {
                "optim": {"micro_batch_size": micro_batch_size},
                "sampling": {"generate_batch_size": max(gen_batch_size, 1)},
            }
        ]
    )
    policy = build_policy(
        cfg,
        name=model,
        device=device,
        dtype=dtype,
        gradient_checkpointing=gradient_checkpointing,
        lora_rank=lora_rank,
    )
    if not isinstance(policy, HFPolicy):  # the bench times HFPolicy's own sampling loop
        raise TypeError(f"azr bench step needs the embedded policy, got {type(policy).__name__}")
    return policy


def run_step_bench(
    model: str = "smollm2-135m",
    device: str = "cpu",
    batch: int = 8,
    prompt_len: int = 128,
    gen_tokens: int = 64,
    update_tokens: int = 256,
    dtype: str | None = None,
    repeats: int = 2,
    update_steps: int = 2,
    micro_batch_size: int | None = None,
    gradient_checkpointing: bool = False,
    lora_rank: int = 0,
) -> dict[str, Any]:
    """Measure load, generation (ours vs model.generate) and update; return the figures."""
    t0 = time.perf_counter()
    policy = _bench_policy(
        model, device, dtype, micro_batch_size or batch, batch, gradient_checkpointing, lora_rank
    )
    _sync(policy.device)
    load_s = time.perf_counter() - t0
    dev = policy.device
    policy.eos_ids = []  # fixed-length generation so both sides make the same token count
    prompt_ids = _prompt_ids(policy, prompt_len)
    peaks = {"after_load_gb": round(_peak_gb(dev), 3)}
    gen_results = _time_generation(policy, prompt_ids, batch, gen_tokens, repeats, peaks)
    _reset_peak(dev)
    upd = _update_batch(policy, prompt_ids, batch, update_tokens, seed=0)
    update = _time_updates(policy, upd, max(1, update_steps))
    peaks["update_gb"] = round(_peak_gb(dev), 3)
    update.update(
        batch=batch,
        completion_tokens=update_tokens,
        tokens_per_step=batch * update_tokens,
        tok_s=round(batch * update_tokens / min(update.pop("times")), 2),
        micro_batch_size=policy.config.micro_batch_size,
        gradient_checkpointing=gradient_checkpointing,
        lora_rank=lora_rank,
    )
    return {
        "bench": "step",
        "model": model,
        **_device_facts(policy),
        "load_s": round(load_s, 2),
        "prompt_tokens": len(prompt_ids),
        "gen_tokens": gen_tokens,
        "generation": gen_results,
        "update": update,
        "peak_memory_gb": peaks,
    }
