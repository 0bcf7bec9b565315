"""The veRL-side configuration: Hydra composition of veRL's `ppo_trainer` with azr's recipe,
presets, checks, and the mapping to azr's own `TrainConfig`.

`compose(preset, overrides)` returns the full DictConfig (veRL keys plus `azr.*`), with the
agent loop file filled in. `azr_train_config(cfg)` derives azr's TrainConfig from it: azr's
sections come from `azr.*`; model, learning rate, temperature/top-p and the advantage method
from the veRL keys, so each has one source.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from azr.advantages import estimator_names
from azr.config import TrainConfig, build_config
from azr.errors import UserError

CONFIG_DIR = Path(__file__).with_name("config")
CONFIG_NAME = "azr_trainer"


def preset_names() -> list[str]:
    """The shipped presets (config/preset/*.yaml)."""
    return sorted(p.stem for p in (CONFIG_DIR / "preset").glob("*.yaml"))


def compose(preset: str | None = None, overrides: list[str] | None = None) -> DictConfig:
    """veRL's ppo_trainer + azr_trainer.yaml + a preset + Hydra overrides (`a.b=c`)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    overrides = list(overrides or [])
    if preset is not None:
        if preset not in preset_names():
            raise UserError(
                f"unknown veRL preset {preset!r} (allowed: {', '.join(preset_names())})"
            )
        overrides = [f"preset={preset}", *overrides]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        cfg = hydra_compose(config_name=CONFIG_NAME, overrides=overrides)
    return finalize(cfg)


def finalize(cfg: DictConfig) -> DictConfig:
    """Fill in what a YAML file cannot know (the agent loop file's absolute path)."""
    from azr.integrations.verl.rollout_config import AGENT_LOOP_CONFIG

    with open_dict(cfg):
        agent = cfg.actor_rollout_ref.rollout.agent
        if not agent.get("agent_loop_config_path"):
            agent.agent_loop_config_path = AGENT_LOOP_CONFIG
    return cfg


# veRL estimator name -> azr estimator: every azr estimator is registered with veRL as azr_<name>.
ESTIMATOR_TO_METHOD = {f"azr_{m}": m for m in estimator_names()}


def check(cfg: DictConfig) -> None:
    """azr's own requirements on the veRL keys (one UserError line each)."""
    rollout = cfg.actor_rollout_ref.rollout
    if cfg.algorithm.adv_estimator not in ESTIMATOR_TO_METHOD:
        raise UserError(
            f"algorithm.adv_estimator must be one of {', '.join(ESTIMATOR_TO_METHOD)} "
            f"(got {cfg.algorithm.adv_estimator!r})"
        )
    if int(rollout.n) != 1:
        raise UserError("actor_rollout_ref.rollout.n must be 1 (azr samples its n attempts itself)")
    sampling = cfg.azr.sampling
    longest = max(int(sampling.proposer_max_new_tokens), int(sampling.solver_max_new_tokens))
    if int(rollout.response_length) < longest:
        raise UserError(
            f"actor_rollout_ref.rollout.response_length ({rollout.response_length}) is below "
            f"azr.sampling's longest generation ({longest})"
        )
    if not cfg.azr.get("run_dir"):
        raise UserError("azr.run_dir is required (azr's run directory)")


def azr_train_config(cfg: DictConfig) -> TrainConfig:
    """azr's TrainConfig for a composed veRL config."""
    section: dict[str, Any] = OmegaConf.to_container(cfg.azr, resolve=True)  # type: ignore[assignment]
    section.pop("run_dir", None)
    section.pop("resume", None)
    actor, rollout = cfg.actor_rollout_ref.actor, cfg.actor_rollout_ref.rollout
    derived = {
        "model": {"name": str(cfg.actor_rollout_ref.model.path), "device": "auto"},
        "optim": {
            "lr": float(actor.optim.lr),
            "grad_clip": float(actor.grad_clip),
            "clip_ratio": float(actor.clip_ratio),
            "entropy_coef": float(actor.entropy_coeff),
        },
        "sampling": {"temperature": float(rollout.temperature), "top_p": float(rollout.top_p)},
        "selfplay": {
            "advantage": ESTIMATOR_TO_METHOD.get(str(cfg.algorithm.adv_estimator), "trr++")
        },
    }
    return build_config([section, derived])


def validate_with_verl(cfg: DictConfig) -> None:
    """veRL's own `validate_config` on the composed config."""
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    validate_config(
        config=cfg,
        use_reference_policy=need_reference_policy(cfg),
        use_critic=need_critic(cfg),
    )
