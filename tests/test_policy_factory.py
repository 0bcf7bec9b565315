"""The factory is the one place TrainConfig meets the embedded backend: every knob reachable."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from azr.config import TrainConfig, resolve_config  # noqa: E402
from azr.policy import bench, factory, hf  # noqa: E402
from azr.policy.hf import HFPolicyConfig  # noqa: E402


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


def _capture_create_policy(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Replace `create_policy` by a recorder: what the factory would build, without a model."""
    seen: dict[str, Any] = {}

    def record(name: str, device: str = "cpu", config: Any = None, dtype: Any = None) -> Any:
        seen.update(name=name, device=device, config=config, dtype=dtype)
        return object()

    monkeypatch.setattr(hf, "create_policy", record)
    return seen


def _differences(got: HFPolicyConfig, want: HFPolicyConfig) -> set[str]:
    a, b = dataclasses.asdict(got), dataclasses.asdict(want)
    return {k for k in a if a[k] != b[k]}


def test_the_default_config_is_the_policy_defaults() -> None:
    # Evaluation (`policy_for_model`) builds from TrainConfig(): it samples exactly as
    # `create_policy(name)` did; only the update's micro-batch differs (4 vs 8).
    assert _differences(factory.hf_config(TrainConfig()), HFPolicyConfig()) == {"micro_batch_size"}


def test_model_overrides_set_the_policy_knobs_too(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _capture_create_policy(monkeypatch)
    cfg = resolve_config(
        "test", None, [{"model": {"lora_rank": 16, "generation_dtype": "bfloat16"}}]
    )
    factory.build_policy(cfg, name="other", lora_rank=0, generation_dtype=None)
    assert seen["name"] == "other" and seen["device"] == "cpu"
    assert seen["config"].lora_rank == 0 and seen["config"].gen_dtype is None
    assert cfg.model.lora_rank == 16  # the caller's config is left alone
    with pytest.raises(TypeError, match="not model settings: lr"):
        factory.build_policy(cfg, lr=1.0)


def test_the_step_bench_builds_through_the_factory(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _capture_create_policy(monkeypatch)
    with pytest.raises(TypeError, match="embedded policy"):
        bench._bench_policy("tiny-random", "cpu", None, 3, 8, True, 4)
    got = seen["config"]
    assert (seen["name"], seen["dtype"]) == ("tiny-random", None)
    assert (got.micro_batch_size, got.gen_batch_size) == (3, 8)
    assert got.gradient_checkpointing and got.lora_rank == 4
    # Everything else as the bench had it before (HFPolicyConfig's defaults).
    assert _differences(got, HFPolicyConfig()) == {
        "micro_batch_size",
        "gen_batch_size",
        "gradient_checkpointing",
        "lora_rank",
    }
