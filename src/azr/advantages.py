"""Advantage estimators (docs/algorithm.md, section 6); pure Python/NumPy, no torch.

Every estimator returns one scalar advantage per response; the update broadcasts it over the
response's tokens.

- ``"trr++"`` (default, the paper's formula): Task-Relative REINFORCE++. Within each group
  (a (task type, role) pair), A = (r - mean_g) / (std_g + eps) with per-sample statistics.
- ``"token_whiten"`` (the reference code's behaviour): the same per group, but mean and
  variance are taken over tokens, i.e. each response weighs as many times as it has tokens, so
  long responses pull the baseline towards themselves. Needs ``lengths``.
- ``"grpo"``: a per-prompt baseline, A = (r - mean_p) / (std_p + eps) over the responses to
  the same prompt (``prompt_ids``); a response that is the only one of its prompt (proposals,
  single solver answers) falls back to TRR++ among the other single responses of its group.

Estimators live in a registry in the shape of veRL's ``register_adv_est``: a new one is a
function of ``AdvantageInputs`` decorated with ``@register_adv_est("name")``, and
``selfplay.advantage`` accepts every registered name.

Standard deviations are unbiased (ddof = 1, as ``torch.std`` in veRL); a group of one response,
or a group whose rewards (or token-weighted variance) are all equal, gets advantage 0.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np

_TINY = 1e-12  # below this a spread counts as zero: every member gets advantage 0


@dataclass(frozen=True)
class AdvantageInputs:
    """What every estimator sees: one reward per response, its (task type x role) group, its
    length in tokens and its prompt group (responses to the same prompt share one)."""

    rewards: np.ndarray
    groups: Sequence[Hashable]
    lengths: Sequence[int] | None
    prompt_ids: Sequence[Hashable] | None
    eps: float


Estimator = Callable[[AdvantageInputs], np.ndarray]


@dataclass(frozen=True)
class RegisteredEstimator:
    """An estimator and whether it uses prompt groups (then the loop also trains on the n
    learnability attempts of each proposal, the only responses that share a prompt)."""

    name: str
    fn: Estimator
    uses_prompt_groups: bool


_REGISTRY: dict[str, RegisteredEstimator] = {}


def register_adv_est(
    name: str, *, uses_prompt_groups: bool = False
) -> Callable[[Estimator], Estimator]:
    """Decorator: register `fn(inputs) -> advantages` under `name` (veRL's registry shape)."""

    def add(fn: Estimator) -> Estimator:
        if name in _REGISTRY:
            raise ValueError(f"advantage estimator {name!r} is already registered")
        _REGISTRY[name] = RegisteredEstimator(name, fn, uses_prompt_groups)
        return fn

    return add


def get_adv_estimator(name: str) -> RegisteredEstimator:
    """The estimator registered as `name`; ValueError naming the registered ones otherwise."""
    found = _REGISTRY.get(name)
    if found is None:
        raise ValueError(f"unknown advantage method {name!r}; use one of {', '.join(_REGISTRY)}")
    return found


def estimator_names() -> tuple[str, ...]:
    """Registered estimators, in registration order."""
    return tuple(_REGISTRY)


def _group_indices(keys: Sequence[Hashable]) -> dict[Hashable, list[int]]:
    """Positions of each distinct key, in first-seen order."""
    out: dict[Hashable, list[int]] = defaultdict(list)
    for i, k in enumerate(keys):
        out[k].append(i)
    return out


def _normalise(r: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    """(r - weighted mean) / (unbiased weighted std + eps); zeros for degenerate groups."""
    total = float(w.sum())
    if len(r) < 2 or total <= 1.0:
        return np.zeros_like(r)
    mean = float((w * r).sum() / total)
    var = float((w * (r - mean) ** 2).sum() / (total - 1.0))
    std = var**0.5
    if std < _TINY:
        return np.zeros_like(r)
    return (r - mean) / (std + eps)


@register_adv_est("trr++")
def _trr_plus_plus(x: AdvantageInputs) -> np.ndarray:
    """Per (task type x role) group, per-sample statistics."""
    adv = np.zeros(len(x.rewards))
    for idx in _group_indices(x.groups).values():
        adv[idx] = _normalise(x.rewards[idx], np.ones(len(idx)), x.eps)
    return adv


@register_adv_est("token_whiten")
def _token_whiten(x: AdvantageInputs) -> np.ndarray:
    """Per group, statistics over tokens (each response weighs its length)."""
    n = len(x.rewards)
    if x.lengths is None or len(x.lengths) != n:
        raise ValueError("method 'token_whiten' needs one length per response")
    w = np.asarray(x.lengths, dtype=np.float64)
    if np.any(w < 0):
        raise ValueError("lengths must be non-negative")
    adv = np.zeros(n)
    for idx in _group_indices(x.groups).values():
        adv[idx] = _normalise(x.rewards[idx], w[idx], x.eps)
    return adv


@register_adv_est("grpo", uses_prompt_groups=True)
def _grpo(x: AdvantageInputs) -> np.ndarray:
    """Per prompt group; responses alone with their prompt fall back to TRR++ among the other
    single responses of their (task type x role) group."""
    n = len(x.rewards)
    if x.prompt_ids is None or len(x.prompt_ids) != n:
        raise ValueError("method 'grpo' needs one prompt id per response")
    adv = np.zeros(n)
    singles: list[int] = []
    for idx in _group_indices(x.prompt_ids).values():
        if len(idx) == 1:
            singles.extend(idx)
        else:
            adv[idx] = _normalise(x.rewards[idx], np.ones(len(idx)), x.eps)
    for idx in _group_indices([x.groups[i] for i in singles]).values():
        members = [singles[i] for i in idx]
        adv[members] = _normalise(x.rewards[members], np.ones(len(members)), x.eps)
    return adv


METHODS = estimator_names()


def compute_advantages(
    rewards: Sequence[float],
    groups: Sequence[Hashable] | None = None,
    *,
    method: str = "trr++",
    lengths: Sequence[int] | None = None,
    prompt_ids: Sequence[Hashable] | None = None,
    eps: float = 1e-6,
) -> list[float]:
    """One advantage per response from the estimator registered as `method`."""
    estimator = get_adv_estimator(method)
    r = np.asarray(rewards, dtype=np.float64)
    n = len(r)
    if groups is None:
        groups = [0] * n
    if len(groups) != n:
        raise ValueError(f"{n} rewards but {len(groups)} group keys")
    if not np.all(np.isfinite(r)):
        raise ValueError("rewards must be finite")
    adv = estimator.fn(AdvantageInputs(r, groups, lengths, prompt_ids, eps))
    return [float(a) for a in adv]
