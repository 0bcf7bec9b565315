"""`python -m azr.integrations.verl [preset=NAME] [key=value ...]`: Absolute Zero on veRL.

Arguments are Hydra overrides of `config/azr_trainer.yaml` (veRL's ppo_trainer + azr's
section), e.g. `preset=8xgpu azr.run_dir=runs/7b trainer.nnodes=2`. Connects to a running Ray
cluster when `RAY_ADDRESS` is set (or `ray_kwargs.ray_init.address=auto`), else starts a local
one. `--print-config` prints the composed config and exits.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Compose the config from the overrides, check it, and train."""
    from omegaconf import OmegaConf

    from azr.errors import UserError

    args = list(sys.argv[1:] if argv is None else argv)
    show = "--print-config" in args
    args = [a for a in args if a != "--print-config"]
    try:
        from azr.integrations.verl.settings import check, compose, validate_with_verl

        preset = next((a.split("=", 1)[1] for a in args if a.startswith("preset=")), None)
        overrides = [a for a in args if not a.startswith("preset=")]
        cfg = compose(preset, overrides)
        if show:
            print(OmegaConf.to_yaml(cfg))
            return 0
        check(cfg)
        validate_with_verl(cfg)
        from azr.integrations.verl.trainer import run

        out = run(cfg)
    except UserError as exc:
        print(f"azr: error: {exc}", file=sys.stderr)
        return 2
    s = out.summary
    print(
        f"trained steps {s.first_step}..{s.last_step} on veRL in {s.seconds:.0f}s; "
        f"run directory {s.run_dir}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
