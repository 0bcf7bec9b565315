"""Test-only shims that let veRL 0.9.1's trainer run on a CPU (never used outside tests).

Loaded in every process that imports veRL through `VERL_USE_EXTERNAL_MODULES=verl_shims`
(with `tests/` on PYTHONPATH): a CPU platform on gloo, and an HF-`generate` rollout (server
actor, replica, hybrid adapter) registered as rollout `hf`.
"""

from verl_shims import cpu_platform, hf_rollout  # noqa: F401
