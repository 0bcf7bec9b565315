"""`azr export RUN[@STEP] --out DIR`: a trained model as a Hugging Face directory or a GGUF file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the command to the `azr` app."""

    @app.command(
        "export", short_help="Write a trained model as a Hugging Face directory or a GGUF file."
    )
    def export(
        model: Annotated[
            str,
            typer.Argument(
                metavar="RUN[@STEP]",
                help="A run directory (its newest checkpoint), RUN@STEP, a checkpoint "
                "directory, or any model name azr eval --model accepts.",
            ),
        ],
        out: Annotated[Path, typer.Option("--out", help="Directory to write (must be empty).")],
        fmt: Annotated[
            str,
            typer.Option(
                "--format",
                help="hf (default): safetensors + config + tokenizer, for transformers and "
                "vLLM; gguf: one GGUF file for llama.cpp and Ollama (Llama and Qwen2).",
            ),
        ] = "hf",
        dtype: Annotated[
            str | None,
            typer.Option(
                "--dtype",
                help="float32, bfloat16 or float16 (default: float32 for hf, float16 for gguf).",
            ),
        ] = None,
        force: Annotated[
            bool, typer.Option("--force", help="Replace the contents of a non-empty --out.")
        ] = False,
    ) -> None:
        """Export a model with the LoRA adapter merged in, plus a model card (README.md).

        The last stdout line is a JSON summary: files and sizes, seconds, the checkpoint used.
        """
        from azr.export import export_model

        summary = export_model(model, out, fmt, dtype=dtype, force=force)
        print(json.dumps(summary))
