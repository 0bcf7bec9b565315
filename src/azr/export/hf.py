"""The `hf` export: a plain Hugging Face model directory that needs no azr to load."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_hf(model: Any, tokenizer: Any, directory: Path, dtype: str) -> list[Path]:
    """Write `model` (a plain transformers causal LM, adapters already merged) in `dtype` with
    its config, generation config and tokenizer (chat template included) into `directory`;
    returns the files written.

    transformers' own writer does the work: safetensors (tied embeddings stored once, shards
    past its size limit), `config.json` naming the architecture and dtype, and
    `generation_config.json`, exactly what `from_pretrained` and vLLM read.
    """
    from azr.policy.models import resolve_dtype

    model = model.to(resolve_dtype(dtype))
    model.save_pretrained(directory)
    # The padding side azr uses for batched generation (left) is what a causal LM wants too;
    # everything else is the tokenizer as training used it.
    tokenizer.save_pretrained(directory)
    return sorted(p for p in directory.iterdir() if p.is_file())
