"""Rewards (docs/algorithm.md, section 5): learnability edges, solver reward, Eq. 6 and the
legacy scheme."""

from __future__ import annotations

import pytest

from azr.rewards import (
    answer_reward,
    final_reward,
    learnability_reward,
    proposer_reward,
    solve_rate,
    solver_reward,
)


@pytest.mark.parametrize(
    ("n_correct", "n", "expected"),
    [(0, 8, 0.0), (8, 8, 0.0), (1, 8, 0.875), (4, 8, 0.5), (7, 8, 0.125), (0, 0, 0.0), (1, 1, 0.0)],
)
def test_learnability_from_counts(n_correct: int, n: int, expected: float) -> None:
    assert learnability_reward(n_correct, n) == pytest.approx(expected)


def test_learnability_from_rate_and_outcomes() -> None:
    assert learnability_reward(0.0) == 0.0
    assert learnability_reward(1.0) == 0.0
    assert learnability_reward(0.25) == pytest.approx(0.75)
    assert learnability_reward([True, False, False, False]) == pytest.approx(0.75)
    assert learnability_reward([True] * 8) == 0.0
    assert learnability_reward([False] * 8) == 0.0
    assert learnability_reward([]) == 0.0
    # 1 of 3 is not representable exactly; the reward still follows 1 - r.
    assert learnability_reward([1, 0, 0]) == pytest.approx(2 / 3)


def test_learnability_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        learnability_reward(9, 8)
    with pytest.raises(ValueError):
        learnability_reward(1.5)
    with pytest.raises(TypeError):
        learnability_reward([True], 1)


def test_solve_rate() -> None:
    assert solve_rate([]) == 0.0
    assert solve_rate([True, False]) == 0.5


def test_solver_reward() -> None:
    assert solver_reward(True) == 1.0
    assert solver_reward(False) == 0.0


@pytest.mark.parametrize(
    ("format_ok", "valid", "learnability", "expected"),
    [
        (False, False, 0.0, -1.0),  # format error
        (True, False, 0.0, -0.5),  # well formed, fails validation (or copies the example)
        (True, True, 0.0, 0.0),  # valid, always/never solved: learnability 0 is kept
        (True, True, 0.625, 0.625),  # valid and learnable: 1 - 3/8
    ],
)
def test_proposer_reward_paper_eq6(
    format_ok: bool, valid: bool, learnability: float, expected: float
) -> None:
    assert proposer_reward(format_ok, valid, learnability) == expected


@pytest.mark.parametrize(
    ("format_ok", "correct", "expected"),
    [(False, False, -1.0), (True, False, -0.5), (True, True, 1.0)],
)
def test_answer_reward_paper_eq6(format_ok: bool, correct: bool, expected: float) -> None:
    assert answer_reward(format_ok, correct) == expected


def test_paper_is_the_default_and_format_beats_everything() -> None:
    assert final_reward(False, True, 1.0) == -1.0
    assert final_reward(True, False, 0.0) == -0.5
    assert final_reward(True, True, 0.375) == 0.375
    # A learnability of 0 from n/n or 0/n solved attempts stays 0 for a valid proposal.
    assert proposer_reward(True, True, learnability_reward(8, 8)) == 0.0
    assert proposer_reward(True, True, learnability_reward(0, 8)) == 0.0


def test_legacy_scheme() -> None:
    legacy = {"scheme": "legacy"}
    assert proposer_reward(False, False, 0.0, **legacy) == -1.0
    assert proposer_reward(True, False, 0.0, **legacy) == -1.0  # invalid counts as ill formed
    assert proposer_reward(True, True, 0.0, **legacy) == 0.0
    assert proposer_reward(True, True, 0.0, **legacy, zero_reward_penalty=-0.5) == -0.5
    assert proposer_reward(True, True, 0.25, **legacy, zero_reward_penalty=-0.5) == 0.25
    assert answer_reward(True, False, **legacy) == 0.0
    assert answer_reward(True, False, **legacy, zero_reward_penalty=-0.5) == -0.5
    assert answer_reward(True, True, **legacy) == 1.0
    assert answer_reward(False, False, **legacy) == -1.0


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown reward scheme"):
        final_reward(True, True, 1.0, scheme="nope")  # type: ignore[arg-type]
