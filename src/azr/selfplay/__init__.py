"""Absolute Zero self-play: seeding, the training step, and durable, resumable runs.

`train(cfg, run_dir, resume=...)` is the entry point; `SelfPlay` holds one step's logic.
"""

from __future__ import annotations

from azr.selfplay.loop import SelfPlay
from azr.selfplay.rollout import Purpose, Rollout, StepResult
from azr.selfplay.trainer import RunSummary, prepare_resume, train

__all__ = [
    "Purpose",
    "Rollout",
    "RunSummary",
    "SelfPlay",
    "StepResult",
    "prepare_resume",
    "train",
]
