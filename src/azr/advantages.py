"""Advantage estimators (SPEC.md section 6); pure Python/NumPy, no torch.

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

Standard deviations are unbiased (ddof = 1, as ``torch.std`` in veRL); a group of one response,
or a group whose rewards (or token-weighted variance) are all equal, gets advantage 0.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence

import numpy as np

METHODS = ("trr++", "token_whiten", "grpo")
_TINY = 1e-12  # below this a spread counts as zero: every member gets advantage 0


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


def compute_advantages(
    rewards: Sequence[float],
    groups: Sequence[Hashable] | None = None,
    *,
    method: str = "trr++",
    lengths: Sequence[int] | None = None,
    prompt_ids: Sequence[Hashable] | None = None,
    eps: float = 1e-6,
) -> list[float]:
    """One advantage per response; see the module docstring for the three methods."""
    r = np.asarray(rewards, dtype=np.float64)
    n = len(r)
    if groups is None:
        groups = [0] * n
    if len(groups) != n:
        raise ValueError(f"{n} rewards but {len(groups)} group keys")
    if not np.all(np.isfinite(r)):
        raise ValueError("rewards must be finite")
    adv = np.zeros(n)
    if method == "trr++":
        for idx in _group_indices(groups).values():
            adv[idx] = _normalise(r[idx], np.ones(len(idx)), eps)
    elif method == "token_whiten":
        if lengths is None or len(lengths) != n:
            raise ValueError("method 'token_whiten' needs one length per response")
        w = np.asarray(lengths, dtype=np.float64)
        if np.any(w < 0):
            raise ValueError("lengths must be non-negative")
        for idx in _group_indices(groups).values():
            adv[idx] = _normalise(r[idx], w[idx], eps)
    elif method == "grpo":
        if prompt_ids is None or len(prompt_ids) != n:
            raise ValueError("method 'grpo' needs one prompt id per response")
        singles: list[int] = []
        for idx in _group_indices(prompt_ids).values():
            if len(idx) == 1:
                singles.extend(idx)
            else:
                adv[idx] = _normalise(r[idx], np.ones(len(idx)), eps)
        for idx in _group_indices([groups[i] for i in singles]).values():
            members = [singles[i] for i in idx]
            adv[members] = _normalise(r[members], np.ones(len(members)), eps)
    else:
        raise ValueError(f"unknown advantage method {method!r}; use one of {', '.join(METHODS)}")
    return [float(a) for a in adv]
