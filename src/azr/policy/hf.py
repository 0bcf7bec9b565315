"""`HFPolicy`: the embedded PyTorch/transformers policy (CPU, or one CUDA GPU unchanged).

generate: our batched sampling loop (`generation.py`). update: PPO clipped surrogate with
token-mean aggregation over the whole batch, entropy bonus, optional k3 KL to a frozen
reference, micro-batch gradient accumulation, gradient clipping, AdamW; optional LoRA.
Precision: fp32 weights everywhere; on CUDA the forward passes run under bf16 autocast
(`amp=True`), or load bf16 weights with `dtype="bfloat16"` for pure bf16.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from azr.policy import checkpoint
from azr.policy.base import (
    Completion,
    GenerationProgress,
    Policy,
    ProgressFn,
    SamplingParams,
    UpdateBatch,
    UpdateSample,
)
from azr.policy.generation import cut_at_stop, make_stop_fn, sample_batch
from azr.policy.losses import clipped_surrogate, entropy, k3_kl


@dataclass
class HFPolicyConfig:
    """Every knob of the embedded policy; defaults follow the reference where it has one."""

    lr: float = 1e-6  # AdamW learning rate (reference: 1e-6 constant for 7B)
    weight_decay: float = 0.01  # AdamW weight decay (veRL default)
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float = 1.0  # max global grad norm (reference: 1.0)
    clip_low: float = 0.2  # PPO ratio clip below 1
    clip_high: float = 0.2  # PPO ratio clip above 1
    clip_c: float | None = None  # dual-clip bound for negative advantages (None: off)
    entropy_coef: float = 0.001  # entropy bonus (reference: 0.001)
    kl_coef: float = 0.0  # k3 KL to a frozen copy of the initial model (reference: none)
    micro_batch_size: int = 8  # sequences per forward/backward; gradients are accumulated
    gen_batch_size: int = 64  # rows (prompt x sample) per generation batch
    gradient_checkpointing: bool = False
    lora_rank: int = 0  # 0: full fine-tuning; >0: LoRA adapters of this rank (peft)
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_target_modules: str | list[str] = "all-linear"
    amp: bool = True  # bf16 autocast on CUDA for fp32 weights
    amp_cpu: bool = False  # bf16 autocast on CPU too (fast on CPUs with AVX512-BF16/AMX)
    # Generate with a frozen copy of the current weights (LoRA merged) in this dtype, refreshed
    # after every update; None generates with the trained model itself. On CPUs with native
    # bf16, "bfloat16" makes sampling several times faster. The update then treats the
    # recorded log-probs as equal to its own (ratio 1: the one on-policy step of the reference).
    gen_dtype: str | None = None
    # False: the update reads the prompt without gradient (its KV cache is computed under
    # no_grad) and back-propagates through the response tokens only. The gradient then misses
    # the path through the prompt's keys and values; the update costs about half as much.
    prompt_grad: bool = True
    seed: int = 0  # seeds the policy's own sampling generator
    max_prompt_tokens: int | None = None  # keep only the last N prompt tokens (None: all)
    extra: dict[str, Any] = field(default_factory=dict)  # free-form, saved with checkpoints


def _prepare_for_training(model: Any, cfg: HFPolicyConfig) -> Any:
    """`model` wrapped in LoRA adapters (`lora_rank` > 0) and with gradient checkpointing on
    when asked; otherwise unchanged."""
    if cfg.lora_rank > 0:
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(
            r=cfg.lora_rank,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules=cfg.lora_target_modules,
            task_type="CAUSAL_LM",
        )
        with warnings.catch_warnings():
            # peft asks transformers a deprecated question on every wrap; not ours to fix.
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
            model = get_peft_model(model, lora)
    if cfg.gradient_checkpointing:
        # Non-reentrant: with frozen embeddings the reentrant variant silently drops grads.
        # transformers 5 renamed the method; keep working on 4.x too.
        kwargs = {"use_reentrant": False}
        if hasattr(model, "activation_checkpointing_enable"):
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    return model


def _frozen_layers_to_bf16(model: Any) -> None:
    """Store the frozen weights of the LoRA-wrapped linear layers in bf16. Under bf16 autocast every call casts a linear layer's fp32 weight to
    bf16 again (autocast caches the casts of trainable weights only): for the 0.5B model that
    was the largest single cost of a CPU update (`aten::copy_`, 38 % of its profile). The
    arithmetic is the same (the cast gives the values stored now), the fp32 copies' memory is
    freed, and merged weights (`HFPolicy.merged_weights`) add the fp32 LoRA delta to them."""
    for module in model.modules():
        base = getattr(module, "base_layer", None)
        if not isinstance(base, torch.nn.Linear):
            continue
        for param in base.parameters(recurse=False):
            if param.dtype == torch.float32 and not param.requires_grad:
                param.data = param.data.to(torch.bfloat16)


class HFPolicy(Policy):
    """A transformers causal LM behind the `Policy` interface."""

    name = "hf"

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        config: HFPolicyConfig | None = None,
        model_name: str = "",
    ) -> None:
        self.config = config or HFPolicyConfig()
        self.tokenizer = tokenizer
        self.model_name = model_name
        self.device = next(model.parameters()).device
        self.steps = 0
        # Bumped whenever the weights change (an optimiser step, a load): a separate generator
        # compares it with the version it serves (`engine.VLLMGenerator.sync_from`).
        self.weights_version = 0
        # True when the completions' recorded log-probs are this model's own arithmetic (the
        # embedded sampler on the trained model); otherwise they come from another copy or
        # engine, and the update takes its ratio against its own log-probs (see `update`).
        self.own_logprobs = True
        cfg = self.config
        self._gen_model: Any = None
        self._gen_stale = True
        if cfg.gen_dtype is not None:
            import copy

            from azr.policy.models import resolve_dtype

            # A plain (un-adapted) copy, so generation never pays LoRA's per-layer overhead.
            self._gen_model = (
                copy.deepcopy(model).to(resolve_dtype(cfg.gen_dtype)).eval().requires_grad_(False)
            )
        self.model = model = _prepare_for_training(model, cfg)
        if self.is_lora and self.uses_autocast:
            _frozen_layers_to_bf16(model)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            self.params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay
        )
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(cfg.seed)
        self._ref_model: Any = None
        self._stop_fns: dict[tuple[str, ...], Any] = {}
        eos = model.generation_config.eos_token_id
        eos_list = eos if isinstance(eos, list) else [eos]
        self.eos_ids = sorted({e for e in [*eos_list, tokenizer.eos_token_id] if e is not None})
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    # ----- helpers -----
    @property
    def is_lora(self) -> bool:
        """Whether the trainable parameters are LoRA adapters."""
        return self.config.lora_rank > 0

    @property
    def uses_autocast(self) -> bool:
        """Whether forward passes run under bf16 autocast: fp32 weights on CUDA (`amp`) or
        CPU (`amp_cpu`)."""
        if self.params_dtype != torch.float32:
            return False
        if self.device.type == "cuda":
            return self.config.amp
        return self.device.type == "cpu" and self.config.amp_cpu

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """bf16 autocast when `uses_autocast`; else a no-op."""
        if self.uses_autocast:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @torch.no_grad()
    def generation_model(self) -> Any:
        """The model sampling runs on: the trained model, or its refreshed low-precision copy."""
        if self._gen_model is None:
            return self.model
        if self._gen_stale:
            self._refresh_generation_model()
            self._gen_stale = False
        return self._gen_model

    @torch.no_grad()
    def _refresh_generation_model(self) -> None:
        """Copy the current weights (LoRA deltas merged in) into the generation copy."""
        merged = dict(self.merged_weights())
        for name, param in self._gen_model.named_parameters():
            param.copy_(merged[name])

    def drop_generation_copy(self) -> None:
        """Free the low-precision sampling copy (a separate generator samples instead)."""
        self._gen_model = None

    def base_model(self) -> Any:
        """The underlying transformers model (inside the LoRA wrapper when there is one)."""
        return self.model.get_base_model() if self.is_lora else self.model

    @torch.no_grad()
    def merged_weights(self) -> Iterator[tuple[str, torch.Tensor]]:
        """(name, tensor) for every parameter of the plain model, in its checkpoint names, with
        LoRA deltas merged into the adapted weights; a tied tensor is given once."""
        trained = self.base_model()
        wrapped = {
            name
            for name, module in trained.named_modules()
            if hasattr(module, "base_layer") and hasattr(module, "get_delta_weight")
        }
        seen: set[int] = set()
        for name, module in trained.named_modules():
            prefix = f"{name}." if name else ""
            if name in wrapped:
                base = module.base_layer
                yield f"{prefix}weight", base.weight + module.get_delta_weight("default")
                if getattr(base, "bias", None) is not None:
                    yield f"{prefix}bias", base.bias
                continue
            if any(name.startswith(f"{w}.") for w in wrapped):
                continue
            for leaf, param in module.named_parameters(recurse=False):
                if id(param) not in seen:
                    seen.add(id(param))
                    yield f"{prefix}{leaf}", param

    @property
    def params_dtype(self) -> torch.dtype:
        """The dtype the model was loaded in: its input embeddings' (frozen LoRA-wrapped layers
        may be stored in bf16 beside fp32 weights, see `_frozen_layers_to_bf16`)."""
        return self.base_model().get_input_embeddings().weight.dtype

    def encode(self, text: str) -> list[int]:
        """Token ids of `text` without special tokens (the chat template already has them)."""
        ids: list[int] = self.tokenizer(text, add_special_tokens=False).input_ids
        if self.config.max_prompt_tokens is not None:
            ids = ids[-self.config.max_prompt_tokens :]
        return ids

    def format_prompt(self, user_text: str) -> str:
        """Apply the tokenizer's chat template when it has one, else return the text as is."""
        if getattr(self.tokenizer, "chat_template", None):
            messages = [{"role": "user", "content": user_text}]
            text: str = self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
            return text
        return user_text

    # ----- generation -----
    def generate(
        self,
        prompts: Sequence[str],
        n: int = 1,
        sampling: SamplingParams | None = None,
        *,
        progress: ProgressFn | None = None,
    ) -> list[list[Completion]]:
        """Sample `n` completions per prompt; token ids and model log-probs come with each.
        `progress` hears after every decoding step (responses done, share of the worst case)."""
        sp = sampling or SamplingParams()
        encoded = [self.encode(p) for p in prompts]
        rows = [(i, k) for i in range(len(prompts)) for k in range(n)]
        # Batch rows of similar prompt length together: less padding.
        rows.sort(key=lambda r: len(encoded[r[0]]))
        gen = self.generator
        if sp.seed is not None:
            gen = torch.Generator(device=self.device)
            gen.manual_seed(sp.seed)
        stops = tuple(sp.stop)
        if stops not in self._stop_fns:
            self._stop_fns[stops] = make_stop_fn(self.tokenizer, stops)
        stop_fn = self._stop_fns[stops]
        out: list[list[Completion | None]] = [[None] * n for _ in prompts]
        self.model.eval()
        gen_model = self.generation_model()
        bs = max(1, self.config.gen_batch_size)
        for start in range(0, len(rows), bs):
            chunk = rows[start : start + bs]
            on_step = _chunk_progress(progress, start, len(chunk), len(rows), sp.max_new_tokens)
            own = gen_model is self.model
            with self.autocast() if own else contextlib.nullcontext():
                results = sample_batch(
                    gen_model,
                    [encoded[i] for i, _ in chunk],
                    max_new_tokens=sp.max_new_tokens,
                    temperature=sp.temperature,
                    top_p=sp.top_p,
                    eos_ids=self.eos_ids,
                    pad_id=self.pad_id,
                    generator=gen,
                    stop_fn=stop_fn,
                    on_step=on_step,
                )
            for (i, k), res in zip(chunk, results, strict=True):
                text = self.tokenizer.decode(res.token_ids, skip_special_tokens=True)
                text, _ = cut_at_stop(text, stops)
                out[i][k] = Completion(
                    prompt=prompts[i],
                    text=text,
                    prompt_token_ids=list(encoded[i]),
                    token_ids=res.token_ids,
                    logprobs=res.logprobs,
                    finish_reason=res.finish_reason,
                )
        return [[c for c in per if c is not None] for per in out]

    # ----- update -----
    def _micro_batches(
        self, samples: list[UpdateSample], by_prompt: bool = False
    ) -> Iterator[list[UpdateSample]]:
        """Micro-batches of `micro_batch_size` sequences: of similar total length, or with
        `by_prompt` in prompt order, so that a micro-batch's prompts share a long prefix (the
        same template, or the same prompt for repeated samples) that is read once."""
        if by_prompt:
            order = sorted(samples, key=lambda s: list(s.completion.prompt_token_ids))
        else:
            order = sorted(
                samples,
                key=lambda s: len(s.completion.prompt_token_ids) + len(s.completion.token_ids),
            )
        mb = max(1, self.config.micro_batch_size)
        for start in range(0, len(order), mb):
            yield order[start : start + mb]

    def _tensors(self, mb: list[UpdateSample]) -> dict[str, torch.Tensor]:
        """Left-padded prompt+completion ids; completion-aligned [B, C] masks and targets."""
        seqs = [list(s.completion.prompt_token_ids) + list(s.completion.token_ids) for s in mb]
        if any(not s.completion.prompt_token_ids for s in mb):
            raise ValueError("update needs prompt_token_ids on every completion")
        width = max(len(x) for x in seqs)
        c_max = max(len(s.completion.token_ids) for s in mb)
        ids = torch.full((len(mb), width), self.pad_id, dtype=torch.long)
        attn = torch.zeros((len(mb), width), dtype=torch.long)
        targets = torch.zeros((len(mb), c_max), dtype=torch.long)
        mask = torch.zeros((len(mb), c_max))
        old = torch.full((len(mb), c_max), float("nan"))
        adv = torch.zeros((len(mb), c_max))
        for r, (s, seq) in enumerate(zip(mb, seqs, strict=True)):
            ids[r, width - len(seq) :] = torch.tensor(seq)
            attn[r, width - len(seq) :] = 1
            c = len(s.completion.token_ids)
            # Completions are right-aligned: column j predicts position width - c_max + j.
            targets[r, c_max - c :] = torch.tensor(s.completion.token_ids)
            mask[r, c_max - c :] = 1.0
            adv[r, c_max - c :] = float(s.advantage)
            lps = s.completion.logprobs
            if len(lps) == c:
                old[r, c_max - c :] = torch.tensor(lps, dtype=torch.float32)
        pos = (attn.cumsum(-1) - 1).clamp(min=0)
        t = dict(ids=ids, attn=attn, pos=pos, targets=targets, mask=mask, old=old, adv=adv)
        return {k: v.to(self.device) for k, v in t.items()}

    def _split_tensors(self, mb: list[UpdateSample]) -> dict[str, torch.Tensor]:
        """For `prompt_grad=False`: each prompt minus its last token is read without gradient
        as the micro-batch's common prefix ([1, L], read once) plus each row's rest, left-padded
        ([B, R]; R may be 0); then the last prompt token plus the completion minus its last
        token, right-padded ([B, C]), with targets, masks and advantages left-aligned with it.
        Every prompt has at least two tokens (`update` only takes this path then)."""
        heads = [list(s.completion.prompt_token_ids[:-1]) for s in mb]
        common = _common_prefix(heads)
        rests = [h[common:] for h in heads]
        width = max(len(r) for r in rests)
        c_max = max(len(s.completion.token_ids) for s in mb)
        n = len(mb)
        r_ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        r_attn = torch.zeros((n, width), dtype=torch.long)
        ids = torch.full((n, c_max), self.pad_id, dtype=torch.long)
        targets = torch.zeros((n, c_max), dtype=torch.long)
        mask = torch.zeros((n, c_max))
        old = torch.full((n, c_max), float("nan"))
        adv = torch.zeros((n, c_max))
        pos = torch.zeros((n, c_max), dtype=torch.long)
        for r, (s, head, rest) in enumerate(zip(mb, heads, rests, strict=True)):
            comp = list(s.completion.token_ids)
            c = len(comp)
            if rest:
                r_ids[r, width - len(rest) :] = torch.tensor(rest)
                r_attn[r, width - len(rest) :] = 1
            ids[r, :c] = torch.tensor([s.completion.prompt_token_ids[-1], *comp[:-1]])
            targets[r, :c] = torch.tensor(comp)
            mask[r, :c] = 1.0
            adv[r, :c] = float(s.advantage)
            pos[r] = len(head) + torch.arange(c_max)
            if len(s.completion.logprobs) == c:
                old[r, :c] = torch.tensor(s.completion.logprobs, dtype=torch.float32)
        t = dict(
            pre_ids=torch.tensor([heads[0][:common]], dtype=torch.long),
            r_ids=r_ids,
            r_attn=r_attn,
            r_pos=common + (r_attn.cumsum(-1) - 1).clamp(min=0),
            ids=ids,
            pos=pos,
            attn=mask.long(),
            targets=targets,
            mask=mask,
            old=old,
            adv=adv,
        )
        return {k: v.to(self.device) for k, v in t.items()}

    def _split_logits(self, model: Any, t: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits of the completion columns; the prompts' KV cache is computed without grad,
        their common prefix once for the whole micro-batch."""
        from transformers import DynamicCache

        from azr.policy.generation import cache_kwarg

        cache = DynamicCache(config=self.model.config)
        kw = {cache_kwarg(model): cache}
        # The prompt passes only fill the cache: the decoder alone, without the LM head.
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        body = base.get_decoder()
        body_kw = {cache_kwarg(body): cache}
        n, common = t["ids"].shape[0], t["pre_ids"].shape[1]
        seen = torch.ones((n, common), dtype=torch.long, device=self.device)
        with self.autocast():
            with torch.no_grad():
                if common:
                    body(
                        input_ids=t["pre_ids"],
                        attention_mask=seen[:1],
                        position_ids=torch.arange(common, device=self.device)[None],
                        use_cache=True,
                        **body_kw,
                    )
                    cache.batch_repeat_interleave(n)
                if t["r_ids"].shape[1]:
                    seen = torch.cat([seen, t["r_attn"]], dim=1)
                    body(
                        input_ids=t["r_ids"],
                        attention_mask=seen,
                        position_ids=t["r_pos"],
                        use_cache=True,
                        **body_kw,
                    )
            out = model(
                input_ids=t["ids"],
                attention_mask=torch.cat([seen, t["attn"]], dim=1),
                position_ids=t["pos"],
                use_cache=True,
                **kw,
            )
        return out.logits.float()

    def _logits(self, model: Any, t: dict[str, torch.Tensor]) -> torch.Tensor:
        """Float logits predicting each completion column: [B, C, V]."""
        if "pre_ids" in t:
            return self._split_logits(model, t)
        c_max = t["targets"].shape[1]
        with self.autocast():
            out = model(
                input_ids=t["ids"],
                attention_mask=t["attn"],
                position_ids=t["pos"],
                use_cache=False,
                logits_to_keep=c_max + 1,
            )
        return out.logits[:, :-1, :].float()

    def _reference_logp(self, t: dict[str, torch.Tensor]) -> torch.Tensor:
        """Log-probs of the targets under the frozen initial model (for the KL term)."""
        with torch.no_grad():
            if self.is_lora:
                with self.model.disable_adapter():
                    logits = self._logits(self.model, t)
            else:
                if self._ref_model is None:
                    raise RuntimeError("reference model missing")
                logits = self._logits(self._ref_model, t)
            return logits.log_softmax(-1).gather(-1, t["targets"][..., None]).squeeze(-1)

    def update(self, batch: UpdateBatch) -> dict[str, float]:
        """One optimiser step on the batch; loss is the token mean over all its completions."""
        t0 = time.perf_counter()
        cfg = self.config
        samples, total = self._update_samples(batch)
        if total == 0:
            return {"loss": 0.0, "tokens": 0.0, "samples": 0.0, "time_s": 0.0, "skipped": 1.0}
        if cfg.kl_coef > 0 and not self.is_lora and self._ref_model is None:
            import copy

            self._ref_model = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        sums = dict.fromkeys(("loss", "pg_loss", "entropy", "kl", "clip_frac", "approx_kl"), 0.0)
        # |ratio - 1| per token between the update's log-probs and the sampler's recorded ones,
        # when the sampler is another copy or engine (reported, not used by the loss).
        devs: list[torch.Tensor] = []
        reads, by_group = self._backward(samples, total, sums, devs)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, cfg.grad_clip)
        finite = bool(torch.isfinite(grad_norm))
        if finite:  # a non-finite gradient would wreck the weights: skip the step instead
            self.optimizer.step()
            self._gen_stale = True
            self.weights_version += 1
        self.optimizer.zero_grad(set_to_none=True)
        self.model.eval()
        self.steps += 1
        metrics = {k: v / total for k, v in sums.items()}
        dev = torch.cat(devs) if devs else torch.empty(0)
        if dev.numel():
            metrics["sampler_ratio_dev_mean"] = float(dev.mean())
            metrics["sampler_ratio_dev_max"] = float(dev.max())
        if cfg.kl_coef <= 0:
            metrics.pop("kl")
        for group, (ent_sum, n) in sorted(by_group.items()):
            metrics[f"entropy_{group}"] = ent_sum / max(n, 1)
        elapsed = time.perf_counter() - t0
        metrics.update(
            grad_norm=float(grad_norm),
            tokens=float(total),
            samples=float(len(samples)),
            skipped=0.0 if finite else 1.0,
            lr=float(self.optimizer.param_groups[0]["lr"]),
            time_s=elapsed,
            **self._work_metrics(samples, reads, elapsed),
        )
        return metrics

    def _backward(
        self,
        samples: list[UpdateSample],
        total: int,
        sums: dict[str, float],
        devs: list[torch.Tensor],
    ) -> tuple[list[int], dict[str, list[Any]]]:
        """Forward and backward every micro-batch (gradients accumulate; see `_accumulate`).
        Returns the positions read (without gradient, with gradient, by the reference model)
        and each sample group's entropy sum and token count."""
        cfg = self.config
        split = not cfg.prompt_grad and all(len(s.completion.prompt_token_ids) > 1 for s in samples)
        # With a separate generation copy the recorded log-probs come from other arithmetic:
        # the ratio is taken against the update's own log-probs (1 at this on-policy step).
        recorded = self._gen_model is None and self.own_logprobs
        # Positions run through the model: without gradient, with gradient, and by the
        # reference model (the KL term: every position again, without gradient).
        reads = [0, 0, 0]
        by_group: dict[str, list[Any]] = {}  # group -> [entropy sum, tokens]
        for mb in self._micro_batches(samples, by_prompt=split):
            t = self._split_tensors(mb) if split else self._tensors(mb)
            nograd = t["pre_ids"].shape[1] + t["r_ids"].numel() if split else 0
            reads[0] += nograd
            reads[1] += t["ids"].numel()
            if cfg.kl_coef > 0:
                reads[2] += nograd + t["ids"].numel()
            if not recorded:
                t["sampler"], t["old"] = t["old"], torch.full_like(t["old"], float("nan"))
            row_ent = self._accumulate(t, total, sums, devs)
            for s, (ent, n) in zip(mb, row_ent, strict=True):
                if s.group:
                    acc = by_group.setdefault(s.group, [0.0, 0])
                    acc[0] += ent
                    acc[1] += n
        return reads, by_group

    def _work_metrics(
        self, samples: list[UpdateSample], reads: list[int], elapsed: float
    ) -> dict[str, float]:
        """What the update computed, to hold against the matmul limit: positions read without
        and with gradient (padding included) and by the reference model, against the sequences'
        own tokens, and the matmul work they cost (an estimate, see `_update_gflop`) and its
        rate."""
        own = sum(len(s.completion.prompt_token_ids) + len(s.completion.token_ids) for s in samples)
        completion = sum(len(s.completion.token_ids) for s in samples)
        work = self._update_gflop(reads[0] + reads[2], reads[1], completion, reads[2] > 0)
        return {
            "read_nograd": float(reads[0]),
            "read_grad": float(reads[1]),
            "read_reference": float(reads[2]),
            "grad_tokens": float(completion),  # read_grad less this is padding
            "sequence_tokens": float(own),
            "gflop": work,
            "gflop_per_s": work / elapsed if elapsed > 0 else 0.0,
        }

    def _update_gflop(
        self, nograd: int, grad: int, completion: int, reference: bool = False
    ) -> float:
        """Matmul work of an update in GFLOP: 2 x (weights used per position) per position
        read without gradient (the reference model's included), 6 x per position with
        gradient (forward and backward), the output layer only where logits are taken (the
        completion tokens: 6 x for the policy, 2 x more for the `reference`). Attention scores
        and elementwise work are left out (small beside the weights at these lengths)."""
        base = self.base_model()
        emb = base.get_input_embeddings().weight
        # LoRA factors are left out (rank 16: 2 % of the weights); a tied head is counted once.
        weights = sum(p.numel() for n, p in base.named_parameters() if "lora_" not in n)
        head = emb.numel()  # the output layer has the embedding's shape (tied or not)
        body = weights - emb.numel()
        if getattr(base.config, "tie_word_embeddings", False) is False:
            body -= head  # an untied output layer is counted apart, below
        head_work = (6.0 + (2.0 if reference else 0.0)) * head * completion
        return (2.0 * body * nograd + 6.0 * body * grad + head_work) / 1e9

    def _update_samples(self, batch: UpdateBatch) -> tuple[list[UpdateSample], int]:
        """The samples with tokens (prompt ids filled in) and the token count to divide by."""
        samples = [s for s in batch.samples if s.completion.token_ids]
        for s in samples:  # completions rebuilt from records may lack prompt ids
            if not s.completion.prompt_token_ids:
                s.completion.prompt_token_ids = self.encode(s.completion.prompt)
        total = sum(len(s.completion.token_ids) for s in samples)
        if batch.norm_tokens is not None and total > 0:
            total = max(total, int(batch.norm_tokens))
        return samples, total

    def _accumulate(
        self,
        t: dict[str, torch.Tensor],
        total: int,
        sums: dict[str, float],
        devs: list[torch.Tensor],
    ) -> list[tuple[float, int]]:
        """Forward and backward one micro-batch (loss already divided by `total`); add its
        statistics to `sums`, and to `devs` the sampler's |ratio - 1| per token when `t` has
        the sampler's log-probs ("sampler"). Returns each row's entropy sum and token count."""
        cfg = self.config
        mask = t["mask"]
        logits = self._logits(self.model, t)
        logp_all = logits.log_softmax(-1)
        logp = logp_all.gather(-1, t["targets"][..., None]).squeeze(-1)
        # Missing recorded log-probs (NaN) mean "on-policy": ratio 1 at this step.
        old = torch.where(torch.isnan(t["old"]), logp.detach(), t["old"])
        pg, clipped = clipped_surrogate(
            logp, old, t["adv"], cfg.clip_low, cfg.clip_high, cfg.clip_c
        )
        loss_tok = pg
        if cfg.entropy_coef > 0:
            ent = entropy(logp_all)
            loss_tok = loss_tok - cfg.entropy_coef * ent
        else:  # reported only: from the log-probs at hand, not a second log-softmax
            with torch.no_grad():
                ent = entropy(logp_all)
        if cfg.kl_coef > 0:
            kl = k3_kl(logp, self._reference_logp(t))
            loss_tok = loss_tok + cfg.kl_coef * kl
            sums["kl"] += float((kl.detach() * mask).sum())
        loss = (loss_tok * mask).sum() / total
        loss.backward()
        with torch.no_grad():
            d = logp.detach() - old
            sums["loss"] += float(loss.detach()) * total
            sums["pg_loss"] += float((pg.detach() * mask).sum())
            row_ent = (ent.detach() * mask).sum(-1)
            sums["entropy"] += float(row_ent.sum())
            sums["clip_frac"] += float((clipped.float() * mask).sum())
            sums["approx_kl"] += float((((d.exp() - 1) - d) * mask).sum())
            if "sampler" in t:
                have = (mask > 0) & ~torch.isnan(t["sampler"])
                devs.append((logp.detach() - t["sampler"])[have].exp().sub(1).abs())
        counts = mask.sum(-1)
        return [(float(e), int(n)) for e, n in zip(row_ent, counts, strict=True)]

    @torch.no_grad()
    def token_logprobs(self, completion: Completion) -> list[float]:
        """The model's current log-prob of each completion token given its prompt."""
        t = self._tensors([UpdateSample(completion, 0.0)])
        self.model.eval()
        logits = self._logits(self.model, t)
        logp = logits.log_softmax(-1).gather(-1, t["targets"][..., None]).squeeze(-1)
        c = len(completion.token_ids)
        return [float(x) for x in logp[0, logp.shape[1] - c :]]

    def sequence_logprob(self, completion: Completion) -> float:
        """Sum of the model's current log-probs of the completion's tokens."""
        return float(sum(self.token_logprobs(completion)))

    # ----- checkpoints -----
    def train_state(self) -> checkpoint.TrainState:
        """Everything a checkpoint saves and restores, as one record."""
        meta = {
            "model_name": self.model_name,
            "steps": self.steps,
            "config": dataclasses.asdict(self.config),
        }
        return checkpoint.TrainState(
            self.model, self.tokenizer, self.optimizer, self.generator, self.is_lora, meta
        )

    def save(self, directory: Path) -> None:
        """Write weights (or the LoRA adapter), optimiser and every RNG state to `directory`."""
        checkpoint.save_state(self.train_state(), Path(directory))

    def load(self, directory: Path) -> None:
        """Restore exactly what `save` wrote (weights, optimiser, RNG states, step count)."""
        meta = checkpoint.load_state(self.train_state(), Path(directory))
        self.steps = int(meta.get("steps", 0))
        self._gen_stale = True
        self.weights_version += 1

    def close(self) -> None:
        """Drop the models so their memory can be freed."""
        self._ref_model = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def _chunk_progress(
    progress: ProgressFn | None, start: int, size: int, total: int, max_new_tokens: int
) -> Any:
    """The per-step callback of one generation batch (rows start..start+size of total), as
    `GenerationProgress`: rows before the batch are done; the worst case of a batch is every
    row running to max_new_tokens."""
    if progress is None:
        return None
    limit = max(1, max_new_tokens)

    def on_step(steps: int, finished: int) -> None:
        worst = (start + size * min(steps, limit) / limit) / max(1, total)
        progress(GenerationProgress(start + finished, total, worst))

    return on_step


def _common_prefix(rows: list[list[int]]) -> int:
    """The length of the longest prefix all `rows` share."""
    first = rows[0]
    k = min(len(r) for r in rows)
    for row in rows[1:]:
        j = 0
        while j < k and row[j] == first[j]:
            j += 1
        k = j
    return k


def create_policy(
    name: str,
    device: str = "cpu",
    config: HFPolicyConfig | None = None,
    dtype: str | None = None,
    **overrides: Any,
) -> HFPolicy:
    """Load model `name` (see `models.load_model`) and wrap it in an `HFPolicy`."""
    from dataclasses import replace

    from azr.policy.models import load_model

    cfg = replace(config or HFPolicyConfig(), **overrides)
    model, tok = load_model(name, device=device, dtype=dtype)
    return HFPolicy(model, tok, cfg, model_name=name)
