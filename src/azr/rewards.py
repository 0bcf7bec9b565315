"""Rewards of Absolute Zero (docs/algorithm.md, section 5) as small pure functions.

The final reward of a response (paper Eq. 6, which the reference code also implements) is:

- ``-1`` for a **format error** (the ``<think>``/``<answer>`` structure or a required block is
  missing);
- ``-0.5`` for a response that is **well formatted but wrong**: a wrong answer, or a proposal
  that fails validation (including a copy of the prompt's worked example);
- otherwise (a *passable* response) its **role reward**: learnability ``1 - r`` for a valid
  proposal (0 when its task is always or never solved), 1 for a correct answer.

``scheme="legacy"`` keeps azr's earlier scheme for ablations: -1 for a format error *or* an
invalid proposal, and a role reward of 0 (a wrong answer, or a proposal with learnability 0)
becomes ``zero_reward_penalty`` (0 by default).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

RewardScheme = Literal["paper", "legacy"]
SCHEMES: tuple[RewardScheme, ...] = ("paper", "legacy")
FORMAT_PENALTY = -1.0  # a format error (both schemes)
WRONG_PENALTY = -0.5  # well formatted but wrong or invalid (paper Eq. 6)


def solve_rate(outcomes: Sequence[bool | float]) -> float:
    """Mean of solver outcomes (1/True = correct); 0.0 for no attempts."""
    if len(outcomes) == 0:
        return 0.0
    return sum(float(o) for o in outcomes) / len(outcomes)


def learnability_reward(
    rate_or_correct: float | int | Sequence[bool | float], n: int | None = None
) -> float:
    """Proposer reward 1 - r for a solve rate 0 < r < 1, else 0.

    Call as `learnability_reward(0.25)`, `learnability_reward(n_correct, n)` or with the list of
    outcomes `learnability_reward([True, False, ...])`.
    """
    if n is not None:
        if isinstance(rate_or_correct, Sequence):
            raise TypeError("pass either outcomes or (n_correct, n), not both")
        if n < 0 or not 0 <= rate_or_correct <= n:
            raise ValueError(f"need 0 <= n_correct <= n, got {rate_or_correct}/{n}")
        if n == 0:
            return 0.0
        # Integer comparisons decide the edges exactly (no float round-off at 0/n and n/n).
        if rate_or_correct == 0 or rate_or_correct == n:
            return 0.0
        return 1.0 - rate_or_correct / n
    if isinstance(rate_or_correct, Sequence):
        rate = solve_rate(rate_or_correct)
    else:
        rate = float(rate_or_correct)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"a solve rate lies in [0, 1], got {rate}")
    if rate <= 0.0 or rate >= 1.0:
        return 0.0
    return 1.0 - rate


def solver_reward(correct: bool) -> float:
    """Solver role reward: 1 when correct, else 0."""
    return 1.0 if correct else 0.0


def final_reward(
    format_ok: bool,
    passable: bool,
    role_reward: float,
    *,
    scheme: RewardScheme = "paper",
    zero_reward_penalty: float = 0.0,
) -> float:
    """Reward of one response (see the module docstring).

    `passable`: a proposal that passed validation, or a correct answer. `role_reward`: the
    proposal's learnability reward or the solver's `solver_reward`. `zero_reward_penalty` is
    used by the legacy scheme only.
    """
    if not format_ok:
        return FORMAT_PENALTY
    if scheme == "paper":
        return float(role_reward) if passable else WRONG_PENALTY
    if scheme == "legacy":
        # A well-formed wrong answer (or a role reward of 0) earns the zero-reward penalty.
        return float(role_reward) if passable and role_reward != 0.0 else zero_reward_penalty
    raise ValueError(f"unknown reward scheme {scheme!r}; use one of {', '.join(SCHEMES)}")


def proposer_reward(
    format_ok: bool,
    valid: bool,
    learnability: float,
    *,
    scheme: RewardScheme = "paper",
    zero_reward_penalty: float = 0.0,
) -> float:
    """Final reward of a proposal: its learnability when valid (see `final_reward`)."""
    if scheme == "legacy" and format_ok and not valid:
        return FORMAT_PENALTY  # legacy: an invalid proposal counts as ill formed
    return final_reward(
        format_ok,
        valid,
        learnability if valid else 0.0,
        scheme=scheme,
        zero_reward_penalty=zero_reward_penalty,
    )


def answer_reward(
    format_ok: bool,
    correct: bool,
    *,
    scheme: RewardScheme = "paper",
    zero_reward_penalty: float = 0.0,
) -> float:
    """Final reward of a solver answer: 1 when correct (see `final_reward`)."""
    return final_reward(
        format_ok,
        correct,
        solver_reward(correct),
        scheme=scheme,
        zero_reward_penalty=zero_reward_penalty,
    )
