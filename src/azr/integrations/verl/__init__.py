"""Absolute Zero on veRL (Ray + FSDP + vLLM): the cluster backend of azr.

Everything Absolute Zero specific is azr's own core: prompts, validation and grading
(`azr.tasks`), the sandbox (`azr.sandbox`, one Ray actor per node), rewards (`azr.rewards`),
TRR++ (`azr.advantages`, registered as veRL advantage estimators) and the buffers
(`azr.buffers`). veRL provides the workers: vLLM rollouts, FSDP2 actor updates, checkpoints.

Modules: `advantage` (estimators), `reward` (solver reward function and reward manager),
`executor` (sandbox actors), `rollout` (the `azr_text` agent loop), `settings` (Hydra
composition, presets), `trainer` (the Absolute Zero trainer), `__main__` (launcher).
Needs the optional extra: `pip install "azr[verl]" torch==2.13.0` (see docs/verl.md).
"""

from __future__ import annotations

import importlib.util


def verl_available() -> bool:
    """True when veRL can be imported."""
    return importlib.util.find_spec("verl") is not None
