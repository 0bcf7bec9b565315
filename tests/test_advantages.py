"""Advantage estimators against hand-computed values (docs/algorithm.md, section 6)."""

from __future__ import annotations

import math

import pytest

from azr.advantages import compute_advantages


def test_trr_per_sample_statistics_per_group() -> None:
    # Group a: rewards 1,0,0,1 -> mean 0.5, unbiased std sqrt(1/3); group b has one response.
    adv = compute_advantages([1, 0, 0, 1, 0.5], ["a", "a", "a", "a", "b"], eps=0.0)
    z = 0.5 / math.sqrt(1 / 3)
    assert adv == pytest.approx([z, -z, -z, z, 0.0])


def test_trr_groups_are_independent_and_keys_can_be_tuples() -> None:
    groups = [("ded", "solve"), ("ded", "propose"), ("ded", "solve"), ("ded", "propose")]
    adv = compute_advantages([1.0, -1.0, 0.0, 0.5], groups, eps=0.0)
    # solve: 1, 0 -> mean .5, std sqrt(.5); propose: -1, .5 -> mean -.25, std sqrt(1.125)
    s1, s2 = math.sqrt(0.5), math.sqrt(1.125)
    assert adv == pytest.approx([0.5 / s1, -0.75 / s2, -0.5 / s1, 0.75 / s2])


def test_zero_variance_and_singletons_give_zero() -> None:
    assert compute_advantages([1, 1, 1], ["g"] * 3) == [0.0, 0.0, 0.0]
    assert compute_advantages([0.3], ["g"]) == [0.0]
    assert compute_advantages([], []) == []


def test_eps_is_added_to_std() -> None:
    adv = compute_advantages([0.0, 2.0], ["g", "g"], eps=0.5)
    # mean 1, unbiased std sqrt(2)
    assert adv == pytest.approx([-1 / (math.sqrt(2) + 0.5), 1 / (math.sqrt(2) + 0.5)])


def test_token_whiten_weights_by_length() -> None:
    # mean over 4 tokens = .75; var = (3*.25^2 + .75^2) / 3 = .25 -> std .5
    adv = compute_advantages([1.0, 0.0], ["g", "g"], method="token_whiten", lengths=[3, 1], eps=0)
    assert adv == pytest.approx([0.5, -1.5])
    # Equal lengths still differ from per-sample stats only by the ddof over tokens.
    same = compute_advantages([1.0, 0.0], ["g", "g"], method="token_whiten", lengths=[1, 1], eps=0)
    assert same == pytest.approx(compute_advantages([1.0, 0.0], ["g", "g"], eps=0))


def test_token_whiten_degenerate_cases() -> None:
    assert compute_advantages([1.0], ["g"], method="token_whiten", lengths=[50]) == [0.0]
    assert compute_advantages([1.0, 1.0], ["g", "g"], method="token_whiten", lengths=[2, 5]) == [
        0.0,
        0.0,
    ]
    with pytest.raises(ValueError, match="length"):
        compute_advantages([1.0, 0.0], ["g", "g"], method="token_whiten")


def test_grpo_per_prompt_baseline() -> None:
    adv = compute_advantages(
        [1.0, 0.0, 0.0, 0.5, 0.5],
        ["x"] * 5,
        method="grpo",
        prompt_ids=["p", "p", "p", "q", "q"],
        eps=0.0,
    )
    # p: mean 1/3, unbiased std sqrt(1/3); q: zero variance
    m, s = 1 / 3, math.sqrt(1 / 3)
    assert adv == pytest.approx([(1 - m) / s, -m / s, -m / s, 0.0, 0.0])
    with pytest.raises(ValueError, match="prompt id"):
        compute_advantages([1.0], ["x"], method="grpo")


def test_grpo_singletons_fall_back_to_their_group() -> None:
    # Two single responses of group a (proposals), one of group b, and a 2-sample prompt.
    adv = compute_advantages(
        [1.0, -1.0, 0.5, 1.0, -0.5],
        ["a", "a", "b", "s", "s"],
        method="grpo",
        prompt_ids=["p1", "p2", "p3", "q", "q"],
        eps=0.0,
    )
    s2 = math.sqrt(2.0)  # unbiased std of {1, -1}; of {1, -0.5}: 0.75 * sqrt(2)
    assert adv == pytest.approx([1 / s2, -1 / s2, 0.0, 0.75 / (0.75 * s2), -0.75 / (0.75 * s2)])


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown advantage method"):
        compute_advantages([1.0], ["x"], method="ppo")
    with pytest.raises(ValueError, match="group keys"):
        compute_advantages([1.0, 2.0], ["x"])
    with pytest.raises(ValueError, match="finite"):
        compute_advantages([float("nan")], ["x"])


def test_a_registered_estimator_is_usable_by_name_and_in_the_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import numpy as np

    from azr import advantages
    from azr.config import resolve_config

    monkeypatch.setattr(advantages, "_REGISTRY", dict(advantages._REGISTRY))

    @advantages.register_adv_est("centred")
    def centred(x: advantages.AdvantageInputs) -> np.ndarray:
        return x.rewards - x.rewards.mean()

    assert compute_advantages([1.0, 0.0, 2.0], method="centred") == [0.0, -1.0, 1.0]
    assert not advantages.get_adv_estimator("centred").uses_prompt_groups
    assert advantages.get_adv_estimator("grpo").uses_prompt_groups
    cfg = resolve_config("test", None, [{"selfplay": {"advantage": "centred"}}])
    assert cfg.selfplay.advantage == "centred"
    with pytest.raises(ValueError, match="already registered"):
        advantages.register_adv_est("trr++")(centred)
