"""`azr export`: a trained model taken out of azr, as a Hugging Face directory or a GGUF file.

What a run directory holds (a LoRA adapter or full weights, the optimiser, RNG states) is
readable only by azr. `export_model(name, out)` loads the model that `name` stands for exactly
as `azr eval --model name` does (`azr.policy.models.load_model`: a LoRA adapter is merged into
its base model) and writes

- `hf`: a standard Hugging Face model directory (safetensors, config, generation config,
  tokenizer with its chat template) that plain `transformers` and vLLM load without azr;
- `gguf`: one GGUF file with f16, bf16 or f32 weights and the tokenizer's metadata, for
  llama.cpp and Ollama (Qwen2 and Llama architectures: the two shipped models);

both with a model card (README.md): the base model and its licence, the azr version, the run's
config and steps, and the measured results found in the run directory
(`azr.report.results`). The output is built in a temporary folder beside `out` and renamed
into place, so an interrupted export leaves nothing half-written.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azr.errors import UserError

FORMATS = ("hf", "gguf")
DTYPES = ("float32", "bfloat16", "float16")
DEFAULT_DTYPE = {"hf": "float32", "gguf": "float16"}
DTYPE_ALIASES = {"fp32": "float32", "f32": "float32", "bf16": "bfloat16", "fp16": "float16",
                 "f16": "float16"}  # fmt: skip
GGUF_ARCHS = ("llama", "qwen2")
Say = Callable[[str], None]


@dataclass
class Source:
    """What is exported: the name given, the checkpoint behind it (None for a plain model
    name), its run directory and step when it comes from one, and its `policy.json`."""

    name: str
    checkpoint: Path | None = None
    run_dir: Path | None = None
    step: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def load_name(self) -> str:
        """The name `load_model` is given."""
        return str(self.checkpoint) if self.checkpoint is not None else self.name


def _say(line: str) -> None:
    print(f"azr export: {line}", file=sys.stderr, flush=True)


def resolve_source(name: str) -> Source:
    """The checkpoint (and run) that `name` stands for, in every form `azr eval --model`
    accepts: RUN, RUN@STEP, RUN/checkpoints/step-N, its policy/ folder, or any other model
    name (a shipped model, tiny-random, a directory, a hub id). One-line errors for a run
    without a checkpoint, a step that is not kept, or a name that is no model."""
    from azr.policy.models import CHECKPOINT_META, check_model_name
    from azr.rundir import CONFIG, run_checkpoint

    policy = run_checkpoint(name)  # UserError: no checkpoint yet / no such step
    if policy is None:
        path = Path(name).expanduser()
        if (path / "policy" / CHECKPOINT_META).is_file():
            policy = path / "policy"
        elif (path / CHECKPOINT_META).is_file():
            policy = path
    if policy is None:
        check_model_name(name)  # UserError for a name that is no model
        return Source(name)
    meta = json.loads((policy / CHECKPOINT_META).read_text())
    ckpt_dir = policy.parent
    step = None
    match = re.fullmatch(r"step-(\d+)", ckpt_dir.name)
    if match:
        step = int(match.group(1))
    run_dir = ckpt_dir.parent.parent if ckpt_dir.parent.name == "checkpoints" else None
    if run_dir is not None and not (run_dir / CONFIG).is_file():
        run_dir = None
    return Source(name, policy, run_dir, step, meta)


def base_chain(source: Source, limit: int = 8) -> list[str]:
    """The model names from `source` back to the model its training started from (a run may
    start from another run's checkpoint: `azr train --model runs/a@3`)."""
    chain: list[str] = []
    current = source
    while current.checkpoint is not None and len(chain) < limit:
        parent = str(current.meta.get("model_name") or "")
        if not parent:
            break
        chain.append(parent)
        try:
            current = resolve_source(parent)
        except UserError:
            break
    if not chain:
        chain.append(source.name)
    return chain


def _check_out(out: Path, source: Source, force: bool) -> None:
    """Refuse an output that is a file, a non-empty directory (unless `force`), a run
    directory, or a folder holding the checkpoint being exported."""
    from azr.rundir import CONFIG, STORE

    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a directory")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise UserError(f"output directory {out} is not empty (pass --force to replace it)")
        if (out / CONFIG).is_file() and (out / STORE).is_file():
            raise UserError(f"--out {out} is an azr run directory; refusing to replace it")
        if source.checkpoint is not None:
            ckpt = source.checkpoint.resolve()
            if ckpt == out.resolve() or out.resolve() in ckpt.parents:
                raise UserError(f"--out {out} holds the checkpoint being exported")


def _check_dtype(fmt: str, dtype: str | None) -> str:
    if fmt not in FORMATS:
        raise UserError(f"--format must be one of: {', '.join(FORMATS)} (not {fmt!r})")
    if dtype is None:
        return DEFAULT_DTYPE[fmt]
    dtype = DTYPE_ALIASES.get(dtype, dtype)
    if dtype not in DTYPES:
        raise UserError(f"--dtype must be one of: {', '.join(DTYPES)} (not {dtype!r})")
    return dtype


def _ordinary_modes(directory: Path) -> None:
    """Files as readable as any new file here (some writers keep a private temporary's 0600)."""
    import os

    umask = os.umask(0)
    os.umask(umask)
    for path in directory.iterdir():
        if path.is_file():
            path.chmod(0o666 & ~umask)


def peek_model_type(source: Source) -> str | None:
    """The architecture (`model_type`) of what `source` loads, read without loading weights
    where that is cheap; None when only loading would tell."""
    from azr.policy.models import ALIASES, RANDOM_ARCHS

    name = base_chain(source)[-1] if source.checkpoint is not None else source.name
    if source.checkpoint is not None and (source.checkpoint / "model" / "config.json").is_file():
        data = json.loads((source.checkpoint / "model" / "config.json").read_text())
        return str(data.get("model_type") or "") or None
    key = ALIASES.get(name, name)
    if key == "qwen2.5-coder-0.5b":
        return "qwen2"
    if key == "smollm2-135m":
        return "llama"
    if key.startswith("random:"):
        arch = RANDOM_ARCHS.get(key[len("random:") :].partition("@")[0])
        return str(arch["model_type"]) if arch else None
    config = Path(name).expanduser() / "config.json"
    if config.is_file():
        return str(json.loads(config.read_text()).get("model_type") or "") or None
    return None


def _unsupported_arch(model_type: str | None) -> UserError:
    return UserError(
        f"--format gguf supports the {' and '.join(GGUF_ARCHS)} architectures, not "
        f"{model_type!r}; export with --format hf"
    )


def export_model(
    name: str,
    out: Path,
    fmt: str = "hf",
    *,
    dtype: str | None = None,
    force: bool = False,
    say: Say = _say,
) -> dict[str, Any]:
    """Export the model `name` stands for into directory `out`; a JSON-able summary."""
    t0 = time.perf_counter()
    dtype = _check_dtype(fmt, dtype)
    out = Path(out).expanduser()
    source = resolve_source(name)
    _check_out(out, source, force)
    if fmt == "gguf":
        model_type = peek_model_type(source)
        if model_type is not None and model_type not in GGUF_ARCHS:
            raise _unsupported_arch(model_type)
    from azr.deps import quiet_transformers, require_model_backend

    require_model_backend("azr export")
    quiet_transformers()
    from azr.policy.models import load_model

    where = f"{source.checkpoint} (step {source.step})" if source.checkpoint else source.name
    say(f"loading {where}")
    model, tokenizer = load_model(source.load_name, device="cpu", dtype="float32")
    model.eval()
    if fmt == "gguf" and model.config.model_type not in GGUF_ARCHS:
        raise _unsupported_arch(model.config.model_type)
    from azr.export.card import model_card

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-", dir=out.parent))
    try:
        tmp.chmod(0o755)
        say(f"writing {fmt} ({dtype}) to {out}")
        if fmt == "hf":
            from azr.export.hf import write_hf

            files = write_hf(model, tokenizer, tmp, dtype)
        else:
            from azr.export.gguf_file import write_gguf

            stem = re.sub(r"[^A-Za-z0-9._-]+", "-", out.name).strip("-.") or "model"
            files = write_gguf(model, tokenizer, tmp / f"{stem}.gguf", dtype, title=stem)
        params = sum(p.numel() for p in model.parameters())
        card = model_card(source, fmt, dtype, params, files, out)
        (tmp / "README.md").write_text(card, encoding="utf-8")
        _ordinary_modes(tmp)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    sizes = {f.name: (out / f.name).stat().st_size for f in sorted(out.iterdir()) if f.is_file()}
    return {
        "export": str(out),
        "format": fmt,
        "dtype": dtype,
        "source": str(source.checkpoint or source.name),
        "step": source.step,
        "base_model": base_chain(source)[-1],
        "parameters": params,
        "files": sizes,
        "bytes": sum(sizes.values()),
        "seconds": round(time.perf_counter() - t0, 1),
    }
