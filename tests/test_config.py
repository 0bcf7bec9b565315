"""Config: presets, files, overrides and one-line errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from azr.config import TrainConfig, parse_assignment, preset_names, resolve_config
from azr.errors import UserError


def test_presets_ship_and_load() -> None:
    names = preset_names()
    assert {"cpu-demo", "cpu-qwen", "test", "gpu-0.5b", "gpu-3b", "gpu-7b"} <= set(names)
    for name in names:
        cfg = resolve_config(name)
        assert isinstance(cfg, TrainConfig)


def test_default_is_cpu_qwen_with_the_paper_reward() -> None:
    cfg = resolve_config()
    assert cfg.model.name == "qwen2.5-coder-0.5b"
    assert cfg.model.device == "cpu"
    assert cfg.selfplay.reward == "paper"
    # Paper defaults for the switches.
    assert cfg.selfplay.solve_tasks_from == "same-step"
    assert cfg.selfplay.zero_reward_penalty == 0.0
    assert cfg.selfplay.advantage == "trr++"


def test_gpu_presets_carry_reference_hyperparameters() -> None:
    cfg = resolve_config("gpu-7b")
    sp = cfg.selfplay
    assert (sp.batch_size, sp.references, sp.learnability_samples) == (64, 6, 8)
    assert (sp.induction_inputs, sp.induction_visible, sp.seed_buffer_size) == (10, 5, 256)
    assert sp.buffer_cap == 16384 and cfg.optim.lr == 1e-6 and cfg.run.steps == 500


def test_layers_override_in_order(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(yaml.safe_dump({"preset": "test", "selfplay": {"batch_size": 3}}))
    cfg = resolve_config(None, f, [parse_assignment("selfplay.batch_size=5")])
    assert cfg.model.name == "tiny-random"  # from the file's preset
    assert cfg.selfplay.batch_size == 5  # --set wins over the file


def test_resolved_config_round_trips_through_yaml() -> None:
    cfg = resolve_config("test")
    again = TrainConfig.model_validate(yaml.safe_load(cfg.to_yaml()))
    assert again == cfg


@pytest.mark.parametrize(
    ("layer", "expected"),
    [
        ({"selfplay": {"batch_sise": 3}}, "unknown key 'selfplay.batch_sise' (allowed: batch_size"),
        ({"bogus": 1}, "unknown key 'bogus' (allowed: model, optim"),
        ({"selfplay": {"solve_tasks_from": "now"}}, "selfplay.solve_tasks_from: must be"),
        (
            {"selfplay": {"advantage": "ppo"}},
            "selfplay.advantage: unknown advantage method 'ppo'; use one of trr++, token_whiten, grpo",
        ),
        ({"selfplay": {"batch_size": 0}}, "selfplay.batch_size: "),
        ({"selfplay": {"zero_reward_penalty": 0.5}}, "selfplay.zero_reward_penalty"),
        ({"run": {"steps": "many"}}, "run.steps: "),
        ({"model": {"device": "gpu"}}, "model.device: must be one of: cpu, cuda, cuda:N or auto"),
        ({"selfplay": {"induction_inputs": 4, "induction_visible": 4}}, "induction_visible"),
        ({"optim": {"betas": [0.9, 1.0]}}, "optim.betas: each beta must be in [0, 1)"),
        ({"optim": {"clip_ratio_c": 1.0}}, "optim.clip_ratio_c: "),
        ({"optim": {"clip_ratio_low": 0}}, "optim.clip_ratio_low: "),
        ({"model": {"lora_target_modules": []}}, "model.lora_target_modules: name at least one"),
        ({"sampling": {"max_prompt_tokens": 0}}, "sampling.max_prompt_tokens: "),
    ],
)
def test_bad_values_are_one_line_errors(layer: dict, expected: str) -> None:
    with pytest.raises(UserError) as exc:
        resolve_config("test", None, [layer])
    msg = str(exc.value)
    assert expected in msg
    assert "\n" not in msg


def test_bad_files_and_presets(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown preset 'nope' \\(allowed: cpu-demo"):
        resolve_config("nope")
    with pytest.raises(UserError, match="config file not found"):
        resolve_config(None, tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML"):
        resolve_config(None, bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(UserError, match="must be a mapping"):
        resolve_config(None, lst)
    with pytest.raises(UserError, match="KEY=VALUE"):
        parse_assignment("selfplay.batch_size")
