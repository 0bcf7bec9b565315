"""Build the policy a config describes: the one place where `TrainConfig` meets a backend.

Training (`azr train`), evaluation (`azr eval`) and the benchmarks build their policy here.
`hf_config` maps every `HFPolicyConfig` knob to its config key (see `CONFIG_KEYS`); a knob
that is not in that table, or in `DERIVED`, fails a test, so none can be added unreachable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from azr.config import TrainConfig

if TYPE_CHECKING:
    from azr.policy.base import Generator, Policy
    from azr.policy.hf import HFPolicyConfig

# HFPolicyConfig field -> the TrainConfig key that sets it.
CONFIG_KEYS = {
    "lr": "optim.lr",
    "weight_decay": "optim.weight_decay",
    "betas": "optim.betas",
    "grad_clip": "optim.grad_clip",
    "clip_low": "optim.clip_ratio_low (else optim.clip_ratio)",
    "clip_high": "optim.clip_ratio_high (else optim.clip_ratio)",
    "clip_c": "optim.clip_ratio_c",
    "entropy_coef": "optim.entropy_coef",
    "kl_coef": "optim.kl_coef",
    "micro_batch_size": "optim.micro_batch_size",
    "prompt_grad": "optim.prompt_grad",
    "gen_batch_size": "sampling.generate_batch_size",
    "max_prompt_tokens": "sampling.max_prompt_tokens",
    "gradient_checkpointing": "model.gradient_checkpointing",
    "lora_rank": "model.lora_rank",
    "lora_alpha": "model.lora_alpha",
    "lora_dropout": "model.lora_dropout",
    "lora_target_modules": "model.lora_target_modules",
    "amp": "model.cuda_autocast",
    "amp_cpu": "model.cpu_autocast",
    "gen_dtype": "model.generation_dtype",
    "seed": "run.seed",
}
# Fields that are not knobs: free-form metadata saved with checkpoints.
DERIVED = ("extra",)


def hf_config(cfg: TrainConfig) -> HFPolicyConfig:
    """The embedded policy's settings from the config (every knob; see `CONFIG_KEYS`)."""
    from azr.policy.hf import HFPolicyConfig

    m, o = cfg.model, cfg.optim
    return HFPolicyConfig(
        lr=o.lr,
        weight_decay=o.weight_decay,
        betas=(float(o.betas[0]), float(o.betas[1])),
        grad_clip=o.grad_clip,
        clip_low=o.clip_ratio if o.clip_ratio_low is None else o.clip_ratio_low,
        clip_high=o.clip_ratio if o.clip_ratio_high is None else o.clip_ratio_high,
        clip_c=o.clip_ratio_c,
        entropy_coef=o.entropy_coef,
        kl_coef=o.kl_coef,
        micro_batch_size=o.micro_batch_size,
        prompt_grad=o.prompt_grad,
        gen_batch_size=cfg.sampling.generate_batch_size,
        max_prompt_tokens=cfg.sampling.max_prompt_tokens,
        gradient_checkpointing=m.gradient_checkpointing,
        lora_rank=m.lora_rank,
        lora_alpha=m.lora_alpha,
        lora_dropout=m.lora_dropout,
        lora_target_modules=m.lora_target_modules,
        amp=m.cuda_autocast,
        amp_cpu=m.cpu_autocast,
        gen_dtype=m.generation_dtype,
        seed=cfg.run.seed,
    )


def with_model(cfg: TrainConfig, **model_overrides: Any) -> TrainConfig:
    """`cfg` with `model.*` values replaced (a TypeError names any key that is not one)."""
    if not model_overrides:
        return cfg
    unknown = sorted(set(model_overrides) - set(type(cfg.model).model_fields))
    if unknown:
        raise TypeError(f"build_policy: not model settings: {', '.join(unknown)}")
    return cfg.model_copy(update={"model": cfg.model.model_copy(update=model_overrides)})


def build_policy(cfg: TrainConfig, **model_overrides: Any) -> Policy:
    """The policy `cfg` names (torch is imported here, not at module import).

    `model_overrides` replace `model.*` values (the loaded model and the policy's knobs alike),
    e.g. `name=` to evaluate another model with the same settings.
    """
    from azr.policy.hf import create_policy

    cfg = with_model(cfg, **model_overrides)
    m = cfg.model
    # load_model resolves device "auto" (cuda when visible, else cpu).
    return create_policy(m.name, device=m.device, config=hf_config(cfg), dtype=m.dtype)


def policy_for_model(name: str, device: str = "cpu") -> Policy:
    """A policy for evaluating model `name` with the default settings."""
    return build_policy(TrainConfig(), name=name, device=device)


def build_generator(cfg: TrainConfig, policy: Policy, *, say: Any = None) -> Generator:
    """What samples for `policy`: a vLLM engine serving its weights (`model.generator` vllm, or
    auto with vLLM installed), else the policy itself. `say` gets one line about the choice."""
    from azr.policy.engine import EngineSettings, VLLMGenerator, resolve_engine
    from azr.policy.hf import HFPolicy

    m = cfg.model
    engine = resolve_engine(m.generator, m.name)
    if engine == "hf" or not isinstance(policy, HFPolicy):
        if say is not None and m.generator == "auto" and engine == "hf":
            from azr.policy.engine import vllm_installed

            if not vllm_installed():
                say(
                    "generation: the embedded sampler (vLLM is not installed; it is several "
                    "times faster: bash scripts/setup.sh installs it)"
                )
        return policy
    if say is not None:
        say("generation: starting the vLLM engine (about a minute)")
    policy.own_logprobs = False
    policy.drop_generation_copy()
    settings = EngineSettings(
        seed=cfg.run.seed,
        kv_cache_gb=m.engine_kv_cache_gb,
        gpu_memory_utilization=m.engine_gpu_memory,
    )
    return VLLMGenerator(policy, settings)


def close_both(generator: Generator, policy: Policy) -> None:
    """Stop a separate generator (its engine processes), then release the policy."""
    if generator is not policy:
        close = getattr(generator, "close", None)
        if close is not None:
            close()
    policy.close()


class _Owned:
    """A generator that owns the policy under it: closing it closes both."""

    def __init__(self, generator: Generator, policy: Policy) -> None:
        self.generator, self.policy = generator, policy
        self.name = getattr(generator, "name", "policy")
        self.generate = generator.generate
        self.format_prompt = generator.format_prompt
        self.sync_from = generator.sync_from

    def close(self) -> None:
        close_both(self.generator, self.policy)


def generator_for_model(name: str, device: str = "cpu", engine: str = "auto") -> Any:
    """What samples model `name` for evaluation: the default settings, `engine` picking the
    sampler (`model.generator`); `close()` releases the engine and the policy."""
    import sys

    cfg = with_model(TrainConfig(), name=name, device=device, generator=engine)
    policy = build_policy(cfg)
    try:
        generator = build_generator(
            cfg, policy, say=lambda line: print(f"azr: {line}", file=sys.stderr)
        )
    except BaseException:
        policy.close()
        raise
    return _Owned(generator, policy)
