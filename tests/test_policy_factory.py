"""The factory is the one place TrainConfig meets the embedded backend: every knob reachable."""

from __future__ import annotations

import dataclasses

import pytest

from azr.config import resolve_config
from azr.policy import factory
from azr.policy.hf import HFPolicyConfig


def test_every_hf_policy_knob_has_a_config_key() -> None:
    fields = {f.name for f in dataclasses.fields(HFPolicyConfig)}
    mapped = set(factory.CONFIG_KEYS) | set(factory.DERIVED)
    assert fields == mapped, f"unwired: {sorted(fields - mapped)}, stale: {sorted(mapped - fields)}"


def test_defaults_match_the_policy_defaults() -> None:
    got = factory.hf_config(resolve_config("test", None, []))
    want = HFPolicyConfig()
    same = ("betas", "clip_low", "clip_high", "clip_c", "lora_dropout", "lora_target_modules")
    for name in (*same, "amp", "max_prompt_tokens"):
        assert getattr(got, name) == getattr(want, name), name


def test_config_keys_reach_the_policy() -> None:
    layers = [
        {
            "optim": {
                "clip_ratio": 0.3,
                "clip_ratio_high": 0.28,
                "clip_ratio_c": 3.0,
                "betas": [0.9, 0.95],
            },
            "model": {"lora_dropout": 0.05, "cuda_autocast": False},
            "sampling": {"max_prompt_tokens": 512},
            "run": {"seed": 9},
        }
    ]
    got = factory.hf_config(resolve_config("test", None, layers))
    assert (got.clip_low, got.clip_high, got.clip_c) == (0.3, 0.28, 3.0)
    assert got.betas == (0.9, 0.95) and got.lora_dropout == 0.05 and got.amp is False
    assert got.max_prompt_tokens == 512 and got.seed == 9


def test_build_policy_makes_the_configured_model() -> None:
    pytest.importorskip("torch")
    cfg = resolve_config("test", None, [{"optim": {"clip_ratio_low": 0.1}}])
    policy = factory.build_policy(cfg)
    assert policy.config.clip_low == 0.1 and policy.config.clip_high == 0.2  # type: ignore[attr-defined]
    other = factory.policy_for_model("tiny-random")
    assert other.model_name == "tiny-random"  # type: ignore[attr-defined]
    assert other.config.lora_rank == 0 and other.config.gen_dtype is None  # type: ignore[attr-defined]
