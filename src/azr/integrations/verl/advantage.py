"""azr's advantage estimators registered with veRL (docs/algorithm.md, section 6).

veRL looks estimators up by name (`algorithm.adv_estimator`); these wrap
`azr.advantages.compute_advantages` so the cluster backend normalises rewards exactly as the
embedded one does. veRL hands an estimator per-token rewards and a per-row `index`
(`non_tensor_batch["uid"]`); azr's trainer puts the task x role group there
(`deduction/proposer`, ...), so TRR++ normalises within each of the six groups. For
`azr_grpo` the index is the prompt id instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY, register_adv_est

from azr.advantages import compute_advantages
from azr.integrations.verl.settings import ESTIMATOR_TO_METHOD as ESTIMATORS


def _estimate(
    method: str,
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    index: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One scalar advantage per row (azr's formula), broadcast over the row's response tokens."""
    if index is None:
        raise ValueError(f"advantage estimator for {method!r} needs the group of every row (uid)")
    rewards = (token_level_rewards * response_mask).sum(dim=-1).double().cpu().numpy()
    keys = [str(k) for k in np.asarray(index, dtype=object).tolist()]
    lengths = response_mask.sum(dim=-1).long().cpu().tolist()
    adv = compute_advantages(
        rewards.tolist(), keys, method=method, lengths=lengths, prompt_ids=keys
    )
    scalar = torch.tensor(adv, dtype=torch.float32, device=token_level_rewards.device)
    advantages = scalar.unsqueeze(-1) * response_mask.to(torch.float32)
    return advantages, advantages


def _make(method: str):
    def estimator(
        token_level_rewards: torch.Tensor,
        response_mask: torch.Tensor,
        index: Any = None,
        config: Any = None,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return _estimate(method, token_level_rewards, response_mask, index)

    estimator.__name__ = f"azr_{method.replace('+', 'p')}_advantage"
    estimator.__doc__ = f"azr's {method!r} advantages (azr.advantages.compute_advantages)."
    return estimator


def register() -> None:
    """Register the azr estimators with veRL (idempotent)."""
    for name, method in ESTIMATORS.items():
        if name not in ADV_ESTIMATOR_REGISTRY:
            register_adv_est(name)(_make(method))


register()
