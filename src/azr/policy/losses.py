"""Per-token loss terms of the update: PPO clipped surrogate, entropy, k3 KL.

Every function returns per-token values; the caller aggregates by token mean over the whole
batch (sum over micro-batches divided by the batch's total completion tokens), as the
reference does with `loss_agg_mode=token-mean`.
"""

from __future__ import annotations

import torch


def clipped_surrogate(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    clip_c: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO clipped policy-gradient loss per token and whether the clipped branch was taken."""
    log_ratio = (logp - old_logp).clamp(-20.0, 20.0)  # keeps exp finite on stale samples
    ratio = log_ratio.exp()
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - clip_low, 1.0 + clip_high)
    loss = torch.maximum(unclipped, clipped)
    was_clipped = clipped > unclipped
    if clip_c is not None:
        # Dual clip: bound the loss of negative-advantage tokens whose ratio exploded.
        bound = -advantages * clip_c
        dual = torch.minimum(loss, bound)
        loss = torch.where(advantages < 0, dual, loss)
    return loss, was_clipped


def token_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `values` over the positions where `mask` is 1 (0 when the mask is empty)."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Schulman's k3 estimator of KL(policy || reference) per token: e^d - d - 1, d = ref - logp."""
    d = (ref_logp - logp).clamp(-10.0, 10.0)
    return d.exp() - d - 1.0


def entropy(logp: torch.Tensor) -> torch.Tensor:
    """Entropy of the distribution at every position, from its log-probabilities."""
    return -(logp.exp() * logp).sum(dim=-1)
