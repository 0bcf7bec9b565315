"""Exact save/restore of a policy's `TrainState` (weights, optimiser, every RNG stream): the
policy hands its parts over (`HFPolicy.train_state`), nothing here reaches into it.

Layout of a checkpoint directory:
  policy.json     format, model name, LoRA flag, config, step count (written last: marks done)
  model/          full weights + tokenizer in Hugging Face format (loadable by `load_model`)
  adapter/        instead of model/ when training LoRA adapters (base comes from model name)
  optimizer.pt    AdamW state (tensors only; loaded with weights_only=True)
  rng.pt          torch CPU/CUDA states and the policy's sampling generator
  rng.json        Python `random` and NumPy global states
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from azr.errors import UserError
from azr.policy.models import CHECKPOINT_META

FORMAT = 1


@dataclass
class TrainState:
    """What a checkpoint holds, handed over by the policy (`HFPolicy.train_state`)."""

    model: Any  # a transformers model, or a peft model when `lora`
    tokenizer: Any
    optimizer: torch.optim.Optimizer
    sampler: torch.Generator  # the policy's own sampling RNG
    lora: bool
    meta: dict[str, Any]  # model name, step count, config: written to policy.json


def _rng_json() -> dict[str, Any]:
    """Python and NumPy global RNG states as JSON-able values."""
    py = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()  # type: ignore[misc]
    return {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [name, [int(k) for k in keys], int(pos), int(has_gauss), float(cached)],
    }


def _set_rng_json(state: dict[str, Any]) -> None:
    """Inverse of `_rng_json`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))


def save_state(state: TrainState, directory: Path) -> None:
    """Write `state` to `directory` (see the module docstring for the layout)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CHECKPOINT_META).unlink(missing_ok=True)
    if state.lora:
        state.model.save_pretrained(directory / "adapter")
    else:
        state.model.save_pretrained(directory / "model")
        state.tokenizer.save_pretrained(directory / "model")
    torch.save(state.optimizer.state_dict(), directory / "optimizer.pt")
    rng: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "generator": state.sampler.get_state(),
    }
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    torch.save(rng, directory / "rng.pt")
    (directory / "rng.json").write_text(json.dumps(_rng_json()))
    _ordinary_modes(directory)
    meta = {"format": FORMAT, "lora": state.lora, **state.meta}
    (directory / CHECKPOINT_META).write_text(json.dumps(meta, indent=1))


def _ordinary_modes(directory: Path) -> None:
    """Give every file the mode a new file gets here (0644 under the usual umask): peft writes
    its adapter through a private temporary file, which keeps 0600."""
    umask = os.umask(0)
    os.umask(umask)
    for path in directory.rglob("*"):
        if path.is_file() and not path.is_symlink():
            path.chmod(0o666 & ~umask)


def _read_safetensors_dir(path: Path) -> dict[str, torch.Tensor]:
    """All tensors of the (possibly sharded) safetensors files in `path`."""
    from safetensors.torch import load_file

    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise UserError(f"checkpoint {path} has no .safetensors weights")
    state: dict[str, torch.Tensor] = {}
    for f in files:
        state.update(load_file(str(f)))
    return state


def load_state(state: TrainState, directory: Path) -> dict[str, Any]:
    """Restore weights, optimiser and RNG states that `save_state` wrote into `state`'s
    objects; returns the checkpoint's metadata (step count, config). A checkpoint without its
    optimiser state (a run keeps it in the newest only) leaves the optimiser fresh."""
    meta_path = directory / CHECKPOINT_META
    if not meta_path.is_file():
        raise UserError(
            f"{directory} is not a complete azr policy checkpoint (no {CHECKPOINT_META})"
        )
    meta = json.loads(meta_path.read_text())
    if bool(meta.get("lora")) != state.lora:
        raise UserError(f"checkpoint {directory} LoRA={meta.get('lora')} but the policy differs")
    if state.lora:
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(state.model, _read_safetensors_dir(directory / "adapter"))
    else:
        weights = _read_safetensors_dir(directory / "model")
        dtype = next(state.model.parameters()).dtype
        weights = {k: v.to(dtype) for k, v in weights.items()}
        missing, unexpected = state.model.load_state_dict(weights, strict=False)
        # save_pretrained drops weights tied to others (lm_head = embeddings); nothing else.
        tied = {k for k in missing if k.endswith("lm_head.weight")}
        if set(missing) - tied or unexpected:
            raise UserError(
                f"checkpoint {directory} does not fit this model: missing "
                f"{sorted(set(missing) - tied)[:3]}, unexpected {sorted(unexpected)[:3]}"
            )
    if (directory / "optimizer.pt").is_file():  # older checkpoints keep weights only
        opt_state = torch.load(directory / "optimizer.pt", weights_only=True, map_location="cpu")
        state.optimizer.load_state_dict(opt_state)
    rng = torch.load(directory / "rng.pt", weights_only=True, map_location="cpu")
    torch.set_rng_state(rng["torch"])
    state.sampler.set_state(rng["generator"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    _set_rng_json(json.loads((directory / "rng.json").read_text()))
    return dict(meta)
